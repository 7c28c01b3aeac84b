//! Recording a whole conference: each tick, the full mix (everyone's voice, what a member
//! who says nothing hears) at 16 kHz, whatever rate the conference mixes at.

use super::*;

/// The rate conference recordings are written at: wideband, so a G.711 conference loses
/// nothing and an Opus one keeps the speech band.
pub const MIX_RECORDING_RATE: AudioRate = AudioRate::Wide;

/// A conference being recorded: the converter from its bus rate, rebuilt when the bus
/// rate changes.
#[derive(Debug, Default)]
pub(super) struct MixRecorder {
    to_wide: Option<Resampler>,
}

impl MixRecorder {
    /// This tick's mix at [`MIX_RECORDING_RATE`].
    pub(super) fn frame(&mut self, mix: &[i16], rate: AudioRate) -> Vec<i16> {
        let mut out = vec![0; MIX_RECORDING_RATE.frame_samples()];
        if rate == MIX_RECORDING_RATE {
            let n = out.len().min(mix.len());
            out[..n].copy_from_slice(&mix[..n]);
            return out;
        }
        let converter = match &mut self.to_wide {
            Some(r) if r.from() == rate => r,
            slot => slot.insert(Resampler::new(rate, MIX_RECORDING_RATE)),
        };
        converter.process(mix, &mut out);
        out
    }
}

impl MediaGroup {
    /// Starts or stops recording a conference on this thread; unknown ones are ignored.
    pub(super) fn record_mix(&mut self, conference: &str, on: bool) {
        if let Some(conf) = self.conferences.get_mut(conference) {
            if on {
                conf.recording.get_or_insert_with(MixRecorder::default);
            } else {
                conf.recording = None;
            }
        }
    }

    /// The next 20 ms of a recorded conference at [`MIX_RECORDING_RATE`], or `None` as
    /// the frame when its recording ended because its last leg left.
    pub fn poll_mix_recorded(&mut self) -> Option<(String, Option<Vec<i16>>)> {
        self.mix_recorded.pop_front()
    }
}
