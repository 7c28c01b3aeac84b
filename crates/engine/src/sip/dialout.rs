//! `*8`: the bridge as a SIP UAC, inviting an external number into a conference.
//!
//! The invitation walks: media socket (from the driver) ▸ INVITE with our offer ▸ 1xx
//! (ringback to the inviter) ▸ 2xx: ACK, the leg joins as a participant; or a final error:
//! ACK and a prompt that says why. A 401/407 is answered once with digest credentials; the
//! ring timeout or `*` from the inviter sends CANCEL.

use super::dial_policy::DialOut;
use super::{Call, CallId, CallState, Engine, Event, Membership, Stage};
use bytes::Bytes;
use chorus_media::MediaCommand;
use chorus_sip_msg::ezk_sip_types::{Method, Name};
use chorus_sip_msg::{Essentials, Message, Response, parse};
use chorus_sip_proto::{ClientKey, ClientMatch, Dialog, ServerKey, Transport, digest};
use chorus_types::Clip;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::info;

#[derive(Debug)]
pub(super) struct Dialing {
    /// The member who keyed `*8` (or sent REFER); `None` when an operator dialled over
    /// REST: nobody hears ringback or the outcome's prompt.
    inviter: Option<CallId>,
    pub(super) conference: String,
    number: String,
    request_uri: String,
    from_uri: String,
    from_tag: String,
    call_id: String,
    cseq: u32,
    branch: String,
    local_rtp: Option<SocketAddr>,
    invite: Option<Bytes>,
    auth_tried: bool,
    ring_deadline: Option<Instant>,
    cancelled: bool,
    session_id: u64,
    /// The far end sent early media (183 with SDP) and the inviter hears it.
    early: bool,
    /// Where the INVITE goes, and how.
    pub(super) destination: SocketAddr,
    pub(super) transport: Transport,
    ring_timeout: Duration,
    /// Whether a challenge may be answered with the trunk's credentials (never for a
    /// target a member named: the password would go to whoever that is).
    trunk: bool,
    /// Header lines (each ending in CRLF) the INVITE carries besides ours: `Replaces` and
    /// `Referred-By` for a referral.
    extra_headers: String,
    /// Set when a member's REFER asked for this call: progress goes back as NOTIFY.
    pub(super) referral: Option<super::refer::Referral>,
    /// The SRTP we offered, when the policy requires it.
    srtp: Option<super::srtp::CallSrtp>,
}

impl Dialing {
    /// A new invitation from `inviter` into `conference`; the INVITE waits for media.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        engine: &mut Engine,
        inviter: Option<CallId>,
        conference: String,
        number: String,
        request_uri: String,
        from_uri: String,
        route: (SocketAddr, Transport),
        ring_timeout: Duration,
    ) -> Dialing {
        Dialing {
            inviter,
            number,
            request_uri,
            from_uri,
            from_tag: engine.token(),
            call_id: format!("{}@chorus", engine.token()),
            cseq: 1,
            branch: format!("z9hG4bK{}", engine.token()),
            local_rtp: None,
            invite: None,
            auth_tried: false,
            ring_deadline: None,
            cancelled: false,
            session_id: engine.rng.u64(1..1 << 40),
            early: false,
            srtp: None,
            conference,
            destination: route.0,
            transport: route.1,
            ring_timeout,
            trunk: false,
            extra_headers: String::new(),
            referral: None,
        }
    }

    pub(super) fn with_referral(
        mut self,
        referral: super::refer::Referral,
        extra_headers: String,
    ) -> Dialing {
        self.referral = Some(referral);
        self.extra_headers = extra_headers;
        self
    }
}

/// Why an invitation failed, as the inviter hears it.
enum Failure {
    Busy,
    NotFound,
    NoAnswer,
    Failed,
    Refused,
}

impl Failure {
    /// The status a referrer's NOTIFY reports for it.
    fn status(&self) -> (u16, &'static str) {
        match self {
            Failure::Busy => (486, "Busy Here"),
            Failure::NotFound => (404, "Not Found"),
            Failure::NoAnswer => (408, "Request Timeout"),
            Failure::Failed => (503, "Service Unavailable"),
            Failure::Refused => (403, "Forbidden"),
        }
    }
}

impl Engine {
    pub(super) fn dial_config(&self) -> Option<&DialOut> {
        self.config.dialout.as_ref()
    }

    /// Whether `inviter` has an invitation in progress.
    pub(super) fn is_dialing_for(&self, inviter: CallId) -> Option<CallId> {
        self.dialing
            .iter()
            .find(|(_, d)| d.inviter == Some(inviter))
            .map(|(id, _)| *id)
    }

    /// Tells operators about a `*8` and what became of it.
    fn notify_dial(&mut self, inviter: CallId, number: &str, outcome: &str) {
        let Some(call) = self.calls.get(&inviter) else {
            return;
        };
        call.span.in_scope(|| info!(%number, %outcome, "*8 keyed"));
        self.notify(super::Notification::DialOut {
            conference: call.conference.clone(),
            member: Some(inviter.0),
            caller: call.caller.clone(),
            number: number.to_owned(),
            outcome: outcome.to_owned(),
        });
    }

    /// Refuses a `*8` that the policy forbids: the inviter hears that inviting is not
    /// available, and operators see why.
    fn refuse_dial(&mut self, inviter: CallId, number: &str, why: &str) {
        self.stats.dialout_refused += 1;
        self.notify_dial(inviter, number, why);
        let clip = self.config.prompts.invite_unavailable.clone();
        self.play(inviter, clip);
    }

    /// `*8 number #` from a member.
    pub(super) fn dial(&mut self, now: Instant, inviter: CallId, number: &str) {
        let Some(config) = self.dial_config().cloned() else {
            let clip = self.config.prompts.invite_unavailable.clone();
            self.play(inviter, clip);
            return;
        };
        let Some((conference, invited, source)) = self
            .calls
            .get(&inviter)
            .map(|c| (c.conference.clone(), c.invited, c.dialog.peer.ip()))
        else {
            return;
        };
        if !config.digits.contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            let clip = self.config.prompts.error.clone();
            self.play(inviter, clip);
            return;
        }
        // A party the bridge dialled must never make it dial further (toll fraud).
        if invited {
            return self.refuse_dial(inviter, number, "refused_invited_party");
        }
        let policy = &config.policy;
        if !policy.allowed_networks.is_empty()
            && !policy.allowed_networks.iter().any(|n| n.contains(&source))
        {
            return self.refuse_dial(inviter, number, "refused_network");
        }
        if !policy.permits_number(number) {
            return self.refuse_dial(inviter, number, "refused_number");
        }
        if !self.dial_history.allows(now, &conference, policy) {
            return self.refuse_dial(inviter, number, "refused_hourly_cap");
        }
        if !self.room_to_dial(&conference, inviter) {
            self.notify_dial(inviter, number, "refused_busy");
            return self.fail_dial_prompt(Some(inviter), Failure::Refused);
        }
        self.dial_history.count(now, &conference);
        self.notify_dial(inviter, number, "dialing");
        self.dial_trunk(&config, Some(inviter), conference, number);
    }

    /// Invites `number` through the trunk into `conference`; returns the invited leg.
    pub(super) fn dial_trunk(
        &mut self,
        config: &DialOut,
        inviter: Option<CallId>,
        conference: String,
        number: &str,
    ) -> CallId {
        let from_uri = config
            .caller_id_template
            .replace("{extension}", &conference);
        let mut dial = Dialing::new(
            self,
            inviter,
            conference,
            number.to_owned(),
            config.uri_template.replace("{number}", number),
            from_uri,
            (config.destination, config.transport),
            config.ring_timeout,
        );
        // Only a number the policy checked may get the trunk's credentials.
        dial.trunk = true;
        self.start_dialing(dial)
    }

    /// Whether the hourly caps allow one more call from `conference` now (and counts it);
    /// without a trunk, referrals still meet the default caps.
    pub(super) fn dial_allowed_now(&mut self, now: Instant, conference: &str) -> bool {
        let policy = self
            .dial_config()
            .map(|c| c.policy.clone())
            .unwrap_or_default();
        if !self.dial_history.allows(now, conference, &policy) {
            return false;
        }
        self.dial_history.count(now, conference);
        true
    }

    /// Asks the driver for the invitation's media socket; the INVITE follows. Returns the
    /// invited leg's id.
    pub(super) fn start_dialing(&mut self, dial: Dialing) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        // A member who sent REFER follows the call on its own phone (NOTIFY).
        let ringback = dial.inviter.filter(|_| dial.referral.is_none());
        self.dialing.insert(id, dial);
        if let Some(inviter) = ringback {
            let ringback = self.config.prompts.ringback.clone();
            self.media(MediaCommand::Music {
                call: inviter,
                clip: Some(ringback),
            });
        }
        self.events.push_back(Event::MediaRequested { call: id });
        id
    }

    /// The driver bound the invitation's RTP socket: send the INVITE.
    pub(super) fn dial_media_ready(&mut self, now: Instant, id: CallId, local_rtp: SocketAddr) {
        let Some(dial) = self.dialing.get_mut(&id) else {
            return;
        };
        dial.local_rtp = Some(local_rtp);
        dial.ring_deadline = Some(now + dial.ring_timeout);
        self.send_invite(now, id, None);
    }

    fn send_invite(
        &mut self,
        now: Instant,
        id: CallId,
        credentials: Option<(&'static str, String)>,
    ) {
        let Some(dial) = self.dialing.get_mut(&id) else {
            return;
        };
        let local_sip = self.config.local_for(dial.transport);
        let Some(local_rtp) = dial.local_rtp else {
            return;
        };
        if dial.srtp.is_none() && self.config.srtp.offers_srtp(dial.transport) {
            dial.srtp = self.srtp_keys.offer(None);
        }
        let sdp = chorus_sdp::offer_with_crypto(
            local_rtp,
            dial.session_id,
            1,
            &self.config.codecs,
            dial.srtp.as_ref().map(|s| &s.ours),
        );
        let transport = dial.transport.uri_param();
        let mut text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/{t} {local_sip};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <{from}>;tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{ext}@{local_sip}{transport}>\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\nUser-Agent: {ua}\r\n",
            uri = dial.request_uri,
            t = dial.transport.via_token(),
            branch = dial.branch,
            from = dial.from_uri,
            tag = dial.from_tag,
            call_id = dial.call_id,
            cseq = dial.cseq,
            ext = dial.conference,
            ua = self.config.user_agent,
        );
        if let Some((header, value)) = credentials {
            let _ = write!(text, "{header}: {value}\r\n");
        }
        text.push_str(&dial.extra_headers);
        let interval = self.config.session_expires.as_secs();
        if interval > 0 {
            let _ = write!(
                text,
                "Supported: timer\r\nSession-Expires: {}\r\nMin-SE: {}\r\n",
                interval.max(u64::from(super::session_timer::MIN_SE)),
                super::session_timer::MIN_SE
            );
        }
        let _ = write!(
            text,
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let data = Bytes::from(text);
        dial.invite = Some(data.clone());
        let key = self.txns.send_request(
            now,
            &dial.branch,
            Method::INVITE,
            dial.transport,
            dial.destination,
            data,
        );
        self.dial_keys.insert(key, id);
    }

    /// An ACK or CANCEL within the INVITE's transaction: same Request-URI, branch, From,
    /// Call-ID and CSeq number (§9.1, §17.1.1.3).
    fn transaction_request(
        &self,
        dial: &Dialing,
        transport: Transport,
        method: &str,
        to: &str,
    ) -> String {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <{from}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            uri = dial.request_uri,
            t = transport.via_token(),
            local = self.config.local_for(transport),
            branch = dial.branch,
            from = dial.from_uri,
            tag = dial.from_tag,
            call_id = dial.call_id,
            cseq = dial.cseq,
        )
    }

    /// The ACK for a non-2xx final response: same branch as the INVITE (§17.1.1.3).
    fn ack_failure(&mut self, dial: &Dialing, response: &Response) {
        let to = response
            .headers
            .get_raw(&Name::TO)
            .next()
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        let text = self.transaction_request(dial, dial.transport, "ACK", &to);
        self.stateless.push_back(chorus_sip_proto::Transmit {
            transport: dial.transport,
            destination: dial.destination,
            data: text.into(),
        });
    }

    /// A response to one of our INVITEs (or CANCELs). Returns `false` when it is not ours.
    pub(super) fn handle_dial_response(
        &mut self,
        now: Instant,
        matched: &ClientMatch,
        response: &Response,
        essentials: &Essentials,
    ) -> bool {
        let key = match matched {
            ClientMatch::New(k) | ClientMatch::Retransmission(k) => k,
        };
        if essentials.cseq.method == Method::CANCEL {
            return self
                .dial_keys
                .contains_key(&ClientKey(key.0.trim_end_matches("|CANCEL").to_owned()));
        }
        let Some(&id) = self.dial_keys.get(key) else {
            return false;
        };
        let Some(dial) = self.dialing.remove(&id) else {
            return true;
        };
        let code = response.code;
        if let ClientMatch::Retransmission(_) = matched {
            self.ack_failure(&dial, response);
            self.dialing.insert(id, dial);
            return true;
        }
        match code {
            100..=199 => {
                let mut dial = dial;
                if code > 100 {
                    self.referral_progress(now, &dial, code, &response.reason);
                }
                if !dial.early && !response.body.iter().all(u8::is_ascii_whitespace) {
                    self.early_media(id, &mut dial, response);
                }
                self.dialing.insert(id, dial);
            }
            200..=299 => self.dial_answered(now, id, dial, response, essentials),
            401 | 407 if !dial.auth_tried => {
                self.ack_failure(&dial, response);
                self.dial_keys.remove(key);
                self.retry_with_credentials(now, id, dial, response, code);
            }
            _ => {
                self.ack_failure(&dial, response);
                self.dial_keys.remove(key);
                let failure = match code {
                    486 | 600 | 603 => Failure::Busy,
                    404 | 484 | 604 => Failure::NotFound,
                    408 | 480 | 487 => Failure::NoAnswer,
                    _ => Failure::Failed,
                };
                info!(number = %dial.number, code, "invitation failed");
                self.dial_failed(now, id, &dial, failure);
            }
        }
        true
    }

    /// A provisional response with SDP: the number's own ringback or announcement plays to
    /// the inviter instead of ours (RFC 3960 gateway model).
    fn early_media(&mut self, id: CallId, dial: &mut Dialing, response: &Response) {
        let answer = String::from_utf8_lossy(&response.body).into_owned();
        let Ok(negotiated) = chorus_sdp::negotiate_answer(&answer, &self.config.codecs) else {
            return;
        };
        let keys = match dial.srtp.as_ref().map(|s| s.answered(&negotiated)) {
            Some(Some(answered)) => answered.keys(),
            Some(None) => return, // early media in clear when we asked for SRTP: not played
            None => None,
        };
        dial.early = true;
        info!(number = %dial.number, "early media from the invited number");
        let ssrc = self.rng.u32(..);
        self.events.push_back(Event::CallStarted {
            call: id,
            conference: dial.conference.clone(),
            media: crate::media_of(&negotiated, keys),
            ssrc,
            sip_call_id: dial.call_id.clone(),
        });
        // Nobody to hear it when an operator dialled.
        let Some(inviter) = dial.inviter else {
            return;
        };
        self.media(MediaCommand::Music {
            call: inviter,
            clip: None,
        });
        self.media(MediaCommand::Patch {
            call: id,
            to: Some(inviter),
        });
    }

    fn retry_with_credentials(
        &mut self,
        now: Instant,
        id: CallId,
        mut dial: Dialing,
        response: &Response,
        code: u16,
    ) {
        let (challenge_header, answer_header) = if code == 407 {
            (Name::PROXY_AUTHENTICATE, "Proxy-Authorization")
        } else {
            (Name::WWW_AUTHENTICATE, "Authorization")
        };
        let challenge = response
            .headers
            .get_raw(&challenge_header)
            .find_map(|v| digest::parse_challenge(v));
        let credentials = if dial.trunk {
            self.dial_config().and_then(|c| c.credentials.clone())
        } else {
            None
        };
        let (Some(challenge), Some((user, password))) = (challenge, credentials) else {
            info!(number = %dial.number, code, "challenged without usable credentials");
            return self.dial_failed(now, id, &dial, Failure::Failed);
        };
        let cnonce = self.token();
        let value = digest::authorization(
            &challenge,
            &user,
            &password,
            "INVITE",
            &dial.request_uri,
            &cnonce,
            1,
        );
        dial.auth_tried = true;
        dial.cseq += 1;
        dial.branch = format!("z9hG4bK{}", self.token());
        self.dialing.insert(id, dial);
        self.send_invite(now, id, Some((answer_header, value)));
    }

    fn dial_answered(
        &mut self,
        now: Instant,
        id: CallId,
        dial: Dialing,
        response: &Response,
        essentials: &Essentials,
    ) {
        let local_party = format!("<{}>", dial.from_uri);
        let dialog = Dialog::new_uac(
            response,
            essentials,
            &local_party,
            &dial.from_tag,
            dial.cseq,
            dial.transport,
            dial.destination,
        );
        let ack_branch = format!("z9hG4bK{}", self.token());
        let ack = Bytes::from(dialog.ack(
            &ack_branch,
            self.config.local_for(dial.transport),
            dial.cseq,
        ));
        self.stateless.push_back(chorus_sip_proto::Transmit {
            transport: dial.transport,
            destination: dial.destination,
            data: ack.clone(),
        });
        let inviter = dial.inviter;
        if let Some(inviter) = inviter {
            self.media(MediaCommand::Music {
                call: inviter,
                clip: None,
            });
        }
        if dial.early {
            self.media(MediaCommand::Patch { call: id, to: None });
        }
        let answer = String::from_utf8_lossy(&response.body).into_owned();
        let mut srtp = None;
        let negotiated =
            chorus_sdp::negotiate_answer(&answer, &self.config.codecs).and_then(|neg| {
                match dial.srtp.as_ref().map(|s| s.answered(&neg)) {
                    // We offered SRTP: an answer without our key must not go on in clear.
                    Some(None) => Err(chorus_sdp::SdpError::NoCommonCodec),
                    Some(answered) => {
                        srtp = answered;
                        Ok(neg)
                    }
                    None => Ok(neg),
                }
            });
        // The INVITE we sent stands in for a request in the call's record.
        let Some(Ok(Message::Request(invite))) = dial.invite.as_ref().map(|b| parse(b)) else {
            return self.dial_failed(now, id, &dial, Failure::Failed);
        };
        let Ok(invite_essentials) = invite.essentials() else {
            return self.dial_failed(now, id, &dial, Failure::Failed);
        };
        let invite_key = ServerKey::of(&invite, &invite_essentials);
        let span =
            tracing::info_span!("call", call_id = %dial.call_id, conference = %dial.conference);
        self.by_dialog
            .insert((dial.call_id.clone(), dial.from_tag.clone()), id);
        self.temporary.call_added(&dial.conference);
        self.calls.insert(
            id,
            Call {
                state: CallState::Confirmed,
                conference: dial.conference.clone(),
                invite,
                invite_key,
                reinvite_key: None,
                origin: dialog.peer.ip(),
                dialog,
                offer: None,
                local_rtp: dial.local_rtp,
                answer_at: None,
                session_id: dial.session_id,
                sdp_version: 1,
                started: false,
                stage: Stage::Answered,
                member: None,
                caller: dial.request_uri.clone(),
                invited: true,
                creator: false,
                ack: Some(ack),
                timer: super::session_timer::for_answered(now, response),
                created: now,
                srtp,
                span,
            },
        );
        match negotiated {
            Ok(neg) => {
                if let Some(call) = self.calls.get(&id) {
                    call.span
                        .in_scope(|| info!(number = %dial.number, "invited number answered"));
                }
                let keys = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.srtp.as_ref())
                    .and_then(super::srtp::CallSrtp::keys);
                let media = crate::media_of(&neg, keys);
                if let Some(call) = self.calls.get_mut(&id) {
                    call.offer = Some(neg);
                }
                if dial.referral.is_some() {
                    self.referral_ended(now, &dial, 200, "OK");
                }
                self.start(now, id, media);
            }
            Err(error) => {
                info!(%error, "unusable SDP answer from the invited number");
                self.send_bye(now, id);
                self.end(now, id, super::EndReason::BadAnswer);
                if dial.referral.is_some() {
                    self.referral_ended(now, &dial, 488, "Not Acceptable Here");
                } else {
                    self.fail_dial_prompt(inviter, Failure::Failed);
                }
            }
        }
    }

    /// An invited leg's media is up: it joins without a PIN.
    pub(super) fn invited_joins(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (conference, number, call_id) = (
            call.conference.clone(),
            call.caller.clone(),
            call.dialog.call_id.clone(),
        );
        let record = self
            .config
            .extensions
            .get(&conference)
            .is_some_and(|e| e.record_enabled);
        if record {
            if self.dial_config().is_some_and(|c| c.announce_recording) {
                let clip = self.config.prompts.call_recorded.clone();
                self.play(id, clip);
            }
            self.media(MediaCommand::Record {
                call: id,
                conference,
                number,
                call_id,
            });
        }
        self.join(now, id, chorus_policy::Role::Participant, None);
        if let Some(Membership { .. }) = self.calls.get(&id).and_then(|c| c.member) {
            return;
        }
        // Refused (the conference filled up while it rang): hang up.
        self.hangup(now, id);
    }

    fn fail_dial_prompt(&mut self, inviter: Option<CallId>, failure: Failure) {
        let Some(inviter) = inviter else {
            return;
        };
        self.media(MediaCommand::Music {
            call: inviter,
            clip: None,
        });
        let p = &self.config.prompts;
        let clip: Clip = match failure {
            Failure::Busy => p.number_busy.clone(),
            Failure::NotFound => p.number_not_found.clone(),
            Failure::NoAnswer => p.no_answer.clone(),
            Failure::Failed => p.call_failed.clone(),
            Failure::Refused => p.invite_refused.clone(),
        };
        self.play(inviter, clip);
    }

    fn dial_failed(&mut self, now: Instant, id: CallId, dial: &Dialing, failure: Failure) {
        if dial.referral.is_some() {
            let (code, reason) = failure.status();
            self.referral_ended(now, dial, code, reason);
        } else {
            self.fail_dial_prompt(dial.inviter, failure);
        }
        // Releases the RTP socket bound for the invitation.
        self.events.push_back(Event::CallEnded {
            call: id,
            reason: super::EndReason::LocalHangup,
        });
    }

    /// Sends CANCEL for an invitation (ring timeout, or `*` from the inviter).
    pub(super) fn cancel_dial(&mut self, now: Instant, id: CallId) {
        let Some(dial) = self.dialing.get_mut(&id) else {
            return;
        };
        if dial.cancelled {
            return;
        }
        dial.cancelled = true;
        dial.ring_deadline = None;
        if dial.invite.is_none() {
            // Not sent yet: nothing to cancel on the wire.
            if let Some(dial) = self.dialing.remove(&id) {
                self.dial_failed(now, id, &dial, Failure::NoAnswer);
            }
            return;
        }
        let Some(dial) = self.dialing.get(&id) else {
            return;
        };
        let to = format!("<{}>", dial.request_uri);
        let text = self.transaction_request(dial, dial.transport, "CANCEL", &to);
        let (branch, transport, destination) =
            (dial.branch.clone(), dial.transport, dial.destination);
        self.txns.send_request(
            now,
            &branch,
            Method::CANCEL,
            transport,
            destination,
            text.into(),
        );
    }

    /// Ring deadlines.
    pub(super) fn dial_timeout(&self) -> Option<Instant> {
        self.dialing.values().filter_map(|d| d.ring_deadline).min()
    }

    pub(super) fn handle_dial_timeouts(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .dialing
            .iter()
            .filter(|(_, d)| d.ring_deadline.is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            info!(%id, "invited number did not answer in time; cancelling");
            self.cancel_dial(now, id);
        }
    }

    /// The INVITE got no response at all (Timer B).
    pub(super) fn dial_timed_out(&mut self, now: Instant, key: &ClientKey) -> bool {
        let Some(id) = self.dial_keys.remove(key) else {
            return false;
        };
        if let Some(dial) = self.dialing.remove(&id) {
            info!(number = %dial.number, "no response to the invitation");
            self.dial_failed(now, id, &dial, Failure::Failed);
        }
        true
    }

    /// A 2xx retransmission for an answered invitation: ACK it again.
    pub(super) fn reack(&mut self, essentials: &Essentials) -> bool {
        let Some(tag) = essentials.from.tag.as_deref() else {
            return false;
        };
        let Some(&id) = self
            .by_dialog
            .get(&(essentials.call_id.clone(), tag.to_owned()))
        else {
            return false;
        };
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let Some(ack) = call.ack.clone() else {
            return false;
        };
        let (transport, peer) = (call.dialog.transport, call.dialog.peer);
        self.stateless.push_back(chorus_sip_proto::Transmit {
            transport,
            destination: peer,
            data: ack,
        });
        true
    }
}
