//! WAV files to and from the 8 kHz mono PCM the mixer plays.

use std::io::Cursor;

/// Why a WAV file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// Not a readable RIFF/WAVE file.
    #[error("not a WAV file: {0}")]
    Format(String),
    /// A rate or sample size no one can play.
    #[error("unsupported WAV: {0}")]
    Unsupported(&'static str),
}

/// Reads a WAV file of any rate, sample format and channel count into 8 kHz mono. The
/// conversion (channel average, then rubato's FFT resampler, whose low-pass keeps
/// everything above 4 kHz from folding back as a false tone) happens once, at upload or
/// start-up, never on the 20 ms path.
pub fn wav_to_clip(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    let mut reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| WavError::Format(e.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate < 1000 || spec.sample_rate > 384_000 {
        return Err(WavError::Unsupported("sample rate outside 1–384 kHz"));
    }
    if spec.channels == 0 {
        return Err(WavError::Unsupported("no channels"));
    }
    let channels = usize::from(spec.channels);
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                return Err(WavError::Unsupported("sample size outside 8–32 bits"));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| WavError::Format(e.to_string()))?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| WavError::Format(e.to_string()))?,
    };
    let mono: Vec<f32> = samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    let narrow = if spec.sample_rate == 8000 {
        mono
    } else {
        to_8khz(mono, spec.sample_rate)?
    };
    Ok(narrow
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Resamples a whole mono clip to 8 kHz, anti-aliased.
fn to_8khz(mono: Vec<f32>, rate: u32) -> Result<Vec<f32>, WavError> {
    use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
    use rubato::{Fft, FixedSync, Resampler as _};
    if mono.is_empty() {
        return Ok(mono);
    }
    let failed = |e: &dyn std::fmt::Display| WavError::Format(format!("resampling: {e}"));
    let mut resampler =
        Fft::<f32>::new(rate as usize, 8000, 1024, 1, FixedSync::Input).map_err(|e| failed(&e))?;
    let len = mono.len();
    let input = vec![mono];
    let adapter = SequentialSliceOfVecs::new(&input, 1, len).map_err(|e| failed(&e))?;
    let out = resampler
        .process_all(&adapter, len, None)
        .map_err(|e| failed(&e))?;
    Ok(out.take_data())
}

/// Writes 8 kHz mono PCM as a WAV file.
pub fn clip_to_wav(pcm: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + pcm.len() * 2);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    if let Ok(mut writer) = hound::WavWriter::new(Cursor::new(&mut out), spec) {
        for &s in pcm {
            if writer.write_sample(s).is_err() {
                break;
            }
        }
        let _ = writer.finalize();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_16khz_becomes_8khz_mono_and_round_trips() {
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
        assert!(
            wav_to_clip(&clip_to_wav(&clip)).expect("again") == clip,
            "round trip"
        );
        assert!(matches!(
            wav_to_clip(b"not a wav"),
            Err(WavError::Format(_))
        ));
    }

    fn tone_wav(rate: u32, freq: f64, secs: f64) -> Vec<u8> {
        let mut bytes = Vec::new();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(Cursor::new(&mut bytes), spec).expect("writer");
        for n in 0..(f64::from(rate) * secs) as usize {
            let t = n as f64 / f64::from(rate);
            let v = (0.5 * (2.0 * std::f64::consts::PI * freq * t).sin() * 32767.0) as i16;
            w.write_sample(v).expect("sample");
        }
        w.finalize().expect("finalize");
        bytes
    }

    /// Level of `freq` in an 8 kHz clip, dB relative to full scale.
    fn level_db(clip: &[i16], freq: f64) -> f64 {
        let middle = &clip[clip.len() / 4..clip.len() * 3 / 4];
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &s) in middle.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0;
            re += f64::from(s) / 32768.0 * w.cos();
            im += f64::from(s) / 32768.0 * w.sin();
        }
        20.0 * (2.0 * (re * re + im * im).sqrt() / middle.len() as f64).log10()
    }

    #[test]
    fn tones_above_4khz_are_filtered_out_not_folded_back() {
        // 6 kHz at 48 kHz: linear interpolation stored it as a loud 2 kHz tone.
        let high = wav_to_clip(&tone_wav(48_000, 6000.0, 1.0)).expect("clip");
        assert_eq!(high.len(), 8000);
        let alias = level_db(&high, 2000.0);
        assert!(
            alias < -60.0,
            "the 6 kHz tone folded back to 2 kHz at {alias:.1} dBFS"
        );
        // What fits below 4 kHz keeps its level (-6 dBFS).
        let kept = level_db(
            &wav_to_clip(&tone_wav(44_100, 1000.0, 1.0)).expect("clip"),
            1000.0,
        );
        assert!((kept + 6.0).abs() < 0.5, "1 kHz at {kept:.1} dBFS");
    }
}
