//! SUBSCRIBE as a member's phone (or anyone on its host) could send it: the Event,
//! Expires, Accept and Authorization values come from the fuzzer, then a refresh with its
//! own Expires, with every NOTIFY answered by a code the fuzzer picks, while time passes.
//! Never a panic; every document sent is whole (the names and URIs in it cannot open or
//! close an element); and no subscription outlives the longest expiry the bridge grants.
#![no_main]
use chorus_engine::{
    Engine, EngineConfig, Event, SubscriptionConfig, Transport, parse_event, parse_expires,
};
use chorus_sip_msg::{Message, parse};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// Sends what the engine has queued; answers NOTIFYs with the next code; returns the
/// To tag of a 2xx to a SUBSCRIBE, if one went out.
fn drain(
    engine: &mut Engine,
    now: Instant,
    source: SocketAddr,
    codes: &mut impl Iterator<Item = u16>,
) -> Option<String> {
    let mut tag = None;
    let mut answers = Vec::new();
    while let Some(transmit) = engine.poll_transmit() {
        match parse(&transmit.data) {
            Ok(Message::Request(request)) if request.method.to_string() == "NOTIFY" => {
                let body =
                    String::from_utf8(request.body.to_vec()).expect("NOTIFY bodies are UTF-8");
                if !body.is_empty() {
                    assert!(body.trim_end().ends_with("</conference-info>"), "{body}");
                    assert_eq!(
                        body.matches('<').count(),
                        body.matches('>').count(),
                        "{body}"
                    );
                    assert!(
                        !body.chars().any(|c| c.is_control() && c != '\n'),
                        "{body:?}"
                    );
                }
                let code = codes.next().unwrap_or(200);
                answers.push(chorus_sip_msg::ResponseBuilder::new(&request, code, None).build());
            }
            Ok(Message::Response(response)) if (200..300).contains(&response.code) => {
                if let Ok(essentials) = response.essentials()
                    && essentials.cseq.method.to_string() == "SUBSCRIBE"
                {
                    tag = essentials.to.tag.map(|t| t.to_string());
                }
            }
            _ => {}
        }
    }
    for answer in answers {
        engine.handle_message(now, Transport::Udp, source, &answer);
    }
    tag
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.split('\n');
    let mut field = || fields.next().unwrap_or("");
    let (event, expires, accept, authorization, refresh) =
        (field(), field(), field(), field(), field());
    let mut codes = field()
        .bytes()
        .map(|b| [200, 202, 481, 408, 500, 489][usize::from(b) % 6])
        .collect::<Vec<u16>>()
        .into_iter();

    if let Some(parsed) = parse_event(event) {
        assert!(!parsed.package.is_empty());
        for part in std::iter::once(&parsed.package).chain(parsed.id.as_ref()) {
            assert!(
                part.bytes().all(|b| b.is_ascii_graphic() && b != b';'),
                "{part:?}"
            );
        }
    }
    let _ = parse_expires(expires);

    let mut engine = Engine::new(EngineConfig {
        seed: 0,
        subscriptions: SubscriptionConfig {
            operator_token: Some("token".to_owned()),
            ..SubscriptionConfig::default()
        },
        ..EngineConfig::default()
    });
    let start = Instant::now();
    let source: SocketAddr = "127.0.0.1:5070".parse().expect("literal");
    // A member: INVITE, its media, ACK.
    let invite = format!(
        "INVITE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKi\r\nMax-Forwards: 70\r\nFrom: \"Member\" <sip:m@127.0.0.1>;tag=m\r\nTo: <sip:500@127.0.0.1>\r\nCall-ID: member\r\nCSeq: 1 INVITE\r\nContact: <sip:m@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    engine.handle_message(start, Transport::Udp, source, invite.as_bytes());
    while let Some(event) = engine.poll_event() {
        if let Event::MediaRequested { call } = event {
            engine.media_ready(start, call, "127.0.0.1:20000".parse().expect("literal"));
        }
    }
    let mut member_tag = String::new();
    while let Some(transmit) = engine.poll_transmit() {
        if let Ok(Message::Response(r)) = parse(&transmit.data)
            && r.code == 200
            && let Ok(e) = r.essentials()
        {
            member_tag = e.to.tag.map(|t| t.to_string()).unwrap_or_default();
        }
    }
    let ack = format!(
        "ACK sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nMax-Forwards: 70\r\nFrom: <sip:m@127.0.0.1>;tag=m\r\nTo: <sip:500@127.0.0.1>;tag={member_tag}\r\nCall-ID: member\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    engine.handle_message(start, Transport::Udp, source, ack.as_bytes());
    while engine.poll_event().is_some() {}

    let subscribe = |cseq: u32, to_tag: &str, expires: &str| {
        format!(
            "SUBSCRIBE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:m@127.0.0.1>;tag=w\r\nTo: <sip:500@127.0.0.1>{to_tag}\r\nCall-ID: watch\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:m@127.0.0.1:5070>\r\nEvent: {event}\r\nExpires: {expires}\r\nAccept: {accept}\r\nAuthorization: {authorization}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    engine.handle_message(
        start,
        Transport::Udp,
        source,
        subscribe(1, "", expires).as_bytes(),
    );
    let tag = drain(&mut engine, start, source, &mut codes);
    if let Some(tag) = tag {
        let at = start + Duration::from_secs(1);
        let refresh = subscribe(2, &format!(";tag={tag}"), refresh);
        engine.handle_message(at, Transport::Udp, source, refresh.as_bytes());
        drain(&mut engine, at, source, &mut codes);
    }
    // Time passes, deadline by deadline: NOTIFYs are answered (or not), subscriptions
    // expire.
    let end = start + Duration::from_secs(3700);
    let mut now = start + Duration::from_secs(1);
    for _ in 0..10_000 {
        let Some(at) = engine.poll_timeout().filter(|at| *at <= end) else {
            break;
        };
        now = now.max(at);
        engine.handle_timeout(now);
        drain(&mut engine, now, source, &mut codes);
    }
    engine.handle_timeout(end);
    drain(&mut engine, end, source, &mut codes);
    assert_eq!(
        engine.subscription_count(),
        0,
        "a subscription outlived its expiry"
    );
});
