//! Round trips through G.722 and Opus, loss recovery, and payload durations.

use chorus_codec::{Decoder, Encoder, MAX_PAYLOAD, OpusSettings, payload_duration};
use chorus_types::{AudioRate, Codec, OpusFmtp};

fn tone(rate: AudioRate, freq: f64, frame: usize) -> Vec<i16> {
    let n = rate.frame_samples();
    (frame * n..(frame + 1) * n)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate.hz())).sin())
                as i16
        })
        .collect()
}

fn level_at(samples: &[i16], rate: AudioRate, freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in samples.iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate.hz());
        re += f64::from(s) * w.cos();
        im += f64::from(s) * w.sin();
    }
    2.0 * (re * re + im * im).sqrt() / samples.len() as f64
}

fn round_trip(codec: Codec, rate: AudioRate, freq: f64) -> Vec<i16> {
    let fmtp = OpusFmtp {
        use_inband_fec: true,
        ..OpusFmtp::default()
    };
    let mut enc = Encoder::new(codec, rate, &OpusSettings::default(), &fmtp).expect("encoder");
    let mut dec = Decoder::new(codec, rate).expect("decoder");
    let mut heard = Vec::new();
    let mut payload = [0u8; MAX_PAYLOAD];
    for frame in 0..50 {
        let n = enc.encode(&tone(enc.rate(), freq, frame), &mut payload);
        assert!(n > 0);
        assert_eq!(
            payload_duration(codec, &payload[..n]),
            Some(codec.clock_rate() / 50)
        );
        assert_eq!(
            dec.decode(&payload[..n], &mut heard),
            dec.rate().frame_samples()
        );
    }
    heard
}

#[test]
fn g722_carries_a_7khz_band_tone() {
    let heard = round_trip(Codec::G722, AudioRate::Wide, 6000.0);
    let level = level_at(&heard[8000..], AudioRate::Wide, 6000.0);
    assert!((level - 8000.0).abs() < 8000.0 * 0.12, "level {level}");
}

#[test]
fn opus_carries_wideband_tones_at_level() {
    for (rate, freq) in [
        (AudioRate::Full, 1000.0),
        (AudioRate::Full, 7000.0),
        (AudioRate::Wide, 1000.0),
    ] {
        let heard = round_trip(Codec::Opus, rate, freq);
        let level = level_at(&heard[heard.len() / 2..], rate, freq);
        assert!(
            (level - 8000.0).abs() < 8000.0 * 0.12,
            "{rate:?} {freq}: {level}"
        );
    }
}

#[test]
fn opus_fec_recovers_a_lost_frame_better_than_plc() {
    let rate = AudioRate::Full;
    let fmtp = OpusFmtp {
        use_inband_fec: true,
        ..OpusFmtp::default()
    };
    let settings = OpusSettings {
        expected_loss_percent: 20,
        ..OpusSettings::default()
    };
    let mut enc = Encoder::new(Codec::Opus, rate, &settings, &fmtp).expect("encoder");
    let packets: Vec<Vec<u8>> = (0..30)
        .map(|f| {
            let mut p = [0u8; MAX_PAYLOAD];
            let n = enc.encode(&tone(rate, 440.0, f), &mut p);
            p[..n].to_vec()
        })
        .collect();
    let mut errors = Vec::new();
    for use_fec in [true, false] {
        let mut dec = Decoder::new(Codec::Opus, rate).expect("decoder");
        let mut heard = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            if i == 20 {
                if use_fec {
                    dec.recover(&packets[21], &mut heard);
                } else {
                    dec.conceal(&mut heard);
                }
                continue;
            }
            dec.decode(p, &mut heard);
        }
        assert_eq!(heard.len(), 30 * 960);
        // Compare the lost frame with what the decoder heard of a clean run.
        let mut clean = Decoder::new(Codec::Opus, rate).expect("decoder");
        let mut truth = Vec::new();
        for p in &packets {
            clean.decode(p, &mut truth);
        }
        let err: f64 = heard[20 * 960..21 * 960]
            .iter()
            .zip(&truth[20 * 960..21 * 960])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>();
        errors.push(err);
    }
    assert!(
        errors[0] < errors[1],
        "fec {} vs plc {}",
        errors[0],
        errors[1]
    );
}

#[test]
fn concealment_fills_a_frame_for_every_codec() {
    for codec in Codec::ALL {
        let mut dec = Decoder::new(codec, AudioRate::Full).expect("decoder");
        let mut out = Vec::new();
        dec.conceal(&mut out);
        assert_eq!(out.len(), dec.rate().frame_samples(), "{codec:?}");
    }
}

#[test]
fn garbage_payloads_decode_to_nothing_without_panicking() {
    let mut dec = Decoder::new(Codec::Opus, AudioRate::Full).expect("decoder");
    let mut out = Vec::new();
    for len in [1usize, 3, 50, 1500] {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let _ = dec.decode(&junk, &mut out);
        let _ = payload_duration(Codec::Opus, &junk);
    }
    assert_eq!(payload_duration(Codec::Pcmu, &[]), None);
}
