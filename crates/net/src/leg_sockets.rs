//! The sockets of one mixing thread's legs: one readiness wait per round instead of a
//! read attempt on every socket, so a tick costs a read per datagram and no empty reads.

use crate::PortLease;
use chorus_engine::{CallId, MediaGroup};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, warn};

/// Rounds of reading per tick at most: each round reads one datagram from every ready
/// socket, so a flood on one leg gets this many reads a tick and cannot starve the others.
const MAX_ROUNDS_PER_TICK: usize = 64;

/// Readiness events taken per wait; more ready sockets are taken by the next wait.
const EVENTS_PER_WAIT: usize = 1024;

/// Which of a leg's two sockets a datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    Rtp,
    Rtcp,
}

/// A datagram read from a leg's socket.
pub(crate) struct Datagram<'a> {
    pub(crate) call: CallId,
    pub(crate) port: Port,
    pub(crate) source: SocketAddr,
    /// When the kernel received it (SO_TIMESTAMPNS), or the start of the drain.
    pub(crate) arrival: Instant,
    pub(crate) bytes: &'a [u8],
}

/// The legs' RTP and RTCP sockets, registered with one epoll instance.
pub(crate) struct LegSockets {
    legs: HashMap<CallId, (UdpSocket, PortLease)>,
    epoll: Epoll,
    events: Vec<EpollEvent>,
    ready: Vec<(CallId, Port)>,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
}

fn token(call: CallId, port: Port) -> u64 {
    (call.0 << 1) | u64::from(port == Port::Rtcp)
}

fn from_token(token: u64) -> (CallId, Port) {
    let port = if token & 1 == 1 {
        Port::Rtcp
    } else {
        Port::Rtp
    };
    (CallId(token >> 1), port)
}

impl LegSockets {
    /// Fails only when the kernel refuses an epoll instance (out of descriptors).
    pub(crate) fn new() -> std::io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(LegSockets {
            legs: HashMap::new(),
            epoll,
            events: vec![EpollEvent::empty(); EVENTS_PER_WAIT],
            ready: Vec::new(),
            buf: vec![0u8; 2048],
            cmsg: nix::cmsg_space!(nix::sys::time::TimeSpec),
        })
    }

    pub(crate) fn insert(&mut self, call: CallId, socket: UdpSocket, lease: PortLease) {
        for (s, port) in [(&socket, Port::Rtp), (lease.rtcp(), Port::Rtcp)] {
            // Without kernel timestamps arrival times fall back to the tick.
            let _ = setsockopt(s, sockopt::ReceiveTimestampns, &true);
            let event = EpollEvent::new(EpollFlags::EPOLLIN, token(call, port));
            if let Err(e) = self.epoll.add(s, event) {
                // Only a kernel out of memory refuses this; the leg then hears nothing,
                // which its call's media timeout will end.
                warn!(%call, error = %e, "leg socket not watched");
            }
        }
        self.legs.insert(call, (socket, lease));
    }

    /// Hands a leg's sockets over (to another thread's set), unwatched here.
    pub(crate) fn take(&mut self, call: CallId) -> Option<(UdpSocket, PortLease)> {
        let (socket, lease) = self.legs.remove(&call)?;
        for s in [&socket, lease.rtcp()] {
            let _ = self.epoll.delete(s);
        }
        Some((socket, lease))
    }

    /// Closes a leg's sockets (closing takes them out of the epoll set) and frees its port.
    pub(crate) fn remove(&mut self, call: CallId) {
        self.legs.remove(&call);
    }

    pub(crate) fn calls(&self) -> impl Iterator<Item = CallId> + '_ {
        self.legs.keys().copied()
    }

    /// Reads what is waiting on every leg's sockets and hands each datagram to `handle`.
    pub(crate) fn receive(&mut self, now: Instant, mut handle: impl FnMut(Datagram<'_>)) {
        let clock = ArrivalClock::new(now);
        for _ in 0..MAX_ROUNDS_PER_TICK {
            if !self.take_ready() {
                break;
            }
            for &(call, port) in &self.ready {
                let Some((socket, lease)) = self.legs.get(&call) else {
                    continue;
                };
                let socket = match port {
                    Port::Rtp => socket,
                    Port::Rtcp => lease.rtcp(),
                };
                if let Some((len, source, stamp)) =
                    recv_stamped(socket, &mut self.buf, &mut self.cmsg)
                {
                    handle(Datagram {
                        call,
                        port,
                        source,
                        arrival: clock.instant(stamp),
                        bytes: &self.buf[..len],
                    });
                }
            }
        }
    }

    /// Fills `ready` with the sockets that have a datagram waiting; false when none has.
    fn take_ready(&mut self) -> bool {
        self.ready.clear();
        loop {
            let count = match self.epoll.wait(&mut self.events, EpollTimeout::ZERO) {
                Ok(count) => count,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    debug!(error = %e, "epoll wait failed");
                    0
                }
            };
            self.ready
                .extend(self.events[..count].iter().map(|e| from_token(e.data())));
            // A full batch may have left ready sockets behind; the level-triggered set
            // reports them to the next wait (and, past all of them, the first ones again).
            if count < self.events.len() || self.ready.len() >= 2 * self.legs.len() {
                return !self.ready.is_empty();
            }
        }
    }

    /// Sends what the media group has queued, each from its leg's RTP or RTCP socket.
    pub(crate) fn send_all(&self, group: &mut MediaGroup) {
        while let Some(t) = group.poll_transmit() {
            let Some((socket, lease)) = self.legs.get(&t.leg) else {
                continue;
            };
            let socket = if t.rtcp_port { lease.rtcp() } else { socket };
            if let Err(e) = socket.send_to(t.data, t.destination) {
                debug!(leg = %t.leg, error = %e, "media send failed");
            }
        }
    }
}

/// Maps kernel receive timestamps (wall clock) onto the monotonic clock of one drain.
struct ArrivalClock {
    now: Instant,
    wall: SystemTime,
}

impl ArrivalClock {
    fn new(now: Instant) -> Self {
        ArrivalClock {
            now,
            wall: SystemTime::now(),
        }
    }

    /// When a datagram stamped `stamp` arrived; the drain time if it has no stamp.
    fn instant(&self, stamp: Option<SystemTime>) -> Instant {
        stamp
            .and_then(|s| self.wall.duration_since(s).ok())
            .and_then(|ago| self.now.checked_sub(ago))
            .unwrap_or(self.now)
    }
}

/// Reads one datagram without blocking, with its kernel receive time when the socket
/// has SO_TIMESTAMPNS on. `None` when nothing is waiting (or on an error such as an ICMP
/// port-unreachable from the far end, which only ends this read).
fn recv_stamped(
    socket: &UdpSocket,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> Option<(usize, SocketAddr, Option<SystemTime>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let source = msg.address.as_ref().and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
            .or_else(|| {
                a.as_sockaddr_in6()
                    .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
            })
    })?;
    let stamp = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => Some(
                UNIX_EPOCH
                    + std::time::Duration::new(
                        u64::try_from(ts.tv_sec()).ok()?,
                        u32::try_from(ts.tv_nsec()).ok()?,
                    ),
            ),
            _ => None,
        })
    });
    Some((msg.bytes, source, stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_the_leg_and_its_port() {
        for call in [CallId(0), CallId(7), CallId(u64::MAX >> 1)] {
            assert_eq!(from_token(token(call, Port::Rtp)), (call, Port::Rtp));
            assert_eq!(from_token(token(call, Port::Rtcp)), (call, Port::Rtcp));
        }
    }
}
