//! Sample-rate conversion between the conference's mixing rate and a leg's codec rate,
//! one 20 ms frame at a time, with rubato's FFT resampler (fixed size on both sides).

use chorus_types::AudioRate;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler as _};

/// Converts 20 ms frames from one [`AudioRate`] to another. Keeps filter state between
/// frames, so feed it every frame of one stream in order.
pub struct Resampler {
    inner: Fft<f32>,
    from: AudioRate,
    to: AudioRate,
    input: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `from` to `to` (which must differ to be useful; equal rates work
    /// and add only the filter's delay).
    pub fn new(from: AudioRate, to: AudioRate) -> Self {
        let inner = Fft::<f32>::new(
            from.hz() as usize,
            to.hz() as usize,
            from.frame_samples(),
            1,
            FixedSync::Both,
        )
        // Only the three AudioRates and their 20 ms frames reach here, and every pair is
        // built in the tests: this cannot fail at run time.
        .expect("fixed, valid rates");
        Resampler {
            inner,
            from,
            to,
            input: vec![vec![0.0; from.frame_samples()]],
            output: vec![vec![0.0; to.frame_samples()]],
        }
    }

    /// The rate it reads.
    pub fn from(&self) -> AudioRate {
        self.from
    }

    /// The rate it writes.
    pub fn to(&self) -> AudioRate {
        self.to
    }

    /// Delay it adds, in output samples.
    pub fn delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Converts one frame: `input` holds `from.frame_samples()` samples, `out` receives
    /// `to.frame_samples()` (missing input counts as silence).
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) {
        for (slot, sample) in self.input[0].iter_mut().zip(
            input
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .chain(std::iter::repeat(0.0)),
        ) {
            *slot = sample;
        }
        let frames_in = self.from.frame_samples();
        let frames_out = self.to.frame_samples();
        let (Ok(reader), Ok(mut writer)) = (
            SequentialSliceOfVecs::new(&self.input, 1, frames_in),
            SequentialSliceOfVecs::new_mut(&mut self.output, 1, frames_out),
        ) else {
            return;
        };
        if self
            .inner
            .process_into_buffer(&reader, &mut writer, None)
            .is_err()
        {
            out.fill(0);
            return;
        }
        for (o, &s) in out.iter_mut().zip(&self.output[0]) {
            *o = (s * 32768.0).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_at(samples: &[i16], rate: f64, freq: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &s) in samples.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * freq * n as f64 / rate;
            re += f64::from(s) * w.cos();
            im += f64::from(s) * w.sin();
        }
        2.0 * (re * re + im * im).sqrt() / samples.len() as f64
    }

    #[test]
    fn every_pair_keeps_a_tone_and_its_level() {
        let rates = [AudioRate::Narrow, AudioRate::Wide, AudioRate::Full];
        for from in rates {
            for to in rates {
                let mut r = Resampler::new(from, to);
                let mut heard = Vec::new();
                for frame in 0..20 {
                    let n = from.frame_samples();
                    let input: Vec<i16> = (frame * n..(frame + 1) * n)
                        .map(|i| {
                            (10_000.0
                                * (2.0 * std::f64::consts::PI * 1000.0 * i as f64
                                    / f64::from(from.hz()))
                                .sin()) as i16
                        })
                        .collect();
                    let mut out = vec![0; to.frame_samples()];
                    r.process(&input, &mut out);
                    heard.extend_from_slice(&out);
                }
                let tail = &heard[heard.len() / 2..];
                let level = level_at(tail, f64::from(to.hz()), 1000.0);
                assert!(
                    (level - 10_000.0).abs() < 300.0,
                    "{from:?}->{to:?}: {level}"
                );
                assert!(
                    r.delay() < to.frame_samples(),
                    "{from:?}->{to:?} delay {}",
                    r.delay()
                );
            }
        }
    }
}
