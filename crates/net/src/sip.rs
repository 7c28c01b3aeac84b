//! SIP over UDP and TCP on one address, driving the engine.

use crate::metrics::Outcome;
use crate::{Control, MediaThreads, Member, Metrics, PortLease, PortPool};
use bytes::Bytes;
use chorus_engine::{
    CallId, Engine, EngineConfig, EngineStats, Event, ExtensionConfig, Notification, Prompts,
    Timers, Transmit, Transport,
};
use chorus_sip_msg::StreamFramer;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

/// How long shutdown waits for BYEs to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// What the driver needs to start.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// SIP address for UDP and TCP.
    pub sip_listen: SocketAddr,
    /// Address RTP sockets bind to and SDP announces.
    pub media_ip: IpAddr,
    /// RTP port range, inclusive.
    pub rtp_ports: (u16, u16),
    /// Mixing threads.
    pub media_threads: usize,
    /// Conference extensions with their rules and sounds.
    pub extensions: HashMap<String, ExtensionConfig>,
    /// Built-in prompts, chime and music.
    pub prompts: Prompts,
    /// Server header.
    pub user_agent: String,
    /// Ring this long before answering.
    pub answer_delay: Duration,
    /// Where `*8` dials, if anywhere.
    pub dialout: Option<chorus_engine::DialOut>,
    /// Where recordings of invited legs go.
    pub recordings: std::path::PathBuf,
    /// Codecs accepted and offered, most preferred first.
    pub codecs: Vec<chorus_types::Codec>,
    /// Encoder and jitter-buffer settings.
    pub media: chorus_engine::MediaConfig,
}

type Connections = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>>>;

struct Inbound {
    peer: SocketAddr,
    data: Vec<u8>,
}

/// Serves SIP until `shutdown` resolves, then hangs up every call (BYE), waits briefly
/// for the answers, stops the mixing threads and returns. Operator requests arrive on
/// `control`; notifications go out on `notify`; `metrics` is kept current.
pub async fn run(
    config: DriverConfig,
    mut control: mpsc::UnboundedReceiver<Control>,
    notify: broadcast::Sender<Notification>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let udp = UdpSocket::bind(config.sip_listen).await?;
    let tcp = TcpListener::bind(udp.local_addr()?).await?;
    let local_sip = udp.local_addr()?;
    info!(%local_sip, media_ip = %config.media_ip, "SIP listening on UDP and TCP");

    let mut engine = Engine::new(EngineConfig {
        local_sip,
        extensions: config.extensions.clone(),
        prompts: config.prompts.clone(),
        user_agent: config.user_agent.clone(),
        timers: Timers::default(),
        seed: fastrand::u64(..),
        answer_delay: config.answer_delay,
        dialout: config.dialout.clone(),
        codecs: config.codecs.clone(),
    });
    let ports = PortPool::new(config.rtp_ports.0, config.rtp_ports.1);
    let (media_events_tx, mut media_events) = mpsc::unbounded_channel();
    let mut media = MediaThreads::start(
        config.media_threads,
        media_events_tx,
        Arc::clone(&metrics),
        config.recordings.clone(),
        notify.clone(),
        config.media,
    )?;
    let connections: Connections = Arc::default();
    let (inbound_tx, mut inbound_rx) = mpsc::unbounded_channel::<Inbound>();
    let acceptor = tokio::spawn(accept_loop(
        tcp,
        Arc::clone(&connections),
        inbound_tx.clone(),
    ));

    let mut driver = Driver {
        udp,
        connections,
        inbound_tx,
        ports,
        media_ip: config.media_ip,
        pending_media: HashMap::new(),
        notify,
        metrics,
        published: EngineStats::default(),
    };
    let mut buf = vec![0u8; 65_536];
    tokio::pin!(shutdown);
    let mut stopping_since: Option<Instant> = None;
    loop {
        let wake = engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let grace = tokio::time::Instant::from_std(stopping_since.map_or_else(
            || Instant::now() + Duration::from_secs(3600),
            |at| at + SHUTDOWN_GRACE,
        ));
        tokio::select! {
            received = driver.udp.recv_from(&mut buf) => match received {
                Ok((len, source)) => {
                    engine.handle_message(Instant::now(), Transport::Udp, source, &buf[..len]);
                }
                Err(e) => debug!(error = %e, "SIP UDP receive error"),
            },
            Some(message) = inbound_rx.recv() => {
                engine.handle_message(Instant::now(), Transport::Tcp, message.peer, &message.data);
            }
            Some(event) = media_events.recv() => engine.handle_media_event(Instant::now(), event),
            Some(request) = control.recv() => handle_control(&mut engine, &driver.metrics, request),
            _ = tokio::time::sleep_until(wake) => engine.handle_timeout(Instant::now()),
            _ = &mut shutdown, if stopping_since.is_none() => {
                info!(calls = engine.call_count(), "shutting down: hanging up every call");
                engine.shutdown(Instant::now());
                stopping_since = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(grace), if stopping_since.is_some() => {
                warn!("shutdown grace period over");
                break;
            }
        }
        driver.flush(&mut engine, &mut media).await;
        driver.publish(&engine);
        if stopping_since.is_some() && engine.is_idle() {
            break;
        }
    }
    acceptor.abort();
    media.stop();
    info!("stopped");
    Ok(())
}

struct Driver {
    udp: UdpSocket,
    connections: Connections,
    inbound_tx: mpsc::UnboundedSender<Inbound>,
    ports: PortPool,
    media_ip: IpAddr,
    pending_media: HashMap<CallId, (StdUdpSocket, PortLease)>,
    notify: broadcast::Sender<Notification>,
    metrics: Arc<Metrics>,
    published: EngineStats,
}

fn handle_control(engine: &mut Engine, metrics: &Metrics, request: Control) {
    let now = Instant::now();
    match request {
        Control::SetExtensions(extensions) => engine.set_extensions(extensions),
        Control::EndConference(conference) => engine.end_conference(&conference),
        Control::Conferences(reply) => {
            let _ = reply.send(engine.conferences());
        }
        Control::Members(conference, reply) => {
            let wall = SystemTime::now();
            let members = engine.members(&conference).map(|members| {
                members
                    .into_iter()
                    .map(|info| Member {
                        media: metrics.legs.get(&CallId(info.id)).map(|s| *s),
                        joined_at: wall
                            .checked_sub(now.saturating_duration_since(info.joined_at))
                            .unwrap_or(wall),
                        info,
                    })
                    .collect()
            });
            let _ = reply.send(members);
        }
        Control::SetMuted {
            conference,
            member,
            muted,
            reply,
        } => {
            let _ = reply.send(engine.set_member_muted(&conference, member, muted));
        }
        Control::Kick {
            conference,
            member,
            reply,
        } => {
            let _ = reply.send(engine.kick(now, &conference, member));
        }
        Control::SetLocked {
            conference,
            locked,
            reply,
        } => {
            let _ = reply.send(engine.set_locked(&conference, locked));
        }
    }
}

impl Driver {
    /// Brings the metrics up to date with the engine's counters.
    fn publish(&mut self, engine: &Engine) {
        let stats = engine.stats();
        if stats == self.published {
            return;
        }
        let was = self.published;
        for (outcome, before, after) in [
            ("answered", was.calls_answered, stats.calls_answered),
            ("rejected", was.calls_rejected, stats.calls_rejected),
            ("refused_locked", was.refused_locked, stats.refused_locked),
            ("refused_full", was.refused_full, stats.refused_full),
            ("wrong_pin", was.wrong_pin, stats.wrong_pin),
        ] {
            self.metrics
                .calls
                .get_or_create(&Outcome { outcome })
                .inc_by(after.saturating_sub(before));
        }
        self.metrics
            .keypad_commands
            .inc_by(stats.keypad_commands.saturating_sub(was.keypad_commands));
        self.published = stats;
    }

    /// Sends everything the engine produced and acts on its events, until both are empty.
    async fn flush(&mut self, engine: &mut Engine, media: &mut MediaThreads) {
        loop {
            let mut progressed = false;
            while let Some(transmit) = engine.poll_transmit() {
                progressed = true;
                self.send(transmit).await;
            }
            while let Some(event) = engine.poll_event() {
                progressed = true;
                self.handle_event(engine, media, event);
            }
            if !progressed {
                return;
            }
        }
    }

    fn handle_event(&mut self, engine: &mut Engine, media: &mut MediaThreads, event: Event) {
        match event {
            Event::MediaRequested { call } => match self.ports.bind(self.media_ip) {
                Ok((socket, lease)) => match socket.local_addr() {
                    Ok(local) => {
                        self.pending_media.insert(call, (socket, lease));
                        engine.media_ready(Instant::now(), call, local);
                    }
                    Err(_) => engine.media_failed(Instant::now(), call),
                },
                Err(e) => {
                    warn!(error = %e, "no RTP port");
                    engine.media_failed(Instant::now(), call);
                }
            },
            Event::CallStarted {
                call,
                conference,
                media: params,
                ssrc,
                sip_call_id,
            } => {
                if let Some((socket, lease)) = self.pending_media.remove(&call) {
                    info!(call_id = %sip_call_id, %conference, codec = ?params.codec, remote = %params.remote, "joined conference");
                    media.add(call, &conference, params, ssrc, socket, lease);
                }
            }
            Event::MediaChanged {
                call,
                media: params,
            } => media.update(call, params),
            Event::Media(command) => media.command(command),
            Event::Notify(notification) => {
                let members = match &notification {
                    Notification::MemberJoined { .. } => Some(1),
                    Notification::MemberLeft { .. } => Some(-1),
                    _ => None,
                };
                if let Some(change) = members {
                    self.metrics.members.inc_by(change);
                    self.metrics
                        .conferences
                        .set(engine.conferences().len() as i64);
                }
                // Nobody listening is fine.
                let _ = self.notify.send(notification);
            }
            Event::CallEnded { call, .. } => {
                self.pending_media.remove(&call);
                media.remove(call);
            }
        }
    }

    async fn send(&self, transmit: Transmit) {
        match transmit.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&transmit.data, transmit.destination).await {
                    debug!(error = %e, destination = %transmit.destination, "SIP UDP send failed");
                }
            }
            Transport::Tcp => {
                let existing = {
                    let map = self
                        .connections
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    map.get(&transmit.destination).cloned()
                };
                match existing {
                    Some(writer) if writer.send(transmit.data.clone()).is_ok() => {}
                    _ => {
                        // No live connection to that peer: open one (RFC 3261 §18.2.2).
                        let connections = Arc::clone(&self.connections);
                        let inbound = self.inbound_tx.clone();
                        tokio::spawn(async move {
                            match TcpStream::connect(transmit.destination).await {
                                Ok(stream) => {
                                    let writer = serve_connection(
                                        stream,
                                        transmit.destination,
                                        connections,
                                        inbound,
                                    );
                                    let _ = writer.send(transmit.data);
                                }
                                Err(e) => debug!(error = %e, "SIP TCP connect failed"),
                            }
                        });
                    }
                }
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    connections: Connections,
    inbound: mpsc::UnboundedSender<Inbound>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                serve_connection(stream, peer, Arc::clone(&connections), inbound.clone());
            }
            Err(e) => {
                warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Spawns a reader and a writer for one connection and registers the writer.
fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    connections: Connections,
    inbound: mpsc::UnboundedSender<Inbound>,
) -> mpsc::UnboundedSender<Bytes> {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(peer, tx.clone());
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if writer.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16_384];
        loop {
            let len = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(len) => len,
            };
            framer.push(&buf[..len]);
            loop {
                match framer.next_message() {
                    Ok(Some(data)) => {
                        let _ = inbound.send(Inbound { peer, data });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        debug!(%peer, error = %e, "closing SIP TCP connection");
                        connections
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&peer);
                        return;
                    }
                }
            }
        }
        connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&peer);
    });
    tx
}
