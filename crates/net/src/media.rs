//! Mixing threads: each sleeps to absolute tick deadlines and owns its legs' sockets.

use crate::leg_sockets::{LegSockets, Port};
use crate::metrics::{FramePath, Packets};
use crate::placement::Placement;
use crate::recorder::{Recorder, Recording};
use crate::{Metrics, PortLease};
use chorus_engine::{
    CallId, MediaCommand, MediaEvent, MediaGroup, MediaParams, MediaTotals, MovingLeg,
};
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::Instant;
use tracing::{info, warn};

enum Command {
    Add {
        call: CallId,
        conference: String,
        params: MediaParams,
        ssrc: u32,
        socket: UdpSocket,
        lease: PortLease,
    },
    Update {
        call: CallId,
        params: MediaParams,
    },
    Remove {
        call: CallId,
    },
    Engine(MediaCommand),
    /// A leg is coming from another thread: hold its commands until it arrives.
    Expect {
        call: CallId,
    },
    /// Send this leg, with its sockets, to the thread behind `onto`, into `to`.
    Detach {
        call: CallId,
        to: String,
        onto: Sender<Command>,
    },
    /// A leg from another thread, for conference `conference`.
    Attach {
        call: CallId,
        conference: String,
        leg: MovingLeg,
        socket: UdpSocket,
        lease: PortLease,
    },
    /// The leg that was expected is gone (it hung up on the way).
    Abandon {
        call: CallId,
    },
}

/// The mixing threads. Dropping it stops them.
#[derive(Debug)]
pub struct MediaThreads {
    senders: Vec<Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    placement: Placement,
}

impl MediaThreads {
    /// Starts `count` mixing threads (at least one). Keys, finished prompts and recorded
    /// names come back on `events`.
    pub fn start(
        count: usize,
        events: tokio::sync::mpsc::Sender<MediaEvent>,
        metrics: Arc<Metrics>,
        recordings: std::path::PathBuf,
        notify: tokio::sync::broadcast::Sender<chorus_engine::Notification>,
        config: chorus_engine::MediaConfig,
        realtime: bool,
    ) -> std::io::Result<Self> {
        let recorder = Recorder::start(recordings, notify)?;
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (tx, rx) = channel();
            let metrics = Arc::clone(&metrics);
            let events = events.clone();
            let recorder = recorder.clone();
            let sockets = LegSockets::new()?;
            let thread = std::thread::Builder::new()
                .name(format!("chorus-mix-{index}"))
                .spawn(move || {
                    if realtime {
                        ask_for_realtime(index);
                    }
                    mix_loop(rx, sockets, &metrics, &events, &recorder, config);
                })?;
            senders.push(tx);
            threads.push(thread);
        }
        let placement = Placement::new(senders.len());
        Ok(MediaThreads {
            senders,
            threads,
            placement,
        })
    }

    /// Hands a leg and its socket to the thread of its conference.
    pub fn add(
        &mut self,
        call: CallId,
        conference: &str,
        params: MediaParams,
        ssrc: u32,
        socket: UdpSocket,
        lease: PortLease,
    ) {
        let index = self.placement.add(call, conference, params.codec);
        let _ = self.senders[index].send(Command::Add {
            call,
            conference: conference.to_owned(),
            params,
            ssrc,
            socket,
            lease,
        });
    }

    /// Applies new media parameters to a leg.
    pub fn update(&mut self, call: CallId, params: MediaParams) {
        if let Some(index) = self.placement.leg(call) {
            let _ = self.senders[index].send(Command::Update { call, params });
        }
    }

    /// Passes an engine command to the thread of the leg or conference it names. A leg
    /// moved to a conference mixed on another thread is handed over with its sockets;
    /// commands for it wait on the new thread until it is there.
    pub fn command(&mut self, command: MediaCommand) {
        if let MediaCommand::Move { call, to } = &command {
            match self.placement.relocate(*call, to) {
                Some((from, onto)) if from != onto => {
                    info!(%call, from, onto, "leg handed to another mixing thread");
                    let _ = self.senders[onto].send(Command::Expect { call: *call });
                    let _ = self.senders[from].send(Command::Detach {
                        call: *call,
                        to: to.clone(),
                        onto: self.senders[onto].clone(),
                    });
                }
                Some((from, _)) => {
                    let _ = self.senders[from].send(Command::Engine(command));
                }
                None => {}
            }
            return;
        }
        let index = match &command {
            MediaCommand::Announce { conference, .. }
            | MediaCommand::RecordConference { conference, .. } => {
                self.placement.conference(conference)
            }
            other => other.call().and_then(|call| self.placement.leg(call)),
        };
        if let Some(index) = index {
            let _ = self.senders[index].send(Command::Engine(command));
        }
    }

    /// Removes a leg; its socket closes and its port returns to the pool.
    pub fn remove(&mut self, call: CallId) {
        if let Some(index) = self.placement.remove(call) {
            let _ = self.senders[index].send(Command::Remove { call });
        }
    }

    /// Stops every thread and waits for them.
    pub fn stop(mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Asks for SCHED_FIFO at a low real-time priority, so that a busy machine's ordinary
/// threads (the SIP task, a load generator, a build) cannot delay a tick. Needs
/// CAP_SYS_NICE or an RLIMIT_RTPRIO of at least 10 (systemd: `LimitRTPRIO=10`); refused, the
/// thread runs as before. The kernel's real-time throttling keeps 5 % of each core for
/// everything else even if a thread never slept.
fn ask_for_realtime(index: usize) {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let Ok(value) = ThreadPriorityValue::try_from(10u8) else {
        return;
    };
    match thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    ) {
        Ok(()) => info!(thread = index, "mixing thread runs at real-time priority"),
        Err(e) => {
            warn!(thread = index, error = ?e, "real-time priority refused; mixing thread runs at normal priority")
        }
    }
}

/// The wall clock in 64-bit NTP format (seconds since 1900 and a binary fraction).
fn ntp_now() -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    ((since.as_secs() + NTP_UNIX_OFFSET) << 32) | fraction
}

fn publish_totals(metrics: &Metrics, before: &mut MediaTotals, now: MediaTotals) {
    for (kind, was, is) in [
        ("in", before.received, now.received),
        ("out", before.sent, now.sent),
        ("lost", before.lost, now.lost),
        ("dropped", before.dropped, now.dropped),
    ] {
        metrics
            .rtp_packets
            .get_or_create(&Packets { kind })
            .inc_by(is.saturating_sub(was));
    }
    for (path, was, is) in [
        ("forwarded", before.forwarded, now.forwarded),
        ("silence", before.silent, now.silent),
    ] {
        metrics
            .media_frames
            .get_or_create(&FramePath { path })
            .inc_by(is.saturating_sub(was));
    }
    metrics
        .decodes_skipped
        .inc_by(now.decodes_skipped.saturating_sub(before.decodes_skipped));
    for (reason, was, is) in [
        (
            "auth_failure",
            before.srtp_auth_failures,
            now.srtp_auth_failures,
        ),
        ("replay", before.srtp_replayed, now.srtp_replayed),
    ] {
        metrics
            .srtp_dropped
            .get_or_create(&crate::metrics::SrtpDrop { reason })
            .inc_by(is.saturating_sub(was));
    }
    *before = now;
}

/// A leg's media figures when it ends: what we received, what the far end said about what
/// we sent, and the round trip.
fn log_leg(call: CallId, s: &chorus_engine::LegStats) {
    let received = s.receive.accepted;
    let lost = s.receive.lost;
    info!(
        %call,
        received,
        lost,
        loss_percent = format!("{:.1}", 100.0 * lost as f64 / (received + lost).max(1) as f64),
        jitter_ms = s.jitter_ms,
        buffer_ms = s.delay_ms,
        concealed = s.jitter.concealed,
        late = s.jitter.late,
        underruns = s.jitter.underruns,
        cut = s.jitter.skipped,
        resyncs = s.jitter.resyncs,
        sent = s.sent,
        forwarded = s.forwarded,
        decodes_skipped = s.decodes_skipped,
        encrypted = s.encrypted,
        srtp_auth_failures = s.srtp_auth_failures,
        srtp_replayed = s.srtp_replayed,
        far_end_lost = s.far_end.map(|f| f.cumulative_lost),
        far_end_jitter = s.far_end.map(|f| f.jitter),
        rtt_ms = s.rtt_ms,
        "leg media"
    );
}

/// Legs on their way here from another thread (an operator moved them to a conference
/// mixed here): the commands for them that came first, replayed once they arrive.
type Expected = HashMap<CallId, Vec<Command>>;

/// Commands kept for a leg on its way (a move takes a tick or two).
const MAX_WAITING: usize = 256;

/// Carries out one command on this thread's legs.
fn apply(
    command: Command,
    group: &mut MediaGroup,
    sockets: &mut LegSockets,
    recorder: &Recorder,
    metrics: &Metrics,
    expected: &mut Expected,
) {
    let about = match &command {
        Command::Update { call, .. } | Command::Remove { call } => Some(*call),
        Command::Engine(command) => command.call(),
        _ => None,
    };
    if let Some(waiting) = about.and_then(|call| expected.get_mut(&call)) {
        if waiting.len() < MAX_WAITING {
            waiting.push(command);
        }
        return;
    }
    match command {
        Command::Add {
            call,
            conference,
            params,
            ssrc,
            socket,
            lease,
        } => {
            group.add_leg(call, &conference, params, ssrc);
            sockets.insert(call, socket, lease);
        }
        Command::Update { call, params } => group.update_leg(call, params),
        Command::Engine(command) => {
            // Only a conference mixed here can be recorded here.
            if let MediaCommand::RecordConference { conference, on } = &command
                && group.conference_rate(conference).is_some()
            {
                recorder.send(if *on {
                    Recording::MixStart {
                        conference: conference.clone(),
                    }
                } else {
                    Recording::MixStop {
                        conference: conference.clone(),
                        reason: "stopped",
                    }
                });
            }
            if let MediaCommand::Record {
                call,
                conference,
                number,
                call_id,
            } = &command
            {
                recorder.send(Recording::Start {
                    call: *call,
                    conference: conference.clone(),
                    number: number.clone(),
                    call_id: call_id.clone(),
                });
            }
            group.handle_command(command);
        }
        Command::Remove { call } => {
            if let Some(stats) = group.leg_stats(call) {
                log_leg(call, &stats);
                metrics.observe_leg(&stats);
            }
            metrics.legs.remove(&call);
            group.remove_leg(call);
            // The RTCP BYE goes out before the sockets close.
            sockets.send_all(group);
            sockets.remove(call);
            recorder.send(Recording::Stop { call });
        }
        Command::Expect { call } => {
            expected.entry(call).or_default();
        }
        Command::Detach { call, to, onto } => {
            let moving = group.detach_leg(call).zip(sockets.take(call));
            let _ = onto.send(match moving {
                Some((leg, (socket, lease))) => Command::Attach {
                    call,
                    conference: to,
                    leg,
                    socket,
                    lease,
                },
                None => Command::Abandon { call },
            });
        }
        Command::Attach {
            call,
            conference,
            leg,
            socket,
            lease,
        } => {
            group.attach_leg(call, leg, &conference);
            sockets.insert(call, socket, lease);
            for waiting in expected.remove(&call).unwrap_or_default() {
                apply(waiting, group, sockets, recorder, metrics, expected);
            }
        }
        Command::Abandon { call } => {
            for waiting in expected.remove(&call).unwrap_or_default() {
                apply(waiting, group, sockets, recorder, metrics, expected);
            }
        }
    }
}

fn mix_loop(
    commands: Receiver<Command>,
    mut sockets: LegSockets,
    metrics: &Metrics,
    events: &tokio::sync::mpsc::Sender<MediaEvent>,
    recorder: &Recorder,
    config: chorus_engine::MediaConfig,
) {
    let mut published = MediaTotals::default();
    let mut ticks = 0u64;
    let mut group = MediaGroup::with_config(Instant::now(), config);
    group.set_wall_clock(Instant::now(), ntp_now());
    let mut late_reported = 0;
    let mut expected = Expected::new();
    loop {
        // Deadlines are absolute (start + n × 20 ms), so sleeping from "now" to the next
        // one never accumulates drift.
        let deadline = group.poll_timeout();
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        metrics.tick_lateness_seconds.observe(
            Instant::now()
                .saturating_duration_since(deadline)
                .as_secs_f64(),
        );
        loop {
            match commands.try_recv() {
                Ok(command) => apply(
                    command,
                    &mut group,
                    &mut sockets,
                    recorder,
                    metrics,
                    &mut expected,
                ),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        sockets.receive(now, |d| match d.port {
            Port::Rtp => group.handle_packet(d.arrival, d.call, d.source, d.bytes),
            Port::Rtcp => group.handle_rtcp(d.arrival, d.call, d.source, d.bytes),
        });
        group.handle_timeout(now);
        sockets.send_all(&mut group);
        metrics.tick_seconds.observe(now.elapsed().as_secs_f64());
        ticks += 1;
        // Totals walk every leg: once a second is plenty.
        if ticks.is_multiple_of(50) {
            publish_totals(metrics, &mut published, group.totals());
            for call in sockets.calls() {
                if let Some(stats) = group.leg_stats(call) {
                    metrics.legs.insert(call, stats);
                }
            }
        }
        while let Some(event) = group.poll_event() {
            // Bounded: a caller flooding key events cannot grow the queue without end. A
            // full queue (the SIP task far behind) drops the event, counted.
            if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = events.try_send(event) {
                metrics.media_events_dropped.inc();
            }
        }
        while let Some((conference, frame)) = group.poll_mix_recorded() {
            recorder.send(match frame {
                Some(samples) => Recording::MixFrame {
                    conference,
                    samples: samples.into_boxed_slice(),
                },
                None => Recording::MixStop {
                    conference,
                    reason: "ended",
                },
            });
        }
        while let Some((call, said, heard)) = group.poll_recorded() {
            recorder.send(Recording::Frames {
                call,
                audio: Box::new((said, heard)),
            });
        }
        let late = group.late_ticks();
        if late > late_reported {
            // A thread with no legs lost no audio: count it, say nothing.
            if group.leg_count() > 0 {
                warn!(
                    skipped = late - late_reported,
                    "mixing thread woke late; ticks skipped"
                );
            }
            metrics.late_ticks.inc_by(late - late_reported);
            late_reported = late;
        }
    }
}

impl Drop for MediaThreads {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
