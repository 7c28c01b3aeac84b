//! Dialog state (RFC 3261 §12) for the server side of a call, and the in-dialog requests
//! it sends (BYE).

use crate::Transport;
use chorus_sip_msg::{Essentials, Request, Response};
use ezk_sip_types::Name;
use std::fmt::Write;
use std::net::SocketAddr;

/// One dialog, created by the bridge's 2xx to an INVITE.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (the To tag of our responses).
    pub local_tag: String,
    /// The caller's From tag.
    pub remote_tag: String,
    /// Our address of record as the caller wrote it in To, without tag.
    local_party: String,
    /// The caller's From value (with its tag).
    remote_party: String,
    /// The caller's Contact URI: the Request-URI of our requests.
    pub remote_target: String,
    /// Record-Route values, in the order they become Route headers.
    pub route_set: Vec<String>,
    /// Our next CSeq.
    local_cseq: u32,
    /// The highest CSeq the caller has used.
    remote_cseq: u32,
    /// Transport of the flow the INVITE came on.
    pub transport: Transport,
    /// The flow's peer. In-dialog requests go back along it, which reaches the caller
    /// (or its proxy) through NAT without DNS.
    pub peer: SocketAddr,
}

/// Removes the `tag` parameter from a raw From/To value.
pub fn strip_tag(value: &str) -> String {
    let (head, params) = match value.rfind('>') {
        Some(end) => value.split_at(end + 1),
        None => match value.find(';') {
            Some(at) => value.split_at(at),
            None => (value, ""),
        },
    };
    let mut out = head.trim().to_owned();
    for param in params.split(';').skip(1) {
        let name = param.split('=').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("tag") {
            out.push(';');
            out.push_str(param.trim());
        }
    }
    out
}

/// The URI inside a name-addr (`"Name" <sip:u@h>;p`) or addr-spec (`sip:u@h;p`).
pub fn uri_from_name_addr(value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(open) = value.find('<') {
        let close = value[open..].find('>')? + open;
        return Some(value[open + 1..close].trim().to_owned());
    }
    let uri = value.split(';').next()?.trim();
    (!uri.is_empty()).then(|| uri.to_owned())
}

/// Splits a header value on commas that are not inside `<>` or quotes.
fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(value[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim().to_owned());
    out.retain(|s| !s.is_empty());
    out
}

impl Dialog {
    /// The dialog a 2xx to `invite` creates on the server side.
    pub fn new_uas(
        invite: &Request,
        essentials: &Essentials,
        local_tag: &str,
        transport: Transport,
        peer: SocketAddr,
    ) -> Dialog {
        let raw = |name: &Name| invite.header(name).unwrap_or("").trim().to_owned();
        let remote_target = invite
            .header(&Name::CONTACT)
            .and_then(uri_from_name_addr)
            .unwrap_or_else(|| uri_from_name_addr(&raw(&Name::FROM)).unwrap_or_default());
        let route_set = invite
            .headers
            .get_raw(&Name::RECORD_ROUTE)
            .flat_map(|v| split_list(v))
            .collect();
        Dialog {
            call_id: essentials.call_id.clone(),
            local_tag: local_tag.to_owned(),
            remote_tag: essentials.from.tag.as_deref().unwrap_or("").to_owned(),
            local_party: strip_tag(&raw(&Name::TO)),
            remote_party: raw(&Name::FROM),
            remote_target,
            route_set,
            local_cseq: 0,
            remote_cseq: essentials.cseq.cseq,
            transport,
            peer,
        }
    }

    /// The dialog a 2xx to our INVITE creates on the client side (§12.1.2): `local_party`
    /// is our From without tag, `ok` the 2xx, `invite_cseq` the INVITE's CSeq.
    pub fn new_uac(
        ok: &Response,
        essentials: &Essentials,
        local_party: &str,
        local_tag: &str,
        invite_cseq: u32,
        transport: Transport,
        peer: SocketAddr,
    ) -> Dialog {
        let remote_target = ok
            .headers
            .get_raw(&Name::CONTACT)
            .next()
            .and_then(|c| uri_from_name_addr(c))
            .unwrap_or_else(|| essentials.to.uri.clone());
        // A UAC's route set is the Record-Route in reverse (§12.1.2).
        let mut route_set: Vec<String> = ok
            .headers
            .get_raw(&Name::RECORD_ROUTE)
            .flat_map(|v| split_list(v))
            .collect();
        route_set.reverse();
        Dialog {
            call_id: essentials.call_id.clone(),
            local_tag: local_tag.to_owned(),
            remote_tag: essentials.to.tag.clone().unwrap_or_default(),
            local_party: local_party.to_owned(),
            remote_party: ok
                .headers
                .get_raw(&Name::TO)
                .next()
                .map(|t| t.trim().to_owned())
                .unwrap_or_default(),
            remote_target,
            route_set,
            local_cseq: invite_cseq,
            remote_cseq: 0,
            transport,
            peer,
        }
    }

    /// The ACK for a 2xx to our INVITE with CSeq `invite_cseq` (§13.2.2.4).
    pub fn ack(&self, branch: &str, local: SocketAddr, invite_cseq: u32) -> Vec<u8> {
        self.build("ACK", branch, local, invite_cseq)
    }

    /// Checks an in-dialog request's CSeq (§12.2.2): `false` means it is out of order and
    /// must get a 500.
    pub fn accept_remote_cseq(&mut self, cseq: u32, is_ack_or_cancel: bool) -> bool {
        if is_ack_or_cancel {
            return true;
        }
        if cseq <= self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// A re-INVITE's Contact may move the far end.
    pub fn update_target(&mut self, request: &Request) {
        if let Some(uri) = request.header(&Name::CONTACT).and_then(uri_from_name_addr) {
            self.remote_target = uri;
        }
    }

    /// Writes an in-dialog request with a fresh CSeq. `local` is the address written in Via.
    pub fn request(&mut self, method: &str, branch: &str, local: SocketAddr) -> Vec<u8> {
        self.local_cseq = self.local_cseq.max(1) + u32::from(self.local_cseq != 0);
        self.build(method, branch, local, self.local_cseq)
    }

    /// Writes an in-dialog request with a fresh CSeq, extra header lines (each ending in
    /// CRLF) and a body.
    pub fn request_with_body(
        &mut self,
        method: &str,
        branch: &str,
        local: SocketAddr,
        headers: &str,
        content_type: &str,
        body: &str,
    ) -> Vec<u8> {
        self.local_cseq = self.local_cseq.max(1) + u32::from(self.local_cseq != 0);
        let mut text = String::from_utf8(self.build(method, branch, local, self.local_cseq))
            .unwrap_or_default();
        let tail = "Content-Length: 0\r\n\r\n";
        if text.ends_with(tail) {
            text.truncate(text.len() - tail.len());
        }
        let _ = write!(
            text,
            "{headers}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        text.into_bytes()
    }

    fn build(&self, method: &str, branch: &str, local: SocketAddr, cseq: u32) -> Vec<u8> {
        let mut text = format!(
            "{method} {} SIP/2.0\r\nVia: SIP/2.0/{} {local};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            self.remote_target,
            self.transport.via_token()
        );
        for route in &self.route_set {
            let _ = write!(text, "Route: {route}\r\n");
        }
        let _ = write!(
            text,
            "From: {};tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            self.local_party, self.local_tag, self.remote_party, self.call_id
        );
        text.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_sip_msg::{Message, parse};

    #[test]
    fn bye_from_uas_swaps_parties_and_uses_route_set() {
        let text = "INVITE sip:500@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\nFrom: \"Alice\" <sip:a@h>;tag=1\r\nTo: <sip:500@h>\r\nCall-ID: c\r\nCSeq: 5 INVITE\r\nContact: <sip:a@127.0.0.1:5070;transport=udp>\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Request(req)) = parse(text.as_bytes()) else {
            panic!("parse");
        };
        let ess = req.essentials().expect("ess");
        let peer = "127.0.0.1:5070".parse().expect("addr");
        let mut d = Dialog::new_uas(&req, &ess, "ours", Transport::Udp, peer);
        assert!(!d.accept_remote_cseq(5, false));
        assert!(d.accept_remote_cseq(6, false));
        let bye = d.request("BYE", "z9hG4bKb", "127.0.0.1:5060".parse().expect("addr"));
        let Ok(Message::Request(bye)) = parse(&bye) else {
            panic!("reparse");
        };
        assert_eq!(bye.uri, "sip:a@127.0.0.1:5070;transport=udp");
        let ess = bye.essentials().expect("ess");
        assert_eq!(ess.from.tag.as_deref(), Some("ours"));
        assert_eq!(ess.to.tag.as_deref(), Some("1"));
        assert_eq!(ess.cseq.cseq, 1);
        assert_eq!(bye.headers.get_raw(&Name::ROUTE).len(), 2);
        let second = d.request("BYE", "z9hG4bKc", "127.0.0.1:5060".parse().expect("addr"));
        assert!(String::from_utf8_lossy(&second).contains("CSeq: 2 BYE"));
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_tag("<sip:a@h>;tag=1;x=2"), "<sip:a@h>;x=2");
        assert_eq!(strip_tag("sip:a@h;tag=1"), "sip:a@h");
        assert_eq!(
            uri_from_name_addr("\"A, B\" <sip:a@h;lr>;x").as_deref(),
            Some("sip:a@h;lr")
        );
        assert_eq!(split_list("<sip:a,b>, <sip:c>").len(), 2);
    }
}
