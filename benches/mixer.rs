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
//! - `media_group/lone_talker_pcmu`, `lone_talker_opus`: rooms of N with one talker, the
//!   others sending silence marked with RFC 6464 levels, as phones with the audio-level
//!   extension do: the talker's packets are forwarded, the silent ones not decoded, the
//!   talker hears the shared silence.
//! - `media_group/rooms_of_5_pcmu`, `rooms_of_5_opus`: the same in rooms of five, N legs in
//!   all.
//! - `codec/opus_decoder_reset`: what resuming a member after skipped silence costs (libopus
//!   probes the processor on each reset unless, as here, the probe is cached: under a
//!   hypervisor each probe traps).
//! - `media_group/srtp_*` and `plain_*`: the same rooms with every leg on SRTP
//!   (AES_CM_128_HMAC_SHA1_80) and without; the phones' packets are built (and protected)
//!   outside the timed part, so the difference is the bridge's added cost per SRTP leg.
//! - `srtp/*`: protecting and unprotecting one 20 ms G.711 packet, per profile.
//!
//! Every leg has the bridge's default voice processing (gain control on, suppression
//! off), as the engine sets it; `benches/voice.rs` has the processing's own costs.

use chorus_engine::{CallId, MediaCommand, MediaGroup, MediaParams};
use chorus_mixer::Mixer;
use chorus_rtp::RtpSender;
use chorus_rtp::srtp::{SrtpContext, SrtpKey, SrtpProfile};
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

/// Frames each phone cycles through: a stretch of one encoder's steady output, as a real
/// stream is (a fresh encoder's first frames would make every decode a start-up case).
const CYCLE: usize = 50;

/// A phone's payloads for [`CYCLE`] consecutive frames: a tone for talkers, silence
/// otherwise.
fn payloads_for(codec: Codec, leg: usize, talking: bool) -> Vec<Vec<u8>> {
    let rate = match codec {
        Codec::Opus => AudioRate::Full,
        other => other.audio_rate(),
    };
    let n = rate.frame_samples();
    let mut encoder = chorus_codec::Encoder::new(
        codec,
        rate,
        &chorus_codec::OpusSettings::default(),
        &OpusFmtp::default(),
    )
    .expect("encoder");
    let mut out = Vec::new();
    for frame in 0..CYCLE + 10 {
        let pcm: Vec<i16> = (0..n)
            .map(|i| {
                if talking {
                    let t = (frame * n + i) as f64 / f64::from(rate.hz());
                    let freq = 300.0 + 100.0 * (leg % 3) as f64;
                    (3000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
                } else {
                    0
                }
            })
            .collect();
        let mut payload = vec![0u8; chorus_codec::MAX_PAYLOAD];
        let len = encoder.encode(&pcm, &mut payload);
        payload.truncate(len);
        if frame >= 10 {
            out.push(payload);
        }
    }
    out
}

/// One benchmark's conferences: who talks, how big the rooms are, and whether packets
/// carry RFC 6464 levels.
struct Load {
    name: &'static str,
    sizes: &'static [usize],
    codec_of: fn(usize) -> Codec,
    /// Talkers per room (the first legs of each room).
    talkers: usize,
    /// Legs per room; 0 puts every leg in one room.
    room: usize,
    /// Packets carry RFC 6464 levels (−10 dBov talking, 127 silent).
    levels: bool,
    /// Every leg on SRTP.
    srtp: bool,
    /// The phones' packets are built outside the timed part.
    prepared: bool,
}

fn bench_key(leg: usize, side: u8) -> SrtpKey {
    let mut material = [side; 30];
    material[..8].copy_from_slice(&(leg as u64).to_be_bytes());
    SrtpKey::new(SrtpProfile::AesCm128HmacSha1_80, &material).expect("30 bytes")
}

/// `packet` with a one-byte RFC 8285 header extension carrying an RFC 6464 level (id 1).
fn with_level(packet: &[u8], level: u8) -> Vec<u8> {
    let mut out = packet[..12].to_vec();
    out[0] |= 0x10;
    out.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, level, 0, 0]);
    out.extend_from_slice(&packet[12..]);
    out
}

fn bench_ticks(c: &mut Criterion, load: &Load) {
    let mut group = c.benchmark_group("media_group");
    if (load.codec_of)(1) != Codec::Pcma {
        group.sample_size(20);
    }
    for &n in load.sizes {
        group.throughput(Throughput::Elements(n as u64));
        let start = Instant::now();
        let mut media = MediaGroup::new(start);
        let mut legs = Vec::new();
        for i in 0..n {
            let remote = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            let codec = (load.codec_of)(i);
            let params = MediaParams {
                codec,
                payload_type: codec.static_payload_type().unwrap_or(111),
                audio_level_id: load.levels.then_some(1),
                srtp: load.srtp.then(|| chorus_engine::SrtpKeys {
                    send: bench_key(i, 1),
                    receive: bench_key(i, 2),
                }),
                ..MediaParams::pcmu(remote)
            };
            let (room, seat) = match i.checked_div(load.room) {
                Some(room) => (room, i % load.room),
                None => (0, i),
            };
            let talking = seat < load.talkers;
            media.add_leg(
                CallId(i as u64),
                &format!("room{room}"),
                params.clone(),
                i as u32,
            );
            media.handle_command(MediaCommand::Join {
                call: CallId(i as u64),
                muted: false,
            });
            // As the engine sets it: the bridge's default (gain control on).
            media.handle_command(MediaCommand::SetVoice {
                call: CallId(i as u64),
                processing: chorus_types::VoiceProcessing::default(),
            });
            legs.push((
                RtpSender::new(
                    1000 + i as u32,
                    params.payload_type,
                    codec.clock_rate() / 50,
                ),
                params,
                payloads_for(codec, i, talking),
                talking,
                SrtpContext::new(&bench_key(i, 2)),
            ));
        }
        let mut tick = 0u32;
        let mut packet = [0u8; 1500];
        if load.prepared {
            // The phones' side, untimed: this tick's packet from every leg.
            let mut prepare = || {
                tick += 1;
                let mut out = Vec::with_capacity(legs.len());
                for (i, (sender, params, payloads, talking, srtp)) in legs.iter_mut().enumerate() {
                    let payload = &payloads[tick as usize % CYCLE];
                    if payload.is_empty() {
                        sender.skip();
                        continue;
                    }
                    let len = sender.write(payload, false, &mut packet);
                    let mut datagram = if load.levels {
                        with_level(&packet[..len], if *talking { 10 } else { 127 })
                    } else {
                        packet[..len].to_vec()
                    };
                    if load.srtp {
                        srtp.protect_rtp(&mut datagram, 0).expect("protect");
                    }
                    out.push((CallId(i as u64), params.remote, datagram));
                }
                (start + Duration::from_millis(20) * tick, out)
            };
            group.bench_with_input(BenchmarkId::new(load.name, n), &n, |b, _| {
                b.iter_batched(
                    &mut prepare,
                    |(now, packets)| {
                        for (id, from, datagram) in &packets {
                            media.handle_packet(now, *id, *from, datagram);
                        }
                        media.handle_timeout(now);
                        let mut bytes = 0;
                        while let Some(t) = media.poll_transmit() {
                            bytes += t.data.len();
                        }
                        black_box(bytes)
                    },
                    criterion::BatchSize::PerIteration,
                );
            });
            continue;
        }
        group.bench_with_input(BenchmarkId::new(load.name, n), &n, |b, _| {
            b.iter(|| {
                let now = start + Duration::from_millis(20) * tick;
                tick += 1;
                for (i, (sender, params, payloads, talking, _)) in legs.iter_mut().enumerate() {
                    let payload = &payloads[tick as usize % CYCLE];
                    if payload.is_empty() {
                        sender.skip(); // DTX
                        continue;
                    }
                    let len = sender.write(payload, false, &mut packet);
                    let id = CallId(i as u64);
                    if load.levels {
                        let level = if *talking { 10 } else { 127 };
                        media.handle_packet(
                            now,
                            id,
                            params.remote,
                            &with_level(&packet[..len], level),
                        );
                    } else {
                        media.handle_packet(now, id, params.remote, &packet[..len]);
                    }
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

fn g711(i: usize) -> Codec {
    if i.is_multiple_of(2) {
        Codec::Pcmu
    } else {
        Codec::Pcma
    }
}

fn media_group(c: &mut Criterion) {
    let loads = [
        Load {
            name: "tick",
            sizes: &SIZES,
            codec_of: g711,
            talkers: 3,
            room: 0,
            levels: false,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "tick_opus",
            sizes: &[3, 10, 100],
            codec_of: |_| Codec::Opus,
            talkers: 3,
            room: 0,
            levels: false,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "tick_mixed",
            sizes: &[3, 30],
            codec_of: |i| [Codec::Opus, Codec::G722, Codec::Pcmu][i % 3],
            talkers: 3,
            room: 0,
            levels: false,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "lone_talker_pcmu",
            sizes: &[5, 100, 1000],
            codec_of: |_| Codec::Pcmu,
            talkers: 1,
            room: 0,
            levels: true,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "lone_talker_opus",
            sizes: &[5, 100, 1000],
            codec_of: |_| Codec::Opus,
            talkers: 1,
            room: 0,
            levels: true,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "rooms_of_5_pcmu",
            sizes: &[200, 1000],
            codec_of: |_| Codec::Pcmu,
            talkers: 1,
            room: 5,
            levels: true,
            srtp: false,
            prepared: false,
        },
        Load {
            name: "rooms_of_5_opus",
            sizes: &[200, 1000],
            codec_of: |_| Codec::Opus,
            talkers: 1,
            room: 5,
            levels: true,
            srtp: false,
            prepared: false,
        },
        // SRTP's cost: the same rooms with and without it, phones' side untimed.
        Load {
            name: "plain_rooms_of_5_pcmu",
            sizes: &[200],
            codec_of: |_| Codec::Pcmu,
            talkers: 1,
            room: 5,
            levels: true,
            srtp: false,
            prepared: true,
        },
        Load {
            name: "srtp_rooms_of_5_pcmu",
            sizes: &[200],
            codec_of: |_| Codec::Pcmu,
            talkers: 1,
            room: 5,
            levels: true,
            srtp: true,
            prepared: true,
        },
        Load {
            name: "plain_tick",
            sizes: &[100],
            codec_of: g711,
            talkers: 3,
            room: 0,
            levels: false,
            srtp: false,
            prepared: true,
        },
        Load {
            name: "srtp_tick",
            sizes: &[100],
            codec_of: g711,
            talkers: 3,
            room: 0,
            levels: false,
            srtp: true,
            prepared: true,
        },
    ];
    let only = std::env::var("CHORUS_BENCH").ok();
    for load in &loads {
        if only.as_deref().is_none_or(|o| load.name.starts_with(o)) {
            bench_ticks(c, load);
        }
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    let mut decoder =
        chorus_codec::Decoder::new(Codec::Opus, AudioRate::Full).expect("opus decoder");
    group.bench_function("opus_decoder_reset", |b| b.iter(|| decoder.reset()));
    group.finish();
    srtp(c);
}

criterion_group!(benches, mixer, media_group, codec);
criterion_main!(benches);

/// One 20 ms G.711 packet (12-byte header, 160 bytes) protected and unprotected.
fn srtp(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp");
    for profile in SrtpProfile::ALL {
        let material = vec![7u8; profile.key_material_len()];
        let key = SrtpKey::new(profile, &material).expect("key");
        let mut sender = SrtpContext::new(&key);
        let mut receiver = SrtpContext::new(&key);
        let mut rtp = RtpSender::new(1, 0, 160);
        let mut plain = [0u8; 200];
        let mut buf = Vec::with_capacity(256);
        let mut out = Vec::with_capacity(256);
        group.bench_function(format!("protect_and_unprotect/{}", profile.name()), |b| {
            b.iter(|| {
                let len = rtp.write(&[0xd5; 160], false, &mut plain);
                buf.clear();
                buf.extend_from_slice(&plain[..len]);
                sender.protect_rtp(&mut buf, 0).expect("protect");
                receiver.unprotect_rtp(&buf, &mut out).expect("unprotect");
                black_box(out.len())
            });
        });
    }
    group.finish();
}
