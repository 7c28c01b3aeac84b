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
/// conversion (channel average, linear interpolation) happens once, at upload or start-up,
/// never on the 20 ms path.
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
    let ratio = f64::from(spec.sample_rate) / 8000.0;
    let out_len = (mono.len() as f64 / ratio) as usize;
    Ok((0..out_len)
        .map(|i| {
            let pos = i as f64 * ratio;
            let at = pos as usize;
            let frac = (pos - at as f64) as f32;
            let a = mono.get(at).copied().unwrap_or(0.0);
            let b = mono.get(at + 1).copied().unwrap_or(a);
            ((a + (b - a) * frac) * 32768.0)
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect())
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
}
