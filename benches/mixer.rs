//! Cost of one 20 ms tick as the conference grows. Throughput is N participants, so the
//! report reads as time per participant; flat per-participant figures mean O(N) per tick.
//!
//! - `mixer/all_talking`: the bus alone, every member speaking (every output is a private
//!   N-1 mix: the worst case).
//! - `mixer/three_talking`: the usual meeting: three speak, the rest share one mix.
//! - `media_group/tick`: the whole per-tick path without sockets: one G.711 packet in per
//!   leg (parse, latch, decode, jitter buffer), mix, encode (the shared mix once per codec),
//!   packetise; three legs talk, the others send silence.

use chorus_engine::{CallId, MediaGroup, MediaParams};
use chorus_mixer::Mixer;
use chorus_rtp::RtpSender;
use chorus_types::{Codec, FRAME_SAMPLES, Frame};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [3, 10, 100, 1000];

fn voice(seed: usize) -> Frame {
    let mut frame = [0i16; FRAME_SAMPLES];
    for (i, s) in frame.iter_mut().enumerate() {
        *s = (((i * 37 + seed * 101) % 2000) as i16) - 1000;
    }
    frame
}

fn mixer(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer");
    for &n in &SIZES {
        group.throughput(Throughput::Elements(n as u64));
        for (name, talkers) in [("all_talking", n), ("three_talking", 3.min(n))] {
            let mut mixer = Mixer::new();
            let ids: Vec<_> = (0..n).map(|_| mixer.add()).collect();
            let frames: Vec<Frame> = (0..n).map(voice).collect();
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    for (id, frame) in ids.iter().zip(&frames).take(talkers) {
                        mixer.set_input(*id, frame);
                    }
                    mixer.mix();
                    let mut check = 0i32;
                    for id in &ids {
                        check += i32::from(mixer.output(*id).frame()[0]);
                    }
                    black_box(check)
                });
            });
        }
    }
    group.finish();
}

fn media_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("media_group");
    for &n in &SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let start = Instant::now();
        let mut media = MediaGroup::new(start);
        let mut senders = Vec::new();
        for i in 0..n {
            let remote = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            let params = MediaParams {
                codec: if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma },
                payload_type: if i % 2 == 0 { 0 } else { 8 },
                ..MediaParams::pcmu(remote)
            };
            media.add_leg(CallId(i as u64), "bench", params.clone(), i as u32);
            senders.push((
                RtpSender::new(1000 + i as u32, params.payload_type, 160),
                params,
            ));
        }
        let payloads: Vec<[u8; FRAME_SAMPLES]> = (0..n)
            .map(|i| {
                let codec = senders[i].1.codec;
                let frame = if i < 3 { voice(i) } else { [0; FRAME_SAMPLES] };
                let mut out = [0u8; FRAME_SAMPLES];
                chorus_codec::encode(codec, &frame, &mut out);
                out
            })
            .collect();
        let mut tick = 0u32;
        let mut packet = [0u8; 256];
        group.bench_with_input(BenchmarkId::new("tick", n), &n, |b, _| {
            b.iter(|| {
                let now = start + Duration::from_millis(20) * tick;
                tick += 1;
                for (i, (sender, params)) in senders.iter_mut().enumerate() {
                    let len = sender.write(&payloads[i], false, &mut packet);
                    media.handle_packet(now, CallId(i as u64), params.remote, &packet[..len]);
                }
                media.handle_timeout(now);
                let mut bytes = 0;
                while let Some(t) = media.poll_transmit() {
                    bytes += t.data.len();
                }
                black_box(bytes)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, mixer, media_group);
criterion_main!(benches);
