//! A new call: the INVITE's checks in the order that costs an attacker most and us least
//! (overload, trusted networks, digest, extension or factory, PIN-guessing refusals, the
//! pending-caller cap, SDP, session timer), then media, ringing, the answer and the start.

use super::*;

impl Engine {
    pub(super) fn handle_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        invite: Request,
        essentials: &Essentials,
        transport: Transport,
        source: SocketAddr,
    ) {
        let to_tag = self.token();
        let refuse = |engine: &mut Engine, code: u16| {
            engine.stats.calls_rejected += 1;
            engine.respond(now, &key, &invite, code, Some(&to_tag));
        };
        if !self.accepting {
            return refuse(self, 503);
        }
        if self.draining && !invite.uri_user().is_some_and(|user| self.hosts(&user)) {
            self.stats.shed += 1;
            self.log_refusal(
                now,
                source.ip(),
                "INVITE refused: draining, and its conference is not on this node",
                503,
            );
            return refuse(self, 503);
        }
        if self.overloaded {
            self.stats.shed += 1;
            self.log_refusal(
                now,
                source.ip(),
                "INVITE shed: the bridge is overloaded",
                503,
            );
            return refuse(self, 503);
        }
        // Who may reach the bridge is the transport's source (behind a front door, the
        // proxy); every other check judges the caller, stated by a trusted proxy.
        let origin = self.config.security.origin(&invite, source.ip());
        if !self.config.security.is_trusted(source.ip()) {
            self.stats.refused_untrusted += 1;
            self.log_refusal(now, source.ip(), "INVITE from an untrusted network", 403);
            return refuse(self, 403);
        }
        match self.authenticate(now, &invite, origin) {
            Ok(()) => {}
            Err(security::AuthRefusal::Challenge) => {
                let mut builder = ResponseBuilder::new(&invite, 401, Some(&to_tag))
                    .header("Server", &self.config.user_agent);
                for challenge in self.challenges(now) {
                    builder = builder.header("WWW-Authenticate", &challenge);
                }
                self.stats.calls_rejected += 1;
                return self.txns.respond(now, &key, 401, builder.build().into());
            }
            Err(security::AuthRefusal::Refused) => {
                self.stats.refused_guessing += 1;
                self.log_refusal(
                    now,
                    origin,
                    "INVITE from a source refused for guessing passwords",
                    403,
                );
                return refuse(self, 403);
            }
            Err(security::AuthRefusal::Busy) => return refuse(self, 503),
        }
        let user = invite.uri_user();
        // A provisioned extension of the same name wins over the factory.
        let factory = user.as_deref().is_some_and(|u| {
            self.temporary.is_factory(u) && !self.config.extensions.contains_key(u)
        });
        if factory && let Err(refusal) = self.temporary.admit(now, Some(origin)) {
            let (why, code) = match refusal {
                AdhocRefusal::TooMany => (
                    "INVITE to the factory: temporary conferences at their limit",
                    503,
                ),
                AdhocRefusal::TooFast => (
                    "INVITE to the factory: this source creates too many conferences",
                    486,
                ),
            };
            self.stats.refused_adhoc += 1;
            self.log_refusal(now, origin, why, code);
            return refuse(self, code);
        }
        let extension = match user.filter(|u| factory || self.has_conference(u)) {
            Some(extension) => extension,
            None if self.config.security.unknown_extension == UnknownExtension::Answer => {
                security::DECOY.to_owned()
            }
            None => {
                self.log_refusal(now, origin, "INVITE for an unknown extension", 404);
                return refuse(self, 404);
            }
        };
        if self.rules(&extension).needs_pin() && self.source_refused(now, origin, &extension) {
            self.stats.refused_guessing += 1;
            self.log_refusal(
                now,
                origin,
                "INVITE from a source refused for guessing PINs",
                403,
            );
            return refuse(self, 403);
        }
        if self.pending_callers(&extension) >= self.config.security.max_pending_per_extension {
            self.stats.refused_pending += 1;
            self.log_refusal(
                now,
                origin,
                "INVITE while too many callers wait to get in",
                486,
            );
            return refuse(self, 486);
        }
        let offer = if invite.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            if invite.content_type().as_deref() != Some("application/sdp") {
                return refuse(self, 415);
            }
            let text = String::from_utf8_lossy(&invite.body);
            match chorus_sdp::negotiate_with(&text, &self.config.codecs) {
                Ok(n) => Some(n),
                Err(SdpError::Malformed(reason)) => {
                    debug!(%reason, "malformed SDP offer");
                    self.stats.calls_rejected += 1;
                    let data =
                        ResponseBuilder::with_reason(&invite, 400, "Malformed SDP", Some(&to_tag))
                            .build();
                    return self.txns.respond(now, &key, 400, data.into());
                }
                Err(SdpError::NoCommonCodec | SdpError::BadAddress) => return refuse(self, 488),
            }
        };
        let srtp = match &offer {
            Some(offer) => match self
                .srtp_keys
                .answer(&self.config.srtp, transport, offer, None)
            {
                srtp::SrtpAnswer::Srtp(call) => Some(call),
                srtp::SrtpAnswer::Plain => None,
                srtp::SrtpAnswer::Refuse => return refuse(self, 488),
            },
            None if self.config.srtp.offers_srtp(transport) => self.srtp_keys.offer(None),
            None if self.config.srtp.mode == SrtpMode::Required => return refuse(self, 488),
            None => None,
        };
        let timer = match session_timer::for_incoming(now, &invite, self.config.session_expires) {
            Ok(timer) => timer,
            Err(code) => return refuse(self, code),
        };

        let extension = if factory {
            self.create_temporary_for_caller(now)
        } else {
            extension
        };
        self.temporary.call_added(&extension);
        let id = CallId(self.next_call);
        self.next_call += 1;
        let span =
            tracing::info_span!("call", call_id = %essentials.call_id, conference = %extension);
        if origin == source.ip() {
            span.in_scope(|| info!(%source, ?transport, "incoming call"));
        } else {
            span.in_scope(|| info!(%source, %origin, ?transport, "incoming call"));
        }
        let dialog = Dialog::new_uas(&invite, essentials, &to_tag, transport, source);
        self.by_dialog
            .insert((essentials.call_id.clone(), to_tag.clone()), id);
        self.by_invite.insert(key.clone(), id);
        self.calls.insert(
            id,
            Call {
                state: CallState::AwaitingMedia,
                conference: extension,
                invite,
                invite_key: key,
                reinvite_key: None,
                origin,
                dialog,
                offer,
                local_rtp: None,
                answer_at: None,
                session_id: self.rng.u64(1..1 << 40),
                sdp_version: 1,
                started: false,
                stage: Stage::Answered,
                member: None,
                caller: essentials.from.uri.clone(),
                invited: false,
                creator: factory,
                ack: None,
                timer,
                created: now,
                srtp,
                span,
            },
        );
        self.events.push_back(Event::MediaRequested { call: id });
    }

    pub(super) fn contact(&self, call: &Call) -> String {
        if call.dialog.transport == Transport::Tls && call.invite.uri_scheme() == "sips" {
            // RFC 5630: a dialog begun with a sips: URI gets a sips: Contact (which
            // implies TLS; `transport=tls` is not written with it).
            return format!(
                "<sips:{}@{}>;isfocus",
                call.conference,
                self.config.local_for(Transport::Tls)
            );
        }
        self.focus_contact(&call.conference, call.dialog.transport)
    }

    /// Our Contact for a dialog about `conference`: RFC 4579 makes the bridge the focus of
    /// every conference it hosts.
    pub(super) fn focus_contact(&self, conference: &str, transport: Transport) -> String {
        format!(
            "<sip:{conference}@{}{}>;isfocus",
            self.config.local_for(transport),
            transport.uri_param()
        )
    }

    pub(super) fn ok_with_sdp(&self, call: &Call, request: &Request, sdp: String) -> Bytes {
        let mut builder = ResponseBuilder::new(request, 200, Some(&call.dialog.local_tag))
            .header("Contact", &self.contact(call))
            .header("Allow", ALLOW)
            .header("Allow-Events", super::EVENT_PACKAGE)
            .header("Supported", "timer")
            .header("Server", &self.config.user_agent);
        if let Some(timer) = &call.timer {
            builder = builder.header("Session-Expires", &timer.header(true));
            if session_timer::supports_timer(&request.headers) {
                builder = builder.header("Require", "timer");
            }
        }
        builder.body("application/sdp", sdp).build().into()
    }

    /// The driver bound `local_rtp` for a call that asked for media: answer it (after the
    /// configured ring delay).
    pub fn media_ready(&mut self, now: Instant, id: CallId, local_rtp: SocketAddr) {
        if self.dialing.contains_key(&id) {
            return self.dial_media_ready(now, id, local_rtp);
        }
        let delay = self.config.answer_delay;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::AwaitingMedia || !self.txns.is_proceeding(&call.invite_key) {
            return; // cancelled or timed out meanwhile
        }
        call.local_rtp = Some(local_rtp);
        if delay.is_zero() {
            return self.answer(now, id);
        }
        call.state = CallState::Ringing;
        call.answer_at = Some(now + delay);
        let (key, invite, tag) = (
            call.invite_key.clone(),
            call.invite.clone(),
            call.dialog.local_tag.clone(),
        );
        let ringing = ResponseBuilder::new(&invite, 180, Some(&tag))
            .header("Contact", &self.contact(&self.calls[&id]))
            .build();
        self.txns.respond(now, &key, 180, ringing.into());
    }

    pub(super) fn answer(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(local_rtp) = call.local_rtp else {
            return;
        };
        call.answer_at = None;
        call.state = CallState::Answered;
        let crypto = call.srtp.as_ref().map(|s| &s.ours);
        let sdp = match &call.offer {
            Some(offer) => chorus_sdp::answer_with_crypto(
                offer,
                local_rtp,
                call.session_id,
                call.sdp_version,
                crypto,
            ),
            None => chorus_sdp::offer_with_crypto(
                local_rtp,
                call.session_id,
                call.sdp_version,
                &self.config.codecs,
                crypto,
            ),
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let data = self.ok_with_sdp(call, &call.invite, sdp);
        let key = call.invite_key.clone();
        let keys = call.srtp.as_ref().and_then(srtp::CallSrtp::keys);
        let started = call
            .offer
            .as_ref()
            .map(|offer| crate::media_of(offer, keys));
        call.span.in_scope(|| info!(%local_rtp, "answered"));
        self.txns.respond(now, &key, 200, data);
        self.stats.calls_answered += 1;
        if let Some(media) = started {
            self.start(now, id, media);
        }
    }

    /// No RTP socket could be bound for the call: refuse it with 503.
    pub fn media_failed(&mut self, now: Instant, id: CallId) {
        if self.dialing.contains_key(&id) {
            return self.cancel_dial(now, id);
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::AwaitingMedia {
            return;
        }
        let (key, invite, tag) = (
            call.invite_key.clone(),
            call.invite.clone(),
            call.dialog.local_tag.clone(),
        );
        warn!(%id, "no media port; refusing the call");
        self.stats.calls_rejected += 1;
        self.respond(now, &key, &invite, 503, Some(&tag));
        self.end(now, id, EndReason::MediaUnavailable);
    }

    pub(super) fn start(&mut self, now: Instant, id: CallId, media: MediaParams) {
        let ssrc = self.rng.u32(..);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.started = true;
        self.events.push_back(Event::CallStarted {
            call: id,
            conference: call.conference.clone(),
            media,
            ssrc,
            sip_call_id: call.dialog.call_id.clone(),
        });
        if call.invited {
            self.invited_joins(now, id);
        } else {
            self.enter(now, id);
        }
    }
}
