//! Just enough of a SIP user agent to place a call and hang it up: INVITE with an offer,
//! ACK for the final answer, BYE. One UDP socket per caller, blocking with a timeout.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One established call.
#[derive(Debug)]
pub(crate) struct Call {
    socket: UdpSocket,
    bridge: SocketAddr,
    call_id: String,
    from_tag: String,
    to: String,
    /// The bridge's Contact: where in-dialog requests go.
    remote_target: String,
    /// Where the bridge wants our RTP.
    pub(crate) media: SocketAddr,
}

/// What to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Pcmu,
    Opus,
}

fn sdp(offer: Offer, rtp: SocketAddr) -> String {
    let (pt, rtpmap) = match offer {
        Offer::Pcmu => (0, "a=rtpmap:0 PCMU/8000\r\n".to_owned()),
        Offer::Opus => (
            111,
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1;stereo=0\r\n".to_owned(),
        ),
    };
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=load\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt} 101\r\n{rtpmap}a=rtpmap:101 telephone-event/8000\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Call {
    /// Calls `user` at `bridge` and waits for the answer (retrying a 503 a few times, as
    /// phones do when a loaded bridge sheds them).
    pub(crate) fn dial(
        bridge: SocketAddr,
        user: &str,
        rtp: SocketAddr,
        offer: Offer,
        n: usize,
    ) -> Result<Call> {
        let mut attempt = 0;
        loop {
            match Self::dial_once(bridge, user, rtp, offer, n, attempt) {
                Err(e) if attempt < 5 && e.to_string().contains("503") => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    fn dial_once(
        bridge: SocketAddr,
        user: &str,
        rtp: SocketAddr,
        offer: Offer,
        n: usize,
        attempt: usize,
    ) -> Result<Call> {
        let socket = UdpSocket::bind((rtp.ip(), 0)).context("binding a SIP socket")?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let local = socket.local_addr()?;
        let call_id = format!("load-{n}-{attempt}-{}@{}", std::process::id(), local.ip());
        let from_tag = format!("l{n}a{attempt}");
        let request_uri = format!("sip:{user}@{bridge}");
        let body = sdp(offer, rtp);
        let branch = format!("z9hG4bKload{n}a{attempt}");
        let invite = format!(
            "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:caller{n}@{ip}>;tag={from_tag}\r\nTo: <{request_uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller{n}@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
            ip = local.ip(),
            len = body.len()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut resend = Instant::now();
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            if Instant::now() >= resend {
                socket.send_to(invite.as_bytes(), bridge)?;
                resend = Instant::now() + Duration::from_millis(500);
            }
            let Ok((len, _)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            let Some(code) = text
                .strip_prefix("SIP/2.0 ")
                .and_then(|t| t.get(..3))
                .and_then(|c| c.parse::<u16>().ok())
            else {
                continue;
            };
            if code < 200 {
                resend = deadline; // a provisional answer: the bridge has it
                continue;
            }
            let to = header(&text, "To").unwrap_or_default().to_owned();
            let ack_uri = if code < 300 {
                header(&text, "Contact")
                    .and_then(|c| c.split('<').nth(1))
                    .and_then(|c| c.split('>').next())
                    .unwrap_or(&request_uri)
                    .to_owned()
            } else {
                request_uri.clone()
            };
            let ack_branch = if code < 300 {
                format!("{branch}ack")
            } else {
                branch.clone()
            };
            let ack = format!(
                "ACK {ack_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={ack_branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:caller{n}@{ip}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                ip = local.ip()
            );
            socket.send_to(ack.as_bytes(), bridge)?;
            if code >= 300 {
                bail!("{user}: {code}");
            }
            let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
            let port = body
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|m| m.split(' ').next())
                .and_then(|p| p.parse::<u16>().ok())
                .context("no audio port in the answer")?;
            let ip = body
                .lines()
                .find_map(|l| l.strip_prefix("c=IN IP4 "))
                .and_then(|ip| ip.trim().parse().ok())
                .unwrap_or(bridge.ip());
            return Ok(Call {
                socket,
                bridge,
                call_id,
                from_tag,
                to,
                remote_target: ack_uri,
                media: SocketAddr::new(ip, port),
            });
        }
        bail!("{user}: no answer")
    }

    /// Hangs up (best effort: the bridge answers, or its session ends anyway).
    pub(crate) fn hang_up(&self, n: usize) {
        let Ok(local) = self.socket.local_addr() else {
            return;
        };
        let bye = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbye{n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:caller{n}@{}>;tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            self.remote_target,
            local.ip(),
            self.from_tag,
            self.to,
            self.call_id
        );
        let _ = self.socket.send_to(bye.as_bytes(), self.bridge);
    }
}
