//! REFER from a member: 202, the call to the target (with Replaces), NOTIFY sipfrag, and
//! the targets and senders the bridge refuses.

use super::*;

const BOB: &str = "127.0.0.1:5090";

/// Member `n` (from `dial`) sends REFER with this Refer-To; returns the response code.
fn refer(e: &mut Engine, now: Instant, n: u16, tag: &str, refer_to: &str, cseq: u32) -> u16 {
    let text = String::from_utf8(request(
        "REFER",
        "500",
        &format!("z9hG4bKr{cseq}"),
        cseq,
        Some(tag),
        "",
    ))
    .expect("utf8")
    .replace("Call-ID: call-1", &format!("Call-ID: call-{n}"))
    .replace(CALLER, &format!("127.0.0.1:{}", 5100 + n))
    .replace(
        "Content-Length: 0",
        &format!("Refer-To: {refer_to}\r\nContent-Length: 0"),
    );
    let source: SocketAddr = format!("127.0.0.1:{}", 5100 + n).parse().expect("addr");
    e.handle_message(now, Transport::Udp, source, text.as_bytes());
    let sent = sent(e);
    sent.iter()
        .find_map(|m| match m {
            Message::Response(r) if r.code >= 200 => Some(r.code),
            _ => None,
        })
        .unwrap_or(0)
}

/// The NOTIFYs among `messages`: (Subscription-State, sipfrag status line).
fn notifies(messages: &[Message]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::NOTIFY => Some((
                r.header(&Name::SUBSCRIPTION_STATE)
                    .unwrap_or_default()
                    .to_string(),
                String::from_utf8_lossy(&r.body).trim().to_owned(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_refers_a_party_who_is_called_with_replaces_and_joins() {
    let mut e = engine();
    let now = Instant::now();
    let (member, tag, _) = dial(&mut e, now, 1);
    let text = String::from_utf8(request("REFER", "500", "z9hG4bKr2", 2, Some(&tag), ""))
        .expect("utf8")
        .replace(CALLER, "127.0.0.1:5101")
        .replace(
            "Content-Length: 0",
            &format!("Refer-To: <sip:bob@{BOB}?Replaces=xyz%40phone%3Bto-tag%3Db1%3Bfrom-tag%3Da1>\r\nContent-Length: 0"),
        );
    e.handle_message(
        now,
        Transport::Udp,
        "127.0.0.1:5101".parse().expect("addr"),
        text.as_bytes(),
    );
    let out = sent(&mut e);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Response(r) if r.code == 202))
    );
    assert_eq!(
        notifies(&out),
        vec![(
            "active;expires=60".to_owned(),
            "SIP/2.0 100 Trying".to_owned()
        )]
    );
    let id = requested_media(&mut e).expect("media for the referred call");
    e.media_ready(now, id, "127.0.0.1:20100".parse().expect("addr"));
    let (invite, raw) = std::iter::from_fn(|| e.poll_transmit())
        .find_map(|t| match parse(&t.data) {
            Ok(Message::Request(r)) if r.method == Method::INVITE => {
                assert_eq!(t.destination, BOB.parse().expect("addr"));
                Some((r, String::from_utf8_lossy(&t.data).into_owned()))
            }
            _ => None,
        })
        .expect("INVITE to the target");
    assert_eq!(invite.uri, format!("sip:bob@{BOB}"));
    assert_eq!(
        invite.header(&Name::REPLACES).map(|r| r.trim().to_owned()),
        Some("xyz@phone;to-tag=b1;from-tag=a1".to_owned())
    );
    assert!(
        raw.contains("Referred-By: <sip:alice@127.0.0.1>"),
        "Referred-By names the referrer"
    );
    assert!(invite.header(&Name::AUTHORIZATION).is_none());

    let bob = BOB.parse().expect("addr");
    e.handle_message(now, Transport::Udp, bob, &answer(&invite, 180, "", ""));
    assert_eq!(
        notifies(&sent(&mut e)),
        vec![(
            "active;expires=60".to_owned(),
            "SIP/2.0 180 Ringing".to_owned()
        )]
    );
    let sdp = OFFER.replace("6000", "7000");
    e.handle_message(now, Transport::Udp, bob, &answer(&invite, 200, "", &sdp));
    let out = sent(&mut e);
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::Request(r) if r.method == Method::ACK))
    );
    assert_eq!(
        notifies(&out),
        vec![(
            "terminated;reason=noresource".to_owned(),
            "SIP/2.0 200 OK".to_owned()
        )]
    );
    let members = e.members("500").expect("live");
    assert!(members.iter().any(|m| m.id == id.0 && m.invited));
    assert!(members.iter().any(|m| m.id == member.0 && !m.invited));
}

#[test]
fn a_failed_referral_is_reported_and_the_member_hears_nothing() {
    let mut e = engine();
    let now = Instant::now();
    let (member, tag, _) = dial(&mut e, now, 1);
    assert_eq!(
        refer(&mut e, now, 1, &tag, &format!("<sip:bob@{BOB}>"), 2),
        202
    );
    let id = requested_media(&mut e).expect("media");
    e.media_ready(now, id, "127.0.0.1:20100".parse().expect("addr"));
    let invite = requests(&mut e)
        .into_iter()
        .find(|r| r.method == Method::INVITE)
        .expect("INVITE");
    e.handle_message(
        now,
        Transport::Udp,
        BOB.parse().expect("addr"),
        &answer(&invite, 486, "", ""),
    );
    let out = sent(&mut e);
    assert_eq!(
        notifies(&out),
        vec![(
            "terminated;reason=noresource".to_owned(),
            "SIP/2.0 486 Busy Here".to_owned()
        )]
    );
    let evs = events(&mut e);
    assert!(
        !evs.iter().any(
            |ev| matches!(ev, Event::Media(MediaCommand::Play { call, .. }) if *call == member)
        ),
        "the referrer's phone reports it; no prompt in the conference"
    );
}

#[test]
fn refers_outside_the_rules_are_refused() {
    let mut e = engine();
    let now = Instant::now();
    let (_, tag, _) = dial(&mut e, now, 1);
    let mut cseq = 1;
    let mut try_refer = |e: &mut Engine, refer_to: &str| {
        cseq += 1;
        refer(e, now, 1, &tag, refer_to, cseq)
    };
    // Outside the direct networks, a name the bridge cannot resolve, header injection,
    // another scheme.
    assert_eq!(try_refer(&mut e, "<sip:bob@192.0.2.7>"), 403);
    assert_eq!(try_refer(&mut e, "<sip:bob@evil.example>"), 403);
    assert_eq!(
        try_refer(&mut e, "<sip:bob@127.0.0.1?Replaces=a%0D%0AContact:%20x>"),
        400
    );
    assert_eq!(try_refer(&mut e, "<tel:+15551234>"), 400);
    assert_eq!(e.stats().dialout_refused, 2);
    // One referral at a time.
    assert_eq!(try_refer(&mut e, &format!("<sip:bob@{BOB}>")), 202);
    assert_eq!(try_refer(&mut e, &format!("<sip:carol@{BOB}>")), 491);

    // Outside a dialog: 405; in someone else's dialog: 481.
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("REFER", "500", "z9hG4bKout", 1, None, ""),
    );
    assert!(codes(&responses(&mut e)).contains(&405));
    assert_eq!(
        refer(&mut e, now, 1, "not-our-tag", "<sip:bob@127.0.0.1>", 50),
        481
    );
}

#[test]
fn an_invited_party_cannot_refer() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (_, invite) = invited(&mut e, now, inviter);
    let sdp = OFFER.replace("6000", "7000");
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 200, "", &sdp),
    );
    let _ = sent(&mut e);
    // The invited party (the trunk's side of the dialog) sends REFER.
    let from_tag = "far";
    let our_tag = invite
        .header(&Name::FROM)
        .and_then(|f| f.split("tag=").nth(1).map(str::to_owned))
        .expect("our tag");
    let call_id = invite.header(&Name::CALL_ID).expect("call-id").to_string();
    let text = format!(
        "REFER sip:conference-500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {}:5090;branch=z9hG4bKir\r\nMax-Forwards: 70\r\nFrom: <sip:7001@127.0.0.1:5090>;tag={from_tag}\r\nTo: <sip:conference-500@127.0.0.1>;tag={our_tag}\r\nCall-ID: {call_id}\r\nCSeq: 5 REFER\r\nRefer-To: <sip:bob@{BOB}>\r\nContent-Length: 0\r\n\r\n",
        "127.0.0.1"
    );
    e.handle_message(now, Transport::Udp, trunk(), text.as_bytes());
    assert!(codes(&responses(&mut e)).contains(&403));
}

#[test]
fn referrals_count_toward_the_hourly_caps() {
    let mut e = engine();
    let now = Instant::now();
    let (_, tag, _) = dial(&mut e, now, 1);
    let bob: SocketAddr = BOB.parse().expect("addr");
    // The default caps hold without a trunk: 20 an hour per conference.
    for n in 0..20u32 {
        let code = refer(&mut e, now, 1, &tag, &format!("<sip:bob@{BOB}>"), n + 2);
        assert_eq!(code, 202, "referral {n}");
        let id = requested_media(&mut e).expect("media");
        e.media_ready(now, id, "127.0.0.1:20100".parse().expect("addr"));
        let invite = requests(&mut e)
            .into_iter()
            .find(|r| r.method == Method::INVITE)
            .expect("INVITE");
        e.handle_message(now, Transport::Udp, bob, &answer(&invite, 486, "", ""));
        let _ = sent(&mut e);
    }
    assert_eq!(
        refer(&mut e, now, 1, &tag, &format!("<sip:bob@{BOB}>"), 30),
        403
    );
    // An hour on, the member may refer again.
    let later = now + Duration::from_secs(3601);
    assert_eq!(
        refer(&mut e, later, 1, &tag, &format!("<sip:bob@{BOB}>"), 31),
        202
    );
}
