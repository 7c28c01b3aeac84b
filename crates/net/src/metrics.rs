//! Prometheus metrics the driver and the mixing threads keep up to date.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `chorus_calls_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// answered, rejected, refused_locked, refused_full, wrong_pin.
    pub outcome: &'static str,
}

/// Labels of `chorus_guard_events_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardEvent {
    /// pin_check, media_timeout, dialout_refused, and the INVITEs refused (all also counted
    /// as `rejected` calls): refused_untrusted, refused_guessing, refused_pending, shed.
    pub event: &'static str,
}

/// Labels of `chorus_rtp_packets_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Packets {
    /// in, out, lost, dropped.
    pub kind: &'static str,
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Live conferences.
    pub conferences: Gauge,
    /// Members in live conferences.
    pub members: Gauge,
    /// Calls by outcome.
    pub calls: Family<Outcome, Counter>,
    /// Time one mixing tick takes.
    pub tick_seconds: Histogram,
    /// Ticks skipped because a mixing thread woke late.
    pub late_ticks: Counter,
    /// RTP packets in, out, lost and dropped.
    pub rtp_packets: Family<Packets, Counter>,
    /// Keypad commands carried out.
    pub keypad_commands: Counter,
    /// PIN checks, legs hung up for silence, `*8` refused by policy.
    pub guard_events: Family<GuardEvent, Counter>,
    /// Interarrival jitter of each ended leg, in seconds.
    pub leg_jitter_seconds: Histogram,
    /// RTCP round-trip time of each ended leg that measured one, in seconds.
    pub leg_rtt_seconds: Histogram,
    /// Share of each ended leg's incoming packets that were lost.
    pub leg_loss_ratio: Histogram,
    /// Each live leg's media figures, refreshed once a second by its mixing thread.
    pub legs: dashmap::DashMap<chorus_engine::CallId, chorus_engine::LegStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("chorus");
        let conferences = Gauge::default();
        let members = Gauge::default();
        let calls = Family::<Outcome, Counter>::default();
        // 50 µs to 20 ms: a tick over 20 ms is a late one.
        let tick_seconds = Histogram::new([
            0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02,
        ]);
        let late_ticks = Counter::default();
        let rtp_packets = Family::<Packets, Counter>::default();
        let keypad_commands = Counter::default();
        let guard_events = Family::<GuardEvent, Counter>::default();
        let leg_jitter_seconds = Histogram::new([0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32]);
        let leg_rtt_seconds = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8]);
        let leg_loss_ratio = Histogram::new([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]);
        registry.register(
            "leg_jitter_seconds",
            "Interarrival jitter (RFC 3550) of ended legs",
            leg_jitter_seconds.clone(),
        );
        registry.register(
            "leg_rtt_seconds",
            "RTCP round-trip time of ended legs",
            leg_rtt_seconds.clone(),
        );
        registry.register(
            "leg_loss_ratio",
            "Share of incoming RTP lost on ended legs",
            leg_loss_ratio.clone(),
        );
        registry.register("conferences", "Live conferences", conferences.clone());
        registry.register("members", "Members in live conferences", members.clone());
        registry.register("calls", "Calls by outcome", calls.clone());
        registry.register(
            "tick_duration_seconds",
            "Time one 20 ms mixing tick takes",
            tick_seconds.clone(),
        );
        registry.register(
            "late_ticks",
            "Ticks skipped because a mixing thread woke more than a tick late",
            late_ticks.clone(),
        );
        registry.register("rtp_packets", "RTP packets by kind", rtp_packets.clone());
        registry.register(
            "keypad_commands",
            "Keypad commands carried out",
            keypad_commands.clone(),
        );
        registry.register(
            "guard_events",
            "PIN checks, silent legs hung up, *8 refused, INVITEs refused by the guards",
            guard_events.clone(),
        );
        Metrics {
            registry,
            guard_events,
            conferences,
            members,
            calls,
            tick_seconds,
            late_ticks,
            rtp_packets,
            keypad_commands,
            leg_jitter_seconds,
            leg_rtt_seconds,
            leg_loss_ratio,
            legs: dashmap::DashMap::new(),
        }
    }

    /// Records an ended leg's media figures.
    pub fn observe_leg(&self, stats: &chorus_engine::LegStats) {
        self.leg_jitter_seconds
            .observe(f64::from(stats.jitter_ms) / 1000.0);
        if let Some(rtt) = stats.rtt_ms {
            self.leg_rtt_seconds.observe(f64::from(rtt) / 1000.0);
        }
        let r = &stats.receive;
        if r.accepted + r.lost > 0 {
            self.leg_loss_ratio
                .observe(r.lost as f64 / (r.accepted + r.lost) as f64);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
