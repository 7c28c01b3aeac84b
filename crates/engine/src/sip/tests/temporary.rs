//! Temporary conferences: the factory URI, the linger, the limits, and the operator's side.

use super::*;

/// The user part of a Contact like `<sip:t-abc@127.0.0.1:5060>;isfocus`.
fn focus_user(ok: &Response) -> String {
    let contact = ok
        .headers
        .get_raw(&Name::CONTACT)
        .next()
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert!(contact.ends_with(";isfocus"), "{contact}");
    contact
        .trim_start_matches("<sip:")
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn bye(e: &mut Engine, now: Instant, n: u16, user: &str, tag: &str) {
    let text = String::from_utf8(request(
        "BYE",
        user,
        &format!("z9hG4bKbye{n}"),
        2,
        Some(tag),
        "",
    ))
    .expect("utf8")
    .replace("Call-ID: call-1", &format!("Call-ID: call-{n}"))
    .replace(CALLER, &format!("127.0.0.1:{}", 5100 + n));
    let source: SocketAddr = format!("127.0.0.1:{}", 5100 + n).parse().expect("addr");
    e.handle_message(now, Transport::Udp, source, text.as_bytes());
    let _ = responses(e);
}

#[test]
fn the_factory_creates_a_conference_its_caller_runs_and_others_join_by_its_uri() {
    let mut e = engine();
    let now = Instant::now();
    let (a, tag_a, ok, _) = dial_to(&mut e, now, 1, "conference");
    let id = focus_user(&ok);
    assert!(id.starts_with("t-") && id.len() == 12, "{id}");
    assert!(e.is_temporary(&id));
    let (_, _, ok2, _) = dial_to(&mut e, now, 2, "conference");
    let other = focus_user(&ok2);
    assert_ne!(other, id, "each factory call makes its own conference");

    let (b, tag_b, ok_b, _) = dial_to(&mut e, now, 3, &id);
    assert_eq!(focus_user(&ok_b), id);
    let members = e.members(&id).expect("live");
    let role = |m: CallId| members.iter().find(|x| x.id == m.0).map(|x| x.moderator);
    assert_eq!(role(a), Some(true), "the creator moderates");
    assert_eq!(role(b), Some(false), "the others take part");
    // The creator's moderator keys work: *92 locks.
    let _ = keys(&mut e, now, a, "*92");
    assert!(
        e.conferences()
            .iter()
            .any(|c| c.conference == id && c.locked && c.temporary)
    );
    let _ = keys(&mut e, now, a, "*93");

    bye(&mut e, now, 1, "conference", &tag_a);
    bye(&mut e, now, 3, &id, &tag_b);
    let gone_at = now + Duration::from_secs(1);
    e.handle_timeout(gone_at);
    assert!(e.is_temporary(&id), "it lingers for parties on their way");
    let deadline = e.poll_timeout().expect("the linger's end");
    assert!(deadline <= now + Duration::from_secs(31), "{deadline:?}");
    e.handle_timeout(now + Duration::from_secs(31));
    assert!(!e.is_temporary(&id));
    assert!(e.conferences().iter().all(|c| c.conference != id));
    assert!(
        notifications(&mut e).iter().any(|n| matches!(n,
            Notification::ConferenceEnded { conference, reason } if *conference == id && reason == "empty")),
    );
    // Its URI no longer answers.
    e.handle_message(
        now + Duration::from_secs(32),
        Transport::Udp,
        caller(),
        &request("INVITE", &id, "z9hG4bKlate", 1, None, OFFER),
    );
    assert!(codes(&responses(&mut e)).contains(&404));
}

#[test]
fn a_caller_arriving_during_the_linger_keeps_it_alive() {
    let mut e = engine();
    let now = Instant::now();
    let (_, tag_a, ok, _) = dial_to(&mut e, now, 1, "conference");
    let id = focus_user(&ok);
    bye(&mut e, now, 1, "conference", &tag_a);
    let later = now + Duration::from_secs(20);
    let (b, _, _, _) = dial_to(&mut e, later, 2, &id);
    e.handle_timeout(later + Duration::from_secs(60));
    assert!(e.is_temporary(&id));
    assert_eq!(e.members(&id).map(|m| m.len()), Some(1));
    assert!(e.members(&id).is_some_and(|m| m[0].id == b.0));
}

#[test]
fn factory_limits_refuse_with_486_per_source_and_503_when_full() {
    let mut e = Engine::new(EngineConfig {
        seed: 7,
        adhoc: AdhocConfig {
            max: 3,
            per_source_per_minute: 2,
            ..AdhocConfig::default()
        },
        ..EngineConfig::default()
    });
    let now = Instant::now();
    let invite = |branch: &str| request("INVITE", "conference", branch, 1, None, OFFER);
    let from = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let outcome = |e: &mut Engine, port: u16, branch: &str| {
        let text = String::from_utf8(invite(branch))
            .expect("utf8")
            .replace("Call-ID: call-1", &format!("Call-ID: {branch}"));
        e.handle_message(now, Transport::Udp, from(port), text.as_bytes());
        if let Some(call) = requested_media(e) {
            e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
        }
        let codes = codes(&responses(e));
        *codes.last().expect("a response")
    };
    assert_eq!(outcome(&mut e, 5070, "z9hG4bKf1"), 200);
    assert_eq!(outcome(&mut e, 5070, "z9hG4bKf2"), 200);
    assert_eq!(
        outcome(&mut e, 5070, "z9hG4bKf3"),
        486,
        "a third from one source in a minute"
    );
    // Another address is another source.
    let other = SocketAddr::from(([127, 0, 0, 2], 5070));
    let text = String::from_utf8(invite("z9hG4bKf4"))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: f4");
    e.handle_message(now, Transport::Udp, other, text.as_bytes());
    if let Some(call) = requested_media(&mut e) {
        e.media_ready(now, call, "127.0.0.1:20002".parse().expect("addr"));
    }
    assert_eq!(codes(&responses(&mut e)).last(), Some(&200));
    assert_eq!(e.conferences().len(), 3);
    let text = String::from_utf8(invite("z9hG4bKf5"))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: f5");
    e.handle_message(
        now,
        Transport::Udp,
        SocketAddr::from(([127, 0, 0, 3], 5070)),
        text.as_bytes(),
    );
    assert_eq!(codes(&responses(&mut e)).last(), Some(&503), "at the limit");
    assert_eq!(e.stats().refused_adhoc, 2);
}

#[test]
fn a_provisioned_extension_named_like_the_factory_wins_and_an_empty_factory_is_off() {
    let mut e = engine();
    e.config
        .extensions
        .insert("conference".to_owned(), ExtensionConfig::default());
    let now = Instant::now();
    let (_, _, ok, _) = dial_to(&mut e, now, 1, "conference");
    assert_eq!(focus_user(&ok), "conference");
    assert!(e.conferences().iter().all(|c| !c.temporary));

    let mut off = Engine::new(EngineConfig {
        adhoc: AdhocConfig {
            factory: None,
            ..AdhocConfig::default()
        },
        ..EngineConfig::default()
    });
    off.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "conference", "z9hG4bKoff", 1, None, OFFER),
    );
    assert!(codes(&responses(&mut off)).contains(&404));
}

#[test]
fn operators_create_and_end_temporary_conferences() {
    let mut e = engine();
    let now = Instant::now();
    let rules = chorus_policy::Settings {
        pin: Some("4321".into()),
        ..Default::default()
    };
    let id = e
        .create_temporary(
            now,
            ExtensionConfig {
                rules,
                ..ExtensionConfig::default()
            },
        )
        .expect("created");
    assert!(notifications(&mut e).iter().any(|n| matches!(n,
        Notification::ConferenceCreated { conference, by } if *conference == id && by == "api")));
    assert!(
        e.conferences()
            .iter()
            .any(|c| c.conference == id && c.members == 0)
    );
    // Its PIN is asked: the caller is not in until it is keyed.
    let (a, _, _, evs) = dial_to(&mut e, now, 1, &id);
    assert_eq!(joined(&evs), None);
    let evs = keys(&mut e, now + Duration::from_secs(3), a, "4321#");
    assert_eq!(joined(&evs), Some(false));
    assert!(e.end_temporary(&id));
    assert!(!e.is_temporary(&id));
    assert!(!e.end_temporary(&id), "already gone");
    // An untouched one lingers out like an emptied one.
    let idle = e
        .create_temporary(now, ExtensionConfig::default())
        .expect("created");
    e.handle_timeout(now + Duration::from_secs(31));
    assert!(!e.is_temporary(&idle));
}
