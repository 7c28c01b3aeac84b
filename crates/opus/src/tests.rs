use super::*;

fn tone(rate: u32, hz: f32, frames: usize) -> Vec<i16> {
    let n = rate as usize / 50 * frames;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (8000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Power at `hz` relative to the total (Goertzel), 0..1.
fn share_at(samples: &[i16], rate: u32, hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let total: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    2.0 * power / (samples.len() as f64 * total.max(1.0))
}

fn encoder(rate: u32) -> Encoder {
    let mut e = Encoder::new(rate).expect("encoder");
    e.set_complexity(10).expect("complexity");
    e.set_bitrate(64_000).expect("bitrate");
    e.set_inband_fec(true).expect("fec");
    e.set_packet_loss_perc(10).expect("loss");
    e.set_dtx(false).expect("dtx");
    e.set_max_bandwidth(Bandwidth::Fullband).expect("bandwidth");
    e
}

#[test]
fn reports_the_vendored_version() {
    assert!(version().starts_with("libopus 1.6"), "{}", version());
}

#[test]
fn a_tone_survives_encoding_and_decoding() {
    for rate in [16_000, 48_000] {
        let frame = rate as usize / 50;
        let input = tone(rate, 1000.0, 50);
        let mut enc = encoder(rate);
        let mut dec = Decoder::new(rate).expect("decoder");
        let mut out = Vec::new();
        let mut packet = [0u8; 1275];
        for chunk in input.chunks(frame) {
            let len = enc.encode(chunk, &mut packet).expect("encode");
            assert_eq!(packet_samples(&packet[..len], rate), Ok(frame));
            let mut pcm = vec![0i16; frame];
            assert_eq!(dec.decode(&packet[..len], &mut pcm, false), Ok(frame));
            out.extend_from_slice(&pcm);
        }
        // Skip the codec's start-up; compare the steady state.
        let steady = &out[out.len() / 2..];
        let level = 20.0 * (rms(steady) / rms(&input)).log10();
        assert!(
            level.abs() < 1.0,
            "{rate} Hz: level changed by {level:.2} dB"
        );
        assert!(
            share_at(steady, rate, 1000.0) > 0.95,
            "{rate} Hz: tone lost"
        );
    }
}

#[test]
fn conceals_and_recovers_with_fec() {
    let rate = 48_000;
    let frame = 960;
    let input = tone(rate, 440.0, 20);
    let mut enc = encoder(rate);
    let mut dec = Decoder::new(rate).expect("decoder");
    let mut packets = Vec::new();
    let mut buf = [0u8; 1275];
    for chunk in input.chunks(frame) {
        let len = enc.encode(chunk, &mut buf).expect("encode");
        packets.push(buf[..len].to_vec());
    }
    let mut pcm = vec![0i16; frame];
    for p in &packets[..10] {
        dec.decode(p, &mut pcm, false).expect("decode");
    }
    // Packet 10 is lost: rebuild it from packet 11's FEC, then conceal once more.
    assert_eq!(dec.decode(&packets[11], &mut pcm, true), Ok(frame));
    assert!(rms(&pcm) > 1000.0, "FEC produced silence");
    assert_eq!(dec.decode(&[], &mut pcm, false), Ok(frame));
    dec.reset();
    assert_eq!(dec.decode(&packets[12], &mut pcm, false), Ok(frame));
}

#[test]
fn bad_arguments_are_errors_not_crashes() {
    assert!(Encoder::new(44_100).is_err());
    assert!(Decoder::new(0).is_err());
    let err = Decoder::new(11_025).expect_err("odd rate");
    assert!(err.to_string().contains("invalid argument"), "{err}");
    let mut enc = encoder(48_000);
    let mut out = [0u8; 1275];
    assert!(
        enc.encode(&[0; 100], &mut out).is_err(),
        "100 samples is no frame size"
    );
    assert!(enc.encode(&[0; 960], &mut []).is_err(), "no room");
    assert!(packet_samples(&[], 48_000).is_err());
}

#[test]
fn garbage_packets_never_crash_the_decoder() {
    let mut dec = Decoder::new(48_000).expect("decoder");
    let mut pcm = vec![0i16; 5760];
    let mut seed = 0x1234_5678u32;
    for round in 0..5000 {
        let len = 1 + round % 400;
        let packet: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = packet_samples(&packet, 48_000);
        let _ = dec.decode(&packet, &mut pcm, round % 2 == 0);
    }
}
