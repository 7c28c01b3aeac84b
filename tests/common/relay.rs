//! A seeded impairing relay for one call, on loopback: SIP from a phone passes through
//! (with the SDP's audio ports rewritten to the relay's), and the phone's RTP towards the
//! bridge loses packets at random and is delayed by a random amount (which reorders it).
//! The other direction passes untouched. Stops when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the phone's media suffers on the way to the bridge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Impairment {
    /// Fraction of packets dropped, at random.
    pub loss: f64,
    /// Extra delay, uniform from 0 to this, per packet.
    pub jitter_ms: u64,
    /// The random sequence.
    pub seed: u64,
}

/// Counters of what the relay did, read after the call.
#[derive(Debug, Default)]
pub(crate) struct RelayStats {
    pub forwarded: std::sync::atomic::AtomicU64,
    pub dropped: std::sync::atomic::AtomicU64,
}

pub(crate) struct Relay {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub(crate) stats: Arc<RelayStats>,
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Rewrites the `m=audio` port of a SIP message's SDP; returns the new message and the
/// port it replaced.
fn rewrite_audio_port(message: &[u8], new_port: u16) -> (Vec<u8>, Option<u16>) {
    let text = String::from_utf8_lossy(message);
    let Some(split) = text.find("\r\n\r\n") else {
        return (message.to_vec(), None);
    };
    let (head, body) = (&text[..split], &text[split + 4..]);
    let mut old = None;
    let body: String = body
        .split_inclusive('\n')
        .map(|line| {
            if let Some(rest) = line.strip_prefix("m=audio ") {
                let (port, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                old = port.parse().ok();
                format!("m=audio {new_port} {tail}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if old.is_none() {
        return (message.to_vec(), None);
    }
    let head: String = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    (format!("{head}\r\n\r\n{body}").into_bytes(), old)
}

impl Relay {
    /// SIP on `listen` goes to the bridge's SIP port; media flows through `media.0`
    /// (facing the bridge) and `media.1` (facing the phone).
    pub(crate) fn start(
        listen: u16,
        bridge_sip: u16,
        media: (u16, u16),
        impair: Impairment,
    ) -> Relay {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let sip = UdpSocket::bind(localhost(listen)).expect("relay sip");
        let to_bridge = UdpSocket::bind(localhost(media.0)).expect("relay media A");
        let to_phone = UdpSocket::bind(localhost(media.1)).expect("relay media B");
        let ports: Arc<std::sync::Mutex<(Option<u16>, Option<u16>)>> = Arc::default();
        let mut threads = Vec::new();
        {
            let (stop, ports) = (Arc::clone(&stop), Arc::clone(&ports));
            threads.push(std::thread::spawn(move || {
                let bridge = localhost(bridge_sip);
                let mut phone: Option<SocketAddr> = None;
                let mut buf = [0u8; 65_536];
                let _ = sip.set_read_timeout(Some(Duration::from_millis(50)));
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sip.recv_from(&mut buf) else {
                        continue;
                    };
                    if from == bridge {
                        let (out, old) = rewrite_audio_port(&buf[..n], media.1);
                        if let Some(port) = old {
                            ports.lock().expect("ports").1 = Some(port);
                        }
                        if let Some(phone) = phone {
                            let _ = sip.send_to(&out, phone);
                        }
                    } else {
                        phone = Some(from);
                        let (out, old) = rewrite_audio_port(&buf[..n], media.0);
                        if let Some(port) = old {
                            ports.lock().expect("ports").0 = Some(port);
                        }
                        let _ = sip.send_to(&out, bridge);
                    }
                }
            }));
        }
        {
            let (stop, ports, stats) = (Arc::clone(&stop), Arc::clone(&ports), Arc::clone(&stats));
            threads.push(std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(impair.seed);
                let _ = to_bridge.set_nonblocking(true);
                let _ = to_phone.set_nonblocking(true);
                let mut delayed: Vec<(Instant, Vec<u8>)> = Vec::new();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let (phone_rtp, bridge_rtp) = *ports.lock().expect("ports");
                    while let Ok((n, _)) = to_bridge.recv_from(&mut buf) {
                        if let Some(port) = phone_rtp {
                            let _ = to_phone.send_to(&buf[..n], localhost(port));
                        }
                    }
                    while let Ok((n, _)) = to_phone.recv_from(&mut buf) {
                        if rng.f64() < impair.loss {
                            stats.dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let delay = Duration::from_millis(rng.u64(0..=impair.jitter_ms));
                        delayed.push((Instant::now() + delay, buf[..n].to_vec()));
                    }
                    let now = Instant::now();
                    if let Some(port) = bridge_rtp {
                        delayed.retain(|(due, packet)| {
                            if *due > now {
                                return true;
                            }
                            let _ = to_bridge.send_to(packet, localhost(port));
                            stats.forwarded.fetch_add(1, Ordering::Relaxed);
                            false
                        });
                    }
                    std::thread::sleep(Duration::from_micros(500));
                }
            }));
        }
        Relay {
            stop,
            threads,
            stats,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
