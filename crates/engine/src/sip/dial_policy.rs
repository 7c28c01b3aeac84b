//! Where `*8` and referrals may dial, and how often: the trunk, the toll-fraud policy and
//! the hourly history it is checked against.

use chorus_sip_proto::Transport;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// Where and how `*8` dials.
#[derive(Debug, Clone)]
pub struct DialOut {
    /// The Request-URI, with `{number}` for the keyed digits, e.g.
    /// `sip:{number}@trunk.example:5060`.
    pub uri_template: String,
    /// Where the INVITE is sent: the outbound proxy, or the URI's host and port (the
    /// driver resolves names once at start-up; the engine never does DNS).
    pub destination: SocketAddr,
    /// UDP or TCP towards the destination.
    pub transport: Transport,
    /// The From URI, with `{extension}` for the conference, e.g.
    /// `sip:conference-{extension}@bridge.example`.
    pub caller_id_template: String,
    /// Digest credentials for a 401/407 challenge.
    pub credentials: Option<(String, String)>,
    /// How many digits a number may have.
    pub digits: RangeInclusive<usize>,
    /// How long the number may ring before the bridge cancels.
    pub ring_timeout: Duration,
    /// Invitations ringing at once, per conference.
    pub max_per_conference: usize,
    /// Invitations ringing at once, over the bridge.
    pub max_total: usize,
    /// Tell recorded parties "this call is recorded" before they join.
    pub announce_recording: bool,
    /// Who may dial which numbers, and how often.
    pub policy: DialPolicy,
}

/// The toll-fraud guard rails of `*8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPolicy {
    /// Members calling from these networks may dial; empty means any.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Number prefixes that may be dialled; empty means any not denied.
    pub allow: Vec<String>,
    /// Number prefixes that may never be dialled (wins over `allow`).
    pub deny: Vec<String>,
    /// Invitations per conference per hour.
    pub per_conference_per_hour: usize,
    /// Invitations over the bridge per hour.
    pub total_per_hour: usize,
}

impl Default for DialPolicy {
    /// International prefixes denied (00 in most of the world, 011 in North America).
    fn default() -> Self {
        DialPolicy {
            allowed_networks: Vec::new(),
            allow: Vec::new(),
            deny: vec!["00".to_owned(), "011".to_owned()],
            per_conference_per_hour: 20,
            total_per_hour: 200,
        }
    }
}

impl DialPolicy {
    /// Whether `number` may be dialled at all.
    pub fn permits_number(&self, number: &str) -> bool {
        let allowed =
            self.allow.is_empty() || self.allow.iter().any(|p| number.starts_with(p.as_str()));
        allowed && !self.deny.iter().any(|p| number.starts_with(p.as_str()))
    }
}

/// When invitations were sent in the last hour, per conference and in all.
#[derive(Debug, Default)]
pub(super) struct DialHistory {
    total: VecDeque<Instant>,
    per_conference: HashMap<String, VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

fn forget_before(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|at| now.saturating_duration_since(*at) >= HOUR)
    {
        times.pop_front();
    }
}

impl DialHistory {
    /// Whether both hourly caps leave room for one more invitation.
    pub(super) fn allows(&mut self, now: Instant, conference: &str, policy: &DialPolicy) -> bool {
        forget_before(&mut self.total, now);
        self.per_conference.retain(|_, times| {
            forget_before(times, now);
            !times.is_empty()
        });
        let here = self.per_conference.get(conference).map_or(0, VecDeque::len);
        self.total.len() < policy.total_per_hour && here < policy.per_conference_per_hour
    }

    /// Counts one invitation.
    pub(super) fn count(&mut self, now: Instant, conference: &str) {
        self.total.push_back(now);
        self.per_conference
            .entry(conference.to_owned())
            .or_default()
            .push_back(now);
    }
}
