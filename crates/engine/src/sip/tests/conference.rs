//! A caller's walk through a conference: entry with music and announcements, PINs and
//! their tries and timeouts, locks and limits, keypad mutes, recorded names, and what
//! operators control and see.

use super::*;

#[test]
fn open_conference_joins_at_once_with_music_then_announces_the_second() {
    let mut e = engine();
    let now = Instant::now();
    let (a, _, evs) = dial(&mut e, now, 1);
    assert_eq!(joined(&evs), Some(false));
    assert!(evs.iter().any(
        |ev| matches!(ev, Event::Media(MediaCommand::Music { call, clip: Some(_) }) if *call == a)
    ));
    let (b, _, evs) = dial(&mut e, now, 2);
    assert!(evs.iter().any(
        |ev| matches!(ev, Event::Media(MediaCommand::Music { call, clip: None }) if *call == a)
    ));
    assert!(evs.iter().any(
        |ev| matches!(ev, Event::Media(MediaCommand::Announce { except, .. }) if *except == Some(b))
    ));
}

#[test]
fn three_wrong_pins_end_the_call_after_goodbye() {
    let mut e = engine_with(pins());
    let now = Instant::now();
    let (call, _, evs) = dial(&mut e, now, 1);
    assert!(joined(&evs).is_none(), "no entry before the PIN");
    assert!(last_play(&evs).is_some(), "asked for the PIN");
    keys(&mut e, now, call, "1111#");
    // Keys during the pause after a wrong PIN are ignored.
    keys(&mut e, now + Duration::from_secs(1), call, "1234#");
    keys(&mut e, now + Duration::from_secs(3), call, "2222#");
    let later = now + Duration::from_secs(6);
    let evs = keys(&mut e, later, call, "3333#");
    let goodbye = last_play(&evs).expect("goodbye");
    assert!(requests(&mut e).is_empty(), "not before the goodbye ends");
    e.handle_media_event(later, crate::MediaEvent::PlayDone { call, id: goodbye });
    let byes = requests(&mut e);
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].method, Method::BYE);
    assert!(events(&mut e).contains(&Event::CallEnded {
        call,
        reason: EndReason::LocalHangup
    }));
}

#[test]
fn right_pin_joins_and_moderator_lock_refuses_even_moderators() {
    let mut e = engine_with(pins());
    let now = Instant::now();
    let (moderator, _, _) = dial(&mut e, now, 1);
    assert_eq!(joined(&keys(&mut e, now, moderator, "9999#")), Some(false));
    let (participant, _, _) = dial(&mut e, now, 2);
    assert_eq!(
        joined(&keys(&mut e, now, participant, "1234#")),
        Some(false)
    );
    // A participant may not lock.
    keys(&mut e, now, participant, "*92");
    assert!(!e.conferences["500"].is_locked());
    keys(&mut e, now, moderator, "*92");
    assert!(e.conferences["500"].is_locked());
    // The next caller is refused before the PIN prompt, moderator or not.
    let (third, _, evs) = dial(&mut e, now, 3);
    assert!(joined(&evs).is_none());
    let goodbye = last_play(&evs).expect("locked + goodbye");
    e.handle_media_event(
        now,
        crate::MediaEvent::PlayDone {
            call: third,
            id: goodbye,
        },
    );
    assert_eq!(requests(&mut e).len(), 1, "BYE to the refused caller");
    keys(&mut e, now, moderator, "*93");
    let (fourth, _, _) = dial(&mut e, now, 4);
    assert_eq!(joined(&keys(&mut e, now, fourth, "9999#")), Some(false));
}

#[test]
fn fourth_caller_into_max_members_three_is_refused() {
    let mut e = engine_with(chorus_policy::Settings {
        max_members: Some(3),
        ..Default::default()
    });
    let now = Instant::now();
    for n in 1..=3 {
        assert_eq!(joined(&dial(&mut e, now, n).2), Some(false));
    }
    let (_, _, evs) = dial(&mut e, now, 4);
    assert!(joined(&evs).is_none());
    assert!(last_play(&evs).is_some());
}

#[test]
fn info_keys_mute_and_mute_non_moderator_rules() {
    let mut e = engine_with(chorus_policy::Settings {
        mute_non_moderator: true,
        ..pins()
    });
    let now = Instant::now();
    let (moderator, mod_tag, _) = dial(&mut e, now, 1);
    assert_eq!(joined(&keys(&mut e, now, moderator, "9999#")), Some(false));
    let (participant, _, _) = dial(&mut e, now, 2);
    assert_eq!(joined(&keys(&mut e, now, participant, "1234#")), Some(true));
    // *1 from the participant changes nothing.
    let evs = keys(&mut e, now, participant, "*1");
    assert!(
        !evs.iter()
            .any(|ev| matches!(ev, Event::Media(MediaCommand::SetMuted { .. })))
    );
    // The moderator mutes themself with SIP INFO keys.
    for (n, signal) in ["*", "1"].iter().enumerate() {
        let body = format!("Signal={signal}\r\nDuration=160\r\n");
        let info = String::from_utf8(request(
            "INFO",
            "500",
            &format!("z9hG4bKinfo{n}"),
            2 + n as u32,
            Some(&mod_tag),
            "",
        ))
        .expect("utf8")
        .replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .replace(CALLER, "127.0.0.1:5101");
        e.handle_message(
            now,
            Transport::Udp,
            "127.0.0.1:5101".parse().expect("addr"),
            info.as_bytes(),
        );
    }
    assert_eq!(codes(&responses(&mut e)), vec![200, 200]);
    let evs = events(&mut e);
    assert!(
        evs.contains(&Event::Media(MediaCommand::SetMuted {
            call: moderator,
            muted: true
        })),
        "{evs:?}"
    );
    // *90 unmutes the participant.
    let evs = keys(&mut e, now, moderator, "*90");
    assert!(evs.contains(&Event::Media(MediaCommand::SetMuted {
        call: participant,
        muted: false
    })));
}

#[test]
fn recorded_name_is_announced_to_the_others() {
    let mut e = engine_with(chorus_policy::Settings {
        announce_caller_name: true,
        ..Default::default()
    });
    let now = Instant::now();
    let (first, _, evs) = dial(&mut e, now, 1);
    let beep = last_play(&evs).expect("say your name + beep");
    e.handle_media_event(
        now,
        crate::MediaEvent::PlayDone {
            call: first,
            id: beep,
        },
    );
    assert!(
        events(&mut e)
            .iter()
            .any(|ev| matches!(ev, Event::Media(MediaCommand::RecordName { .. })))
    );
    e.handle_media_event(
        now,
        crate::MediaEvent::NameRecorded {
            call: first,
            clip: vec![1i16; 800].into(),
        },
    );
    assert_eq!(joined(&events(&mut e)), Some(false));
    let (second, _, evs) = dial(&mut e, now, 2);
    let beep = last_play(&evs).expect("prompt");
    e.handle_media_event(
        now,
        crate::MediaEvent::PlayDone {
            call: second,
            id: beep,
        },
    );
    events(&mut e);
    let name: chorus_types::Clip = vec![7i16; 800].into();
    e.handle_media_event(
        now,
        crate::MediaEvent::NameRecorded {
            call: second,
            clip: name.clone(),
        },
    );
    let evs = events(&mut e);
    let announced = evs.iter().find_map(|ev| match ev {
        Event::Media(MediaCommand::Announce { clips, except, .. }) if *except == Some(second) => {
            Some(clips.clone())
        }
        _ => None,
    });
    let clips = announced.expect("announcement");
    assert_eq!(clips.len(), 3, "chime, name, has joined");
    assert_eq!(clips[1], name);
}

#[test]
fn pin_timeout_counts_as_a_try() {
    let mut e = engine_with(pins());
    let now = Instant::now();
    let (call, _, _) = dial(&mut e, now, 1);
    keys(&mut e, now, call, "12");
    let deadline = e.poll_timeout().expect("deadline");
    assert!(deadline <= now + Duration::from_secs(16));
    e.handle_timeout(now + Duration::from_secs(16));
    let evs = events(&mut e);
    assert!(last_play(&evs).is_some(), "wrong PIN, try again");
    let after_pause = now + Duration::from_secs(19);
    assert_eq!(
        joined(&keys(&mut e, after_pause, call, "1234#")),
        Some(false)
    );
}

#[test]
fn operator_control_and_notifications() {
    let mut e = engine();
    let now = Instant::now();
    let (a, _, _) = {
        let text =
            String::from_utf8(request("INVITE", "500", "z9hG4bKa", 1, None, OFFER)).expect("utf8");
        e.handle_message(now, Transport::Udp, caller(), text.as_bytes());
        let Some(Event::MediaRequested { call }) = e.poll_event() else {
            panic!("media")
        };
        e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
        responses(&mut e);
        (call, (), ())
    };
    let joined = notifications(&mut e);
    assert!(
        matches!(&joined[..], [Notification::MemberJoined { member, caller, moderator: false, .. }]
        if *member == a.0 && caller == "sip:alice@127.0.0.1")
    );
    let (b, _, _) = dial(&mut e, now, 2);
    notifications(&mut e);
    assert_eq!(
        e.conferences(),
        vec![ConferenceInfo {
            conference: "500".into(),
            members: 2,
            locked: false,
            temporary: false,
            recording: false,
        }]
    );
    let members = e.members("500").expect("live");
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| !m.muted && !m.talking && !m.invited));
    assert!(e.members("501").is_none());

    assert!(e.set_member_muted("500", b.0, true));
    assert!(
        e.members("500")
            .expect("live")
            .iter()
            .any(|m| m.id == b.0 && m.muted)
    );
    assert_eq!(
        notifications(&mut e),
        vec![Notification::Muted {
            conference: "500".into(),
            member: b.0,
            muted: true
        }]
    );
    assert!(!e.set_member_muted("500", 999, true));

    assert!(e.set_locked("500", true));
    assert_eq!(
        notifications(&mut e),
        vec![Notification::Locked {
            conference: "500".into(),
            locked: true
        }]
    );
    assert!(!e.set_locked("nope", true));

    e.handle_media_event(
        now,
        crate::MediaEvent::Talking {
            call: a,
            talking: true,
        },
    );
    assert!(
        e.members("500")
            .expect("live")
            .iter()
            .any(|m| m.id == a.0 && m.talking)
    );
    notifications(&mut e);

    assert!(e.kick(now, "500", b.0));
    let left = notifications(&mut e);
    assert!(left.contains(&Notification::MemberLeft {
        conference: "500".into(),
        member: b.0,
        reason: "kicked".into()
    }));
    assert_eq!(e.members("500").expect("live").len(), 1);

    e.end_conference("500");
    let evs = events(&mut e);
    let goodbye = last_play(&evs).expect("goodbye");
    e.handle_media_event(
        now,
        crate::MediaEvent::PlayDone {
            call: a,
            id: goodbye,
        },
    );
    assert!(e.members("500").is_none());
    assert_eq!(e.call_count(), 0);
}

// ---- *8 dial-out -------------------------------------------------------------------------
