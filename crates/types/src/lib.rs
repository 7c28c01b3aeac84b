//! The vocabulary every Chorus layer shares: codecs, audio rates, the 20 ms PCM frame.
//!
//! This crate has no dependencies and no behaviour beyond small conversions, so that the
//! protocol cores (SDP, RTP) and the audio cores (codec, mixer) can talk about the same
//! things without depending on one another.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Length of one mixer tick and of every frame in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Narrowband sample rate: G.711, prompts, keypad detection and recordings.
pub const NARROWBAND_RATE: u32 = 8_000;

/// Samples in one narrowband 20 ms frame.
pub const FRAME_SAMPLES: usize = (NARROWBAND_RATE * FRAME_MS / 1000) as usize;

/// One 20 ms frame of 16-bit linear PCM at 8 kHz, mono.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENCE: Frame = [0; FRAME_SAMPLES];

/// What a talker's voice goes through before the mix (see `chorus_mixer::agc` and
/// `chorus_mixer::denoise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VoiceProcessing {
    /// Bring the talker's speech level towards the target (bounded, slow).
    pub auto_gain: bool,
    /// Suppress the noise around the talker's voice.
    pub noise_suppression: bool,
}

impl Default for VoiceProcessing {
    /// The bridge's defaults: gain control on, suppression off (it costs far more CPU
    /// and helps only noisy lines).
    fn default() -> Self {
        VoiceProcessing {
            auto_gain: true,
            noise_suppression: false,
        }
    }
}

impl VoiceProcessing {
    /// Neither: the talker's audio passes untouched.
    pub const OFF: VoiceProcessing = VoiceProcessing {
        auto_gain: false,
        noise_suppression: false,
    };
}

/// The audio rates a conference mixes at and a leg's codec runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AudioRate {
    /// 8 kHz: G.711.
    #[default]
    Narrow,
    /// 16 kHz: G.722, or Opus limited to wideband.
    Wide,
    /// 48 kHz: Opus.
    Full,
}

impl AudioRate {
    /// Samples per second.
    pub const fn hz(self) -> u32 {
        match self {
            AudioRate::Narrow => 8_000,
            AudioRate::Wide => 16_000,
            AudioRate::Full => 48_000,
        }
    }

    /// Samples in one 20 ms frame.
    pub const fn frame_samples(self) -> usize {
        (self.hz() * FRAME_MS / 1000) as usize
    }

    /// The lowest rate that carries audio sampled at `hz` (an Opus `maxplaybackrate`).
    pub fn covering(hz: u32) -> AudioRate {
        match hz {
            0..=8_000 => AudioRate::Narrow,
            8_001..=16_000 => AudioRate::Wide,
            _ => AudioRate::Full,
        }
    }
}

/// An audio codec the bridge can carry on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722, static payload type 9: 16 kHz audio on an 8 kHz RTP clock (RFC 3551 §4.5.2).
    G722,
    /// Opus (RFC 7587), dynamic payload type, `opus/48000/2` in SDP.
    Opus,
}

impl Codec {
    /// Every codec, in the default order of preference: wideband first.
    pub const ALL: [Codec; 4] = [Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma];

    /// The payload type RFC 3551 assigns statically, if any.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::Opus => None,
        }
    }

    /// The encoding name written in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
        }
    }

    /// The `a=rtpmap` clock rate and channel suffix, e.g. `8000` or `48000/2`.
    pub fn rtpmap_rate(self) -> &'static str {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => "8000",
            Codec::Opus => "48000/2",
        }
    }

    /// RTP clock rate in Hz (G.722 keeps 8000 for historical reasons).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => NARROWBAND_RATE,
            Codec::Opus => 48_000,
        }
    }

    /// The rate the codec's audio runs at.
    pub fn audio_rate(self) -> AudioRate {
        match self {
            Codec::Pcmu | Codec::Pcma => AudioRate::Narrow,
            Codec::G722 => AudioRate::Wide,
            Codec::Opus => AudioRate::Full,
        }
    }

    /// Looks a codec up by its `a=rtpmap` encoding name and clock rate (case-insensitive).
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Codec> {
        match (name.to_ascii_uppercase().as_str(), clock_rate) {
            ("PCMU", 8000) => Some(Codec::Pcmu),
            ("PCMA", 8000) => Some(Codec::Pcma),
            // Some phones write the audio rate instead of the RTP clock rate.
            ("G722", 8000 | 16000) => Some(Codec::G722),
            ("OPUS", 48000) => Some(Codec::Opus),
            _ => None,
        }
    }

    /// The codec a static payload type stands for when no rtpmap names it.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            9 => Some(Codec::G722),
            _ => None,
        }
    }

    /// The name used in configuration and the REST API.
    pub fn config_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::G722 => "g722",
            Codec::Opus => "opus",
        }
    }

    /// Reads a [`Codec::config_name`] (case-insensitive).
    pub fn from_config_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.config_name().eq_ignore_ascii_case(name))
    }
}

/// Direction of a media stream as SDP states it (RFC 3264 §6.1), from the offerer's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both send and receive.
    #[default]
    SendRecv,
    /// Only sends.
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither (held).
    Inactive,
}

impl Direction {
    /// The direction the answerer writes back for this offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the side holding this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side holding this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The SDP attribute name.
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// A sound (prompt, chime, music, recorded name): 8 kHz mono PCM, shared without copying.
pub type Clip = std::sync::Arc<[i16]>;

/// What a far end said about Opus in its `a=fmtp` (RFC 7587 §6.1). Absent fields take the
/// RFC's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpusFmtp {
    /// The highest rate it can play (`maxplaybackrate`), default 48000.
    pub max_playback_rate: u32,
    /// The highest rate it captures at (`sprop-maxcapturerate`), default 48000.
    pub max_capture_rate: u32,
    /// The bitrate it wants at most (`maxaveragebitrate`).
    pub max_average_bitrate: Option<u32>,
    /// Whether it can decode in-band FEC (`useinbandfec=1`).
    pub use_inband_fec: bool,
    /// Whether it wants discontinuous transmission (`usedtx=1`).
    pub use_dtx: bool,
    /// Whether it prefers stereo (`stereo=1`); the bridge always sends mono.
    pub stereo: bool,
}

impl Default for OpusFmtp {
    fn default() -> Self {
        OpusFmtp {
            max_playback_rate: 48_000,
            max_capture_rate: 48_000,
            max_average_bitrate: None,
            use_inband_fec: false,
            use_dtx: false,
            stereo: false,
        }
    }
}

impl OpusFmtp {
    /// The rate a leg with this far end runs at: enough for what it plays and captures.
    pub fn audio_rate(&self) -> AudioRate {
        AudioRate::covering(self.max_playback_rate.max(self.max_capture_rate))
    }
}
