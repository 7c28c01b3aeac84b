//! RFC 4028 session timers: a call whose far end vanished without a BYE (and sends no media
//! either, e.g. on hold) still ends. One side, the refresher, sends a re-INVITE every half
//! interval; the other hangs up when no refresh came before the interval runs out. The
//! bridge takes either role, as UAS for callers and as UAC for invited numbers.

use super::{CallId, CallState, EndReason, Engine, Event};
use bytes::Bytes;
use chorus_sip_msg::ezk_sip_types::{Method, Name};
use chorus_sip_msg::{Essentials, Request, Response};
use chorus_sip_proto::{ClientKey, ClientMatch};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// The smallest interval accepted (RFC 4028 §4: at least 90 s).
pub(super) const MIN_SE: u32 = 90;
/// How long to wait before trying a refresh again after 491 (glare).
const GLARE_RETRY: Duration = Duration::from_secs(3);

/// Who sends the refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn token(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A `Session-Expires` value: seconds and the refresher parameter, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionExpires {
    pub(super) seconds: u32,
    pub(super) refresher: Option<Refresher>,
}

/// Parses `Session-Expires: 1800;refresher=uac` (RFC 4028 §4). `None` when malformed.
pub(super) fn parse_session_expires(value: &str) -> Option<SessionExpires> {
    let mut parts = value.split(';');
    let seconds = parts.next()?.trim().parse::<u32>().ok()?;
    let mut refresher = None;
    for param in parts {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("refresher") {
            refresher = match val.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(Refresher::Uac),
                "uas" => Some(Refresher::Uas),
                _ => return None,
            };
        }
    }
    Some(SessionExpires { seconds, refresher })
}

/// Whether a request or response lists `timer` in Supported or Require.
pub(super) fn supports_timer(headers: &chorus_sip_msg::ezk_sip_types::Headers) -> bool {
    [Name::SUPPORTED, Name::REQUIRE].iter().any(|name| {
        headers
            .get_raw(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("timer"))
    })
}

/// One call's session timer.
#[derive(Debug, Clone)]
pub(super) struct SessionTimer {
    interval: Duration,
    /// The bridge sends the refreshes.
    we_refresh: bool,
    /// The last refresh (sent and answered, or received).
    refreshed_at: Instant,
    /// Our refresh re-INVITE in flight.
    pending: Option<ClientKey>,
    /// Not before this (after 491).
    retry_at: Option<Instant>,
}

impl SessionTimer {
    pub(super) fn new(now: Instant, seconds: u32, we_refresh: bool) -> Self {
        SessionTimer {
            interval: Duration::from_secs(u64::from(seconds)),
            we_refresh,
            refreshed_at: now,
            pending: None,
            retry_at: None,
        }
    }

    /// The header value for a message that sets this timer, in which the bridge is the
    /// UAS (`we_are_uas`) or the UAC of the transaction.
    pub(super) fn header(&self, we_are_uas: bool) -> String {
        let refresher = match (self.we_refresh, we_are_uas) {
            (true, true) | (false, false) => Refresher::Uas,
            _ => Refresher::Uac,
        };
        format!(
            "{};refresher={}",
            self.interval.as_secs(),
            refresher.token()
        )
    }

    /// When something must happen: our refresh is due, or the far end's is overdue.
    pub(super) fn deadline(&self) -> Option<Instant> {
        if self.pending.is_some() {
            return None;
        }
        if self.we_refresh {
            Some(
                self.retry_at
                    .unwrap_or(self.refreshed_at + self.interval / 2),
            )
        } else {
            // §10: BYE a little before expiry, leaving time for it to arrive.
            let margin = Duration::from_secs(32).min(self.interval / 3);
            Some(self.refreshed_at + self.interval - margin)
        }
    }

    pub(super) fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    pub(super) fn refreshed(&mut self, now: Instant) {
        self.refreshed_at = now;
        self.retry_at = None;
    }
}

/// How the UAS side sets a caller's timer from its INVITE; `Err(422)` when the interval
/// asked for is below our minimum.
pub(super) fn for_incoming(
    now: Instant,
    invite: &Request,
    ours: Duration,
) -> Result<Option<SessionTimer>, u16> {
    let asked = invite
        .header(&Name::SESSION_EXPIRES)
        .and_then(parse_session_expires);
    if let Some(asked) = asked
        && asked.seconds < MIN_SE
    {
        return Err(422);
    }
    let ours = u32::try_from(ours.as_secs()).unwrap_or(u32::MAX);
    if ours == 0 && asked.is_none() {
        return Ok(None);
    }
    let seconds = asked.map_or(ours, |a| a.seconds).max(MIN_SE);
    // A caller that cannot refresh (no `timer` support) leaves it to us; otherwise its
    // choice stands, and without one we refresh.
    let we_refresh =
        !supports_timer(&invite.headers) || asked.and_then(|a| a.refresher) != Some(Refresher::Uac);
    Ok(Some(SessionTimer::new(now, seconds, we_refresh)))
}

/// How the UAC side sets an invited leg's timer from the 2xx.
pub(super) fn for_answered(now: Instant, ok: &Response) -> Option<SessionTimer> {
    let granted = ok
        .headers
        .get_raw(&Name::SESSION_EXPIRES)
        .next()
        .and_then(|v| parse_session_expires(v))?;
    let we_refresh = granted.refresher != Some(Refresher::Uas);
    Some(SessionTimer::new(
        now,
        granted.seconds.max(MIN_SE),
        we_refresh,
    ))
}

impl Engine {
    /// Deadlines of every session timer.
    pub(super) fn session_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter(|c| c.state == CallState::Confirmed)
            .filter_map(|c| c.timer.as_ref().and_then(SessionTimer::deadline))
            .min()
    }

    pub(super) fn handle_session_timeouts(&mut self, now: Instant) {
        let due: Vec<(CallId, bool)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.state == CallState::Confirmed)
            .filter_map(|(id, c)| {
                let timer = c.timer.as_ref()?;
                (timer.deadline()? <= now).then_some((*id, timer.we_refresh))
            })
            .collect();
        for (id, we_refresh) in due {
            if we_refresh {
                self.send_refresh(now, id);
            } else {
                if let Some(c) = self.calls.get(&id) {
                    c.span
                        .in_scope(|| info!("session expired without a refresh; hanging up"));
                }
                self.hangup_because(now, id, EndReason::SessionExpired);
            }
        }
    }

    /// Sends a refresh re-INVITE offering the codec in use.
    fn send_refresh(&mut self, now: Instant, id: CallId) {
        let branch = format!("z9hG4bK{}", self.token());
        let contact = match self.calls.get(&id) {
            Some(call) => self.contact(call),
            None => return,
        };
        let codecs = self.config.codecs.clone();
        let user_agent = self.config.user_agent.clone();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(local_rtp), Some(timer)) = (call.local_rtp, call.timer.as_ref()) else {
            return;
        };
        let local_sip = self.config.local_for(call.dialog.transport);
        // In our own re-INVITE we are the UAC, whichever side began the call.
        let session_expires = timer.header(false);
        let in_use: Vec<chorus_types::Codec> = match &call.offer {
            Some(neg) => vec![neg.codec],
            None => codecs,
        };
        call.sdp_version += 1;
        // An encrypted call offers its key again: the refresh changes nothing.
        let sdp = chorus_sdp::offer_with_crypto(
            local_rtp,
            call.session_id,
            call.sdp_version,
            &in_use,
            call.srtp.as_ref().map(|s| &s.ours),
        );
        let headers = format!(
            "Contact: {contact}\r\nSession-Expires: {session_expires}\r\nMin-SE: {MIN_SE}\r\nSupported: timer\r\nUser-Agent: {user_agent}\r\n"
        );
        let data = call.dialog.request_with_body(
            "INVITE",
            &branch,
            local_sip,
            &headers,
            "application/sdp",
            &sdp,
        );
        let (transport, peer) = (call.dialog.transport, call.dialog.peer);
        call.span.in_scope(|| debug!("refreshing the session"));
        let key = self.txns.send_request(
            now,
            &branch,
            Method::INVITE,
            transport,
            peer,
            Bytes::from(data),
        );
        if let Some(timer) = self.calls.get_mut(&id).and_then(|c| c.timer.as_mut()) {
            timer.pending = Some(key.clone());
        }
        self.refreshes.insert(key, (id, branch));
    }

    /// A response to one of our refreshes; `false` when it is not one.
    pub(super) fn handle_refresh_response(
        &mut self,
        now: Instant,
        matched: &ClientMatch,
        response: &Response,
        essentials: &Essentials,
    ) -> bool {
        let (ClientMatch::New(key) | ClientMatch::Retransmission(key)) = matched;
        let Some((id, branch)) = self.refreshes.get(key).cloned() else {
            return false;
        };
        let code = response.code;
        if code < 200 {
            return true;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            self.refreshes.remove(key);
            return true;
        };
        let local_sip = self.config.local_for(call.dialog.transport);
        let cseq = essentials.cseq.cseq;
        if code >= 300 {
            // The ACK of a non-2xx is part of the INVITE transaction: same branch.
            let ack = call.dialog.ack(&branch, local_sip, cseq);
            let (transport, peer) = (call.dialog.transport, call.dialog.peer);
            self.stateless.push_back(chorus_sip_proto::Transmit {
                transport,
                destination: peer,
                data: ack.into(),
            });
            if let ClientMatch::Retransmission(_) = matched {
                return true;
            }
        }
        self.refreshes.remove(key);
        let Some(call) = self.calls.get_mut(&id) else {
            return true;
        };
        if let Some(timer) = call.timer.as_mut() {
            timer.pending = None;
        }
        match code {
            200..=299 => {
                let ack_branch = format!("z9hG4bK{}", self.rng.u64(..));
                let ack = Bytes::from(call.dialog.ack(&ack_branch, local_sip, cseq));
                call.ack = Some(ack.clone());
                self.stateless.push_back(chorus_sip_proto::Transmit {
                    transport: call.dialog.transport,
                    destination: call.dialog.peer,
                    data: ack,
                });
                if let Some(timer) = call.timer.as_mut() {
                    timer.refreshed(now);
                    if let Some(granted) = response
                        .headers
                        .get_raw(&Name::SESSION_EXPIRES)
                        .next()
                        .and_then(|v| parse_session_expires(v))
                    {
                        timer.interval =
                            Duration::from_secs(u64::from(granted.seconds.max(MIN_SE)));
                    }
                }
                let answer = String::from_utf8_lossy(&response.body).into_owned();
                if let Ok(neg) = chorus_sdp::negotiate_answer(&answer, &self.config.codecs) {
                    let srtp = match &call.srtp {
                        Some(srtp) => match srtp.answered(&neg) {
                            Some(answered) => Some(answered),
                            // No key in the answer: the media stays as it was.
                            None => return true,
                        },
                        None => None,
                    };
                    let media = crate::media_of(&neg, srtp.as_ref().and_then(|s| s.keys()));
                    call.srtp = srtp;
                    call.offer = Some(neg);
                    self.events
                        .push_back(Event::MediaChanged { call: id, media });
                }
            }
            491 => {
                if let Some(timer) = call.timer.as_mut() {
                    timer.retry_at = Some(now + GLARE_RETRY);
                }
            }
            408 | 481 => {
                call.span
                    .in_scope(|| warn!(code, "session refresh failed; hanging up"));
                self.hangup_because(now, id, EndReason::SessionExpired);
            }
            _ => {
                // The session stands until it expires; the far end may refresh it yet.
                call.span
                    .in_scope(|| info!(code, "session refresh refused; the session goes on"));
                if let Some(timer) = call.timer.as_mut() {
                    timer.we_refresh = false;
                }
            }
        }
        true
    }

    /// Our refresh got no answer at all (Timer B): the far end is gone.
    pub(super) fn refresh_timed_out(&mut self, now: Instant, key: &ClientKey) -> bool {
        let Some((id, _)) = self.refreshes.remove(key) else {
            return false;
        };
        if let Some(call) = self.calls.get(&id) {
            call.span
                .in_scope(|| warn!("session refresh unanswered; hanging up"));
        }
        self.hangup_because(now, id, EndReason::SessionExpired);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_values() {
        assert_eq!(
            parse_session_expires("1800;refresher=uac"),
            Some(SessionExpires {
                seconds: 1800,
                refresher: Some(Refresher::Uac)
            })
        );
        assert_eq!(
            parse_session_expires(" 90 ; REFRESHER = UAS"),
            Some(SessionExpires {
                seconds: 90,
                refresher: Some(Refresher::Uas)
            })
        );
        assert_eq!(
            parse_session_expires("600"),
            Some(SessionExpires {
                seconds: 600,
                refresher: None
            })
        );
        for bad in ["", "x", "-5", "1800;refresher=me", "99999999999"] {
            assert_eq!(parse_session_expires(bad), None, "{bad}");
        }
    }

    #[test]
    fn deadlines() {
        let now = Instant::now();
        let ours = SessionTimer::new(now, 1800, true);
        assert_eq!(ours.deadline(), Some(now + Duration::from_secs(900)));
        assert_eq!(ours.header(true), "1800;refresher=uas");
        assert_eq!(ours.header(false), "1800;refresher=uac");
        let theirs = SessionTimer::new(now, 90, false);
        assert_eq!(theirs.deadline(), Some(now + Duration::from_secs(60)));
    }
}
