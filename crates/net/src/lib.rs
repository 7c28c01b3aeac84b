//! The network driver: the only layer below the binary that owns sockets, threads and the
//! clock.
//!
//! - [`run`] serves SIP on one address over UDP and TCP with tokio, feeding the sans-IO
//!   [`chorus_engine::Engine`] and sleeping until its next deadline.
//! - [`MediaThreads`] runs the mixing threads. Each owns a [`chorus_engine::MediaGroup`]
//!   and its legs' RTP sockets, sleeps to absolute 20 ms deadlines (not a tokio timer,
//!   which is late by milliseconds under load), drains its sockets, mixes and sends.
//!   A conference always lives on one thread, chosen by hashing its name.
//! - [`PortPool`] hands out RTP ports from the configured range.
//! - [`ControlHandle`] carries operator requests (from the REST API) into the running
//!   engine; notifications come out on a broadcast channel; [`Metrics`] holds the counters.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod control;
mod leg_sockets;
mod limits;
mod media;
mod metrics;
mod placement;
mod ports;
mod recorder;
mod sip;
mod tcp;
mod tls;

pub use control::{Control, ControlHandle, Hosted, Member, Stopped};
pub use media::MediaThreads;
pub use metrics::{HttpRequest, Metrics};
pub use ports::{PortLease, PortPool};
pub use sip::{DriverConfig, run};
pub use tcp::TcpLimits;
pub use tls::{TlsClient, TlsServer};
