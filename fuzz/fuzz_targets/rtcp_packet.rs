//! Any datagram as RTCP: classified, summarised and taken by a session (round-trip time,
//! the far end's sender report) without panicking; the session's next report still writes.
#![no_main]
use chorus_rtp::rtcp::{RtcpSession, SenderStats, is_rtcp, summarise};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    if let Some(summary) = summarise(data, 0x1234_5678) {
        assert!(summary.reports <= data.len() as u32 / 8 + 1);
    }
    let start = Instant::now();
    let mut session = RtcpSession::new(start, 0xE000_0000_0000_0000, 0x1234_5678, "fuzz");
    session.on_rtp(7, 1);
    session.handle_rtcp(start + Duration::from_millis(10), data);
    let mut out = [0u8; 256];
    let n = session.write_report(start + Duration::from_secs(3), SenderStats::default(), 0, &mut out);
    assert!(summarise(&out[..n], 7).is_some());
});
