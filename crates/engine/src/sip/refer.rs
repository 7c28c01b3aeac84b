//! REFER (RFC 3515, RFC 4579 §5.5): a member asks the bridge to call someone into its
//! conference, typically the party of its other call, naming that call in `Replaces`
//! (RFC 3891) so that the party's phone swaps it for the call with the bridge. The bridge
//! answers 202, places the call like a `*8` invitation, and reports progress in NOTIFYs
//! carrying `message/sipfrag`.
//!
//! A member names the target, so the target is checked as a hostile input: an address
//! (the engine does no DNS) inside the networks allowed for direct targets, or a number
//! at the dial-out trunk's host under the `*8` policy; either way within the hourly caps. Embedded headers other than
//! `Replaces` are dropped, and `Replaces` must be printable (no header injection).

use super::dialout::Dialing;
use super::{CallId, CallState, Engine};
use chorus_sip_msg::ezk_sip_types::{Method, Name};
use chorus_sip_msg::{Essentials, Request, ResponseBuilder};
use chorus_sip_proto::{ServerKey, Transport};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::info;

/// How long a referred party may ring.
const REFER_RING_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest Refer-To value looked at.
const REFER_TO_MAX: usize = 1024;

/// The REFER a call was placed for: progress goes back to `referrer` as NOTIFY.
#[derive(Debug, Clone)]
pub(super) struct Referral {
    referrer: CallId,
    /// The REFER's CSeq, the `id` of its implicit subscription.
    event_id: u32,
}

/// A Refer-To, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTarget {
    /// The URI without its embedded headers: the INVITE's Request-URI.
    pub uri: String,
    /// The user part (a number for the trunk), possibly empty.
    pub user: String,
    /// The host as written.
    pub host: String,
    /// The port, when the URI names one.
    pub port: Option<u16>,
    /// From the URI's `transport` parameter (UDP unless it says TCP).
    pub transport: Transport,
    /// The decoded `Replaces` header to send (RFC 3891), if any: printable, no CR or LF.
    pub replaces: Option<String>,
}

/// Parses a Refer-To header value: `<sip:user@host:port;params?Replaces=...>` or a bare
/// URI. Errors say what is wrong, for the 400's reason phrase.
pub fn parse_refer_to(value: &str) -> Result<ReferTarget, &'static str> {
    if value.len() > REFER_TO_MAX {
        return Err("Refer-To too long");
    }
    let value = value.trim();
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        (None, None) => value.split(';').next().unwrap_or(value),
        _ => return Err("Malformed Refer-To"),
    };
    let (uri, headers) = inner.split_once('?').unwrap_or((inner, ""));
    // The URI becomes our Request-URI and To: nothing that could end a line or a field.
    if uri
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"'))
    {
        return Err("Malformed Refer-To URI");
    }
    let rest = uri
        .strip_prefix("sip:")
        .ok_or("Refer-To must be a sip: URI")?;
    let (user, hostport_params) = match rest.split_once('@') {
        Some((user, hp)) => (user, hp),
        None => ("", rest),
    };
    if user.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("Malformed Refer-To user");
    }
    let mut parts = hostport_params.split(';');
    let hostport = parts.next().unwrap_or_default();
    let mut transport = Transport::Udp;
    for param in parts {
        match param.to_ascii_lowercase().as_str() {
            "transport=tcp" => transport = Transport::Tcp,
            "transport=udp" => transport = Transport::Udp,
            p if p.starts_with("transport=") => return Err("Unsupported transport in Refer-To"),
            _ => {}
        }
    }
    let (host, port) = split_host_port(hostport)?;
    let mut replaces = None;
    for header in headers.split('&').filter(|h| !h.is_empty()) {
        let (name, raw) = header.split_once('=').ok_or("Malformed Refer-To header")?;
        if name.eq_ignore_ascii_case("replaces") {
            let decoded = percent_decode(raw).ok_or("Malformed Replaces")?;
            if decoded.is_empty() || decoded.len() > 512 || decoded.chars().any(char::is_control) {
                return Err("Malformed Replaces");
            }
            replaces = Some(decoded);
        }
    }
    Ok(ReferTarget {
        uri: uri.to_owned(),
        user: user.to_owned(),
        host: host.to_owned(),
        port,
        transport,
        replaces,
    })
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("Malformed Refer-To host")?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
    {
        return Err("Malformed Refer-To host");
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| "Malformed Refer-To port")?),
        None => None,
    };
    Ok((host, port))
}

/// `%XX` decoding; `None` for a broken escape or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Engine {
    /// A REFER inside a member's dialog.
    pub(super) fn handle_refer(
        &mut self,
        now: Instant,
        key: &ServerKey,
        request: &Request,
        essentials: &Essentials,
    ) {
        let Some((id, tag)) = self.accept_in_dialog(now, key, request, essentials) else {
            return;
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        // Only a member who called in may bring others in, as with *8.
        let allowed = call.state == CallState::Confirmed && call.member.is_some() && !call.invited;
        let (conference, referrer_uri) = (call.conference.clone(), call.caller.clone());
        let call_source = call.dialog.peer.ip();
        if !allowed {
            self.stats.dialout_refused += 1;
            return self.respond(now, key, request, 403, Some(&tag));
        }
        let targets: Vec<String> = request
            .headers
            .get_raw(&Name::REFER_TO)
            .map(|v| v.to_string())
            .collect();
        let target = match targets.as_slice() {
            [one] => parse_refer_to(one),
            _ => Err("Exactly one Refer-To"),
        };
        let target = match target {
            Ok(target) => target,
            Err(reason) => {
                let data = ResponseBuilder::with_reason(request, 400, reason, Some(&tag)).build();
                return self.txns.respond(now, key, 400, data.into());
            }
        };
        // Room first: a referral refused for lack of room must not use up the hourly caps.
        if !self.room_to_dial(&conference, id) {
            // One referral at a time per member; a locked or full conference takes none.
            let code = if self.is_dialing_for(id).is_some() {
                491
            } else {
                403
            };
            return self.respond(now, key, request, code, Some(&tag));
        }
        let Some(route) = self.refer_route(now, id, &target) else {
            self.stats.dialout_refused += 1;
            // A member can send these as fast as it likes: the log line is rate-limited.
            let source = call_source;
            self.log_refusal(now, source, "REFER to a target outside the policy", 403);
            return self.respond(now, key, request, 403, Some(&tag));
        };
        let contact = match self.calls.get(&id) {
            Some(call) => self.contact(call),
            None => return,
        };
        let data = ResponseBuilder::new(request, 202, Some(&tag))
            .header("Contact", &contact)
            .header("Server", &self.config.user_agent)
            .build();
        self.txns.respond(now, key, 202, data.into());

        let mut extra = format!("Referred-By: <{referrer_uri}>\r\n");
        if let Some(replaces) = &target.replaces {
            extra.push_str(&format!("Replaces: {replaces}\r\n"));
        }
        let from_uri = self.config.dialout.as_ref().map_or_else(
            || format!("sip:{conference}@{}", self.config.local_sip),
            |c| c.caller_id_template.replace("{extension}", &conference),
        );
        let referral = Referral {
            referrer: id,
            event_id: essentials.cseq.cseq,
        };
        info!(target = %target.uri, replaces = target.replaces.is_some(), "REFER accepted");
        self.notify_referral(now, &referral, 100, "Trying", false);
        let dial = Dialing::new(
            self,
            Some(id),
            conference,
            target.user.clone(),
            target.uri.clone(),
            from_uri,
            route,
            REFER_RING_TIMEOUT,
        )
        .with_referral(referral, extra);
        self.start_dialing(dial);
    }

    /// Where a referred call goes, or `None` when the policy forbids the target.
    fn refer_route(
        &mut self,
        now: Instant,
        referrer: CallId,
        target: &ReferTarget,
    ) -> Option<(SocketAddr, Transport)> {
        let conference = self.calls.get(&referrer)?.conference.clone();
        if let Ok(ip) = target.host.parse::<IpAddr>() {
            let allowed = self
                .config
                .refer_direct_networks
                .iter()
                .any(|n| n.contains(&ip))
                && self.dial_allowed_now(now, &conference);
            return allowed.then(|| {
                (
                    SocketAddr::new(ip, target.port.unwrap_or(5060)),
                    target.transport,
                )
            });
        }
        // A name: only the trunk's own host, for a number, under the *8 policy.
        let config = self.config.dialout.clone()?;
        let trunk_host = config
            .uri_template
            .split('@')
            .nth(1)
            .and_then(|h| h.split([':', ';', '>']).next())
            .unwrap_or_default();
        let number = &target.user;
        let is_number = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        if !is_number || !target.host.eq_ignore_ascii_case(trunk_host) {
            return None;
        }
        let source = self.calls.get(&referrer)?.dialog.peer.ip();
        let policy = &config.policy;
        let network_ok = policy.allowed_networks.is_empty()
            || policy.allowed_networks.iter().any(|n| n.contains(&source));
        if !network_ok
            || !config.digits.contains(&number.len())
            || !policy.permits_number(number)
            || !self.dial_allowed_now(now, &conference)
        {
            return None;
        }
        Some((config.destination, config.transport))
    }

    /// Reports a referred call's provisional response.
    pub(super) fn referral_progress(
        &mut self,
        now: Instant,
        dial: &Dialing,
        code: u16,
        reason: &str,
    ) {
        if let Some(referral) = dial.referral.clone() {
            self.notify_referral(now, &referral, code, reason, false);
        }
    }

    /// Reports a referred call's outcome and ends the implicit subscription.
    pub(super) fn referral_ended(&mut self, now: Instant, dial: &Dialing, code: u16, reason: &str) {
        if let Some(referral) = dial.referral.clone() {
            info!(code, "referred call finished");
            self.notify_referral(now, &referral, code, reason, true);
        }
    }

    fn notify_referral(
        &mut self,
        now: Instant,
        referral: &Referral,
        code: u16,
        reason: &str,
        terminated: bool,
    ) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(contact) = self.calls.get(&referral.referrer).map(|c| self.contact(c)) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&referral.referrer) else {
            return;
        };
        let local = self.config.local_for(call.dialog.transport);
        let state = if terminated {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        // A reason phrase from the far end is only copied when it is plain text.
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let headers = format!(
            "Event: refer;id={}\r\nSubscription-State: {state}\r\nContact: {contact}\r\n",
            referral.event_id
        );
        let body = format!("SIP/2.0 {code} {reason}\r\n");
        let data = call.dialog.request_with_body(
            "NOTIFY",
            &branch,
            local,
            &headers,
            "message/sipfrag;version=2.0",
            &body,
        );
        let (transport, peer) = (call.dialog.transport, call.dialog.peer);
        self.txns
            .send_request(now, &branch, Method::NOTIFY, transport, peer, data.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_values_are_taken_apart() {
        let t = parse_refer_to(
            "<sip:bob@127.0.0.1:5090?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>",
        )
        .expect("valid");
        assert_eq!(t.uri, "sip:bob@127.0.0.1:5090");
        assert_eq!(t.user, "bob");
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, Some(5090));
        assert_eq!(t.replaces.as_deref(), Some("abc@host;to-tag=1;from-tag=2"));
        let t = parse_refer_to("<sip:7001@trunk.example;transport=tcp>").expect("params");
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("7001", "trunk.example", None)
        );
        assert_eq!(t.transport, Transport::Tcp);
        // Without angle brackets, what follows `;` belongs to the header, not the URI.
        let t = parse_refer_to("sip:bob@127.0.0.1;transport=tcp").expect("bare");
        assert_eq!(
            (t.uri.as_str(), t.transport),
            ("sip:bob@127.0.0.1", Transport::Udp)
        );
        let t = parse_refer_to("\"Bob\" <sip:[::1]:5070>").expect("v6");
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(5070)));
    }

    #[test]
    fn hostile_refer_to_values_are_refused() {
        for bad in [
            "<sips:bob@127.0.0.1>",
            "<tel:+15551234>",
            "<sip:bob@127.0.0.1?Replaces=a%0D%0AVia:%20evil>",
            "<sip:bob@127.0.0.1?Replaces=%zz>",
            "<sip:bob@127.0.0.1:99999>",
            "<sip:bob@127.0.0.1;transport=tls>",
            "<sip:bob@>",
            "<sip:bob@127.0.0.1",
            "<sip:b\u{1}ob@127.0.0.1>",
            // Found by the fuzzer: CRs in a URI parameter would have reached the INVITE.
            "\"Bob\" <sip:7001]@tr.example;transpo\r\r\r\r\r\rrt\u{d1}?eqre=replaces&Repces=x>",
            "<sip:bob@127.0.0.1;x=a b>",
            "<sip:bob@127.0.0.1;x=\"<sip:evil>\">",
        ] {
            assert!(parse_refer_to(bad).is_err(), "{bad}");
        }
        assert!(parse_refer_to(&format!("<sip:{}@127.0.0.1>", "1".repeat(2000))).is_err());
    }
}
