//! Audio codecs between RTP payloads and 16-bit PCM, loss concealment, and resampling.
//!
//! - G.711 µ-law and A-law (ITU-T G.711) are table lookups: the encoder tables are indexed
//!   by the sample's 14-bit (µ-law) or 13-bit (A-law) prefix, which is all the reference
//!   algorithm looks at, and the decoder tables have 256 entries. Every table is built at
//!   compile time by a segment computation written independently of the reference code,
//!   and the tests check all 65,536 inputs of each encoder and all 256 codes of each
//!   decoder against the reference algorithm. [`encode`] and [`decode`] are pure functions.
//! - G.722 comes from `audio-codec` (pure Rust), Opus from `opus` (libopus 1.6, bundled).
//!   Both keep state, so a leg owns one [`Encoder`] and one [`Decoder`].
//! - [`Decoder::conceal`] fills a lost frame: Opus's own PLC, or [`Concealer`] waveform
//!   repetition for G.711 and G.722; [`Decoder::recover`] uses Opus in-band FEC from the
//!   next packet instead when it has arrived.
//! - [`Resampler`] converts 20 ms frames between the 8, 16 and 48 kHz rates (rubato).
//!
//! Nothing here reads a clock or allocates per frame after construction, apart from
//! libopus's own internals.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use chorus_types::{AudioRate, Codec, OpusFmtp};

mod conceal;
mod g711;
mod resample;

pub use conceal::Concealer;
pub use resample::Resampler;

pub use g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

/// Encodes PCM into G.711 (one byte per sample). Returns the bytes written; 0 for codecs
/// that keep state (use an [`Encoder`]).
pub fn encode(codec: Codec, pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    match codec {
        Codec::Pcmu => {
            for (o, &s) in out[..n].iter_mut().zip(pcm) {
                *o = linear_to_ulaw(s);
            }
        }
        Codec::Pcma => {
            for (o, &s) in out[..n].iter_mut().zip(pcm) {
                *o = linear_to_alaw(s);
            }
        }
        Codec::G722 | Codec::Opus => return 0,
    }
    n
}

/// Decodes a G.711 payload into `out`. Returns the samples written; 0 for codecs that keep
/// state (use a [`Decoder`]).
pub fn decode(codec: Codec, payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    match codec {
        Codec::Pcmu => {
            for (o, &b) in out[..n].iter_mut().zip(payload) {
                *o = ulaw_to_linear(b);
            }
        }
        Codec::Pcma => {
            for (o, &b) in out[..n].iter_mut().zip(payload) {
                *o = alaw_to_linear(b);
            }
        }
        Codec::G722 | Codec::Opus => return 0,
    }
    n
}

/// How much RTP time a payload covers, in RTP clock units; `None` when it is not a valid
/// payload of the codec.
pub fn payload_duration(codec: Codec, payload: &[u8]) -> Option<u32> {
    match codec {
        // One byte per 8 kHz sample; G.722 packs two 16 kHz samples per byte on an 8 kHz clock.
        Codec::Pcmu | Codec::Pcma | Codec::G722 => {
            (!payload.is_empty()).then_some(payload.len() as u32)
        }
        Codec::Opus => chorus_opus::packet_samples(payload, 48_000)
            .ok()
            .filter(|&n| n > 0)
            .map(|n| n as u32),
    }
}

/// Encoder settings for Opus (the others have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    /// 0 (cheapest) to 10 (best).
    pub complexity: u8,
    /// Target bitrate in bit/s, lowered to the far end's `maxaveragebitrate`.
    pub bitrate: u32,
    /// In-band FEC, when the far end can use it.
    pub fec: bool,
    /// Discontinuous transmission, when the far end asks for it.
    pub dtx: bool,
    /// Loss the encoder plans its FEC for, in percent.
    pub expected_loss_percent: u8,
}

impl Default for OpusSettings {
    fn default() -> Self {
        // Measured with PESQ through the bridge (two encodes in tandem): complexity 5 at
        // 32 kbit/s scores 3.5 wideband, complexity 10 at 64 kbit/s 4.1.
        OpusSettings {
            complexity: 10,
            bitrate: 64_000,
            fec: true,
            dtx: false,
            expected_loss_percent: 10,
        }
    }
}

/// Why a codec could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<chorus_opus::Error> for CodecError {
    fn from(e: chorus_opus::Error) -> Self {
        CodecError(format!("opus: {e}"))
    }
}

/// The largest payload [`Encoder::encode`] writes for one 20 ms frame.
pub const MAX_PAYLOAD: usize = 1275;

enum EncoderKind {
    G711(Codec),
    G722(Box<audio_codec::g722::G722Encoder>),
    Opus(Box<chorus_opus::Encoder>),
}

/// One leg's (or one shared stream's) encoder, fed 20 ms frames at [`Encoder::rate`].
pub struct Encoder {
    kind: EncoderKind,
    rate: AudioRate,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `codec` at `rate` (G.711 is always 8 kHz and G.722 16 kHz; Opus
    /// takes the leg's rate). `fmtp` is what the far end said about Opus.
    pub fn new(
        codec: Codec,
        rate: AudioRate,
        settings: &OpusSettings,
        fmtp: &OpusFmtp,
    ) -> Result<Encoder, CodecError> {
        let kind = match codec {
            Codec::Pcmu | Codec::Pcma => EncoderKind::G711(codec),
            Codec::G722 => EncoderKind::G722(Box::default()),
            Codec::Opus => {
                let mut e = chorus_opus::Encoder::new(rate.hz())?;
                e.set_complexity(settings.complexity.min(10))?;
                let bitrate = fmtp
                    .max_average_bitrate
                    .map_or(settings.bitrate, |max| settings.bitrate.min(max))
                    .clamp(6_000, 510_000);
                e.set_bitrate(bitrate)?;
                e.set_inband_fec(settings.fec && fmtp.use_inband_fec)?;
                e.set_packet_loss_perc(settings.expected_loss_percent.min(100))?;
                e.set_dtx(settings.dtx && fmtp.use_dtx)?;
                e.set_max_bandwidth(match AudioRate::covering(fmtp.max_playback_rate) {
                    AudioRate::Narrow => chorus_opus::Bandwidth::Narrowband,
                    AudioRate::Wide => chorus_opus::Bandwidth::Wideband,
                    AudioRate::Full => chorus_opus::Bandwidth::Fullband,
                })?;
                EncoderKind::Opus(Box::new(e))
            }
        };
        let rate = match codec {
            Codec::Opus => rate,
            other => other.audio_rate(),
        };
        Ok(Encoder { kind, rate })
    }

    /// The rate of the PCM it takes.
    pub fn rate(&self) -> AudioRate {
        self.rate
    }

    /// Forgets the past (prediction state), as when a listener's stream switches to this
    /// encoder from another one.
    pub fn reset(&mut self) {
        match &mut self.kind {
            EncoderKind::G711(_) => {}
            EncoderKind::G722(e) => **e = audio_codec::g722::G722Encoder::default(),
            EncoderKind::Opus(e) => e.reset(),
        }
    }

    /// Encodes one 20 ms frame into `out` (at least [`MAX_PAYLOAD`] bytes). Returns the
    /// payload length; 0 means nothing to send (an encoder error, or DTX).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match &mut self.kind {
            EncoderKind::G711(codec) => encode(*codec, pcm, out),
            EncoderKind::G722(e) => {
                audio_codec::Encoder::encode_into(e.as_mut(), pcm, out).unwrap_or(0)
            }
            EncoderKind::Opus(e) => match e.encode(pcm, out) {
                // A 1-2 byte Opus packet is DTX: nothing worth sending.
                Ok(n) if n > 2 => n,
                _ => 0,
            },
        }
    }
}

enum DecoderKind {
    G711(Codec),
    G722(Box<audio_codec::g722::G722Decoder>),
    Opus(Box<chorus_opus::Decoder>),
}

/// One leg's decoder with its loss concealment, producing PCM at [`Decoder::rate`].
pub struct Decoder {
    kind: DecoderKind,
    rate: AudioRate,
    concealer: Concealer,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// Largest number of samples one packet may decode to (120 ms at 48 kHz).
pub const MAX_DECODED: usize = 5760;

impl Decoder {
    /// A decoder for `codec`; Opus decodes at `rate`, the others at their own.
    pub fn new(codec: Codec, rate: AudioRate) -> Result<Decoder, CodecError> {
        let rate = match codec {
            Codec::Opus => rate,
            other => other.audio_rate(),
        };
        let kind = match codec {
            Codec::Pcmu | Codec::Pcma => DecoderKind::G711(codec),
            Codec::G722 => DecoderKind::G722(Box::default()),
            Codec::Opus => DecoderKind::Opus(Box::new(chorus_opus::Decoder::new(rate.hz())?)),
        };
        Ok(Decoder {
            kind,
            rate,
            concealer: Concealer::new(rate.hz()),
        })
    }

    /// The rate of the PCM it writes.
    pub fn rate(&self) -> AudioRate {
        self.rate
    }

    /// Decodes a payload, appending its samples to `out`. Returns how many; 0 for a
    /// payload the codec rejects (nothing is appended).
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> usize {
        let start = out.len();
        // Room for this payload only: zero-filling the 120 ms maximum every frame costs
        // more than decoding G.711.
        let room = match &self.kind {
            DecoderKind::G711(_) => payload.len(),
            DecoderKind::G722(_) => payload.len() * 2,
            DecoderKind::Opus(_) => {
                chorus_opus::packet_samples(payload, self.rate.hz()).unwrap_or(0)
            }
        }
        .min(MAX_DECODED);
        if room == 0 {
            return 0;
        }
        out.resize(start + room, 0);
        let written = match &mut self.kind {
            DecoderKind::G711(codec) => decode(*codec, payload, &mut out[start..]),
            DecoderKind::G722(d) => {
                audio_codec::Decoder::decode_into(d.as_mut(), payload, &mut out[start..])
                    .unwrap_or(0)
            }
            DecoderKind::Opus(d) => d.decode(payload, &mut out[start..], false).unwrap_or(0),
        };
        out.truncate(start + written);
        if !matches!(self.kind, DecoderKind::Opus(_)) {
            self.concealer.good(&mut out[start..]);
        }
        written
    }

    /// Forgets what it decoded, so the next packet starts afresh: for a leg whose silent
    /// packets were not decoded (its state would otherwise belong to speech long past).
    pub fn reset(&mut self) {
        match &mut self.kind {
            DecoderKind::Opus(d) => d.reset(),
            DecoderKind::G722(d) => **d = Default::default(),
            DecoderKind::G711(_) => {}
        }
        self.concealer = Concealer::new(self.rate.hz());
    }

    /// Appends one 20 ms frame standing in for a lost packet.
    pub fn conceal(&mut self, out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + self.rate.frame_samples(), 0);
        match &mut self.kind {
            DecoderKind::Opus(d) => {
                if d.decode(&[], &mut out[start..], false).is_err() {
                    out[start..].fill(0);
                }
            }
            _ => self.concealer.conceal(&mut out[start..]),
        }
    }

    /// Appends one 20 ms frame for a lost packet whose successor `next` has arrived: Opus
    /// recovers it from `next`'s in-band FEC; the others conceal.
    pub fn recover(&mut self, next: &[u8], out: &mut Vec<i16>) {
        let DecoderKind::Opus(d) = &mut self.kind else {
            return self.conceal(out);
        };
        let start = out.len();
        out.resize(start + self.rate.frame_samples(), 0);
        if d.decode(next, &mut out[start..], true).is_err() {
            out.truncate(start);
            self.conceal(out);
        }
    }
}
