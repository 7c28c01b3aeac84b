//! The built-in prompts, chime and music, compiled into the binary and turned into 8 kHz
//! mono clips once at start-up.

use anyhow::{Context, Result};
use chorus_engine::Prompts;
use chorus_types::Clip;

fn wav_to_clip(bytes: &[u8]) -> Result<Clip> {
    Ok(chorus_store::wav_to_clip(bytes)?.into())
}

macro_rules! builtin {
    ($file:literal) => {
        wav_to_clip(include_bytes!(concat!("../../../fixtures/sounds/", $file)))
            .context(concat!("built-in sound ", $file))?
    };
}

/// The prompts, chime and music shipped in `fixtures/sounds/` (made by
/// `fixtures/generate.sh`).
pub fn builtin_prompts() -> Result<Prompts> {
    Ok(Prompts {
        enter_pin: builtin!("enter-pin.wav"),
        wrong_pin: builtin!("wrong-pin.wav"),
        goodbye: builtin!("goodbye.wav"),
        locked: builtin!("locked.wav"),
        full: builtin!("full.wav"),
        muted: builtin!("muted.wav"),
        unmuted: builtin!("unmuted.wav"),
        mute_locked: builtin!("mute-locked.wav"),
        moderators_only: builtin!("moderators-only.wav"),
        all_muted: builtin!("all-muted.wav"),
        all_unmuted: builtin!("all-unmuted.wav"),
        conference_locked: builtin!("conference-locked.wav"),
        conference_unlocked: builtin!("conference-unlocked.wav"),
        notifications_off: builtin!("notifications-off.wav"),
        notifications_on: builtin!("notifications-on.wav"),
        say_name: builtin!("say-name.wav"),
        has_joined: builtin!("has-joined.wav"),
        invite_unavailable: builtin!("invite-unavailable.wav"),
        beep: builtin!("beep.wav"),
        error: builtin!("error.wav"),
        chime: builtin!("chime.wav"),
        music: builtin!("music.wav"),
        invite_number: builtin!("invite-number.wav"),
        number_busy: builtin!("number-busy.wav"),
        number_not_found: builtin!("number-not-found.wav"),
        no_answer: builtin!("no-answer.wav"),
        call_failed: builtin!("call-failed.wav"),
        invite_refused: builtin!("invite-refused.wav"),
        call_recorded: builtin!("call-recorded.wav"),
        ringback: builtin!("ringback.wav"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_at_8khz() {
        let p = builtin_prompts().expect("built-in prompts");
        assert!(
            p.enter_pin.len() > 8000,
            "a spoken sentence lasts over a second"
        );
        assert_eq!(p.music.len(), 64_000, "8 s of music");
    }
}
