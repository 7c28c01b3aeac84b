//! Noise suppression per talker: RNNoise (a small recurrent network that estimates, in
//! 22 bands every 10 ms, how much of the sound is voice, and lowers the rest), through
//! the pure-Rust `nnnoiseless`.
//!
//! It runs at 48 kHz on 10 ms blocks, two per 20 ms frame; the caller converts other
//! rates. State is kept per talker (the network has memory), so one [`Denoiser`] follows
//! one member. Its output is about one block behind its input, inside the frame it came
//! with: no tick of delay is added.

use nnnoiseless::DenoiseState;

/// The rate it works at.
pub const RATE_HZ: u32 = 48_000;
/// Samples per block.
pub const BLOCK: usize = DenoiseState::FRAME_SIZE;

/// One talker's suppressor.
pub struct Denoiser {
    state: Box<DenoiseState<'static>>,
    input: [f32; BLOCK],
    output: [f32; BLOCK],
}

impl std::fmt::Debug for Denoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoiser").finish_non_exhaustive()
    }
}

impl Default for Denoiser {
    fn default() -> Self {
        Denoiser {
            state: DenoiseState::new(),
            input: [0.0; BLOCK],
            output: [0.0; BLOCK],
        }
    }
}

impl Denoiser {
    /// A new talker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Suppresses the noise in `frame` (48 kHz, a whole number of blocks) in place.
    /// Returns the network's voice probability for the frame (the larger of its blocks'),
    /// 0 to 1. Samples after the last whole block are left as they are.
    pub fn process(&mut self, frame: &mut [i16]) -> f32 {
        let mut voice = 0.0f32;
        for block in frame.chunks_exact_mut(BLOCK) {
            for (i, &s) in self.input.iter_mut().zip(block.iter()) {
                *i = f32::from(s);
            }
            voice = voice.max(self.state.process_frame(&mut self.output, &self.input));
            for (s, &o) in block.iter_mut().zip(self.output.iter()) {
                *s = o.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
            }
        }
        voice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(amplitude: f32, n: usize, seed: u32) -> Vec<i16> {
        let mut seed = seed;
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * amplitude
            })
            .map(|s| s as i16)
            .collect()
    }

    fn power(samples: &[i16]) -> f64 {
        samples
            .iter()
            .map(|&s| f64::from(s) * f64::from(s))
            .sum::<f64>()
            / samples.len() as f64
    }

    #[test]
    fn steady_noise_is_lowered_by_far() {
        let mut d = Denoiser::new();
        // RNNoise learns steady noise alone over a few seconds (within words, where its
        // voice model helps, it lowers noise by 30 dB or more).
        let mut input = noise(1700.0, 48_000 * 4, 7);
        let before = power(&input[48_000 * 3..]);
        for frame in input.chunks_mut(960) {
            d.process(frame);
        }
        let after = power(&input[48_000 * 3..]);
        let reduction = 10.0 * (before / after.max(1e-9)).log10();
        assert!(reduction > 6.0, "noise lowered by {reduction:.1} dB");
    }

    #[test]
    fn silence_stays_silent_and_odd_lengths_are_safe() {
        let mut d = Denoiser::new();
        let mut frame = vec![0i16; 960];
        d.process(&mut frame);
        assert!(frame.iter().all(|&s| s.abs() <= 1));
        let mut odd = vec![1000i16; 500];
        d.process(&mut odd);
        assert!(odd[480..].iter().all(|&s| s == 1000));
    }
}
