//! What the engine and a mixing thread say to each other, and how the media side is set up.

use crate::CallId;
use chorus_codec::OpusSettings;
use chorus_rtp::{AudioLevel, JitterStats, ReceiveStats};
use chorus_types::{Clip, VoiceProcessing};
use std::time::Duration;

/// Counters for one leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// What the RTP receiver accepted and dropped.
    pub receive: ReceiveStats,
    /// What the jitter buffer played, concealed and dropped.
    pub jitter: JitterStats,
    /// Interarrival jitter (RFC 3550) in ms.
    pub jitter_ms: u32,
    /// The jitter buffer's target delay in ms.
    pub delay_ms: u32,
    /// The last RFC 6464 audio level the far end sent.
    pub audio_level: Option<AudioLevel>,
    /// Round-trip time from RTCP, in ms.
    pub rtt_ms: Option<u32>,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// Packets sent.
    pub sent: u64,
    /// What the far end's last RTCP report said about the stream we send.
    pub far_end: Option<chorus_rtp::rtcp::FarEndReport>,
    /// Packets not decoded: silent (RFC 6464, DTX) or heard by nobody.
    pub decodes_skipped: u64,
    /// Packets sent to it as a lone talker sent them.
    pub forwarded: u64,
    /// Whether its media is SRTP.
    pub encrypted: bool,
    /// SRTP/SRTCP datagrams dropped for a bad tag.
    pub srtp_auth_failures: u64,
    /// SRTP/SRTCP datagrams dropped as replays.
    pub srtp_replayed: u64,
}

/// What the engine asks of the media side, beyond adding a leg (which needs its socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Put the leg into its conference's mix.
    Join {
        /// The leg.
        call: CallId,
        /// Whether its voice stays out of the mix.
        muted: bool,
    },
    /// Mute or unmute a joined leg.
    SetMuted {
        /// The leg.
        call: CallId,
        /// Muted or not.
        muted: bool,
    },
    /// Queue a sound for this leg alone, over whatever it hears. Reports
    /// [`MediaEvent::PlayDone`] with `id` when it ends.
    Play {
        /// The leg.
        call: CallId,
        /// The sound.
        clip: Clip,
        /// Echoed back when done.
        id: u64,
    },
    /// Drop this leg's queued sounds (barge-in).
    StopPrompts {
        /// The leg.
        call: CallId,
    },
    /// Loop music to this leg while no prompt plays; `None` stops it.
    Music {
        /// The leg.
        call: CallId,
        /// The music.
        clip: Option<Clip>,
    },
    /// Play sounds to every joined leg of a conference but one, over the conference audio.
    Announce {
        /// The conference.
        conference: String,
        /// A leg that does not hear it (the one who just entered).
        except: Option<CallId>,
        /// The sounds, in order.
        clips: Vec<Clip>,
    },
    /// Route a leg's incoming audio to another leg alone (early media from an invited
    /// number to its inviter); `to: None` ends it.
    Patch {
        /// The leg whose audio is heard.
        call: CallId,
        /// Who hears it.
        to: Option<CallId>,
    },
    /// Record this (invited) leg from now to its end: what it says and what it hears.
    Record {
        /// The leg.
        call: CallId,
        /// Its conference.
        conference: String,
        /// The number it was invited at.
        number: String,
        /// Its SIP Call-ID.
        call_id: String,
    },
    /// Record the whole conference (its full mix, mono) from now until `on: false` or
    /// its last leg leaves; see [`MediaGroup::poll_mix_recorded`].
    RecordConference {
        /// The conference.
        conference: String,
        /// Start or stop.
        on: bool,
    },
    /// Move the leg to another conference (an operator's move), streams unbroken; it
    /// hears the new conference once joined there. A driver with several mixing threads
    /// moves it between groups itself ([`MediaGroup::detach_leg`]).
    Move {
        /// The leg.
        call: CallId,
        /// The conference it goes to.
        to: String,
    },
    /// Record what the leg says, up to `max`, ending early on silence after speech.
    RecordName {
        /// The leg.
        call: CallId,
        /// The longest recording.
        max: Duration,
    },
    /// How loud the leg is heard and hears, in tenths of a dB (0: unchanged), and
    /// whether it hears the conference at all (its own prompts it always hears).
    SetHearing {
        /// The leg.
        call: CallId,
        /// Gain on what it says, tenths of a dB.
        input_tenths_db: i16,
        /// Gain on what it hears, tenths of a dB.
        output_tenths_db: i16,
        /// Hears nothing of the conference.
        deaf: bool,
    },
    /// What the leg's voice goes through before the mix (its conference's setting).
    SetVoice {
        /// The leg.
        call: CallId,
        /// Gain control and noise suppression, on or off.
        processing: VoiceProcessing,
    },
}

impl MediaCommand {
    /// The leg a command is for, or `None` for conference-wide ones.
    pub fn call(&self) -> Option<CallId> {
        match self {
            MediaCommand::Join { call, .. }
            | MediaCommand::SetMuted { call, .. }
            | MediaCommand::Play { call, .. }
            | MediaCommand::StopPrompts { call }
            | MediaCommand::Music { call, .. }
            | MediaCommand::RecordName { call, .. }
            | MediaCommand::Patch { call, .. }
            | MediaCommand::Record { call, .. }
            | MediaCommand::SetHearing { call, .. }
            | MediaCommand::SetVoice { call, .. }
            | MediaCommand::Move { call, .. } => Some(*call),
            MediaCommand::Announce { .. } | MediaCommand::RecordConference { .. } => None,
        }
    }
}

/// What the media side tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press (RFC 4733 event or in-band tone).
    Digit {
        /// The leg.
        call: CallId,
        /// The key.
        digit: char,
    },
    /// A [`MediaCommand::Play`] sound finished.
    PlayDone {
        /// The leg.
        call: CallId,
        /// The id it was queued with.
        id: u64,
    },
    /// A joined leg started or stopped talking.
    Talking {
        /// The leg.
        call: CallId,
        /// Talking now or not.
        talking: bool,
    },
    /// A [`MediaCommand::RecordName`] recording finished.
    NameRecorded {
        /// The leg.
        call: CallId,
        /// What was recorded (trailing silence trimmed).
        clip: Clip,
    },
    /// Nothing came from the far end for [`MediaConfig::media_timeout`]: no RTP (while it
    /// sends) and no RTCP. The phone is gone; hang up.
    Inactive {
        /// The leg.
        call: CallId,
    },
}

/// How the media side codes and buffers audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// Opus encoder settings.
    pub opus: OpusSettings,
    /// The least jitter-buffer delay, in ms.
    pub jitter_min_ms: u32,
    /// The most, in ms.
    pub jitter_max_ms: u32,
    /// A leg whose far end sends nothing (no RTP while it sends, no RTCP) this long is
    /// reported [`MediaEvent::Inactive`].
    pub media_timeout: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            opus: OpusSettings::default(),
            jitter_min_ms: 20,
            jitter_max_ms: 200,
            media_timeout: Duration::from_secs(30),
        }
    }
}
