//! Limits on PIN guessing. A PIN of four digits falls to a few thousand guesses, so
//! guesses are rationed twice: per source address and extension (a few failures, then that
//! address is refused for a growing period), and per extension over every source (a
//! steady budget, so many addresses together cannot go faster). Sources that entered the
//! right PIN lately skip the extension budget, so an attack does not keep them out.
//!
//! Pure state: `now` comes in, nothing is read from the clock.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How hard guessing is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Wrong PINs from one address to one extension within `window` before the address
    /// is refused.
    pub source_failures: u32,
    /// The window both limits count in.
    pub window: Duration,
    /// The first refusal period; each further one doubles, up to `max_block`.
    pub first_block: Duration,
    /// The longest refusal period.
    pub max_block: Duration,
    /// PIN checks per extension per `window` over all sources, bursts included.
    pub extension_checks: u32,
    /// Of those, how many may come at once.
    pub extension_burst: u32,
    /// How long an address that entered the right PIN skips the extension budget.
    pub good_for: Duration,
    /// Addresses remembered at most; when full of live entries, new ones are refused
    /// (fail closed) until some expire.
    pub max_sources: usize,
}

impl Default for GuardConfig {
    /// One address: 5 wrong PINs a minute, then refused for 1 min, 2 min, 4 min … up to an
    /// hour. One extension: 60 checks a minute from everyone together, 10 at once.
    fn default() -> Self {
        GuardConfig {
            source_failures: 5,
            window: Duration::from_secs(60),
            first_block: Duration::from_secs(60),
            max_block: Duration::from_secs(3600),
            extension_checks: 60,
            extension_burst: 10,
            good_for: Duration::from_secs(24 * 3600),
            max_sources: 10_000,
        }
    }
}

/// Whether a PIN may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check it (the extension's budget has been charged).
    Check,
    /// The extension's budget is spent: hold the attempt until then.
    WaitUntil(Instant),
    /// This address is refused for now: treat the attempt as wrong without checking.
    Refused,
}

#[derive(Debug, Default)]
struct Source {
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    strikes: u32,
    good_until: Option<Instant>,
}

impl Source {
    fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| now < until)
    }

    fn is_good(&self, now: Instant) -> bool {
        self.good_until.is_some_and(|until| now < until)
    }

    /// Nothing left worth remembering.
    fn is_stale(&self, now: Instant, window: Duration) -> bool {
        !self.is_blocked(now)
            && !self.is_good(now)
            && self
                .failures
                .back()
                .is_none_or(|last| now.saturating_duration_since(*last) >= window)
    }
}

/// The guessing limits of every extension. See the module docs.
#[derive(Debug)]
pub struct PinGuard {
    config: GuardConfig,
    sources: HashMap<(IpAddr, String), Source>,
    /// Per extension: the GCRA theoretical arrival time of the next check.
    extensions: HashMap<String, Instant>,
}

impl PinGuard {
    /// A guard with the given limits.
    pub fn new(config: GuardConfig) -> Self {
        PinGuard {
            config,
            sources: HashMap::new(),
            extensions: HashMap::new(),
        }
    }

    /// Whether calls from `source` to `extension` are refused now.
    pub fn is_refused(&self, now: Instant, source: IpAddr, extension: &str) -> bool {
        self.sources
            .get(&(source, extension.to_owned()))
            .is_some_and(|s| s.is_blocked(now))
    }

    /// Time between two checks at the steady rate, and the burst tolerance.
    fn spacing(&self) -> (Duration, Duration) {
        let c = &self.config;
        let steady = c.extension_checks.saturating_sub(c.extension_burst).max(1);
        let interval = c.window / steady;
        (interval, interval * c.extension_burst.saturating_sub(1))
    }

    /// Asks to check one PIN attempt from `source` on `extension`.
    pub fn gate(&mut self, now: Instant, source: IpAddr, extension: &str) -> Gate {
        let key = (source, extension.to_owned());
        let known = match self.sources.get(&key) {
            Some(s) if s.is_blocked(now) => return Gate::Refused,
            Some(s) if s.is_good(now) => return Gate::Check,
            Some(_) => true,
            None => false,
        };
        if !known && !self.make_room(now) {
            return Gate::Refused;
        }
        let (interval, tolerance) = self.spacing();
        let tat = self.extensions.get(extension).copied().unwrap_or(now);
        let earliest = tat.checked_sub(tolerance).unwrap_or(now);
        if now < earliest {
            return Gate::WaitUntil(earliest);
        }
        self.extensions
            .insert(extension.to_owned(), tat.max(now) + interval);
        Gate::Check
    }

    /// The outcome of a checked attempt.
    pub fn record(&mut self, now: Instant, source: IpAddr, extension: &str, correct: bool) {
        let config = self.config;
        if !self.sources.contains_key(&(source, extension.to_owned())) && !self.make_room(now) {
            return;
        }
        let entry = self
            .sources
            .entry((source, extension.to_owned()))
            .or_default();
        if correct {
            entry.good_until = Some(now + config.good_for);
            entry.failures.clear();
            // A right PIN gives its share of the extension budget back.
            let (interval, _) = self.spacing();
            if let Some(tat) = self.extensions.get_mut(extension) {
                *tat = tat.checked_sub(interval).unwrap_or(*tat).max(now);
            }
            return;
        }
        entry.good_until = None;
        while entry
            .failures
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= config.window)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        if entry.failures.len() >= config.source_failures as usize {
            let block = config
                .first_block
                .saturating_mul(1 << entry.strikes.min(16))
                .min(config.max_block);
            entry.blocked_until = Some(now + block);
            entry.strikes += 1;
            entry.failures.clear();
        }
    }

    /// Addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Forgets stale addresses when the table is full; `false` when it is still full.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.sources.len() < self.config.max_sources {
            return true;
        }
        let window = self.config.window;
        self.sources.retain(|_, s| !s.is_stale(now, window));
        self.sources.len() < self.config.max_sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    /// Runs attackers for `secs` virtual seconds, each guessing as fast as the guard lets
    /// it (every 100 ms when allowed); returns the checks granted.
    fn attack(guard: &mut PinGuard, start: Instant, sources: &[IpAddr], secs: u64) -> usize {
        let mut checks = 0;
        for step in 0..secs * 10 {
            let now = start + Duration::from_millis(step * 100);
            for &source in sources {
                if guard.gate(now, source, "600") == Gate::Check {
                    checks += 1;
                    guard.record(now, source, "600", false);
                }
            }
        }
        checks
    }

    #[test]
    fn one_source_gets_five_guesses_then_a_growing_refusal() {
        let mut guard = PinGuard::new(GuardConfig::default());
        let start = Instant::now();
        assert_eq!(attack(&mut guard, start, &[ip(2)], 60), 5);
        assert!(guard.is_refused(start + Duration::from_secs(59), ip(2), "600"));
        assert!(!guard.is_refused(start, ip(3), "600"), "only that address");
        assert!(
            !guard.is_refused(start, ip(2), "700"),
            "only that extension"
        );
        // Over ten minutes: 5 at 0 s, 5 after 1 min, 5 after 2 more, 5 after 4 more.
        let mut guard = PinGuard::new(GuardConfig::default());
        let ten = attack(&mut guard, start, &[ip(2)], 600);
        assert_eq!(ten, 20);
    }

    #[test]
    fn many_sources_together_get_at_most_sixty_a_minute() {
        let mut guard = PinGuard::new(GuardConfig::default());
        let start = Instant::now();
        let sources: Vec<IpAddr> = (10..=250).map(ip).collect();
        let first = attack(&mut guard, start, &sources, 60);
        assert!(first <= 60, "{first}");
        assert!(first >= 50, "the budget is used, not starved: {first}");
        // Later minutes stay within the steady rate.
        let next = attack(&mut guard, start + Duration::from_secs(60), &sources, 60);
        assert!(next <= 60, "{next}");
    }

    #[test]
    fn a_caller_who_knew_the_pin_skips_the_extension_budget() {
        let mut guard = PinGuard::new(GuardConfig::default());
        let start = Instant::now();
        assert_eq!(guard.gate(start, ip(9), "600"), Gate::Check);
        guard.record(start, ip(9), "600", true);
        let sources: Vec<IpAddr> = (10..=250).map(ip).collect();
        attack(&mut guard, start, &sources, 5);
        let now = start + Duration::from_secs(5);
        assert!(matches!(
            guard.gate(now, ip(100), "600"),
            Gate::WaitUntil(_) | Gate::Refused
        ));
        assert_eq!(guard.gate(now, ip(9), "600"), Gate::Check);
    }

    #[test]
    fn the_table_is_bounded_and_fails_closed() {
        let mut guard = PinGuard::new(GuardConfig {
            max_sources: 4,
            ..GuardConfig::default()
        });
        let now = Instant::now();
        for last in 1..=4 {
            guard.record(now, ip(last), "600", false);
        }
        assert_eq!(guard.gate(now, ip(5), "600"), Gate::Refused);
        assert_eq!(guard.tracked(), 4);
        // A minute on, their failures are stale and make room.
        let later = now + Duration::from_secs(61);
        assert_eq!(guard.gate(later, ip(5), "600"), Gate::Check);
    }
}
