//! One leg's audio chain: jitter buffer → decoder (with concealment) → the leg's own rate
//! → the conference bus rate, and back: bus → the leg's rate (+ its prompts) → encoder.
//!
//! A leg runs at its codec's rate (8 kHz G.711, 16 kHz G.722, 8–48 kHz Opus as its
//! `maxplaybackrate` allows). Resamplers exist only where two rates differ, so an
//! all-G.711 conference never resamples. Prompts, music, keypad detection and recordings
//! are narrowband (8 kHz), converted at the edge when the leg runs faster.

use chorus_codec::{Concealer, Decoder, Encoder, MAX_PAYLOAD, OpusSettings, Resampler};
use chorus_rtp::{JitterBuffer, Playout};
use chorus_types::{AudioRate, Codec, FRAME_SAMPLES, Frame, OpusFmtp, SILENCE};

/// Ticks of an empty buffer concealed (so a late packet is a smooth dip, not a hole)
/// before the leg counts as silent.
const CONCEAL_EMPTY_TICKS: u32 = 3;
/// Mean absolute level under which a frame is quiet enough to drop excess delay in.
const QUIET_LEVEL: u32 = 100;
/// RFC 6464 level (−dBov) at and under which a packet is not decoded: quieter than the
/// noise gate lets into the mix (its mean-absolute threshold is about −53 dBov RMS).
pub(super) const SILENT_DBOV: u8 = 55;

/// How much of a leg's input this tick needs decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoding {
    /// All of it: keypad tones, a name or a recording need the audio itself.
    Everything,
    /// Only packets that may be heard: those the sender marks silent (RFC 6464) and Opus
    /// DTX frames are skipped.
    Voiced,
    /// None: the leg is not heard (muted, on hold, not in yet) and nothing listens to it.
    Nothing,
    /// As `Voiced`, but a packet whose sender states its level (RFC 6464) is kept, not
    /// decoded: the listeners took this talker's packets unchanged last tick and likely
    /// will again. [`LegAudio::decode_deferred`] decodes it if the mix needs it after all.
    Deferred,
}

/// The mean absolute sample value of a frame at `dbov` (RFC 6464: −dBov), as
/// [`frame_level`] would measure it (a sine's mean absolute value is 0.9 of its RMS).
pub(super) fn level_of_dbov(dbov: u8) -> u32 {
    (32767.0 * 0.9 * 10f64.powf(-f64::from(dbov) / 20.0)) as u32
}

/// Mean absolute sample value.
pub(super) fn frame_level(frame: &[i16]) -> u32 {
    if frame.is_empty() {
        return 0;
    }
    (frame
        .iter()
        .map(|&s| u64::from(s.unsigned_abs()))
        .sum::<u64>()
        / frame.len() as u64) as u32
}

fn resampler_between(from: AudioRate, to: AudioRate) -> Option<Resampler> {
    (from != to).then(|| Resampler::new(from, to))
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct LegAudio {
    /// The codec.
    pub(super) codec: Codec,
    /// The far end's Opus parameters.
    pub(super) fmtp: OpusFmtp,
    /// The leg's own rate.
    pub(super) rate: AudioRate,
    decoder: Decoder,
    encoder: Encoder,
    /// Decoded audio not yet played (packets longer than a tick leave some).
    pending: Vec<i16>,
    /// This tick's input at the leg's rate.
    pub(super) input: Vec<i16>,
    empty_run: u32,
    bus_rate: AudioRate,
    to_bus: Option<Resampler>,
    from_bus: Option<Resampler>,
    bus_input: Vec<i16>,
    to_narrow: Option<Resampler>,
    out_to_narrow: Option<Resampler>,
    from_narrow: Option<Resampler>,
    /// The output (what the leg hears) at its rate.
    out: Vec<i16>,
    scratch: Vec<i16>,
    pub(super) payload: Vec<u8>,
    /// Whether the last tick's packet came from elsewhere (a shared stream, a forwarded
    /// talker, the shared silence), not this encoder.
    pub(super) shared_last: bool,
    /// Silent packets were skipped since the last decode: the decoder starts afresh.
    decoder_stale: bool,
    /// This tick's input is exactly one 20 ms packet, kept in `packet`, that could be
    /// sent on unchanged.
    pub(super) whole_packet: bool,
    pub(super) packet: Vec<u8>,
    /// This tick's input stands in for exactly one lost packet.
    pub(super) lost_packet: bool,
    /// Packets not decoded because nobody needed them.
    pub(super) skipped: u64,
    /// This tick's packet was kept undecoded ([`Decoding::Deferred`]): the level its
    /// sender stated, in −dBov.
    deferred: Option<u8>,
    /// The packet deferred the tick before this one's, to warm a decoder that has to
    /// take over mid-word, and what it decodes to.
    warmup: Vec<u8>,
    warmed: Vec<i16>,
    /// Follows what the leg hears, to bridge the frame in which the converters change.
    out_concealer: Concealer,
    /// The bus rate changed since the last render.
    rate_switched: bool,
}

impl LegAudio {
    pub(super) fn new(
        codec: Codec,
        fmtp: OpusFmtp,
        settings: &OpusSettings,
    ) -> Result<Self, chorus_codec::CodecError> {
        let rate = match codec {
            Codec::Opus => fmtp.audio_rate(),
            other => other.audio_rate(),
        };
        let n = rate.frame_samples();
        Ok(LegAudio {
            codec,
            fmtp,
            rate,
            decoder: Decoder::new(codec, rate)?,
            encoder: Encoder::new(codec, rate, settings, &fmtp)?,
            pending: Vec::with_capacity(chorus_codec::MAX_DECODED + n),
            input: vec![0; n],
            empty_run: CONCEAL_EMPTY_TICKS,
            bus_rate: rate,
            to_bus: None,
            from_bus: None,
            bus_input: Vec::new(),
            // The narrowband converters are made on first use: most legs never record
            // or detect tones, and prompts may not play to a leg at all.
            to_narrow: None,
            out_to_narrow: None,
            from_narrow: None,
            out: vec![0; n],
            scratch: vec![0; n],
            payload: vec![0; MAX_PAYLOAD],
            shared_last: false,
            decoder_stale: false,
            whole_packet: false,
            lost_packet: false,
            packet: Vec::with_capacity(MAX_PAYLOAD),
            skipped: 0,
            deferred: None,
            warmup: Vec::with_capacity(MAX_PAYLOAD),
            warmed: Vec::with_capacity(chorus_codec::MAX_DECODED),
            out_concealer: Concealer::new(rate.hz()),
            rate_switched: false,
        })
    }

    /// Follows the conference to a new mixing rate. `heard` is the mix the leg heard last
    /// tick when it came straight from the old bus (the shared path keeps no copy).
    pub(super) fn set_bus_rate(&mut self, bus: AudioRate, heard: Option<&[i16]>) {
        if bus == self.bus_rate && (self.to_bus.is_some() == (bus != self.rate)) {
            return;
        }
        if let Some(heard) = heard.filter(|h| h.len() == self.out.len()) {
            self.out.copy_from_slice(heard);
            self.out_concealer.good(&mut self.out);
        }
        self.bus_rate = bus;
        self.to_bus = resampler_between(self.rate, bus);
        self.from_bus = resampler_between(bus, self.rate);
        self.bus_input = vec![0; bus.frame_samples()];
        // Prime the input converter with the last frame, so the others hear this leg go
        // on rather than a half frame of silence while its filter fills.
        if let Some(r) = &mut self.to_bus {
            r.process(&self.input, &mut self.bus_input);
        }
        // What this leg hears is late by the new converters' delay: the frame in which
        // they change is bridged by continuing the waveform it heard last.
        self.rate_switched = true;
    }

    /// Whether this leg's rate equals the bus's, so it may take a shared encoded frame.
    pub(super) fn on_bus_rate(&self) -> bool {
        self.bus_rate == self.rate
    }

    /// Fills [`LegAudio::input`] with the next 20 ms from the jitter buffer, decoding
    /// what `decoding` asks for. Returns whether any of it is audio (received or
    /// concealed) rather than silence.
    pub(super) fn pull(&mut self, jitter: &mut JitterBuffer, decoding: Decoding) -> bool {
        let n = self.rate.frame_samples();
        let mut audio = false;
        let started_empty = self.pending.is_empty();
        if self.deferred.take().is_some() {
            // Last tick's packet was never decoded: the decoder is behind.
            std::mem::swap(&mut self.warmup, &mut self.packet);
            self.decoder_stale = true;
        } else {
            self.warmup.clear();
        }
        let mut pops = 0;
        let mut whole = false;
        let mut lost = false;
        // Bounded: a packet is at most 120 ms, so a few pops always fill a frame.
        for _ in 0..8 {
            if self.pending.len() >= n {
                break;
            }
            let playout = jitter.pop();
            pops += 1;
            match playout {
                Playout::Packet { payload, level } => {
                    self.empty_run = 0;
                    let silent = match decoding {
                        Decoding::Everything => false,
                        Decoding::Voiced | Decoding::Deferred => {
                            level.is_some_and(|l| l >= SILENT_DBOV)
                                || (self.codec == Codec::Opus && payload.len() <= 2)
                        }
                        Decoding::Nothing => true,
                    };
                    let stated = level.filter(|_| decoding == Decoding::Deferred && !silent);
                    if let Some(dbov) = stated
                        && started_empty
                        && chorus_codec::payload_duration(self.codec, payload).is_some_and(|d| {
                            u64::from(d) * u64::from(self.rate.hz())
                                == n as u64 * u64::from(self.codec.clock_rate())
                        })
                    {
                        let len = self.pending.len();
                        self.pending.resize(len + n, 0);
                        self.packet.clear();
                        self.packet.extend_from_slice(payload);
                        self.deferred = Some(dbov);
                        self.skipped += 1;
                        whole = true;
                        audio = true;
                        continue;
                    }
                    if silent {
                        let samples = chorus_codec::payload_duration(self.codec, payload)
                            .map_or(n, |d| {
                                (u64::from(d) * u64::from(self.rate.hz())
                                    / u64::from(self.codec.clock_rate()))
                                    as usize
                            })
                            .min(chorus_codec::MAX_DECODED);
                        let len = self.pending.len();
                        self.pending.resize(len + samples, 0);
                        self.decoder_stale = true;
                        self.skipped += 1;
                        if started_empty && samples == n {
                            // A talker's pause can reach its listeners as it sent it.
                            self.packet.clear();
                            self.packet.extend_from_slice(payload);
                            whole = true;
                        }
                        continue;
                    }
                    self.catch_up();
                    let before = self.pending.len();
                    if self.decoder.decode(payload, &mut self.pending) == 0 {
                        self.decoder.conceal(&mut self.pending);
                    } else if started_empty && self.pending.len() - before == n {
                        self.packet.clear();
                        self.packet.extend_from_slice(payload);
                        whole = true;
                    }
                    audio = true;
                }
                Playout::Lost { next: Some(next) } => {
                    self.catch_up();
                    self.decoder.recover(next, &mut self.pending);
                    audio = true;
                    lost = true;
                }
                Playout::Lost { next: None } => {
                    lost = true;
                    // After skipped silence the decoder would conceal speech long gone.
                    if self.decoder_stale {
                        let len = self.pending.len();
                        self.pending.resize(len + n, 0);
                    } else {
                        self.decoder.conceal(&mut self.pending);
                        audio = true;
                    }
                }
                Playout::Silence => {
                    let len = self.pending.len();
                    self.pending.resize(len + n, 0);
                }
                Playout::Empty => {
                    if self.empty_run < CONCEAL_EMPTY_TICKS && !self.decoder_stale {
                        self.decoder.conceal(&mut self.pending);
                        audio = true;
                    }
                    self.empty_run = self.empty_run.saturating_add(1);
                    break;
                }
            }
        }
        self.whole_packet = whole && pops == 1 && self.pending.len() == n;
        self.lost_packet = lost && started_empty && pops == 1 && self.pending.len() == n;
        let take = n.min(self.pending.len());
        self.input[..take].copy_from_slice(&self.pending[..take]);
        self.input[take..].fill(0);
        self.pending.drain(..take);
        if self.level() < QUIET_LEVEL {
            jitter.drop_excess();
        }
        audio
    }

    /// Readies the decoder for this tick's packet when it is behind: afresh after
    /// skipped silence, and after deferred packets also warmed on the last of them (kept
    /// in `warmed`), so that it takes over mid-word close to the talker's own stream.
    fn catch_up(&mut self) {
        self.warmed.clear();
        if !std::mem::take(&mut self.decoder_stale) {
            return;
        }
        self.decoder.reset();
        if !self.warmup.is_empty() {
            let _ = self.decoder.decode(&self.warmup, &mut self.warmed);
            self.warmup.clear();
        }
    }

    /// This tick's level ([`frame_level`] of the input, or the stated level of a packet
    /// kept undecoded).
    pub(super) fn level(&self) -> u32 {
        match self.deferred {
            Some(dbov) => level_of_dbov(dbov),
            None => frame_level(&self.input),
        }
    }

    /// Whether this tick's packet was kept undecoded.
    pub(super) fn is_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// The level (−dBov) the sender stated for this tick's packet, when it was kept
    /// undecoded.
    pub(super) fn deferred_level(&self) -> Option<u8> {
        self.deferred
    }

    /// Decodes the packet [`Decoding::Deferred`] kept, when the mix needs it after all.
    /// Returns the frame before it (decoded from the packet deferred last tick): what the
    /// listeners heard last tick, when there is one.
    pub(super) fn decode_deferred(&mut self) -> Option<&[i16]> {
        self.deferred.take()?;
        self.skipped = self.skipped.saturating_sub(1);
        self.catch_up();
        let n = self.rate.frame_samples();
        self.pending.clear();
        if self.decoder.decode(&self.packet, &mut self.pending) == 0 {
            self.decoder.conceal(&mut self.pending);
        }
        let take = n.min(self.pending.len());
        self.input[..take].copy_from_slice(&self.pending[..take]);
        self.input[take..].fill(0);
        self.pending.clear();
        (self.warmed.len() == n).then_some(&self.warmed[..])
    }

    /// Silences this tick's input (muted, on hold, or a keypad tone cut out).
    pub(super) fn clear_input(&mut self) {
        self.input.fill(0);
    }

    /// This tick's input at the bus rate.
    pub(super) fn bus_input(&mut self) -> &[i16] {
        match &mut self.to_bus {
            Some(r) => {
                r.process(&self.input, &mut self.bus_input);
                &self.bus_input
            }
            None => &self.input,
        }
    }

    /// This tick's input at 8 kHz (for keypad tones, names, recordings, early media).
    /// Call at most once per tick, every tick it is needed, to keep the filter in step.
    pub(super) fn narrow_input(&mut self) -> Frame {
        let mut frame = SILENCE;
        if self.rate == AudioRate::Narrow {
            frame.copy_from_slice(&self.input[..FRAME_SAMPLES]);
            return frame;
        }
        let rate = self.rate;
        self.to_narrow
            .get_or_insert_with(|| Resampler::new(rate, AudioRate::Narrow))
            .process(&self.input, &mut frame);
        frame
    }

    /// Builds what the leg hears this tick from the bus output (`None` outside the mix)
    /// and its own 8 kHz sounds, then encodes it. Returns the payload length (0: send
    /// nothing, e.g. Opus DTX).
    pub(super) fn render(&mut self, bus: Option<&[i16]>, personal: Option<&Frame>) -> usize {
        match (bus, &mut self.from_bus) {
            (Some(mix), Some(r)) => r.process(mix, &mut self.out),
            (Some(mix), None) => {
                let n = self.out.len().min(mix.len());
                self.out[..n].copy_from_slice(&mix[..n]);
                self.out[n..].fill(0);
            }
            (None, _) => self.out.fill(0),
        }
        if let Some(sound) = personal {
            if self.rate == AudioRate::Narrow {
                add_into(&mut self.out, sound);
            } else {
                let rate = self.rate;
                self.from_narrow
                    .get_or_insert_with(|| Resampler::new(AudioRate::Narrow, rate))
                    .process(sound, &mut self.scratch);
                add_into(&mut self.out, &self.scratch);
            }
        }
        if std::mem::take(&mut self.rate_switched) {
            self.out_concealer.conceal(&mut self.out);
        } else {
            self.out_concealer.good(&mut self.out);
        }
        if self.shared_last {
            // The far end's decoder followed the shared encoder until now.
            self.encoder.reset();
            self.shared_last = false;
        }
        self.encoder.encode(&self.out, &mut self.payload)
    }

    /// Readies this leg's own encoder to take over from another stream (a shared one, a
    /// forwarded talker, the silence) mid-sound: a fresh encoder fed what the leg heard
    /// last tick (`heard`, at the leg's rate), so its first real frame continues the
    /// waveform instead of starting cold.
    pub(super) fn prime(&mut self, heard: &[i16]) {
        if !std::mem::take(&mut self.shared_last) {
            return;
        }
        self.encoder.reset();
        if heard.len() == self.rate.frame_samples() {
            let _ = self.encoder.encode(heard, &mut self.payload);
        }
    }

    /// What the leg heard this tick (after [`LegAudio::render`]) at 8 kHz.
    pub(super) fn narrow_output(&mut self) -> Frame {
        let mut frame = SILENCE;
        if self.rate == AudioRate::Narrow {
            frame.copy_from_slice(&self.out[..FRAME_SAMPLES]);
            return frame;
        }
        let rate = self.rate;
        self.out_to_narrow
            .get_or_insert_with(|| Resampler::new(rate, AudioRate::Narrow))
            .process(&self.out, &mut frame);
        frame
    }
}

pub(super) fn add_into(acc: &mut [i16], other: &[i16]) {
    for (a, &b) in acc.iter_mut().zip(other.iter()) {
        *a = a.saturating_add(b);
    }
}
