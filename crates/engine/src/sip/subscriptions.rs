//! The conference event package (RFC 4575 over RFC 6665): a phone SUBSCRIBEs to a
//! conference URI with `Event: conference` and is sent NOTIFYs carrying the roster, in
//! full first and then as versioned partial updates on every join, leave, mute, role and
//! lock change, until it unsubscribes, the subscription expires, the conference ends or
//! the subscriber stops being entitled to it.
//!
//! Only members see who is in: a SUBSCRIBE must come from the address of a member's
//! dialog, or carry the operator token as `Authorization: Bearer` (RFC 8898). Anyone else
//! gets 403, whether the conference exists or not, so the answer tells nothing.
//!
//! Changes are collected, not sent at once: a change marks the conference's
//! subscriptions stale, and the next `handle_timeout` (which `poll_timeout` asks for at
//! once) sends each stale subscription one NOTIFY with everything that changed since its
//! last. A subscription has at most one NOTIFY in flight and sends at most one every
//! [`NOTIFY_INTERVAL`], so a subscriber that answers slowly or a member who keys `*1` in a
//! loop costs bounded work. A NOTIFY answered with an error or never answered ends the
//! subscription (RFC 6665 §4.2.2).

use super::conference_info::{self, Endpoint, Focus, Roster, User};
use super::{CallState, Engine};
use chorus_sip_msg::ezk_sip_types::{Method, Name};
use chorus_sip_msg::{Essentials, Request, ResponseBuilder};
use chorus_sip_proto::{ClientKey, Dialog, ServerKey, Transport};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tracing::info;

/// The one event package served.
pub const EVENT_PACKAGE: &str = "conference";
const CONTENT_TYPE: &str = "application/conference-info+xml";
/// Subscriptions last this long unless the SUBSCRIBE asks for less (RFC 4575 §3.7).
const DEFAULT_EXPIRES: u32 = 3600;
/// Shorter subscriptions get 423 (they would mean a refresh every few seconds).
pub const MIN_EXPIRES: u32 = 60;
/// The least time between two NOTIFYs of one subscription.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(200);

/// The limits on subscriptions and who may see rosters.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// Subscriptions at once over all conferences.
    pub max: usize,
    /// Subscriptions at once to one conference.
    pub per_conference: usize,
    /// Subscriptions at once from one address.
    pub per_source: usize,
    /// A bearer token that lets a SUBSCRIBE in without being a member (the operators'
    /// API token).
    pub operator_token: Option<String>,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            max: 1000,
            per_conference: 100,
            per_source: 8,
            operator_token: None,
        }
    }
}

/// An `Event` header taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    /// The package, lower-cased.
    pub package: String,
    /// The `id` parameter, when given (echoed in every NOTIFY).
    pub id: Option<String>,
}

/// Parses an `Event` header value: a token and parameters. `None` when malformed.
pub fn parse_event(value: &str) -> Option<EventHeader> {
    let mut parts = value.split(';');
    let package = parts.next()?.trim();
    let is_token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    if !is_token(package) {
        return None;
    }
    let mut id = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("id") {
            let value = value.trim();
            if !is_token(value) {
                return None;
            }
            id = Some(value.to_owned());
        }
    }
    Some(EventHeader {
        package: package.to_ascii_lowercase(),
        id,
    })
}

/// Parses an `Expires` header value (delta-seconds). `None` when malformed; values past
/// `u32` are clamped, as RFC 3261 §20.19 allows.
pub fn parse_expires(value: &str) -> Option<u32> {
    let value = value.trim();
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        value
            .parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    )
}

/// How long a SUBSCRIBE asks its subscription to last, at most an hour; `Err` with the
/// answer for a malformed (400) or too short (423) `Expires`.
fn requested_expires(request: &Request) -> Result<u32, u16> {
    let expires = match request.header(&Name::EXPIRES) {
        None => DEFAULT_EXPIRES,
        Some(value) => parse_expires(value).ok_or(400u16)?.min(DEFAULT_EXPIRES),
    };
    if expires != 0 && expires < MIN_EXPIRES {
        return Err(423);
    }
    Ok(expires)
}

/// Whether an `Accept` header value admits conference-info documents.
fn accepts_conference_info(value: &str) -> bool {
    value.split(',').any(|range| {
        let range = range.split(';').next().unwrap_or("").trim();
        range.eq_ignore_ascii_case(CONTENT_TYPE)
            || range.eq_ignore_ascii_case("application/*")
            || range == "*/*"
    })
}

/// Why a subscription may see the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entitlement {
    /// A member's dialog comes from this address; ends when no member's does.
    Member(IpAddr),
    /// The operator token.
    Operator,
}

#[derive(Debug)]
struct Subscription {
    conference: String,
    dialog: Dialog,
    event_id: Option<String>,
    entitlement: Entitlement,
    expires_at: Instant,
    /// Version of the last document sent (RFC 4575 §4.1: one counter per subscription).
    version: u32,
    /// What the subscriber knows; `None` until the full document goes out.
    reported: Option<Roster>,
    in_flight: Option<ClientKey>,
    /// The earliest moment the next NOTIFY may go.
    next_notify: Instant,
}

/// Every subscription, by id, with the indexes the engine looks them up by.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    subs: HashMap<u64, Subscription>,
    by_dialog: HashMap<(String, String), u64>,
    by_notify: HashMap<ClientKey, u64>,
    /// Subscriptions whose subscriber has not heard the latest state.
    stale: HashSet<u64>,
    next_id: u64,
    /// The latest `now` seen: the deadline to ask for when stale subscriptions wait.
    last_now: Option<Instant>,
}

impl Subscriptions {
    pub(super) fn saw(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
    }

    pub(super) fn len(&self) -> usize {
        self.subs.len()
    }

    /// Marks every subscription to `conference` stale.
    pub(super) fn changed(&mut self, conference: &str) {
        for (id, sub) in &self.subs {
            if sub.conference == conference {
                self.stale.insert(*id);
            }
        }
    }

    /// Marks every subscription stale (settings changed: conferences may be gone).
    pub(super) fn all_changed(&mut self) {
        self.stale.extend(self.subs.keys().copied());
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let expiries = self.subs.values().map(|s| s.expires_at);
        let due = self.stale.iter().filter_map(|id| {
            let sub = self.subs.get(id)?;
            if sub.in_flight.is_some() {
                return None;
            }
            Some(
                self.last_now
                    .map_or(sub.next_notify, |now| now.max(sub.next_notify)),
            )
        });
        expiries.chain(due).min()
    }

    fn remove(&mut self, id: u64) -> Option<Subscription> {
        let sub = self.subs.remove(&id)?;
        self.by_dialog
            .remove(&(sub.dialog.call_id.clone(), sub.dialog.local_tag.clone()));
        self.stale.remove(&id);
        if let Some(key) = &sub.in_flight {
            self.by_notify.remove(key);
        }
        Some(sub)
    }

    fn count(&self, conference: &str, source: IpAddr) -> (usize, usize) {
        let in_conference = self
            .subs
            .values()
            .filter(|s| s.conference == conference)
            .count();
        let from_source = self
            .subs
            .values()
            .filter(|s| s.dialog.peer.ip() == source)
            .count();
        (in_conference, from_source)
    }
}

/// How a subscription ends, for its final NOTIFY's `Subscription-State` (RFC 6665 §4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Termination {
    /// It ran out, or the subscriber unsubscribed.
    Timeout,
    /// The conference is over.
    NoResource,
    /// The subscriber is no longer entitled (it left the conference).
    Rejected,
}

impl Termination {
    fn as_str(self) -> &'static str {
        match self {
            Termination::Timeout => "timeout",
            Termination::NoResource => "noresource",
            Termination::Rejected => "rejected",
        }
    }
}

impl Engine {
    /// A SUBSCRIBE: a new subscription (outside any dialog) or a refresh.
    pub(super) fn handle_subscribe(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        essentials: &Essentials,
        transport: Transport,
        source: SocketAddr,
    ) {
        if essentials.to.tag.is_some() {
            return self.refresh_subscription(now, key, request, essentials);
        }
        let tag = self.token();
        let event = request.header(&Name::EVENT).and_then(parse_event);
        if event.as_ref().is_none_or(|e| e.package != EVENT_PACKAGE) {
            return self.refuse_subscribe(now, key, request, 489, &tag);
        }
        if request
            .header(&Name::ACCEPT)
            .is_some_and(|a| !accepts_conference_info(a))
        {
            return self.refuse_subscribe(now, key, request, 406, &tag);
        }
        let expires = match requested_expires(request) {
            Ok(expires) => expires,
            Err(code) => return self.refuse_subscribe(now, key, request, code, &tag),
        };
        // As for calls: nothing from outside the trusted networks, nothing new while
        // shedding load or stopping.
        if !self.config.security.is_trusted(source.ip()) {
            self.log_refusal(now, source.ip(), "SUBSCRIBE from an untrusted source", 403);
            return self.refuse_subscribe(now, key, request, 403, &tag);
        }
        if self.overloaded || !self.accepting {
            return self.refuse_subscribe(now, key, request, 503, &tag);
        }
        let conference = request.uri_user().unwrap_or_default();
        let Some(entitlement) = self.entitlement(request, &conference, source.ip()) else {
            self.log_refusal(now, source.ip(), "SUBSCRIBE from a non-member refused", 403);
            return self.refuse_subscribe(now, key, request, 403, &tag);
        };
        if !self.has_conference(&conference) {
            return self.refuse_subscribe(now, key, request, 404, &tag);
        }
        let limits = &self.config.subscriptions;
        let (in_conference, from_source) = self.subscriptions.count(&conference, source.ip());
        if self.subscriptions.len() >= limits.max
            || in_conference >= limits.per_conference
            || from_source >= limits.per_source
        {
            self.log_refusal(now, source.ip(), "SUBSCRIBE over the limits", 503);
            return self.refuse_subscribe(now, key, request, 503, &tag);
        }
        let dialog = Dialog::new_uas(request, essentials, &tag, transport, source);
        let id = self.subscriptions.next_id;
        self.subscriptions.next_id += 1;
        self.accept_subscribe(now, key, request, &tag, expires, &conference, transport);
        info!(%conference, subscription = id, expires, "conference subscription");
        self.subscriptions
            .by_dialog
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), id);
        self.subscriptions.subs.insert(
            id,
            Subscription {
                conference,
                dialog,
                event_id: event.and_then(|e| e.id),
                entitlement,
                expires_at: now + Duration::from_secs(expires.into()),
                version: 0,
                reported: None,
                in_flight: None,
                next_notify: now,
            },
        );
        // The first NOTIFY goes at once (RFC 6665 §4.2.1.2); an Expires of 0 only fetches.
        if expires == 0 {
            self.end_subscription(now, id, Termination::Timeout);
        } else {
            self.notify_subscription(now, id);
        }
    }

    /// The 200 to a SUBSCRIBE: how long the subscription lasts, and the focus.
    #[allow(clippy::too_many_arguments)]
    fn accept_subscribe(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        tag: &str,
        expires: u32,
        conference: &str,
        transport: Transport,
    ) {
        let contact = self.focus_contact(conference, transport);
        let data = ResponseBuilder::new(request, 200, Some(tag))
            .header("Expires", &expires.to_string())
            .header("Contact", &contact)
            .header("Server", &self.config.user_agent)
            .build();
        self.txns.respond(now, key, 200, data.into());
    }

    fn refuse_subscribe(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        code: u16,
        tag: &str,
    ) {
        let mut builder = ResponseBuilder::new(request, code, Some(tag))
            .header("Server", &self.config.user_agent);
        match code {
            489 => builder = builder.header("Allow-Events", EVENT_PACKAGE),
            406 => builder = builder.header("Accept", CONTENT_TYPE),
            423 => builder = builder.header("Min-Expires", &MIN_EXPIRES.to_string()),
            503 => builder = builder.header("Retry-After", "60"),
            _ => {}
        }
        self.txns.respond(now, key, code, builder.build().into());
    }

    /// Why `source` may see `conference`'s roster, if it may.
    fn entitlement(
        &self,
        request: &Request,
        conference: &str,
        source: IpAddr,
    ) -> Option<Entitlement> {
        let token = self.config.subscriptions.operator_token.as_deref();
        let presented = request
            .header(&Name::AUTHORIZATION)
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim);
        if let (Some(token), Some(presented)) = (token, presented)
            && bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
        {
            return Some(Entitlement::Operator);
        }
        self.member_at(conference, source)
            .then_some(Entitlement::Member(source))
    }

    /// Whether a member of `conference` has its dialog at `source`.
    fn member_at(&self, conference: &str, source: IpAddr) -> bool {
        self.calls.values().any(|c| {
            c.conference == conference
                && c.member.is_some()
                && c.state == CallState::Confirmed
                && c.dialog.peer.ip() == source
        })
    }

    fn refresh_subscription(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        essentials: &Essentials,
    ) {
        let tag = essentials.to.tag.clone().unwrap_or_default();
        let found = self
            .subscriptions
            .by_dialog
            .get(&(essentials.call_id.clone(), tag.clone()))
            .copied()
            .filter(|id| {
                self.subscriptions.subs.get(id).is_some_and(|s| {
                    Some(s.dialog.remote_tag.as_str()) == essentials.from.tag.as_deref()
                })
            });
        let Some(id) = found else {
            // A SUBSCRIBE inside a call's dialog would share it with the call (RFC 5057
            // advises against it): refused without touching the call. Anything else is
            // no dialog of ours.
            let code = if self.find_dialog(essentials).is_some() {
                403
            } else {
                481
            };
            return self.refuse_subscribe(now, key, request, code, &tag);
        };
        let event = request.header(&Name::EVENT).and_then(parse_event);
        if event.is_none_or(|e| e.package != EVENT_PACKAGE) {
            return self.refuse_subscribe(now, key, request, 489, &tag);
        }
        let expires = match requested_expires(request) {
            Ok(expires) => expires,
            Err(code) => return self.refuse_subscribe(now, key, request, code, &tag),
        };
        let Some(sub) = self.subscriptions.subs.get_mut(&id) else {
            return;
        };
        if !sub.dialog.accept_remote_cseq(essentials.cseq.cseq, false) {
            return self.refuse_subscribe(now, key, request, 500, &tag);
        }
        sub.expires_at = now + Duration::from_secs(expires.into());
        // A refresh is answered with the whole state again (RFC 6665 §4.2.1.2).
        sub.reported = None;
        let transport = sub.dialog.transport;
        let conference = sub.conference.clone();
        self.accept_subscribe(now, key, request, &tag, expires, &conference, transport);
        if expires == 0 {
            info!(subscription = id, "unsubscribed");
            self.end_subscription(now, id, Termination::Timeout);
        } else {
            self.subscriptions.stale.insert(id);
        }
    }

    /// The roster of `conference` as subscribers see it.
    fn roster(&self, conference: &str) -> Roster {
        let mut roster = Roster {
            locked: self
                .conferences
                .get(conference)
                .is_some_and(|c| c.is_locked()),
            ..Roster::default()
        };
        let Some(state) = self.conferences.get(conference) else {
            return roster;
        };
        for (id, call) in &self.calls {
            if call.conference != conference {
                continue;
            }
            let (Some(membership), Some(rules)) = (call.member, state.member(id.0)) else {
                continue;
            };
            let user = roster
                .users
                .entry(call.caller.clone())
                .or_insert_with(|| User {
                    display: if call.invited {
                        String::new()
                    } else {
                        call.invite
                            .header(&Name::FROM)
                            .map(conference_info::display_name)
                            .unwrap_or_default()
                    },
                    endpoints: Vec::new(),
                });
            user.endpoints.push(Endpoint {
                uri: call.dialog.remote_target.clone(),
                moderator: membership.moderator,
                muted: rules.muted,
                dialed_out: membership.invited,
            });
        }
        // Endpoints in a stable order, so that equal rosters compare equal.
        for user in roster.users.values_mut() {
            user.endpoints.sort_by(|a, b| a.uri.cmp(&b.uri));
        }
        roster
    }

    fn focus(&self, conference: &str) -> (String, usize) {
        let max = self
            .extension(conference)
            .map_or(chorus_policy::DEFAULT_MAX_MEMBERS as usize, |e| {
                e.rules.limit()
            });
        (self.focus_uri(conference), max)
    }

    /// Sends each stale subscription that may send now what changed; ends those whose
    /// conference is gone or whose subscriber is no longer a member.
    pub(super) fn flush_subscriptions(&mut self, now: Instant) {
        self.subscriptions.saw(now);
        let ready: Vec<u64> = self
            .subscriptions
            .stale
            .iter()
            .copied()
            .filter(|id| {
                self.subscriptions
                    .subs
                    .get(id)
                    .is_some_and(|s| s.in_flight.is_none() && s.next_notify <= now)
            })
            .collect();
        for id in ready {
            self.notify_subscription(now, id);
        }
        let expired: Vec<u64> = self
            .subscriptions
            .subs
            .iter()
            .filter(|(_, s)| s.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            info!(subscription = id, "subscription expired");
            self.end_subscription(now, id, Termination::Timeout);
        }
    }

    /// Tells one subscriber the current state: whole the first time, else what changed.
    fn notify_subscription(&mut self, now: Instant, id: u64) {
        let Some(sub) = self.subscriptions.subs.get(&id) else {
            return;
        };
        let conference = sub.conference.clone();
        if !self.has_conference(&conference) {
            return self.end_subscription(now, id, Termination::NoResource);
        }
        if let Entitlement::Member(source) = sub.entitlement
            && !self.member_at(&conference, source)
        {
            return self.end_subscription(now, id, Termination::Rejected);
        }
        self.subscriptions.stale.remove(&id);
        let roster = self.roster(&conference);
        let (uri, max_users) = self.focus(&conference);
        let focus = Focus {
            uri: &uri,
            name: &conference,
            max_users,
        };
        let Some(sub) = self.subscriptions.subs.get_mut(&id) else {
            return;
        };
        let version = sub.version + 1;
        let body = match &sub.reported {
            None => Some(conference_info::full(focus, version, &roster)),
            Some(old) => conference_info::partial(focus, version, old, &roster),
        };
        let Some(body) = body else {
            return; // nothing the subscriber does not know
        };
        sub.version = version;
        sub.reported = Some(roster);
        let remaining = sub.expires_at.saturating_duration_since(now).as_secs();
        let state = format!("active;expires={remaining}");
        self.send_notify(now, id, &state, &body);
    }

    /// Ends a subscription with a final NOTIFY carrying the last state.
    fn end_subscription(&mut self, now: Instant, id: u64, why: Termination) {
        let Some(sub) = self.subscriptions.subs.get(&id) else {
            return;
        };
        let conference = sub.conference.clone();
        let (uri, max_users) = self.focus(&conference);
        let focus = Focus {
            uri: &uri,
            name: &conference,
            max_users,
        };
        let version = sub.version + 1;
        let body = match why {
            Termination::NoResource => conference_info::ended(focus, version),
            Termination::Timeout => {
                conference_info::full(focus, version, &self.roster(&conference))
            }
            // No longer entitled: told nothing more about who is in.
            Termination::Rejected => String::new(),
        };
        let state = format!("terminated;reason={}", why.as_str());
        self.send_notify(now, id, &state, &body);
        self.subscriptions.remove(id);
    }

    fn send_notify(&mut self, now: Instant, id: u64, state: &str, body: &str) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(sub) = self.subscriptions.subs.get(&id) else {
            return;
        };
        let local = self.config.local_for(sub.dialog.transport);
        let contact = self.focus_contact(&sub.conference, sub.dialog.transport);
        let Some(sub) = self.subscriptions.subs.get_mut(&id) else {
            return;
        };
        let event = match &sub.event_id {
            Some(event_id) => format!("{EVENT_PACKAGE};id={event_id}"),
            None => EVENT_PACKAGE.to_owned(),
        };
        let headers =
            format!("Event: {event}\r\nSubscription-State: {state}\r\nContact: {contact}\r\n");
        let data = if body.is_empty() {
            let mut text =
                String::from_utf8(sub.dialog.request("NOTIFY", &branch, local)).unwrap_or_default();
            // The extra headers go before the blank line that ends the header block.
            if let Some(at) = text.find("Content-Length:") {
                text.insert_str(at, &headers);
            }
            text.into_bytes()
        } else {
            sub.dialog
                .request_with_body("NOTIFY", &branch, local, &headers, CONTENT_TYPE, body)
        };
        let (transport, peer) = (sub.dialog.transport, sub.dialog.peer);
        let key =
            self.txns
                .send_request(now, &branch, Method::NOTIFY, transport, peer, data.into());
        sub.in_flight = Some(key.clone());
        sub.next_notify = now + NOTIFY_INTERVAL;
        self.subscriptions.by_notify.insert(key, id);
    }

    /// A NOTIFY was answered (`Some(code)`) or timed out (`None`); `false` when it was not
    /// one of ours.
    pub(super) fn notify_answered(&mut self, key: &ClientKey, code: Option<u16>) -> bool {
        let Some(id) = self.subscriptions.by_notify.remove(key) else {
            return false;
        };
        let Some(sub) = self.subscriptions.subs.get_mut(&id) else {
            return true;
        };
        sub.in_flight = None;
        if !code.is_some_and(|c| (200..300).contains(&c)) {
            // RFC 6665 §4.2.2: the subscriber is gone or refuses; nothing more is sent.
            info!(
                subscription = id,
                ?code,
                "NOTIFY failed; subscription removed"
            );
            self.subscriptions.remove(id);
        }
        true
    }

    /// Ends every subscription with a final NOTIFY (the bridge is stopping).
    pub(super) fn end_all_subscriptions(&mut self, now: Instant) {
        let ids: Vec<u64> = self.subscriptions.subs.keys().copied().collect();
        for id in ids {
            self.end_subscription(now, id, Termination::NoResource);
        }
    }

    /// Conference subscriptions live now.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_headers_are_taken_apart() {
        assert_eq!(
            parse_event("Conference;id=7"),
            Some(EventHeader {
                package: "conference".to_owned(),
                id: Some("7".to_owned())
            })
        );
        assert_eq!(
            parse_event(" conference ").map(|e| e.package).as_deref(),
            Some("conference")
        );
        for bad in [
            "",
            ";id=1",
            "conf erence",
            "conference;id=",
            "conference;id=a\r\nb",
            "x\u{1}",
        ] {
            assert_eq!(parse_event(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expires_values_are_delta_seconds() {
        assert_eq!(parse_expires(" 600 "), Some(600));
        assert_eq!(parse_expires("0"), Some(0));
        assert_eq!(parse_expires("99999999999"), Some(u32::MAX));
        for bad in ["", "-1", "1.5", "ten", "1 2", &"9".repeat(40)] {
            assert_eq!(parse_expires(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accept_ranges() {
        assert!(accepts_conference_info("application/conference-info+xml"));
        assert!(accepts_conference_info(
            "application/sdp, application/*;q=0.5"
        ));
        assert!(accepts_conference_info("*/*"));
        assert!(!accepts_conference_info("application/pidf+xml"));
    }
}
