//! The soft limiter on each output of the bus, in place of a hard clamp.
//!
//! Loud rooms (several members shouting at once) sum past 16 bits. Clamping squares the
//! peaks off, which is heard as crackle; this limiter lowers the gain instead, smoothly:
//! - a frame whose samples all stay under the ceiling, with no gain reduction left over, is
//!   written unchanged (a talker at a normal level is bit-exact);
//! - otherwise the gain needed by each sample is found, and looked ahead within the frame
//!   (a linear ramp of [`ATTACK_MS`] before each peak), so the gain starts falling before
//!   the peak arrives; the frame is what the look-ahead sees, so it adds no delay;
//! - it comes back slowly ([`RELEASE_MS`]), so a room that stays loud holds one level and
//!   does not pump.
//!
//! The gain can still fall at a frame's first sample when a peak lands there; it never
//! lets a sample past the ceiling.

/// The loudest sample an output may carry: −1 dBFS, so G.711's top code is never reached.
pub const CEILING: i32 = 29_204;

/// How far ahead of a peak the gain starts to fall.
pub const ATTACK_MS: f32 = 2.0;

/// The time constant of the gain's return to unity.
pub const RELEASE_MS: f32 = 150.0;

/// One output's gain, carried from frame to frame.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    gain: f32,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter { gain: 1.0 }
    }
}

impl Limiter {
    /// The gain it ended the last frame with (1 when not limiting).
    #[cfg(test)]
    pub(crate) fn gain(&self) -> f32 {
        self.gain
    }

    /// Writes the bus minus `own` (a member's own voice, when it hears the mix without
    /// it) into `out`, limited. `scratch` is reused.
    pub(crate) fn write_bus(
        &mut self,
        out: &mut [i16],
        scratch: &mut Vec<f32>,
        sample_rate: u32,
        bus: &[i32],
        own: Option<&[i16]>,
    ) {
        // The common case, as cheap as the clamp it replaces: two simple passes the
        // compiler vectorises; only a sample that reached the ceiling takes the gain path.
        match own {
            None => {
                for (o, &b) in out.iter_mut().zip(bus) {
                    *o = saturate(b);
                }
            }
            Some(own) => {
                for ((o, &b), &m) in out.iter_mut().zip(bus).zip(own) {
                    *o = saturate(b - i32::from(m));
                }
            }
        }
        let (low, high) = out
            .iter()
            .fold((0i16, 0i16), |(low, high), &s| (low.min(s), high.max(s)));
        if self.gain >= 1.0 && i32::from(high) < CEILING && i32::from(low) > -CEILING {
            return;
        }
        match own {
            None => self.limit(out, scratch, sample_rate, |i| bus[i]),
            Some(own) => self.limit(out, scratch, sample_rate, |i| bus[i] - i32::from(own[i])),
        }
    }

    /// Writes `sum(i)` for every sample of `out`, limited. `scratch` is reused.
    #[cfg(test)]
    pub(crate) fn write(
        &mut self,
        out: &mut [i16],
        scratch: &mut Vec<f32>,
        sample_rate: u32,
        sum: impl Fn(usize) -> i32,
    ) {
        let mut peak = 0;
        for (i, o) in out.iter_mut().enumerate() {
            let v = sum(i);
            peak = peak.max(v.unsigned_abs());
            *o = v.clamp(-CEILING, CEILING) as i16;
        }
        if self.gain >= 1.0 && peak <= CEILING as u32 {
            return;
        }
        self.limit(out, scratch, sample_rate, sum);
    }

    /// The gain path: a frame with a sample over the ceiling, or gain still reduced.
    fn limit(
        &mut self,
        out: &mut [i16],
        scratch: &mut Vec<f32>,
        sample_rate: u32,
        sum: impl Fn(usize) -> i32,
    ) {
        // The gain each sample needs, then ramped down ahead of each peak (backwards).
        let n = out.len();
        scratch.clear();
        scratch.extend((0..n).map(|i| needed(sum(i))));
        let ramp = 1.0 / (ATTACK_MS * sample_rate as f32 / 1000.0).max(1.0);
        for i in (0..n.saturating_sub(1)).rev() {
            scratch[i] = scratch[i].min(scratch[i + 1] + ramp);
        }
        // Forwards: never above what the samples need, back towards 1 slowly.
        let release = 1.0 - (-1000.0 / (RELEASE_MS * sample_rate as f32)).exp();
        let mut gain = self.gain;
        for (i, o) in out.iter_mut().enumerate() {
            gain = (gain + (1.0 - gain) * release).min(scratch[i]);
            // Rounded by hand: without SSE4.1 `f32::round` is a libm call per sample.
            let x = sum(i) as f32 * gain;
            let v = (x + 0.5f32.copysign(x)) as i32;
            *o = v.clamp(-CEILING, CEILING) as i16;
        }
        // Settle to exactly 1 once within a hair of it, so the bit-exact path returns.
        self.gain = if gain > 0.9995 { 1.0 } else { gain };
    }
}

/// To 16 bits at full scale: what the compiler turns into one saturating pack.
#[inline]
fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// The gain that brings `v` under the ceiling (1 if it is already).
fn needed(v: i32) -> f32 {
    let magnitude = v.unsigned_abs();
    if magnitude <= CEILING as u32 {
        1.0
    } else {
        CEILING as f32 / magnitude as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, rate: u32, n: usize, from: usize) -> Vec<i32> {
        (from..from + n)
            .map(|i| {
                (amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
                    as i32
            })
            .collect()
    }

    #[test]
    fn a_frame_under_the_ceiling_passes_bit_exact() {
        let mut limiter = Limiter::default();
        let input = tone(440.0, 20_000.0, 8000, 160, 0);
        let mut out = vec![0i16; 160];
        limiter.write(&mut out, &mut Vec::new(), 8000, |i| input[i]);
        assert!(out.iter().zip(&input).all(|(&o, &i)| i32::from(o) == i));
        assert_eq!(limiter.gain(), 1.0);
    }

    #[test]
    fn five_full_scale_voices_never_pass_the_ceiling_and_hold_one_level() {
        let mut limiter = Limiter::default();
        let rate = 48_000;
        let n = 960;
        let mut scratch = Vec::new();
        let mut levels = Vec::new();
        for frame in 0..100 {
            let voices: Vec<Vec<i32>> = [300.0, 450.0, 700.0, 1100.0, 1700.0]
                .iter()
                .map(|&f| tone(f, 32_767.0, rate, n, frame * n))
                .collect();
            let mut out = vec![0i16; n];
            limiter.write(&mut out, &mut scratch, rate, |i| {
                voices.iter().map(|v| v[i]).sum()
            });
            assert!(
                out.iter().all(|&s| i32::from(s).abs() <= CEILING),
                "frame {frame}"
            );
            let rms = (out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / n as f64).sqrt();
            levels.push(20.0 * rms.log10());
        }
        // After the first half second, no pumping: the level holds within 1.5 dB.
        let steady = &levels[25..];
        let (min, max) = steady
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &l| (a.min(l), b.max(l)));
        assert!(max - min < 1.5, "level swings {min:.1}..{max:.1} dB");
    }

    #[test]
    fn the_gain_comes_back_slowly_then_exactly_to_unity() {
        let mut limiter = Limiter::default();
        let mut scratch = Vec::new();
        let loud = tone(500.0, 60_000.0, 8000, 160, 0);
        let mut out = vec![0i16; 160];
        limiter.write(&mut out, &mut scratch, 8000, |i| loud[i]);
        let after_loud = limiter.gain();
        assert!(after_loud < 0.6);
        let quiet = tone(500.0, 1000.0, 8000, 160, 0);
        limiter.write(&mut out, &mut scratch, 8000, |i| quiet[i]);
        assert!(
            limiter.gain() > after_loud && limiter.gain() < 0.8,
            "{}",
            limiter.gain()
        );
        for _ in 0..100 {
            limiter.write(&mut out, &mut scratch, 8000, |i| quiet[i]);
        }
        assert_eq!(limiter.gain(), 1.0);
        assert!(out.iter().zip(&quiet).all(|(&o, &i)| i32::from(o) == i));
    }

    #[test]
    fn the_gain_falls_before_a_peak_not_at_it() {
        let mut limiter = Limiter::default();
        // Quiet, then one loud sample at 120: the samples just before it are already
        // turned down, those well before are not.
        let mut input = vec![1000i32; 160];
        input[120] = 60_000;
        let mut out = vec![0i16; 160];
        limiter.write(&mut out, &mut Vec::new(), 8000, |i| input[i]);
        assert_eq!(out[100], 1000);
        assert!(out[119] < 600, "{}", out[119]);
        assert!(i32::from(out[120]) <= CEILING);
    }

    proptest::proptest! {
        #[test]
        fn no_sum_ever_passes_the_ceiling(sums in proptest::collection::vec(-200_000i32..200_000, 160)) {
            let mut limiter = Limiter::default();
            let mut out = vec![0i16; 160];
            limiter.write(&mut out, &mut Vec::new(), 8000, |i| sums[i]);
            proptest::prop_assert!(out.iter().all(|&s| i32::from(s).abs() <= CEILING));
        }
    }
}
