//! Cost of the sound processing per talker per 20 ms tick (issue #15):
//!
//! - `voice/limiter/{idle,engaged}`: a room of five talkers mixed and each output limited;
//!   idle at a normal level (the fast path: no sample near the ceiling), engaged at full
//!   scale (every output limited). Throughput is 5: time per output.
//! - `voice/agc/{unity,boosting}/{8k,48k}`: gain control on one talker's frame: a talker
//!   at a normal level (measured, left alone), and a quiet one being raised.
//! - `voice/denoise/48k`: RNNoise on one talker's frame (two 10 ms blocks). Legs slower than
//!   48 kHz add a conversion up and down.

use chorus_mixer::Mixer;
use chorus_mixer::agc::Agc;
use chorus_mixer::denoise::Denoiser;
use chorus_types::AudioRate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Words of 300 ms and pauses of 200 ms at `amplitude`, as 20 ms frames at `rate`.
fn talker(rate: AudioRate, amplitude: f32, frames: usize) -> Vec<Vec<i16>> {
    let n = rate.frame_samples();
    let mut seed: u32 = 99;
    (0..frames)
        .map(|f| {
            let on = f % 25 < 15;
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let u = (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                    if on { (u * amplitude) as i16 } else { 0 }
                })
                .collect()
        })
        .collect()
}

fn limiter(c: &mut Criterion) {
    let mut group = c.benchmark_group("voice/limiter");
    group.throughput(Throughput::Elements(5));
    for (name, amplitude) in [("idle", 3000.0), ("engaged", 32_000.0)] {
        let mut mixer = Mixer::new();
        mixer.set_rate(AudioRate::Full);
        let ids: Vec<_> = (0..5).map(|_| mixer.add()).collect();
        let frames = talker(AudioRate::Full, amplitude, 15);
        group.bench_function(name, |b| {
            b.iter(|| {
                for (i, id) in ids.iter().enumerate() {
                    mixer.set_input(*id, &frames[i * 2]);
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
    group.finish();
}

fn agc(c: &mut Criterion) {
    let mut group = c.benchmark_group("voice/agc");
    for (rate, label) in [(AudioRate::Narrow, "8k"), (AudioRate::Full, "48k")] {
        for (name, amplitude) in [("unity", 4000.0), ("boosting", 500.0)] {
            let frames = talker(rate, amplitude, 500);
            let mut agc = Agc::new();
            let mut work = frames.clone();
            // Measured first, so the timed frames are the steady state.
            for frame in &mut work {
                agc.process(frame);
            }
            let mut i = 0;
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    work[i].copy_from_slice(&frames[i]);
                    black_box(agc.process(&mut work[i]))
                });
            });
        }
    }
    group.finish();
}

fn denoise(c: &mut Criterion) {
    let mut group = c.benchmark_group("voice/denoise");
    let frames = talker(AudioRate::Full, 4000.0, 50);
    let mut denoiser = Denoiser::new();
    let mut work = frames.clone();
    let mut i = 0;
    group.bench_function("48k", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            work[i].copy_from_slice(&frames[i]);
            black_box(denoiser.process(&mut work[i]))
        });
    });
    group.finish();
}

criterion_group!(benches, limiter, agc, denoise);
criterion_main!(benches);
