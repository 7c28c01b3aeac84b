//! Every (state, event) pair that matters, and properties over random event sequences.

use super::*;
use proptest::prelude::*;

fn pins() -> Settings {
    Settings {
        pin: Some("1234".into()),
        moderator_pin: Some("9999".into()),
        ..Settings::default()
    }
}

#[test]
fn pins_grant_roles() {
    let s = pins();
    assert_eq!(s.check_pin("1234"), Some(Role::Participant));
    assert_eq!(s.check_pin("9999"), Some(Role::Moderator));
    assert_eq!(s.check_pin("1111"), None);
    assert_eq!(s.check_pin(""), None);
    assert!(s.needs_pin());
    let open = Settings::default();
    assert!(!open.needs_pin());
    assert_eq!(open.check_pin("anything"), Some(Role::Participant));
}

#[test]
fn lock_refuses_everyone_including_moderators_until_unlocked() {
    let s = pins();
    let mut c = Conference::new();
    c.join(1, Role::Moderator, &s).expect("first");
    assert_eq!(c.command(1, Command::Lock, &s), Some(Outcome::Locked));
    assert_eq!(c.admission(&s), Err(Refusal::Locked));
    assert_eq!(c.join(2, Role::Moderator, &s), Err(Refusal::Locked));
    assert_eq!(c.join(3, Role::Participant, &s), Err(Refusal::Locked));
    assert_eq!(c.command(1, Command::Unlock, &s), Some(Outcome::Unlocked));
    assert!(c.join(2, Role::Participant, &s).is_ok());
}

#[test]
fn max_members_defaults_to_100_and_refuses_the_next() {
    let s = Settings {
        max_members: Some(3),
        ..Settings::default()
    };
    let mut c = Conference::new();
    for id in 1..=3 {
        c.join(id, Role::Participant, &s).expect("room");
    }
    assert_eq!(c.join(4, Role::Moderator, &s), Err(Refusal::Full));
    c.leave(2);
    assert!(c.join(4, Role::Participant, &s).is_ok());
    let mut big = Conference::new();
    let open = Settings::default();
    for id in 0..100 {
        big.join(id, Role::Participant, &open).expect("room");
    }
    assert_eq!(big.admission(&open), Err(Refusal::Full));
}

#[test]
fn mute_non_moderator_mutes_participants_and_locks_their_star1() {
    let s = Settings {
        mute_non_moderator: true,
        ..pins()
    };
    let mut c = Conference::new();
    let joined = c.join(1, Role::Participant, &s).expect("join");
    assert!(joined.muted);
    assert!(!c.can_speak(1));
    assert_eq!(
        c.command(1, Command::ToggleMute, &s),
        Some(Outcome::MuteLocked)
    );
    assert!(!c.can_speak(1));
    let joined = c.join(2, Role::Moderator, &s).expect("join");
    assert!(!joined.muted);
    assert_eq!(c.command(2, Command::ToggleMute, &s), Some(Outcome::Muted));
    assert_eq!(
        c.command(2, Command::ToggleMute, &s),
        Some(Outcome::Unmuted)
    );
    assert_eq!(
        c.command(2, Command::UnmuteAll, &s),
        Some(Outcome::UnmutedAll(vec![1]))
    );
    assert!(c.can_speak(1));
}

#[test]
fn star1_toggles_for_everyone_when_allowed() {
    let s = Settings::default();
    let mut c = Conference::new();
    c.join(1, Role::Participant, &s).expect("join");
    assert_eq!(c.command(1, Command::ToggleMute, &s), Some(Outcome::Muted));
    assert!(!c.can_speak(1));
    assert_eq!(
        c.command(1, Command::ToggleMute, &s),
        Some(Outcome::Unmuted)
    );
    assert!(c.can_speak(1));
}

#[test]
fn moderator_commands_are_refused_to_participants() {
    let s = pins();
    let mut c = Conference::new();
    c.join(1, Role::Participant, &s).expect("join");
    for cmd in [
        Command::UnmuteAll,
        Command::MuteAll,
        Command::Lock,
        Command::Unlock,
        Command::NotificationsOff,
        Command::NotificationsOn,
    ] {
        assert_eq!(c.command(1, cmd, &s), Some(Outcome::ModeratorsOnly));
    }
    assert!(!c.is_locked());
    assert!(c.notifications());
}

#[test]
fn mute_all_spares_moderators() {
    let s = pins();
    let mut c = Conference::new();
    c.join(1, Role::Moderator, &s).expect("join");
    c.join(2, Role::Participant, &s).expect("join");
    c.join(3, Role::Participant, &s).expect("join");
    assert_eq!(
        c.command(1, Command::MuteAll, &s),
        Some(Outcome::MutedAll(vec![2, 3]))
    );
    assert!(c.can_speak(1));
    assert!(!c.can_speak(2) && !c.can_speak(3));
}

#[test]
fn notifications_switch_and_music_while_alone() {
    let s = pins();
    let mut c = Conference::new();
    let first = c.join(1, Role::Moderator, &s).expect("join");
    assert!(first.alone && !first.announce);
    let second = c.join(2, Role::Participant, &s).expect("join");
    assert_eq!(second.no_longer_alone, Some(1));
    assert!(second.announce && !second.alone);
    c.command(1, Command::NotificationsOff, &s);
    let third = c.join(3, Role::Participant, &s).expect("join");
    assert!(!third.announce);
    assert_eq!(third.no_longer_alone, None);
    c.command(1, Command::NotificationsOn, &s);
    assert!(c.notifications());
    assert_eq!(c.leave(3), None);
    assert_eq!(c.leave(1), Some(2), "2 is alone again");
}

#[test]
fn turning_mute_non_moderator_on_mutes_participants_present() {
    let mut s = pins();
    let mut c = Conference::new();
    c.join(1, Role::Moderator, &s).expect("join");
    c.join(2, Role::Participant, &s).expect("join");
    s.mute_non_moderator = true;
    assert_eq!(c.apply_settings(&s), vec![2]);
    assert!(c.can_speak(1) && !c.can_speak(2));
}

#[test]
fn keypad_grammar() {
    let now = Instant::now();
    let mut k = Keypad::new();
    assert_eq!(k.press(now, '*'), Key::Pending);
    assert_eq!(k.press(now, '1'), Key::Command(Command::ToggleMute));
    for (digit, cmd) in [
        ('0', Command::UnmuteAll),
        ('1', Command::MuteAll),
        ('2', Command::Lock),
        ('3', Command::Unlock),
        ('4', Command::NotificationsOff),
        ('5', Command::NotificationsOn),
    ] {
        k.press(now, '*');
        k.press(now, '9');
        assert_eq!(k.press(now, digit), Key::Command(cmd));
    }
    k.press(now, '*');
    k.press(now, '9');
    assert_eq!(k.press(now, '7'), Key::Invalid);
    assert_eq!(k.press(now, '5'), Key::Invalid);
    assert_eq!(k.press(now, '#'), Key::Invalid);
    for c in "*8555".chars() {
        assert_eq!(k.press(now, c), Key::Pending);
    }
    assert_eq!(
        k.press(now, '#'),
        Key::Command(Command::Invite("555".into()))
    );
    assert_eq!(k.poll_timeout(), None);
}

#[test]
fn keypad_timeouts() {
    let now = Instant::now();
    let mut k = Keypad::new();
    k.press(now, '*');
    assert_eq!(k.handle_timeout(now + Duration::from_secs(1)), None);
    assert_eq!(k.handle_timeout(now + INTER_DIGIT), Some(Key::Invalid));
    for c in "*8123".chars() {
        k.press(now, c);
    }
    assert_eq!(
        k.handle_timeout(now + INTER_DIGIT),
        Some(Key::Command(Command::Invite("123".into())))
    );
    assert_eq!(k.poll_timeout(), None);
}

#[derive(Debug, Clone)]
enum Step {
    Arrive(u64, bool),
    Leave(u64),
    Cmd(u64, u8),
    Settings(bool, u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..8u64, any::<bool>()).prop_map(|(id, m)| Step::Arrive(id, m)),
        (0..8u64).prop_map(Step::Leave),
        (0..8u64, 0..7u8).prop_map(|(id, c)| Step::Cmd(id, c)),
        (any::<bool>(), 1..6u32).prop_map(|(m, max)| Step::Settings(m, max)),
    ]
}

proptest! {
    /// No sequence of events lets a participant speak while the rules say muted, lets
    /// anyone join a locked or full conference, or lets a participant change their own
    /// mute under `mute_non_moderator`.
    #[test]
    fn rules_hold_for_any_sequence(steps in proptest::collection::vec(step(), 1..60)) {
        let mut settings = Settings { max_members: Some(4), ..pins() };
        let mut c = Conference::new();
        for s in steps {
            match s {
                Step::Arrive(id, moderator) => {
                    let was_in = c.member(id).is_some();
                    let before = c.len();
                    let locked = c.is_locked();
                    let role = if moderator { Role::Moderator } else { Role::Participant };
                    match c.join(id, role, &settings) {
                        Ok(j) => {
                            if !was_in {
                                prop_assert!(!locked, "joined while locked");
                                prop_assert!(before < settings.limit(), "joined while full");
                                if settings.mute_non_moderator && role == Role::Participant {
                                    prop_assert!(j.muted && !c.can_speak(id));
                                }
                            }
                        }
                        Err(Refusal::Locked) => prop_assert!(locked),
                        Err(Refusal::Full) => prop_assert!(before >= settings.limit()),
                    }
                }
                Step::Leave(id) => { c.leave(id); }
                Step::Cmd(id, n) => {
                    let cmd = [Command::ToggleMute, Command::UnmuteAll, Command::MuteAll,
                        Command::Lock, Command::Unlock, Command::NotificationsOff,
                        Command::NotificationsOn][n as usize].clone();
                    let before = c.member(id);
                    let lock_before = c.is_locked();
                    let outcome = c.command(id, cmd.clone(), &settings);
                    if let Some(m) = before {
                        if m.role == Role::Participant {
                            if settings.mute_non_moderator && cmd == Command::ToggleMute {
                                prop_assert_eq!(c.member(id).map(|x| x.muted), Some(m.muted));
                            }
                            if cmd != Command::ToggleMute {
                                prop_assert_eq!(outcome, Some(Outcome::ModeratorsOnly));
                                prop_assert_eq!(c.is_locked(), lock_before);
                            }
                        }
                    } else {
                        prop_assert_eq!(outcome, None);
                    }
                }
                Step::Settings(mute, max) => {
                    settings.mute_non_moderator = mute;
                    settings.max_members = Some(max);
                    c.apply_settings(&settings);
                }
            }
            for id in 0..8 {
                if let Some(m) = c.member(id) {
                    prop_assert_eq!(c.can_speak(id), !m.muted);
                }
            }
        }
    }
}
