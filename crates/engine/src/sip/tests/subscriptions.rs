//! The conference event package: who may subscribe, the full and partial roster
//! documents, refresh, unsubscribe, expiry, and the ends of a subscription.

use super::*;

const WATCHER: &str = "127.0.0.1:5300";
const STRANGER: &str = "127.0.0.2:5300";

/// A SUBSCRIBE from `source`; `to_tag` for a refresh. `extra` are header lines.
fn subscribe(
    e: &mut Engine,
    now: Instant,
    source: &str,
    user: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
) -> Vec<Message> {
    // Every request its own transaction, even when a test repeats a CSeq on purpose.
    static BRANCH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let branch = BRANCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "SUBSCRIBE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {source};branch=z9hG4bKs{branch}\r\nMax-Forwards: 70\r\nFrom: \"Watcher\" <sip:watcher@127.0.0.1>;tag=w1\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\nCall-ID: sub-1\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:watcher@{source}>\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    e.handle_message(
        now,
        Transport::Udp,
        source.parse().expect("addr"),
        text.as_bytes(),
    );
    sent(e)
}

fn final_code(messages: &[Message]) -> Option<&Response> {
    messages.iter().find_map(|m| match m {
        Message::Response(r) if r.code >= 200 => Some(r),
        _ => None,
    })
}

fn notifies(messages: Vec<Message>) -> Vec<Request> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            Message::Request(r) if r.method == Method::NOTIFY => Some(r),
            _ => None,
        })
        .collect()
}

fn body(r: &Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn state(r: &Request) -> String {
    r.header(&Name::SUBSCRIPTION_STATE)
        .unwrap_or_default()
        .to_owned()
}

/// Answers a NOTIFY from the watcher.
fn answer(e: &mut Engine, now: Instant, notify: &Request, code: u16) {
    let data = chorus_sip_msg::ResponseBuilder::new(notify, code, None).build();
    e.handle_message(now, Transport::Udp, WATCHER.parse().expect("addr"), &data);
}

/// Runs the engine's timers up to `now` and returns the NOTIFYs it sent.
fn tick(e: &mut Engine, now: Instant) -> Vec<Request> {
    if e.poll_timeout().is_some_and(|t| t <= now) {
        e.handle_timeout(now);
    }
    notifies(sent(e))
}

/// A member's watcher subscribed to 500 and has its first NOTIFY; returns our tag.
fn subscribed(e: &mut Engine, now: Instant) -> (String, Request) {
    let out = subscribe(
        e,
        now,
        WATCHER,
        "500",
        1,
        None,
        "Event: conference\r\nExpires: 600\r\n",
    );
    let ok = final_code(&out).expect("answered").clone();
    assert_eq!(ok.code, 200);
    assert_eq!(
        ok.headers.get_raw(&Name::EXPIRES).next().map(|v| v.trim()),
        Some("600")
    );
    let contact = ok
        .headers
        .get_raw(&Name::CONTACT)
        .next()
        .expect("contact")
        .to_string();
    assert!(
        contact.contains("sip:500@") && contact.contains(";isfocus"),
        "{contact}"
    );
    let tag = ok.essentials().expect("ess").to.tag.expect("tag");
    let mut first = notifies(out);
    assert_eq!(first.len(), 1);
    (tag, first.remove(0))
}

#[test]
fn a_member_sees_the_roster_then_every_change_as_a_versioned_partial() {
    let mut e = engine();
    let mut now = Instant::now();
    let (first, _, _) = dial(&mut e, now, 1);
    let (_, full) = subscribed(&mut e, now);
    assert_eq!(state(&full), "active;expires=600");
    assert_eq!(full.header(&Name::EVENT), Some("conference"));
    assert_eq!(
        full.content_type().as_deref(),
        Some("application/conference-info+xml")
    );
    let doc = body(&full);
    assert!(doc.contains("state=\"full\" version=\"1\""), "{doc}");
    assert!(
        doc.contains("<user entity=\"sip:alice@127.0.0.1\" state=\"full\">"),
        "{doc}"
    );
    assert!(doc.contains("<user-count>1</user-count>"));
    answer(&mut e, now, &full, 200);

    // A second member joins (the same user from another phone): one partial NOTIFY,
    // version 2, with that user's two endpoints.
    let _second = dial(&mut e, now, 2);
    now += Duration::from_millis(300);
    let partials = tick(&mut e, now);
    assert_eq!(partials.len(), 1, "one NOTIFY for the join");
    let doc = body(&partials[0]);
    assert!(doc.contains("state=\"partial\" version=\"2\""), "{doc}");
    assert_eq!(doc.matches("<endpoint ").count(), 2, "{doc}");
    answer(&mut e, now, &partials[0], 200);

    // Muted by an operator: the member's user is sent again, muted.
    assert!(e.set_member_muted("500", first.0, true));
    now += Duration::from_millis(300);
    let partials = tick(&mut e, now);
    assert_eq!(partials.len(), 1);
    let doc = body(&partials[0]);
    assert!(doc.contains("version=\"3\""), "{doc}");
    assert!(doc.contains("<status>muted-via-focus</status>"), "{doc}");
    // Nothing new: nothing sent.
    answer(&mut e, now, &partials[0], 200);
    now += Duration::from_millis(300);
    assert!(tick(&mut e, now).is_empty());
}

#[test]
fn changes_wait_for_the_previous_notify_and_are_sent_together() {
    let mut e = engine();
    let mut now = Instant::now();
    let (first, _, _) = dial(&mut e, now, 1);
    let (_, full) = subscribed(&mut e, now);
    // The first NOTIFY is not answered yet: changes pile up, nothing is sent.
    assert!(e.set_member_muted("500", first.0, true));
    assert!(e.set_locked("500", true));
    now += Duration::from_millis(300);
    assert!(tick(&mut e, now).is_empty());
    answer(&mut e, now, &full, 200);
    let partials = tick(&mut e, now);
    assert_eq!(partials.len(), 1, "both changes in one NOTIFY");
    let doc = body(&partials[0]);
    assert!(
        doc.contains("<locked>true</locked>") && doc.contains("muted-via-focus"),
        "{doc}"
    );
    assert!(doc.contains("version=\"2\""), "{doc}");
}

/// An engine whose operators' token is `s3cret-token`.
fn engine_with_token(security: Security) -> Engine {
    Engine::new(EngineConfig {
        seed: 7,
        security,
        subscriptions: SubscriptionConfig {
            operator_token: Some("s3cret-token".to_owned()),
            ..SubscriptionConfig::default()
        },
        ..EngineConfig::default()
    })
}

#[test]
fn only_members_or_the_operator_token_may_subscribe() {
    let mut e = engine_with_token(Security::default());
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let event = "Event: conference\r\n";
    // A stranger: 403 whether the conference exists or not, and no NOTIFY.
    for user in ["500", "nonexistent"] {
        let out = subscribe(&mut e, now, STRANGER, user, 1, None, event);
        assert_eq!(final_code(&out).map(|r| r.code), Some(403), "{user}");
        assert!(notifies(out).is_empty());
    }
    let wrong = format!("{event}Authorization: Bearer s3cret-tokem\r\n");
    let out = subscribe(&mut e, now, STRANGER, "500", 1, None, &wrong);
    assert_eq!(final_code(&out).map(|r| r.code), Some(403));
    // The token holder sees any conference, and learns which do not exist.
    let token = format!("{event}Authorization: Bearer s3cret-token\r\n");
    let out = subscribe(&mut e, now, STRANGER, "nonexistent", 1, None, &token);
    assert_eq!(final_code(&out).map(|r| r.code), Some(404));
    let out = subscribe(&mut e, now, STRANGER, "500", 2, None, &token);
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
    assert_eq!(notifies(out).len(), 1);
    assert_eq!(e.subscription_count(), 1);
    // Shedding load: nothing new, not even for the token.
    e.set_overloaded(true);
    let out = subscribe(&mut e, now, STRANGER, "500", 3, None, &token);
    assert_eq!(final_code(&out).map(|r| r.code), Some(503));
}

#[test]
fn untrusted_sources_are_refused_even_with_the_token() {
    let mut e = engine_with_token(Security {
        trusted_networks: vec!["127.0.0.1/32".parse().expect("net")],
        ..Security::default()
    });
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let token = "Event: conference\r\nAuthorization: Bearer s3cret-token\r\n";
    let out = subscribe(&mut e, now, STRANGER, "500", 1, None, token);
    assert_eq!(final_code(&out).map(|r| r.code), Some(403));
    let out = subscribe(&mut e, now, WATCHER, "500", 2, None, token);
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
}

#[test]
fn bad_subscribes_get_the_answer_that_names_the_fault() {
    let mut e = engine();
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let cases = [
        ("", 489, Some((Name::ALLOW_EVENTS, "conference"))),
        (
            "Event: presence\r\n",
            489,
            Some((Name::ALLOW_EVENTS, "conference")),
        ),
        (
            "Event: conference\r\nExpires: 30\r\n",
            423,
            Some((Name::MIN_EXPIRES, "60")),
        ),
        ("Event: conference\r\nExpires: soon\r\n", 400, None),
        (
            "Event: conference\r\nAccept: application/pidf+xml\r\n",
            406,
            Some((Name::ACCEPT, "application/conference-info+xml")),
        ),
    ];
    for (n, (extra, code, header)) in cases.into_iter().enumerate() {
        let out = subscribe(&mut e, now, WATCHER, "500", n as u32 + 1, None, extra);
        let response = final_code(&out).expect("answered");
        assert_eq!(response.code, code, "{extra:?}");
        if let Some((name, value)) = header {
            let got = response
                .headers
                .get_raw(&name)
                .next()
                .map(|v| v.trim().to_owned());
            assert_eq!(got.as_deref(), Some(value), "{extra:?}");
        }
    }
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn refresh_sends_the_whole_roster_again_and_unsubscribe_ends_it() {
    let mut e = engine();
    let mut now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let (tag, full) = subscribed(&mut e, now);
    answer(&mut e, now, &full, 200);
    now += Duration::from_secs(1);
    let out = subscribe(
        &mut e,
        now,
        WATCHER,
        "500",
        2,
        Some(&tag),
        "Event: conference\r\nExpires: 900\r\n",
    );
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
    let again = tick(&mut e, now);
    assert_eq!(again.len(), 1);
    let doc = body(&again[0]);
    assert!(doc.contains("state=\"full\" version=\"2\""), "{doc}");
    assert!(state(&again[0]).starts_with("active;expires="));
    answer(&mut e, now, &again[0], 200);
    // An out-of-order CSeq is refused; the wrong tag is no dialog of ours.
    let out = subscribe(
        &mut e,
        now,
        WATCHER,
        "500",
        2,
        Some(&tag),
        "Event: conference\r\n",
    );
    assert_eq!(final_code(&out).map(|r| r.code), Some(500));
    let out = subscribe(
        &mut e,
        now,
        WATCHER,
        "500",
        3,
        Some("nottag"),
        "Event: conference\r\n",
    );
    assert_eq!(final_code(&out).map(|r| r.code), Some(481));
    // Unsubscribe: 200, then a final NOTIFY with the state.
    let out = subscribe(
        &mut e,
        now,
        WATCHER,
        "500",
        4,
        Some(&tag),
        "Event: conference\r\nExpires: 0\r\n",
    );
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
    let last = notifies(out);
    assert_eq!(last.len(), 1);
    assert_eq!(state(&last[0]), "terminated;reason=timeout");
    assert!(body(&last[0]).contains("version=\"3\""));
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn a_subscription_expires_unless_refreshed() {
    let mut e = engine();
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let (_, full) = subscribed(&mut e, now);
    answer(&mut e, now, &full, 200);
    assert!(tick(&mut e, now + Duration::from_secs(599)).is_empty());
    let at = e.poll_timeout().expect("deadline");
    assert!(at <= now + Duration::from_secs(600));
    let last = tick(&mut e, now + Duration::from_secs(600));
    assert_eq!(last.len(), 1);
    assert_eq!(state(&last[0]), "terminated;reason=timeout");
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn a_fetch_with_expires_zero_gets_one_final_notify() {
    let mut e = engine();
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let out = subscribe(
        &mut e,
        now,
        WATCHER,
        "500",
        1,
        None,
        "Event: conference\r\nExpires: 0\r\n",
    );
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
    let n = notifies(out);
    assert_eq!(n.len(), 1);
    assert_eq!(state(&n[0]), "terminated;reason=timeout");
    assert!(body(&n[0]).contains("<user-count>1</user-count>"));
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn the_subscription_ends_when_its_member_leaves() {
    let mut e = engine();
    let mut now = Instant::now();
    let (member, _, _) = dial(&mut e, now, 1);
    let (_, full) = subscribed(&mut e, now);
    answer(&mut e, now, &full, 200);
    e.hangup(now, member);
    now += Duration::from_millis(300);
    let last = tick(&mut e, now);
    assert_eq!(last.len(), 1);
    assert_eq!(state(&last[0]), "terminated;reason=rejected");
    assert!(last[0].body.is_empty(), "nothing more about who is in");
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn a_failed_notify_ends_the_subscription() {
    let mut e = engine();
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    let (_, full) = subscribed(&mut e, now);
    answer(&mut e, now, &full, 481);
    assert_eq!(e.subscription_count(), 0);
    // Unanswered: Timer F ends it too.
    let (_, full) = subscribed(&mut e, now);
    let _ = full;
    let mut t = now;
    for _ in 0..100 {
        t += Duration::from_secs(1);
        e.handle_timeout(t);
        let _ = sent(&mut e);
    }
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn an_ended_temporary_conference_ends_its_subscriptions() {
    let mut e = engine();
    let now = Instant::now();
    let id = e
        .create_temporary(now, ExtensionConfig::default())
        .expect("created");
    let _member = dial_to(&mut e, now, 1, &id);
    let out = subscribe(&mut e, now, WATCHER, &id, 1, None, "Event: conference\r\n");
    assert_eq!(final_code(&out).map(|r| r.code), Some(200));
    let full = notifies(out).remove(0);
    assert!(
        state(&full).starts_with("active;expires=3600"),
        "default expiry"
    );
    answer(&mut e, now, &full, 200);
    assert!(e.end_temporary(&id));
    let last = tick(&mut e, now + Duration::from_millis(300));
    assert_eq!(last.len(), 1);
    assert_eq!(state(&last[0]), "terminated;reason=noresource");
    assert!(body(&last[0]).contains("<active>false</active>"));
}

#[test]
fn subscriptions_are_bounded_per_source() {
    let mut e = Engine::new(EngineConfig {
        seed: 7,
        subscriptions: SubscriptionConfig {
            per_source: 2,
            ..SubscriptionConfig::default()
        },
        ..EngineConfig::default()
    });
    let now = Instant::now();
    let _member = dial(&mut e, now, 1);
    for n in 1..=3u32 {
        let text = format!(
            "SUBSCRIBE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {WATCHER};branch=z9hG4bKm{n}\r\nMax-Forwards: 70\r\nFrom: <sip:w@127.0.0.1>;tag=w{n}\r\nTo: <sip:500@127.0.0.1>\r\nCall-ID: many-{n}\r\nCSeq: 1 SUBSCRIBE\r\nEvent: conference\r\nContent-Length: 0\r\n\r\n"
        );
        e.handle_message(
            now,
            Transport::Udp,
            WATCHER.parse().expect("addr"),
            text.as_bytes(),
        );
        let out = sent(&mut e);
        let expected = if n <= 2 { 200 } else { 503 };
        assert_eq!(final_code(&out).map(|r| r.code), Some(expected), "{n}");
    }
    assert_eq!(e.subscription_count(), 2);
}

#[test]
fn a_subscribe_inside_a_call_is_refused_without_touching_the_call() {
    let mut e = engine();
    let now = Instant::now();
    let (member, tag, _) = dial(&mut e, now, 1);
    let text = format!(
        "SUBSCRIBE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5101;branch=z9hG4bKin\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=alice\r\nTo: <sip:500@127.0.0.1>;tag={tag}\r\nCall-ID: call-1\r\nCSeq: 5 SUBSCRIBE\r\nEvent: conference\r\nContent-Length: 0\r\n\r\n"
    );
    e.handle_message(
        now,
        Transport::Udp,
        "127.0.0.1:5101".parse().expect("addr"),
        text.as_bytes(),
    );
    assert_eq!(final_code(&sent(&mut e)).map(|r| r.code), Some(403));
    assert!(
        e.members("500")
            .is_some_and(|m| m.iter().any(|m| m.id == member.0))
    );
}
