//! The same inputs as the fuzz targets (fuzz/), as property tests that run in every test
//! suite: random bytes and mutated torture messages into every parser and the engine.

use chorus_engine::{CallId, Engine, EngineConfig, Event, MediaGroup, MediaParams, Transport};
use proptest::prelude::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn torture_messages() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sip");
    std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "dat"))
        .map(|e| std::fs::read(e.path()).expect("fixture"))
        .collect()
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        seed: 3,
        ..EngineConfig::default()
    })
}

fn feed(engine: &mut Engine, now: Instant, data: &[u8]) {
    engine.handle_message(
        now,
        Transport::Udp,
        "127.0.0.1:5070".parse().expect("addr"),
        data,
    );
    while let Some(event) = engine.poll_event() {
        if let Event::MediaRequested { call } = event {
            engine.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
        }
    }
    while engine.poll_transmit().is_some() {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let now = Instant::now();
        let mut e = engine();
        feed(&mut e, now, &data);
        e.handle_timeout(now + Duration::from_secs(40));
        let _ = chorus_sdp::negotiate(&String::from_utf8_lossy(&data));
        let _ = chorus_rtp::telephone_event::TelephoneEvent::parse(&data);
        let _ = chorus_rtp::rtcp::summarise(&data, 7);
        let mut group = MediaGroup::new(now);
        let remote = "127.0.0.1:4000".parse().expect("addr");
        // Every codec's leg takes the same garbage.
        for (i, codec) in chorus_sdp::SUPPORTED.into_iter().enumerate() {
            let call = CallId(i as u64);
            group.add_leg(call, "p", MediaParams {
                codec,
                payload_type: data.get(1).map_or(0, |b| b & 0x7f),
                telephone_event: None,
                ..MediaParams::pcmu(remote)
            }, 1);
            group.handle_packet(now, call, remote, &data);
        }
        group.handle_timeout(now);
    }

    #[test]
    fn mutated_torture_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let messages = torture_messages();
        let mut data = messages[pick.index(messages.len())].clone();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        data.truncate(cut.index(data.len() + 1));
        let now = Instant::now();
        let mut e = engine();
        feed(&mut e, now, &data);
        e.handle_timeout(now + Duration::from_secs(40));
        if let Ok(text) = std::str::from_utf8(&data) {
            let _ = chorus_sdp::negotiate(text);
        }
    }
}
