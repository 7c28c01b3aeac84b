//! Prometheus metrics the driver, the mixing threads and the API keep up to date.
//!
//! Every labelled counter whose label values are known is created at zero, so a series
//! exists before its first event. `/metrics` serves the Prometheus text format (0.0.4),
//! which `promtool` and every scraper read, or OpenMetrics when a scraper asks for it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of `chorus_calls_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `answered` (200 sent) or `rejected` (a final error): every call is one of them.
    pub outcome: &'static str,
}

/// The values of [`Outcome`].
pub(crate) const CALL_OUTCOMES: [&str; 2] = ["answered", "rejected"];

/// Labels of `chorus_entries_refused_total`: answered callers who did not get in.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Refusal {
    /// `locked`, `full` or `wrong_pin`.
    pub reason: &'static str,
}

/// The values of [`Refusal`].
pub(crate) const REFUSALS: [&str; 3] = ["locked", "full", "wrong_pin"];

/// Labels of `chorus_guard_events_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardEvent {
    /// What a guard did (see [`GUARD_EVENTS`]).
    pub event: &'static str,
}

/// `pin_check`, `media_timeout`, `dialout_refused`, `auth_failure`, and the INVITEs the
/// guards refused (each also a `rejected` call): `refused_untrusted`, `refused_guessing`,
/// `refused_pending`, `shed`.
pub(crate) const GUARD_EVENTS: [&str; 8] = [
    "pin_check",
    "media_timeout",
    "dialout_refused",
    "auth_failure",
    "refused_untrusted",
    "refused_guessing",
    "refused_pending",
    "shed",
];

/// Labels of `chorus_rtp_packets_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Packets {
    /// in, out, lost, dropped.
    pub kind: &'static str,
}

/// The values of [`Packets`].
pub(crate) const PACKET_KINDS: [&str; 4] = ["in", "out", "lost", "dropped"];

/// Labels of `chorus_media_frames_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FramePath {
    /// forwarded (the lone talker's own packet) or silence (the shared silence).
    pub path: &'static str,
}

/// The values of [`FramePath`].
pub(crate) const FRAME_PATHS: [&str; 2] = ["forwarded", "silence"];

/// Labels of `chorus_srtp_dropped_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SrtpDrop {
    /// auth_failure (a bad tag: forged, damaged or under another key) or replay.
    pub reason: &'static str,
}

/// The values of [`SrtpDrop`].
pub(crate) const SRTP_DROPS: [&str; 2] = ["auth_failure", "replay"];

/// Labels of `chorus_sip_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SipRequest {
    /// `in` (received) or `out` (sent).
    pub direction: &'static str,
    /// One of [`SIP_METHODS`]; anything else is `other`, so strangers cannot grow the set.
    pub method: &'static str,
}

/// Methods counted by name.
pub(crate) const SIP_METHODS: [&str; 15] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "PRACK",
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
    "other",
];

/// Labels of `chorus_sip_responses_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SipResponse {
    /// `in` (received) or `out` (sent).
    pub direction: &'static str,
    /// `1xx` to `6xx`.
    pub class: &'static str,
}

/// Status classes.
pub(crate) const SIP_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// Labels of `chorus_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRequest {
    /// The route template (e.g. `/extension/{extension_id}/conference/`), or `unmatched`.
    pub route: String,
    /// The status code.
    pub code: u16,
}

/// Labels of `chorus_build_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    /// The crate version.
    version: &'static str,
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Live conferences.
    pub conferences: Gauge,
    /// Conference-state subscriptions (RFC 4575) live.
    pub subscriptions: Gauge,
    /// Members in live conferences.
    pub members: Gauge,
    /// Calls by outcome.
    pub calls: Family<Outcome, Counter>,
    /// Answered callers who did not get in, by reason.
    pub entries_refused: Family<Refusal, Counter>,
    /// Time one mixing tick takes.
    pub tick_seconds: Histogram,
    /// How late a mixing thread woke for its tick.
    pub tick_lateness_seconds: Histogram,
    /// Ticks skipped because a mixing thread woke late.
    pub late_ticks: Counter,
    /// Media events (keys, prompt ends) dropped because the SIP task fell far behind.
    pub media_events_dropped: Counter,
    /// RTP packets in, out, lost and dropped.
    pub rtp_packets: Family<Packets, Counter>,
    /// Frames sent without a decode, mix and encode of their own, by how.
    pub media_frames: Family<FramePath, Counter>,
    /// Received packets not decoded (silent, or heard by nobody).
    pub decodes_skipped: Counter,
    /// SRTP and SRTCP datagrams dropped, by why.
    pub srtp_dropped: Family<SrtpDrop, Counter>,
    /// Keypad commands carried out.
    pub keypad_commands: Counter,
    /// What the guards did.
    pub guard_events: Family<GuardEvent, Counter>,
    /// SIP requests by direction and method.
    pub sip_requests: Family<SipRequest, Counter>,
    /// SIP responses by direction and status class.
    pub sip_responses: Family<SipResponse, Counter>,
    /// REST requests by route and status.
    pub http_requests: Family<HttpRequest, Counter>,
    /// 1 while the SIP sockets are bound and the bridge is not draining.
    pub ready: Gauge,
    /// 1 from the start of a drain (SIGTERM, `POST /admin/drain`) until the process ends.
    pub draining: Gauge,
    /// Conferences with calls here that the shared store places on another live node:
    /// their callers are split (several nodes only; should stay 0).
    pub split_conferences: Gauge,
    /// Interarrival jitter of each ended leg, in seconds.
    pub leg_jitter_seconds: Histogram,
    /// RTCP round-trip time of each ended leg that measured one, in seconds.
    pub leg_rtt_seconds: Histogram,
    /// Share of each ended leg's incoming packets that were lost.
    pub leg_loss_ratio: Histogram,
    /// Each live leg's media figures, refreshed once a second by its mixing thread.
    pub legs: dashmap::DashMap<chorus_engine::CallId, chorus_engine::LegStats>,
    process: Process,
}

/// The process metrics every exporter has, read from /proc at each scrape.
#[derive(Debug, Default)]
struct Process {
    registry: Registry,
    cpu_seconds: Counter<f64, AtomicU64>,
    resident_memory_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        Self::for_node(None)
    }

    /// As [`Metrics::new`]; on a node of several, every series carries `node="NAME"`, so
    /// one Prometheus can scrape them all and tell them apart.
    pub fn for_node(node: Option<&str>) -> Metrics {
        let labels = || {
            node.map(|name| {
                (
                    std::borrow::Cow::Borrowed("node"),
                    std::borrow::Cow::Owned(name.to_owned()),
                )
            })
            .into_iter()
        };
        let mut registry = Registry::with_prefix_and_labels("chorus", labels());
        let metrics = Metrics {
            conferences: Gauge::default(),
            subscriptions: Gauge::default(),
            members: Gauge::default(),
            calls: Family::default(),
            entries_refused: Family::default(),
            // 50 µs to 20 ms: a tick over 20 ms is a late one.
            tick_seconds: Histogram::new([
                0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02,
            ]),
            tick_lateness_seconds: Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04,
            ]),
            late_ticks: Counter::default(),
            media_events_dropped: Counter::default(),
            rtp_packets: Family::default(),
            media_frames: Family::default(),
            decodes_skipped: Counter::default(),
            srtp_dropped: Family::default(),
            keypad_commands: Counter::default(),
            guard_events: Family::default(),
            sip_requests: Family::default(),
            sip_responses: Family::default(),
            http_requests: Family::default(),
            ready: Gauge::default(),
            leg_jitter_seconds: Histogram::new([0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32]),
            leg_rtt_seconds: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8]),
            leg_loss_ratio: Histogram::new([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]),
            legs: dashmap::DashMap::new(),
            process: Process::new(Registry::with_labels(labels())),
            draining: Gauge::default(),
            split_conferences: Gauge::default(),
            registry: Registry::default(),
        };
        for outcome in CALL_OUTCOMES {
            drop(metrics.calls.get_or_create(&Outcome { outcome }));
        }
        for reason in REFUSALS {
            drop(metrics.entries_refused.get_or_create(&Refusal { reason }));
        }
        for event in GUARD_EVENTS {
            drop(metrics.guard_events.get_or_create(&GuardEvent { event }));
        }
        for kind in PACKET_KINDS {
            drop(metrics.rtp_packets.get_or_create(&Packets { kind }));
        }
        for reason in SRTP_DROPS {
            drop(metrics.srtp_dropped.get_or_create(&SrtpDrop { reason }));
        }
        for path in FRAME_PATHS {
            drop(metrics.media_frames.get_or_create(&FramePath { path }));
        }
        for direction in ["in", "out"] {
            for method in SIP_METHODS {
                drop(
                    metrics
                        .sip_requests
                        .get_or_create(&SipRequest { direction, method }),
                );
            }
            for class in SIP_CLASSES {
                drop(
                    metrics
                        .sip_responses
                        .get_or_create(&SipResponse { direction, class }),
                );
            }
        }
        let build = Family::<Build, Gauge>::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running version", build);
        registry.register(
            "ready",
            "1 while SIP is bound and not draining",
            metrics.ready.clone(),
        );
        registry.register(
            "draining",
            "1 while the node drains: only callers of its conferences are taken",
            metrics.draining.clone(),
        );
        registry.register(
            "split_conferences",
            "Conferences here that another live node is placed for (several nodes; alert above 0)",
            metrics.split_conferences.clone(),
        );
        registry.register(
            "conferences",
            "Live conferences",
            metrics.conferences.clone(),
        );
        registry.register(
            "conference_subscriptions",
            "Conference-state subscriptions (RFC 4575) live",
            metrics.subscriptions.clone(),
        );
        registry.register(
            "members",
            "Members in live conferences",
            metrics.members.clone(),
        );
        registry.register(
            "calls",
            "Calls by outcome: answered (200) or rejected (a final error)",
            metrics.calls.clone(),
        );
        registry.register(
            "entries_refused",
            "Answered callers turned away: locked, full or wrong_pin",
            metrics.entries_refused.clone(),
        );
        registry.register(
            "tick_duration_seconds",
            "Time one 20 ms mixing tick takes",
            metrics.tick_seconds.clone(),
        );
        registry.register(
            "tick_lateness_seconds",
            "How late a mixing thread woke for its tick",
            metrics.tick_lateness_seconds.clone(),
        );
        registry.register(
            "late_ticks",
            "Ticks skipped because a mixing thread woke more than 100 ms late (shorter stalls are caught up)",
            metrics.late_ticks.clone(),
        );
        registry.register(
            "rtp_packets",
            "RTP packets by kind",
            metrics.rtp_packets.clone(),
        );
        registry.register(
            "media_frames",
            "Frames sent with no decode, mix and encode of their own: the lone talker's packet forwarded, or the shared silence",
            metrics.media_frames.clone(),
        );
        registry.register(
            "media_decodes_skipped",
            "Received packets not decoded: silent (RFC 6464 level, DTX) or heard by nobody",
            metrics.decodes_skipped.clone(),
        );
        registry.register(
            "srtp_dropped",
            "SRTP and SRTCP datagrams dropped: a bad authentication tag (forged, damaged, another key) or a replay",
            metrics.srtp_dropped.clone(),
        );
        registry.register(
            "keypad_commands",
            "Keypad commands carried out",
            metrics.keypad_commands.clone(),
        );
        registry.register(
            "guard_events",
            "PIN checks, silent legs hung up, *8 refused, bad credentials, INVITEs refused by the guards",
            metrics.guard_events.clone(),
        );
        registry.register(
            "sip_requests",
            "SIP requests by direction and method",
            metrics.sip_requests.clone(),
        );
        registry.register(
            "sip_responses",
            "SIP responses by direction and status class",
            metrics.sip_responses.clone(),
        );
        registry.register(
            "http_requests",
            "REST requests by route and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "leg_jitter_seconds",
            "Interarrival jitter (RFC 3550) of ended legs",
            metrics.leg_jitter_seconds.clone(),
        );
        registry.register(
            "leg_rtt_seconds",
            "RTCP round-trip time of ended legs",
            metrics.leg_rtt_seconds.clone(),
        );
        registry.register(
            "leg_loss_ratio",
            "Share of incoming RTP lost on ended legs",
            metrics.leg_loss_ratio.clone(),
        );
        Metrics {
            registry,
            ..metrics
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

    /// Counts one SIP message, received (`incoming`) or sent, by its first line. Cheap:
    /// the line is not parsed beyond its first token.
    pub fn count_sip(&self, incoming: bool, message: &[u8]) {
        let direction = if incoming { "in" } else { "out" };
        let first = message.split(|&b| b == b' ').next().unwrap_or_default();
        if first == b"SIP/2.0" {
            let class = message
                .get(8)
                .and_then(|d| SIP_CLASSES.get(usize::from(d.wrapping_sub(b'1'))))
                .copied();
            if let Some(class) = class {
                self.sip_responses
                    .get_or_create(&SipResponse { direction, class })
                    .inc();
            }
            return;
        }
        let method = SIP_METHODS
            .iter()
            .find(|m| m.as_bytes() == first)
            .copied()
            .unwrap_or("other");
        self.sip_requests
            .get_or_create(&SipRequest { direction, method })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode_openmetrics(&self) -> String {
        self.process.refresh();
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ =
            prometheus_client::encoding::text::encode_registry(&mut out, &self.process.registry);
        out.push_str("# EOF\n");
        out
    }

    /// The Prometheus text format (0.0.4) of every metric.
    pub fn encode(&self) -> String {
        to_prometheus_text(&self.encode_openmetrics())
    }
}

impl Process {
    fn new(registry: Registry) -> Process {
        let mut process = Process {
            registry,
            ..Process::default()
        };
        process.registry.register(
            "process_cpu_seconds",
            "User and system CPU time spent",
            process.cpu_seconds.clone(),
        );
        process.registry.register(
            "process_resident_memory_bytes",
            "Resident memory size",
            process.resident_memory_bytes.clone(),
        );
        process.registry.register(
            "process_open_fds",
            "Open file descriptors",
            process.open_fds.clone(),
        );
        process.registry.register(
            "process_max_fds",
            "The open-file limit",
            process.max_fds.clone(),
        );
        process
    }

    /// Reads /proc/self; a figure that cannot be read keeps its last value.
    fn refresh(&self) {
        let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096);
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may hold spaces) follow the last ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(user), Some(system)) = (field(11), field(12)) {
                let total = (user + system) / ticks_per_second;
                let delta = total - self.cpu_seconds.get();
                if delta > 0.0 {
                    self.cpu_seconds.inc_by(delta);
                }
            }
        }
        if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
            && let Some(pages) = statm
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<i64>().ok())
        {
            self.resident_memory_bytes.set(pages * page);
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
        if let Ok((soft, _)) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        {
            self.max_fds.set(i64::try_from(soft).unwrap_or(i64::MAX));
        }
    }
}

/// Rewrites OpenMetrics text as the Prometheus text format: a counter's `TYPE` and `HELP`
/// name its `_total` sample, and `UNIT` and `EOF` lines go (the older parsers, promtool's
/// among them, would otherwise see untyped samples without help).
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let rewritten = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_counters_exist_at_zero_and_counters_are_typed_by_their_samples() {
        let metrics = Metrics::new();
        let text = metrics.encode();
        for line in [
            "# TYPE chorus_calls_total counter",
            "chorus_calls_total{outcome=\"rejected\"} 0",
            "chorus_entries_refused_total{reason=\"locked\"} 0",
            "chorus_guard_events_total{event=\"shed\"} 0",
            "chorus_sip_requests_total{direction=\"in\",method=\"INVITE\"} 0",
            "chorus_build_info{version=",
            "# TYPE process_cpu_seconds_total counter",
            "# TYPE chorus_tick_lateness_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        assert!(metrics.encode_openmetrics().ends_with("# EOF\n"));
    }

    #[test]
    fn sip_messages_are_counted_by_method_and_class_with_strangers_as_other() {
        let metrics = Metrics::new();
        metrics.count_sip(true, b"INVITE sip:500@h SIP/2.0\r\n");
        metrics.count_sip(true, b"XYZZY sip:500@h SIP/2.0\r\n");
        metrics.count_sip(false, b"SIP/2.0 486 Busy Here\r\n");
        metrics.count_sip(false, b"SIP/2.0 999 Nonsense\r\n");
        let text = metrics.encode();
        assert!(text.contains("chorus_sip_requests_total{direction=\"in\",method=\"INVITE\"} 1"));
        assert!(text.contains("chorus_sip_requests_total{direction=\"in\",method=\"other\"} 1"));
        assert!(text.contains("chorus_sip_responses_total{direction=\"out\",class=\"4xx\"} 1"));
        assert!(!text.contains("XYZZY"));
    }
}
