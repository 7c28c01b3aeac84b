//! SIP over UDP and TCP on one address, and TLS on another, driving the engine.

use crate::metrics::{GuardEvent, Outcome, Refusal};
use crate::tcp::{Connections, Inbound, TcpLimits, TlsEnds};
use crate::tls::{TlsClient, TlsServer};
use crate::{Control, Hosted, MediaThreads, Member, Metrics, PortLease, PortPool, limits};
use chorus_engine::{
    CallId, CallSummary, Engine, EngineConfig, EngineStats, Event, ExtensionConfig, Notification,
    Prompts, Security, Timers, Transmit, Transport,
};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, UdpSocket};
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
    /// Mixing threads ask for real-time scheduling (SCHED_FIFO).
    pub realtime_media: bool,
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
    /// Who may call, and the limits on strangers.
    pub security: Security,
    /// Bounds on SIP over TCP.
    pub tcp: TcpLimits,
    /// RFC 4028 session interval (zero: only when a caller asks).
    pub session_expires: Duration,
    /// The conference factory and the limits on temporary conferences.
    pub adhoc: chorus_engine::AdhocConfig,
    /// Networks a REFER may name as a direct target.
    pub refer_direct_networks: Vec<ipnet::IpNet>,
    /// Limits on conference subscriptions, and the token that lifts the members-only rule.
    pub subscriptions: chorus_engine::SubscriptionConfig,
    /// SIP over TLS: where it listens and the certificate it serves.
    pub sip_tls: Option<(SocketAddr, Arc<TlsServer>)>,
    /// Whom TLS connections the bridge opens (dial-out) trust.
    pub tls_client: Option<TlsClient>,
    /// When calls are encrypted.
    pub srtp: chorus_engine::SrtpPolicy,
    /// The voice processing of conferences that do not set their own.
    pub voice: chorus_types::VoiceProcessing,
    /// How long a drain waits for the last call to end before hanging up everyone
    /// (zero: at once, as a plain stop).
    pub drain_timeout: Duration,
}

/// Events from the mixing threads (keys, prompts done) waiting for the engine.
const MEDIA_EVENT_QUEUE: usize = 8192;
/// Messages from TCP connections waiting for the engine; past this their readers wait.
const INBOUND_QUEUE: usize = 1024;
/// The share of its time the SIP task may be busy before new calls are shed.
const BUSY_SHED: f64 = 0.9;
/// Ticks the mixing threads may skip in one window before new calls are shed (half a
/// second of audio lost in a second: a passing hiccup on a loaded host is not overload).
const LATE_TICKS_SHED: u64 = 25;
/// How often the load is measured.
const LOAD_WINDOW: Duration = Duration::from_secs(1);

/// 32 bytes from the operating system's random source: what keys temporary conference
/// ids and digest nonces must not be guessable from anything the bridge sends.
fn engine_secret() -> io::Result<[u8; 32]> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| io::Error::other(format!("random source: {e}")))?;
    Ok(secret)
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
    let descriptors = limits::raise_descriptor_limit();
    let udp = UdpSocket::bind(config.sip_listen).await?;
    limits::grow_receive_buffer(&udp, limits::SIP_UDP_RECEIVE_BUFFER);
    let tcp = TcpListener::bind(udp.local_addr()?).await?;
    let local_sip = udp.local_addr()?;
    let tcp_limits = TcpLimits {
        max_connections: limits::tcp_connection_cap(config.tcp.max_connections, descriptors),
        ..config.tcp
    };
    info!(
        descriptors,
        tcp_connections = tcp_limits.max_connections,
        "descriptor budget"
    );
    info!(%local_sip, media_ip = %config.media_ip, "SIP listening on UDP and TCP");
    let tls_listener = match &config.sip_tls {
        Some((listen, _)) => {
            let listener = TcpListener::bind(listen).await?;
            info!(local = %listener.local_addr()?, "SIP listening on TLS");
            Some(listener)
        }
        None => None,
    };
    let tls_sip = match &tls_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };

    let mut engine = Engine::new(EngineConfig {
        local_sip,
        tls_sip,
        srtp: config.srtp,
        voice: config.voice,
        extensions: config.extensions.clone(),
        prompts: config.prompts.clone(),
        user_agent: config.user_agent.clone(),
        timers: Timers::default(),
        seed: fastrand::u64(..),
        answer_delay: config.answer_delay,
        dialout: config.dialout.clone(),
        codecs: config.codecs.clone(),
        security: config.security.clone(),
        session_expires: config.session_expires,
        adhoc: config.adhoc.clone(),
        refer_direct_networks: config.refer_direct_networks.clone(),
        secret: engine_secret()?,
        subscriptions: config.subscriptions.clone(),
    });
    let ports = PortPool::new(config.rtp_ports.0, config.rtp_ports.1);
    let (media_events_tx, mut media_events) = mpsc::channel(MEDIA_EVENT_QUEUE);
    let mut media = MediaThreads::start(
        config.media_threads,
        media_events_tx,
        Arc::clone(&metrics),
        config.recordings.clone(),
        notify.clone(),
        config.media,
        config.realtime_media,
    )?;
    let (inbound_tx, mut inbound_rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
    let connections = Connections::new(tcp_limits, inbound_tx.clone());
    let acceptor = tokio::spawn(connections.clone().accept_loop(tcp));
    let tls = (config.sip_tls.is_some() || config.tls_client.is_some()).then(|| {
        let ends = TlsEnds {
            server: config
                .sip_tls
                .as_ref()
                .map(|(_, server)| Arc::clone(server)),
            client: config.tls_client.clone(),
        };
        Connections::tls(tcp_limits, inbound_tx, ends)
    });
    let tls_acceptor = match (&tls, tls_listener) {
        (Some(tls), Some(listener)) => Some(tokio::spawn(tls.clone().accept_loop(listener))),
        _ => None,
    };

    metrics.ready.set(1);
    let mut driver = Driver {
        udp,
        connections,
        tls,
        load: Load::new(Instant::now()),
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
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let wake = engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let grace = tokio::time::Instant::from_std(stopping_since.map_or_else(
            || Instant::now() + Duration::from_secs(3600),
            |at| at + SHUTDOWN_GRACE,
        ));
        let drain_until = tokio::time::Instant::from_std(
            drain_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
        );
        // Work is timed from when an input is ready, so waiting does not count as load.
        let woke;
        tokio::select! {
            received = driver.udp.recv_from(&mut buf) => {
                woke = Instant::now();
                match received {
                    Ok((len, source)) => {
                        driver.metrics.count_sip(true, &buf[..len]);
                        engine.handle_message(woke, Transport::Udp, source, &buf[..len]);
                    }
                    Err(e) => debug!(error = %e, "SIP UDP receive error"),
                }
            }
            Some(message) = inbound_rx.recv() => {
                woke = Instant::now();
                driver.metrics.count_sip(true, &message.data);
                engine.handle_message(woke, message.transport, message.peer, &message.data);
            }
            Some(event) = media_events.recv() => {
                woke = Instant::now();
                engine.handle_media_event(woke, event);
            }
            Some(request) = control.recv() => {
                woke = Instant::now();
                match request {
                    Control::Drain(reply) => {
                        if drain_deadline.is_none() && stopping_since.is_none() {
                            info!(
                                calls = engine.call_count(),
                                timeout = %humantime::format_duration(config.drain_timeout),
                                "draining: only callers of conferences here are taken"
                            );
                            engine.set_draining(true);
                            driver.metrics.ready.set(0);
                            driver.metrics.draining.set(1);
                            drain_deadline = Some(woke + config.drain_timeout);
                        }
                        let _ = reply.send(engine.call_count());
                    }
                    request => handle_control(&mut engine, &driver.metrics, request),
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                woke = Instant::now();
                engine.handle_timeout(woke);
            }
            _ = &mut shutdown, if stopping_since.is_none() => {
                woke = Instant::now();
                info!(calls = engine.call_count(), "shutting down: hanging up every call");
                driver.metrics.ready.set(0);
                engine.shutdown(woke);
                stopping_since = Some(woke);
            }
            _ = tokio::time::sleep_until(drain_until), if drain_deadline.is_some() && stopping_since.is_none() => {
                woke = Instant::now();
                warn!(calls = engine.call_count(), "drain timeout: hanging up every call");
                engine.shutdown(woke);
                stopping_since = Some(woke);
            }
            _ = tokio::time::sleep_until(grace), if stopping_since.is_some() => {
                warn!("shutdown grace period over");
                break;
            }
        }
        driver.flush(&mut engine, &mut media).await;
        driver.publish(&engine);
        let overloaded = driver.load.measure(woke, inbound_rx.len(), &driver.metrics);
        engine.set_overloaded(overloaded);
        if drain_deadline.is_some() && stopping_since.is_none() && engine.is_idle() {
            info!("drained: the last call ended");
            // Ends the roster subscriptions still open.
            engine.shutdown(woke);
            driver.flush(&mut engine, &mut media).await;
            stopping_since = Some(woke);
        }
        if stopping_since.is_some() && engine.is_idle() {
            break;
        }
    }
    acceptor.abort();
    if let Some(tls_acceptor) = tls_acceptor {
        tls_acceptor.abort();
    }
    media.stop();
    info!("stopped");
    Ok(())
}

struct Driver {
    udp: UdpSocket,
    connections: Connections,
    tls: Option<Connections>,
    load: Load,
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
        Control::SetHearing {
            conference,
            member,
            change,
            reply,
        } => {
            let _ = reply.send(engine.set_member_hearing(&conference, member, change));
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
        Control::CreateTemporary { config, reply } => {
            let created = engine
                .create_temporary(now, *config)
                .map(|id| (engine.focus_uri(&id), id))
                .map(|(uri, id)| (id, uri));
            let _ = reply.send(created);
        }
        Control::EndTemporary { conference, reply } => {
            let _ = reply.send(engine.end_temporary(&conference));
        }
        Control::SetAllMuted {
            conference,
            muted,
            reply,
        } => {
            let _ = reply.send(engine.set_all_muted(&conference, muted));
        }
        Control::RecordConference {
            conference,
            on,
            reply,
        } => {
            let _ = reply.send(engine.record_conference(&conference, on));
        }
        Control::Play {
            conference,
            member,
            clip,
            reply,
        } => {
            let _ = reply.send(engine.play_sound(&conference, member, clip));
        }
        Control::DialOut {
            conference,
            number,
            reply,
        } => {
            let dialled = engine.dial_out(now, &conference, &number).map(|id| id.0);
            let _ = reply.send(dialled);
        }
        Control::MoveMember {
            conference,
            member,
            to,
            reply,
        } => {
            let _ = reply.send(engine.move_member(now, &conference, member, &to));
        }
        Control::Hosted(reply) => {
            let _ = reply.send(Hosted {
                conferences: engine.hosted(),
                draining: engine.is_draining(),
            });
        }
        // Handled by the driver's loop, which owns the drain's deadline.
        Control::Drain(reply) => {
            let _ = reply.send(engine.call_count());
        }
    }
}

impl Driver {
    /// Brings the metrics up to date with the engine's counters.
    fn publish(&mut self, engine: &Engine) {
        self.metrics
            .subscriptions
            .set(i64::try_from(engine.subscription_count()).unwrap_or(i64::MAX));
        let stats = engine.stats();
        if stats == self.published {
            return;
        }
        let was = self.published;
        for (outcome, before, after) in [
            ("answered", was.calls_answered, stats.calls_answered),
            ("rejected", was.calls_rejected, stats.calls_rejected),
        ] {
            self.metrics
                .calls
                .get_or_create(&Outcome { outcome })
                .inc_by(after.saturating_sub(before));
        }
        for (reason, before, after) in [
            ("locked", was.refused_locked, stats.refused_locked),
            ("full", was.refused_full, stats.refused_full),
            ("wrong_pin", was.wrong_pin, stats.wrong_pin),
        ] {
            self.metrics
                .entries_refused
                .get_or_create(&Refusal { reason })
                .inc_by(after.saturating_sub(before));
        }
        self.metrics
            .keypad_commands
            .inc_by(stats.keypad_commands.saturating_sub(was.keypad_commands));
        for (event, before, after) in [
            ("pin_check", was.pin_checks, stats.pin_checks),
            ("media_timeout", was.media_timeouts, stats.media_timeouts),
            (
                "dialout_refused",
                was.dialout_refused,
                stats.dialout_refused,
            ),
            (
                "refused_untrusted",
                was.refused_untrusted,
                stats.refused_untrusted,
            ),
            (
                "refused_guessing",
                was.refused_guessing,
                stats.refused_guessing,
            ),
            (
                "refused_pending",
                was.refused_pending,
                stats.refused_pending,
            ),
            ("shed", was.shed, stats.shed),
            ("auth_failure", was.auth_failures, stats.auth_failures),
        ] {
            self.metrics
                .guard_events
                .get_or_create(&GuardEvent { event })
                .inc_by(after.saturating_sub(before));
        }
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
                if let Notification::CallEnded(summary) = &notification {
                    self.log_call_summary(summary);
                }
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

    /// One line per call at its end: who, where, how long, why, and its media figures
    /// (as last published by its mixing thread, at most a second old).
    fn log_call_summary(&self, summary: &CallSummary) {
        let media = self.metrics.legs.get(&CallId(summary.member)).map(|s| *s);
        let (received, lost, sent, jitter_ms, rtt_ms) = media.map_or((0, 0, 0, 0, None), |m| {
            (
                m.receive.accepted,
                m.receive.lost,
                m.sent,
                m.jitter_ms,
                m.rtt_ms,
            )
        });
        info!(
            call_id = %summary.sip_call_id,
            caller = %summary.caller,
            extension = %summary.conference,
            codec = %summary.codec.as_deref().unwrap_or("none"),
            duration_s = summary.duration_ms as f64 / 1000.0,
            reason = %summary.reason,
            received,
            lost,
            sent,
            jitter_ms,
            rtt_ms,
            "call summary"
        );
    }

    async fn send(&self, transmit: Transmit) {
        self.metrics.count_sip(false, &transmit.data);
        match transmit.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&transmit.data, transmit.destination).await {
                    debug!(error = %e, destination = %transmit.destination, "SIP UDP send failed");
                }
            }
            Transport::Tcp => self.connections.send(transmit.destination, transmit.data),
            Transport::Tls => match &self.tls {
                Some(tls) => tls.send(transmit.destination, transmit.data),
                None => debug!(destination = %transmit.destination, "no SIP TLS; message dropped"),
            },
        }
    }
}

/// Whether the SIP task keeps up: the share of the last window it spent working, the
/// TCP messages waiting, and whether a mixing thread woke late.
struct Load {
    window_start: Instant,
    busy: Duration,
    late_ticks: u64,
    overloaded: bool,
}

impl Load {
    fn new(now: Instant) -> Self {
        Load {
            window_start: now,
            busy: Duration::ZERO,
            late_ticks: 0,
            overloaded: false,
        }
    }

    /// Adds the work done since `since`; returns whether new calls should be shed.
    fn measure(&mut self, since: Instant, queued: usize, metrics: &Metrics) -> bool {
        let now = Instant::now();
        self.busy += now.saturating_duration_since(since);
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= LOAD_WINDOW {
            let late = metrics.late_ticks.get();
            let busy_share = self.busy.as_secs_f64() / elapsed.as_secs_f64();
            let was = self.overloaded;
            self.overloaded =
                busy_share > BUSY_SHED || late.saturating_sub(self.late_ticks) >= LATE_TICKS_SHED;
            if self.overloaded != was {
                warn!(
                    busy_share,
                    late_ticks = late.saturating_sub(self.late_ticks),
                    shedding = self.overloaded,
                    "signalling load changed"
                );
            }
            self.late_ticks = late;
            self.busy = Duration::ZERO;
            self.window_start = now;
        }
        self.overloaded || queued > INBOUND_QUEUE / 2
    }
}
