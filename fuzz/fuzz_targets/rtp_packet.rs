//! Any datagram into a media leg: RTP validation, latching, decoding and the jitter buffer.
#![no_main]
use chorus_engine::{CallId, MediaGroup, MediaParams};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};


fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
    let params = MediaParams {
        remote,
        codec: chorus_sdp::SUPPORTED[0],
        payload_type: 0,
        telephone_event: Some(101),
        telephone_event_rate: 8000,
        remote_direction: Default::default(),
    };
    group.add_leg(CallId(1), "fuzz", params, 1);
    for (i, packet) in data.split(|&b| b == 0xA5).enumerate() {
        let now = start + Duration::from_millis(20 * i as u64);
        group.handle_packet(now, CallId(1), remote, packet);
        group.handle_timeout(now);
        while group.poll_transmit().is_some() {}
    }
});
