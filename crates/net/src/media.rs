//! Mixing threads: each sleeps to absolute tick deadlines and owns its legs' sockets.

use crate::PortLease;
use chorus_engine::{CallId, MediaCommand, MediaEvent, MediaGroup, MediaParams};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::Instant;
use tracing::{debug, warn};

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
}

/// Running totals over all mixing threads.
#[derive(Debug, Default)]
pub struct MediaTotals {
    /// Legs being mixed.
    pub legs: AtomicU64,
    /// Ticks skipped because a thread woke more than a tick late.
    pub late_ticks: AtomicU64,
    /// RTP packets received (before validation).
    pub packets_in: AtomicU64,
    /// RTP packets sent.
    pub packets_out: AtomicU64,
}

/// The mixing threads. Dropping it stops them.
#[derive(Debug)]
pub struct MediaThreads {
    senders: Vec<Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    placement: HashMap<CallId, usize>,
    totals: Arc<MediaTotals>,
}

impl MediaThreads {
    /// Starts `count` mixing threads (at least one). Keys, finished prompts and recorded
    /// names come back on `events`.
    pub fn start(
        count: usize,
        events: tokio::sync::mpsc::UnboundedSender<MediaEvent>,
    ) -> std::io::Result<Self> {
        let totals = Arc::new(MediaTotals::default());
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let (tx, rx) = channel();
            let totals = Arc::clone(&totals);
            let events = events.clone();
            let thread = std::thread::Builder::new()
                .name(format!("chorus-mix-{index}"))
                .spawn(move || mix_loop(rx, &totals, &events))?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(MediaThreads {
            senders,
            threads,
            placement: HashMap::new(),
            totals,
        })
    }

    /// Totals across threads.
    pub fn totals(&self) -> Arc<MediaTotals> {
        Arc::clone(&self.totals)
    }

    fn thread_for(&self, conference: &str) -> usize {
        // A fixed hasher: one conference always maps to the same thread.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(conference);
        (hash % self.senders.len() as u64) as usize
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
        let index = self.thread_for(conference);
        self.placement.insert(call, index);
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
        if let Some(&index) = self.placement.get(&call) {
            let _ = self.senders[index].send(Command::Update { call, params });
        }
    }

    /// Passes an engine command to the thread of the leg or conference it names.
    pub fn command(&mut self, command: MediaCommand) {
        let index = match &command {
            MediaCommand::Announce { conference, .. } => Some(self.thread_for(conference)),
            other => other
                .call()
                .and_then(|call| self.placement.get(&call).copied()),
        };
        if let Some(index) = index {
            let _ = self.senders[index].send(Command::Engine(command));
        }
    }

    /// Removes a leg; its socket closes and its port returns to the pool.
    pub fn remove(&mut self, call: CallId) {
        if let Some(index) = self.placement.remove(&call) {
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

fn mix_loop(
    commands: Receiver<Command>,
    totals: &MediaTotals,
    events: &tokio::sync::mpsc::UnboundedSender<MediaEvent>,
) {
    let mut group = MediaGroup::new(Instant::now());
    let mut sockets: HashMap<CallId, (UdpSocket, PortLease)> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut late_reported = 0;
    loop {
        // Deadlines are absolute (start + n × 20 ms), so sleeping from "now" to the next
        // one never accumulates drift.
        let deadline = group.poll_timeout();
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Add {
                    call,
                    conference,
                    params,
                    ssrc,
                    socket,
                    lease,
                }) => {
                    group.add_leg(call, &conference, params, ssrc);
                    if sockets.insert(call, (socket, lease)).is_none() {
                        totals.legs.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Command::Update { call, params }) => group.update_leg(call, params),
                Ok(Command::Engine(command)) => group.handle_command(command),
                Ok(Command::Remove { call }) => {
                    if let Some(stats) = group.leg_stats(call) {
                        debug!(%call, ?stats, "leg removed");
                    }
                    group.remove_leg(call);
                    if sockets.remove(&call).is_some() {
                        totals.legs.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        let mut received = 0;
        for (call, (socket, _)) in &sockets {
            loop {
                match socket.recv_from(&mut buf) {
                    Ok((len, source)) => {
                        received += 1;
                        group.handle_packet(now, *call, source, &buf[..len]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // ICMP port-unreachable from the far end surfaces here; keep going.
                    Err(_) => break,
                }
            }
        }
        group.handle_timeout(now);
        let mut sent = 0;
        while let Some(t) = group.poll_transmit() {
            if let Some((socket, _)) = sockets.get(&t.leg) {
                match socket.send_to(t.data, t.destination) {
                    Ok(_) => sent += 1,
                    Err(e) => debug!(leg = %t.leg, error = %e, "RTP send failed"),
                }
            }
        }
        while let Some(event) = group.poll_event() {
            let _ = events.send(event);
        }
        totals.packets_in.fetch_add(received, Ordering::Relaxed);
        totals.packets_out.fetch_add(sent, Ordering::Relaxed);
        let late = group.late_ticks();
        if late > late_reported {
            warn!(
                skipped = late - late_reported,
                "mixing thread woke late; ticks skipped"
            );
            totals
                .late_ticks
                .fetch_add(late - late_reported, Ordering::Relaxed);
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
