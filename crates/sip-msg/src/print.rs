//! Printing responses (RFC 3261 §8.2.6) from the raw headers of the request they answer.

use crate::Request;
use ezk_sip_types::Name;
use std::fmt::Write;

/// The standard reason phrase for the codes the bridge sends.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// Builds a response to a request, copying Via, From, To, Call-ID and CSeq as they came.
#[derive(Debug)]
pub struct ResponseBuilder {
    text: String,
    body: Option<(String, Vec<u8>)>,
}

impl ResponseBuilder {
    /// Starts a response with `code` and the standard reason phrase. `to_tag` is added to
    /// the To header when it has none (every response but 100 needs one).
    pub fn new(request: &Request, code: u16, to_tag: Option<&str>) -> Self {
        Self::with_reason(request, code, reason_phrase(code), to_tag)
    }

    /// Like [`ResponseBuilder::new`] with a custom reason phrase (CR/LF are removed).
    pub fn with_reason(request: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
        let mut text = format!("SIP/2.0 {code} {reason}\r\n");
        for via in request.headers.get_raw(&Name::VIA) {
            let _ = write!(text, "Via: {via}\r\n");
        }
        if let Some(from) = request.header(&Name::FROM) {
            let _ = write!(text, "From: {from}\r\n");
        }
        if let Some(to) = request.header(&Name::TO) {
            match to_tag {
                Some(tag) if code != 100 && !has_tag(to) => {
                    let _ = write!(text, "To: {to};tag={tag}\r\n");
                }
                _ => {
                    let _ = write!(text, "To: {to}\r\n");
                }
            }
        }
        if let Some(call_id) = request.header(&Name::CALL_ID) {
            let _ = write!(text, "Call-ID: {}\r\n", call_id.trim());
        }
        if let Some(cseq) = request.header(&Name::CSEQ) {
            let cseq: Vec<&str> = cseq.split_whitespace().collect();
            let _ = write!(text, "CSeq: {}\r\n", cseq.join(" "));
        }
        if (101..300).contains(&code) {
            for rr in request.headers.get_raw(&Name::RECORD_ROUTE) {
                let _ = write!(text, "Record-Route: {rr}\r\n");
            }
        }
        ResponseBuilder { text, body: None }
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }

    /// Finishes the message with Content-Length.
    pub fn build(self) -> Vec<u8> {
        finish(self.text, self.body)
    }
}

/// Appends Content-Type, Content-Length and the body to a start line plus headers.
pub(crate) fn finish(mut text: String, body: Option<(String, Vec<u8>)>) -> Vec<u8> {
    match body {
        Some((content_type, body)) => {
            let _ = write!(
                text,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let mut out = text.into_bytes();
            out.extend_from_slice(&body);
            out
        }
        None => {
            text.push_str("Content-Length: 0\r\n\r\n");
            text.into_bytes()
        }
    }
}

/// Whether a raw From/To value carries a `tag` parameter outside its URI.
fn has_tag(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(end) => &value[end..],
        None => value,
    };
    params.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, parse};

    #[test]
    fn response_copies_headers_and_adds_tag() {
        let text = "BYE sip:500@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=x\r\nTo: <sip:500@h>\r\nCall-ID: c1\r\nCSeq:   7    BYE\r\nContent-Length: 0\r\n\r\n";
        let Ok(Message::Request(req)) = parse(text.as_bytes()) else {
            panic!("parse");
        };
        let out = ResponseBuilder::new(&req, 200, Some("t9")).build();
        let Ok(Message::Response(resp)) = parse(&out) else {
            panic!("reparse");
        };
        let ess = resp.essentials().expect("ess");
        assert_eq!(ess.via.len(), 2);
        assert_eq!(ess.to.tag.as_deref(), Some("t9"));
        assert_eq!(ess.cseq.cseq, 7);
        assert!(String::from_utf8_lossy(&out).contains("CSeq: 7 BYE\r\n"));
    }

    #[test]
    fn existing_tag_is_kept() {
        assert!(has_tag("<sip:a@h>;tag=1"));
        assert!(!has_tag("<sip:a@h;tag=1>"));
        assert!(has_tag("sip:a@h ; TAG = 1"));
    }
}
