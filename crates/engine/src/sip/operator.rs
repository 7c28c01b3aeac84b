//! Operator actions (REST): on one member (mute, kick), on a whole conference (lock, mute
//! or unmute everyone, play a sound to all or one, invite a number), the room the
//! invitations of `*8` and of operators share, and the `Action` notifications that say
//! who asked for each change.

use super::*;
use chorus_media::MediaCommand;
use chorus_types::Clip;

/// Sounds played over REST that have not finished yet.
#[derive(Debug, Default)]
pub(super) struct Plays {
    /// Prompt id → (play id, the leg it plays on).
    prompts: HashMap<u64, (u64, CallId)>,
    /// Play id → (conference, the member asked for, prompts still playing).
    pending: HashMap<u64, (String, Option<u64>, usize)>,
    next: u64,
}

/// Plays in flight at most; more are refused (each holds a prompt on every leg).
const MAX_PLAYS: usize = 1000;

impl Engine {
    /// Operator mute or unmute. `false` when no such member is in the conference.
    /// Setting a member to what it already is changes nothing and tells nobody.
    pub fn set_member_muted(&mut self, conference: &str, member: u64, muted: bool) -> bool {
        let Some(state) = self.conferences.get_mut(conference) else {
            return false;
        };
        let Some(was) = state.member(member).map(|m| m.muted) else {
            return false;
        };
        if was != muted {
            state.set_muted(member, muted);
            self.set_muted_effects(conference, CallId(member), muted);
            let action = if muted { "mute" } else { "unmute" };
            self.action(conference, action, Some(member), Actor::Api);
        }
        true
    }

    /// Operator removes a member. `false` when no such member is in the conference.
    pub fn kick(&mut self, now: Instant, conference: &str, member: u64) -> bool {
        let present = self
            .conferences
            .get(conference)
            .is_some_and(|c| c.member(member).is_some());
        if present {
            self.action(conference, "kick", Some(member), Actor::Api);
            self.hangup_because(now, CallId(member), EndReason::Kicked);
            self.process_txn_events(now);
        }
        present
    }

    /// Operator lock or unlock, live or empty (an empty conference stays locked until
    /// unlocked). `false` when no such extension exists. Only a change is announced.
    pub fn set_locked(&mut self, conference: &str, locked: bool) -> bool {
        if !self.has_conference(conference) {
            return false;
        }
        let state = self.conferences.entry(conference.to_owned()).or_default();
        let changed = state.is_locked() != locked;
        state.set_locked(locked);
        if state.is_empty() && !locked {
            self.conferences.remove(conference);
        }
        if changed {
            self.notify(Notification::Locked {
                conference: conference.to_owned(),
                locked,
            });
            let action = if locked { "lock" } else { "unlock" };
            self.action(conference, action, None, Actor::Api);
        }
        true
    }

    /// `*91`/`*90` over REST: mutes or unmutes every participant, moderators untouched.
    /// `None` when the conference is not live; else how many members changed.
    pub fn set_all_muted(&mut self, conference: &str, muted: bool) -> Option<usize> {
        let changed = self
            .conferences
            .get_mut(conference)?
            .set_participants_muted(muted);
        for member in &changed {
            self.set_muted_effects(conference, CallId(*member), muted);
        }
        if !changed.is_empty() {
            let action = if muted { "mute_all" } else { "unmute_all" };
            self.action(conference, action, None, Actor::Api);
        }
        Some(changed.len())
    }

    /// Plays `clip` to `member`, or to every member, of a live conference, over what they
    /// hear. Returns the play's id; [`Notification::PlayFinished`] follows when it has
    /// ended for all of them. `None`: no such conference or member, nobody to play to, or
    /// too many plays in flight.
    pub fn play_sound(&mut self, conference: &str, member: Option<u64>, clip: Clip) -> Option<u64> {
        let state = self.conferences.get(conference)?;
        let targets = match member {
            Some(id) => state.member(id).map(|_| vec![id])?,
            None => state.member_ids(),
        };
        if targets.is_empty() || self.plays.pending.len() >= MAX_PLAYS {
            return None;
        }
        self.plays.next += 1;
        let play = self.plays.next;
        for target in &targets {
            let prompt = self.play(CallId(*target), clip.clone());
            self.plays.prompts.insert(prompt, (play, CallId(*target)));
        }
        self.plays
            .pending
            .insert(play, (conference.to_owned(), member, targets.len()));
        self.action(conference, "play", member, Actor::Api);
        Some(play)
    }

    /// A prompt ended: the play it belongs to may be over.
    pub(super) fn operator_prompt_done(&mut self, prompt: u64) {
        if let Some((play, _)) = self.plays.prompts.remove(&prompt) {
            self.play_part_done(play);
        }
    }

    /// A leg left: its share of any play is over (it will never report).
    pub(super) fn operator_plays_left(&mut self, call: CallId) {
        let gone: Vec<(u64, u64)> = self
            .plays
            .prompts
            .iter()
            .filter(|(_, (_, leg))| *leg == call)
            .map(|(prompt, (play, _))| (*prompt, *play))
            .collect();
        for (prompt, play) in gone {
            self.plays.prompts.remove(&prompt);
            self.play_part_done(play);
        }
    }

    fn play_part_done(&mut self, play: u64) {
        let Some((_, _, left)) = self.plays.pending.get_mut(&play) else {
            return;
        };
        *left = left.saturating_sub(1);
        if *left == 0
            && let Some((conference, member, _)) = self.plays.pending.remove(&play)
        {
            self.notify(Notification::PlayFinished {
                conference,
                play,
                member,
            });
        }
    }

    /// Moves a member to another conference without a new call: the target's rules
    /// apply (its lock and max_members; its mute_non_moderator, entry sound and
    /// notifications), but not its PIN: the operator lets the member in, as a
    /// participant (a moderator's role was won with the other conference's PIN).
    pub fn move_member(
        &mut self,
        now: Instant,
        conference: &str,
        member: u64,
        to: &str,
    ) -> Result<(), MoveRefusal> {
        let id = CallId(member);
        let present = self
            .conferences
            .get(conference)
            .is_some_and(|c| c.member(member).is_some());
        if !present {
            return Err(MoveRefusal::NoMember);
        }
        if to == conference {
            return Err(MoveRefusal::Same);
        }
        if !self.has_conference(to) {
            return Err(MoveRefusal::NoConference);
        }
        let limit = self.rules(to).limit();
        if let Some(target) = self.conferences.get(to) {
            if target.is_locked() {
                return Err(MoveRefusal::Locked);
            }
            if target.len() >= limit {
                return Err(MoveRefusal::Full);
            }
        }
        self.action(conference, "move", Some(member), Actor::Api);
        self.leave_conference(id, conference);
        self.notify(Notification::MemberLeft {
            conference: conference.to_owned(),
            member,
            reason: "moved".to_owned(),
        });
        if let Some(call) = self.calls.get_mut(&id) {
            call.conference = to.to_owned();
            call.member = None;
            call.span
                .in_scope(|| info!(from = %conference, %to, "moved by an operator"));
        }
        self.media(MediaCommand::Move {
            call: id,
            to: to.to_owned(),
        });
        self.media(MediaCommand::Music {
            call: id,
            clip: None,
        });
        self.join(now, id, chorus_policy::Role::Participant, None);
        Ok(())
    }

    /// Starts or stops recording a live conference's whole mix (mono WAV, listed with the
    /// other recordings; `recording_started`/`recording_stopped` follow). `None` when
    /// nobody is in it; else whether anything changed.
    pub fn record_conference(&mut self, conference: &str, on: bool) -> Option<bool> {
        if self
            .conferences
            .get(conference)
            .is_none_or(|c| c.is_empty())
        {
            return None;
        }
        let recording = self.is_recording_mix(conference);
        if recording == on {
            return Some(false);
        }
        if on {
            self.mix_recordings.insert(conference.to_owned());
        } else {
            self.mix_recordings.remove(conference);
        }
        self.media(MediaCommand::RecordConference {
            conference: conference.to_owned(),
            on,
        });
        let action = if on { "record" } else { "stop_recording" };
        self.action(conference, action, None, Actor::Api);
        Some(true)
    }

    /// Whether the conference's whole mix is being recorded: asked for, and nobody has
    /// emptied the conference since (which ends the file).
    pub(super) fn is_recording_mix(&self, conference: &str) -> bool {
        self.mix_recordings.contains(conference)
            && self
                .conferences
                .get(conference)
                .is_some_and(|c| !c.is_empty())
    }

    /// Tells operators who asked for a change.
    pub(super) fn action(
        &mut self,
        conference: &str,
        action: &'static str,
        member: Option<u64>,
        by: Actor,
    ) {
        self.notify(Notification::Action {
            conference: conference.to_owned(),
            action,
            member,
            by,
        });
    }

    /// An operator's invitation over REST (the `*8` path without a member): the same
    /// number rules, caps and recording rule. Returns the invited leg's id (its member
    /// id once answered); its progress follows as events.
    pub fn dial_out(
        &mut self,
        now: Instant,
        conference: &str,
        number: &str,
    ) -> Result<CallId, DialRefusal> {
        let config = self.dial_config().cloned().ok_or(DialRefusal::NoTrunk)?;
        if !self.has_conference(conference) {
            return Err(DialRefusal::NoConference);
        }
        if !config.digits.contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DialRefusal::Number);
        }
        let policy = &config.policy;
        let outcome = if !policy.permits_number(number) {
            Err(DialRefusal::Number)
        } else if !self.dial_history.allows(now, conference, policy) {
            Err(DialRefusal::HourlyCap)
        } else if !self.room_to_dial_by_api(conference) {
            Err(DialRefusal::Busy)
        } else {
            Ok(())
        };
        let said = match &outcome {
            Ok(()) => "dialing",
            Err(DialRefusal::Number) => "refused_number",
            Err(DialRefusal::HourlyCap) => "refused_hourly_cap",
            Err(_) => "refused_busy",
        };
        info!(%conference, %number, outcome = said, "dial-out over REST");
        self.notify(super::Notification::DialOut {
            conference: conference.to_owned(),
            member: None,
            caller: "api".to_owned(),
            number: number.to_owned(),
            outcome: said.to_owned(),
        });
        if let Err(refusal) = outcome {
            self.stats.dialout_refused += 1;
            return Err(refusal);
        }
        self.dial_history.count(now, conference);
        Ok(self.dial_trunk(&config, None, conference.to_owned(), number))
    }

    /// Whether `conference` has room for one more invitation (members and invitations
    /// still ringing count toward max_members) within the bridge's caps.
    pub(super) fn room_to_dial(&mut self, conference: &str, inviter: CallId) -> bool {
        let busy = self.is_dialing_for(inviter).is_some();
        !busy && self.room_to_dial_by_api(conference)
    }

    /// As [`Engine::room_to_dial`], for an operator (no inviter to be busy).
    pub(super) fn room_to_dial_by_api(&mut self, conference: &str) -> bool {
        let (per_conference, total) = self
            .dial_config()
            .map_or((3, 100), |c| (c.max_per_conference, c.max_total));
        let rules = self.rules(conference);
        let ringing_here = self
            .dialing
            .values()
            .filter(|d| d.conference == conference)
            .count();
        let dialing = self.dialing.len();
        let state = self.conferences.entry(conference.to_owned()).or_default();
        let full = state.len() + ringing_here >= rules.limit();
        let room =
            !(state.is_locked() || full || ringing_here >= per_conference || dialing >= total);
        // Looking must not leave an empty conference behind.
        if state.is_empty() && !state.is_locked() {
            self.conferences.remove(conference);
        }
        room
    }
}
