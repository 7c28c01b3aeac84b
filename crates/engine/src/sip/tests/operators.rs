//! What operators see: locks that hold on empty conferences, state events only on change,
//! refused callers and one summary per call.

use super::*;

#[test]
fn an_empty_conference_can_be_locked_ahead_and_stays_locked() {
    let mut e = engine();
    let now = Instant::now();
    assert!(!e.set_locked("nope", true), "unknown extension");
    assert!(e.set_locked("500", true));
    assert!(e.set_locked("500", true), "again: still fine");
    let locked: Vec<Notification> = notifications(&mut e);
    assert_eq!(locked.len(), 1, "announced once: {locked:?}");
    let (_, _, evs) = dial(&mut e, now, 1);
    assert!(joined(&evs).is_none(), "refused while locked");
    assert!(notifications(&mut e).is_empty());
    assert!(e.set_locked("500", false));
    assert_eq!(notifications(&mut e).len(), 1, "unlocked");
    let (_, _, evs) = dial(&mut e, now, 2);
    assert_eq!(joined(&evs), Some(false));
}

#[test]
fn muting_a_muted_member_says_nothing_and_refusals_and_ends_are_reported() {
    let mut e = engine_with(chorus_policy::Settings {
        max_members: Some(1),
        ..Default::default()
    });
    let now = Instant::now();
    let (a, _, _) = dial(&mut e, now, 1);
    notifications(&mut e);
    assert!(e.set_member_muted("500", a.0, true));
    assert_eq!(notifications(&mut e).len(), 1);
    assert!(e.set_member_muted("500", a.0, true));
    assert!(notifications(&mut e).is_empty(), "no duplicate muted event");
    // A second caller meets a full conference.
    let text = String::from_utf8(request("INVITE", "500", "z9hG4bKfull", 1, None, OFFER))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-full")
        .replace(CALLER, "127.0.0.1:5999");
    let source: SocketAddr = "127.0.0.1:5999".parse().expect("addr");
    e.handle_message(now, Transport::Udp, source, text.as_bytes());
    let Some(Event::MediaRequested { call }) = e.poll_event() else {
        panic!("media");
    };
    e.media_ready(now, call, "127.0.0.1:20100".parse().expect("addr"));
    let ok = responses(&mut e).pop().expect("200");
    let tag = ok.essentials().expect("ess").to.tag.expect("tag");
    let ack = String::from_utf8(request("ACK", "500", "z9hG4bKfa", 1, Some(&tag), ""))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-full")
        .replace(CALLER, "127.0.0.1:5999");
    e.handle_message(now, Transport::Udp, source, ack.as_bytes());
    assert!(
        notifications(&mut e)
            .iter()
            .any(|n| matches!(n, Notification::Refused { reason, .. } if reason == "full"))
    );
    // Hanging up the first gives one summary with its reason.
    e.hangup(now + Duration::from_secs(5), a);
    let ended: Vec<Notification> = notifications(&mut e)
        .into_iter()
        .filter(|n| matches!(n, Notification::CallEnded(_)))
        .collect();
    assert!(
        matches!(
            &ended[..],
            [Notification::CallEnded(CallSummary { duration_ms: 5000, reason, codec: Some(codec), .. })]
                if reason == "local_hangup" && codec == "pcmu"
        ),
        "{ended:?}"
    );
}

#[test]
fn an_operator_sets_volume_and_deafness_and_each_change_is_carried_out_and_told_once() {
    let mut e = engine();
    let now = Instant::now();
    let (a, _, _) = dial(&mut e, now, 1);
    notifications(&mut e);
    let change = HearingChange::Volume {
        input_tenths_db: Some(-60),
        output_tenths_db: Some(500),
    };
    assert!(e.set_member_hearing("500", a.0, change));
    let all: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
    assert!(all.contains(&Event::Media(MediaCommand::SetHearing {
        call: a,
        input_tenths_db: -60,
        // +50 dB is brought into the range: +12 dB at most.
        output_tenths_db: 120,
        deaf: false,
    })));
    assert!(all.iter().any(|ev| matches!(ev,
        Event::Notify(Notification::Hearing { member, hearing, .. })
            if *member == a.0 && hearing.input_tenths_db == -60 && !hearing.deaf)));
    // The same again changes nothing and says nothing.
    assert!(e.set_member_hearing("500", a.0, change));
    assert!(std::iter::from_fn(|| e.poll_event()).next().is_none());
    assert!(e.set_member_hearing("500", a.0, HearingChange::Deaf(true)));
    let members = e.members("500").expect("live");
    assert_eq!(
        members[0].hearing,
        Hearing {
            input_tenths_db: -60,
            output_tenths_db: 120,
            deaf: true
        }
    );
    assert!(!e.set_member_hearing("500", 999, HearingChange::Deaf(true)));
    assert!(!e.set_member_hearing("501", a.0, HearingChange::Deaf(true)));
}

#[test]
fn voice_processing_follows_the_conference_setting_else_the_bridge_and_changes_live() {
    let mut e = engine();
    let now = Instant::now();
    let voice = |evs: &[Event]| {
        evs.iter().find_map(|ev| match ev {
            Event::Media(MediaCommand::SetVoice { processing, .. }) => Some(*processing),
            _ => None,
        })
    };
    // The conference sets nothing: the bridge's default (gain control on).
    let (a, _, evs) = dial(&mut e, now, 1);
    assert_eq!(voice(&evs), Some(chorus_types::VoiceProcessing::default()));
    // The operator turns gain control off and suppression on for 500: the member
    // present follows at once.
    let mut extensions = HashMap::new();
    extensions.insert(
        "500".to_owned(),
        ExtensionConfig {
            auto_gain: Some(false),
            noise_suppression: Some(true),
            ..ExtensionConfig::default()
        },
    );
    e.set_extensions(extensions);
    let evs: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
    assert!(evs.contains(&Event::Media(MediaCommand::SetVoice {
        call: a,
        processing: chorus_types::VoiceProcessing {
            auto_gain: false,
            noise_suppression: true,
        },
    })));
}

/// A node being emptied: its health probe says 503, callers of the conference it hosts
/// still join, a call that would start a new conference here is turned away.
#[test]
fn draining_keeps_hosted_conferences_and_turns_new_ones_away() {
    let mut e = engine_with(chorus_policy::Settings::default());
    e.config
        .extensions
        .insert("501".to_owned(), ExtensionConfig::default());
    let now = Instant::now();
    let options = |e: &mut Engine, branch: &str| {
        e.handle_message(
            now,
            Transport::Udp,
            caller(),
            &request("OPTIONS", "500", branch, 1, None, ""),
        );
        codes(&responses(e))
    };
    assert_eq!(options(&mut e, "z9hG4bKo1"), vec![200]);
    dial(&mut e, now, 1);
    assert_eq!(e.hosted(), vec!["500".to_owned()]);
    std::iter::from_fn(|| e.poll_event()).for_each(drop);
    e.set_draining(true);
    e.set_draining(true);
    assert!(e.is_draining());
    // Said once, with the calls up: the heartbeat writes it at once.
    let said: Vec<Notification> = std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Notify(n @ Notification::Draining { .. }) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(said, vec![Notification::Draining { calls: 1 }]);
    assert_eq!(options(&mut e, "z9hG4bKo2"), vec![503]);
    let (_, _, evs) = dial(&mut e, now, 2);
    assert_eq!(
        joined(&evs),
        Some(false),
        "a caller of the hosted conference joins"
    );
    let invite = String::from_utf8(request("INVITE", "501", "z9hG4bKnew", 1, None, OFFER))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-new");
    e.handle_message(now, Transport::Udp, caller(), invite.as_bytes());
    assert_eq!(codes(&responses(&mut e)), vec![100, 503]);
    assert_eq!(e.hosted(), vec!["500".to_owned()]);
    e.set_draining(false);
    assert_eq!(options(&mut e, "z9hG4bKo3"), vec![200]);
}

/// Mute-all over REST follows `*91`: participants muted, moderators untouched; each
/// change names who asked for it, and a keypad command names the member who keyed it.
#[test]
fn mute_all_spares_moderators_and_every_action_names_who_asked() {
    let mut e = engine_with(pins());
    let mut now = Instant::now();
    let (moderator, _, _) = dial(&mut e, now, 1);
    keys(&mut e, now, moderator, "9999#");
    let (participant, _, _) = dial(&mut e, now, 2);
    keys(&mut e, now, participant, "1234#");
    events(&mut e);
    assert_eq!(e.set_all_muted("500", true), Some(1));
    let members = e.members("500").expect("live");
    let muted = |id: CallId| members.iter().find(|m| m.id == id.0).map(|m| m.muted);
    assert_eq!(muted(moderator), Some(false));
    assert_eq!(muted(participant), Some(true));
    assert_eq!(actions(&mut e), vec![("mute_all", None, Actor::Api)]);
    assert_eq!(
        e.set_all_muted("500", true),
        Some(0),
        "nothing left to mute"
    );
    assert!(
        actions(&mut e).is_empty(),
        "a change that changes nothing is no event"
    );
    assert_eq!(e.set_all_muted("501", false), None, "not live");
    // The moderator unmutes everyone with *90.
    now += Duration::from_secs(1);
    for digit in "*90".chars() {
        e.handle_media_event(
            now,
            MediaEvent::Digit {
                call: moderator,
                digit,
            },
        );
    }
    assert_eq!(
        actions(&mut e),
        vec![(
            "unmute_all",
            None,
            Actor::Keypad {
                member: moderator.0
            }
        )]
    );
    assert!(e.set_member_muted("500", participant.0, true));
    assert_eq!(
        actions(&mut e),
        vec![("mute", Some(participant.0), Actor::Api)]
    );
}

/// A sound played to everyone finishes when it has ended for each member, a member who
/// leaves counting as ended; one played to a member finishes with that member's.
#[test]
fn a_played_sound_finishes_when_everyone_heard_it_or_left() {
    let mut e = engine_with(chorus_policy::Settings::default());
    let now = Instant::now();
    let (a, _, _) = dial(&mut e, now, 1);
    let (b, tag_b, _) = dial(&mut e, now, 2);
    events(&mut e);
    let clip: Clip = vec![0i16; 800].into();
    let play = e.play_sound("500", None, clip.clone()).expect("played");
    let prompts: Vec<(CallId, u64)> = events(&mut e)
        .into_iter()
        .filter_map(|ev| match ev {
            Event::Media(MediaCommand::Play { call, id, .. }) => Some((call, id)),
            _ => None,
        })
        .collect();
    assert_eq!(prompts.len(), 2, "one prompt per member");
    let prompt_of = |leg: CallId| prompts.iter().find(|(c, _)| *c == leg).map(|(_, id)| *id);
    e.handle_media_event(
        now,
        MediaEvent::PlayDone {
            call: a,
            id: prompt_of(a).expect("a's"),
        },
    );
    let finished = |e: &mut Engine| {
        notifications(e)
            .into_iter()
            .filter(|n| matches!(n, Notification::PlayFinished { .. }))
            .collect::<Vec<_>>()
    };
    assert!(finished(&mut e).is_empty(), "b still hears it");
    // b hangs up before its prompt ends: the play is over.
    let bye = String::from_utf8(request("BYE", "500", "z9hG4bKbyeb", 2, Some(&tag_b), ""))
        .expect("utf8")
        .replace("Call-ID: call-1", "Call-ID: call-2")
        .replace(CALLER, "127.0.0.1:5102");
    let source: SocketAddr = "127.0.0.1:5102".parse().expect("addr");
    e.handle_message(now, Transport::Udp, source, bye.as_bytes());
    assert_eq!(
        finished(&mut e),
        vec![Notification::PlayFinished {
            conference: "500".into(),
            play,
            member: None
        }]
    );
    // To one member.
    let one = e
        .play_sound("500", Some(a.0), clip.clone())
        .expect("played");
    let id = last_play(&events(&mut e)).expect("a prompt");
    e.handle_media_event(now, MediaEvent::PlayDone { call: a, id });
    assert_eq!(
        finished(&mut e),
        vec![Notification::PlayFinished {
            conference: "500".into(),
            play: one,
            member: Some(a.0)
        }]
    );
    assert_eq!(e.play_sound("500", Some(b.0), clip.clone()), None, "gone");
    assert_eq!(e.play_sound("501", None, clip), None, "not live");
}

/// Recording a whole conference: only a live one; asking twice changes nothing; each
/// change is an action and a media command; emptying the conference ends it.
#[test]
fn a_conference_is_recorded_while_live_and_its_recording_ends_with_it() {
    let mut e = engine_with(chorus_policy::Settings::default());
    let now = Instant::now();
    assert_eq!(e.record_conference("500", true), None, "nobody in it");
    let (a, _, _) = dial(&mut e, now, 1);
    std::iter::from_fn(|| e.poll_event()).for_each(drop);
    assert_eq!(e.record_conference("500", true), Some(true));
    assert_eq!(e.record_conference("500", true), Some(false), "already");
    let said: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
    let commands: Vec<&MediaCommand> = said
        .iter()
        .filter_map(|ev| match ev {
            Event::Media(c @ MediaCommand::RecordConference { .. }) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        vec![&MediaCommand::RecordConference {
            conference: "500".into(),
            on: true
        }]
    );
    assert!(said.iter().any(|ev| matches!(
        ev,
        Event::Notify(Notification::Action {
            action: "record",
            member: None,
            by: Actor::Api,
            ..
        })
    )));
    assert!(e.conferences()[0].recording);
    // The last member leaves: the media side ends the file, and a new start is a change.
    assert!(e.kick(now, "500", a.0));
    assert_eq!(e.record_conference("500", false), None);
    dial(&mut e, now, 2);
    assert!(!e.conferences()[0].recording);
    assert_eq!(e.record_conference("500", true), Some(true));
    assert_eq!(e.record_conference("500", false), Some(true));
    assert!(!e.conferences()[0].recording);
}

/// An operator's move: refused into the same, an unknown, a locked or a full conference;
/// done, the member leaves one (reason `moved`) and joins the other as a participant,
/// muted under its mute_non_moderator, its leg moved rather than a new one made.
#[test]
fn a_member_is_moved_under_the_target_s_rules_but_not_its_pin() {
    let mut e = engine_with(chorus_policy::Settings::default());
    e.config.extensions.insert(
        "501".to_owned(),
        ExtensionConfig {
            rules: chorus_policy::Settings {
                pin: Some("2468".into()),
                mute_non_moderator: true,
                max_members: Some(2),
                ..chorus_policy::Settings::default()
            },
            ..ExtensionConfig::default()
        },
    );
    let now = Instant::now();
    let (a, _, _) = dial(&mut e, now, 1);
    let (b, _, _) = dial(&mut e, now, 2);
    std::iter::from_fn(|| e.poll_event()).for_each(drop);
    assert_eq!(
        e.move_member(now, "500", a.0, "500"),
        Err(MoveRefusal::Same)
    );
    assert_eq!(
        e.move_member(now, "500", a.0, "nope"),
        Err(MoveRefusal::NoConference)
    );
    assert_eq!(
        e.move_member(now, "500", 999, "501"),
        Err(MoveRefusal::NoMember)
    );
    assert_eq!(e.move_member(now, "500", a.0, "501"), Ok(()));
    let said: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
    assert!(said.contains(&Event::Media(MediaCommand::Move {
        call: a,
        to: "501".into()
    })));
    assert!(said.contains(&Event::Notify(Notification::MemberLeft {
        conference: "500".into(),
        member: a.0,
        reason: "moved".into()
    })));
    assert!(said.contains(&Event::Media(MediaCommand::Join {
        call: a,
        muted: true
    })));
    let members = e.members("501").expect("live");
    assert_eq!((members.len(), members[0].moderator), (1, false));
    // Full at two; then locked.
    assert_eq!(e.move_member(now, "500", b.0, "501"), Ok(()));
    let (c, _, _) = dial(&mut e, now, 3);
    assert_eq!(
        e.move_member(now, "500", c.0, "501"),
        Err(MoveRefusal::Full)
    );
    assert!(e.kick(now, "501", b.0));
    assert!(e.set_locked("501", true));
    assert_eq!(
        e.move_member(now, "500", c.0, "501"),
        Err(MoveRefusal::Locked)
    );
}
