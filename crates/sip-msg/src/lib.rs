//! SIP messages (RFC 3261 §7, §20): parse a datagram or a framed stream message into a
//! [`Request`] or [`Response`], and print responses and requests back to bytes.
//!
//! Parsing is split in two steps so that a bad message can still be answered:
//! [`parse`] splits the start line, headers (folded lines, compact names, any case) and body
//! (checked against Content-Length), then [`Request::essentials`] decodes the headers every
//! transaction needs. When that second step fails, [`Request::can_be_answered`] says whether
//! the raw Via, From, To, Call-ID and CSeq are there to build a `400` from.
//!
//! Header grammar is delegated to `ezk-sip-types` (its line splitter, header map and typed
//! headers); this crate adds the message-level rules it leaves out: Content-Length, required
//! headers, the SIP version, stream framing and response printing.
//!
//! Nothing here panics on input; every failure is a [`ParseError`] naming what is wrong.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod framer;
mod print;

pub use framer::{FrameError, StreamFramer};
pub use print::{ResponseBuilder, reason_phrase};

use bytes::Bytes;
use ezk_sip_types::header::typed::{CSeq, CallID, Contact, Routing, Via};
use ezk_sip_types::msg::{Line, PullParser};
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name};
use std::str::FromStr;

pub use ezk_sip_types;

/// The largest message accepted; anything longer is refused before parsing.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Why a message could not be parsed. The text is fit for a `400` reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not even a start line and headers could be found.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// The start line does not follow the grammar.
    #[error("bad start line")]
    StartLine,
    /// A version other than SIP/2.0.
    #[error("unsupported SIP version")]
    Version,
    /// The Request-URI is not an absolute URI (or a SIP URI carries headers).
    #[error("bad Request-URI")]
    RequestUri,
    /// A header line could not be split into name and value.
    #[error("bad header line")]
    HeaderLine,
    /// A header the message needs is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header is present but does not follow its grammar.
    #[error("bad {0} header")]
    BadHeader(&'static str),
    /// The body is shorter than Content-Length says.
    #[error("body shorter than Content-Length")]
    ShortBody,
    /// The message is larger than [`MAX_MESSAGE_LEN`].
    #[error("message too large")]
    TooLarge,
}

/// A parsed SIP message.
#[derive(Debug, Clone)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// A SIP request with its headers in raw form.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, including extension methods.
    pub method: Method,
    /// The Request-URI as written.
    pub uri: String,
    /// All headers, looked up by name (long or compact, any case).
    pub headers: Headers,
    /// The body, exactly Content-Length bytes long.
    pub body: Bytes,
}

/// A SIP response with its headers in raw form.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code, 100 to 699.
    pub code: u16,
    /// Reason phrase, possibly empty.
    pub reason: String,
    /// All headers.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// The decoded headers every request or response needs for transactions and dialogs.
#[derive(Debug, Clone)]
pub struct Essentials {
    /// Via values, topmost first.
    pub via: Vec<Via>,
    /// From.
    pub from: Party,
    /// To.
    pub to: Party,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number and method.
    pub cseq: CSeq,
    /// Max-Forwards, when present.
    pub max_forwards: Option<u32>,
    /// First Contact, when present and parseable.
    pub contact: Option<Contact>,
    /// Record-Route values, in message order.
    pub record_route: Vec<Routing>,
}

/// A From or To header: its URI and tag (RFC 3261 §20.20, §20.39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The URI, without angle brackets or parameters.
    pub uri: String,
    /// The `tag` parameter.
    pub tag: Option<String>,
}

impl Party {
    /// Parses a From/To value; `None` when it breaks the name-addr grammar.
    pub fn parse(value: &str) -> Option<Party> {
        let value = value.trim();
        if !valid_name_addr(value) {
            return None;
        }
        let (uri, params) = match find_unquoted(value, '<') {
            Some(open) => {
                let close = value[open..].find('>')? + open;
                (&value[open + 1..close], &value[close + 1..])
            }
            // In addr-spec form everything after the first `;` is a header parameter.
            None => value.split_at(value.find(';').unwrap_or(value.len())),
        };
        // No whitespace inside `<>` (RFC 4475 §3.1.2.13); addr-spec form may be padded.
        let uri = if find_unquoted(value, '<').is_some() {
            uri
        } else {
            uri.trim()
        };
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return None;
        }
        let (scheme, _) = uri.split_once(':')?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return None;
        }
        let mut tag = None;
        let params = params.trim();
        if !params.is_empty() {
            let params = params.strip_prefix(';')?;
            for param in params.split(';') {
                let (name, val) = match param.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim())),
                    None => (param.trim(), None),
                };
                if name.is_empty() || !name.bytes().all(is_token_char) {
                    return None;
                }
                if name.eq_ignore_ascii_case("tag") {
                    let val = val.filter(|v| !v.is_empty() && v.bytes().all(is_token_char))?;
                    tag = Some(val.to_owned());
                }
            }
        }
        Some(Party {
            uri: uri.to_owned(),
            tag,
        })
    }
}

fn find_unquoted(value: &str, wanted: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && c == wanted {
            return Some(i);
        }
    }
    None
}

impl Essentials {
    /// The `branch` parameter of the topmost Via.
    pub fn branch(&self) -> Option<&str> {
        self.via
            .first()
            .and_then(|via| via.params.get_val("branch"))
            .map(|b| b.as_str())
    }
}

/// Parses one whole message: a UDP datagram or a message cut by [`StreamFramer`].
///
/// Octets after Content-Length bytes of body are ignored (RFC 3261 §18.3); a missing
/// Content-Length takes the rest of the datagram as the body.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    parse_inner(data, false)
}

/// After [`parse`] failed, recovers as much of a request as is needed to answer it: the
/// version and Content-Length are not checked. Returns `None` for responses and for input
/// without a recognisable request line and headers.
pub fn parse_for_reply(data: &[u8]) -> Option<Request> {
    match parse_inner(data, true) {
        Ok(Message::Request(request)) => Some(request),
        _ => None,
    }
}

fn parse_inner(data: &[u8], lenient: bool) -> Result<Message, ParseError> {
    if data.len() > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLarge);
    }
    // Keep-alive CRLFs (RFC 5626) and stray leading blank lines are not a message start.
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(ParseError::Malformed("empty"))?;
    let src = Bytes::copy_from_slice(&data[start..]);

    let mut lines = PullParser::new(&src, 0);
    let first = match lines.next() {
        Some(Ok(line)) => line,
        _ => return Err(ParseError::Malformed("no complete start line")),
    };
    let first = std::str::from_utf8(first).map_err(|_| ParseError::StartLine)?;

    let mut headers = Headers::new();
    for line in lines.by_ref() {
        let line = line.map_err(|_| ParseError::Malformed("incomplete header section"))?;
        let text = std::str::from_utf8(line).map_err(|_| ParseError::HeaderLine)?;
        let (_, parsed) = Line::parse(&src, text).map_err(|_| ParseError::HeaderLine)?;
        if parsed.name.as_print_str().is_empty() {
            return Err(ParseError::HeaderLine);
        }
        // A folded line is one space (RFC 3261 §7.3.1).
        let value = parsed.value.as_str();
        if value.contains(['\r', '\n']) {
            headers.insert(parsed.name, unfold(value));
        } else {
            headers.insert(parsed.name, parsed.value);
        }
    }
    let body_start = lines.head_end();
    let available = src.len().saturating_sub(body_start);
    let body_len = match content_length(&headers) {
        Ok(Some(len)) if len <= available => len,
        Ok(Some(_)) if !lenient => return Err(ParseError::ShortBody),
        Err(e) if !lenient => return Err(e),
        _ => available,
    };
    let body = src.slice(body_start..body_start + body_len);

    if let Some(status) = first.strip_prefix("SIP/") {
        let rest = status.strip_prefix("2.0 ").ok_or(ParseError::Version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| ParseError::StartLine)?;
        if !(100..=699).contains(&code) || rest.len() < 3 {
            return Err(ParseError::StartLine);
        }
        return Ok(Message::Response(Response {
            code,
            reason: reason.to_owned(),
            headers,
            body,
        }));
    }

    let (method, uri, version) = if lenient {
        // Answer even a request line with stray whitespace: its 400 names the problem.
        let parts: Vec<&str> = first.split_whitespace().collect();
        if parts.len() < 3 {
            return Err(ParseError::StartLine);
        }
        let uri_end = parts.len() - 1;
        (parts[0], parts[1..uri_end].join(" "), parts[uri_end])
    } else {
        let mut parts = first.split(' ');
        let (Some(method), Some(uri), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::StartLine);
        };
        (method, uri.to_owned(), version)
    };
    if method.is_empty() || !method.bytes().all(is_token_char) || uri.is_empty() {
        return Err(ParseError::StartLine);
    }
    if !version.to_ascii_uppercase().starts_with("SIP/") {
        return Err(ParseError::StartLine);
    }
    if version != "SIP/2.0" && !lenient {
        return Err(ParseError::Version);
    }
    if !lenient && !valid_request_uri(&uri) {
        return Err(ParseError::RequestUri);
    }
    Ok(Message::Request(Request {
        method: Method::from(method),
        uri,
        headers,
        body,
    }))
}

fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_break = false;
    for c in value.chars() {
        match c {
            '\r' | '\n' => in_break = true,
            ' ' | '\t' if in_break => {}
            _ => {
                if in_break {
                    out.push(' ');
                    in_break = false;
                }
                out.push(c);
            }
        }
    }
    out
}

/// RFC 3261 §19.1.1 and RFC 3986: `scheme ":" ...` with no whitespace or angle brackets,
/// and no headers (`?`) in a SIP Request-URI.
fn valid_request_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    // `?` may appear in the user part; after the host it starts headers.
    let headers = sip && rest[rest.rfind('@').map_or(0, |at| at + 1)..].contains('?');
    scheme_ok && !rest.is_empty() && !uri.contains(['<', '>', ' ', '\t', '"']) && !headers
}

/// Splits on commas outside quotes and angle brackets.
fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, 0i32, 0);
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle -= 1,
            ',' if !quoted && angle == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// Every list element is present and has no empty `;` parameter (catches `;;,;,,`).
fn valid_param_list(value: &str) -> bool {
    split_list(value).iter().all(|element| {
        let element = element.trim();
        !element.is_empty() && element.split(';').skip(1).all(|p| !p.trim().is_empty())
    })
}

/// A name-addr's quotes balance and an unquoted display name is only tokens (RFC 3261
/// §25.1: `display-name = *(token LWS) / quoted-string`).
fn valid_name_addr(value: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    let mut display_end = None;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted && display_end.is_none() => display_end = Some(i),
            _ => {}
        }
    }
    if quoted {
        return false;
    }
    let display = display_end.map_or("", |end| value[..end].trim());
    display.is_empty()
        || display.starts_with('"')
        || display
            .bytes()
            .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut values = headers.get_raw(&Name::CONTENT_LENGTH);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let parse = |v: &str| {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadHeader("Content-Length"));
        }
        v.parse::<usize>()
            .map_err(|_| ParseError::BadHeader("Content-Length"))
    };
    let len = parse(first)?;
    // Two different Content-Length values make the body boundary ambiguous.
    for other in values {
        if parse(other)? != len {
            return Err(ParseError::BadHeader("Content-Length"));
        }
    }
    Ok(Some(len))
}

fn first_raw<'h>(headers: &'h Headers, name: &Name) -> Option<&'h str> {
    headers.get_raw(name).next().map(|v| v.as_str())
}

fn essentials(headers: &Headers) -> Result<Essentials, ParseError> {
    if !headers.get_raw(&Name::VIA).all(|v| valid_param_list(v)) {
        return Err(ParseError::BadHeader("Via"));
    }
    if !headers.get_raw(&Name::CONTACT).all(|v| {
        v.trim() == "*" || (valid_param_list(v) && split_list(v).iter().all(|c| valid_name_addr(c)))
    }) {
        return Err(ParseError::BadHeader("Contact"));
    }
    // RFC 3261 §20.17: SIP dates are always GMT.
    if let Some(date) = first_raw(headers, &Name::DATE)
        && !date.trim_end().ends_with("GMT")
    {
        return Err(ParseError::BadHeader("Date"));
    }
    let via: Vec<Via> = headers
        .try_get_named::<Vec<Via>>()
        .ok_or(ParseError::Missing("Via"))?
        .map_err(|_| ParseError::BadHeader("Via"))?;
    if via.is_empty() {
        return Err(ParseError::Missing("Via"));
    }
    let party = |name: &Name, label: &'static str| {
        let mut values = headers.get_raw(name);
        let value = values.next().ok_or(ParseError::Missing(label))?;
        if values.next().is_some() {
            return Err(ParseError::BadHeader(label));
        }
        Party::parse(value).ok_or(ParseError::BadHeader(label))
    };
    let from = party(&Name::FROM, "From")?;
    let to = party(&Name::TO, "To")?;
    let call_id = headers
        .try_get_named::<CallID>()
        .ok_or(ParseError::Missing("Call-ID"))?
        .map_err(|_| ParseError::BadHeader("Call-ID"))?;
    let call_id = call_id.0.as_str().trim();
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err(ParseError::BadHeader("Call-ID"));
    }
    let cseq_raw = first_raw(headers, &Name::CSEQ).ok_or(ParseError::Missing("CSeq"))?;
    let cseq = headers
        .get_named::<CSeq>()
        .map_err(|_| ParseError::BadHeader("CSeq"))?;
    // RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer below 2^31.
    let number = cseq_raw.split_whitespace().next().unwrap_or("");
    if number.len() > 10 || cseq.cseq >= 1 << 31 {
        return Err(ParseError::BadHeader("CSeq"));
    }
    let max_forwards = match first_raw(headers, &Name::MAX_FORWARDS) {
        None => None,
        Some(raw) => {
            let raw = raw.trim();
            if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadHeader("Max-Forwards"));
            }
            let value: u32 = raw
                .parse()
                .map_err(|_| ParseError::BadHeader("Max-Forwards"))?;
            if value > 255 {
                return Err(ParseError::BadHeader("Max-Forwards"));
            }
            Some(value)
        }
    };
    let contact = headers
        .try_get_named::<Vec<Contact>>()
        .and_then(Result::ok)
        .and_then(|c| c.into_iter().next());
    let record_route = headers
        .try_get::<Vec<Routing>>(Name::RECORD_ROUTE)
        .transpose()
        .map_err(|_| ParseError::BadHeader("Record-Route"))?
        .unwrap_or_default();
    Ok(Essentials {
        via,
        from,
        to,
        call_id: call_id.to_owned(),
        cseq,
        max_forwards,
        contact,
        record_route,
    })
}

impl Request {
    /// Decodes the headers transactions and dialogs need, checking that CSeq names this
    /// request's method.
    pub fn essentials(&self) -> Result<Essentials, ParseError> {
        let essentials = essentials(&self.headers)?;
        if essentials.cseq.method != self.method {
            return Err(ParseError::BadHeader("CSeq"));
        }
        Ok(essentials)
    }

    /// Whether the raw headers a response copies (Via, From, To, Call-ID, CSeq) are all
    /// present, so that a `400` can be sent even though [`Request::essentials`] failed.
    pub fn can_be_answered(&self) -> bool {
        [Name::VIA, Name::FROM, Name::TO, Name::CALL_ID, Name::CSEQ]
            .iter()
            .all(|name| self.headers.get_raw(name).len() > 0)
    }

    /// The Request-URI as a SIP URI, or `None` for another scheme or a bad URI.
    pub fn sip_uri(&self) -> Option<SipUri> {
        SipUri::from_str(&self.uri).ok()
    }

    /// The scheme of the Request-URI, lower-cased.
    pub fn uri_scheme(&self) -> String {
        self.uri
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The user part of a `sip:`/`sips:` Request-URI, percent-decoded.
    pub fn uri_user(&self) -> Option<String> {
        let rest = self
            .uri
            .strip_prefix("sip:")
            .or_else(|| self.uri.strip_prefix("sips:"))?;
        let (user, _) = rest.split_once('@')?;
        let user = user.split([';', ':']).next().unwrap_or(user);
        Some(percent_decode(user))
    }

    /// The first raw value of a header.
    pub fn header(&self, name: &Name) -> Option<&str> {
        first_raw(&self.headers, name)
    }

    /// The media type of the body, lower-cased and without parameters.
    pub fn content_type(&self) -> Option<String> {
        content_type(&self.headers)
    }
}

impl Response {
    /// Decodes the headers a client transaction needs.
    pub fn essentials(&self) -> Result<Essentials, ParseError> {
        essentials(&self.headers)
    }

    /// The media type of the body, lower-cased and without parameters.
    pub fn content_type(&self) -> Option<String> {
        content_type(&self.headers)
    }
}

fn content_type(headers: &Headers) -> Option<String> {
    let raw = first_raw(headers, &Name::CONTENT_TYPE)?;
    let media = raw.split(';').next().unwrap_or(raw).trim();
    Some(media.to_ascii_lowercase())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:500@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
f: <sip:alice@127.0.0.1>;tag=a1\r\n\
t: <sip:500@127.0.0.1>\r\n\
i: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
m: <sip:alice@127.0.0.1:5070>\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nEXTRA";

    fn request(text: &str) -> Request {
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn compact_headers_and_content_length() {
        let req = request(INVITE);
        assert_eq!(req.method, Method::INVITE);
        assert_eq!(req.uri_user().as_deref(), Some("500"));
        assert_eq!(&req.body[..], b"v=0\r");
        let ess = req.essentials().expect("essentials");
        assert_eq!(ess.call_id, "call-1@127.0.0.1");
        assert_eq!(ess.branch(), Some("z9hG4bK-1"));
        assert_eq!(ess.from.tag.as_deref(), Some("a1"));
        assert!(ess.to.tag.is_none());
        assert_eq!(ess.max_forwards, Some(70));
        assert!(ess.contact.is_some());
        assert_eq!(req.content_type().as_deref(), Some("application/sdp"));
    }

    #[test]
    fn short_body_is_an_error() {
        let text = INVITE.replace("l: 4", "l: 400");
        assert_eq!(parse(text.as_bytes()).err(), Some(ParseError::ShortBody));
    }

    #[test]
    fn missing_call_id_is_named() {
        let text = INVITE.replace("i: call-1@127.0.0.1\r\n", "");
        let req = request(&text);
        assert_eq!(req.essentials().err(), Some(ParseError::Missing("Call-ID")));
        assert!(!req.can_be_answered());
    }

    #[test]
    fn cseq_method_mismatch() {
        let text = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        let req = request(&text);
        assert_eq!(req.essentials().err(), Some(ParseError::BadHeader("CSeq")));
        assert!(req.can_be_answered());
    }

    #[test]
    fn bad_version_can_still_be_answered() {
        let text = INVITE.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia");
        assert_eq!(parse(text.as_bytes()).err(), Some(ParseError::Version));
        let req = parse_for_reply(text.as_bytes()).expect("lenient");
        assert!(req.can_be_answered());
    }

    #[test]
    fn folded_lines_unfold_to_one_space() {
        assert_eq!(unfold("a\r\n  ;\r\n\ttag = 1"), "a ; tag = 1");
    }

    #[test]
    fn request_uri_rules() {
        assert!(valid_request_uri(
            "sip:user;par=u%40example.net@example.com"
        ));
        assert!(valid_request_uri(
            "nobodyKnowsThisScheme:totallyopaquecontent"
        ));
        assert!(!valid_request_uri("<sip:user@example.com>"));
        assert!(!valid_request_uri("sip:user@example.com?Route=%3Csip:x%3E"));
    }

    #[test]
    fn name_addr_and_param_rules() {
        assert!(valid_name_addr(
            "\"J Rosenberg \\\\\\\"\" <sip:j@e.com>;tag=1"
        ));
        assert!(valid_name_addr("caller<sip:caller@example.com>;tag=323"));
        assert!(!valid_name_addr("\"Mr. J. User <sip:j.user@example.com>"));
        assert!(!valid_name_addr(
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43"
        ));
        assert!(valid_param_list(
            "SIP/2.0/UDP a;branch=1 , SIP/2.0/UDP b;rport;branch=2"
        ));
        assert!(!valid_param_list("SIP/2.0/UDP 192.0.2.15;;,;,,"));
    }

    #[test]
    fn parties_with_spaces_and_addr_spec() {
        let p = Party::parse("\"J R \\\"\"  <sip:j@e.com> ;\ttag = 98asjd8").expect("party");
        assert_eq!(p.uri, "sip:j@e.com");
        assert_eq!(p.tag.as_deref(), Some("98asjd8"));
        let p = Party::parse("sip:vivekg@example.com ;   tag    = 1918181833n").expect("party");
        assert_eq!(p.tag.as_deref(), Some("1918181833n"));
        assert_eq!(Party::parse("<sip:a@b;tag=x>").expect("party").tag, None);
        assert!(Party::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_none());
        assert!(Party::parse("<sip:a@b>;tag").is_none());
    }

    #[test]
    fn response_parses() {
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        match parse(text.as_bytes()) {
            Ok(Message::Response(r)) => {
                assert_eq!(r.code, 200);
                assert_eq!(r.reason, "OK");
                assert_eq!(r.essentials().expect("ess").cseq.cseq, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"INVITE",
            b"INVITE sip:x SIP/2.0\r\n",
            b"SIP/2.0 99999 X\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"A B C D\r\n\r\n",
        ] {
            let _ = parse(input);
        }
    }
}
