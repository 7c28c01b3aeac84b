//! What a talker's voice goes through before the mix: noise suppression, then automatic
//! gain (see `chorus_mixer::denoise` and `chorus_mixer::agc`), on the leg's decoded input
//! at its own rate, after keypad detection has seen the untouched audio.

use chorus_codec::Resampler;
use chorus_mixer::agc::Agc;
use chorus_mixer::denoise::Denoiser;
use chorus_types::{AudioRate, VoiceProcessing};

/// One leg's voice chain; empty (and free) when both are off.
#[derive(Debug, Default)]
pub(super) struct Voice {
    agc: Option<Agc>,
    suppress: bool,
    /// Made on the first frame that needs it, for the leg's rate then.
    denoise: Option<Box<Denoise>>,
    /// The last frame processed was changed.
    changed: bool,
    /// The gain last told, in whole dB.
    told_gain: f32,
}

/// The suppressor, and the converters to and from its 48 kHz for slower legs.
#[derive(Debug)]
struct Denoise {
    denoiser: Denoiser,
    rate: AudioRate,
    up: Option<Resampler>,
    down: Option<Resampler>,
    full: Vec<i16>,
}

impl Denoise {
    fn new(rate: AudioRate) -> Box<Self> {
        let converted = rate != AudioRate::Full;
        Box::new(Denoise {
            denoiser: Denoiser::new(),
            rate,
            up: converted.then(|| Resampler::new(rate, AudioRate::Full)),
            down: converted.then(|| Resampler::new(AudioRate::Full, rate)),
            full: vec![0; AudioRate::Full.frame_samples()],
        })
    }

    fn process(&mut self, frame: &mut [i16]) {
        match (&mut self.up, &mut self.down) {
            (Some(up), Some(down)) => {
                up.process(frame, &mut self.full);
                self.denoiser.process(&mut self.full);
                down.process(&self.full, frame);
            }
            _ => {
                self.denoiser.process(frame);
            }
        }
    }
}

impl Voice {
    /// Turns the parts on or off; a part that stays on keeps what it learned.
    pub(super) fn set(&mut self, processing: VoiceProcessing) {
        match (processing.auto_gain, self.agc.is_some()) {
            (true, false) => self.agc = Some(Agc::new()),
            (false, true) => self.agc = None,
            _ => {}
        }
        self.suppress = processing.noise_suppression;
        if !self.suppress {
            self.denoise = None;
        }
    }

    /// Whether a talker's packet may be kept undecoded while listeners take it unchanged:
    /// nothing here would alter it (gain control then measures the level the packet
    /// states, [`Voice::observe`]).
    pub(super) fn may_defer(&self) -> bool {
        !self.suppress && self.agc.as_ref().is_none_or(Agc::is_unity)
    }

    /// Measures a frame kept undecoded by the level its sender stated (RFC 6464, −dBov).
    pub(super) fn observe(&mut self, dbov: u8) {
        if let Some(agc) = &mut self.agc {
            // 0 dBov is a full-scale sine, 3 dB above our full-scale RMS reference.
            agc.observe(-f32::from(dbov) - 3.0);
        }
        self.changed = false;
    }

    /// The gain control's measured speech level and the gain it heads for, when it
    /// changed since the last call (for the log).
    pub(super) fn gain_changed(&mut self) -> Option<(f32, f32)> {
        let agc = self.agc.as_ref()?;
        let gain = agc.gain_db();
        // Told in whole dB steps, not every frame of a ramp.
        let step = gain.round();
        if step == self.told_gain {
            return None;
        }
        self.told_gain = step;
        Some((agc.speech_level_dbfs().unwrap_or(f32::NAN), gain))
    }

    /// Whether the leg's packets may reach listeners unchanged: nothing here would alter
    /// its audio.
    pub(super) fn is_transparent(&self) -> bool {
        !self.suppress && !self.changed && self.agc.as_ref().is_none_or(Agc::is_unity)
    }

    /// Runs a talker's 20 ms `frame` at `rate` through the chain, in place. `audio`:
    /// the frame carries sound (suppression is skipped on silence, which it would leave
    /// silent anyway).
    pub(super) fn process(&mut self, frame: &mut [i16], rate: AudioRate, audio: bool) {
        if self.suppress && audio {
            let denoise = match &mut self.denoise {
                Some(d) if d.rate == rate => d,
                slot => slot.insert(Denoise::new(rate)),
            };
            denoise.process(frame);
        }
        self.changed = self.suppress && audio;
        if let Some(agc) = &mut self.agc {
            self.changed |= agc.process(frame);
        }
    }
}
