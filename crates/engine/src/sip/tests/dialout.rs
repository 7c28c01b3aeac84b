//! `*8`: the bridge inviting a number through the trunk: answer, busy, digest challenges,
//! ring timeout and cancel, and the refusals of a locked or full conference.

use super::*;

#[test]
fn star8_invites_and_the_answered_number_joins() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (id, invite) = invited(&mut e, now, inviter);
    assert_eq!(invite.uri, "sip:7001@127.0.0.1:5090");
    assert!(
        invite
            .header(&Name::FROM)
            .is_some_and(|f| f.contains("conference-500"))
    );
    e.handle_message(now, Transport::Udp, trunk(), &answer(&invite, 180, "", ""));
    let sdp = OFFER.replace("6000", "7000");
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 200, "", &sdp),
    );
    let acks = requests(&mut e);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].method, Method::ACK);
    assert_eq!(acks[0].uri, "sip:7001@127.0.0.1:5090");
    let evs = events(&mut e);
    assert!(evs.iter().any(|ev| matches!(ev, Event::CallStarted { call, media, .. } if *call == id && media.remote.port() == 7000)));
    assert_eq!(joined(&evs), Some(false), "joins without a PIN");
    assert!(evs.iter().any(|ev| matches!(ev, Event::Media(MediaCommand::Music { call, clip: None }) if *call == inviter)), "ringback stops");
    let members = e.members("500").expect("live");
    assert!(members.iter().any(|m| m.id == id.0 && m.invited));
    // A retransmitted 200 is ACKed again; the number's BYE ends its leg.
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 200, "", &sdp),
    );
    assert_eq!(requests(&mut e).len(), 1, "ACK again");
}

#[test]
fn busy_number_is_acked_and_the_inviter_hears_why() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (id, invite) = invited(&mut e, now, inviter);
    e.handle_message(now, Transport::Udp, trunk(), &answer(&invite, 486, "", ""));
    let acks = requests(&mut e);
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].method, Method::ACK);
    let evs = events(&mut e);
    assert!(last_play(&evs).is_some(), "busy prompt");
    assert!(
        evs.contains(&Event::CallEnded {
            call: id,
            reason: EndReason::LocalHangup
        }),
        "socket released"
    );
}

#[test]
fn proxy_challenge_is_answered_with_digest_credentials() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (_, invite) = invited(&mut e, now, inviter);
    let challenge = "Proxy-Authenticate: Digest realm=\"trunk\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"\r\n";
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 407, challenge, ""),
    );
    let sent = requests(&mut e);
    let again = sent
        .iter()
        .find(|r| r.method == Method::INVITE)
        .expect("second INVITE");
    let credentials = again
        .header(&Name::PROXY_AUTHORIZATION)
        .expect("credentials");
    assert!(credentials.contains("username=\"bridge\"") && credentials.contains("realm=\"trunk\""));
    assert!(
        again
            .header(&Name::CSEQ)
            .is_some_and(|c| c.starts_with('2'))
    );
    // A second challenge is a failure, not a loop.
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(again, 407, challenge, ""),
    );
    assert!(requests(&mut e).iter().all(|r| r.method == Method::ACK));
}

#[test]
fn ring_timeout_cancels_and_star_cancels_too() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (_, invite) = invited(&mut e, now, inviter);
    e.handle_message(now, Transport::Udp, trunk(), &answer(&invite, 180, "", ""));
    e.handle_timeout(now + Duration::from_secs(31));
    let sent = requests(&mut e);
    let cancel = sent
        .iter()
        .find(|r| r.method == Method::CANCEL)
        .expect("CANCEL at the ring timeout");
    assert_eq!(cancel.uri, invite.uri);
    e.handle_message(now, Transport::Udp, trunk(), &answer(&invite, 487, "", ""));
    assert!(last_play(&events(&mut e)).is_some(), "no-answer prompt");
    // Again, and this time the inviter presses *.
    let (_, invite) = invited(&mut e, now, inviter);
    e.handle_message(now, Transport::Udp, trunk(), &answer(&invite, 180, "", ""));
    keys(&mut e, now, inviter, "*");
    assert!(requests(&mut e).iter().any(|r| r.method == Method::CANCEL));
}

#[test]
fn locked_or_full_conference_refuses_to_dial() {
    let mut e = engine_with_dialout();
    if let Some(ext) = e.config.extensions.get_mut("500") {
        ext.rules = chorus_policy::Settings {
            max_members: Some(2),
            moderator_pin: None,
            ..pins()
        };
        ext.rules.pin = None;
    }
    let now = Instant::now();
    let (a, _, _) = dial(&mut e, now, 1);
    let (_b, _, _) = dial(&mut e, now, 2);
    // Full: two members and a limit of two.
    keys(&mut e, now, a, "*8");
    let evs = keys(&mut e, now, a, "7001#");
    assert!(
        !evs.iter()
            .any(|ev| matches!(ev, Event::MediaRequested { .. })),
        "dialled into a full conference"
    );
    assert!(last_play(&evs).is_some(), "refusal prompt");
    // Locked (by the operator), with room.
    e.config
        .extensions
        .get_mut("500")
        .expect("500")
        .rules
        .max_members = Some(10);
    assert!(e.set_locked("500", true));
    keys(&mut e, now, a, "*8");
    let evs = keys(&mut e, now, a, "7001#");
    assert!(
        !evs.iter()
            .any(|ev| matches!(ev, Event::MediaRequested { .. })),
        "dialled into a locked conference"
    );
    // Bad numbers get the error tone.
    assert!(e.set_locked("500", false));
    keys(&mut e, now, a, "*8");
    let evs = keys(&mut e, now, a, "12#");
    assert!(
        !evs.iter()
            .any(|ev| matches!(ev, Event::MediaRequested { .. })),
        "too short"
    );
}

/// An operator invites a number over REST: the `*8` path with nobody to hear ringback; the
/// same number rules and room; the answered number joins; operators see who asked.
#[test]
fn an_operator_invites_a_number_and_it_joins() {
    let mut e = engine_with_dialout();
    e.config
        .extensions
        .insert("500".to_owned(), ExtensionConfig::default());
    let now = Instant::now();
    assert_eq!(
        e.dial_out(now, "999", "7001"),
        Err(DialRefusal::NoConference)
    );
    assert_eq!(e.dial_out(now, "500", "70a1"), Err(DialRefusal::Number));
    assert_eq!(e.dial_out(now, "500", "12"), Err(DialRefusal::Number));
    // An empty conference may be dialled into: the number is its first member.
    let id = e.dial_out(now, "500", "7001").expect("dialling");
    let evs: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
    assert!(
        evs.iter()
            .any(|ev| matches!(ev, Event::MediaRequested { call } if *call == id))
    );
    assert!(
        !evs.iter()
            .any(|ev| matches!(ev, Event::Media(MediaCommand::Music { .. }))),
        "nobody to hear ringback"
    );
    assert!(evs.iter().any(|ev| matches!(ev, Event::Notify(Notification::DialOut { member: None, caller, outcome, .. }) if caller == "api" && outcome == "dialing")));
    e.media_ready(now, id, "127.0.0.1:20100".parse().expect("addr"));
    let invite = std::iter::from_fn(|| e.poll_transmit())
        .find_map(|t| match parse(&t.data) {
            Ok(Message::Request(r)) if r.method == Method::INVITE => Some(r),
            _ => None,
        })
        .expect("INVITE to the trunk");
    let sdp = OFFER.replace("6000", "7000");
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 200, "", &sdp),
    );
    let members = e.members("500").expect("live");
    assert!(members.iter().any(|m| m.id == id.0 && m.invited));
    // The room is shared with *8: two ringing at most per conference.
    let second = e.dial_out(now, "500", "7002").expect("second");
    let third = e.dial_out(now, "500", "7003").expect("third");
    assert_ne!(second, third);
    assert_eq!(e.dial_out(now, "500", "7004"), Err(DialRefusal::Busy));
    // Without a trunk there is nothing to dial through.
    let mut plain = engine();
    plain
        .config
        .extensions
        .insert("500".to_owned(), ExtensionConfig::default());
    assert_eq!(
        plain.dial_out(now, "500", "7001"),
        Err(DialRefusal::NoTrunk)
    );
}
