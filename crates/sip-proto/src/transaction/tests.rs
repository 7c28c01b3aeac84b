//! Transactions on a virtual clock.

use super::*;
use chorus_sip_msg::{Message, parse};

fn request(text: &str) -> (Request, Essentials) {
    let Ok(Message::Request(r)) = parse(text.as_bytes()) else {
        panic!("parse");
    };
    let e = r.essentials().expect("essentials");
    (r, e)
}

fn invite() -> (Request, Essentials) {
    request(
        "INVITE sip:500@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:500@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    )
}

fn peer() -> SocketAddr {
    "127.0.0.1:5070".parse().expect("addr")
}

fn drain(t: &mut Transactions) -> Vec<Bytes> {
    std::iter::from_fn(|| t.poll_transmit().map(|x| x.data)).collect()
}

/// Runs the virtual clock to `until`, returning the instants at which bytes were sent.
fn run(t: &mut Transactions, from: Instant, until: Instant) -> Vec<Duration> {
    let mut sent = Vec::new();
    while let Some(at) = t.poll_timeout() {
        if at > until {
            break;
        }
        t.handle_timeout(at);
        for _ in drain(t) {
            sent.push(at - from);
        }
    }
    sent
}

#[test]
fn invite_gets_100_and_retransmission_is_absorbed() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (r, e) = invite();
    let d = t.handle_request(now, &r, &e, Transport::Udp, peer(), || {
        Bytes::from_static(b"100")
    });
    assert!(matches!(d, Disposition::New(_)));
    assert_eq!(drain(&mut t), vec![Bytes::from_static(b"100")]);
    let d = t.handle_request(now, &r, &e, Transport::Udp, peer(), || {
        Bytes::from_static(b"x")
    });
    assert_eq!(d, Disposition::Absorbed);
    assert_eq!(drain(&mut t), vec![Bytes::from_static(b"100")]);
}

#[test]
fn ok_is_retransmitted_on_t1_doubling_to_t2_then_gives_up() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (r, e) = invite();
    let Disposition::New(key) = t.handle_request(now, &r, &e, Transport::Udp, peer(), Bytes::new)
    else {
        panic!("new");
    };
    drain(&mut t);
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    assert_eq!(drain(&mut t).len(), 1);
    let sent = run(&mut t, now, now + Duration::from_secs(40));
    let ms: Vec<u128> = sent.iter().map(|d| d.as_millis()).collect();
    assert_eq!(&ms[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
    assert_eq!(t.poll_event(), Some(TxnEvent::AckTimeout(key)));
    assert!(t.is_empty());
}

#[test]
fn ack_stops_2xx_retransmission() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (r, e) = invite();
    let Disposition::New(key) = t.handle_request(now, &r, &e, Transport::Udp, peer(), Bytes::new)
    else {
        panic!("new");
    };
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    t.acknowledge_2xx(&key);
    assert!(t.poll_timeout().is_none());
}

#[test]
fn non_2xx_waits_for_ack_then_timer_i() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (r, e) = invite();
    let Disposition::New(key) = t.handle_request(now, &r, &e, Transport::Udp, peer(), Bytes::new)
    else {
        panic!("new");
    };
    t.respond(now, &key, 486, Bytes::from_static(b"486"));
    let (ack, ack_e) = request(
        "ACK sip:500@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:500@h>;tag=x\r\nCall-ID: c\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    );
    let d = t.handle_request(now, &ack, &ack_e, Transport::Udp, peer(), Bytes::new);
    assert_eq!(d, Disposition::Absorbed);
    t.handle_timeout(now + Duration::from_secs(5));
    assert!(t.is_empty());
}

#[test]
fn tcp_final_response_is_not_retransmitted() {
    let mut t = Transactions::default();
    let now = Instant::now();
    let (r, e) = invite();
    let Disposition::New(key) = t.handle_request(now, &r, &e, Transport::Tcp, peer(), Bytes::new)
    else {
        panic!("new");
    };
    drain(&mut t);
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    drain(&mut t);
    let sent = run(&mut t, now, now + Duration::from_secs(40));
    assert!(sent.is_empty());
    assert_eq!(t.poll_event(), Some(TxnEvent::AckTimeout(key)));
}

#[test]
fn client_bye_retransmits_until_response() {
    let mut t = Transactions::default();
    let now = Instant::now();
    t.send_request(
        now,
        "z9hG4bKbye",
        Method::BYE,
        Transport::Udp,
        peer(),
        Bytes::from_static(b"BYE"),
    );
    drain(&mut t);
    let sent = run(&mut t, now, now + Duration::from_millis(1600));
    assert_eq!(sent.len(), 2);
    let (resp, e) = response(200, "z9hG4bKbye", "BYE");
    assert!(matches!(
        t.handle_response(now, &resp, &e),
        Some(ClientMatch::New(_))
    ));
    assert!(matches!(
        t.poll_event(),
        Some(TxnEvent::ClientResponse { code: 200, .. })
    ));
}

fn response(code: u16, branch: &str, method: &str) -> (Response, Essentials) {
    let text = format!(
        "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    let Ok(Message::Response(r)) = parse(text.as_bytes()) else {
        panic!("parse");
    };
    let e = r.essentials().expect("ess");
    (r, e)
}

#[test]
fn client_invite_timer_a_doubles_until_provisional_then_final_lingers() {
    let mut t = Transactions::default();
    let now = Instant::now();
    t.send_request(
        now,
        "z9hG4bKinv",
        Method::INVITE,
        Transport::Udp,
        peer(),
        Bytes::from_static(b"INVITE"),
    );
    drain(&mut t);
    let sent = run(&mut t, now, now + Duration::from_millis(7600));
    let ms: Vec<u128> = sent.iter().map(|d| d.as_millis()).collect();
    assert_eq!(
        ms,
        vec![500, 1500, 3500, 7500],
        "Timer A: T1, 2T1, 4T1, 8T1"
    );
    let (r, e) = response(180, "z9hG4bKinv", "INVITE");
    assert_eq!(
        t.handle_response(now, &r, &e),
        Some(ClientMatch::New(ClientKey("z9hG4bKinv".into())))
    );
    assert!(
        run(&mut t, now, now + Duration::from_secs(30)).is_empty(),
        "no retransmission once ringing"
    );
    let (r, e) = response(486, "z9hG4bKinv", "INVITE");
    assert!(matches!(
        t.handle_response(now, &r, &e),
        Some(ClientMatch::New(_))
    ));
    assert!(matches!(
        t.handle_response(now, &r, &e),
        Some(ClientMatch::Retransmission(_))
    ));
}

#[test]
fn client_invite_2xx_ends_the_transaction_and_timer_b_fires_without_answer() {
    let mut t = Transactions::default();
    let now = Instant::now();
    t.send_request(
        now,
        "z9hG4bKok",
        Method::INVITE,
        Transport::Udp,
        peer(),
        Bytes::from_static(b"INVITE"),
    );
    let (r, e) = response(200, "z9hG4bKok", "INVITE");
    assert!(matches!(
        t.handle_response(now, &r, &e),
        Some(ClientMatch::New(_))
    ));
    assert!(
        t.handle_response(now, &r, &e).is_none(),
        "2xx retransmissions go to the dialog"
    );
    t.send_request(
        now,
        "z9hG4bKnone",
        Method::INVITE,
        Transport::Udp,
        peer(),
        Bytes::from_static(b"INVITE"),
    );
    run(&mut t, now, now + Duration::from_secs(33));
    assert!(matches!(t.poll_event(), Some(TxnEvent::ClientTimeout(_))));
}

#[test]
fn client_timeout_after_64_t1() {
    let mut t = Transactions::default();
    let now = Instant::now();
    t.send_request(
        now,
        "z9hG4bKbye",
        Method::BYE,
        Transport::Udp,
        peer(),
        Bytes::from_static(b"BYE"),
    );
    run(&mut t, now, now + Duration::from_secs(33));
    assert!(matches!(t.poll_event(), Some(TxnEvent::ClientTimeout(_))));
    assert!(t.is_empty());
}
