//! The audio of the conferences one mixing thread owns: legs, keypad detection, prompts,
//! music, announcements, name recording and the mix.

use crate::{CallId, MediaParams};
use chorus_codec::{Encoder, Resampler};
use chorus_dtmf::{EventReceiver, InbandDetector};
use chorus_mixer::{MemberId, Mixer, Output, TickClock};
use chorus_rtp::rtcp::{RtcpSession, SenderStats};
use chorus_rtp::srtp::{SrtpContext, SrtpError};
use chorus_rtp::telephone_event::TelephoneEvent;
use chorus_rtp::{AudioLevel, JitterBuffer, RtpReceiver, RtpSender};
use chorus_types::{AudioRate, Clip, Codec, FRAME_SAMPLES, Frame, OpusFmtp, SILENCE};
use leg::{Decoding, LegAudio, add_into};
pub use mix_recording::MIX_RECORDING_RATE;

/// A leg on its way to a conference on another mixing thread: everything that keeps its
/// streams unbroken (SSRC, sequence numbers, SRTP contexts, jitter buffer, codecs).
#[derive(Debug)]
pub struct MovingLeg(Box<Leg>);
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;
pub use vocabulary::{LegStats, MediaCommand, MediaConfig, MediaEvent};

/// Longest packet accepted, in ms (RFC 7587 allows 120 ms of Opus).
const MAX_PACKET_MS: u32 = 120;
/// RTP header plus the largest 20 ms payload, the most one outgoing packet needs.
const MAX_OUT_PACKET: usize = 12 + chorus_codec::MAX_PAYLOAD;
/// Room for one compound RTCP packet (SR + one report block + SDES + BYE).
const MAX_RTCP: usize = 256;
/// Frames kept out of the mix after an in-band tone, so its tail is not heard either.
const TONE_HANGOVER_FRAMES: u32 = 3;
/// A name recording ends after this much quiet once the caller has spoken.
const NAME_TRAILING_QUIET: usize = 35;
/// Mean absolute level above which a frame counts as voice (about −40 dBFS).
const VOICE_LEVEL: u32 = 300;
/// Mean absolute level (about −55 dBFS) a frame needs to open a member's way into the
/// mix. Members under it (silence, faint background) are left out, so they share the one
/// encoded mix instead of each needing their own.
const GATE_LEVEL: u32 = 60;
/// Frames the gate stays open after the last one above it (500 ms), so word endings and
/// short pauses are not cut.
const GATE_HOLD_FRAMES: u32 = 25;
/// Voiced frames in a row that start "talking".
const TALK_START_FRAMES: u32 = 3;
/// Quiet frames in a row that end it.
const TALK_STOP_FRAMES: u32 = 40;

#[derive(Debug)]
struct Recording {
    samples: Vec<i16>,
    max: usize,
    voiced: bool,
    quiet_frames: usize,
}

#[derive(Debug)]
enum Keys {
    /// RFC 4733 events on this payload type.
    Events(u8, EventReceiver),
    /// No telephone-event negotiated: listen for tones in the audio.
    Inband(Box<InbandDetector>),
}

#[derive(Debug)]
struct Leg {
    conference: String,
    member: MemberId,
    params: MediaParams,
    receiver: RtpReceiver,
    jitter: JitterBuffer,
    sender: RtpSender,
    audio: LegAudio,
    keys: Keys,
    joined: bool,
    muted: bool,
    tone_hangover: u32,
    prompts: VecDeque<(u64, Clip)>,
    prompt_pos: usize,
    music: Option<Clip>,
    music_pos: usize,
    recording: Option<Recording>,
    talking: bool,
    voiced_run: u32,
    quiet_run: u32,
    /// Whether each tick's audio both ways goes to [`MediaGroup::poll_recorded`].
    recorded: bool,
    /// This tick's input at 8 kHz, when something needs it.
    narrow: Frame,
    /// Another leg that hears this one's audio alone (early media).
    patched_to: Option<CallId>,
    /// The last RFC 6464 level the far end sent.
    audio_level: Option<AudioLevel>,
    /// The last packet was not sent (DTX): mark the next one.
    mark_next: bool,
    /// Frames left before the noise gate closes.
    gate: u32,
    /// Reports both ways.
    rtcp: RtcpSession,
    /// When the far end was last heard from (RTP while it sends, RTCP always); `None`
    /// until the next liveness check stamps it (a new or renegotiated leg).
    heard_at: Option<Instant>,
    /// [`MediaEvent::Inactive`] was sent.
    inactive: bool,
    /// The talker whose packets this leg was sent last tick, if they were forwarded.
    forwarded_from: Option<CallId>,
    /// SRTP both ways, when the leg is encrypted.
    srtp: Option<Box<LegSrtp>>,
    /// Linear gain on what it says (1: unchanged, and then it may be forwarded).
    input_gain: f32,
    /// Linear gain on what it hears (1: unchanged, and then it may share encodes).
    output_gain: f32,
    /// Hears nothing of the conference, only its own prompts.
    deaf: bool,
    /// Packets it was sent as a lone talker sent them.
    forwarded: u64,
    /// Noise suppression and gain control on what it says.
    voice: voice::Voice,
}

/// An encrypted leg's two SRTP contexts and what its far end sent that failed them.
#[derive(Debug)]
struct LegSrtp {
    send: SrtpContext,
    receive: SrtpContext,
    /// Datagrams refused: bad tag, or too short to carry one.
    auth_failures: u64,
    /// Authentic datagrams seen before (or older than the replay window).
    replayed: u64,
}

impl LegSrtp {
    fn new(keys: &crate::SrtpKeys) -> Box<Self> {
        Box::new(LegSrtp {
            send: SrtpContext::new(&keys.send),
            receive: SrtpContext::new(&keys.receive),
            auth_failures: 0,
            replayed: 0,
        })
    }

    /// Checks and decrypts a datagram from the far end into `plain`; false (counted) if
    /// it must be dropped.
    fn open(&mut self, data: &[u8], rtcp: bool, plain: &mut Vec<u8>) -> bool {
        let result = if rtcp || chorus_rtp::rtcp::is_rtcp(data) {
            self.receive.unprotect_rtcp(data, plain)
        } else {
            self.receive.unprotect_rtp(data, plain)
        };
        match result {
            Ok(()) => true,
            Err(SrtpError::Replayed) => {
                self.replayed += 1;
                false
            }
            Err(SrtpError::AuthFailed | SrtpError::Malformed) => {
                self.auth_failures += 1;
                false
            }
        }
    }
}

/// Encrypts the packet just written at `out[start..]` if the leg is encrypted: its length
/// now, or 0 (and nothing kept) if it could not be protected, so nothing leaves in clear.
fn seal(srtp: &mut Option<Box<LegSrtp>>, out: &mut Vec<u8>, start: usize, rtcp: bool) -> usize {
    let Some(srtp) = srtp else {
        return out.len() - start;
    };
    let sealed = if rtcp {
        srtp.send.protect_rtcp(out, start)
    } else {
        srtp.send.protect_rtp(out, start)
    };
    if sealed.is_err() {
        out.truncate(start);
    }
    out.len() - start
}

/// A gain in tenths of a dB as a factor; exactly 1 for 0, so an unchanged leg keeps the
/// shortcuts that need its samples untouched.
fn linear(tenths_db: i16) -> f32 {
    if tenths_db == 0 {
        1.0
    } else {
        10f32.powf(f32::from(tenths_db) / 200.0)
    }
}

/// `frame` times `gain` into `out`, saturated.
fn scaled<'a>(frame: &[i16], gain: f32, out: &'a mut Vec<i16>) -> &'a [i16] {
    out.clear();
    out.extend(
        frame
            .iter()
            .map(|&s| (f32::from(s) * gain).round().clamp(-32768.0, 32767.0) as i16),
    );
    out
}

fn keys_for(params: &MediaParams) -> Keys {
    match params.telephone_event {
        Some(pt) => Keys::Events(pt, EventReceiver::new(params.telephone_event_rate)),
        None => Keys::Inband(Box::default()),
    }
}

impl Leg {
    /// The next 20 ms of this leg's own sounds (prompt, else music), if any.
    fn personal_frame(&mut self, events: &mut VecDeque<MediaEvent>, id: CallId) -> Option<Frame> {
        if let Some((prompt_id, clip)) = self.prompts.front() {
            let mut frame = SILENCE;
            let end = (self.prompt_pos + FRAME_SAMPLES).min(clip.len());
            frame[..end - self.prompt_pos].copy_from_slice(&clip[self.prompt_pos..end]);
            self.prompt_pos = end;
            if end >= clip.len() {
                events.push_back(MediaEvent::PlayDone {
                    call: id,
                    id: *prompt_id,
                });
                self.prompts.pop_front();
                self.prompt_pos = 0;
            }
            return Some(frame);
        }
        let music = self.music.as_ref().filter(|m| !m.is_empty())?;
        let mut frame = SILENCE;
        for sample in frame.iter_mut() {
            *sample = music[self.music_pos];
            self.music_pos = (self.music_pos + 1) % music.len();
        }
        Some(frame)
    }

    /// Whether a prompt or music plays to this leg alone.
    fn has_personal(&self) -> bool {
        !self.prompts.is_empty() || self.music.as_ref().is_some_and(|m| !m.is_empty())
    }

    /// Whether this tick needs the input at 8 kHz.
    fn needs_narrow(&self) -> bool {
        matches!(self.keys, Keys::Inband(_))
            || self.recording.is_some()
            || self.recorded
            || self.patched_to.is_some()
    }
}

/// Listeners who hear exactly the conference mix (plus any announcement) with the same
/// codec settings share one encoder and one payload per tick.
#[derive(Debug)]
struct SharedStream {
    codec: Codec,
    fmtp: OpusFmtp,
    announced: bool,
    encoder: Encoder,
    payload: Vec<u8>,
    len: usize,
    tick: u64,
}

#[derive(Debug)]
struct Conference {
    mixer: Mixer,
    legs: Vec<CallId>,
    announcements: VecDeque<(Clip, Option<CallId>)>,
    announce_pos: usize,
    /// 8 kHz announcements up to the bus rate.
    announce_up: Option<Resampler>,
    announce_bus: Vec<i16>,
    streams: Vec<SharedStream>,
    /// The lone talker whose packet this tick goes unchanged to listeners who can take
    /// it, and that packet.
    forward_from: Option<CallId>,
    forward: Vec<u8>,
    forward_codec: (Codec, OpusFmtp),
    /// The lone talker's packet for this tick was lost on its way to us.
    forward_lost: bool,
    /// Last tick's full mix, to prime an encoder that takes over mid-sound.
    previous_mix: Vec<i16>,
    /// Last tick every listener took this talker's packet unchanged and nobody needed
    /// the mix: its next packet is kept undecoded unless someone needs the mix after all.
    unheard_talker: Option<CallId>,
    /// The whole conference is being recorded (the mix is then always made).
    recording: Option<mix_recording::MixRecorder>,
}

impl Default for Conference {
    fn default() -> Self {
        Conference {
            mixer: Mixer::default(),
            legs: Vec::new(),
            announcements: VecDeque::new(),
            announce_pos: 0,
            announce_up: None,
            announce_bus: Vec::new(),
            streams: Vec::new(),
            forward_from: None,
            forward: Vec::with_capacity(chorus_codec::MAX_PAYLOAD),
            forward_codec: (Codec::Pcmu, OpusFmtp::default()),
            forward_lost: false,
            previous_mix: Vec::new(),
            unheard_talker: None,
            recording: None,
        }
    }
}

impl Conference {
    fn announcement_frame(&mut self) -> Option<(Frame, Option<CallId>)> {
        let (clip, except) = self.announcements.front()?;
        let except = *except;
        let mut frame = SILENCE;
        let end = (self.announce_pos + FRAME_SAMPLES).min(clip.len());
        frame[..end - self.announce_pos].copy_from_slice(&clip[self.announce_pos..end]);
        self.announce_pos = end;
        if end >= clip.len() {
            self.announcements.pop_front();
            self.announce_pos = 0;
        }
        Some((frame, except))
    }

    fn announcement_at_bus_rate(&mut self, frame: &Frame) {
        let n = self.mixer.rate().frame_samples();
        self.announce_bus.resize(n, 0);
        match &mut self.announce_up {
            Some(r) => r.process(frame, &mut self.announce_bus),
            None => self.announce_bus.copy_from_slice(frame),
        }
    }
}

/// One packet to send from a leg's socket.
#[derive(Debug)]
pub struct MediaTransmit<'a> {
    /// The leg whose socket sends it.
    pub leg: CallId,
    /// Where to.
    pub destination: SocketAddr,
    /// The RTP or RTCP packet.
    pub data: &'a [u8],
    /// RTCP for a leg without rtcp-mux: send it from the RTCP socket (RTP port + 1).
    pub rtcp_port: bool,
}

/// Ticks between two liveness checks (one second).
const LIVENESS_TICKS: u64 = 50;

/// See the crate docs: legs in, packets out, one mix per conference per tick.
#[derive(Debug)]
pub struct MediaGroup {
    config: MediaConfig,
    clock: TickClock,
    legs: HashMap<CallId, Leg>,
    conferences: HashMap<String, Conference>,
    /// Outgoing packets of the last tick, back to back.
    out: Vec<u8>,
    queue: VecDeque<(CallId, SocketAddr, Range<usize>, bool)>,
    events: VecDeque<MediaEvent>,
    /// This tick's audio of recorded legs: (leg, what it said, what it heard).
    recorded: VecDeque<(CallId, Frame, Frame)>,
    /// This tick's frames of recorded conferences; `None` when one's recording ended.
    mix_recorded: VecDeque<(String, Option<Vec<i16>>)>,
    /// Counters of legs already removed, so totals never go backwards.
    retired: LegStats,
    ticks: u64,
    /// A known instant and the NTP time then, for RTCP.
    epoch: (Instant, u64),
    /// Room for a mix plus an announcement, reused every tick.
    scratch: Vec<i16>,
    /// A frame with a member's volume applied, reused.
    gained: Vec<i16>,
    /// One encoded 20 ms of silence per codec and settings, sent to whoever hears nobody.
    silence: Vec<(Codec, OpusFmtp, Vec<u8>)>,
    /// Frames sent as a talker's own packet, and as the shared silence.
    forwarded: u64,
    silent_frames: u64,
    /// Where an SRTP datagram is decrypted, reused.
    plain: Vec<u8>,
}

/// Counters summed over every leg this group has had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaTotals {
    /// RTP packets accepted.
    pub received: u64,
    /// Datagrams dropped (malformed, RTCP on the RTP port, wrong source or payload type).
    pub dropped: u64,
    /// Packets lost on the way (sequence gaps).
    pub lost: u64,
    /// RTP packets sent.
    pub sent: u64,
    /// Packets sent as the lone talker's own payload, without decoding or encoding.
    pub forwarded: u64,
    /// Packets sent as the shared, pre-encoded silence to listeners who hear nobody.
    pub silent: u64,
    /// Received packets not decoded: silent (RFC 6464, DTX) or not heard by anyone.
    pub decodes_skipped: u64,
    /// SRTP/SRTCP datagrams dropped for a bad tag (or too short to carry one).
    pub srtp_auth_failures: u64,
    /// SRTP/SRTCP datagrams dropped as replays.
    pub srtp_replayed: u64,
}

fn add_stats(total: &mut MediaTotals, s: &LegStats) {
    let r = &s.receive;
    total.received += r.accepted;
    total.dropped += r.malformed + r.foreign_source + r.unknown_payload_type;
    total.lost += r.lost;
    total.sent += s.sent;
    total.decodes_skipped += s.decodes_skipped;
    total.srtp_auth_failures += s.srtp_auth_failures;
    total.srtp_replayed += s.srtp_replayed;
}

impl MediaGroup {
    /// A group whose first tick is due at `now`, with default settings.
    pub fn new(now: Instant) -> Self {
        Self::with_config(now, MediaConfig::default())
    }

    /// A group whose first tick is due at `now`.
    pub fn with_config(now: Instant, config: MediaConfig) -> Self {
        MediaGroup {
            config,
            clock: TickClock::new(now),
            legs: HashMap::new(),
            conferences: HashMap::new(),
            out: Vec::new(),
            queue: VecDeque::new(),
            events: VecDeque::new(),
            recorded: VecDeque::new(),
            mix_recorded: VecDeque::new(),
            retired: LegStats::default(),
            ticks: 0,
            epoch: (now, 0),
            scratch: Vec::with_capacity(AudioRate::Full.frame_samples()),
            gained: Vec::with_capacity(AudioRate::Full.frame_samples()),
            silence: Vec::new(),
            forwarded: 0,
            silent_frames: 0,
            plain: Vec::new(),
        }
    }

    /// Tells the group the wall-clock time (64-bit NTP format) at `now`, for the NTP
    /// timestamps of sender reports. Without it they count from zero.
    pub fn set_wall_clock(&mut self, now: Instant, ntp: u64) {
        self.epoch = (now, ntp);
    }

    /// Counters over every leg, present and past. O(legs): call it now and then, not per
    /// packet.
    pub fn totals(&self) -> MediaTotals {
        let mut total = MediaTotals {
            forwarded: self.forwarded,
            silent: self.silent_frames,
            ..MediaTotals::default()
        };
        add_stats(&mut total, &self.retired);
        for id in self.legs.keys() {
            if let Some(stats) = self.leg_stats(*id) {
                add_stats(&mut total, &stats);
            }
        }
        total
    }

    /// Number of legs.
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Ticks skipped because the thread woke late.
    pub fn late_ticks(&self) -> u64 {
        self.clock.late_ticks()
    }

    /// The rate a conference mixes at, if it exists.
    pub fn conference_rate(&self, conference: &str) -> Option<AudioRate> {
        self.conferences.get(conference).map(|c| c.mixer.rate())
    }

    /// A leg's counters.
    pub fn leg_stats(&self, id: CallId) -> Option<LegStats> {
        self.legs.get(&id).map(|leg| LegStats {
            receive: leg.receiver.stats(),
            jitter: leg.jitter.stats(),
            jitter_ms: leg.jitter.jitter() * 1000 / leg.params.codec.clock_rate(),
            delay_ms: leg.jitter.target() * 1000 / leg.params.codec.clock_rate(),
            sent: leg.sender.packets_sent(),
            far_end: leg.rtcp.far_end(),
            audio_level: leg.audio_level,
            rtt_ms: leg.rtcp.rtt().map(|d| d.as_millis() as u32),
            rtcp_sent: leg.rtcp.reports_sent(),
            decodes_skipped: leg.audio.skipped,
            forwarded: leg.forwarded,
            encrypted: leg.srtp.is_some(),
            srtp_auth_failures: leg.srtp.as_ref().map_or(0, |s| s.auth_failures),
            srtp_replayed: leg.srtp.as_ref().map_or(0, |s| s.replayed),
        })
    }

    /// Carries out an engine command.
    pub fn handle_command(&mut self, command: MediaCommand) {
        if let MediaCommand::RecordConference { conference, on } = &command {
            self.record_mix(conference, *on);
            return;
        }
        if let MediaCommand::Move { call, to } = &command {
            self.move_leg(*call, to);
            return;
        }
        if let MediaCommand::Announce {
            conference,
            except,
            clips,
        } = command
        {
            if let Some(conf) = self.conferences.get_mut(&conference) {
                // A burst of joins chimes once: a lone sound already waiting (not yet
                // started) is not queued again, so a hundred callers arriving together do
                // not queue a hundred chimes. Names (several clips) always play.
                let started = usize::from(conf.announce_pos > 0);
                let waiting = |clip: &Clip| {
                    conf.announcements
                        .iter()
                        .skip(started)
                        .any(|(queued, _)| std::sync::Arc::ptr_eq(queued, clip))
                };
                if let [clip] = clips.as_slice()
                    && waiting(clip)
                {
                    return;
                }
                conf.announcements
                    .extend(clips.into_iter().map(|clip| (clip, except)));
            }
            return;
        }
        let Some(leg) = command.call().and_then(|id| self.legs.get_mut(&id)) else {
            return;
        };
        match command {
            MediaCommand::Join { muted, .. } => {
                leg.joined = true;
                leg.muted = muted;
                let conference = leg.conference.clone();
                self.retune(&conference);
            }
            MediaCommand::SetMuted { muted, .. } => leg.muted = muted,
            MediaCommand::Play { clip, id, .. } => leg.prompts.push_back((id, clip)),
            MediaCommand::StopPrompts { .. } => {
                leg.prompts.clear();
                leg.prompt_pos = 0;
            }
            MediaCommand::Music { clip, .. } => {
                leg.music = clip;
                leg.music_pos = 0;
            }
            MediaCommand::RecordName { max, .. } => {
                let max = (max.as_millis() as usize) * 8;
                leg.recording = Some(Recording {
                    samples: Vec::with_capacity(max),
                    max,
                    voiced: false,
                    quiet_frames: 0,
                });
            }
            MediaCommand::Record { .. } => leg.recorded = true,
            MediaCommand::SetHearing {
                input_tenths_db,
                output_tenths_db,
                deaf,
                ..
            } => {
                leg.input_gain = linear(input_tenths_db);
                leg.output_gain = linear(output_tenths_db);
                leg.deaf = deaf;
            }
            MediaCommand::SetVoice { processing, .. } => leg.voice.set(processing),
            MediaCommand::Patch { to, .. } => leg.patched_to = to,
            MediaCommand::Announce { .. }
            | MediaCommand::RecordConference { .. }
            | MediaCommand::Move { .. } => {}
        }
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next 20 ms of a recorded leg: (leg, what it said, what it heard).
    pub fn poll_recorded(&mut self) -> Option<(CallId, Frame, Frame)> {
        self.recorded.pop_front()
    }

    /// One datagram that arrived on a leg's socket at `now`. Bad packets are counted and
    /// dropped. On an encrypted leg it is checked and decrypted first: nothing forged or
    /// replayed reaches the latch, the jitter buffer or the keys.
    pub fn handle_packet(&mut self, now: Instant, id: CallId, source: SocketAddr, data: &[u8]) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if let Some(srtp) = &mut leg.srtp {
            let mut plain = std::mem::take(&mut self.plain);
            if srtp.open(data, false, &mut plain) {
                self.handle_plain_packet(now, id, source, &plain);
            }
            self.plain = plain;
            return;
        }
        self.handle_plain_packet(now, id, source, data);
    }

    fn handle_plain_packet(&mut self, now: Instant, id: CallId, source: SocketAddr, data: &[u8]) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let packet = match leg.receiver.handle_packet(source, data) {
            Ok(packet) => packet,
            // RTCP muxed on the RTP port (RFC 5761) from the far end: read its report.
            Err(chorus_rtp::Drop::Rtcp) => {
                if source == leg.receiver.send_to() {
                    leg.heard_at = Some(now);
                }
                leg.rtcp.handle_rtcp(now, data);
                return;
            }
            Err(_) => return,
        };
        // While on hold the far end sends no audio; stray RTP then proves nothing.
        if leg.params.remote_direction.sends() {
            leg.heard_at = Some(now);
        }
        leg.rtcp.on_rtp(packet.ssrc, packet.sequence);
        if let Keys::Events(pt, receiver) = &mut leg.keys
            && packet.payload_type == *pt
        {
            if let Some(event) = TelephoneEvent::parse(packet.payload)
                && let Some(digit) = receiver.handle(packet.timestamp, event.event, event.duration)
            {
                self.events.push_back(MediaEvent::Digit { call: id, digit });
            }
            return;
        }
        if packet.payload_type != leg.params.payload_type || !leg.params.remote_direction.sends() {
            return;
        }
        let level = leg
            .params
            .audio_level_id
            .and_then(|ext| packet.audio_level(ext));
        if level.is_some() {
            leg.audio_level = level;
        }
        let codec = leg.params.codec;
        let Some(duration) = chorus_codec::payload_duration(codec, packet.payload)
            .filter(|&d| d <= codec.clock_rate() * MAX_PACKET_MS / 1000)
        else {
            return;
        };
        leg.jitter.insert(
            now,
            packet.ssrc,
            packet.sequence,
            packet.timestamp,
            packet.marker,
            duration,
            packet.payload,
            level.map(|l| l.level),
        );
    }

    /// One datagram that arrived on a leg's RTCP socket (RTP port + 1). Anything not from
    /// the far end's host, or not RTCP, is dropped.
    pub fn handle_rtcp(&mut self, now: Instant, id: CallId, source: SocketAddr, data: &[u8]) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if source.ip() != leg.params.remote_rtcp.ip() && source.ip() != leg.params.remote.ip() {
            return;
        }
        if let Some(srtp) = &mut leg.srtp {
            let mut plain = std::mem::take(&mut self.plain);
            if srtp.open(data, true, &mut plain) {
                leg.heard_at = Some(now);
                leg.rtcp.handle_rtcp(now, &plain);
            }
            self.plain = plain;
            return;
        }
        leg.heard_at = Some(now);
        leg.rtcp.handle_rtcp(now, data);
    }

    /// When the next tick is due.
    pub fn poll_timeout(&self) -> Instant {
        self.clock.poll_timeout()
    }

    /// The next packet of the last tick.
    pub fn poll_transmit(&mut self) -> Option<MediaTransmit<'_>> {
        let (leg, destination, range, rtcp_port) = self.queue.pop_front()?;
        Some(MediaTransmit {
            leg,
            destination,
            data: &self.out[range],
            rtcp_port,
        })
    }
}

mod leg;
mod lifecycle;
mod mix_recording;
#[cfg(test)]
mod tests;
mod tick;
mod vocabulary;
mod voice;
