//! RTP for one call leg (RFC 3550): validating and latching incoming packets, a jitter
//! buffer that turns them into a steady 20 ms frame per tick, a sender with continuous
//! sequence numbers and timestamps, and RFC 4733 telephone-event payloads.
//!
//! Packet headers are read and written with `rtp-rs`. Everything here is sans-IO: the
//! caller passes each datagram and its source to [`RtpReceiver::handle_packet`], pulls one
//! packet at a time from [`JitterBuffer::pop`] in timestamp order, and sends what [`RtpSender::write`]
//! wrote. Garbage is counted in [`ReceiveStats`] and dropped, never a panic.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod jitter;
mod receiver;
pub mod rtcp;
mod sender;
pub mod srtp;
pub mod telephone_event;

pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
pub use receiver::{AudioLevel, Drop, Packet, ReceiveStats, RtpReceiver};
pub use sender::RtpSender;
