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
        Metrics {
            registry,
            conferences,
            members,
            calls,
            tick_seconds,
            late_ticks,
            rtp_packets,
            keypad_commands,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
