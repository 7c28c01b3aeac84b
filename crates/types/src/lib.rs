//! The vocabulary every Chorus layer shares: codecs, the 20 ms PCM frame, ids.
//!
//! This crate has no dependencies and no behaviour beyond small conversions, so that the
//! protocol cores (SDP, RTP) and the audio cores (codec, mixer) can talk about the same
//! things without depending on one another.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Length of one mixer tick and of every frame in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Narrowband sample rate: the rate of G.711 and of the mixer bus in this version.
pub const NARROWBAND_RATE: u32 = 8_000;

/// Samples in one narrowband 20 ms frame.
pub const FRAME_SAMPLES: usize = (NARROWBAND_RATE * FRAME_MS / 1000) as usize;

/// One 20 ms frame of 16-bit linear PCM at 8 kHz, mono.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENCE: Frame = [0; FRAME_SAMPLES];

/// An audio codec the bridge can carry on a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The payload type RFC 3551 assigns statically.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name written in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        NARROWBAND_RATE
    }

    /// Looks a codec up by its `a=rtpmap` encoding name and clock rate (case-insensitive).
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Codec> {
        match (name.to_ascii_uppercase().as_str(), clock_rate) {
            ("PCMU", 8000) => Some(Codec::Pcmu),
            ("PCMA", 8000) => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The codec a static payload type stands for when no rtpmap names it.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
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
