//! The media group on a virtual clock.

use super::*;
use chorus_codec::OpusSettings;
use std::time::Duration;

mod forwarding;
mod hearing;
mod mix_recording;
mod moving;
mod srtp;
mod voice;

fn params(port: u16) -> MediaParams {
    MediaParams::pcmu(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn packet_of(sender: &mut RtpSender, pcm: &Frame) -> Vec<u8> {
    let mut payload = [0u8; FRAME_SAMPLES];
    chorus_codec::encode(Codec::Pcmu, pcm, &mut payload);
    let mut out = [0u8; 200];
    let n = sender.write(&payload, false, &mut out);
    out[..n].to_vec()
}

/// What each leg was sent this tick, decoded (first sample).
fn heard(group: &mut MediaGroup) -> HashMap<CallId, i16> {
    let mut out = HashMap::new();
    while let Some(t) = group.poll_transmit() {
        let reader = rtp_rs::RtpReader::new(t.data).expect("rtp");
        out.insert(t.leg, chorus_codec::ulaw_to_linear(reader.payload()[0]));
    }
    out
}

fn join(group: &mut MediaGroup, call: CallId) {
    group.handle_command(MediaCommand::Join { call, muted: false });
}

struct Rig {
    group: MediaGroup,
    start: Instant,
    tick: u32,
    senders: HashMap<CallId, (RtpSender, u16)>,
}

impl Rig {
    fn new(legs: &[(u64, &str)]) -> Rig {
        let start = Instant::now();
        let mut group = MediaGroup::new(start);
        let mut senders = HashMap::new();
        for (i, (id, conf)) in legs.iter().enumerate() {
            let port = 7000 + i as u16;
            group.add_leg(CallId(*id), conf, params(port), *id as u32);
            senders.insert(
                CallId(*id),
                (RtpSender::new(100 + *id as u32, 0, 160), port),
            );
        }
        Rig {
            group,
            start,
            tick: 0,
            senders,
        }
    }

    /// One tick in which each listed leg sends a constant level.
    fn tick(&mut self, levels: &[(u64, i16)]) -> HashMap<CallId, i16> {
        let now = self.start + Duration::from_millis(20 * u64::from(self.tick));
        self.tick += 1;
        for (id, level) in levels {
            let (sender, port) = self.senders.get_mut(&CallId(*id)).expect("leg");
            let pkt = packet_of(sender, &[*level; FRAME_SAMPLES]);
            self.group
                .handle_packet(now, CallId(*id), addr(*port), &pkt);
        }
        self.group.handle_timeout(now);
        heard(&mut self.group)
    }

    fn run(&mut self, ticks: usize, levels: &[(u64, i16)]) -> HashMap<CallId, i16> {
        let mut last = HashMap::new();
        for _ in 0..ticks {
            last = self.tick(levels);
        }
        last
    }
}

fn near(got: i16, want: i16) -> bool {
    (i32::from(got) - i32::from(want)).abs() < 200
}

#[test]
fn three_legs_hear_each_other_but_not_themselves_and_conferences_are_isolated() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "500"), (4, "501")]);
    for id in 1..=4 {
        join(&mut rig.group, CallId(id));
    }
    let last = rig.run(6, &[(1, 1000), (2, 2000), (3, 4000)]);
    assert!(near(last[&CallId(1)], 6000), "1 hears {}", last[&CallId(1)]);
    assert!(near(last[&CallId(2)], 5000));
    assert!(near(last[&CallId(3)], 3000));
    assert_eq!(last[&CallId(4)], 0, "another conference hears nothing");
    assert_eq!(rig.group.leg_stats(CallId(1)).expect("leg").sent, 6);
}

#[test]
fn lobby_legs_and_muted_legs_are_not_heard() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    // 3 is still in the lobby (entering a PIN): it neither hears nor is heard.
    let last = rig.run(5, &[(1, 1000), (2, 2000), (3, 4000)]);
    assert!(near(last[&CallId(1)], 2000));
    assert_eq!(last[&CallId(3)], 0);
    rig.group.handle_command(MediaCommand::SetMuted {
        call: CallId(2),
        muted: true,
    });
    let last = rig.run(2, &[(1, 1000), (2, 2000)]);
    assert_eq!(last[&CallId(1)], 0, "muted leg is out of the mix");
    assert!(near(last[&CallId(2)], 1000), "a muted leg still hears");
}

#[test]
fn prompts_play_to_one_leg_and_report_when_done() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    let clip: Clip = vec![3000i16; FRAME_SAMPLES * 2].into();
    rig.group.handle_command(MediaCommand::Play {
        call: CallId(1),
        clip,
        id: 42,
    });
    let first = rig.tick(&[]);
    assert!(near(first[&CallId(1)], 3000));
    assert_eq!(first[&CallId(2)], 0);
    rig.tick(&[]);
    assert_eq!(
        rig.group.poll_event(),
        Some(MediaEvent::PlayDone {
            call: CallId(1),
            id: 42
        })
    );
    assert_eq!(rig.tick(&[])[&CallId(1)], 0);
}

#[test]
fn music_loops_until_stopped_and_pauses_for_prompts() {
    let mut rig = Rig::new(&[(1, "500")]);
    join(&mut rig.group, CallId(1));
    let music: Clip = vec![1500i16; 100].into();
    rig.group.handle_command(MediaCommand::Music {
        call: CallId(1),
        clip: Some(music),
    });
    for _ in 0..5 {
        assert!(near(rig.tick(&[])[&CallId(1)], 1500));
    }
    rig.group.handle_command(MediaCommand::Play {
        call: CallId(1),
        clip: vec![-2000i16; 160].into(),
        id: 1,
    });
    assert!(near(rig.tick(&[])[&CallId(1)], -2000));
    rig.group.handle_command(MediaCommand::Music {
        call: CallId(1),
        clip: None,
    });
    assert_eq!(rig.tick(&[])[&CallId(1)], 0);
}

#[test]
fn announcements_reach_everyone_but_the_newcomer() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "500"), (4, "501")]);
    for id in 1..=4 {
        join(&mut rig.group, CallId(id));
    }
    rig.group.handle_command(MediaCommand::Announce {
        conference: "500".into(),
        except: Some(CallId(3)),
        clips: vec![vec![2500i16; 160].into()],
    });
    let last = rig.tick(&[]);
    assert!(near(last[&CallId(1)], 2500) && near(last[&CallId(2)], 2500));
    assert_eq!(last[&CallId(3)], 0);
    assert_eq!(last[&CallId(4)], 0);
}

#[test]
fn a_burst_of_joins_chimes_once() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    let chime: Clip = vec![3000i16; FRAME_SAMPLES].into();
    let announce = |group: &mut MediaGroup, clips: Vec<Clip>| {
        group.handle_command(MediaCommand::Announce {
            conference: "500".to_owned(),
            except: None,
            clips,
        });
    };
    for _ in 0..10 {
        announce(&mut rig.group, vec![chime.clone()]);
    }
    let name: Clip = vec![2000i16; FRAME_SAMPLES].into();
    announce(&mut rig.group, vec![name.clone(), chime.clone()]);
    assert_eq!(rig.group.conferences["500"].announcements.len(), 3);
}

#[test]
fn telephone_events_become_one_digit() {
    let mut rig = Rig::new(&[(1, "500")]);
    let (_, port) = rig.senders[&CallId(1)];
    let mut te = RtpSender::new(55, 101, 0);
    let now = rig.start;
    for duration in [160u16, 320, 480, 800, 800, 800] {
        let ev = TelephoneEvent {
            event: 10,
            end: duration == 800,
            volume: 10,
            duration,
        };
        let mut out = [0u8; 64];
        let n = te.write(&ev.write(), false, &mut out);
        rig.group
            .handle_packet(now, CallId(1), addr(port), &out[..n]);
    }
    assert_eq!(
        rig.group.poll_event(),
        Some(MediaEvent::Digit {
            call: CallId(1),
            digit: '*'
        })
    );
    assert_eq!(rig.group.poll_event(), None);
}

#[test]
fn inband_tones_become_digits_and_stay_out_of_the_mix() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let mut no_te = params(7000);
    no_te.telephone_event = None;
    group.add_leg(CallId(1), "500", no_te, 1);
    group.add_leg(CallId(2), "500", params(7001), 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    let mut sender = RtpSender::new(9, 0, 160);
    // 120 ms of '5' (770 + 1336 Hz), then quiet.
    let tone: Vec<i16> = (0..960)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (6000.0 * (2.0 * std::f64::consts::PI * 770.0 * t).sin()
                + 6000.0 * (2.0 * std::f64::consts::PI * 1336.0 * t).sin()) as i16
        })
        .chain(std::iter::repeat_n(0, 960))
        .collect();
    let mut leaked = 0i32;
    let mut digits = Vec::new();
    for (tick, chunk) in tone.chunks(FRAME_SAMPLES).enumerate() {
        let now = start + Duration::from_millis(20 * tick as u64);
        let mut frame = SILENCE;
        frame.copy_from_slice(chunk);
        let pkt = packet_of(&mut sender, &frame);
        group.handle_packet(now, CallId(1), addr(7000), &pkt);
        group.handle_timeout(now);
        while let Some(t) = group.poll_transmit() {
            if t.leg == CallId(2) {
                let reader = rtp_rs::RtpReader::new(t.data).expect("rtp");
                leaked += reader
                    .payload()
                    .iter()
                    .map(|&b| i32::from(chorus_codec::ulaw_to_linear(b)).abs())
                    .max()
                    .unwrap_or(0);
            }
        }
        while let Some(ev) = group.poll_event() {
            digits.push(ev);
        }
    }
    assert_eq!(
        digits,
        vec![MediaEvent::Digit {
            call: CallId(1),
            digit: '5'
        }]
    );
    // At most the first block before detection may leak; the tone itself is ~12000 peak.
    assert!(leaked < 12_000 * 2, "tone leaked into the mix: {leaked}");
}

#[test]
fn name_recording_ends_on_silence_after_speech() {
    let mut rig = Rig::new(&[(1, "500")]);
    rig.group.handle_command(MediaCommand::RecordName {
        call: CallId(1),
        max: Duration::from_secs(3),
    });
    // Jitter delay, then 0.5 s of voice, then silence.
    rig.run(25, &[(1, 3000)]);
    let mut recorded = None;
    for _ in 0..60 {
        rig.tick(&[(1, 0)]);
        if let Some(MediaEvent::NameRecorded { clip, .. }) = rig.group.poll_event() {
            recorded = Some(clip);
            break;
        }
    }
    let clip = recorded.expect("recording ended on silence before 3 s");
    assert!(
        clip.len() >= 8000 * 4 / 10 && clip.len() < 8000 * 2,
        "{} samples",
        clip.len()
    );
}

#[test]
fn removing_the_last_leg_drops_the_conference() {
    let now = Instant::now();
    let mut group = MediaGroup::new(now);
    group.add_leg(CallId(1), "500", params(7001), 1);
    group.remove_leg(CallId(1));
    assert!(group.conferences.is_empty());
    group.handle_timeout(now);
    assert!(group.poll_transmit().is_none());
}

#[test]
fn garbage_packets_are_counted() {
    let now = Instant::now();
    let mut group = MediaGroup::new(now);
    group.add_leg(CallId(1), "500", params(7001), 1);
    let src = addr(7001);
    group.handle_packet(now, CallId(1), src, b"\x80");
    group.handle_packet(now, CallId(1), src, &[0xff; 40]);
    let stats = group.leg_stats(CallId(1)).expect("stats");
    assert_eq!(stats.receive.malformed, 2);
}

#[test]
fn muxed_rtcp_reports_are_read_not_mixed() {
    use rtcp_types::{Compound, ReceiverReport, ReportBlock, RtcpPacketWriterExt};
    let mut rig = Rig::new(&[(1, "500")]);
    let (_, port) = rig.senders[&CallId(1)];
    // The far end reports on our SSRC (the leg was added with SSRC 1).
    let rr = ReceiverReport::builder(0x99).add_report_block(
        ReportBlock::builder(1)
            .fraction_lost(25)
            .cumulative_lost(3)
            .interarrival_jitter(40),
    );
    let mut bytes = vec![0u8; 64];
    let len = Compound::builder()
        .add_packet(rr)
        .write_into(&mut bytes)
        .expect("write");
    rig.group
        .handle_packet(rig.start, CallId(1), addr(port), &bytes[..len]);
    let stats = rig.group.leg_stats(CallId(1)).expect("leg");
    assert_eq!(
        stats
            .far_end
            .map(|r| (r.fraction_lost, r.cumulative_lost, r.jitter)),
        Some((25, 3, 40))
    );
    assert_eq!(stats.receive.rtcp, 1);
    assert_eq!(rig.group.totals().dropped, 0, "RTCP is read, not dropped");
}

/// A leg of any codec driven by real encoders and decoders.
struct Phone {
    call: CallId,
    port: u16,
    codec: Codec,
    sender: RtpSender,
    encoder: Encoder,
    decoder: chorus_codec::Decoder,
    heard: Vec<i16>,
}

fn tone_frame(rate: AudioRate, freq: f64, frame: usize) -> Vec<i16> {
    let n = rate.frame_samples();
    (frame * n..(frame + 1) * n)
        .map(|i| {
            (6000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate.hz())).sin())
                as i16
        })
        .collect()
}

fn tone_level(samples: &[i16], rate: AudioRate, freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in samples.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate.hz());
        re += f64::from(s) * w.cos();
        im += f64::from(s) * w.sin();
    }
    2.0 * (re * re + im * im).sqrt() / samples.len() as f64
}

#[test]
fn opus_g722_and_pcmu_legs_mix_at_48khz_and_hear_each_other_at_level() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let fmtp = OpusFmtp {
        use_inband_fec: true,
        ..OpusFmtp::default()
    };
    let mut phones: Vec<Phone> = [
        (1u64, Codec::Opus, 111u8),
        (2, Codec::G722, 9),
        (3, Codec::Pcmu, 0),
    ]
    .into_iter()
    .map(|(id, codec, pt)| {
        let port = 7100 + id as u16;
        let params = MediaParams {
            codec,
            payload_type: pt,
            opus: fmtp,
            ..MediaParams::pcmu(addr(port))
        };
        group.add_leg(CallId(id), "mixed", params, id as u32);
        join(&mut group, CallId(id));
        let rate = codec.audio_rate();
        Phone {
            call: CallId(id),
            port,
            codec,
            sender: RtpSender::new(500 + id as u32, pt, codec.clock_rate() / 50),
            encoder: Encoder::new(codec, rate, &OpusSettings::default(), &fmtp).expect("enc"),
            decoder: chorus_codec::Decoder::new(codec, rate).expect("dec"),
            heard: Vec::new(),
        }
    })
    .collect();
    assert_eq!(group.conference_rate("mixed"), Some(AudioRate::Full));
    let freqs = [1000.0, 1500.0, 700.0];
    for tick in 0..100usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        for (p, &freq) in phones.iter_mut().zip(&freqs) {
            let mut payload = [0u8; chorus_codec::MAX_PAYLOAD];
            let n = p
                .encoder
                .encode(&tone_frame(p.encoder.rate(), freq, tick), &mut payload);
            let mut pkt = [0u8; 1400];
            let len = p.sender.write(&payload[..n], false, &mut pkt);
            group.handle_packet(now, p.call, addr(p.port), &pkt[..len]);
        }
        group.handle_timeout(now);
        while let Some(t) = group.poll_transmit() {
            let reader = rtp_rs::RtpReader::new(t.data).expect("rtp");
            let p = phones.iter_mut().find(|p| p.call == t.leg).expect("phone");
            p.decoder.decode(reader.payload(), &mut p.heard);
        }
    }
    for (i, p) in phones.iter().enumerate() {
        let rate = p.decoder.rate();
        let tail = &p.heard[p.heard.len() / 2..];
        for (j, &freq) in freqs.iter().enumerate() {
            let level = tone_level(tail, rate, freq);
            if i == j {
                assert!(level < 300.0, "{:?} hears itself at {level}", p.codec);
            } else {
                let db = 20.0 * (level / 6000.0).log10();
                assert!(
                    db.abs() < 1.0,
                    "{:?} hears {freq} Hz at {db:.2} dB",
                    p.codec
                );
            }
        }
    }
    // The 48 kHz member leaves: the bus drops to G.722's 16 kHz; then to 8 kHz.
    group.remove_leg(CallId(1));
    assert_eq!(group.conference_rate("mixed"), Some(AudioRate::Wide));
    group.remove_leg(CallId(2));
    assert_eq!(group.conference_rate("mixed"), Some(AudioRate::Narrow));
}

#[test]
fn legs_send_rtcp_reports_to_port_plus_one_and_bye_when_removed() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    group.set_wall_clock(start, 0xE000_0000_0000_0000);
    group.add_leg(CallId(1), "r", params(7300), 1);
    let mut muxed = params(7302);
    muxed.rtcp_mux = true;
    group.add_leg(CallId(2), "r", muxed, 2);
    let mut reports = Vec::new();
    for tick in 0..200u64 {
        group.handle_timeout(start + Duration::from_millis(20 * tick));
        while let Some(t) = group.poll_transmit() {
            if chorus_rtp::rtcp::is_rtcp(t.data) {
                reports.push((t.leg, t.destination, t.rtcp_port));
            }
        }
    }
    assert!(
        reports.contains(&(CallId(1), addr(7301), true)),
        "{reports:?}"
    );
    assert!(
        reports.contains(&(CallId(2), addr(7302), false)),
        "{reports:?}"
    );
    assert!(reports.len() <= 8, "about one per 5 s each: {reports:?}");
    group.remove_leg(CallId(1));
    let bye = group.poll_transmit().expect("BYE on removal");
    let summary = chorus_rtp::rtcp::summarise(bye.data, 0).expect("valid RTCP");
    assert!(summary.bye);
    assert_eq!(bye.destination, addr(7301));
}

#[test]
fn faint_members_stay_out_of_the_mix_and_share_one_encoded_frame() {
    let mut rig = Rig::new(&[(1, "g"), (2, "g"), (3, "g"), (4, "g")]);
    for id in 1..=4 {
        join(&mut rig.group, CallId(id));
    }
    // Leg 1 speaks; the others send faint background (about -64 dBFS).
    let last = rig.run(10, &[(1, 3000), (2, 20), (3, 20), (4, 20)]);
    assert_eq!(last[&CallId(1)], 0, "faint legs are gated out");
    for id in 2..=4 {
        assert!(near(last[&CallId(id)], 3000));
    }
    // After the talker stops, its gate holds for half a second, then closes.
    let last = rig.run(24, &[(1, 0), (2, 20)]);
    assert_eq!(last[&CallId(2)], 0);
    assert_eq!(rig.group.conferences["g"].mixer.len(), 4);
}

#[test]
fn the_rfc6464_audio_level_a_phone_sends_is_read() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let mut p = params(7400);
    p.audio_level_id = Some(3);
    group.add_leg(CallId(1), "lvl", p, 1);
    // RTP with X set and a one-byte extension: element 3, V=1, 25 -dBov.
    let mut packet = vec![0x90, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xBE, 0xDE, 0, 1];
    packet.extend_from_slice(&[0x30, 0x80 | 25, 0, 0]);
    packet.extend_from_slice(&[0xff; 160]);
    group.handle_packet(start, CallId(1), addr(7400), &packet);
    let level = group.leg_stats(CallId(1)).and_then(|s| s.audio_level);
    assert_eq!(
        level,
        Some(AudioLevel {
            level: 25,
            voice: true
        })
    );
}

/// What a PCMU listener hears while a 300 Hz tone plays and an Opus member joins and
/// leaves (the bus goes 8 → 48 → 8 kHz): the largest step between neighbouring samples in
/// steady state and around the changes, and the longest run of near-silence.
fn through_rate_changes() -> (i32, i32, usize) {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let speaker = addr(7500);
    group.add_leg(CallId(1), "switch", params(7500), 1);
    group.add_leg(CallId(2), "switch", params(7501), 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    let opus = MediaParams {
        codec: Codec::Opus,
        payload_type: 111,
        ..MediaParams::pcmu(addr(7502))
    };
    let mut sender = RtpSender::new(9, 0, 160);
    let mut heard: Vec<i16> = Vec::new();
    for tick in 0..60usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        if tick == 20 {
            group.add_leg(CallId(3), "switch", opus.clone(), 3);
            join(&mut group, CallId(3));
            assert_eq!(group.conference_rate("switch"), Some(AudioRate::Full));
        }
        if tick == 40 {
            group.remove_leg(CallId(3));
            assert_eq!(group.conference_rate("switch"), Some(AudioRate::Narrow));
        }
        let pcm: Frame = std::array::from_fn(|i| {
            let n = (tick * FRAME_SAMPLES + i) as f64;
            (8000.0 * (2.0 * std::f64::consts::PI * 300.0 * n / 8000.0).sin()) as i16
        });
        let packet = packet_of(&mut sender, &pcm);
        group.handle_packet(now, CallId(1), speaker, &packet);
        group.handle_timeout(now);
        while let Some(t) = group.poll_transmit() {
            if t.leg == CallId(2) && !chorus_rtp::rtcp::is_rtcp(t.data) {
                heard.extend(
                    t.data[12..]
                        .iter()
                        .map(|&b| chorus_codec::ulaw_to_linear(b)),
                );
            }
        }
    }
    let step = |from: usize, to: usize| {
        heard[from..to]
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    };
    let mut quiet_run = 0;
    let mut longest_quiet = 0;
    for &s in &heard[10 * 160..50 * 160] {
        quiet_run = if s.unsigned_abs() < 200 {
            quiet_run + 1
        } else {
            0
        };
        longest_quiet = longest_quiet.max(quiet_run);
    }
    // Steady state (before the join) against the stretch around both switches.
    (
        step(10 * 160, 19 * 160),
        step(19 * 160, 50 * 160),
        longest_quiet,
    )
}

#[test]
fn the_bus_rate_changes_without_a_click() {
    let (steady, switching, quiet) = through_rate_changes();
    assert!(
        switching <= steady * 2,
        "largest step {switching} around the rate changes, {steady} in steady state"
    );
    // A 300 Hz tone is near zero for a few samples at each crossing, never for a frame.
    assert!(quiet < 12, "{quiet} samples of silence: a dropout");
}

#[test]
fn seeded_loss_and_jitter_are_concealed_without_clicks_or_repeats() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    group.add_leg(CallId(1), "lossy", params(7600), 1);
    // A PCMA listener: it is not forwarded the PCMU talker's packets, so it hears the
    // bridge's own playout and concealment (forwarding passes losses on instead:
    // `forwarding.rs`).
    let alaw = MediaParams {
        codec: Codec::Pcma,
        payload_type: 8,
        ..params(7601)
    };
    group.add_leg(CallId(2), "lossy", alaw, 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    let mut rng = fastrand::Rng::with_seed(11);
    let mut sender = RtpSender::new(5, 0, 160);
    // 5 % loss, 0-40 ms of extra delay (so some packets overtake others).
    let mut in_flight: Vec<(Duration, Vec<u8>)> = Vec::new();
    let mut heard: Vec<i16> = Vec::new();
    let ticks = 500usize;
    for tick in 0..ticks {
        let now = Duration::from_millis(20 * tick as u64);
        let pcm: Frame = std::array::from_fn(|i| {
            let n = (tick * FRAME_SAMPLES + i) as f64;
            (8000.0 * (2.0 * std::f64::consts::PI * 250.0 * n / 8000.0).sin()) as i16
        });
        let packet = packet_of(&mut sender, &pcm);
        if rng.f64() >= 0.05 {
            in_flight.push((now + Duration::from_millis(rng.u64(0..=40)), packet));
        }
        in_flight.sort_by_key(|(at, _)| *at);
        while in_flight.first().is_some_and(|(at, _)| *at <= now) {
            let (at, packet) = in_flight.remove(0);
            group.handle_packet(start + at, CallId(1), addr(7600), &packet);
        }
        group.handle_timeout(start + now);
        while let Some(t) = group.poll_transmit() {
            if t.leg == CallId(2) && !chorus_rtp::rtcp::is_rtcp(t.data) {
                let mut pcm = [0i16; FRAME_SAMPLES];
                let n = chorus_codec::decode(Codec::Pcma, &t.data[12..], &mut pcm);
                heard.extend_from_slice(&pcm[..n]);
            }
        }
    }
    // One frame out per tick: nothing played twice, nothing dropped from the timeline.
    assert_eq!(heard.len(), ticks * FRAME_SAMPLES);
    let stats = group.leg_stats(CallId(1)).expect("leg");
    assert!(
        stats.jitter.concealed > 5,
        "losses were concealed: {stats:?}"
    );
    // A 250 Hz tone at 8000 moves at most ~1570 per sample; concealment and its
    // cross-fades must not step further than twice that.
    let tail = &heard[50 * FRAME_SAMPLES..];
    let largest = tail
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0);
    assert!(largest < 3200, "a click: step of {largest}");
    assert!(stats.delay_ms <= 200, "{stats:?}");
}

#[test]
fn a_leg_that_sends_nothing_is_reported_inactive_once_and_rtcp_keeps_a_held_leg() {
    let start = Instant::now();
    let mut group = MediaGroup::with_config(
        start,
        MediaConfig {
            media_timeout: Duration::from_secs(3),
            ..MediaConfig::default()
        },
    );
    let held = MediaParams {
        remote_direction: chorus_types::Direction::RecvOnly,
        ..params(7004)
    };
    group.add_leg(CallId(1), "c", params(7000), 1);
    group.add_leg(CallId(2), "c", params(7002), 2);
    group.add_leg(CallId(3), "c", held, 3);
    let mut sender = RtpSender::new(11, 0, 160);
    let mut inactive = Vec::new();
    for tick in 0..300u32 {
        let now = start + Duration::from_millis(20 * u64::from(tick));
        let packet = packet_of(&mut sender, &[0; FRAME_SAMPLES]);
        group.handle_packet(now, CallId(1), addr(7000), &packet);
        // The held phone sends RTP anyway (proves nothing) and an RTCP report a second.
        group.handle_packet(now, CallId(3), addr(7004), &packet);
        if tick % 50 == 0 {
            group.handle_rtcp(now, CallId(3), addr(7005), &[0x81, 201, 0, 1, 0, 0, 0, 3]);
        }
        group.handle_timeout(now);
        while group.poll_transmit().is_some() {}
        while let Some(event) = group.poll_event() {
            if let MediaEvent::Inactive { call } = event {
                inactive.push((call, tick));
            }
        }
    }
    assert_eq!(inactive.len(), 1, "{inactive:?}");
    let (call, tick) = inactive[0];
    assert_eq!(call, CallId(2));
    assert!(
        (150..=200).contains(&tick),
        "within the timeout + one check: {tick}"
    );
}
