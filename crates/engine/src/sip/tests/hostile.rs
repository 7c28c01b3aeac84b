//! The engine against an attacker: spoofed dialogs, keys before the ACK, guessing,
//! crowds of callers that never get in, overload, toll fraud and silent legs.

use super::*;

/// `request` with another From tag, from another port: what a third party can forge.
fn forged(method: &str, branch: &str, cseq: u32, to_tag: &str, from_tag: &str) -> Vec<u8> {
    String::from_utf8(request(method, "500", branch, cseq, Some(to_tag), ""))
        .expect("utf8")
        .replace("tag=alice", &format!("tag={from_tag}"))
        .into_bytes()
}

fn ack(e: &mut Engine, now: Instant, tag: &str) {
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "500", "z9hG4bKack", 1, Some(tag), ""),
    );
}

#[test]
fn in_dialog_requests_need_the_callers_tag_too() {
    let mut e = engine();
    let now = Instant::now();
    let (_, _, tag) = answered_call(&mut e, now, OFFER);
    ack(&mut e, now, &tag);
    events(&mut e);
    for (n, method) in ["BYE", "INFO", "INVITE"].into_iter().enumerate() {
        let data = forged(
            method,
            &format!("z9hG4bKx{n}"),
            10 + n as u32,
            &tag,
            "forged",
        );
        e.handle_message(now, Transport::Udp, caller(), &data);
        let final_codes: Vec<u16> = codes(&responses(&mut e))
            .into_iter()
            .filter(|c| *c >= 200)
            .collect();
        assert_eq!(final_codes, vec![481], "{method}");
    }
    assert_eq!(e.call_count(), 1);
    assert!(events(&mut e).is_empty());
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("BYE", "500", "z9hG4bKbye", 20, Some(&tag), ""),
    );
    assert_eq!(codes(&responses(&mut e)), vec![200]);
    assert_eq!(e.call_count(), 0);
}

#[test]
fn keys_count_only_after_the_ack() {
    let mut e = engine_with(pins());
    let now = Instant::now();
    let (call, _, tag) = answered_call(&mut e, now, OFFER);
    events(&mut e);
    assert!(joined(&keys(&mut e, now, call, "1234#")).is_none());
    ack(&mut e, now, &tag);
    assert_eq!(joined(&keys(&mut e, now, call, "1234#")), Some(false));
}

#[test]
fn a_guessing_source_is_refused_at_invite_but_others_are_not() {
    let mut e = engine_with(pins());
    let mut now = Instant::now();
    // Five wrong PINs from 127.0.0.1 (two calls, pauses respected).
    for n in 1..=2u16 {
        let (call, _, _) = dial(&mut e, now, n);
        for _ in 0..3 {
            now += Duration::from_secs(3);
            keys(&mut e, now, call, "0000#");
        }
    }
    assert_eq!(
        e.stats().pin_checks,
        5,
        "the sixth came from a refused source"
    );
    let text = String::from_utf8(request("INVITE", "500", "z9hG4bKnew", 1, None, OFFER))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-late");
    e.handle_message(now, Transport::Udp, caller(), text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100, 403]);
    assert_eq!(e.stats().refused_guessing, 1);
    // Another address still gets in with the right PIN.
    let other: SocketAddr = "127.0.0.2:5070".parse().expect("addr");
    let text = String::from_utf8(request("INVITE", "500", "z9hG4bKother", 1, None, OFFER))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-other");
    e.handle_message(now, Transport::Udp, other, text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100]);
}

#[test]
fn callers_not_yet_in_are_capped_per_extension() {
    let mut e = engine_with(pins());
    e.config.security.max_pending_per_extension = 2;
    let now = Instant::now();
    dial(&mut e, now, 1);
    dial(&mut e, now, 2);
    let text = String::from_utf8(request("INVITE", "500", "z9hG4bKc3", 1, None, OFFER))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-3");
    e.handle_message(now, Transport::Udp, caller(), text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100, 486]);
}

#[test]
fn overload_sheds_new_calls_with_retry_after_but_serves_dialogs() {
    let mut e = engine();
    let now = Instant::now();
    let (_, tag, _) = dial(&mut e, now, 1);
    e.set_overloaded(true);
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKshed", 1, None, OFFER),
    );
    let rs = responses(&mut e);
    assert_eq!(codes(&rs), vec![100, 503]);
    let retry = rs[1]
        .headers
        .get_raw(&Name::RETRY_AFTER)
        .next()
        .map(|v| v.trim().to_owned());
    assert_eq!(retry.as_deref(), Some("5"));
    // The call in progress hangs up as ever.
    let bye = String::from_utf8(request("BYE", "500", "z9hG4bKb", 2, Some(&tag), ""))
        .expect("utf8")
        .replace(CALLER, "127.0.0.1:5101");
    e.handle_message(
        now,
        Transport::Udp,
        "127.0.0.1:5101".parse().expect("addr"),
        bye.as_bytes(),
    );
    assert_eq!(codes(&responses(&mut e)), vec![200]);
    assert_eq!(e.stats().shed, 1);
}

#[test]
fn untrusted_sources_get_403_and_unknown_extensions_can_be_a_decoy() {
    let mut e = engine();
    e.config.security.trusted_networks = vec!["10.0.0.0/8".parse().expect("net")];
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "500", "z9hG4bKu", 1, None, OFFER),
    );
    assert_eq!(codes(&responses(&mut e)), vec![100, 403]);

    let mut e = engine();
    e.config.security.unknown_extension = UnknownExtension::Answer;
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("INVITE", "999", "z9hG4bKd", 1, None, OFFER),
    );
    assert_eq!(codes(&responses(&mut e)), vec![100]);
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("answered like a conference");
    };
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    let ok = responses(&mut e).into_iter().next().expect("200");
    let tag = ok.essentials().expect("ess").to.tag.expect("tag");
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &request("ACK", "999", "z9hG4bKa", 1, Some(&tag), ""),
    );
    assert!(last_play(&events(&mut e)).is_some(), "asked for a PIN");
    let evs = keys(&mut e, now, call, "1234#");
    assert!(joined(&evs).is_none(), "no PIN opens it");
    assert_eq!(e.stats().pin_checks, 1);
}

#[test]
fn silent_legs_are_hung_up_with_bye() {
    let mut e = engine();
    let now = Instant::now();
    let (call, _, _) = dial(&mut e, now, 1);
    e.handle_media_event(now, crate::MediaEvent::Inactive { call });
    let byes = requests(&mut e);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].method, Method::BYE);
    assert!(events(&mut e).contains(&Event::CallEnded {
        call,
        reason: EndReason::MediaTimeout
    }));
    assert_eq!(e.stats().media_timeouts, 1);
}

#[test]
fn star8_policy_refuses_invited_parties_denied_numbers_and_the_hourly_cap() {
    let mut e = engine_with_dialout();
    if let Some(d) = &mut e.config.dialout {
        d.policy.per_conference_per_hour = 1;
    }
    let now = Instant::now();
    let (member, _, _) = dial(&mut e, now, 1);
    let dial_outcomes = |e: &mut Engine| -> Vec<String> {
        std::iter::from_fn(|| e.poll_event())
            .filter_map(|ev| match ev {
                Event::Notify(Notification::DialOut { outcome, .. }) => Some(outcome),
                _ => None,
            })
            .collect()
    };
    keys(&mut e, now, member, "*8");
    e.handle_media_event(
        now,
        crate::MediaEvent::Digit {
            call: member,
            digit: '0',
        },
    );
    for digit in "0442079460#".chars() {
        e.handle_media_event(
            now,
            crate::MediaEvent::Digit {
                call: member,
                digit,
            },
        );
    }
    assert_eq!(dial_outcomes(&mut e), vec!["refused_number"]);
    // A party the bridge dialled may not dial on.
    let (invited, _, _) = dial(&mut e, now, 2);
    if let Some(c) = e.calls.get_mut(&invited) {
        c.invited = true;
    }
    keys(&mut e, now, invited, "*8");
    for digit in "7001#".chars() {
        e.handle_media_event(
            now,
            crate::MediaEvent::Digit {
                call: invited,
                digit,
            },
        );
    }
    assert_eq!(dial_outcomes(&mut e), vec!["refused_invited_party"]);
    keys(&mut e, now, member, "*8");
    for digit in "7001#".chars() {
        e.handle_media_event(
            now,
            crate::MediaEvent::Digit {
                call: member,
                digit,
            },
        );
    }
    assert_eq!(dial_outcomes(&mut e), vec!["dialing"]);
    let (third, _, _) = dial(&mut e, now, 3);
    keys(&mut e, now, third, "*8");
    for digit in "7002#".chars() {
        e.handle_media_event(now, crate::MediaEvent::Digit { call: third, digit });
    }
    assert_eq!(dial_outcomes(&mut e), vec!["refused_hourly_cap"]);
    assert_eq!(e.stats().dialout_refused, 3);
}

/// An INVITE asking for a session timer.
fn invite_with_timer(session_expires: &str, supported: bool) -> Vec<u8> {
    let supported = if supported {
        "Supported: timer\r\n"
    } else {
        ""
    };
    String::from_utf8(request("INVITE", "500", "z9hG4bKst", 1, None, OFFER))
        .expect("utf8")
        .replace(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{supported}Session-Expires: {session_expires}\r\n"),
        )
        .into_bytes()
}

#[test]
fn session_timers_too_short_get_422_with_min_se() {
    let mut e = engine();
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &invite_with_timer("60", true),
    );
    let rs = responses(&mut e);
    assert_eq!(codes(&rs), vec![100, 422]);
    let min_se = rs[1]
        .headers
        .get_raw(&Name::MIN_SE)
        .next()
        .map(|v| v.trim().to_owned());
    assert_eq!(min_se.as_deref(), Some("90"));
}

#[test]
fn a_caller_that_stops_refreshing_is_hung_up() {
    let mut e = engine();
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &invite_with_timer("120;refresher=uac", true),
    );
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media");
    };
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    let ok = responses(&mut e).pop().expect("200");
    let value = |name: &Name| ok.headers.get_raw(name).next().map(|v| v.trim().to_owned());
    assert_eq!(
        value(&Name::SESSION_EXPIRES).as_deref(),
        Some("120;refresher=uac")
    );
    assert_eq!(value(&Name::REQUIRE).as_deref(), Some("timer"));
    let tag = ok.essentials().expect("ess").to.tag.expect("tag");
    ack(&mut e, now, &tag);
    events(&mut e);
    // A refresh at 60 s moves the deadline; none after it ends the call 88 s later.
    let reinvite = String::from_utf8(request("INVITE", "500", "z9hG4bKre", 2, Some(&tag), OFFER))
        .expect("utf8");
    e.handle_message(
        now + Duration::from_secs(60),
        Transport::Udp,
        caller(),
        reinvite.as_bytes(),
    );
    assert_eq!(codes(&responses(&mut e)), vec![100, 200]);
    ack(&mut e, now + Duration::from_secs(60), &tag);
    e.handle_timeout(now + Duration::from_secs(100));
    assert!(requests(&mut e).is_empty(), "refreshed at 60 s");
    e.handle_timeout(now + Duration::from_secs(60 + 88));
    let byes = requests(&mut e);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].method, Method::BYE);
    assert!(events(&mut e).contains(&Event::CallEnded {
        call,
        reason: EndReason::SessionExpired
    }));
}

#[test]
fn the_bridge_refreshes_and_hangs_up_when_the_refresh_finds_no_dialog() {
    let mut e = engine();
    let now = Instant::now();
    // No timer support at the caller: the bridge takes the refresher's role itself.
    let (call, _, tag) = answered_call(&mut e, now, OFFER);
    ack(&mut e, now, &tag);
    events(&mut e);
    let at = now + Duration::from_secs(900);
    e.handle_timeout(at);
    let refresh = requests(&mut e).pop().expect("refresh");
    assert_eq!(refresh.method, Method::INVITE);
    assert!(String::from_utf8_lossy(&refresh.body).contains("m=audio 20000"));
    e.handle_message(
        at,
        Transport::Udp,
        caller(),
        &answer(&refresh, 200, "", OFFER),
    );
    let ack = requests(&mut e).pop().expect("ACK");
    assert_eq!(ack.method, Method::ACK);
    assert!(
        events(&mut e)
            .iter()
            .any(|ev| matches!(ev, Event::MediaChanged { .. })),
        "a refresh is a sign of life for the media side too"
    );
    // The next one, at 1800 s, finds the dialog gone: BYE.
    let at = now + Duration::from_secs(1800);
    e.handle_timeout(at);
    let refresh = requests(&mut e).pop().expect("second refresh");
    e.handle_message(at, Transport::Udp, caller(), &answer(&refresh, 481, "", ""));
    let sent: Vec<Method> = requests(&mut e).into_iter().map(|r| r.method).collect();
    assert_eq!(sent, vec![Method::ACK, Method::BYE]);
    assert!(events(&mut e).contains(&Event::CallEnded {
        call,
        reason: EndReason::SessionExpired
    }));
}

#[test]
fn an_invited_number_granting_a_timer_is_refreshed_by_the_bridge() {
    let mut e = engine_with_dialout();
    let now = Instant::now();
    let (inviter, _, _) = dial(&mut e, now, 1);
    let (_, invite) = invited(&mut e, now, inviter);
    assert_eq!(
        invite.header(&Name::SESSION_EXPIRES).map(str::trim),
        Some("1800")
    );
    let granted = "Session-Expires: 90;refresher=uac\r\nRequire: timer\r\n";
    let sdp = OFFER.replace("6000", "7000");
    e.handle_message(
        now,
        Transport::Udp,
        trunk(),
        &answer(&invite, 200, granted, &sdp),
    );
    assert_eq!(requests(&mut e).len(), 1, "ACK");
    e.handle_timeout(now + Duration::from_secs(44));
    assert!(requests(&mut e).is_empty());
    e.handle_timeout(now + Duration::from_secs(45));
    let refresh = requests(&mut e).pop().expect("refresh");
    assert_eq!(refresh.method, Method::INVITE);
    assert_eq!(refresh.uri, "sip:7001@127.0.0.1:5090");
    assert_eq!(
        refresh.header(&Name::SESSION_EXPIRES).map(str::trim),
        Some("90;refresher=uac")
    );
}

#[test]
fn digest_authentication_challenges_checks_and_rations_guesses() {
    let mut e = engine();
    e.config.security.digest = Some(DigestUsers {
        realm: "chorus".into(),
        users: [("alice".to_owned(), "wonderland".to_owned())].into(),
        algorithms: vec![
            chorus_sip_proto::digest::Algorithm::Sha256,
            chorus_sip_proto::digest::Algorithm::Md5,
        ],
    });
    let now = Instant::now();
    let invite_with = |branch: &str, authorization: Option<&str>| -> Vec<u8> {
        let header = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        String::from_utf8(request("INVITE", "500", branch, 1, None, OFFER))
            .expect("utf8")
            .replace(
                "Max-Forwards: 70\r\n",
                &format!("Max-Forwards: 70\r\n{header}"),
            )
            .into_bytes()
    };
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &invite_with("z9hG4bKa1", None),
    );
    let rs = responses(&mut e);
    assert_eq!(codes(&rs), vec![100, 401]);
    let offered: Vec<String> = rs[1]
        .headers
        .get_raw(&Name::WWW_AUTHENTICATE)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(offered.len(), 2);
    assert!(offered[0].contains("SHA-256") && offered[1].contains("MD5"));
    let challenge = chorus_sip_proto::digest::parse_challenge(&offered[0]).expect("challenge");
    let answer = |password: &str| {
        chorus_sip_proto::digest::authorization(
            &challenge,
            "alice",
            password,
            "INVITE",
            "sip:500@127.0.0.1",
            "c0ffee",
            1,
        )
    };
    // Wrong passwords are challenged again; the fifth wrong one gets the source refused.
    for n in 0..5 {
        let branch = format!("z9hG4bKw{n}");
        e.handle_message(
            now,
            Transport::Udp,
            caller(),
            &invite_with(&branch, Some(&answer("guess"))),
        );
        assert_eq!(codes(&responses(&mut e)), vec![100, 401], "guess {n}");
    }
    e.handle_message(
        now,
        Transport::Udp,
        caller(),
        &invite_with("z9hG4bKw9", Some(&answer("wonderland"))),
    );
    assert_eq!(
        codes(&responses(&mut e)),
        vec![100, 403],
        "refused for guessing"
    );
    assert_eq!(e.stats().auth_failures, 5);
    // Another address with the right password gets in.
    let other: SocketAddr = "127.0.0.7:5070".parse().expect("addr");
    e.handle_message(
        now,
        Transport::Udp,
        other,
        &invite_with("z9hG4bKok", Some(&answer("wonderland"))),
    );
    assert_eq!(codes(&responses(&mut e)), vec![100]);
    assert!(matches!(e.poll_event(), Some(Event::MediaRequested { .. })));
    // A nonce past its lifetime is challenged again.
    let later = now + Duration::from_secs(400);
    e.handle_message(
        later,
        Transport::Udp,
        other,
        &invite_with("z9hG4bKold", Some(&answer("wonderland"))),
    );
    assert_eq!(codes(&responses(&mut e)), vec![100, 401]);
}

/// Behind a front door every call comes from the proxy: the guard must judge the caller
/// the proxy names, and nobody else may name one.
#[test]
fn behind_a_trusted_proxy_the_guard_judges_the_caller_it_names() {
    let mut e = engine_with(pins());
    e.config.security.proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let mut now = Instant::now();
    let named = |ip: &str| format!("{ORIGIN_HEADER}: {ip}\r\n");
    for n in 1..=2u16 {
        let (call, _, _, _) = dial_with_header(&mut e, now, n, "500", &named("198.51.100.7"));
        for _ in 0..3 {
            now += Duration::from_secs(3);
            keys(&mut e, now, call, "0000#");
        }
    }
    assert_eq!(e.stats().pin_checks, 5);
    let invite = |branch: &str, call_id: &str, header: &str| {
        String::from_utf8(request("INVITE", "500", branch, 1, None, OFFER))
            .expect("utf8")
            .replace(
                "Call-ID: call-1\r\n",
                &format!("Call-ID: {call_id}\r\n{header}"),
            )
    };
    // The guesser, through the proxy: refused.
    let text = invite("z9hG4bKg", "call-g", &named("198.51.100.7"));
    e.handle_message(now, Transport::Udp, caller(), text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100, 403]);
    // Another caller through the same proxy: let in.
    let text = invite("z9hG4bKo", "call-o", &named("198.51.100.8"));
    e.handle_message(now, Transport::Udp, caller(), text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100]);
    // Anyone else naming a caller is judged by its own address.
    let stranger: SocketAddr = "127.0.0.3:5070".parse().expect("addr");
    let text = invite("z9hG4bKs", "call-s", &named("198.51.100.7"));
    e.handle_message(now, Transport::Udp, stranger, text.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100]);
}
