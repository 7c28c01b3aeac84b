//! The lone talker's packets sent on unchanged, the shared silence, packets nobody needs
//! left undecoded, and switches between forwarded and mixed frames without a click.

use super::*;

fn opus_params(port: u16) -> MediaParams {
    MediaParams {
        codec: Codec::Opus,
        payload_type: 111,
        telephone_event: Some(101),
        ..MediaParams::pcmu(addr(port))
    }
}

/// A packet as a listener got it: payload, sequence number, marker, SSRC.
#[derive(Debug, Clone)]
struct Got {
    payload: Vec<u8>,
    seq: u16,
    marker: bool,
    ssrc: u32,
}

/// The RTP packets of this tick, by leg.
fn got(group: &mut MediaGroup) -> Vec<(CallId, Got)> {
    let mut out = Vec::new();
    while let Some(t) = group.poll_transmit() {
        if chorus_rtp::rtcp::is_rtcp(t.data) {
            continue;
        }
        let reader = rtp_rs::RtpReader::new(t.data).expect("rtp");
        out.push((
            t.leg,
            Got {
                payload: reader.payload().to_vec(),
                seq: u16::from(reader.sequence_number()),
                marker: reader.mark(),
                ssrc: reader.ssrc(),
            },
        ));
    }
    out
}

/// `packet` (a plain RTP packet) with an RFC 6464 audio level of `level` −dBov.
fn with_level(packet: &[u8], level: u8) -> Vec<u8> {
    let mut with_ext = packet[..12].to_vec();
    with_ext[0] |= 0x10;
    with_ext.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, level, 0, 0]);
    with_ext.extend_from_slice(&packet[12..]);
    with_ext
}

/// A phone that encodes a sine (or silence) and sends it every tick.
struct Talker {
    call: CallId,
    port: u16,
    sender: RtpSender,
    encoder: Encoder,
    freq: f64,
    /// The level it states on each packet (RFC 6464, −dBov), if it does.
    level: Option<u8>,
}

impl Talker {
    fn opus(call: u64, port: u16, freq: f64) -> Talker {
        Talker {
            call: CallId(call),
            port,
            sender: RtpSender::new(900 + call as u32, 111, 960),
            encoder: Encoder::new(
                Codec::Opus,
                AudioRate::Full,
                &OpusSettings::default(),
                &OpusFmtp::default(),
            )
            .expect("encoder"),
            freq,
            level: None,
        }
    }

    /// Sends this tick's frame; returns its payload.
    fn send(&mut self, group: &mut MediaGroup, now: Instant, tick: usize) -> Vec<u8> {
        let pcm: Vec<i16> = if self.freq > 0.0 {
            tone_frame(AudioRate::Full, self.freq, tick)
        } else {
            vec![0; AudioRate::Full.frame_samples()]
        };
        let mut payload = vec![0u8; chorus_codec::MAX_PAYLOAD];
        let n = self.encoder.encode(&pcm, &mut payload);
        payload.truncate(n);
        if n > 0 {
            let mut packet = [0u8; 1500];
            let len = self.sender.write(&payload, false, &mut packet);
            match self.level {
                Some(level) => {
                    let packet = with_level(&packet[..len], level);
                    group.handle_packet(now, self.call, addr(self.port), &packet);
                }
                None => group.handle_packet(now, self.call, addr(self.port), &packet[..len]),
            }
        }
        payload
    }
}

#[test]
fn a_lone_talker_reaches_each_listener_as_it_sent_and_hears_the_shared_silence() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let mut phones: Vec<Talker> = [(1u64, 1000.0), (2, 0.0), (3, 0.0)]
        .into_iter()
        .map(|(id, freq)| {
            let port = 7700 + id as u16;
            group.add_leg(CallId(id), "fwd", opus_params(port), id as u32);
            join(&mut group, CallId(id));
            Talker::opus(id, port, freq)
        })
        .collect();
    let mut spoken = std::collections::HashSet::new();
    let mut received: HashMap<CallId, Vec<Got>> = HashMap::new();
    for tick in 0..100usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        for phone in &mut phones {
            let payload = phone.send(&mut group, now, tick);
            if phone.call == CallId(1) {
                spoken.insert(payload);
            }
        }
        group.handle_timeout(now);
        for (leg, packet) in got(&mut group) {
            received.entry(leg).or_default().push(packet);
        }
    }
    for listener in [CallId(2), CallId(3)] {
        let packets = &received[&listener];
        // After the jitter buffer fills, every packet is one the talker sent, byte for
        // byte, in the listener's own stream.
        for p in &packets[10..] {
            assert!(
                spoken.contains(&p.payload),
                "{listener:?} got a re-encoded frame"
            );
            assert_eq!(p.ssrc, listener.0 as u32);
        }
        for pair in packets.windows(2) {
            assert_eq!(
                pair[1].seq,
                pair[0].seq.wrapping_add(1),
                "continuous sequence"
            );
        }
    }
    // The talker hears nobody: one shared silent frame, never an encode of its own.
    let silence = &received[&CallId(1)][10..];
    assert!(silence.iter().all(|p| p.payload == silence[0].payload));
    let totals = group.totals();
    assert!(totals.forwarded >= 2 * 88, "{totals:?}");
    assert!(totals.silent >= 88, "{totals:?}");
}

#[test]
fn a_lone_talkers_pause_reaches_its_listeners_as_it_sent_it() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    for id in 1..=3u64 {
        let mut params = params(7730 + id as u16);
        params.telephone_event = Some(101);
        params.audio_level_id = Some(1);
        group.add_leg(CallId(id), "pause", params, id as u32);
        join(&mut group, CallId(id));
    }
    let mut senders: Vec<RtpSender> = (1..=3).map(|id| RtpSender::new(id, 0, 160)).collect();
    let mut spoken = std::collections::HashSet::new();
    let mut received: HashMap<CallId, Vec<Got>> = HashMap::new();
    for tick in 0..100u64 {
        let now = start + Duration::from_millis(20 * tick);
        for (i, sender) in senders.iter_mut().enumerate() {
            let id = i as u64 + 1;
            // Leg 1 talks for 40 ticks, then pauses: its packets say silent (RFC 6464),
            // so nobody decodes them. Legs 2 and 3 never talk.
            let talking = id == 1 && tick < 40;
            let (level, sample) = if talking { (10u8, 3000i16) } else { (127, 2) };
            let mut payload = [0u8; FRAME_SAMPLES];
            chorus_codec::encode(Codec::Pcmu, &[sample; FRAME_SAMPLES], &mut payload);
            if id == 1 {
                spoken.insert(payload.to_vec());
            }
            let mut packet = [0u8; 300];
            let n = sender.write(&payload, false, &mut packet[..]);
            let packet = with_level(&packet[..n], level);
            group.handle_packet(now, CallId(id), addr(7730 + id as u16), &packet);
        }
        group.handle_timeout(now);
        for (leg, packet) in got(&mut group) {
            received.entry(leg).or_default().push(packet);
        }
    }
    for listener in [CallId(2), CallId(3)] {
        let packets = &received[&listener];
        // From the first forwarded packet on, through the pause, nothing is re-encoded
        // and the stream never switches (one marker, at the start of forwarding).
        let first = packets
            .iter()
            .position(|p| spoken.contains(&p.payload))
            .expect("forwarded");
        assert!(first < 10, "forwarded from tick {first}");
        assert!(
            packets[first..].iter().all(|p| spoken.contains(&p.payload)),
            "{listener:?} got a mixed frame"
        );
        assert_eq!(packets[first + 1..].iter().filter(|p| p.marker).count(), 0);
    }
    let talker = group.leg_stats(CallId(1)).expect("talker");
    assert!(talker.decodes_skipped >= 55, "{talker:?}");
}

#[test]
fn a_listener_with_other_opus_settings_gets_the_mix() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    group.add_leg(CallId(1), "fwd", opus_params(7711), 1);
    let narrow = MediaParams {
        opus: OpusFmtp {
            max_playback_rate: 16000,
            ..OpusFmtp::default()
        },
        ..opus_params(7712)
    };
    group.add_leg(CallId(2), "fwd", narrow, 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    let mut talker = Talker::opus(1, 7711, 1000.0);
    for tick in 0..30usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        talker.send(&mut group, now, tick);
        group.handle_timeout(now);
        let _ = got(&mut group);
    }
    assert_eq!(group.totals().forwarded, 0);
}

#[test]
fn silent_and_unheard_packets_are_not_decoded() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    // Telephone events negotiated: no in-band keys to listen for, so nothing forces a
    // decode.
    for id in 1..=3u64 {
        let mut params = params(7720 + id as u16);
        params.telephone_event = Some(101);
        params.audio_level_id = Some(1);
        group.add_leg(CallId(id), "quiet", params, id as u32);
        join(&mut group, CallId(id));
    }
    group.handle_command(MediaCommand::SetMuted {
        call: CallId(3),
        muted: true,
    });
    let mut senders: Vec<RtpSender> = (1..=3).map(|id| RtpSender::new(id, 0, 160)).collect();
    for tick in 0..50u64 {
        let now = start + Duration::from_millis(20 * tick);
        for (i, sender) in senders.iter_mut().enumerate() {
            let id = i as u64 + 1;
            // Leg 1 talks (−10 dBov), leg 2 says it is silent (127), leg 3 is muted.
            let (level, sample) = if id == 1 { (10u8, 3000i16) } else { (127, 0) };
            let mut payload = [0u8; FRAME_SAMPLES];
            chorus_codec::encode(Codec::Pcmu, &[sample; FRAME_SAMPLES], &mut payload);
            let mut packet = [0u8; 300];
            let n = sender.write(&payload, false, &mut packet[..]);
            // Add the RFC 6464 extension: X bit, profile 0xBEDE, element 1.
            let packet = with_level(&packet[..n], level);
            group.handle_packet(now, CallId(id), addr(7720 + id as u16), &packet);
        }
        group.handle_timeout(now);
        let _ = got(&mut group);
    }
    let skipped = |id| group.leg_stats(CallId(id)).expect("leg").decodes_skipped;
    // Its listeners take the talker's packets unchanged and nobody needs the mix.
    assert!(skipped(1) >= 45, "the forwarded talker: {}", skipped(1));
    assert!(skipped(2) >= 45, "silent packets: {}", skipped(2));
    assert!(skipped(3) >= 45, "a muted leg nobody hears: {}", skipped(3));
    assert_eq!(
        group.totals().decodes_skipped,
        skipped(1) + skipped(2) + skipped(3)
    );
}

/// What an Opus listener decodes while an Opus talker plays a 300 Hz sine and a silent
/// announcement sends everyone to the mixed path for `announce` ticks in the middle:
/// (largest step in steady state, largest step around the switches, markers seen,
/// the talker's packets left undecoded). With `level` the talker states it (RFC 6464),
/// so while it is forwarded its packets are not decoded at all.
fn through_forwarding_switches(announce: usize, level: Option<u8>) -> (i32, i32, usize, u64) {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    for (id, port) in [(1u64, 7731u16), (2, 7732)] {
        let mut params = opus_params(port);
        params.audio_level_id = level.map(|_| 1);
        group.add_leg(CallId(id), "sw", params, id as u32);
        join(&mut group, CallId(id));
    }
    let mut talker = Talker::opus(1, 7731, 300.0);
    talker.level = level;
    let mut decoder = chorus_codec::Decoder::new(Codec::Opus, AudioRate::Full).expect("dec");
    let mut heard: Vec<i16> = Vec::new();
    let mut markers = 0;
    for tick in 0..100usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        if tick == 40 {
            let clip: Clip = vec![0i16; FRAME_SAMPLES * announce].into();
            group.handle_command(MediaCommand::Announce {
                conference: "sw".to_owned(),
                except: None,
                clips: vec![clip],
            });
        }
        talker.send(&mut group, now, tick);
        group.handle_timeout(now);
        for (leg, packet) in got(&mut group) {
            if leg == CallId(2) {
                markers += usize::from(packet.marker && tick > 20);
                decoder.decode(&packet.payload, &mut heard);
            }
        }
    }
    let frame = AudioRate::Full.frame_samples();
    let step = |from: usize, to: usize| {
        heard[from * frame..to * frame]
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    };
    let undecoded = group.leg_stats(CallId(1)).expect("talker").decodes_skipped;
    (
        step(20, 38),
        step(38, 40 + announce + 6),
        markers,
        undecoded,
    )
}

#[test]
fn switching_between_forwarded_and_mixed_frames_makes_no_click() {
    let (steady, switching, markers, _) = through_forwarding_switches(20, None);
    assert!(
        switching <= steady * 2,
        "largest step {switching} around the switches, {steady} in steady state"
    );
    assert_eq!(markers, 2, "a marker on each switch");
}

#[test]
fn a_talker_left_undecoded_while_forwarded_joins_the_mix_without_a_click() {
    let (steady, switching, markers, undecoded) = through_forwarding_switches(20, Some(20));
    // Forwarded before and after the announcement: not decoded then.
    assert!(undecoded >= 60, "{undecoded} packets left undecoded");
    assert!(
        switching <= steady * 2,
        "largest step {switching} around the switches, {steady} in steady state"
    );
    assert_eq!(markers, 2, "a marker on each switch");
}

#[test]
fn a_packet_lost_on_the_way_in_is_passed_on_as_a_gap_for_the_listener_to_recover() {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    group.add_leg(CallId(1), "gap", params(7741), 1);
    group.add_leg(CallId(2), "gap", params(7742), 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    let mut sender = RtpSender::new(5, 0, 160);
    let mut seqs = Vec::new();
    let mut lost = 0;
    for tick in 0..100usize {
        let now = start + Duration::from_millis(20 * tick as u64);
        let packet = packet_of(&mut sender, &[3000; FRAME_SAMPLES]);
        // Every tenth packet after the first second never arrives.
        if tick < 50 || tick % 10 != 0 {
            group.handle_packet(now, CallId(1), addr(7741), &packet);
        } else {
            lost += 1;
        }
        group.handle_timeout(now);
        for (leg, got) in got(&mut group) {
            if leg == CallId(2) && tick >= 50 {
                seqs.push(got.seq);
            }
        }
    }
    let gaps = seqs
        .windows(2)
        .filter(|w| w[1] != w[0].wrapping_add(1))
        .count();
    assert!(
        gaps + 1 >= lost && gaps <= lost,
        "{lost} lost, {gaps} gaps in {seqs:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] != w[0]), "nothing sent twice");
}
