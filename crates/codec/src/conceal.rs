//! Waveform-repetition loss concealment for codecs without their own (G.711, G.722), after
//! ITU-T G.711 Appendix I: a lost frame is filled by repeating the last pitch period of
//! what was heard, fading out over 60 ms, and the first good frame after a loss is
//! cross-faded from the concealment, so neither edge clicks.

/// Longest pitch period searched, in ms × 10 (15 ms: 66 Hz).
const MAX_PITCH_TENTHS_MS: usize = 150;
/// Shortest (2.5 ms: 400 Hz).
const MIN_PITCH_TENTHS_MS: usize = 25;
/// Concealment fades to silence over this many ms.
const FADE_MS: usize = 60;
/// Full level is kept for this many ms before the fade starts.
const HOLD_MS: usize = 10;
/// The cross-fade into the first good frame, in ms × 10.
const MERGE_TENTHS_MS: usize = 25;

/// See the module docs. One per leg direction, at one sample rate.
#[derive(Debug, Clone)]
pub struct Concealer {
    rate: usize,
    /// The last `history_len` samples heard (good or concealed), oldest first.
    history: Vec<i16>,
    /// The pitch period of the current loss, in samples; 0 when not concealing.
    period: usize,
    /// Position inside the repeated period.
    phase: usize,
    /// Samples concealed in the current loss.
    concealed: usize,
}

impl Concealer {
    /// A concealer for audio at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let rate = rate as usize;
        Concealer {
            rate,
            history: vec![0; rate * MAX_PITCH_TENTHS_MS * 2 / 10_000 + rate / 100],
            period: 0,
            phase: 0,
            concealed: 0,
        }
    }

    /// Whether the last output was concealment.
    pub fn concealing(&self) -> bool {
        self.period != 0
    }

    /// Takes note of good audio before it is played; cross-fades it in after a loss.
    pub fn good(&mut self, pcm: &mut [i16]) {
        if self.period != 0 {
            let merge = (self.rate * MERGE_TENTHS_MS / 10_000).min(pcm.len());
            for (i, sample) in pcm.iter_mut().take(merge).enumerate() {
                let continued = f32::from(self.next_concealed());
                let w = (i + 1) as f32 / (merge + 1) as f32;
                *sample = (continued * (1.0 - w) + f32::from(*sample) * w) as i16;
            }
            self.period = 0;
            self.concealed = 0;
        }
        self.remember(pcm);
    }

    /// Fills `out` with concealment for lost audio.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.period == 0 {
            self.period = self.pitch_period();
            self.phase = 0;
            self.concealed = 0;
        }
        for sample in out.iter_mut() {
            *sample = self.next_concealed();
        }
        // The concealment becomes history: a long loss repeats its own (faded) output.
        let out_copy: Vec<i16> = out.to_vec();
        self.remember(&out_copy);
    }

    fn next_concealed(&mut self) -> i16 {
        let len = self.history.len();
        let source = self.history[len - self.period + self.phase];
        self.phase = (self.phase + 1) % self.period;
        let hold = self.rate * HOLD_MS / 1000;
        let fade = self.rate * FADE_MS / 1000;
        let gain = if self.concealed < hold {
            1.0
        } else {
            1.0 - (self.concealed - hold) as f32 / (fade - hold) as f32
        };
        self.concealed += 1;
        (f32::from(source) * gain.max(0.0)) as i16
    }

    fn remember(&mut self, pcm: &[i16]) {
        let len = self.history.len();
        if pcm.len() >= len {
            self.history.copy_from_slice(&pcm[pcm.len() - len..]);
        } else {
            self.history.copy_within(pcm.len().., 0);
            self.history[len - pcm.len()..].copy_from_slice(pcm);
        }
    }

    /// The lag in the pitch range whose normalised autocorrelation over the last
    /// `MAX_PITCH` samples is highest.
    fn pitch_period(&self) -> usize {
        let min = (self.rate * MIN_PITCH_TENTHS_MS / 10_000).max(1);
        let max = self.rate * MAX_PITCH_TENTHS_MS / 10_000;
        let h = &self.history;
        let window = max;
        let end = h.len();
        let recent = &h[end - window..];
        let mut best = (max, f64::MIN);
        for lag in min..=max {
            let past = &h[end - window - lag..end - lag];
            let (mut dot, mut energy) = (0f64, 0f64);
            for (&a, &b) in recent.iter().zip(past) {
                dot += f64::from(a) * f64::from(b);
                energy += f64::from(b) * f64::from(b);
            }
            if energy > 0.0 {
                let score = dot / energy.sqrt();
                if score > best.1 {
                    best = (lag, score);
                }
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, freq: f64, start: usize, len: usize) -> Vec<i16> {
        (start..start + len)
            .map(|n| {
                (8000.0 * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn a_lost_frame_continues_the_waveform_without_a_click() {
        let mut c = Concealer::new(8000);
        for i in 0..5 {
            let mut f = tone(8000, 200.0, i * 160, 160);
            c.good(&mut f);
        }
        let mut lost = vec![0i16; 160];
        c.conceal(&mut lost);
        let truth = tone(8000, 200.0, 800, 160);
        // The first 10 ms match the true continuation closely (a 200 Hz period is 40
        // samples, found exactly).
        let err: f64 = lost[..80]
            .iter()
            .zip(&truth[..80])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / 80.0;
        assert!(err < 400.0, "mean error {err}");
        // No sample-to-sample jump larger than the tone's own steepest slope.
        let max_step = lost
            .windows(2)
            .map(|w| (w[1] - w[0]).unsigned_abs())
            .max()
            .unwrap_or(0);
        assert!(max_step < 1400, "step {max_step}");
    }

    #[test]
    fn a_long_loss_fades_to_silence() {
        let mut c = Concealer::new(16000);
        let mut f = tone(16000, 300.0, 0, 960);
        c.good(&mut f);
        let mut out = vec![0i16; 320];
        for _ in 0..4 {
            c.conceal(&mut out);
        }
        assert!(out.iter().all(|&s| s == 0), "silent after 60 ms");
        let mut good = tone(16000, 300.0, 0, 320);
        c.good(&mut good);
        assert!(!c.concealing());
    }
}
