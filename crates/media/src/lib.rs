//! The media side of the bridge, without any IO: the audio of the conferences one mixing
//! thread owns.
//!
//! [`MediaGroup`] holds legs and their codec chains, each conference's mix, prompts, music,
//! announcements, key detection, recordings and RTCP. Add and remove legs, hand it every
//! RTP datagram with [`MediaGroup::handle_packet`], call [`MediaGroup::handle_timeout`] at
//! [`MediaGroup::poll_timeout`], then send what [`MediaGroup::poll_transmit`] returns and
//! pass what [`MediaGroup::poll_event`] reports to the signalling engine. It never reads
//! the clock: `now` is always an argument.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod group;

pub use chorus_codec::OpusSettings;
pub use chorus_rtp::srtp::{SrtpKey, SrtpProfile};
pub use group::{
    LegStats, MIX_RECORDING_RATE, MediaCommand, MediaConfig, MediaEvent, MediaGroup, MediaTotals,
    MediaTransmit, MovingLeg,
};

use chorus_types::{Codec, Direction, OpusFmtp};
use std::net::SocketAddr;

/// The signalling engine's handle for one call; also names its media leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// The negotiated media of one call, as the media side needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaParams {
    /// Where the far end said it receives RTP.
    pub remote: SocketAddr,
    /// The codec.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// RFC 4733 payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Its clock rate (8000 or 48000).
    pub telephone_event_rate: u32,
    /// The far end's direction from its own view.
    pub remote_direction: Direction,
    /// What the far end said about Opus (defaults otherwise).
    pub opus: OpusFmtp,
    /// Whether RTCP is muxed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Where RTCP goes when not muxed (RTP port + 1 unless `a=rtcp` said otherwise).
    pub remote_rtcp: SocketAddr,
    /// The RFC 6464 audio-level header extension id, if negotiated.
    pub audio_level_id: Option<u8>,
    /// SRTP keys (SDES), when the leg is encrypted.
    pub srtp: Option<SrtpKeys>,
}

/// The two master keys of an encrypted leg. `Debug` names the profile, never a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Ours: protects what the bridge sends.
    pub send: SrtpKey,
    /// The far end's: checks and decrypts what it sends.
    pub receive: SrtpKey,
}

impl MediaParams {
    /// PCMU to `remote` with RFC 4733 events on payload type 101: a plain phone, for tests
    /// and tools.
    pub fn pcmu(remote: SocketAddr) -> Self {
        MediaParams {
            remote,
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            telephone_event_rate: 8000,
            remote_direction: Direction::SendRecv,
            opus: OpusFmtp::default(),
            rtcp_mux: false,
            remote_rtcp: SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
            audio_level_id: None,
            srtp: None,
        }
    }
}
