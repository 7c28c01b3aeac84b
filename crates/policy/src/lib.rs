//! The conference rules, as pure functions of state and event: who may enter (PIN,
//! moderator PIN, lock, `max_members`), who is muted (`mute_non_moderator`, `*1`, `*90`,
//! `*91`), whether entries are announced (`*94`, `*95`), and how keypad digits become
//! commands.
//!
//! No IO, no audio, no clock reads: [`Conference`] holds one conference's members and
//! switches, every method returns what should happen, and the engine carries it out.
//! [`Keypad`] turns digits into [`Command`]s with an inter-digit timeout given as a deadline.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod guard;

pub use guard::{Gate, GuardConfig, PinGuard};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The most members when `max_members` is not set.
pub const DEFAULT_MAX_MEMBERS: u32 = 100;
/// Wrong PIN entries before the call is ended.
pub const PIN_TRIES: u32 = 3;
/// Time allowed between two keys of one command.
pub const INTER_DIGIT: Duration = Duration::from_secs(3);

/// A conference extension's rules (the REST properties that decide behaviour).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Participant PIN.
    pub pin: Option<String>,
    /// Moderator PIN.
    pub moderator_pin: Option<String>,
    /// Most members at once; `None` means [`DEFAULT_MAX_MEMBERS`].
    pub max_members: Option<u32>,
    /// Everyone but moderators enters muted and may not use `*1`.
    pub mute_non_moderator: bool,
    /// Callers record their name, announced on entry.
    pub announce_caller_name: bool,
}

impl Settings {
    /// The member limit in force.
    pub fn limit(&self) -> usize {
        self.max_members.unwrap_or(DEFAULT_MAX_MEMBERS) as usize
    }

    /// Whether callers must enter a PIN.
    pub fn needs_pin(&self) -> bool {
        self.pin.is_some()
    }

    /// The role an entered PIN grants, or `None` for a wrong one.
    /// Both PINs are compared in constant time, and both always, so the time taken
    /// tells nothing about how much of a guess was right.
    pub fn check_pin(&self, entered: &str) -> Option<Role> {
        let matches = |pin: &Option<String>| {
            pin.as_deref()
                .is_some_and(|pin| bool::from(pin.as_bytes().ct_eq(entered.as_bytes())))
        };
        let moderator = matches(&self.moderator_pin);
        let participant = matches(&self.pin);
        if moderator {
            Some(Role::Moderator)
        } else if participant || self.pin.is_none() {
            Some(Role::Participant)
        } else {
            None
        }
    }
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary participant.
    Participant,
    /// Entered the moderator PIN.
    Moderator,
}

/// Why a caller may not enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A moderator locked the conference (`*92`).
    Locked,
    /// `max_members` are already in.
    Full,
}

/// A keypad command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `*1`: mute or unmute oneself.
    ToggleMute,
    /// `*8` number `#`: invite an external number.
    Invite(String),
    /// `*90`: unmute every non-moderator.
    UnmuteAll,
    /// `*91`: mute every non-moderator.
    MuteAll,
    /// `*92`: refuse every new caller.
    Lock,
    /// `*93`: accept callers again.
    Unlock,
    /// `*94`: stop entry notifications.
    NotificationsOff,
    /// `*95`: resume entry notifications.
    NotificationsOn,
}

/// What a command did, for the engine to carry out and confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The member is now muted.
    Muted,
    /// The member is now unmuted.
    Unmuted,
    /// `*1` is not allowed for participants here (`mute_non_moderator`).
    MuteLocked,
    /// A participant tried a moderator command.
    ModeratorsOnly,
    /// These members were muted (`*91`).
    MutedAll(Vec<u64>),
    /// These members were unmuted (`*90`).
    UnmutedAll(Vec<u64>),
    /// The conference is locked.
    Locked,
    /// The conference is unlocked.
    Unlocked,
    /// Entry notifications are off.
    NotificationsOff,
    /// Entry notifications are on.
    NotificationsOn,
    /// Dial this number for the member (carried out by the dial-out layer).
    Invite(String),
}

/// One member as the rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Role.
    pub role: Role,
    /// Whether their voice is kept out of the mix.
    pub muted: bool,
}

/// The effects of a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Whether the new member starts muted.
    pub muted: bool,
    /// Whether the others should hear the entry (sound or name).
    pub announce: bool,
    /// The new member is alone: play music to them.
    pub alone: bool,
    /// This member was alone until now: stop their music.
    pub no_longer_alone: Option<u64>,
}

/// One conference's state. Members are keyed by the engine's call id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conference {
    locked: bool,
    notifications_off: bool,
    members: BTreeMap<u64, Member>,
}

impl Conference {
    /// An empty, unlocked conference with notifications on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `*92` locked it.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Whether entries are announced.
    pub fn notifications(&self) -> bool {
        !self.notifications_off
    }

    /// Members in.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether nobody is in.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A member, if in.
    /// Every member's id, in no particular order.
    pub fn member_ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    /// One member.
    pub fn member(&self, id: u64) -> Option<Member> {
        self.members.get(&id).copied()
    }

    /// Whether the member's voice goes into the mix.
    pub fn can_speak(&self, id: u64) -> bool {
        self.members.get(&id).is_some_and(|m| !m.muted)
    }

    /// May a caller enter now? Checked before the PIN prompt and again at join.
    pub fn admission(&self, settings: &Settings) -> Result<(), Refusal> {
        if self.locked {
            return Err(Refusal::Locked);
        }
        if self.members.len() >= settings.limit() {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    /// Lets a caller in with a role, if the rules still allow it.
    pub fn join(&mut self, id: u64, role: Role, settings: &Settings) -> Result<Joined, Refusal> {
        if self.members.contains_key(&id) {
            let member = self.members[&id];
            return Ok(Joined {
                muted: member.muted,
                announce: false,
                alone: self.members.len() == 1,
                no_longer_alone: None,
            });
        }
        self.admission(settings)?;
        let previously_alone = (self.members.len() == 1)
            .then(|| self.members.keys().next().copied())
            .flatten();
        let muted = settings.mute_non_moderator && role == Role::Participant;
        self.members.insert(id, Member { role, muted });
        Ok(Joined {
            muted,
            announce: !self.notifications_off && self.members.len() > 1,
            alone: self.members.len() == 1,
            no_longer_alone: previously_alone,
        })
    }

    /// A member left. Returns the member now alone, who should hear music again.
    pub fn leave(&mut self, id: u64) -> Option<u64> {
        self.members.remove(&id)?;
        if self.members.len() == 1 {
            return self.members.keys().next().copied();
        }
        None
    }

    /// The settings changed while members are in: turning `mute_non_moderator` on mutes the
    /// participants present. Returns who was newly muted.
    pub fn apply_settings(&mut self, settings: &Settings) -> Vec<u64> {
        if !settings.mute_non_moderator {
            return Vec::new();
        }
        self.set_participants_muted(true)
    }

    /// Mutes or unmutes every participant (moderators untouched), as `*91`/`*90` do.
    /// Returns who changed.
    pub fn set_participants_muted(&mut self, muted: bool) -> Vec<u64> {
        self.members
            .iter_mut()
            .filter(|(_, m)| m.role == Role::Participant && m.muted != muted)
            .map(|(id, m)| {
                m.muted = muted;
                *id
            })
            .collect()
    }

    /// Carries out a keypad command from a member.
    pub fn command(&mut self, id: u64, command: Command, settings: &Settings) -> Option<Outcome> {
        let member = self.members.get_mut(&id)?;
        let moderator = member.role == Role::Moderator;
        let outcome = match command {
            Command::ToggleMute => {
                if settings.mute_non_moderator && !moderator {
                    Outcome::MuteLocked
                } else {
                    member.muted = !member.muted;
                    if member.muted {
                        Outcome::Muted
                    } else {
                        Outcome::Unmuted
                    }
                }
            }
            Command::Invite(number) => Outcome::Invite(number),
            _ if !moderator => Outcome::ModeratorsOnly,
            Command::UnmuteAll => Outcome::UnmutedAll(self.set_participants_muted(false)),
            Command::MuteAll => Outcome::MutedAll(self.set_participants_muted(true)),
            Command::Lock => {
                self.locked = true;
                Outcome::Locked
            }
            Command::Unlock => {
                self.locked = false;
                Outcome::Unlocked
            }
            Command::NotificationsOff => {
                self.notifications_off = true;
                Outcome::NotificationsOff
            }
            Command::NotificationsOn => {
                self.notifications_off = false;
                Outcome::NotificationsOn
            }
        };
        Some(outcome)
    }

    /// Operator control (REST): lock or unlock.
    pub fn set_locked(&mut self, locked: bool) {
        self.locked = locked;
    }

    /// Operator control (REST): mute or unmute one member.
    pub fn set_muted(&mut self, id: u64, muted: bool) -> bool {
        match self.members.get_mut(&id) {
            Some(m) => {
                m.muted = muted;
                true
            }
            None => false,
        }
    }
}

/// What a key did to a [`Keypad`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// More keys needed.
    Pending,
    /// A whole command.
    Command(Command),
    /// Not a command: play the error tone.
    Invalid,
}

/// Turns one member's keys into commands: `*1`, `*8` digits `#`, `*90`–`*95`.
#[derive(Debug, Clone, Default)]
pub struct Keypad {
    keys: String,
    deadline: Option<Instant>,
}

impl Keypad {
    /// An idle keypad.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `*8` was just keyed and the number comes next (time for the prompt).
    pub fn awaiting_number(&self) -> bool {
        self.keys == "*8"
    }

    /// When a half-entered command times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The inter-digit timeout passed: a `*8` number is dialled as it stands, anything
    /// else half-entered is an error.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Key> {
        if self.deadline.is_none_or(|at| now < at) {
            return None;
        }
        let keys = std::mem::take(&mut self.keys);
        self.deadline = None;
        match keys.strip_prefix("*8") {
            Some(number) if !number.is_empty() => {
                Some(Key::Command(Command::Invite(number.to_owned())))
            }
            _ => Some(Key::Invalid),
        }
    }

    /// One key.
    pub fn press(&mut self, now: Instant, key: char) -> Key {
        self.keys.push(key);
        let result = match self.keys.as_str() {
            "*" | "*9" | "*8" => Key::Pending,
            "*1" => Key::Command(Command::ToggleMute),
            "*90" => Key::Command(Command::UnmuteAll),
            "*91" => Key::Command(Command::MuteAll),
            "*92" => Key::Command(Command::Lock),
            "*93" => Key::Command(Command::Unlock),
            "*94" => Key::Command(Command::NotificationsOff),
            "*95" => Key::Command(Command::NotificationsOn),
            keys => match keys.strip_prefix("*8") {
                Some(number) if number.ends_with('#') && number.len() > 1 => {
                    let digits = &number[..number.len() - 1];
                    if digits.bytes().all(|b| b.is_ascii_digit()) {
                        Key::Command(Command::Invite(digits.to_owned()))
                    } else {
                        Key::Invalid
                    }
                }
                Some(number)
                    if number.bytes().all(|b| b.is_ascii_digit()) && number.len() <= 32 =>
                {
                    Key::Pending
                }
                _ => Key::Invalid,
            },
        };
        if result == Key::Pending {
            self.deadline = Some(now + INTER_DIGIT);
        } else {
            self.keys.clear();
            self.deadline = None;
        }
        result
    }
}

#[cfg(test)]
mod tests;
