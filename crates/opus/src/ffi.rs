//! The parts of libopus's C API that Chorus calls (`include/opus.h`, `opus_defines.h`).

use std::ffi::{c_char, c_int};

/// libopus's encoder state, only ever behind a pointer.
#[repr(C)]
pub(crate) struct OpusEncoder {
    _opaque: [u8; 0],
}

/// libopus's decoder state, only ever behind a pointer.
#[repr(C)]
pub(crate) struct OpusDecoder {
    _opaque: [u8; 0],
}

pub(crate) const OPUS_OK: c_int = 0;
pub(crate) const OPUS_APPLICATION_VOIP: c_int = 2048;
pub(crate) const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
pub(crate) const OPUS_SET_MAX_BANDWIDTH_REQUEST: c_int = 4004;
pub(crate) const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
pub(crate) const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
pub(crate) const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
pub(crate) const OPUS_SET_DTX_REQUEST: c_int = 4016;
pub(crate) const OPUS_RESET_STATE: c_int = 4028;
pub(crate) const OPUS_BANDWIDTH_NARROWBAND: c_int = 1101;
pub(crate) const OPUS_BANDWIDTH_WIDEBAND: c_int = 1103;
pub(crate) const OPUS_BANDWIDTH_FULLBAND: c_int = 1105;

unsafe extern "C" {
    pub(crate) fn opus_get_version_string() -> *const c_char;
    pub(crate) fn opus_strerror(error: c_int) -> *const c_char;

    pub(crate) fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoder;
    pub(crate) fn opus_encoder_destroy(st: *mut OpusEncoder);
    pub(crate) fn opus_encode(
        st: *mut OpusEncoder,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    pub(crate) fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;

    pub(crate) fn opus_decoder_create(
        fs: i32,
        channels: c_int,
        error: *mut c_int,
    ) -> *mut OpusDecoder;
    pub(crate) fn opus_decoder_destroy(st: *mut OpusDecoder);
    pub(crate) fn opus_decode(
        st: *mut OpusDecoder,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    pub(crate) fn opus_decoder_ctl(st: *mut OpusDecoder, request: c_int, ...) -> c_int;

    pub(crate) fn opus_packet_get_nb_samples(packet: *const u8, len: i32, fs: i32) -> c_int;
}
