//! Automatic gain per talker: quiet and loud members are brought towards one speech
//! level before the mix, slowly and within bounds.
//!
//! One [`Agc`] follows one member's 20 ms frames (any rate):
//! - **What counts as speech.** A frame is speech when it is at least
//!   [`SPEECH_ABOVE_FLOOR_DB`] over the member's noise floor (the quietest frame of the
//!   last [`FLOOR_WINDOW_MS`]) and over [`SPEECH_MIN_DBFS`]. A steady sound (a tone, a
//!   hum) is its own floor, so it is never speech and never moves the gain.
//! - **The level.** The mean power of the speech frames (the active speech level, as
//!   ITU-T P.56 measures it, in frames): a plain mean over the first
//!   [`LEARN_FRAMES`] of speech, then a moving mean over about [`LEVEL_FRAMES`].
//! - **The gain.** Nothing moves until [`LEARN_FRAMES`] of speech were heard. A level
//!   within [`WINDOW_DB`] of [`TARGET_DBFS`] is left alone (the gain stays exactly unity,
//!   so a talker at a normal level is bit-exact). Further out, the gain heads for the
//!   target, at most ±[`MAX_GAIN_DB`], moving only during speech and slowly
//!   ([`RISE_DB_PER_S`] up, [`FALL_DB_PER_S`] down), so a shout or a cough does not pump.
//! - **Noise between words is not raised.** After [`PAUSE_MS`] without speech, a gain
//!   above unity is taken off (over one frame) until the next speech frame; a gain under
//!   unity stays, as lowering noise does no harm.
//!
//! Changes of the applied gain are ramped linearly across a frame, so there is no step.
//! Sans-IO and allocation-free: [`Agc::process`] works on the frame in place.

use chorus_types::FRAME_MS;

/// The speech level talkers are brought towards (active speech level, dBFS).
pub const TARGET_DBFS: f32 = -23.0;
/// Levels within this many dB of the target are left alone.
pub const WINDOW_DB: f32 = 5.0;
/// The largest boost and the largest cut.
pub const MAX_GAIN_DB: f32 = 12.0;
/// How fast the gain may rise during speech (slow: a quiet spell is not a new talker).
pub const RISE_DB_PER_S: f32 = 6.0;
/// How fast the gain may fall during speech.
pub const FALL_DB_PER_S: f32 = 10.0;
/// A frame this far over the noise floor is speech.
pub const SPEECH_ABOVE_FLOOR_DB: f32 = 12.0;
/// Quieter frames are never speech.
pub const SPEECH_MIN_DBFS: f32 = -60.0;
/// The noise floor is the quietest frame of this long a window.
pub const FLOOR_WINDOW_MS: u32 = 800;
/// Speech frames measured before the gain may move (1.5 s of speech).
pub const LEARN_FRAMES: u32 = 75;
/// The level follows roughly this many speech frames (3 s of speech).
pub const LEVEL_FRAMES: u32 = 150;
/// Silence this long after speech takes a boost off the noise.
pub const PAUSE_MS: u32 = 200;
/// How fast a boost taken off in a pause returns at the next word.
pub const ONSET_MS: u32 = 2;

/// Frames per block of the floor tracker, and blocks kept.
const FLOOR_BLOCK_FRAMES: u32 = 10;
const FLOOR_BLOCKS: usize = (FLOOR_WINDOW_MS / FRAME_MS / FLOOR_BLOCK_FRAMES) as usize;
const PAUSE_FRAMES: u32 = PAUSE_MS / FRAME_MS;
/// The level given to digital silence.
const SILENT_DBFS: f32 = -120.0;

/// One talker's gain control (see the module docs).
#[derive(Debug, Clone)]
pub struct Agc {
    /// Quietest frame of each finished block, newest last; `None` until filled.
    floor_blocks: [Option<f32>; FLOOR_BLOCKS],
    block_min: f32,
    block_frames: u32,
    /// Mean power (full scale = 1) of the speech frames.
    speech_power: f64,
    speech_frames: u32,
    /// The gain it is heading for, in dB; exactly 0 while nothing is to be done.
    gain_db: f32,
    /// The linear gain at the end of the last frame.
    applied: f32,
    /// Frames since the last speech frame.
    since_speech: u32,
}

impl Default for Agc {
    fn default() -> Self {
        Agc {
            floor_blocks: [None; FLOOR_BLOCKS],
            block_min: f32::INFINITY,
            block_frames: 0,
            speech_power: 0.0,
            speech_frames: 0,
            gain_db: 0.0,
            applied: 1.0,
            since_speech: u32::MAX,
        }
    }
}

/// A frame's RMS in dBFS, and its mean power (full scale = 1).
fn frame_power(frame: &[i16]) -> (f32, f64) {
    if frame.is_empty() {
        return (SILENT_DBFS, 0.0);
    }
    // Integer squares: exact, and the loop vectorises (a frame is at most 960 samples,
    // so the sum stays far inside i64).
    let sum: i64 = frame
        .iter()
        .map(|&s| i64::from(i32::from(s) * i32::from(s)))
        .sum();
    let power = sum as f64 / frame.len() as f64 / (32768.0 * 32768.0);
    let db = if power > 0.0 {
        (10.0 * power.log10()).max(f64::from(SILENT_DBFS)) as f32
    } else {
        SILENT_DBFS
    };
    (db, power)
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

impl Agc {
    /// A new talker: no level known, unity gain.
    pub fn new() -> Self {
        Self::default()
    }

    /// The gain it is heading for, in dB (0: none).
    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// The measured active speech level in dBFS, once enough speech was heard.
    pub fn speech_level_dbfs(&self) -> Option<f32> {
        (self.speech_frames >= LEARN_FRAMES && self.speech_power > 0.0)
            .then(|| (10.0 * self.speech_power.log10()) as f32)
    }

    /// Whether it leaves frames untouched, now and for the next frame unless speech
    /// moves the gain: no gain adapted and none being ramped.
    pub fn is_unity(&self) -> bool {
        self.gain_db == 0.0 && self.applied == 1.0
    }

    /// Measures one 20 ms frame and applies the gain to it in place. Returns whether the
    /// frame changed.
    pub fn process(&mut self, frame: &mut [i16]) -> bool {
        let (db, power) = frame_power(frame);
        let speech = self.step(db, power);
        let mut target = db_to_gain(self.gain_db);
        if self.since_speech > PAUSE_FRAMES {
            target = target.min(1.0);
        }
        if self.gain_db == 0.0 && (target - 1.0).abs() < 1e-6 {
            target = 1.0;
        }
        let from = self.applied;
        self.applied = target;
        if from == 1.0 && target == 1.0 {
            return false;
        }
        // A boost coming back at a word's first frame returns within ONSET_MS, over the
        // quiet before the word, so the word starts at its level; any other change is
        // spread over the frame.
        let len = if from == target {
            0
        } else if speech && self.since_speech == 0 && target > from {
            (frame.len() * ONSET_MS as usize / FRAME_MS as usize).max(1)
        } else {
            frame.len()
        };
        ramp(frame, from, target, len);
        true
    }

    /// Measures a frame known only by its level (RMS, dBFS), as a phone states it in
    /// RFC 6464 for a packet nobody decodes while it goes to the listeners unchanged.
    /// Nothing is applied; the gain may start to move, and then the talker's frames are
    /// decoded and [`Agc::process`]ed again.
    pub fn observe(&mut self, dbfs: f32) {
        let db = dbfs.clamp(SILENT_DBFS, 0.0);
        let _ = self.step(db, 10f64.powf(f64::from(db) / 10.0));
    }

    /// One frame's measurement: floor, speech, level and gain. Returns whether it was
    /// speech.
    fn step(&mut self, db: f32, power: f64) -> bool {
        let floor = self.floor(db);
        let speech = db >= SPEECH_MIN_DBFS && db >= floor + SPEECH_ABOVE_FLOOR_DB;
        if speech {
            self.since_speech = 0;
            self.measure(power);
            self.adapt();
        } else {
            self.since_speech = self.since_speech.saturating_add(1);
        }
        speech
    }

    /// Feeds the floor tracker one frame's level; returns the floor before it.
    fn floor(&mut self, db: f32) -> f32 {
        let floor = self
            .floor_blocks
            .iter()
            .flatten()
            .fold(self.block_min, |a, &b| a.min(b));
        self.block_min = self.block_min.min(db);
        self.block_frames += 1;
        if self.block_frames == FLOOR_BLOCK_FRAMES {
            self.floor_blocks.rotate_left(1);
            self.floor_blocks[FLOOR_BLOCKS - 1] = Some(self.block_min);
            self.block_min = f32::INFINITY;
            self.block_frames = 0;
        }
        floor
    }

    fn measure(&mut self, power: f64) {
        self.speech_frames = self.speech_frames.saturating_add(1);
        let weight = if self.speech_frames <= LEARN_FRAMES {
            1.0 / f64::from(self.speech_frames)
        } else {
            1.0 / f64::from(LEVEL_FRAMES)
        };
        self.speech_power += (power - self.speech_power) * weight;
    }

    fn adapt(&mut self) {
        let Some(level) = self.speech_level_dbfs() else {
            return;
        };
        let wanted = (TARGET_DBFS - level).clamp(-MAX_GAIN_DB, MAX_GAIN_DB);
        // Inside the window, a gain that is (nearly) off goes exactly off, and none starts.
        let wanted = if (TARGET_DBFS - level).abs() <= WINDOW_DB && self.gain_db.abs() <= 1.0 {
            0.0
        } else {
            wanted
        };
        let frame_s = FRAME_MS as f32 / 1000.0;
        let step = if wanted > self.gain_db {
            RISE_DB_PER_S * frame_s
        } else {
            FALL_DB_PER_S * frame_s
        };
        if (wanted - self.gain_db).abs() <= step {
            self.gain_db = wanted;
        } else if wanted > self.gain_db {
            self.gain_db += step;
        } else {
            self.gain_db -= step;
        }
    }
}

/// Multiplies `frame` by a gain going linearly from `from` to `to` over its first `len`
/// samples (none: `to` throughout) and `to` after, saturating.
fn ramp(frame: &mut [i16], from: f32, to: f32, len: usize) {
    let len = len.min(frame.len());
    let (ramped, steady) = frame.split_at_mut(len);
    let step = (to - from) / len.max(1) as f32;
    for (i, s) in ramped.iter_mut().enumerate() {
        let gain = from + step * (i + 1) as f32;
        *s = (f32::from(*s) * gain)
            .round()
            .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
    }
    // The rest at one gain, in fixed point (Q14: up to 4×, the largest boost), which
    // the compiler vectorises.
    let q = (to * 16384.0).round() as i32;
    for s in steady {
        let scaled = (i32::from(*s) * q + 8192) >> 14;
        *s = scaled.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

#[cfg(test)]
mod tests;
