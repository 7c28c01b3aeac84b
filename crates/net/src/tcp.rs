//! SIP over TCP and TLS: accepting and opening connections, framing their byte streams
//! into messages, with the bounds a hostile network needs: connections in all and per
//! address, TLS handshakes at once and a deadline for each, a deadline for each message
//! once it starts (and for the first one), an idle timeout, and bounded queues both ways.

use crate::tls::{TlsClient, TlsServer};
use bytes::Bytes;
use chorus_engine::Transport;
use chorus_sip_msg::StreamFramer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tracing::{debug, warn};

/// Messages queued towards one connection; a peer that does not read loses what overflows.
const WRITE_QUEUE: usize = 256;
/// TLS handshakes under way at once: each costs a public-key operation, so a flood of
/// them is refused here rather than queued.
const MAX_HANDSHAKES: usize = 64;

/// The bounds on SIP over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_address: usize,
    /// A connection's first message, and every message once its first byte came, must be
    /// complete within this.
    pub header_timeout: Duration,
    /// A connection that carries nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 1000,
            max_per_address: 32,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(1800),
        }
    }
}

/// One message cut from a TCP or TLS stream.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) peer: SocketAddr,
    pub(crate) data: Vec<u8>,
    pub(crate) transport: Transport,
}

/// What a TLS listener serves with and how it opens connections of its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsEnds {
    pub(crate) server: Option<Arc<TlsServer>>,
    pub(crate) client: Option<TlsClient>,
}

/// The writers of the open connections, by peer, and the limits they live under.
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    writers: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    limits: TcpLimits,
    inbound: mpsc::Sender<Inbound>,
    /// TCP, or TLS with `tls`.
    transport: Transport,
    tls: TlsEnds,
    handshakes: Arc<Semaphore>,
}

impl Connections {
    /// SIP over TCP.
    pub(crate) fn new(limits: TcpLimits, inbound: mpsc::Sender<Inbound>) -> Self {
        Connections {
            writers: Arc::default(),
            limits,
            inbound,
            transport: Transport::Tcp,
            tls: TlsEnds::default(),
            handshakes: Arc::new(Semaphore::new(MAX_HANDSHAKES)),
        }
    }

    /// SIP over TLS, under the same limits.
    pub(crate) fn tls(limits: TcpLimits, inbound: mpsc::Sender<Inbound>, ends: TlsEnds) -> Self {
        Connections {
            transport: Transport::Tls,
            tls: ends,
            ..Self::new(limits, inbound)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Bytes>>> {
        self.writers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Open connections.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().len()
    }

    /// Whether the limits leave room for one more connection from `peer`.
    fn room_for(
        &self,
        writers: &HashMap<SocketAddr, mpsc::Sender<Bytes>>,
        peer: SocketAddr,
    ) -> Result<(), &'static str> {
        if writers.len() >= self.limits.max_connections {
            return Err("connection limit reached");
        }
        let from_peer = writers.keys().filter(|a| a.ip() == peer.ip()).count();
        if from_peer >= self.limits.max_per_address {
            return Err("per-address connection limit reached");
        }
        Ok(())
    }

    /// Registers a new connection's writer unless a limit refuses it.
    fn admit(&self, peer: SocketAddr, writer: mpsc::Sender<Bytes>) -> Result<(), &'static str> {
        let mut writers = self.lock();
        self.room_for(&writers, peer)?;
        writers.insert(peer, writer);
        Ok(())
    }

    fn forget(&self, peer: SocketAddr) {
        self.lock().remove(&peer);
    }

    /// Queues `data` to `peer`: on its open connection, else on a new one (RFC 3261
    /// §18.2.2).
    pub(crate) fn send(&self, peer: SocketAddr, data: Bytes) {
        let existing = self.lock().get(&peer).cloned();
        if let Some(writer) = existing {
            match writer.try_send(data) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    debug!(%peer, "SIP TCP write queue full; message dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(data)) => {
                    self.forget(peer);
                    return self.connect_and_send(peer, data);
                }
            }
        }
        self.connect_and_send(peer, data);
    }

    fn connect_and_send(&self, peer: SocketAddr, data: Bytes) {
        let connections = self.clone();
        tokio::spawn(async move {
            let stream = match TcpStream::connect(peer).await {
                Ok(stream) => stream,
                Err(e) => return debug!(error = %e, %peer, "SIP TCP connect failed"),
            };
            let writer = if connections.transport == Transport::Tls {
                // Only where the operator said whom to trust (dial-out); a phone whose
                // connection closed is not called back.
                let Some(client) = &connections.tls.client else {
                    return debug!(%peer, "no TLS connection to the peer; message dropped");
                };
                let connecting = client.connector().connect(client.name_for(peer), stream);
                match tokio::time::timeout(connections.limits.header_timeout, connecting).await {
                    Ok(Ok(tls)) => connections.serve(tls, peer),
                    Ok(Err(e)) => return warn!(error = %e, %peer, "SIP TLS connect refused"),
                    Err(_) => return warn!(%peer, "SIP TLS handshake timed out"),
                }
            } else {
                connections.serve(stream, peer)
            };
            if let Some(writer) = writer {
                let _ = writer.try_send(data);
            }
        });
    }

    /// Accepts connections until the task is aborted.
    pub(crate) async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => self.accepted(stream, peer),
                Err(e) => {
                    // EMFILE/ENFILE: out of descriptors. Say so, and back off so the
                    // loop does not spin while media sockets free up.
                    let out_of_descriptors = matches!(e.raw_os_error(), Some(24 | 23));
                    if out_of_descriptors {
                        warn!(error = %e, "SIP TCP accept: out of file descriptors");
                    } else {
                        warn!(error = %e, "SIP TCP accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// A new connection: served at once over TCP; over TLS once its handshake is done,
    /// within the message deadline, while few enough are under way.
    fn accepted(&self, stream: TcpStream, peer: SocketAddr) {
        let Some(server) = &self.tls.server else {
            self.serve(stream, peer);
            return;
        };
        if let Err(why) = self.room_for(&self.lock(), peer) {
            return debug!(%peer, why, "SIP TLS connection refused");
        }
        let Ok(permit) = Arc::clone(&self.handshakes).try_acquire_owned() else {
            return debug!(%peer, "SIP TLS connection refused: too many handshakes");
        };
        let acceptor = server.acceptor();
        let connections = self.clone();
        tokio::spawn(async move {
            let handshake = acceptor.accept(stream);
            let outcome = tokio::time::timeout(connections.limits.header_timeout, handshake).await;
            drop(permit);
            match outcome {
                Ok(Ok(tls)) => {
                    connections.serve(tls, peer);
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "SIP TLS handshake failed"),
                Err(_) => debug!(%peer, "SIP TLS handshake timed out"),
            }
        });
    }

    /// Starts a reader and a writer for one connection; `None` when a limit refuses it
    /// (the stream is then closed).
    fn serve<S>(&self, stream: S, peer: SocketAddr) -> Option<mpsc::Sender<Bytes>>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        if let Err(why) = self.admit(peer, tx.clone()) {
            debug!(%peer, why, transport = ?self.transport, "SIP connection refused");
            return None;
        }
        let (reader, writer) = tokio::io::split(stream);
        tokio::spawn(write_loop(writer, rx));
        tokio::spawn(self.clone().read_loop(reader, peer));
        Some(tx)
    }

    async fn read_loop<R: AsyncRead + Unpin>(self, mut reader: R, peer: SocketAddr) {
        let limits = self.limits;
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16_384];
        // The first message, and each message once its first byte came, must be whole by
        // a deadline that reads do not push back (else one byte every few seconds would
        // hold the connection for ever); between messages the idle timeout runs.
        let mut deadline = Some(Instant::now() + limits.header_timeout);
        let mut got_message = false;
        loop {
            let until = deadline.unwrap_or_else(|| Instant::now() + limits.idle_timeout);
            let len = match tokio::time::timeout_at(until, reader.read(&mut buf)).await {
                Err(_) => {
                    debug!(%peer, got_message, "closing SIP TCP connection: timed out");
                    break;
                }
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(len)) => len,
            };
            framer.push(&buf[..len]);
            loop {
                match framer.next_message() {
                    Ok(Some(data)) => {
                        got_message = true;
                        deadline = None;
                        // Back-pressure: a peer that floods waits for the engine, alone.
                        let transport = self.transport;
                        let inbound = Inbound {
                            peer,
                            data,
                            transport,
                        };
                        if self.inbound.send(inbound).await.is_err() {
                            return self.forget(peer);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        debug!(%peer, error = %e, "closing SIP TCP connection");
                        return self.forget(peer);
                    }
                }
            }
            if framer.has_partial() {
                deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
            } else if got_message {
                deadline = None;
            }
        }
        self.forget(peer);
    }

    /// Open connections from `ip`.
    #[cfg(test)]
    fn from(&self, ip: std::net::IpAddr) -> usize {
        self.lock().keys().filter(|a| a.ip() == ip).count()
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(data) = rx.recv().await {
        // TLS buffers inside the stream: flush, or a message can wait for the next.
        if writer.write_all(&data).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_refuse_connections_and_idle_ones_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, _rx) = mpsc::channel(16);
        let connections = Connections::new(
            TcpLimits {
                max_connections: 5,
                max_per_address: 3,
                header_timeout: Duration::from_millis(300),
                idle_timeout: Duration::from_secs(60),
            },
            tx,
        );
        tokio::spawn(connections.clone().accept_loop(listener));
        let mut streams = Vec::new();
        for _ in 0..5 {
            streams.push(TcpStream::connect(addr).await.expect("connect"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(connections.from(std::net::IpAddr::from([127, 0, 0, 1])), 3);
        // Silent connections are closed after the header timeout.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(connections.count(), 0);
    }
}
