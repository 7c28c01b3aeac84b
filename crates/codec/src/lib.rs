//! Audio codecs between RTP payloads and 16-bit PCM.
//!
//! G.711 µ-law and A-law (ITU-T G.711) are table lookups: the encoder tables are indexed by
//! the sample's 14-bit (µ-law) or 13-bit (A-law) prefix, which is all the reference
//! algorithm looks at, and the decoder tables have 256 entries. Every table is built at
//! compile time by a segment computation written independently of the reference code, and
//! the tests check all 65,536 inputs of each encoder and all 256 codes of each decoder
//! against the reference algorithm.
//!
//! Drive it with [`encode`] and [`decode`]; both are pure functions over slices.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use chorus_types::Codec;

mod g711;

pub use g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

/// Encodes PCM samples into `out` (one byte per sample for G.711). Returns the bytes written.
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
    }
    n
}

/// Decodes a payload into `out`. Returns the samples written.
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
    }
    n
}

/// How many PCM samples a payload of `len` bytes decodes to.
pub fn samples_in_payload(codec: Codec, len: usize) -> usize {
    match codec {
        Codec::Pcmu | Codec::Pcma => len,
    }
}
