//! Wideband conferences with real phones: an Opus, a G.722 and a G.711 baresip each play a
//! tone, and each recording proves the others were heard at the right frequency and level.

mod common;

use common::{Bridge, Phone, Voice, scratch, tone_level_db, write_tone};

const CALL_SECS: u32 = 8;

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
    let members = ureq::get("http://127.0.0.1:47100/extension/500/conference/members/")
        .call()
        .expect("members")
        .into_body()
        .read_to_string()
        .expect("body");
    for codec in ["opus", "G722", "PCMU"] {
        assert!(
            members.contains(&format!("\"codec\":\"{codec}\"")),
            "{members}"
        );
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
