//! DTMF tone detection in 8 kHz audio (ITU-T Q.23 frequencies, Q.24 acceptance limits).
//!
//! Audio is cut into 102-sample blocks (12.75 ms). In each block a Goertzel filter measures
//! the eight DTMF frequencies and, for the strongest of each group, two probes 3.5 % either
//! side. A block holds a digit when:
//! - both tones are loud enough, and the high tone is within 8 dB below (normal twist) or
//!   4 dB above (reverse twist) the low one;
//! - each is the clear winner of its group, and together they carry most of the block's
//!   energy (speech and music spread theirs);
//! - each is closer to its nominal frequency than to the ±3.5 % probes, which accepts ±1.5 %
//!   and rejects ±3.5 % deviation.
//!
//! A digit is reported after two consecutive blocks agree (so tones under ~25 ms are never
//! taken and 40 ms always is), and released after two blocks without it (a 40 ms pause
//! separates two presses of one key).

use chorus_types::Frame;

const RATE: f64 = 8000.0;
const BLOCK: usize = 102;
const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Weakest tone accepted, as a sine amplitude (−36 dBFS).
const MIN_AMPLITUDE: f64 = 0.016 * 32768.0;
/// Normal twist limit (high tone weaker), 8 dB in power.
const NORMAL_TWIST: f64 = 6.31;
/// Reverse twist limit (high tone stronger), 4 dB in power.
const REVERSE_TWIST: f64 = 2.51;
/// A group's winner must beat the runner-up by 8 dB.
const GROUP_MARGIN: f64 = 6.31;
/// Share of the block's energy the two tones must carry.
const PURITY: f64 = 0.75;
const PROBE: f64 = 0.035;
const BLOCKS_TO_CONFIRM: u32 = 2;

/// What one frame held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InbandResult {
    /// A key press that was confirmed in this frame.
    pub digit: Option<char>,
    /// Whether any DTMF tone sounded in this frame (cut it from the mix).
    pub tone: bool,
}

/// Goertzel power of `freq`, scaled to the energy a sine of that power has in the block.
fn tone_energy(block: &[f64; BLOCK], freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / RATE).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in block {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / BLOCK as f64
}

/// The strongest frequency of a group, its energy, and the runner-up's.
fn strongest(energies: &[f64; 4]) -> (usize, f64, f64) {
    let mut best = 0;
    for i in 1..4 {
        if energies[i] > energies[best] {
            best = i;
        }
    }
    let second = (0..4)
        .filter(|&i| i != best)
        .map(|i| energies[i])
        .fold(0.0, f64::max);
    (best, energies[best], second)
}

fn detect_block(block: &[f64; BLOCK]) -> Option<char> {
    let total: f64 = block.iter().map(|x| x * x).sum();
    let min_energy = MIN_AMPLITUDE * MIN_AMPLITUDE * BLOCK as f64 / 2.0;
    if total < 2.0 * min_energy {
        return None;
    }
    let low = LOW.map(|f| tone_energy(block, f));
    let high = HIGH.map(|f| tone_energy(block, f));
    let (li, le, l2) = strongest(&low);
    let (hi, he, h2) = strongest(&high);
    if le < min_energy || he < min_energy {
        return None;
    }
    if he * NORMAL_TWIST < le || he > le * REVERSE_TWIST {
        return None;
    }
    if le < l2 * GROUP_MARGIN || he < h2 * GROUP_MARGIN {
        return None;
    }
    if le + he < PURITY * total {
        return None;
    }
    for (freq, energy) in [(LOW[li], le), (HIGH[hi], he)] {
        let below = tone_energy(block, freq * (1.0 - PROBE));
        let above = tone_energy(block, freq * (1.0 + PROBE));
        if below > energy || above > energy {
            return None;
        }
    }
    Some(KEYS[li][hi])
}

/// Finds DTMF in one leg's decoded audio. Feed every frame, in order.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    block: [f64; BLOCK],
    filled: usize,
    candidate: Option<char>,
    run: u32,
    misses: u32,
    down: Option<char>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector with no tone in progress.
    pub fn new() -> Self {
        InbandDetector {
            block: [0.0; BLOCK],
            filled: 0,
            candidate: None,
            run: 0,
            misses: 0,
            down: None,
        }
    }

    /// Processes one 20 ms frame of 8 kHz audio.
    pub fn process(&mut self, frame: &Frame) -> InbandResult {
        let mut result = InbandResult {
            digit: None,
            tone: self.down.is_some(),
        };
        for &sample in frame {
            self.block[self.filled] = f64::from(sample);
            self.filled += 1;
            if self.filled < BLOCK {
                continue;
            }
            self.filled = 0;
            let hit = detect_block(&self.block);
            if hit.is_some() {
                result.tone = true;
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= BLOCKS_TO_CONFIRM {
                    self.down = None;
                }
            }
            if hit == self.candidate {
                self.run += 1;
            } else {
                self.candidate = hit;
                self.run = 1;
            }
            if let Some(digit) = self.candidate
                && self.run >= BLOCKS_TO_CONFIRM
                && self.down != Some(digit)
            {
                self.down = Some(digit);
                result.digit = Some(digit);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::FRAME_SAMPLES;

    /// Two tones, each at `level_db` dBFS, with the high one `twist_db` louder.
    fn tone(low: f64, high: f64, ms: u32, level_db: f64, twist_db: f64) -> Vec<i16> {
        let n = (ms * 8) as usize;
        let a_low = 32767.0 * 10f64.powf(level_db / 20.0);
        let a_high = a_low * 10f64.powf(twist_db / 20.0);
        (0..n)
            .map(|i| {
                let t = i as f64 / RATE;
                let v = a_low * (2.0 * std::f64::consts::PI * low * t).sin()
                    + a_high * (2.0 * std::f64::consts::PI * high * t).sin();
                v.clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn silence(ms: u32) -> Vec<i16> {
        vec![0; (ms * 8) as usize]
    }

    fn detect(samples: &[i16]) -> String {
        let mut d = InbandDetector::new();
        let mut out = String::new();
        for chunk in samples.chunks(FRAME_SAMPLES) {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            if let Some(c) = d.process(&frame).digit {
                out.push(c);
            }
        }
        out
    }

    fn key(c: char) -> (f64, f64) {
        for (r, row) in KEYS.iter().enumerate() {
            for (col, k) in row.iter().enumerate() {
                if *k == c {
                    return (LOW[r], HIGH[col]);
                }
            }
        }
        panic!("no key {c}");
    }

    fn press(c: char, ms: u32) -> Vec<i16> {
        let (l, h) = key(c);
        tone(l, h, ms, -12.0, 0.0)
    }

    #[test]
    fn every_key_is_detected_once() {
        let mut audio = silence(30);
        for c in "0123456789*#ABCD".chars() {
            audio.extend(press(c, 60));
            audio.extend(silence(60));
        }
        assert_eq!(detect(&audio), "0123456789*#ABCD");
    }

    #[test]
    fn forty_ms_counts_and_twenty_does_not_at_any_alignment() {
        for offset in [0, 13, 37, 61, 90] {
            let mut audio = silence(offset);
            audio.extend(press('5', 40));
            audio.extend(silence(60));
            audio.extend(press('7', 20));
            audio.extend(silence(60));
            assert_eq!(detect(&audio), "5", "offset {offset} ms");
        }
    }

    #[test]
    fn forty_ms_pause_separates_two_presses_of_one_key() {
        let mut audio = press('9', 60);
        audio.extend(silence(40));
        audio.extend(press('9', 60));
        audio.extend(silence(40));
        assert_eq!(detect(&audio), "99");
    }

    #[test]
    fn frequency_deviation_limits() {
        for (dev, want) in [(0.015, "1"), (-0.015, "1"), (0.035, ""), (-0.035, "")] {
            let audio = [
                tone(697.0 * (1.0 + dev), 1209.0, 80, -12.0, 0.0),
                silence(50),
            ]
            .concat();
            assert_eq!(detect(&audio), want, "low group {dev:+}");
            let audio = [
                tone(697.0, 1209.0 * (1.0 + dev), 80, -12.0, 0.0),
                silence(50),
            ]
            .concat();
            assert_eq!(detect(&audio), want, "high group {dev:+}");
        }
    }

    #[test]
    fn twist_limits() {
        for (twist, want) in [(-7.5, "3"), (3.5, "3"), (-10.0, ""), (6.0, "")] {
            let audio = [tone(697.0, 1477.0, 80, -14.0, twist), silence(50)].concat();
            assert_eq!(detect(&audio), want, "twist {twist} dB");
        }
    }

    #[test]
    fn survives_g711() {
        let audio = [press('#', 60), silence(50)].concat();
        let through: Vec<i16> = audio.iter().map(|&s| decode_ulaw(encode_ulaw(s))).collect();
        assert_eq!(detect(&through), "#");
    }

    // A compact µ-law round trip so this crate need not depend on the codec crate.
    fn encode_ulaw(s: i16) -> u8 {
        let mut x = i32::from(s) >> 2;
        let mask = if x < 0 {
            x = -x;
            0x7F
        } else {
            0xFF
        };
        let x = x.min(8159) + 33;
        let seg = (32 - (x as u32).leading_zeros()) as i32 - 6;
        if seg >= 8 {
            return (0x7F ^ mask) as u8;
        }
        ((((seg << 4) | ((x >> (seg + 1)) & 0xF)) ^ mask) & 0xFF) as u8
    }

    fn decode_ulaw(c: u8) -> i16 {
        let c = !c;
        let t = (((i32::from(c) & 0xF) << 3) + 0x84) << ((c >> 4) & 7);
        (if c & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }
}
