//! The signalling core: the SIP side of conference calls, without any IO. The audio is
//! `chorus-media`'s; this crate re-exports the media vocabulary it speaks.
//!
//! Two state machines, each driven by the network driver:
//!
//! - [`Engine`] is the SIP user agent server for every conference extension. Feed it
//!   datagrams and stream messages with [`Engine::handle_message`]; after every call drain
//!   [`Engine::poll_transmit`] and [`Engine::poll_event`], sleep until
//!   [`Engine::poll_timeout`] and call [`Engine::handle_timeout`]. When it emits
//!   [`Event::MediaRequested`], bind an RTP socket and answer with
//!   [`Engine::media_ready`] (or [`Engine::media_failed`]); [`Event::CallStarted`],
//!   [`Event::MediaChanged`] and [`Event::CallEnded`] tell the media side what to do.
//!
//! - [`MediaGroup`] (from `chorus-media`) is the audio of the conferences one mixing
//!   thread owns; what it reports goes back in through [`Engine::handle_media_event`].
//!
//! Neither reads the clock: `now` is always an argument.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod sip;

// The media vocabulary the engine speaks, so drivers need only this crate.
pub use chorus_media::{
    CallId, LegStats, MIX_RECORDING_RATE, MediaCommand, MediaConfig, MediaEvent, MediaGroup,
    MediaParams, MediaTotals, MediaTransmit, MovingLeg, OpusSettings, SrtpKey, SrtpKeys,
    SrtpProfile,
};
pub use chorus_sip_proto::digest::Algorithm as DigestAlgorithm;
pub use chorus_sip_proto::{Timers, Transmit, Transport};
pub use sip::{
    Actor, AdhocConfig, AdhocRefusal, CallSummary, ConferenceInfo, DialOut, DialPolicy,
    DialRefusal, DigestUsers, EVENT_PACKAGE, EndReason, Engine, EngineConfig, EngineStats, Event,
    EventHeader, ExtensionConfig, Hearing, HearingChange, MIN_EXPIRES, MemberInfo, MoveRefusal,
    Notification, ORIGIN_HEADER, Prompts, ReferTarget, Security, SrtpMode, SrtpPolicy,
    SubscriptionConfig, TEMPORARY_PREFIX, UnknownExtension, VOLUME_RANGE, parse_event,
    parse_expires, parse_refer_to,
};

/// The media a negotiation agreed on, as the media side needs it.
pub(crate) fn media_of(
    n: &chorus_sdp::Negotiated,
    srtp: Option<chorus_media::SrtpKeys>,
) -> MediaParams {
    MediaParams {
        remote: n.remote,
        codec: n.codec,
        payload_type: n.payload_type,
        telephone_event: n.telephone_event,
        telephone_event_rate: n.telephone_event_rate,
        remote_direction: n.remote_direction,
        opus: n.opus,
        rtcp_mux: n.rtcp_mux,
        remote_rtcp: n.remote_rtcp,
        audio_level_id: n.audio_level_id,
        srtp,
    }
}
