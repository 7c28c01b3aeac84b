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
