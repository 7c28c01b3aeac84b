//! Any datagram into a media leg of every codec: RTP validation, latching, the RFC 6464
//! audio level, the jitter buffer, decoding (G.711, G.722, Opus) and concealment, and RTCP
//! on the RTCP port.
#![no_main]
use chorus_engine::{CallId, MediaConfig, MediaGroup, MediaParams, OpusSettings};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    // The cheapest Opus encoder: the fuzzer is after the receive path.
    let config = MediaConfig {
        opus: OpusSettings { complexity: 0, ..OpusSettings::default() },
        ..MediaConfig::default()
    };
    let mut group = MediaGroup::with_config(start, config);
    let remote = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
    for (i, codec) in chorus_sdp::SUPPORTED.into_iter().enumerate() {
        let params = MediaParams {
            codec,
            // Whatever type the first packet claims, so its payload reaches the decoder.
            payload_type: data.get(1).map_or(0, |b| b & 0x7f),
            audio_level_id: Some(1),
            srtp: None,
            ..MediaParams::pcmu(remote)
        };
        group.add_leg(CallId(i as u64), "fuzz", params, i as u32);
    }
    for (i, packet) in data.split(|&b| b == 0xA5).enumerate() {
        let now = start + Duration::from_millis(20 * i as u64);
        for leg in 0..chorus_sdp::SUPPORTED.len() as u64 {
            group.handle_packet(now, CallId(leg), remote, packet);
            group.handle_rtcp(now, CallId(leg), remote, packet);
        }
        group.handle_timeout(now);
        while group.poll_transmit().is_some() {}
    }
});
