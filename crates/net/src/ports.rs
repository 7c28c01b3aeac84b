//! RTP ports from a configured range.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug)]
struct Inner {
    first: u16,
    last: u16,
    next: u16,
    in_use: BTreeSet<u16>,
}

/// Hands out even RTP ports (RTCP takes the odd one above, RFC 3550 §11) round-robin, so a
/// port just released is not reused at once while stray packets may still reach it.
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<Mutex<Inner>>,
}

/// A bound port; it returns to the pool when dropped. It holds the RTCP socket on the
/// port above.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<Mutex<Inner>>,
    port: u16,
    rtcp: UdpSocket,
}

impl PortLease {
    /// The RTCP socket (RTP port + 1), non-blocking.
    pub fn rtcp(&self) -> &UdpSocket {
        &self.rtcp
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut inner = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        inner.in_use.remove(&self.port);
    }
}

impl PortPool {
    /// A pool over `first..=last` (only the even ports are used).
    pub fn new(first: u16, last: u16) -> Self {
        let first = first + first % 2;
        PortPool {
            inner: Arc::new(Mutex::new(Inner {
                first,
                last,
                next: first,
                in_use: BTreeSet::new(),
            })),
        }
    }

    /// Ports in use.
    pub fn in_use(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.in_use.len()
    }

    /// Binds non-blocking UDP sockets on `ip` at the next free even port (RTP) and the one
    /// above it (RTCP, in the lease).
    pub fn bind(&self, ip: IpAddr) -> io::Result<(UdpSocket, PortLease)> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let span = u32::from(inner.last.saturating_sub(inner.first)) / 2 + 1;
        for _ in 0..span {
            let port = inner.next;
            inner.next = if port.saturating_add(2) > inner.last {
                inner.first
            } else {
                port + 2
            };
            if inner.in_use.contains(&port) {
                continue;
            }
            // A port held by another process is skipped, not an error.
            let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port.saturating_add(1))) else {
                continue;
            };
            socket.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            inner.in_use.insert(port);
            return Ok((
                socket,
                PortLease {
                    pool: Arc::clone(&self.inner),
                    port,
                    rtcp,
                },
            ));
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free RTP port in the range",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_round_robin_and_released_on_drop() {
        let pool = PortPool::new(41001, 41006);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let (a, lease_a) = pool.bind(ip).expect("first");
        let (b, _lease_b) = pool.bind(ip).expect("second");
        assert_eq!(a.local_addr().expect("addr").port(), 41002);
        assert_eq!(lease_a.rtcp().local_addr().expect("addr").port(), 41003);
        assert_eq!(b.local_addr().expect("addr").port(), 41004);
        let (_c, _lease_c) = pool.bind(ip).expect("third");
        assert!(pool.bind(ip).is_err(), "range exhausted");
        drop(a);
        drop(lease_a);
        assert_eq!(pool.in_use(), 2);
        let (again, _l) = pool.bind(ip).expect("reused");
        assert_eq!(again.local_addr().expect("addr").port(), 41002);
    }
}
