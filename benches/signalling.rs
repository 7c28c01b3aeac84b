//! Cost of one SIP message as live transactions pile up, as they do under a flood: every
//! OPTIONS or refused INVITE leaves a transaction that lingers 32 s (Timer J / H) on UDP.
//!
//! - `signalling/options`: with N transactions live, one new OPTIONS is parsed, answered
//!   and its transaction scheduled; the clock then moves on so that the oldest one expires.
//!   N stays steady, so the figure is the cost per message at that depth. Flat across N
//!   means O(log n) timers.

use chorus_engine::{Engine, EngineConfig, Transport};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const DEPTHS: [usize; 4] = [0, 1_000, 10_000, 100_000];
/// How long an answered OPTIONS transaction lingers on UDP (64 × T1).
const LINGER: Duration = Duration::from_secs(32);

fn options(n: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\nMax-Forwards: 70\r\nFrom: <sip:scan@127.0.0.1>;tag={n}\r\nTo: <sip:500@127.0.0.1>\r\nCall-ID: {n}@scan\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn drain(engine: &mut Engine) {
    while engine.poll_transmit().is_some() {}
    while engine.poll_event().is_some() {}
}

fn signalling(c: &mut Criterion) {
    let mut group = c.benchmark_group("signalling");
    let source: SocketAddr = "127.0.0.1:5070".parse().expect("addr");
    for &depth in &DEPTHS {
        let mut engine = Engine::new(EngineConfig::default());
        let start = Instant::now();
        // `depth` transactions spread over one linger period, so each new message's
        // clock step expires about one.
        let step = LINGER / depth.max(1) as u32;
        let mut sent = 0u64;
        for _ in 0..depth {
            let now = start + step * sent as u32;
            engine.handle_message(now, Transport::Udp, source, &options(sent));
            sent += 1;
        }
        drain(&mut engine);
        group.bench_with_input(BenchmarkId::new("options", depth), &depth, |b, _| {
            b.iter(|| {
                let now = start + step * sent as u32;
                engine.handle_message(now, Transport::Udp, source, &options(sent));
                sent += 1;
                if engine.poll_timeout().is_some_and(|at| at <= now) {
                    engine.handle_timeout(now);
                }
                black_box(engine.poll_timeout());
                drain(&mut engine);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, signalling);
criterion_main!(benches);
