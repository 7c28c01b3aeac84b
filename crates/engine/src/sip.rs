//! The SIP user agent server behind every conference extension.

use crate::{CallId, MediaParams};
use bytes::Bytes;
use chorus_sdp::{Negotiated, SdpError};
use chorus_sip_msg::{
    Essentials, Message, Request, Response, ResponseBuilder, ezk_sip_types::Method,
    ezk_sip_types::Name, parse, parse_for_reply,
};
use chorus_sip_proto::{
    ClientKey, Dialog, Disposition, ServerKey, Timers, Transactions, Transmit, Transport, TxnEvent,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

mod conference;
mod conference_info;
mod dial_policy;
mod dialout;
mod events;
mod hearing;
mod in_dialog;
mod incoming;
mod operator;
mod prompts;
mod refer;
mod security;
mod session_timer;
mod srtp;
mod subscriptions;
mod temporary;

pub use conference::ExtensionConfig;
use conference::{Conferences, Stage};
pub use dial_policy::{DialOut, DialPolicy};
use dialout::Dialing;
pub use events::{
    Actor, CallSummary, ConferenceInfo, DialRefusal, EndReason, EngineStats, Event, MemberInfo,
    MoveRefusal, Notification,
};
pub use hearing::{Hearing, HearingChange, VOLUME_RANGE};
pub use prompts::Prompts;
pub use refer::{ReferTarget, parse_refer_to};
pub use security::{DigestUsers, ORIGIN_HEADER, Security, UnknownExtension};
pub use srtp::{SrtpMode, SrtpPolicy};
pub use subscriptions::{
    EVENT_PACKAGE, EventHeader, MIN_EXPIRES, SubscriptionConfig, parse_event, parse_expires,
};
use temporary::TemporaryConferences;
pub use temporary::{AdhocConfig, AdhocRefusal, TEMPORARY_PREFIX};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, SUBSCRIBE";
/// Methods we know but do not serve (REFER only inside a dialog): 405 rather than 501.
const KNOWN_NOT_ALLOWED: [&str; 7] = [
    "REGISTER", "NOTIFY", "REFER", "MESSAGE", "UPDATE", "PRACK", "PUBLISH",
];

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Our SIP address, written in Via and Contact.
    pub local_sip: SocketAddr,
    /// Our SIP-over-TLS address, written in Via and Contact of dialogs over TLS.
    pub tls_sip: Option<SocketAddr>,
    /// The conference extensions that answer, with their rules and sounds; any other
    /// Request-URI user gets 404.
    pub extensions: HashMap<String, ExtensionConfig>,
    /// The built-in prompts, chime and music.
    pub prompts: Prompts,
    /// The User-Agent / Server header value.
    pub user_agent: String,
    /// SIP timer values.
    pub timers: Timers,
    /// Seed for tags, branches and SSRCs (the engine has no RNG of its own).
    pub seed: u64,
    /// Ring (180) this long before answering; zero answers at once.
    pub answer_delay: Duration,
    /// Where `*8` dials; `None` turns invitations off.
    pub dialout: Option<DialOut>,
    /// Codecs we accept and offer, most preferred first.
    pub codecs: Vec<chorus_types::Codec>,
    /// Who may call, and the limits on strangers.
    pub security: Security,
    /// The RFC 4028 session interval the bridge asks for when the caller names none;
    /// zero turns session timers off unless the caller asks for one.
    pub session_expires: Duration,
    /// The conference factory and the limits on temporary conferences.
    pub adhoc: AdhocConfig,
    /// Networks a REFER may name as a direct target (an address, not a trunk number).
    pub refer_direct_networks: Vec<ipnet::IpNet>,
    /// Keys what must not be guessed (temporary conference ids, digest nonces); the driver
    /// draws it from the operating system.
    pub secret: [u8; 32],
    /// Limits on conference subscriptions (RFC 4575) and the token that lifts the
    /// members-only rule.
    pub subscriptions: SubscriptionConfig,
    /// When calls are encrypted (SRTP keyed by SDES).
    pub srtp: SrtpPolicy,
    /// The voice processing of conferences that do not set their own.
    pub voice: chorus_types::VoiceProcessing,
}

impl EngineConfig {
    /// The address we write in Via and Contact for `transport`.
    pub(crate) fn local_for(&self, transport: Transport) -> SocketAddr {
        match (transport, self.tls_sip) {
            (Transport::Tls, Some(tls)) => tls,
            _ => self.local_sip,
        }
    }
}

impl Default for EngineConfig {
    /// 127.0.0.1:5060 with extension 500 and default settings, silent prompts, no ring
    /// delay: the embedded default, and a base for tests.
    fn default() -> Self {
        EngineConfig {
            local_sip: SocketAddr::from(([127, 0, 0, 1], 5060)),
            tls_sip: None,
            extensions: [("500".to_owned(), ExtensionConfig::default())]
                .into_iter()
                .collect(),
            prompts: Prompts::default(),
            user_agent: "chorus".to_owned(),
            timers: Timers::default(),
            seed: 0,
            answer_delay: Duration::ZERO,
            dialout: None,
            codecs: chorus_types::Codec::ALL.to_vec(),
            security: Security::default(),
            session_expires: Duration::from_secs(1800),
            adhoc: AdhocConfig::default(),
            refer_direct_networks: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            secret: [0; 32],
            srtp: SrtpPolicy::default(),
            voice: chorus_types::VoiceProcessing::default(),
            subscriptions: SubscriptionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting for the driver's RTP socket; the INVITE has only had 100.
    AwaitingMedia,
    /// 180 sent; the 200 is due at `Call::answer_at`.
    Ringing,
    /// 200 sent, waiting for ACK.
    Answered,
    /// ACK received.
    Confirmed,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    conference: String,
    invite: Request,
    invite_key: ServerKey,
    /// A re-INVITE answered with 200 that still awaits its ACK.
    reinvite_key: Option<ServerKey>,
    dialog: Dialog,
    /// Who called: the dialog's peer, or the caller behind a trusted proxy. PIN guesses
    /// are counted against it.
    origin: std::net::IpAddr,
    /// The caller's offer, or `None` when we must offer in the 200 (answer in ACK).
    offer: Option<Negotiated>,
    local_rtp: Option<SocketAddr>,
    answer_at: Option<Instant>,
    session_id: u64,
    sdp_version: u64,
    started: bool,
    stage: Stage,
    /// Set once in the conference.
    member: Option<Membership>,
    caller: String,
    /// Brought in with `*8` (the bridge is the UAC).
    invited: bool,
    /// Called the conference factory: the moderator of the conference it created.
    creator: bool,
    /// Our ACK for the 2xx of an invitation or of our last refresh, sent again when the
    /// 2xx is.
    ack: Option<Bytes>,
    /// The RFC 4028 session timer, when one was agreed.
    timer: Option<session_timer::SessionTimer>,
    /// When the INVITE arrived (or, for an invitation, when it was answered).
    created: Instant,
    /// Its SRTP, when encrypted.
    srtp: Option<srtp::CallSrtp>,
    span: tracing::Span,
}

#[derive(Debug, Clone, Copy)]
struct Membership {
    joined_at: Instant,
    moderator: bool,
    talking: bool,
    invited: bool,
    hearing: Hearing,
}

/// The SIP side of the bridge. See the crate docs for how to drive it.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    rng: fastrand::Rng,
    txns: Transactions,
    calls: HashMap<CallId, Call>,
    next_call: u64,
    by_dialog: HashMap<(String, String), CallId>,
    by_invite: HashMap<ServerKey, CallId>,
    /// BYEs we sent, kept until answered or timed out.
    byes: HashMap<ClientKey, ()>,
    conferences: Conferences,
    temporary: TemporaryConferences,
    subscriptions: subscriptions::Subscriptions,
    next_prompt: u64,
    dialing: HashMap<CallId, Dialing>,
    dial_keys: HashMap<ClientKey, CallId>,
    stateless: VecDeque<Transmit>,
    events: VecDeque<Event>,
    accepting: bool,
    /// The driver says the bridge is falling behind: new calls get 503.
    overloaded: bool,
    /// Draining: only callers of conferences already here are taken (see `set_draining`).
    draining: bool,
    /// Sounds operators played that have not finished.
    plays: operator::Plays,
    /// Conferences whose whole mix an operator is recording (stale once one empties:
    /// the media side then ends the file; see `is_recording_mix`).
    mix_recordings: HashSet<String>,
    stats: EngineStats,
    pin_guard: chorus_policy::PinGuard,
    refusal_log: security::LogLimiter,
    dial_history: dial_policy::DialHistory,
    /// Our refresh re-INVITEs in flight: the call and the INVITE's branch.
    refreshes: HashMap<ClientKey, (CallId, String)>,
    /// Keys the stateless digest nonces.
    nonce_secret: String,
    /// Fresh SRTP master keys.
    srtp_keys: srtp::KeyMaker,
    /// The instant digest nonce times count from.
    auth_epoch: Option<Instant>,
}

impl Engine {
    /// A new engine.
    pub fn new(config: EngineConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let secret: String = config.secret.iter().map(|b| format!("{b:02x}")).collect();
        let nonce_secret = format!("{:016x}{:016x}{secret}", rng.u64(..), rng.u64(..));
        let temporary = TemporaryConferences::new(config.adhoc.clone(), config.secret);
        Engine {
            rng,
            nonce_secret,
            srtp_keys: srtp::KeyMaker::new(&config.secret),
            auth_epoch: None,
            txns: Transactions::new(config.timers),
            pin_guard: security::new_guard(&config.security),
            refusal_log: security::LogLimiter::new(config.security.refusal_logs_per_second),
            dial_history: dial_policy::DialHistory::default(),
            refreshes: HashMap::new(),
            config,
            calls: HashMap::new(),
            next_call: 1,
            by_dialog: HashMap::new(),
            by_invite: HashMap::new(),
            byes: HashMap::new(),
            conferences: HashMap::new(),
            temporary,
            subscriptions: subscriptions::Subscriptions::default(),
            next_prompt: 1,
            dialing: HashMap::new(),
            dial_keys: HashMap::new(),
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            accepting: true,
            overloaded: false,
            draining: false,
            plays: operator::Plays::default(),
            mix_recordings: HashSet::new(),
            stats: EngineStats::default(),
        }
    }

    /// Replaces the extensions and their settings. New callers meet the new rules at once;
    /// callers in a conference follow where the rules say so (`mute_non_moderator`).
    pub fn set_extensions(&mut self, extensions: HashMap<String, ExtensionConfig>) {
        self.config.extensions = extensions;
        self.apply_extension_settings();
        // A subscription to an extension that is gone ends at the next flush.
        self.subscriptions.all_changed();
    }

    /// While set, new INVITEs are shed with 503 and Retry-After; calls in progress and
    /// in-dialog requests are served as ever.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.overloaded = overloaded;
    }

    /// While set, the node is being emptied: callers of a conference that lives here
    /// still join it, a call that would start a conference here gets 503 (a proxy in
    /// front tries another node), and OPTIONS answer 503 so its probing stops sending
    /// new conferences.
    pub fn set_draining(&mut self, draining: bool) {
        if draining && !self.draining {
            self.notify(Notification::Draining {
                calls: self.calls.len(),
            });
        }
        self.draining = draining;
    }

    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// The conferences that live on this node: any with a call (a caller still at the
    /// PIN prompt counts: the next caller must meet them here) and any temporary one.
    pub fn hosted(&self) -> Vec<String> {
        let mut hosted: Vec<String> = self
            .calls
            .values()
            .map(|call| call.conference.clone())
            .chain(self.conferences.keys().cloned())
            .chain(self.temporary.ids().cloned())
            .collect();
        hosted.sort_unstable();
        hosted.dedup();
        hosted
    }

    fn hosts(&self, conference: &str) -> bool {
        self.conferences.contains_key(conference)
            || self.temporary.contains(conference)
            || self
                .calls
                .values()
                .any(|call| call.conference == conference)
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Calls not yet ended.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// True when no call and no BYE is outstanding: safe to exit after shutdown.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.byes.is_empty()
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.stateless
            .pop_front()
            .or_else(|| self.txns.poll_transmit())
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let answers = self.calls.values().filter_map(|c| c.answer_at);
        answers
            .chain(self.txns.poll_timeout())
            .chain(self.stage_timeout())
            .chain(self.dial_timeout())
            .chain(self.session_timeout())
            .chain(self.temporary.poll_timeout())
            .chain(self.subscriptions.poll_timeout())
            .min()
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.txns.handle_timeout(now);
        self.process_txn_events(now);
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.answer_at.is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.answer(now, id);
        }
        self.handle_stage_timeouts(now);
        self.handle_dial_timeouts(now);
        self.handle_session_timeouts(now);
        self.expire_temporary(now);
        self.process_txn_events(now);
        self.flush_subscriptions(now);
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.u64(..))
    }

    /// One SIP message from `source`: a UDP datagram or a message cut from a TCP stream.
    pub fn handle_message(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        data: &[u8],
    ) {
        self.subscriptions.saw(now);
        match parse(data) {
            Ok(Message::Request(request)) => self.handle_request(now, transport, source, request),
            Ok(Message::Response(response)) => self.handle_response(now, response),
            Err(error) => match parse_for_reply(data) {
                Some(request) if request.can_be_answered() && request.method != Method::ACK => {
                    let code = if error == chorus_sip_msg::ParseError::Version {
                        505
                    } else {
                        400
                    };
                    self.reply_stateless(transport, source, &request, code, &error.to_string());
                }
                _ => {
                    self.stats.dropped += 1;
                    debug!(%source, %error, "dropped unparseable SIP message");
                }
            },
        }
        self.process_txn_events(now);
    }

    fn reply_stateless(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        request: &Request,
        code: u16,
        reason: &str,
    ) {
        if code == 400 {
            self.stats.bad_requests += 1;
        }
        debug!(%source, code, reason, "stateless reply");
        let tag = self.token();
        let data = ResponseBuilder::with_reason(request, code, reason, Some(&tag))
            .header("Server", &self.config.user_agent)
            .build();
        self.stateless.push_back(Transmit {
            transport,
            destination: source,
            data: data.into(),
        });
    }

    fn respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        code: u16,
        to_tag: Option<&str>,
    ) {
        let mut builder =
            ResponseBuilder::new(request, code, to_tag).header("Server", &self.config.user_agent);
        if code == 405 || code == 200 && request.method == Method::OPTIONS {
            builder = builder.header("Allow", ALLOW);
        }
        if request.method == Method::OPTIONS && code == 200 {
            builder = builder
                .header("Accept", "application/sdp")
                .header("Allow-Events", EVENT_PACKAGE)
                .header("Supported", "timer");
        }
        if code == 422 {
            builder = builder.header("Min-SE", &session_timer::MIN_SE.to_string());
        }
        if code == 415 {
            builder = builder.header("Accept", "application/sdp");
        }
        if code == 503 {
            builder = builder.header("Retry-After", "5");
        }
        self.txns.respond(now, key, code, builder.build().into());
    }

    fn handle_request(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        request: Request,
    ) {
        let essentials = match request.essentials() {
            Ok(e) => e,
            Err(error) => {
                if request.can_be_answered() && request.method != Method::ACK {
                    self.reply_stateless(transport, source, &request, 400, &error.to_string());
                } else {
                    self.stats.dropped += 1;
                }
                return;
            }
        };
        let user_agent = self.config.user_agent.clone();
        let trying = || {
            Bytes::from(
                ResponseBuilder::new(&request, 100, None)
                    .header("Server", &user_agent)
                    .build(),
            )
        };
        let key =
            match self
                .txns
                .handle_request(now, &request, &essentials, transport, source, trying)
            {
                Disposition::Absorbed => return,
                Disposition::AckFor2xx => return self.handle_ack(now, &request, &essentials),
                Disposition::New(key) => key,
            };

        if request.method == Method::CANCEL {
            return self.handle_cancel(now, &key, &request);
        }
        if let Some(require) = request.header(&Name::REQUIRE) {
            let require = require.trim().to_owned();
            let data = ResponseBuilder::new(&request, 420, Some(&self.token()))
                .header("Unsupported", &require)
                .header("Server", &self.config.user_agent)
                .build();
            return self.txns.respond(now, &key, 420, data.into());
        }
        let scheme = request.uri_scheme();
        // A sips: URI promises TLS on every hop (RFC 5630): not one that came over UDP or
        // TCP.
        let sips_in_clear = scheme == "sips" && transport != Transport::Tls;
        if (scheme != "sip" && scheme != "sips") || sips_in_clear {
            let tag = self.token();
            return self.respond(now, &key, &request, 416, Some(&tag));
        }
        let in_dialog = essentials.to.tag.is_some();
        if !in_dialog && essentials.max_forwards == Some(0) && request.method != Method::OPTIONS {
            let tag = self.token();
            return self.respond(now, &key, &request, 483, Some(&tag));
        }

        let method = request.method.to_string();
        match method.as_str() {
            "INVITE" if in_dialog => self.handle_reinvite(now, key, &request, &essentials),
            "INVITE" => self.handle_invite(now, key, request, &essentials, transport, source),
            "REFER" if in_dialog => self.handle_refer(now, &key, &request, &essentials),
            "SUBSCRIBE" => {
                self.handle_subscribe(now, &key, &request, &essentials, transport, source)
            }
            "BYE" | "INFO" | "OPTIONS" if in_dialog => {
                self.handle_in_dialog(now, &key, &request, &essentials)
            }
            "OPTIONS" => {
                // A proxy's health probe: 503 takes this node out of its rotation.
                let code = if self.accepting && !self.draining && !self.overloaded {
                    200
                } else {
                    503
                };
                let tag = self.token();
                self.respond(now, &key, &request, code, Some(&tag));
            }
            "BYE" | "INFO" => {
                let tag = self.token();
                self.respond(now, &key, &request, 481, Some(&tag));
            }
            m if KNOWN_NOT_ALLOWED.contains(&m) => {
                let tag = self.token();
                self.respond(now, &key, &request, 405, Some(&tag));
            }
            _ => {
                let tag = self.token();
                self.respond(now, &key, &request, 501, Some(&tag));
            }
        }
    }

    /// The call whose dialog the request belongs to: Call-ID, our tag (To) and the far
    /// end's tag (From) must all match (§12.2.2), so knowing a Call-ID and our tag is not
    /// enough to hang up or key into someone else's call.
    fn find_dialog(&self, essentials: &Essentials) -> Option<CallId> {
        let tag = essentials.to.tag.as_deref()?;
        let id = *self
            .by_dialog
            .get(&(essentials.call_id.clone(), tag.to_owned()))?;
        let remote = essentials.from.tag.as_deref().unwrap_or("");
        let call = self.calls.get(&id)?;
        (call.dialog.remote_tag == remote).then_some(id)
    }

    /// Tells operators; a change subscribers see marks the conference's subscriptions
    /// stale.
    fn notify(&mut self, notification: Notification) {
        match &notification {
            Notification::MemberJoined { conference, .. }
            | Notification::MemberLeft { conference, .. }
            | Notification::Muted { conference, .. }
            | Notification::Locked { conference, .. }
            | Notification::ConferenceEnded { conference, .. } => {
                self.subscriptions.changed(conference);
            }
            _ => {}
        }
        self.events.push_back(Event::Notify(notification));
    }

    /// Removes a call and tells the driver; nothing is sent here.
    fn end(&mut self, now: Instant, id: CallId, reason: EndReason) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        call.span
            .in_scope(|| info!(reason = %reason.as_str(), "call ended"));
        self.notify(Notification::CallEnded(CallSummary {
            conference: call.conference.clone(),
            member: id.0,
            sip_call_id: call.dialog.call_id.clone(),
            caller: call.caller.clone(),
            codec: call
                .offer
                .as_ref()
                .map(|o| o.codec.config_name().to_owned()),
            duration_ms: u64::try_from(now.saturating_duration_since(call.created).as_millis())
                .unwrap_or(u64::MAX),
            reason: reason.as_str().to_owned(),
        }));
        self.leave_conference(id, &call.conference);
        self.temporary.call_removed(now, &call.conference);
        if call.member.is_some() {
            self.notify(Notification::MemberLeft {
                conference: call.conference.clone(),
                member: id.0,
                reason: reason.as_str().to_owned(),
            });
        }
        self.by_dialog
            .remove(&(call.dialog.call_id.clone(), call.dialog.local_tag.clone()));
        self.by_invite.remove(&call.invite_key);
        if let Some(key) = &call.reinvite_key {
            self.by_invite.remove(key);
        }
        self.events.push_back(Event::CallEnded { call: id, reason });
    }

    fn handle_response(&mut self, now: Instant, response: Response) {
        let Ok(essentials) = response.essentials() else {
            self.stats.dropped += 1;
            return;
        };
        match self.txns.handle_response(now, &response, &essentials) {
            Some(matched) => {
                if !self.handle_refresh_response(now, &matched, &response, &essentials) {
                    self.handle_dial_response(now, &matched, &response, &essentials);
                }
            }
            None => {
                let retransmitted_ok =
                    (200..300).contains(&response.code) && essentials.cseq.method == Method::INVITE;
                if !(retransmitted_ok && self.reack(&essentials)) {
                    debug!(code = response.code, "stray response dropped");
                }
            }
        }
    }

    fn send_bye(&mut self, now: Instant, id: CallId) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let local = self.config.local_for(call.dialog.transport);
        let data = call.dialog.request("BYE", &branch, local);
        let (transport, peer) = (call.dialog.transport, call.dialog.peer);
        let key = self
            .txns
            .send_request(now, &branch, Method::BYE, transport, peer, data.into());
        self.byes.insert(key, ());
    }

    /// Hangs a call up from our side: BYE once answered, 480 before.
    pub fn hangup(&mut self, now: Instant, id: CallId) {
        self.hangup_because(now, id, EndReason::LocalHangup);
    }

    fn hangup_because(&mut self, now: Instant, id: CallId, reason: EndReason) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        match call.state {
            CallState::AwaitingMedia | CallState::Ringing => {
                let (key, invite, tag) = (
                    call.invite_key.clone(),
                    call.invite.clone(),
                    call.dialog.local_tag.clone(),
                );
                self.respond(now, &key, &invite, 480, Some(&tag));
            }
            CallState::Answered | CallState::Confirmed => {
                let key = call.invite_key.clone();
                self.txns.acknowledge_2xx(&key);
                self.send_bye(now, id);
            }
        }
        self.end(now, id, reason);
    }

    /// Stops taking calls (new INVITEs get 503) and hangs up every call.
    pub fn shutdown(&mut self, now: Instant) {
        self.accepting = false;
        self.end_all_subscriptions(now);
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.hangup(now, id);
        }
    }

    fn process_txn_events(&mut self, now: Instant) {
        while let Some(event) = self.txns.poll_event() {
            match event {
                TxnEvent::AckTimeout(key) => {
                    // RFC 3261 §13.3.1.4: the session is ended with a BYE.
                    if let Some(&id) = self.by_invite.get(&key) {
                        warn!(%id, "no ACK for our 200; hanging up");
                        self.send_bye(now, id);
                        self.end(now, id, EndReason::AckTimeout);
                    }
                }
                TxnEvent::ClientResponse { key, code } => {
                    if self.byes.remove(&key).is_some() {
                        debug!(code, "BYE answered");
                    } else {
                        self.notify_answered(&key, Some(code));
                    }
                }
                TxnEvent::ClientTimeout(key) => {
                    if self.byes.remove(&key).is_some() {
                        debug!("BYE timed out");
                    } else if self.notify_answered(&key, None) {
                        debug!("NOTIFY timed out");
                    } else if !self.refresh_timed_out(now, &key) {
                        self.dial_timed_out(now, &key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
