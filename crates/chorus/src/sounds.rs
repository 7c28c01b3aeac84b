//! Sounds: the built-in prompts compiled into the binary, and sound files from the data
//! directory, all turned into 8 kHz mono clips once at start-up.

use anyhow::{Context, Result, bail};
use chorus_engine::Prompts;
use chorus_types::Clip;
use std::io::Cursor;
use std::path::Path;

/// Reads a WAV file of any rate and channel count into an 8 kHz mono clip.
pub fn wav_to_clip(bytes: &[u8]) -> Result<Clip> {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).context("not a WAV file")?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
    };
    let mono: Vec<f32> = samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    if spec.sample_rate == 0 {
        bail!("WAV sample rate is 0");
    }
    // Linear interpolation: sounds are converted once, not on the 20 ms path.
    let ratio = f64::from(spec.sample_rate) / 8000.0;
    let out_len = (mono.len() as f64 / ratio) as usize;
    let clip: Vec<i16> = (0..out_len)
        .map(|i| {
            let pos = i as f64 * ratio;
            let at = pos as usize;
            let frac = (pos - at as f64) as f32;
            let a = mono.get(at).copied().unwrap_or(0.0);
            let b = mono.get(at + 1).copied().unwrap_or(a);
            ((a + (b - a) * frac) * 32767.0).clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    Ok(clip.into())
}

/// A sound uploaded to the data directory, by id.
pub fn load_sound(data_dir: &Path, id: i64) -> Result<Clip> {
    let path = data_dir.join("sounds").join(format!("{id}.wav"));
    let bytes =
        std::fs::read(&path).with_context(|| format!("sound {id}: reading {}", path.display()))?;
    wav_to_clip(&bytes).with_context(|| format!("sound {id}: {}", path.display()))
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

    #[test]
    fn stereo_16khz_is_converted() {
        let mut bytes = Vec::new();
        {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 16_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(Cursor::new(&mut bytes), spec).expect("writer");
            for _ in 0..16_000 {
                w.write_sample(1000i16).expect("l");
                w.write_sample(3000i16).expect("r");
            }
            w.finalize().expect("finalize");
        }
        let clip = wav_to_clip(&bytes).expect("clip");
        assert_eq!(clip.len(), 8000);
        assert!((i32::from(clip[100]) - 2000).abs() <= 1);
        assert!(wav_to_clip(b"not a wav").is_err());
    }
}
