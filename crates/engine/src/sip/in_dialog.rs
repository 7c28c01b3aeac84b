//! Requests inside an existing dialog: the ACK of our 2xx, CANCEL before the answer,
//! re-INVITEs (which also refresh RFC 4028 session timers), and BYE, INFO and OPTIONS.

use super::srtp;
use super::{CallId, CallState, EndReason, Engine, Event, session_timer};
use chorus_sip_msg::{Essentials, Request, ezk_sip_types::Method, ezk_sip_types::Name};
use chorus_sip_proto::ServerKey;
use std::time::Instant;
use tracing::{info, warn};

impl Engine {
    pub(super) fn handle_ack(&mut self, now: Instant, ack: &Request, essentials: &Essentials) {
        let _ = now;
        let Some(id) = self.find_dialog(essentials) else {
            return; // an ACK for nothing we know is silently dropped (§17.2.3)
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let key = call.reinvite_key.take().unwrap_or(call.invite_key.clone());
        self.txns.acknowledge_2xx(&key);
        if key != call.invite_key {
            self.by_invite.remove(&key);
        }
        let awaiting_answer = call.offer.is_none();
        call.state = CallState::Confirmed;
        if !awaiting_answer {
            return;
        }
        // We offered in the 200; the ACK carries the answer.
        let text = String::from_utf8_lossy(&ack.body).into_owned();
        match chorus_sdp::negotiate_answer(&text, &self.config.codecs) {
            Ok(neg) => {
                let keys = match call.srtp.as_ref().map(|s| s.answered(&neg)) {
                    Some(Some(answered)) => {
                        let keys = answered.keys();
                        call.srtp = Some(answered);
                        keys
                    }
                    Some(None) => {
                        // We offered SRTP; an answer without our key cannot go on in clear.
                        call.span
                            .in_scope(|| warn!("SDP answer in ACK lacks our SRTP key; hanging up"));
                        self.send_bye(now, id);
                        return self.end(now, id, EndReason::BadAnswer);
                    }
                    None => None,
                };
                let media = crate::media_of(&neg, keys);
                let started = call.started;
                call.offer = Some(neg);
                if started {
                    self.events
                        .push_back(Event::MediaChanged { call: id, media });
                } else {
                    self.start(now, id, media);
                }
            }
            Err(error) => {
                call.span
                    .in_scope(|| warn!(%error, "unusable SDP answer in ACK; hanging up"));
                self.send_bye(now, id);
                self.end(now, id, EndReason::BadAnswer);
            }
        }
    }

    pub(super) fn handle_cancel(&mut self, now: Instant, key: &ServerKey, cancel: &Request) {
        let invite_key = key.cancelled_invite();
        let Some(&id) = self.by_invite.get(&invite_key) else {
            let tag = self.token();
            return self.respond(now, key, cancel, 481, Some(&tag));
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let tag = call.dialog.local_tag.clone();
        let invite = call.invite.clone();
        self.respond(now, key, cancel, 200, Some(&tag));
        if self.txns.is_proceeding(&invite_key) {
            self.respond(now, &invite_key, &invite, 487, Some(&tag));
            self.end(now, id, EndReason::Cancelled);
        }
    }

    pub(super) fn handle_reinvite(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        essentials: &Essentials,
    ) {
        let Some(id) = self.find_dialog(essentials) else {
            let tag = self.token();
            return self.respond(now, &key, request, 481, Some(&tag));
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let tag = call.dialog.local_tag.clone();
        if !call.dialog.accept_remote_cseq(essentials.cseq.cseq, false) {
            return self.respond(now, &key, request, 500, Some(&tag));
        }
        let our_refresh_pending = call.timer.as_ref().is_some_and(|t| t.deadline().is_none());
        if call.state != CallState::Confirmed || call.reinvite_key.is_some() || our_refresh_pending
        {
            // An offer is still in flight (RFC 3261 §14.2).
            return self.respond(now, &key, request, 491, Some(&tag));
        }
        // Any re-INVITE refreshes the session (RFC 4028 §10), and may change its interval.
        if let Some(timer) = call.timer.as_mut() {
            timer.refreshed(now);
            if let Some(asked) = request
                .header(&Name::SESSION_EXPIRES)
                .and_then(session_timer::parse_session_expires)
                && asked.seconds >= session_timer::MIN_SE
            {
                // Roles are per transaction: here the far end is the UAC, we the UAS.
                let we_refresh = match asked.refresher {
                    Some(session_timer::Refresher::Uac) => false,
                    Some(session_timer::Refresher::Uas) => true,
                    None => timer.we_refresh(),
                };
                *timer = session_timer::SessionTimer::new(now, asked.seconds, we_refresh);
            }
        }
        let Some(local_rtp) = call.local_rtp else {
            return self.respond(now, &key, request, 491, Some(&tag));
        };
        call.dialog.update_target(request);
        let sdp = if request.body.iter().all(u8::is_ascii_whitespace) {
            // Offer-less re-INVITE: we offer again, the ACK answers.
            call.offer = None;
            call.sdp_version += 1;
            if call.srtp.is_some() {
                call.srtp = self.srtp_keys.offer(call.srtp.as_ref());
            }
            chorus_sdp::offer_with_crypto(
                local_rtp,
                call.session_id,
                call.sdp_version,
                &self.config.codecs,
                call.srtp.as_ref().map(|s| &s.ours),
            )
        } else {
            let text = String::from_utf8_lossy(&request.body);
            match chorus_sdp::negotiate_with(&text, &self.config.codecs) {
                Ok(neg) => {
                    let transport = call.dialog.transport;
                    call.srtp = match self.srtp_keys.answer(
                        &self.config.srtp,
                        transport,
                        &neg,
                        call.srtp.as_ref(),
                    ) {
                        srtp::SrtpAnswer::Srtp(srtp) => Some(srtp),
                        srtp::SrtpAnswer::Plain => None,
                        srtp::SrtpAnswer::Refuse => {
                            return self.respond(now, &key, request, 488, Some(&tag));
                        }
                    };
                    call.sdp_version += 1;
                    let sdp = chorus_sdp::answer_with_crypto(
                        &neg,
                        local_rtp,
                        call.session_id,
                        call.sdp_version,
                        call.srtp.as_ref().map(|s| &s.ours),
                    );
                    let keys = call.srtp.as_ref().and_then(srtp::CallSrtp::keys);
                    self.events.push_back(Event::MediaChanged {
                        call: id,
                        media: crate::media_of(&neg, keys),
                    });
                    call.offer = Some(neg);
                    sdp
                }
                Err(_) => return self.respond(now, &key, request, 488, Some(&tag)),
            }
        };
        call.reinvite_key = Some(key.clone());
        call.span.in_scope(|| info!("re-INVITE accepted"));
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let data = self.ok_with_sdp(call, request, sdp);
        self.by_invite.insert(key.clone(), id);
        self.txns.respond(now, &key, 200, data);
    }

    /// The call a new in-dialog request belongs to, with our tag, once its dialog matched
    /// (481 otherwise) and its CSeq is in order (500 otherwise).
    pub(super) fn accept_in_dialog(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        essentials: &Essentials,
    ) -> Option<(CallId, String)> {
        let Some(id) = self.find_dialog(essentials) else {
            let tag = self.token();
            self.respond(now, key, request, 481, Some(&tag));
            return None;
        };
        let call = self.calls.get_mut(&id)?;
        let tag = call.dialog.local_tag.clone();
        if !call.dialog.accept_remote_cseq(essentials.cseq.cseq, false) {
            self.respond(now, key, request, 500, Some(&tag));
            return None;
        }
        Some((id, tag))
    }

    pub(super) fn handle_in_dialog(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        essentials: &Essentials,
    ) {
        let Some((id, tag)) = self.accept_in_dialog(now, key, request, essentials) else {
            return;
        };
        let Some(invite_key) = self.calls.get(&id).map(|c| c.invite_key.clone()) else {
            return;
        };
        self.respond(now, key, request, 200, Some(&tag));
        if request.method == Method::INFO {
            let content_type = request.content_type().unwrap_or_default();
            let body = String::from_utf8_lossy(&request.body);
            if let Some(digit) = chorus_dtmf::parse_info(&content_type, &body) {
                self.digit(now, id, digit);
            }
        }
        if request.method == Method::BYE {
            // A BYE before our 2xx was acknowledged also ends its retransmission.
            self.txns.acknowledge_2xx(&invite_key);
            self.end(now, id, EndReason::RemoteBye);
        }
    }
}
