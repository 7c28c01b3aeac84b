//! Temporary conferences (RFC 4579 §5.4): a phone calls the conference factory URI and gets
//! a new conference of its own, named by an unguessable id. It lives while someone is in it
//! and a grace period after (so that parties being brought in can still arrive), and never
//! reaches the store: a restart forgets it.

use super::{Engine, ExtensionConfig, Notification};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::info;

/// How conferences on the fly are offered.
#[derive(Debug, Clone)]
pub struct AdhocConfig {
    /// The Request-URI user of the conference factory; `None` turns the factory off.
    pub factory: Option<String>,
    /// How long an empty temporary conference waits for someone before it is gone.
    pub linger: Duration,
    /// The most temporary conferences at once.
    pub max: usize,
    /// The most a single source address may create per minute.
    pub per_source_per_minute: u32,
}

impl Default for AdhocConfig {
    fn default() -> Self {
        AdhocConfig {
            factory: Some("conference".to_owned()),
            linger: Duration::from_secs(30),
            max: 200,
            per_source_per_minute: 5,
        }
    }
}

/// Why no temporary conference was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdhocRefusal {
    /// As many as allowed exist already.
    TooMany,
    /// This source created its share for this minute.
    TooFast,
}

/// The prefix that marks a temporary conference's id.
pub const TEMPORARY_PREFIX: &str = "t-";
/// Base32 characters after the prefix: 50 bits.
const ID_CHARS: usize = 10;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Sources remembered for the creation rate; beyond it, strangers are refused (fail closed).
const RATE_TABLE_MAX: usize = 4096;
const RATE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Temporary {
    config: ExtensionConfig,
    /// Calls on it, joined or still on their way in.
    calls: usize,
    /// Set while `calls` is zero.
    empty_since: Option<Instant>,
}

/// The live temporary conferences and the creation limits.
#[derive(Debug)]
pub(super) struct TemporaryConferences {
    settings: AdhocConfig,
    live: HashMap<String, Temporary>,
    /// Per source: the start of its current one-minute window and what it created in it.
    created_by: HashMap<IpAddr, (Instant, u32)>,
    secret: [u8; 32],
    counter: u64,
}

impl TemporaryConferences {
    pub(super) fn new(settings: AdhocConfig, secret: [u8; 32]) -> Self {
        TemporaryConferences {
            settings,
            live: HashMap::new(),
            created_by: HashMap::new(),
            secret,
            counter: 0,
        }
    }

    /// True when `user` is the factory (and the factory is on).
    pub(super) fn is_factory(&self, user: &str) -> bool {
        self.settings.factory.as_deref() == Some(user)
    }

    pub(super) fn get(&self, id: &str) -> Option<&ExtensionConfig> {
        self.live.get(id).map(|t| &t.config)
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.live.contains_key(id)
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = &String> {
        self.live.keys()
    }

    /// Whether `source` may create one now; counts the attempt when it may.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        source: Option<IpAddr>,
    ) -> Result<(), AdhocRefusal> {
        if self.live.len() >= self.settings.max {
            return Err(AdhocRefusal::TooMany);
        }
        let Some(source) = source else {
            return Ok(());
        };
        if self.created_by.len() >= RATE_TABLE_MAX && !self.created_by.contains_key(&source) {
            self.created_by
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < RATE_WINDOW);
            if self.created_by.len() >= RATE_TABLE_MAX {
                return Err(AdhocRefusal::TooFast);
            }
        }
        let (start, count) = self.created_by.entry(source).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= RATE_WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.settings.per_source_per_minute {
            return Err(AdhocRefusal::TooFast);
        }
        *count += 1;
        Ok(())
    }

    /// A new, empty conference with `config`; call [`Self::admit`] first. It lingers like
    /// any empty one until a call arrives.
    pub(super) fn create(&mut self, now: Instant, config: ExtensionConfig) -> String {
        let id = loop {
            let id = self.next_id();
            if !self.live.contains_key(&id) {
                break id;
            }
        };
        self.live.insert(
            id.clone(),
            Temporary {
                config,
                calls: 0,
                empty_since: Some(now),
            },
        );
        id
    }

    /// `t-` and ten base32 characters of SHA-256(secret, counter): ids cannot be told from
    /// earlier ones without the secret, which the driver draws from the OS.
    fn next_id(&mut self) -> String {
        self.counter += 1;
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update(self.counter.to_be_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let bits = u64::from_be_bytes(first);
        let mut id = String::with_capacity(TEMPORARY_PREFIX.len() + ID_CHARS);
        id.push_str(TEMPORARY_PREFIX);
        for i in 0..ID_CHARS {
            id.push(char::from(BASE32[((bits >> (59 - 5 * i)) & 31) as usize]));
        }
        id
    }

    /// A call for `id` arrived (or was placed by the bridge).
    pub(super) fn call_added(&mut self, id: &str) {
        if let Some(t) = self.live.get_mut(id) {
            t.calls += 1;
            t.empty_since = None;
        }
    }

    /// A call for `id` ended.
    pub(super) fn call_removed(&mut self, now: Instant, id: &str) {
        if let Some(t) = self.live.get_mut(id) {
            t.calls = t.calls.saturating_sub(1);
            if t.calls == 0 {
                t.empty_since = Some(now);
            }
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.live
            .values()
            .filter_map(|t| t.empty_since)
            .min()
            .map(|since| since + self.settings.linger)
    }

    /// Removes the conferences that stayed empty through the linger; returns their ids.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<String> {
        let linger = self.settings.linger;
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, t)| t.empty_since.is_some_and(|since| since + linger <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.live.remove(id);
        }
        gone
    }

    pub(super) fn remove(&mut self, id: &str) -> bool {
        self.live.remove(id).is_some()
    }
}

impl Engine {
    /// A temporary conference for the caller of the factory URI (already admitted).
    pub(super) fn create_temporary_for_caller(&mut self, now: Instant) -> String {
        let id = self.temporary.create(now, ExtensionConfig::default());
        self.temporary_created(&id, "factory");
        id
    }

    fn temporary_created(&mut self, id: &str, by: &str) {
        info!(conference = %id, by, "temporary conference created");
        self.notify(Notification::ConferenceCreated {
            conference: id.to_owned(),
            by: by.to_owned(),
        });
    }

    /// An operator's temporary conference with `config`; it lingers like an emptied one
    /// until someone calls it.
    pub fn create_temporary(
        &mut self,
        now: Instant,
        config: ExtensionConfig,
    ) -> Result<String, AdhocRefusal> {
        self.temporary.admit(now, None)?;
        let id = self.temporary.create(now, config);
        self.temporary_created(&id, "api");
        Ok(id)
    }

    /// The SIP URI callers dial to join `conference`.
    pub fn focus_uri(&self, conference: &str) -> String {
        format!("sip:{conference}@{}", self.config.local_sip)
    }

    /// True for a live temporary conference.
    pub fn is_temporary(&self, conference: &str) -> bool {
        self.temporary.contains(conference)
    }

    /// Ends a temporary conference now: everyone hears goodbye and is hung up on, and its
    /// URI stops answering. `false` when there is no such temporary conference.
    pub fn end_temporary(&mut self, conference: &str) -> bool {
        if !self.temporary.remove(conference) {
            return false;
        }
        self.end_conference(conference);
        self.temporary_ended(conference, "api");
        true
    }

    fn temporary_ended(&mut self, id: &str, reason: &str) {
        info!(conference = %id, reason, "temporary conference ended");
        self.notify(Notification::ConferenceEnded {
            conference: id.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// Drops the temporary conferences that stayed empty through the linger.
    pub(super) fn expire_temporary(&mut self, now: Instant) {
        for id in self.temporary.expire(now) {
            // A lock set while it was empty goes with it.
            self.conferences.remove(&id);
            self.temporary_ended(&id, "empty");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conferences() -> TemporaryConferences {
        TemporaryConferences::new(AdhocConfig::default(), [7; 32])
    }

    #[test]
    fn ids_are_fresh_and_well_formed() {
        let mut t = conferences();
        let now = Instant::now();
        let a = t.create(now, ExtensionConfig::default());
        let b = t.create(now, ExtensionConfig::default());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 12, "{id}");
            assert!(id.starts_with("t-"));
            assert!(id[2..].bytes().all(|c| BASE32.contains(&c)), "{id}");
        }
        // Another secret, other ids.
        let mut other = TemporaryConferences::new(AdhocConfig::default(), [8; 32]);
        assert_ne!(other.create(now, ExtensionConfig::default()), a);
    }

    #[test]
    fn an_empty_conference_lingers_then_goes() {
        let mut t = conferences();
        let now = Instant::now();
        let id = t.create(now, ExtensionConfig::default());
        t.call_added(&id);
        assert_eq!(t.poll_timeout(), None);
        t.call_added(&id);
        t.call_removed(now, &id);
        assert_eq!(t.poll_timeout(), None, "one call is still on it");
        let left = now + Duration::from_secs(5);
        t.call_removed(left, &id);
        assert_eq!(t.poll_timeout(), Some(left + Duration::from_secs(30)));
        assert!(t.expire(left + Duration::from_secs(29)).is_empty());
        // Someone arrives during the linger: it stays.
        t.call_added(&id);
        assert!(t.expire(left + Duration::from_secs(31)).is_empty());
        t.call_removed(left + Duration::from_secs(40), &id);
        assert_eq!(t.expire(left + Duration::from_secs(70)), vec![id.clone()]);
        assert!(!t.contains(&id));
    }

    #[test]
    fn creation_is_limited_in_count_and_per_source() {
        let mut t = TemporaryConferences::new(
            AdhocConfig {
                max: 3,
                per_source_per_minute: 2,
                ..AdhocConfig::default()
            },
            [1; 32],
        );
        let now = Instant::now();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert_eq!(t.admit(now, Some(a)), Ok(()));
        assert_eq!(t.admit(now, Some(a)), Ok(()));
        assert_eq!(t.admit(now, Some(a)), Err(AdhocRefusal::TooFast));
        assert_eq!(t.admit(now, Some(b)), Ok(()));
        assert_eq!(
            t.admit(now + RATE_WINDOW, Some(a)),
            Ok(()),
            "a new minute, a new share"
        );
        for _ in 0..3 {
            t.create(now, ExtensionConfig::default());
        }
        assert_eq!(t.admit(now, None), Err(AdhocRefusal::TooMany));
    }
}
