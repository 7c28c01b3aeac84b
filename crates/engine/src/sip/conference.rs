//! What a caller goes through between the answer and the hang-up: admission, PIN, name
//! recording, entry, keypad commands. The rules are `chorus-policy`'s; this module turns
//! their decisions into prompts and media commands.

use super::Actor;
use super::security::{DECOY, PIN_PAUSE, decoy_rules};
use super::{
    CallId, CallState, ConferenceInfo, EndReason, Engine, Event, MemberInfo, Membership,
    Notification,
};
use chorus_media::{MediaCommand, MediaEvent};
use chorus_policy::{
    Command, Conference, Gate, Key, Keypad, Outcome, PIN_TRIES, Refusal, Role, Settings,
};
use chorus_types::Clip;
use std::time::{Duration, Instant};
use tracing::info;

/// How long a caller may take between PIN keys before the entry counts as a try.
const PIN_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest recorded name.
const NAME_MAX: Duration = Duration::from_secs(3);

/// One conference extension: its rules and its sounds.
#[derive(Debug, Clone, Default)]
pub struct ExtensionConfig {
    /// PIN, limits and mute rules.
    pub rules: Settings,
    /// Played to the others when someone enters; `None` uses the built-in chime.
    pub enter_sound: Option<Clip>,
    /// Played while only one caller is in; `None` uses the built-in music.
    pub music_on_hold: Option<Clip>,
    /// Record the legs invited with `*8`.
    pub record_enabled: bool,
    /// Gain control on the talkers; `None` follows the bridge's default.
    pub auto_gain: Option<bool>,
    /// Noise suppression on the talkers; `None` follows the bridge's default.
    pub noise_suppression: Option<bool>,
}

/// Where a caller is between answer and hang-up.
#[derive(Debug)]
pub(super) enum Stage {
    /// Answered; nothing decided yet.
    Answered,
    /// Keying the PIN. Keys before `paused_until` (just after a wrong PIN) are ignored;
    /// `held` is an attempt waiting for the extension's guessing budget until `deadline`.
    Pin {
        tries: u32,
        entered: String,
        deadline: Instant,
        paused_until: Instant,
        held: Option<String>,
    },
    /// Waiting for a prompt to end, then doing `After`.
    Prompt { id: u64, then: After },
    /// Recording the caller's name.
    RecordingName { role: Role },
    /// In the conference.
    In { keypad: Keypad },
    /// Hearing why they are refused; hung up when the prompt ends.
    Leaving,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum After {
    Hangup,
    RecordName(Role),
}

impl Engine {
    pub(super) fn rules(&self, conference: &str) -> Settings {
        if conference == DECOY {
            return decoy_rules();
        }
        self.extension(conference)
            .map(|e| e.rules.clone())
            .unwrap_or_default()
    }

    /// A conference's settings: a provisioned extension's, or a temporary conference's.
    pub(super) fn extension(&self, conference: &str) -> Option<&super::ExtensionConfig> {
        self.config
            .extensions
            .get(conference)
            .or_else(|| self.temporary.get(conference))
    }

    /// True for a provisioned extension or a live temporary conference.
    pub(super) fn has_conference(&self, conference: &str) -> bool {
        self.extension(conference).is_some()
    }

    pub(super) fn media(&mut self, command: MediaCommand) {
        self.events.push_back(Event::Media(command));
    }

    pub(super) fn play(&mut self, call: CallId, clip: Clip) -> u64 {
        let id = self.next_prompt;
        self.next_prompt += 1;
        self.media(MediaCommand::Play { call, clip, id });
        id
    }

    /// Plays `clips` and then does `then`.
    fn play_then(&mut self, call: CallId, clips: Vec<Clip>, then: After) {
        let mut last = None;
        for clip in clips {
            last = Some(self.play(call, clip));
        }
        if let (Some(id), Some(c)) = (last, self.calls.get_mut(&call)) {
            c.stage = Stage::Prompt { id, then };
        }
    }

    /// The caller's media is up: start admission.
    pub(super) fn enter(&mut self, now: Instant, id: CallId) {
        let Some(conference) = self.calls.get(&id).map(|c| c.conference.clone()) else {
            return;
        };
        let rules = self.rules(&conference);
        let state = self.conferences.entry(conference).or_default();
        if let Err(refusal) = state.admission(&rules) {
            return self.refuse(id, refusal);
        }
        if rules.needs_pin() {
            let prompt = self.config.prompts.enter_pin.clone();
            self.play(id, prompt);
            if let Some(call) = self.calls.get_mut(&id) {
                call.stage = Stage::Pin {
                    tries: 0,
                    entered: String::new(),
                    deadline: now + PIN_TIMEOUT,
                    paused_until: now,
                    held: None,
                };
            }
            return;
        }
        // Whoever called the factory runs the conference it created.
        let creator = self.calls.get(&id).is_some_and(|c| c.creator);
        let role = if creator {
            Role::Moderator
        } else {
            Role::Participant
        };
        self.admitted(now, id, role);
    }

    fn refuse(&mut self, id: CallId, refusal: Refusal) {
        if let Some(call) = self.calls.get(&id) {
            call.span.in_scope(|| info!(?refusal, "refused"));
            self.notify(Notification::Refused {
                conference: call.conference.clone(),
                caller: call.caller.clone(),
                reason: match refusal {
                    Refusal::Locked => "locked",
                    Refusal::Full => "full",
                }
                .to_owned(),
            });
        }
        let why = match refusal {
            Refusal::Locked => {
                self.stats.refused_locked += 1;
                self.config.prompts.locked.clone()
            }
            Refusal::Full => {
                self.stats.refused_full += 1;
                self.config.prompts.full.clone()
            }
        };
        let goodbye = self.config.prompts.goodbye.clone();
        self.play_then(id, vec![why, goodbye], After::Hangup);
    }

    /// PIN accepted (or none needed): check again, then record the name or join.
    fn admitted(&mut self, now: Instant, id: CallId, role: Role) {
        let Some(conference) = self.calls.get(&id).map(|c| c.conference.clone()) else {
            return;
        };
        let rules = self.rules(&conference);
        let state = self.conferences.entry(conference).or_default();
        if let Err(refusal) = state.admission(&rules) {
            return self.refuse(id, refusal);
        }
        if rules.announce_caller_name {
            let clips = vec![
                self.config.prompts.say_name.clone(),
                self.config.prompts.beep.clone(),
            ];
            return self.play_then(id, clips, After::RecordName(role));
        }
        self.join(now, id, role, None);
    }

    pub(super) fn join(&mut self, now: Instant, id: CallId, role: Role, name: Option<Clip>) {
        let Some(conference) = self.calls.get(&id).map(|c| c.conference.clone()) else {
            return;
        };
        let rules = self.rules(&conference);
        let state = self.conferences.entry(conference.clone()).or_default();
        let joined = match state.join(id.0, role, &rules) {
            Ok(joined) => joined,
            Err(refusal) => return self.refuse(id, refusal),
        };
        let moderator = role == Role::Moderator;
        if let Some(call) = self.calls.get_mut(&id) {
            call.stage = Stage::In {
                keypad: Keypad::new(),
            };
            call.member = Some(Membership {
                joined_at: now,
                moderator,
                talking: false,
                invited: call.invited,
                hearing: super::Hearing::default(),
            });
            call.span
                .in_scope(|| info!(?role, muted = joined.muted, "joined"));
            let caller = call.caller.clone();
            self.notify(Notification::MemberJoined {
                conference: conference.clone(),
                member: id.0,
                caller,
                moderator,
            });
        }
        self.media(MediaCommand::Join {
            call: id,
            muted: joined.muted,
        });
        let processing = self.voice_processing(&conference);
        self.media(MediaCommand::SetVoice {
            call: id,
            processing,
        });
        let extension = self.extension(&conference);
        let music = extension
            .and_then(|e| e.music_on_hold.clone())
            .unwrap_or_else(|| self.config.prompts.music.clone());
        let enter_sound = extension
            .and_then(|e| e.enter_sound.clone())
            .unwrap_or_else(|| self.config.prompts.chime.clone());
        if joined.alone {
            self.media(MediaCommand::Music {
                call: id,
                clip: Some(music),
            });
        }
        if let Some(other) = joined.no_longer_alone {
            self.media(MediaCommand::Music {
                call: CallId(other),
                clip: None,
            });
        }
        if joined.announce {
            let mut clips = vec![enter_sound];
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                clips.push(name);
                clips.push(self.config.prompts.has_joined.clone());
            }
            self.media(MediaCommand::Announce {
                conference,
                except: Some(id),
                clips,
            });
        }
    }

    /// The call is ending: take it out of its conference.
    pub(super) fn leave_conference(&mut self, id: CallId, conference: &str) {
        self.operator_plays_left(id);
        let Some(state) = self.conferences.get_mut(conference) else {
            return;
        };
        let alone = state.leave(id.0);
        if state.is_empty() {
            // The media side ends the file with the conference's last leg.
            self.mix_recordings.remove(conference);
        }
        // A locked conference outlives its last member: the lock holds until lifted.
        if state.is_empty() && !state.is_locked() {
            self.conferences.remove(conference);
        }
        if let Some(other) = alone {
            let music = self
                .extension(conference)
                .and_then(|e| e.music_on_hold.clone())
                .unwrap_or_else(|| self.config.prompts.music.clone());
            self.media(MediaCommand::Music {
                call: CallId(other),
                clip: Some(music),
            });
        }
    }

    /// A key from the caller, by RFC 4733, SIP INFO or in-band tone.
    pub(super) fn digit(&mut self, now: Instant, id: CallId, digit: char) {
        // `*` while the invited number rings cancels the invitation.
        if digit == '*'
            && let Some(dial) = self.is_dialing_for(id)
        {
            return self.cancel_dial(now, dial);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // Keys count only once the caller has acknowledged our answer: before that the
        // source of the call is not proven.
        if call.state != CallState::Confirmed {
            return;
        }
        match &mut call.stage {
            Stage::Pin {
                tries,
                entered,
                deadline,
                paused_until,
                held,
            } => {
                // PIN digits are never logged.
                if now < *paused_until || held.is_some() {
                    return;
                }
                *deadline = now + PIN_TIMEOUT;
                match digit {
                    '#' => {
                        let attempt = std::mem::take(entered);
                        let tries_so_far = *tries;
                        self.pin_entered(now, id, &attempt, tries_so_far);
                    }
                    '*' => entered.clear(),
                    d if d.is_ascii_digit() && entered.len() < 32 => {
                        let first = entered.is_empty();
                        entered.push(d);
                        // Barge-in: the caller knows the PIN, stop the prompt.
                        if first {
                            self.media(MediaCommand::StopPrompts { call: id });
                        }
                    }
                    _ => {}
                }
            }
            Stage::In { keypad } => {
                call.span.in_scope(|| info!(%digit, "key"));
                match keypad.press(now, digit) {
                    Key::Pending => {
                        if keypad.awaiting_number() {
                            let clip = self.config.prompts.invite_number.clone();
                            self.play(id, clip);
                        }
                    }
                    Key::Invalid => {
                        let error = self.config.prompts.error.clone();
                        self.play(id, error);
                    }
                    Key::Command(command) => self.command(now, id, command),
                }
            }
            _ => {}
        }
    }

    fn pin_entered(&mut self, now: Instant, id: CallId, attempt: &str, tries: u32) {
        let Some(conference) = self.calls.get(&id).map(|c| c.conference.clone()) else {
            return;
        };
        // An empty entry (the caller keyed nothing) tests nothing and is not rationed.
        let gate = if attempt.is_empty() {
            Gate::Refused
        } else {
            self.pin_gate(now, id)
        };
        let verdict = match gate {
            Gate::Check => {
                let verdict = self.rules(&conference).check_pin(attempt);
                self.record_pin(now, id, verdict.is_some());
                self.stats.pin_checks += 1;
                verdict
            }
            // Refused sources hear exactly what a wrong PIN sounds like.
            Gate::Refused => None,
            Gate::WaitUntil(at) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.stage = Stage::Pin {
                        tries,
                        entered: String::new(),
                        deadline: at,
                        paused_until: at,
                        held: Some(attempt.to_owned()),
                    };
                }
                return;
            }
        };
        if let Some(role) = verdict {
            return self.admitted(now, id, role);
        }
        if let Some(call) = self.calls.get(&id) {
            let checked = gate == Gate::Check;
            call.span
                .in_scope(|| info!(keys = attempt.len(), checked, "wrong PIN"));
        }
        self.notify(Notification::WrongPin {
            conference: conference.clone(),
            caller: self
                .calls
                .get(&id)
                .map(|c| c.caller.clone())
                .unwrap_or_default(),
        });
        let tries = tries + 1;
        let wrong = self.config.prompts.wrong_pin.clone();
        if tries >= PIN_TRIES {
            if let Some(call) = self.calls.get(&id) {
                call.span.in_scope(|| info!(tries, "wrong PIN; hanging up"));
            }
            self.stats.wrong_pin += 1;
            let goodbye = self.config.prompts.goodbye.clone();
            return self.play_then(id, vec![wrong, goodbye], After::Hangup);
        }
        self.play(id, wrong);
        let again = self.config.prompts.enter_pin.clone();
        self.play(id, again);
        if let Some(call) = self.calls.get_mut(&id) {
            call.stage = Stage::Pin {
                tries,
                entered: String::new(),
                deadline: now + PIN_TIMEOUT,
                paused_until: now + PIN_PAUSE,
                held: None,
            };
        }
    }

    fn command(&mut self, now: Instant, id: CallId, command: Command) {
        if let Command::Invite(number) = &command {
            return self.dial(now, id, number);
        }
        let Some(conference) = self.calls.get(&id).map(|c| c.conference.clone()) else {
            return;
        };
        let rules = self.rules(&conference);
        let Some(outcome) = self
            .conferences
            .get_mut(&conference)
            .and_then(|c| c.command(id.0, command, &rules))
        else {
            return;
        };
        if let Some(call) = self.calls.get(&id) {
            call.span.in_scope(|| info!(?outcome, "command"));
        }
        self.stats.keypad_commands += 1;
        let p = &self.config.prompts;
        let confirm = match &outcome {
            Outcome::Muted => p.muted.clone(),
            Outcome::Unmuted => p.unmuted.clone(),
            Outcome::MuteLocked => p.mute_locked.clone(),
            Outcome::ModeratorsOnly => p.moderators_only.clone(),
            Outcome::MutedAll(_) => p.all_muted.clone(),
            Outcome::UnmutedAll(_) => p.all_unmuted.clone(),
            Outcome::Locked => p.conference_locked.clone(),
            Outcome::Unlocked => p.conference_unlocked.clone(),
            Outcome::NotificationsOff => p.notifications_off.clone(),
            Outcome::NotificationsOn => p.notifications_on.clone(),
            Outcome::Invite(_) => p.invite_unavailable.clone(),
        };
        let action = match &outcome {
            Outcome::Muted => Some("mute"),
            Outcome::Unmuted => Some("unmute"),
            Outcome::MutedAll(_) => Some("mute_all"),
            Outcome::UnmutedAll(_) => Some("unmute_all"),
            Outcome::Locked => Some("lock"),
            Outcome::Unlocked => Some("unlock"),
            Outcome::NotificationsOff => Some("notifications_off"),
            Outcome::NotificationsOn => Some("notifications_on"),
            Outcome::MuteLocked | Outcome::ModeratorsOnly | Outcome::Invite(_) => None,
        };
        if let Some(action) = action {
            let member = matches!(outcome, Outcome::Muted | Outcome::Unmuted).then_some(id.0);
            self.action(&conference, action, member, Actor::Keypad { member: id.0 });
        }
        match outcome {
            Outcome::Muted | Outcome::Unmuted => {
                let muted = matches!(outcome, Outcome::Muted);
                self.set_muted_effects(&conference, id, muted);
            }
            Outcome::Locked | Outcome::Unlocked => {
                self.notify(Notification::Locked {
                    conference: conference.clone(),
                    locked: matches!(outcome, Outcome::Locked),
                });
            }
            Outcome::MutedAll(ids) | Outcome::UnmutedAll(ids) => {
                let muted = self
                    .conferences
                    .get(&conference)
                    .and_then(|c| ids.first().and_then(|m| c.member(*m)))
                    .is_some_and(|m| m.muted);
                for member in ids {
                    self.set_muted_effects(&conference, CallId(member), muted);
                }
            }
            _ => {}
        }
        self.play(id, confirm);
    }

    /// Something the media side reports.
    pub fn handle_media_event(&mut self, now: Instant, event: MediaEvent) {
        self.subscriptions.saw(now);
        match event {
            MediaEvent::Digit { call, digit } => self.digit(now, call, digit),
            MediaEvent::PlayDone { call, id } => {
                self.operator_prompt_done(id);
                let then = match self.calls.get(&call).map(|c| &c.stage) {
                    Some(Stage::Prompt { id: waiting, then }) if *waiting == id => *then,
                    _ => return,
                };
                match then {
                    After::Hangup => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.stage = Stage::Leaving;
                        }
                        self.hangup(now, call);
                    }
                    After::RecordName(role) => {
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.stage = Stage::RecordingName { role };
                        }
                        self.media(MediaCommand::RecordName {
                            call,
                            max: NAME_MAX,
                        });
                    }
                }
            }
            MediaEvent::Talking { call, talking } => {
                if let Some(c) = self.calls.get_mut(&call)
                    && let Some(member) = &mut c.member
                {
                    member.talking = talking;
                    let conference = c.conference.clone();
                    self.notify(Notification::Talking {
                        conference,
                        member: call.0,
                        talking,
                    });
                }
            }
            MediaEvent::Inactive { call } => {
                if let Some(c) = self.calls.get(&call) {
                    c.span
                        .in_scope(|| info!("no RTP or RTCP for the media timeout; hanging up"));
                    self.stats.media_timeouts += 1;
                    self.hangup_because(now, call, EndReason::MediaTimeout);
                }
            }
            MediaEvent::NameRecorded { call, clip } => {
                if let Some(Stage::RecordingName { role }) = self.calls.get(&call).map(|c| &c.stage)
                {
                    let role = *role;
                    self.join(now, call, role, Some(clip));
                }
            }
        }
        self.process_txn_events(now);
    }

    /// Deadlines of callers half-way through a PIN or a command.
    pub(super) fn stage_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| match &c.stage {
                Stage::Pin { deadline, .. } => Some(*deadline),
                Stage::In { keypad } => keypad.poll_timeout(),
                _ => None,
            })
            .min()
    }

    pub(super) fn handle_stage_timeouts(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| match &c.stage {
                Stage::Pin { deadline, .. } => *deadline <= now,
                Stage::In { keypad } => keypad.poll_timeout().is_some_and(|at| at <= now),
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            match &mut call.stage {
                Stage::Pin {
                    tries,
                    entered,
                    held,
                    ..
                } => {
                    let attempt = held.take().unwrap_or_else(|| std::mem::take(entered));
                    let tries = *tries;
                    self.pin_entered(now, id, &attempt, tries);
                }
                Stage::In { keypad } => match keypad.handle_timeout(now) {
                    Some(Key::Command(command)) => self.command(now, id, command),
                    Some(Key::Invalid) => {
                        let error = self.config.prompts.error.clone();
                        self.play(id, error);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }

    pub(super) fn set_muted_effects(&mut self, conference: &str, id: CallId, muted: bool) {
        self.media(MediaCommand::SetMuted { call: id, muted });
        self.notify(Notification::Muted {
            conference: conference.to_owned(),
            member: id.0,
            muted,
        });
    }

    /// Live conferences, for operators.
    pub fn conferences(&self) -> Vec<ConferenceInfo> {
        let mut out: Vec<ConferenceInfo> = self
            .conferences
            .iter()
            .map(|(name, state)| ConferenceInfo {
                conference: name.clone(),
                members: state.len(),
                locked: state.is_locked(),
                temporary: self.temporary.contains(name),
                recording: self.is_recording_mix(name),
            })
            .collect();
        // A temporary conference is live from its creation, members or not.
        for id in self.temporary.ids() {
            if !self.conferences.contains_key(id) {
                out.push(ConferenceInfo {
                    conference: id.clone(),
                    members: 0,
                    locked: false,
                    temporary: true,
                    recording: false,
                });
            }
        }
        out.sort_by(|a, b| a.conference.cmp(&b.conference));
        out
    }

    /// The members of a live conference, or `None` when nobody is in it.
    pub fn members(&self, conference: &str) -> Option<Vec<MemberInfo>> {
        let state = self.conferences.get(conference)?;
        let mut members: Vec<MemberInfo> = self
            .calls
            .iter()
            .filter(|(_, c)| c.conference == conference)
            .filter_map(|(id, c)| {
                let membership = c.member?;
                let rules = state.member(id.0)?;
                Some(MemberInfo {
                    id: id.0,
                    caller: c.caller.clone(),
                    moderator: membership.moderator,
                    muted: rules.muted,
                    talking: membership.talking,
                    invited: membership.invited,
                    codec: c
                        .offer
                        .as_ref()
                        .map_or(chorus_types::Codec::Pcmu, |o| o.codec),
                    joined_at: membership.joined_at,
                    transport: c.dialog.transport,
                    encrypted: c.srtp.is_some(),
                    hearing: membership.hearing,
                })
            })
            .collect();
        members.sort_by_key(|m| m.id);
        Some(members)
    }

    /// The extension is gone: everyone on it hears goodbye and is hung up on.
    pub fn end_conference(&mut self, conference: &str) {
        // A deleted extension keeps no lock: its state goes with its last caller.
        if let Some(state) = self.conferences.get_mut(conference) {
            state.set_locked(false);
            if state.is_empty() {
                self.conferences.remove(conference);
            }
        }
        let calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.conference == conference)
            .map(|(id, _)| *id)
            .collect();
        for id in calls {
            let goodbye = self.config.prompts.goodbye.clone();
            self.media(MediaCommand::StopPrompts { call: id });
            self.play_then(id, vec![goodbye], After::Hangup);
        }
    }

    /// New settings for the conferences: live conferences follow (turning
    /// `mute_non_moderator` on mutes the participants present).
    pub fn apply_extension_settings(&mut self) {
        let mut mutes = Vec::new();
        for (name, state) in &mut self.conferences {
            let extension = self
                .config
                .extensions
                .get(name)
                .or_else(|| self.temporary.get(name));
            if let Some(extension) = extension {
                for member in state.apply_settings(&extension.rules) {
                    mutes.push((name.clone(), member));
                }
            }
        }
        for (conference, member) in mutes {
            self.set_muted_effects(&conference, CallId(member), true);
        }
        let members: Vec<(CallId, String)> = self
            .calls
            .iter()
            .filter(|(_, call)| call.member.is_some())
            .map(|(id, call)| (*id, call.conference.clone()))
            .collect();
        for (call, conference) in members {
            let processing = self.voice_processing(&conference);
            self.media(MediaCommand::SetVoice { call, processing });
        }
    }

    /// The voice processing a conference's talkers get: its own setting, else the
    /// bridge's.
    pub(super) fn voice_processing(&self, conference: &str) -> chorus_types::VoiceProcessing {
        let default = self.config.voice;
        let extension = self.extension(conference);
        chorus_types::VoiceProcessing {
            auto_gain: extension
                .and_then(|e| e.auto_gain)
                .unwrap_or(default.auto_gain),
            noise_suppression: extension
                .and_then(|e| e.noise_suppression)
                .unwrap_or(default.noise_suppression),
        }
    }
}

/// Policy state per live conference.
pub(super) type Conferences = std::collections::HashMap<String, Conference>;
