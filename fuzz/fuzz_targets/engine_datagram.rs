//! Datagrams into the whole SIP engine, followed by time passing: whatever arrives, the
//! engine answers or drops it and never panics.
#![no_main]
use chorus_engine::{Engine, EngineConfig, Event, Transport};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mut engine = Engine::new(EngineConfig {
        seed: 0,
        ..EngineConfig::default()
    });
    let start = Instant::now();
    let source = "127.0.0.1:5070".parse().expect("literal");
    for (i, message) in data.split(|&b| b == 0).enumerate() {
        let now = start + Duration::from_millis(100 * i as u64);
        engine.handle_message(now, Transport::Udp, source, message);
        while let Some(event) = engine.poll_event() {
            if let Event::MediaRequested { call } = event {
                engine.media_ready(now, call, "127.0.0.1:20000".parse().expect("literal"));
            }
        }
        while engine.poll_transmit().is_some() {}
    }
    engine.handle_timeout(start + Duration::from_secs(60));
});
