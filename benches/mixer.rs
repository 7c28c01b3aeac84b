//! Cost of one 20 ms tick as the conference grows. Throughput is N participants, so the
//! report reads as time per participant; flat per-participant figures mean O(N) per tick.
//!
//! - `mixer/all_talking`: the bus alone, every member speaking (every output is a private
//!   N-1 mix: the worst case).
//! - `mixer/three_talking`: the usual meeting: three speak, the rest share one mix.
//! - `media_group/tick`: the whole per-tick path without sockets: one G.711 packet in per
//!   leg (parse, latch, jitter buffer, decode), mix, encode (the shared mix once per codec),
//!   packetise; three legs talk, the others send silence.
//! - `media_group/tick_opus`: the same with every leg on Opus (48 kHz, the default encoder:
//!   complexity 10, 64 kbit/s): each leg's packet is decoded, three talkers get their own
//!   encode, everyone else shares one.
//! - `media_group/tick_mixed`: a third each Opus, G.722 and PCMU: the bus runs at 48 kHz and
//!   the G.722 and PCMU legs are resampled both ways.

use chorus_engine::{CallId, MediaCommand, MediaGroup, MediaParams};
use chorus_mixer::Mixer;
use chorus_rtp::RtpSender;
use chorus_types::{AudioRate, OpusFmtp};
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

/// A phone's payload for one frame: voice for the first three legs, silence otherwise.
fn payload_for(codec: Codec, leg: usize) -> Vec<u8> {
    let rate = match codec {
        Codec::Opus => AudioRate::Full,
        other => other.audio_rate(),
    };
    let n = rate.frame_samples();
    let pcm: Vec<i16> = (0..n)
        .map(|i| {
            if leg < 3 {
                let t = i as f64 / f64::from(rate.hz());
                (3000.0 * (2.0 * std::f64::consts::PI * (300.0 + 100.0 * leg as f64) * t).sin())
                    as i16
            } else {
                0
            }
        })
        .collect();
    let mut encoder = chorus_codec::Encoder::new(
        codec,
        rate,
        &chorus_codec::OpusSettings::default(),
        &OpusFmtp::default(),
    )
    .expect("encoder");
    let mut out = vec![0u8; chorus_codec::MAX_PAYLOAD];
    let len = encoder.encode(&pcm, &mut out);
    out.truncate(len);
    out
}

fn bench_ticks(c: &mut Criterion, name: &str, sizes: &[usize], codec_of: fn(usize) -> Codec) {
    let mut group = c.benchmark_group("media_group");
    if codec_of(1) != Codec::Pcma {
        group.sample_size(20);
    }
    for &n in sizes {
        group.throughput(Throughput::Elements(n as u64));
        let start = Instant::now();
        let mut media = MediaGroup::new(start);
        let mut legs = Vec::new();
        for i in 0..n {
            let remote = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            let codec = codec_of(i);
            let params = MediaParams {
                codec,
                payload_type: codec.static_payload_type().unwrap_or(111),
                ..MediaParams::pcmu(remote)
            };
            media.add_leg(CallId(i as u64), "bench", params.clone(), i as u32);
            media.handle_command(MediaCommand::Join {
                call: CallId(i as u64),
                muted: false,
            });
            legs.push((
                RtpSender::new(
                    1000 + i as u32,
                    params.payload_type,
                    codec.clock_rate() / 50,
                ),
                params,
                payload_for(codec, i),
            ));
        }
        let mut tick = 0u32;
        let mut packet = [0u8; 1500];
        group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
            b.iter(|| {
                let now = start + Duration::from_millis(20) * tick;
                tick += 1;
                for (i, (sender, params, payload)) in legs.iter_mut().enumerate() {
                    let len = sender.write(payload, false, &mut packet);
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

fn media_group(c: &mut Criterion) {
    bench_ticks(c, "tick", &SIZES, |i| {
        if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma }
    });
    bench_ticks(c, "tick_opus", &[3, 10, 100], |_| Codec::Opus);
    bench_ticks(c, "tick_mixed", &[3, 30], |i| {
        [Codec::Opus, Codec::G722, Codec::Pcmu][i % 3]
    });
}

criterion_group!(benches, mixer, media_group);
criterion_main!(benches);
