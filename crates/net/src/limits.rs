//! Process and socket limits set at start: descriptors, and the SIP socket's receive
//! buffer.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{setsockopt, sockopt};
use std::os::fd::AsFd;
use tracing::{info, warn};

/// Receive buffer asked for on the SIP UDP socket: a burst of a few thousand requests
/// waits in the kernel instead of being dropped (the default ~200 KiB held ~170 BYEs).
pub(crate) const SIP_UDP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// Raises the soft descriptor limit to the hard one and returns the limit in force.
/// Every call holds one or two RTP sockets, so the default soft limit (often 1024) would
/// cap the bridge far below what the machine can carry.
pub(crate) fn raise_descriptor_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                info!(from = soft, to = hard, "raised the open-file limit");
                hard
            }
            Err(e) => {
                warn!(error = %e, soft, "could not raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(e) => {
            warn!(error = %e, "could not read the open-file limit");
            1024
        }
    }
}

/// Asks for a larger receive buffer: past `net.core.rmem_max` where the process may
/// (CAP_NET_ADMIN), else up to it.
pub(crate) fn grow_receive_buffer(socket: &impl AsFd, bytes: usize) {
    if setsockopt(socket, sockopt::RcvBufForce, &bytes).is_err()
        && let Err(e) = setsockopt(socket, sockopt::RcvBuf, &bytes)
    {
        warn!(error = %e, "could not enlarge the SIP UDP receive buffer");
    }
    if let Ok(granted) = nix::sys::socket::getsockopt(socket, sockopt::RcvBuf) {
        info!(bytes = granted, "SIP UDP receive buffer");
    }
}

/// TCP connections allowed given `descriptors`: at most a quarter of them, so TCP
/// clients can never take the descriptors RTP sockets need.
pub(crate) fn tcp_connection_cap(configured: usize, descriptors: u64) -> usize {
    let quarter = usize::try_from(descriptors / 4).unwrap_or(usize::MAX);
    configured.min(quarter).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_gets_at_most_a_quarter_of_the_descriptors() {
        assert_eq!(tcp_connection_cap(1000, 1024), 256);
        assert_eq!(tcp_connection_cap(1000, 1 << 20), 1000);
        assert_eq!(tcp_connection_cap(1000, 0), 1);
    }
}
