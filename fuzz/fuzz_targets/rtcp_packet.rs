//! Any datagram as muxed RTCP: classified and summarised without panicking.
#![no_main]
use chorus_rtp::rtcp::{is_rtcp, summarise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    if let Some(summary) = summarise(data, 0x1234_5678) {
        assert!(summary.reports <= data.len() as u32 / 8 + 1);
    }
});
