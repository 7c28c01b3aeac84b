//! libopus behind a small safe interface: a mono VoIP encoder, a mono decoder with FEC and
//! loss concealment, and the packet inspection the bridge needs.
//!
//! `build.rs` compiles the vendored libopus (`libopus/`, release 1.6.1) with the `cc` crate,
//! so a machine with the Rust toolchain and a C compiler builds it; why this crate exists
//! instead of the `opus` crate is in ARCHITECTURE.md. This is the one crate that may use
//! `unsafe`: every call below hands libopus a pointer and length taken from a live slice,
//! or a state pointer this crate created and has not freed.
#![allow(unsafe_code)]

mod ffi;

use std::ffi::{CStr, c_int};
use std::fmt;
use std::ptr::NonNull;

/// An error code from libopus.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(c_int);

impl Error {
    /// The libopus error code (negative).
    pub fn code(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: opus_strerror returns a pointer to a static NUL-terminated string for any
        // code, known or not.
        let text = unsafe { CStr::from_ptr(ffi::opus_strerror(self.0)) };
        write!(f, "{} ({})", text.to_string_lossy(), self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// Turns a libopus return value into a count or an error.
fn check(ret: c_int) -> Result<usize, Error> {
    usize::try_from(ret).map_err(|_| Error(ret))
}

/// A length libopus can take (it counts in `int`); longer slices are refused as bad
/// arguments rather than truncated silently.
fn c_len(len: usize) -> Result<i32, Error> {
    i32::try_from(len).map_err(|_| Error(-1))
}

/// The widest audio band an encoder may code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bandwidth {
    /// 4 kHz audio band.
    Narrowband,
    /// 8 kHz audio band.
    Wideband,
    /// 20 kHz audio band.
    Fullband,
}

/// The libopus version string, e.g. `libopus 1.6.1`.
pub fn version() -> &'static str {
    // SAFETY: libopus returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::opus_get_version_string()) }
        .to_str()
        .unwrap_or("libopus")
}

/// How many samples at `sample_rate` an Opus packet decodes to.
pub fn packet_samples(packet: &[u8], sample_rate: u32) -> Result<usize, Error> {
    let len = c_len(packet.len())?;
    let rate = i32::try_from(sample_rate).map_err(|_| Error(-1))?;
    // SAFETY: the pointer and length describe `packet`; libopus reads within them and
    // refuses an empty packet.
    check(unsafe { ffi::opus_packet_get_nb_samples(packet.as_ptr(), len, rate) })
}

/// A mono Opus encoder tuned for speech (`OPUS_APPLICATION_VOIP`).
pub struct Encoder {
    state: NonNull<ffi::OpusEncoder>,
    sample_rate: u32,
}

// SAFETY: the encoder state is plain memory owned by this value; libopus keeps no
// thread-local or shared state for it, so it may move between threads.
unsafe impl Send for Encoder {}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder taking mono PCM at `sample_rate` (8, 12, 16, 24 or 48 kHz).
    pub fn new(sample_rate: u32) -> Result<Encoder, Error> {
        let rate = i32::try_from(sample_rate).map_err(|_| Error(-1))?;
        let mut error: c_int = 0;
        // SAFETY: `error` is a valid out-pointer; the result is null or a state we own.
        let state =
            unsafe { ffi::opus_encoder_create(rate, 1, ffi::OPUS_APPLICATION_VOIP, &mut error) };
        match NonNull::new(state) {
            Some(state) if error == ffi::OPUS_OK => Ok(Encoder { state, sample_rate }),
            Some(state) => {
                // SAFETY: created above and not used after this.
                unsafe { ffi::opus_encoder_destroy(state.as_ptr()) };
                Err(Error(error))
            }
            None => Err(Error(error)),
        }
    }

    /// The rate of the PCM it takes.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn set(&mut self, request: c_int, value: i32) -> Result<(), Error> {
        // SAFETY: every request used here takes one `opus_int32` argument.
        let ret = unsafe { ffi::opus_encoder_ctl(self.state.as_ptr(), request, value) };
        check(ret).map(|_| ())
    }

    /// Complexity, 0 (cheapest) to 10 (best).
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_COMPLEXITY_REQUEST, i32::from(complexity))
    }

    /// Target bitrate in bit/s.
    pub fn set_bitrate(&mut self, bits_per_second: u32) -> Result<(), Error> {
        let value = i32::try_from(bits_per_second).map_err(|_| Error(-1))?;
        self.set(ffi::OPUS_SET_BITRATE_REQUEST, value)
    }

    /// In-band forward error correction (LBRR) on or off.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_INBAND_FEC_REQUEST, i32::from(on))
    }

    /// The packet loss, in percent, the FEC is planned for.
    pub fn set_packet_loss_perc(&mut self, percent: u8) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST, i32::from(percent))
    }

    /// Discontinuous transmission on or off.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), Error> {
        self.set(ffi::OPUS_SET_DTX_REQUEST, i32::from(on))
    }

    /// The widest band the encoder may code.
    pub fn set_max_bandwidth(&mut self, bandwidth: Bandwidth) -> Result<(), Error> {
        let value = match bandwidth {
            Bandwidth::Narrowband => ffi::OPUS_BANDWIDTH_NARROWBAND,
            Bandwidth::Wideband => ffi::OPUS_BANDWIDTH_WIDEBAND,
            Bandwidth::Fullband => ffi::OPUS_BANDWIDTH_FULLBAND,
        };
        self.set(ffi::OPUS_SET_MAX_BANDWIDTH_REQUEST, value)
    }

    /// Forgets the past, keeping the settings.
    pub fn reset(&mut self) {
        // SAFETY: OPUS_RESET_STATE takes no argument.
        unsafe { ffi::opus_encoder_ctl(self.state.as_ptr(), ffi::OPUS_RESET_STATE) };
    }

    /// Encodes one frame (2.5 to 120 ms of mono PCM) into `out`; returns the packet length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        let frame = c_len(pcm.len())?;
        let room = c_len(out.len())?;
        // SAFETY: `pcm` holds `frame` samples (one channel) and `out` has `room` bytes;
        // libopus reads and writes only within them and refuses invalid frame sizes.
        let ret = unsafe {
            ffi::opus_encode(
                self.state.as_ptr(),
                pcm.as_ptr(),
                frame,
                out.as_mut_ptr(),
                room,
            )
        };
        check(ret)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create and freed only here.
        unsafe { ffi::opus_encoder_destroy(self.state.as_ptr()) };
    }
}

/// A mono Opus decoder.
pub struct Decoder {
    state: NonNull<ffi::OpusDecoder>,
    sample_rate: u32,
}

// SAFETY: as for the encoder: plain memory owned by this value.
unsafe impl Send for Decoder {}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder writing mono PCM at `sample_rate` (8, 12, 16, 24 or 48 kHz).
    pub fn new(sample_rate: u32) -> Result<Decoder, Error> {
        let rate = i32::try_from(sample_rate).map_err(|_| Error(-1))?;
        let mut error: c_int = 0;
        // SAFETY: `error` is a valid out-pointer; the result is null or a state we own.
        let state = unsafe { ffi::opus_decoder_create(rate, 1, &mut error) };
        match NonNull::new(state) {
            Some(state) if error == ffi::OPUS_OK => Ok(Decoder { state, sample_rate }),
            Some(state) => {
                // SAFETY: created above and not used after this.
                unsafe { ffi::opus_decoder_destroy(state.as_ptr()) };
                Err(Error(error))
            }
            None => Err(Error(error)),
        }
    }

    /// The rate of the PCM it writes.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Decodes `packet` into `out` and returns how many samples it wrote. An empty packet
    /// asks for loss concealment of `out.len()` samples; `fec` decodes the in-band FEC of
    /// `packet` to stand in for the packet lost before it (`out.len()` must then be that
    /// packet's duration).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16], fec: bool) -> Result<usize, Error> {
        let len = c_len(packet.len())?;
        let frame = c_len(out.len())?;
        let data = if packet.is_empty() {
            std::ptr::null()
        } else {
            packet.as_ptr()
        };
        // SAFETY: `data` is null (concealment) or points at `len` readable bytes; `out`
        // has room for `frame` samples, which bounds what libopus writes.
        let ret = unsafe {
            ffi::opus_decode(
                self.state.as_ptr(),
                data,
                len,
                out.as_mut_ptr(),
                frame,
                c_int::from(fec),
            )
        };
        check(ret)
    }

    /// Forgets the past, as at the start of a new stream.
    pub fn reset(&mut self) {
        // SAFETY: OPUS_RESET_STATE takes no argument.
        unsafe { ffi::opus_decoder_ctl(self.state.as_ptr(), ffi::OPUS_RESET_STATE) };
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create and freed only here.
        unsafe { ffi::opus_decoder_destroy(self.state.as_ptr()) };
    }
}

#[cfg(test)]
mod tests;
