//! The engine's SIP behaviour on a virtual clock.

use super::*;
use chorus_media::MediaEvent;
use chorus_types::{Clip, Direction};
use std::time::Duration;

mod conference;
mod dialout;
mod hostile;
mod operators;
mod refer;
mod srtp;
mod subscriptions;
mod temporary;

const CALLER: &str = "127.0.0.1:5070";

fn engine() -> Engine {
    Engine::new(EngineConfig {
        seed: 7,
        ..EngineConfig::default()
    })
}

fn caller() -> SocketAddr {
    CALLER.parse().expect("addr")
}

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn request(
    method: &str,
    user: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch={branch}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=alice\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\nCall-ID: call-1\r\nCSeq: {cseq} {method}\r\nContact: <sip:alice@{CALLER}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Everything the engine sent, parsed.
fn sent(e: &mut Engine) -> Vec<Message> {
    std::iter::from_fn(|| e.poll_transmit())
        .filter_map(|t| parse(&t.data).ok())
        .collect()
}

fn responses(e: &mut Engine) -> Vec<Response> {
    sent(e)
        .into_iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        })
        .collect()
}

fn requests(e: &mut Engine) -> Vec<Request> {
    sent(e)
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        })
        .collect()
}

/// The notifications among the pending events (the others are dropped).
/// The notifications of state (who asked for a change is left to [`actions`]).
fn notifications(e: &mut Engine) -> Vec<Notification> {
    std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Notify(Notification::Action { .. }) => None,
            Event::Notify(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// Who asked for what: (action, member, by).
fn actions(e: &mut Engine) -> Vec<(&'static str, Option<u64>, Actor)> {
    std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Notify(Notification::Action {
                action, member, by, ..
            }) => Some((action, member, by)),
            _ => None,
        })
        .collect()
}

/// Events but notifications (which `operator_control_and_notifications` checks).
fn events(e: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event())
        .filter(|ev| !matches!(ev, Event::Notify(_)))
        .collect()
}

/// The call whose media the engine asked for, among the pending events.
fn requested_media(e: &mut Engine) -> Option<CallId> {
    events(e).into_iter().find_map(|ev| match ev {
        Event::MediaRequested { call } => Some(call),
        _ => None,
    })
}

fn codes(rs: &[Response]) -> Vec<u16> {
    rs.iter().map(|r| r.code).collect()
}

/// Sends an INVITE and gives it media; returns the 200 and our To tag.
fn answered_call(e: &mut Engine, now: Instant, body: &str) -> (CallId, Response, String) {
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKinv", 1, None, body),
    );
    assert_eq!(codes(&responses(e)), vec![100]);
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media requested");
    };
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    let rs = responses(e);
    assert_eq!(codes(&rs), vec![200]);
    let ok = rs.into_iter().next().expect("200");
    let tag = ok
        .essentials()
        .expect("ess")
        .to
        .tag
        .expect("to tag")
        .to_string();
    (call, ok, tag)
}

#[test]
fn invite_answer_ack_bye() {
    let mut e = engine();
    let now = Instant::now();
    let (call, ok, tag) = answered_call(&mut e, now, OFFER);
    let sdp = String::from_utf8_lossy(&ok.body);
    assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101"), "{sdp}");
    assert!(ok.headers.get_raw(&Name::CONTACT).len() == 1);
    let evs = events(&mut e);
    assert!(
        matches!(&evs[..], [Event::CallStarted { conference, media, .. }, ..]
        if conference == "500" && media.remote.port() == 6000)
    );

    // 200 is retransmitted until the ACK.
    e.handle_timeout(now + Duration::from_millis(500));
    assert_eq!(codes(&responses(&mut e)), vec![200]);
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "500", "z9hG4bKack", 1, Some(&tag), ""),
    );
    e.handle_timeout(now + Duration::from_millis(1500));
    assert!(responses(&mut e).is_empty());

    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("BYE", "500", "z9hG4bKbye", 2, Some(&tag), ""),
    );
    assert_eq!(codes(&responses(&mut e)), vec![200]);
    assert_eq!(
        events(&mut e),
        vec![Event::CallEnded {
            call,
            reason: EndReason::RemoteBye
        }]
    );
    assert!(e.is_idle());
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut e = engine();
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKinv", 1, None, OFFER),
    );
    responses(&mut e);
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media requested");
    };
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("CANCEL", "500", "z9hG4bKinv", 1, None, ""),
    );
    assert_eq!(codes(&responses(&mut e)), vec![200, 487]);
    assert_eq!(
        events(&mut e),
        vec![Event::CallEnded {
            call,
            reason: EndReason::Cancelled
        }]
    );
    // Media arriving late is ignored.
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    assert!(responses(&mut e).is_empty());
}

#[test]
fn missing_ack_ends_the_call_with_bye() {
    let mut e = engine();
    let now = Instant::now();
    let (call, _, _) = answered_call(&mut e, now, OFFER);
    events(&mut e);
    let mut retransmissions = 0;
    while let Some(t) = e.poll_timeout() {
        if t > now + Duration::from_secs(40) {
            break;
        }
        e.handle_timeout(t);
        for tx in std::iter::from_fn(|| e.poll_transmit()) {
            match parse(&tx.data) {
                Ok(Message::Response(r)) if r.code == 200 => retransmissions += 1,
                Ok(Message::Request(r)) if r.method == Method::BYE => {
                    assert_eq!(
                        events(&mut e),
                        vec![Event::CallEnded {
                            call,
                            reason: EndReason::AckTimeout
                        }]
                    );
                    assert!(t - now >= Duration::from_secs(32));
                    assert!(retransmissions >= 9);
                    return;
                }
                _ => {}
            }
        }
    }
    panic!("no BYE after the ACK timeout");
}

#[test]
fn refusals_name_their_reason() {
    let mut e = engine();
    let now = Instant::now();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (request("INVITE", "999", "z9hG4bK1", 1, None, OFFER), 404),
        (
            request(
                "INVITE",
                "500",
                "z9hG4bK2",
                1,
                None,
                &OFFER
                    .replace("0 101", "18")
                    .replace("a=rtpmap:0 PCMU/8000\r\n", ""),
            ),
            488,
        ),
        (request("REGISTER", "500", "z9hG4bK3", 1, None, ""), 405),
        (request("FOO", "500", "z9hG4bK4", 1, None, ""), 501),
        (request("BYE", "500", "z9hG4bK5", 1, Some("nope"), ""), 481),
        (
            String::from_utf8_lossy(&request("INVITE", "500", "z9hG4bK6", 1, None, OFFER))
                .replace("Max-Forwards: 70", "Max-Forwards: 0")
                .into_bytes(),
            483,
        ),
        (
            String::from_utf8_lossy(&request("OPTIONS", "500", "z9hG4bK7", 1, None, ""))
                .replace("Call-ID: call-1\r\n", "")
                .into_bytes(),
            0,
        ),
        (
            String::from_utf8_lossy(&request("OPTIONS", "500", "z9hG4bK8", 1, None, ""))
                .replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS")
                .into_bytes(),
            400,
        ),
        (
            String::from_utf8_lossy(&request("OPTIONS", "500", "z9hG4bK9", 1, None, ""))
                .replace("Content-Length: 0", "Content-Length: 50")
                .into_bytes(),
            400,
        ),
    ];
    for (message, want) in cases {
        e.handle_message(now, Transport::Udp, caller(), &message);
        let got = responses(&mut e);
        let text = String::from_utf8_lossy(&message).into_owned();
        if want == 0 {
            assert!(got.is_empty(), "unanswerable message answered: {text}");
            continue;
        }
        let last = got.last().unwrap_or_else(|| panic!("no answer to {text}"));
        assert_eq!(last.code, want, "{text}");
        if want == 400 {
            assert!(
                last.reason.contains("CSeq") || last.reason.contains("body"),
                "{}",
                last.reason
            );
        }
        let to = last
            .headers
            .get_raw(&Name::TO)
            .next()
            .expect("To")
            .to_string();
        assert!(to.contains(";tag="), "{to}");
    }
    assert!(e.stats().dropped >= 1);
}

#[test]
fn options_keepalive_lists_allowed_methods() {
    let mut e = engine();
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("OPTIONS", "500", "z9hG4bKo", 1, None, ""),
    );
    let rs = responses(&mut e);
    assert_eq!(codes(&rs), vec![200]);
    let allow = rs[0]
        .headers
        .get_raw(&Name::ALLOW)
        .next()
        .expect("allow")
        .to_string();
    assert!(allow.contains("INVITE") && allow.contains("INFO"));
}

#[test]
fn invite_without_sdp_gets_offer_and_answer_comes_in_ack() {
    let mut e = engine();
    let now = Instant::now();
    let (call, ok, tag) = answered_call(&mut e, now, "");
    assert!(String::from_utf8_lossy(&ok.body).contains("a=rtpmap:8 PCMA/8000"));
    assert!(events(&mut e).is_empty(), "no media until the answer");
    let answer = OFFER
        .replace("RTP/AVP 0 101", "RTP/AVP 8")
        .replace("0 PCMU", "8 PCMA");
    let mut ack = request("ACK", "500", "z9hG4bKack", 1, Some(&tag), &answer);
    e.handle_message(now, Transport::Udp, caller(), &ack);
    let evs = events(&mut e);
    assert!(
        matches!(&evs[..], [Event::CallStarted { call: c, media, .. }, ..]
        if *c == call && media.codec == chorus_types::Codec::Pcma)
    );
    ack.clear();
}

#[test]
fn reinvite_to_hold_changes_direction() {
    let mut e = engine();
    let now = Instant::now();
    let (call, _, tag) = answered_call(&mut e, now, OFFER);
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "500", "z9hG4bKack", 1, Some(&tag), ""),
    );
    events(&mut e);
    let hold = format!("{OFFER}a=sendonly\r\n").replace("6000", "6002");
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKre", 2, Some(&tag), &hold),
    );
    let rs = responses(&mut e);
    assert_eq!(codes(&rs), vec![100, 200]);
    assert!(String::from_utf8_lossy(&rs[1].body).contains("a=recvonly"));
    let evs = events(&mut e);
    assert!(matches!(&evs[..], [Event::MediaChanged { call: c, media }]
        if *c == call && media.remote_direction == Direction::SendOnly && media.remote.port() == 6002));
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "500", "z9hG4bKack2", 2, Some(&tag), ""),
    );
    e.handle_timeout(now + Duration::from_secs(1));
    assert!(responses(&mut e).is_empty(), "re-INVITE 200 acknowledged");
}

#[test]
fn shutdown_sends_bye_and_refuses_new_calls() {
    let mut e = engine();
    let now = Instant::now();
    let (call, _, tag) = answered_call(&mut e, now, OFFER);
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "500", "z9hG4bKack", 1, Some(&tag), ""),
    );
    events(&mut e);
    e.shutdown(now);
    let byes = requests(&mut e);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].method, Method::BYE);
    assert_eq!(
        events(&mut e),
        vec![Event::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
    assert!(!e.is_idle(), "waiting for the BYE's answer");
    let bye = &byes[0];
    let ok = ResponseBuilder::new(bye, 200, None).build();
    e.handle_message(now, Transport::Udp, caller(), &ok);
    assert!(e.is_idle());
    let mut second = request("INVITE", "500", "z9hG4bKinv2", 1, None, OFFER);
    e.handle_message(now, Transport::Udp, caller(), &second);
    assert_eq!(codes(&responses(&mut e)), vec![100, 503]);
    second.clear();
}

#[test]
fn ring_delay_sends_180_then_200_and_cancel_in_between_gets_487() {
    let mut e = engine();
    e.config.answer_delay = Duration::from_secs(1);
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKinv", 1, None, OFFER),
    );
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media requested");
    };
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    assert_eq!(codes(&responses(&mut e)), vec![100, 180]);
    assert_eq!(e.poll_timeout(), Some(now + Duration::from_secs(1)));
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("CANCEL", "500", "z9hG4bKinv", 1, None, ""),
    );
    assert_eq!(codes(&responses(&mut e)), vec![200, 487]);
    e.handle_timeout(now + Duration::from_secs(1));
    // Only the 487 is retransmitted (no ACK yet); never a 200.
    assert_eq!(codes(&responses(&mut e)), vec![487]);

    events(&mut e);
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKinv2", 1, None, OFFER),
    );
    responses(&mut e);
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media requested");
    };
    e.media_ready(now, call, "127.0.0.1:20002".parse().expect("addr"));
    assert_eq!(codes(&responses(&mut e)), vec![180]);
    e.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(codes(&responses(&mut e)), vec![200]);
}

// ---- Conference rules through the engine -------------------------------------------------

use crate::MediaCommand;

fn engine_with(rules: chorus_policy::Settings) -> Engine {
    let mut e = engine();
    e.config.extensions.insert(
        "500".to_owned(),
        ExtensionConfig {
            rules,
            ..ExtensionConfig::default()
        },
    );
    e
}

/// A caller with its own Call-ID and port dials 500 and gets media; returns its id, To tag
/// and the events after the answer.
fn dial(e: &mut Engine, now: Instant, n: u16) -> (CallId, String, Vec<Event>) {
    let (call, tag, _, evs) = dial_to(e, now, n, "500");
    (call, tag, evs)
}

/// As [`dial`], to any Request-URI user; also returns the 200.
fn dial_to(
    e: &mut Engine,
    now: Instant,
    n: u16,
    user: &str,
) -> (CallId, String, Response, Vec<Event>) {
    dial_with_header(e, now, n, user, "")
}

/// As [`dial_to`], the INVITE carrying `header` (a whole line with its CRLF, or "").
fn dial_with_header(
    e: &mut Engine,
    now: Instant,
    n: u16,
    user: &str,
    header: &str,
) -> (CallId, String, Response, Vec<Event>) {
    let text = String::from_utf8(request(
        "INVITE",
        user,
        &format!("z9hG4bKc{n}"),
        1,
        None,
        OFFER,
    ))
    .expect("utf8")
    .replace(
        "Call-ID: call-1\r\n",
        &format!("Call-ID: call-{n}\r\n{header}"),
    )
    .replace(CALLER, &format!("127.0.0.1:{}", 5100 + n));
    let source: SocketAddr = format!("127.0.0.1:{}", 5100 + n).parse().expect("addr");
    e.handle_message(now, Transport::Udp, source, text.as_bytes());
    let Some(call) = requested_media(e) else {
        panic!("media requested");
    };
    e.media_ready(
        now,
        call,
        format!("127.0.0.1:{}", 20000 + 2 * n)
            .parse()
            .expect("addr"),
    );
    let ok = responses(e)
        .into_iter()
        .find(|r| r.code == 200)
        .expect("200");
    let tag = ok.essentials().expect("ess").to.tag.expect("tag");
    let ack = String::from_utf8(request(
        "ACK",
        user,
        &format!("z9hG4bKa{n}"),
        1,
        Some(&tag),
        "",
    ))
    .expect("utf8")
    .replace("Call-ID: call-1", &format!("Call-ID: call-{n}"))
    .replace(CALLER, &format!("127.0.0.1:{}", 5100 + n));
    e.handle_message(now, Transport::Udp, source, ack.as_bytes());
    (call, tag.to_string(), ok, events(e))
}

fn keys(e: &mut Engine, now: Instant, call: CallId, keys: &str) -> Vec<Event> {
    for digit in keys.chars() {
        e.handle_media_event(now, crate::MediaEvent::Digit { call, digit });
    }
    events(e)
}

fn last_play(evs: &[Event]) -> Option<u64> {
    evs.iter().rev().find_map(|ev| match ev {
        Event::Media(MediaCommand::Play { id, .. }) => Some(*id),
        _ => None,
    })
}

fn joined(evs: &[Event]) -> Option<bool> {
    evs.iter().find_map(|ev| match ev {
        Event::Media(MediaCommand::Join { muted, .. }) => Some(*muted),
        _ => None,
    })
}

fn pins() -> chorus_policy::Settings {
    chorus_policy::Settings {
        pin: Some("1234".into()),
        moderator_pin: Some("9999".into()),
        ..Default::default()
    }
}

fn trunk() -> SocketAddr {
    "127.0.0.1:5090".parse().expect("addr")
}

fn engine_with_dialout() -> Engine {
    let mut e = engine();
    e.config.dialout = Some(DialOut {
        uri_template: "sip:{number}@127.0.0.1:5090".into(),
        destination: trunk(),
        transport: Transport::Udp,
        caller_id_template: "sip:conference-{extension}@127.0.0.1".into(),
        credentials: Some(("bridge".into(), "secret".into())),
        digits: 3..=15,
        ring_timeout: Duration::from_secs(30),
        max_per_conference: 2,
        max_total: 10,
        announce_recording: true,
        policy: DialPolicy::default(),
    });
    e
}

/// The bridge's INVITE to the trunk after `*8 7001 #`.
fn invited(e: &mut Engine, now: Instant, inviter: CallId) -> (CallId, Request) {
    keys(e, now, inviter, "*8");
    let evs = keys(e, now, inviter, "7001#");
    let id = evs
        .iter()
        .find_map(|ev| match ev {
            Event::MediaRequested { call } => Some(*call),
            _ => None,
        })
        .expect("media for the invitation");
    assert!(evs.iter().any(|ev| matches!(ev, Event::Media(MediaCommand::Music { call, clip: Some(_) }) if *call == inviter)), "ringback");
    e.media_ready(now, id, "127.0.0.1:20100".parse().expect("addr"));
    let invite = std::iter::from_fn(|| e.poll_transmit())
        .find_map(|t| match parse(&t.data) {
            Ok(Message::Request(r)) if r.method == Method::INVITE => {
                assert_eq!(t.destination, trunk());
                Some(r)
            }
            _ => None,
        })
        .expect("INVITE to the trunk");
    (id, invite)
}

fn answer(invite: &Request, code: u16, extra: &str, body: &str) -> Vec<u8> {
    let mut text =
        String::from_utf8(ResponseBuilder::new(invite, code, Some("far")).build()).expect("utf8");
    let head_end = text.find("Content-Length").expect("length");
    text.truncate(head_end);
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!("{text}{extra}Contact: <sip:7001@127.0.0.1:5090>\r\n{content_type}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}
