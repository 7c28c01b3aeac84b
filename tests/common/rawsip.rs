//! A bare SIP user agent over UDP for the hostile-network tests: it says exactly what a
//! test tells it to (spoofed tags, keys before or after the ACK, silence instead of RTP)
//! and nothing else. Every wait is bounded.
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn token() -> String {
    format!(
        "{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SIP message as text, with its first line and headers easy to read.
#[derive(Debug, Clone)]
pub struct Received {
    pub text: String,
}

impl Received {
    pub fn status(&self) -> Option<u16> {
        let first = self.text.lines().next()?;
        first.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    pub fn method(&self) -> Option<&str> {
        let first = self.text.lines().next()?;
        (!first.starts_with("SIP/2.0")).then(|| first.split(' ').next().unwrap_or(""))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The tag parameter of To.
    pub fn to_tag(&self) -> Option<String> {
        let to = self.header("To")?;
        let at = to.find(";tag=")?;
        Some(to[at + 5..].split(';').next()?.trim().to_owned())
    }

    /// The RTP port of the SDP body.
    pub fn audio_port(&self) -> Option<u16> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }
}

/// One call from a bare UA: its own UDP socket, dialog identifiers, and the bridge.
pub struct RawCall {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub bridge: SocketAddr,
    pub extension: String,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub cseq: u32,
    /// The bridge's RTP port for this call.
    pub bridge_rtp: u16,
    /// The bridge's 2xx to the INVITE, as received.
    pub answer: String,
    /// The bridge hung up (BYE received and answered).
    pub ended: bool,
}

/// What an INVITE came to.
pub enum Outcome {
    Answered(RawCall),
    /// A final error status (already acknowledged).
    Refused(u16),
    /// No final answer in time.
    NoAnswer,
}

/// An SDP offer of PCMU and telephone-event with media at `ip:rtp_port`, and RFC 6464
/// audio levels as header extension 1.
pub fn offer(ip: IpAddr, rtp_port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n"
    )
}

impl RawCall {
    /// Sends an INVITE from a new socket on `ip`, announcing RTP at `rtp_port`, waits for
    /// the final answer and acknowledges it. Like a phone, it tries again (a few times,
    /// shortly) when a loaded bridge sheds the call with 503.
    pub fn dial(ip: IpAddr, bridge_port: u16, extension: &str, rtp_port: u16) -> Outcome {
        Self::dial_offering(ip, bridge_port, extension, &offer(ip, rtp_port))
    }

    /// [`RawCall::dial`] with the SDP offer `body`.
    pub fn dial_offering(ip: IpAddr, bridge_port: u16, extension: &str, body: &str) -> Outcome {
        for _ in 0..10 {
            match Self::dial_once(ip, bridge_port, extension, body) {
                Outcome::Refused(503) => std::thread::sleep(Duration::from_millis(300)),
                outcome => return outcome,
            }
        }
        Outcome::Refused(503)
    }

    fn dial_once(ip: IpAddr, bridge_port: u16, extension: &str, body: &str) -> Outcome {
        let socket = UdpSocket::bind((ip, 0)).expect("bind SIP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let local = socket.local_addr().expect("local");
        let mut call = RawCall {
            socket,
            local,
            bridge: SocketAddr::from(([127, 0, 0, 1], bridge_port)),
            extension: extension.to_owned(),
            call_id: format!("{}@raw", token()),
            from_tag: token(),
            to_tag: String::new(),
            cseq: 1,
            bridge_rtp: 0,
            answer: String::new(),
            ended: false,
        };
        let branch = format!("z9hG4bK{}", token());
        let invite = call.message("INVITE", &branch, 1, None, Some(("application/sdp", body)));
        call.send(&invite);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Some(r) = call.receive() else {
                continue;
            };
            let Some(code) = r.status() else {
                continue;
            };
            if code < 200 || r.cseq_method() != Some("INVITE") {
                continue;
            }
            call.to_tag = r.to_tag().unwrap_or_default();
            let ack = call.message("ACK", &branch, 1, Some(&r), None);
            if code >= 300 {
                call.send(&ack);
                return Outcome::Refused(code);
            }
            // A 2xx's ACK is a new transaction.
            let ack = call.message("ACK", &format!("z9hG4bK{}", token()), 1, Some(&r), None);
            call.send(&ack);
            call.bridge_rtp = r.audio_port().unwrap_or(0);
            call.answer = r.text;
            return Outcome::Answered(call);
        }
        Outcome::NoAnswer
    }

    /// Builds a request in this dialog. `reply` supplies the To header (with the bridge's
    /// tag) when given.
    fn message(
        &self,
        method: &str,
        branch: &str,
        cseq: u32,
        reply: Option<&Received>,
        body: Option<(&str, &str)>,
    ) -> String {
        self.message_with_tags(
            method,
            branch,
            cseq,
            &self.from_tag,
            reply
                .and_then(Received::to_tag)
                .as_deref()
                .or((!self.to_tag.is_empty()).then_some(self.to_tag.as_str())),
            body,
        )
    }

    /// Builds a request with the given tags: a spoofer's tool.
    pub fn message_with_tags(
        &self,
        method: &str,
        branch: &str,
        cseq: u32,
        from_tag: &str,
        to_tag: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> String {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let (content_type, body) = match body {
            Some((kind, text)) => (format!("Content-Type: {kind}\r\n"), text),
            None => (String::new(), ""),
        };
        format!(
            "{method} sip:{ext}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:raw@{ip}>;tag={from_tag}\r\nTo: <sip:{ext}@{bridge}>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:raw@{local}>\r\n{content_type}Content-Length: {len}\r\n\r\n{body}",
            ext = self.extension,
            bridge = self.bridge,
            local = self.local,
            ip = self.local.ip(),
            call_id = self.call_id,
            len = body.len(),
        )
    }

    pub fn send(&self, text: &str) {
        let _ = self.socket.send_to(text.as_bytes(), self.bridge);
    }

    /// One message, if one arrives within the socket's read timeout. A BYE from the bridge
    /// is answered and marks the call ended.
    pub fn receive(&mut self) -> Option<Received> {
        let mut buf = [0u8; 8192];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        let r = Received {
            text: String::from_utf8_lossy(&buf[..n]).into_owned(),
        };
        if r.method() == Some("BYE") {
            self.ended = true;
            self.send(&response_to(&r, 200));
        }
        Some(r)
    }

    /// Sends an in-dialog request and waits for its final status.
    pub fn request(&mut self, method: &str, body: Option<(&str, &str)>) -> Option<u16> {
        self.cseq += 1;
        let branch = format!("z9hG4bK{}", token());
        let text = self.message(method, &branch, self.cseq, None, body);
        self.send(&text);
        self.await_status(method, Duration::from_secs(5))
    }

    /// Waits for a final status to a request of `method`.
    pub fn await_status(&mut self, method: &str, limit: Duration) -> Option<u16> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(r) = self.receive()
                && r.cseq_method() == Some(method)
                && let Some(code) = r.status()
                && code >= 200
            {
                return Some(code);
            }
        }
        None
    }

    /// Keys one digit by SIP INFO (application/dtmf-relay); the status of the INFO.
    pub fn key(&mut self, digit: char) -> Option<u16> {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        self.request("INFO", Some(("application/dtmf-relay", &body)))
    }

    /// Keys every digit of `keys`; `false` as soon as one is not answered 200.
    pub fn keys(&mut self, keys: &str) -> bool {
        keys.chars().all(|d| self.key(d) == Some(200))
    }

    /// Reads whatever arrives until the bridge hangs up or `limit` passes.
    pub fn wait_for_bye(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.ended && Instant::now() < deadline {
            self.receive();
        }
        self.ended
    }
}

/// A response to a request we received.
pub fn response_to(request: &Received, code: u16) -> String {
    let mut out = format!("SIP/2.0 {code} OK\r\n");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for line in request.text.lines() {
            if let Some((n, _)) = line.split_once(':')
                && n.trim().eq_ignore_ascii_case(name)
            {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// An RTP packet of PCMU silence.
pub fn rtp_packet(ssrc: u32, seq: u16, timestamp: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend(std::iter::repeat_n(0xFFu8, 160));
    packet
}

/// An RTP packet of PCMU `payload` carrying an RFC 6464 level (−dBov, extension 1).
pub fn rtp_packet_with_level(
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    payload: &[u8],
    level: u8,
) -> Vec<u8> {
    let mut packet = vec![0x90, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, level, 0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// Members now in a conference, from the REST API.
pub fn members(http_port: u16, extension: &str) -> Option<usize> {
    let url = format!("http://127.0.0.1:{http_port}/extension/{extension}/conference/members/");
    let mut response = ureq::get(&url).call().ok()?;
    let text = response.body_mut().read_to_string().ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.as_array().map(Vec::len)
}
