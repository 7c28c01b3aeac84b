//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state) and dialogs (§12) as
//! sans-IO state machines.
//!
//! [`Transactions`] never reads the clock or touches a socket. Drive it like this:
//! - feed each parsed request with [`Transactions::handle_request`] and each response with
//!   [`Transactions::handle_response`];
//! - answer new server transactions with [`Transactions::respond`], start client ones with
//!   [`Transactions::send_request`];
//! - after any call, drain [`Transactions::poll_transmit`] (bytes for the network) and
//!   [`Transactions::poll_event`] (timeouts and client responses for the core);
//! - sleep until [`Transactions::poll_timeout`] and then call
//!   [`Transactions::handle_timeout`] with the time.
//!
//! Retransmissions over UDP follow T1/T2 doubling; over TCP nothing is retransmitted and the
//! waiting timers (I, J, K) are zero, as §17 specifies for reliable transports.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dialog;
pub mod digest;
mod transaction;

pub use dialog::{Dialog, strip_tag, uri_from_name_addr};
pub use transaction::{
    ClientKey, ClientMatch, Disposition, ServerKey, Timers, Transactions, Transmit, Transport,
    TxnEvent,
};
