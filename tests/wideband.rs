//! Wideband conferences with real phones: an Opus, a G.722 and a G.711 baresip each play a
//! tone, and each recording proves the others were heard at the right frequency and level.

mod common;

use common::{Bridge, Phone, Voice, scratch, tone_level_db, write_tone};

const CALL_SECS: u32 = 8;

/// Extension 500's members list, from the REST API.
fn members(bridge: &Bridge) -> serde_json::Value {
    let body = ureq::get(format!(
        "http://127.0.0.1:{}/extension/500/conference/members/",
        bridge.http_port()
    ))
    .call()
    .expect("members")
    .into_body()
    .read_to_string()
    .expect("body");
    serde_json::from_str(&body).expect("json")
}

#[test]
fn opus_g722_and_g711_phones_hear_each_other_at_level() {
    let dir = scratch("wideband-mixed");
    let bridge = Bridge::start(&dir, 7100, (28000, 28099), None, &[]);
    // Each tone sits where every codec carries it (under 3.4 kHz) and apart from the
    // others; sent at 0.3 of full scale, -10.5 dBFS.
    let callers = [
        (Voice::Opus, 1000u32),
        (Voice::G722, 1500),
        (Voice::Pcmu, 700),
    ];
    let phones: Vec<(Voice, u32, Phone)> = callers
        .iter()
        .enumerate()
        .map(|(i, &(voice, freq))| {
            let i = i as u16;
            let source = dir.join(format!("tone-{freq}.wav"));
            write_tone(
                &source,
                voice.source_rate(),
                f64::from(freq),
                0.3,
                f64::from(CALL_SECS) + 3.0,
            );
            let phone = Phone::dial_with(
                &dir,
                &format!("{voice:?}").to_lowercase(),
                7110 + 10 * i,
                18000 + 100 * i,
                &source,
                "sip:500@127.0.0.1:7100",
                CALL_SECS,
                voice,
            );
            (voice, freq, phone)
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let members = members(&bridge);
    let codecs: Vec<&str> = members
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["codec"].as_str())
        .collect();
    for codec in ["opus", "G722", "PCMU"] {
        assert!(codecs.contains(&codec), "{members}");
    }
    let recordings: Vec<_> = phones
        .into_iter()
        .map(|(voice, freq, phone)| (voice, freq, phone.recording()))
        .collect();
    for (voice, own, (samples, rate)) in &recordings {
        let heard = &samples[(3 * rate) as usize..(7 * rate) as usize];
        let own_level = tone_level_db(heard, *rate, f64::from(*own));
        for (_, other, _) in recordings.iter().filter(|(_, f, _)| f != own) {
            let level = tone_level_db(heard, *rate, f64::from(*other));
            eprintln!(
                "{voice:?} ({rate} Hz): hears {other} Hz at {level:.2} dBFS, itself at {own_level:.1}"
            );
            assert!(
                (level + 10.46).abs() <= 1.0,
                "{voice:?} hears {other} Hz at {level:.2} dBFS, sent at -10.46"
            );
        }
        assert!(
            own_level < -40.0,
            "{voice:?} hears itself at {own_level:.1} dBFS"
        );
    }
    assert!(
        bridge.log_text().contains("rate=48000"),
        "the bridge mixed at 48 kHz"
    );
}

#[test]
fn rtcp_gives_each_member_loss_jitter_and_round_trip_time() {
    let dir = scratch("wideband-rtcp");
    let bridge = Bridge::start(&dir, 7140, (28500, 28599), None, &[]);
    let phones: Vec<Phone> = [(Voice::Opus, 7150u16, 18400u16), (Voice::Pcmu, 7160, 18500)]
        .into_iter()
        .map(|(voice, sip, rtp)| {
            let source = dir.join(format!("tone-{sip}.wav"));
            write_tone(&source, voice.source_rate(), 500.0, 0.3, 18.0);
            Phone::dial_with(
                &dir,
                &format!("rtcp{sip}"),
                sip,
                rtp,
                &source,
                "sip:500@127.0.0.1:7140",
                15,
                voice,
            )
        })
        .collect();
    // Our first report goes out 2.5 s in; baresip answers on its own 5 s cycle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(13);
    let members = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let json = members(&bridge);
        let done = json
            .as_array()
            .is_some_and(|m| m.len() == 2 && m.iter().all(|m| !m["media"]["rtt_ms"].is_null()));
        if done || std::time::Instant::now() > deadline {
            break json;
        }
    };
    eprintln!("{members:#}");
    for member in members.as_array().expect("array") {
        let media = &member["media"];
        assert!(media["packets_received"].as_u64() > Some(200), "{member}");
        assert_eq!(media["packets_lost"].as_u64(), Some(0), "{member}");
        assert!(media["jitter_ms"].as_u64() < Some(20), "{member}");
        let rtt = media["rtt_ms"]
            .as_u64()
            .expect("a round-trip time from RTCP");
        assert!(rtt < 50, "loopback round trip {rtt} ms");
        assert_eq!(media["remote_packets_lost"].as_u64(), Some(0), "{member}");
        assert!(media["remote_jitter_ms"].as_f64().is_some(), "{member}");
    }
    let mut bridge = bridge;
    bridge.terminate();
    drop(phones);
    let log = bridge.log_text();
    assert!(
        log.contains("leg media") && log.contains("rtt_ms"),
        "figures logged:\n{log}"
    );
}

#[test]
fn a_g711_listener_hears_no_gap_when_an_opus_phone_comes_and_goes() {
    let dir = scratch("wideband-switch");
    let bridge = Bridge::start(&dir, 7170, (28600, 28699), None, &[]);
    let tone = dir.join("tone-300.wav");
    write_tone(&tone, 8000, 300.0, 0.3, 14.0);
    let silence = |voice: Voice| {
        let path = dir.join(format!("silence-{}.wav", voice.source_rate()));
        write_tone(&path, voice.source_rate(), 0.0, 0.0, 14.0);
        path
    };
    let listener = Phone::dial_with(
        &dir,
        "listener",
        7180,
        18600,
        &silence(Voice::Pcmu),
        "sip:500@127.0.0.1:7170",
        11,
        Voice::Pcmu,
    );
    let speaker = Phone::dial_with(
        &dir,
        "speaker",
        7190,
        18700,
        &tone,
        "sip:500@127.0.0.1:7170",
        11,
        Voice::Pcmu,
    );
    // An Opus phone joins at about 3 s (the bus goes to 48 kHz) and leaves at about 7 s
    // (back to 8 kHz).
    std::thread::sleep(std::time::Duration::from_secs(3));
    let opus = Phone::dial_with(
        &dir,
        "opus",
        7200,
        18800,
        &silence(Voice::Opus),
        "sip:500@127.0.0.1:7170",
        4,
        Voice::Opus,
    );
    let (samples, rate) = listener.recording();
    drop((speaker, opus));
    let log = bridge.log_text();
    assert!(
        log.contains("rate=48000") && log.matches("rate=8000").count() >= 1,
        "{log}"
    );
    // From 1.5 s to 9.5 s the tone never stops: no run of 5 ms without it.
    let stretch = &samples[(3 * rate / 2) as usize..(19 * rate / 2) as usize];
    let mut run = 0;
    let mut longest = 0;
    for &s in stretch {
        run = if s.abs() < 0.01 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    assert!(
        longest < (rate / 200) as usize,
        "{longest} samples of silence in the tone: a dropout"
    );
    let level = tone_level_db(stretch, rate, 300.0);
    assert!((level + 10.46).abs() < 1.0, "tone at {level:.2} dBFS");
}
