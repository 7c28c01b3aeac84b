//! Who may call, and how much a stranger can learn or cost: trusted networks, what an
//! unknown extension answers, a cap on callers not yet admitted, PIN-guessing limits, and
//! rate-limited logging of refusals.

use super::{CallId, Engine};
use chorus_policy::{Gate, GuardConfig, PinGuard, Settings};
use chorus_sip_msg::Request;
use chorus_sip_msg::ezk_sip_types::Name;
use chorus_sip_proto::digest;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::info;

/// The conference name decoy calls (to unknown extensions, when they are answered) live
/// under; extension ids cannot contain parentheses, so it never names a real one.
pub(super) const DECOY: &str = "(unknown)";

/// A short pause after each wrong PIN, during which keys are ignored.
pub(super) const PIN_PAUSE: Duration = Duration::from_secs(2);
/// The guard's name for password guesses (no extension id can look like it).
const AUTH_GUARD: &str = "(digest)";
/// How long a nonce we issued stays good.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Inbound digest authentication, for a bridge with no PBX in front to vouch for callers.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DigestUsers {
    /// The realm in challenges.
    pub realm: String,
    /// Passwords by user name.
    pub users: HashMap<String, String>,
    /// The algorithms offered, one challenge each, most preferred first (phones take the
    /// first they know; some know only the first header they see).
    pub algorithms: Vec<digest::Algorithm>,
}

impl std::fmt::Debug for DigestUsers {
    /// Names the users, never their passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("DigestUsers")
            .field("realm", &self.realm)
            .field("users", &names)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// Why a new call is not (yet) let in by digest authentication.
pub(super) enum AuthRefusal {
    /// Challenge it (401): no, stale or wrong credentials.
    Challenge,
    /// This source guessed too often: 403.
    Refused,
    /// The realm's guessing budget is spent for now: 503, try later.
    Busy,
}

/// What an INVITE for an extension that does not exist gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownExtension {
    /// 404 Not Found (scanners learn which extensions exist).
    #[default]
    NotFound,
    /// Answered like a conference with a PIN that nothing matches: scanners learn nothing
    /// from the SIP exchange, and a person hears "That PIN is not correct. Goodbye."
    Answer,
}

/// How the bridge treats callers it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// Sources allowed to start calls; empty means any.
    pub trusted_networks: Vec<IpNet>,
    /// What unknown extensions answer.
    pub unknown_extension: UnknownExtension,
    /// PIN-guessing limits.
    pub pin_guard: GuardConfig,
    /// Callers of one extension not yet in the conference (ringing, keying the PIN,
    /// recording their name); more are refused with 486.
    pub max_pending_per_extension: usize,
    /// Refusals logged per second at most; the rest are counted and summarised.
    pub refusal_logs_per_second: u32,
    /// Callers must answer a digest challenge with one of these users' passwords.
    pub digest: Option<DigestUsers>,
    /// Proxies in front of the bridge (a cluster's Kamailio): a new request from one of
    /// these is judged by the caller's address the proxy states in [`ORIGIN_HEADER`], so
    /// one guessing caller behind the proxy is not everyone behind it. The header from
    /// anyone else is ignored.
    pub proxies: Vec<IpNet>,
}

/// The header a trusted proxy states the caller's address in.
pub const ORIGIN_HEADER: &str = "X-Chorus-Source";

impl Default for Security {
    fn default() -> Self {
        Security {
            trusted_networks: Vec::new(),
            unknown_extension: UnknownExtension::NotFound,
            pin_guard: GuardConfig::default(),
            max_pending_per_extension: 20,
            refusal_logs_per_second: 10,
            digest: None,
            proxies: Vec::new(),
        }
    }
}

impl Security {
    /// Whether `source` may start a call.
    pub fn is_trusted(&self, source: IpAddr) -> bool {
        self.trusted_networks.is_empty()
            || self.trusted_networks.iter().any(|n| n.contains(&source))
    }

    /// Who sent `request`: `source`, or, when `source` is a trusted proxy that states it,
    /// the caller behind the proxy.
    pub fn origin(&self, request: &Request, source: IpAddr) -> IpAddr {
        if !self.proxies.iter().any(|n| n.contains(&source)) {
            return source;
        }
        request
            .header(&Name::from(ORIGIN_HEADER))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(source)
    }
}

/// Logs at most `per_second` lines a second; the lines it holds back are counted and
/// reported in the next line it lets through.
#[derive(Debug)]
pub(super) struct LogLimiter {
    per_second: u32,
    second: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub(super) fn new(per_second: u32) -> Self {
        LogLimiter {
            per_second,
            second: None,
            logged: 0,
            suppressed: 0,
        }
    }

    /// `Some(lines held back since the last one)` when this line may be logged.
    pub(super) fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .second
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1))
        {
            self.second = Some(now);
            self.logged = 0;
        }
        if self.logged >= self.per_second {
            self.suppressed += 1;
            return None;
        }
        self.logged += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The rules of the decoy conference: a PIN no keypad can enter.
pub(super) fn decoy_rules() -> Settings {
    Settings {
        pin: Some("-".to_owned()),
        ..Settings::default()
    }
}

pub(super) fn new_guard(security: &Security) -> PinGuard {
    PinGuard::new(security.pin_guard)
}

impl Engine {
    /// Logs a refused request, rate-limited so a flood cannot fill the disk.
    pub(super) fn log_refusal(&mut self, now: Instant, source: IpAddr, what: &str, code: u16) {
        if let Some(held_back) = self.refusal_log.allow(now) {
            info!(%source, code, held_back, "{what}");
        }
    }

    /// Callers of `extension` that are not in the conference yet.
    pub(super) fn pending_callers(&self, extension: &str) -> usize {
        self.calls
            .values()
            .filter(|c| c.conference == extension && c.member.is_none() && !c.invited)
            .count()
    }

    /// Whether the source of call `id` may have its PIN attempt checked now.
    pub(super) fn pin_gate(&mut self, now: Instant, id: CallId) -> Gate {
        let Some(call) = self.calls.get(&id) else {
            return Gate::Refused;
        };
        let (source, conference) = (call.origin, call.conference.clone());
        self.pin_guard.gate(now, source, &conference)
    }

    pub(super) fn record_pin(&mut self, now: Instant, id: CallId, correct: bool) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (source, conference) = (call.origin, call.conference.clone());
        self.pin_guard.record(now, source, &conference, correct);
    }

    /// Checks a new call's digest credentials, when the bridge requires them. Password
    /// guesses are rationed by the same guard as PINs.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        invite: &Request,
        source: IpAddr,
    ) -> Result<(), AuthRefusal> {
        let Some(users) = &self.config.security.digest else {
            return Ok(());
        };
        if self.pin_guard.is_refused(now, source, AUTH_GUARD) {
            return Err(AuthRefusal::Refused);
        }
        let epoch = *self.auth_epoch.get_or_insert(now);
        let Some(credentials) = invite
            .header(&Name::AUTHORIZATION)
            .and_then(digest::parse_credentials)
        else {
            return Err(AuthRefusal::Challenge);
        };
        let fresh =
            digest::nonce_issued(&self.nonce_secret, &credentials.nonce).is_some_and(|issued| {
                now.saturating_duration_since(epoch).as_secs() <= issued + NONCE_LIFETIME.as_secs()
            });
        if !fresh || credentials.realm != users.realm {
            return Err(AuthRefusal::Challenge);
        }
        let password = users.users.get(&credentials.username).cloned();
        match self.pin_guard.gate(now, source, AUTH_GUARD) {
            Gate::Check => {}
            Gate::Refused => return Err(AuthRefusal::Refused),
            Gate::WaitUntil(_) => return Err(AuthRefusal::Busy),
        }
        let method = invite.method.to_string();
        // An unknown user costs the same hash as a known one.
        let good = credentials.verify(password.as_deref().unwrap_or("\u{0}"), &method)
            && password.is_some();
        self.pin_guard.record(now, source, AUTH_GUARD, good);
        if good {
            Ok(())
        } else {
            self.stats.auth_failures += 1;
            Err(AuthRefusal::Challenge)
        }
    }

    /// The `WWW-Authenticate` values of a fresh challenge, one per algorithm offered
    /// (RFC 8760 §2.4).
    pub(super) fn challenges(&mut self, now: Instant) -> Vec<String> {
        let Some(users) = &self.config.security.digest else {
            return Vec::new();
        };
        let epoch = *self.auth_epoch.get_or_insert(now);
        let issued = now.saturating_duration_since(epoch).as_secs();
        let nonce = digest::make_nonce(&self.nonce_secret, issued);
        users
            .algorithms
            .iter()
            .map(|a| digest::challenge(&users.realm, &nonce, *a))
            .collect()
    }

    /// Whether calls from `source` to `extension` are refused for guessing.
    pub(super) fn source_refused(&self, now: Instant, source: IpAddr, extension: &str) -> bool {
        self.pin_guard.is_refused(now, source, extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_counts_what_it_holds_back() {
        let mut limiter = LogLimiter::new(2);
        let now = Instant::now();
        assert_eq!(limiter.allow(now), Some(0));
        assert_eq!(limiter.allow(now), Some(0));
        assert_eq!(limiter.allow(now), None);
        assert_eq!(limiter.allow(now), None);
        assert_eq!(limiter.allow(now + Duration::from_secs(1)), Some(2));
    }

    #[test]
    fn trusted_networks() {
        let open = Security::default();
        assert!(open.is_trusted(IpAddr::from([203, 0, 113, 9])));
        let closed = Security {
            trusted_networks: vec!["10.0.0.0/8".parse().expect("net")],
            ..Security::default()
        };
        assert!(closed.is_trusted(IpAddr::from([10, 1, 2, 3])));
        assert!(!closed.is_trusted(IpAddr::from([203, 0, 113, 9])));
    }
}
