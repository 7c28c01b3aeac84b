//! The built-in sounds the bridge speaks with (the driver loads the real ones).

use chorus_types::Clip;

/// The sounds the bridge speaks with. Each is 8 kHz mono PCM.
#[derive(Debug, Clone)]
pub struct Prompts {
    /// "Please enter the conference PIN, followed by the pound key."
    pub enter_pin: Clip,
    /// "That PIN is not correct."
    pub wrong_pin: Clip,
    /// "Goodbye."
    pub goodbye: Clip,
    /// "This conference is locked."
    pub locked: Clip,
    /// "This conference is full."
    pub full: Clip,
    /// "You are muted."
    pub muted: Clip,
    /// "You are unmuted."
    pub unmuted: Clip,
    /// "Only moderators can unmute you in this conference."
    pub mute_locked: Clip,
    /// "That command is for moderators only."
    pub moderators_only: Clip,
    /// "All participants are muted."
    pub all_muted: Clip,
    /// "All participants are unmuted."
    pub all_unmuted: Clip,
    /// "The conference is now locked."
    pub conference_locked: Clip,
    /// "The conference is now unlocked."
    pub conference_unlocked: Clip,
    /// "Entry notifications are off."
    pub notifications_off: Clip,
    /// "Entry notifications are on."
    pub notifications_on: Clip,
    /// "After the tone, please say your name."
    pub say_name: Clip,
    /// "has joined the conference."
    pub has_joined: Clip,
    /// "Inviting numbers is not available in this conference."
    pub invite_unavailable: Clip,
    /// The tone before recording a name.
    pub beep: Clip,
    /// The short error tone for an unknown command.
    pub error: Clip,
    /// The default entry sound.
    pub chime: Clip,
    /// The default music while alone.
    pub music: Clip,
    /// "Please enter the number to invite, followed by the pound key."
    pub invite_number: Clip,
    /// "The number is busy."
    pub number_busy: Clip,
    /// "The number was not found."
    pub number_not_found: Clip,
    /// "There was no answer."
    pub no_answer: Clip,
    /// "The call could not be completed."
    pub call_failed: Clip,
    /// "The conference cannot take another caller."
    pub invite_refused: Clip,
    /// "This call is recorded."
    pub call_recorded: Clip,
    /// Ringback while an invited number rings (looped).
    pub ringback: Clip,
}

impl Default for Prompts {
    /// One silent frame each: for tests that do not listen.
    fn default() -> Self {
        let quiet: Clip = vec![0i16; 160].into();
        Prompts {
            enter_pin: quiet.clone(),
            wrong_pin: quiet.clone(),
            goodbye: quiet.clone(),
            locked: quiet.clone(),
            full: quiet.clone(),
            muted: quiet.clone(),
            unmuted: quiet.clone(),
            mute_locked: quiet.clone(),
            moderators_only: quiet.clone(),
            all_muted: quiet.clone(),
            all_unmuted: quiet.clone(),
            conference_locked: quiet.clone(),
            conference_unlocked: quiet.clone(),
            notifications_off: quiet.clone(),
            notifications_on: quiet.clone(),
            say_name: quiet.clone(),
            has_joined: quiet.clone(),
            invite_unavailable: quiet.clone(),
            beep: quiet.clone(),
            error: quiet.clone(),
            chime: quiet.clone(),
            music: quiet.clone(),
            invite_number: quiet.clone(),
            number_busy: quiet.clone(),
            number_not_found: quiet.clone(),
            no_answer: quiet.clone(),
            call_failed: quiet.clone(),
            invite_refused: quiet.clone(),
            call_recorded: quiet.clone(),
            ringback: quiet,
        }
    }
}
