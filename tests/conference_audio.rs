//! Real phones in real conferences: baresip callers each play a tone, and what each one
//! recorded proves who heard whom.

mod common;

use common::{Bridge, Phone, scratch, tone_level_db, write_tone};
use std::path::Path;

/// Seconds each phone stays in the call.
const CALL_SECS: u32 = 7;

/// The part of a recording where every phone is surely in: after 2 s, for 4 s.
fn steady(samples: &[f64], rate: u32) -> &[f64] {
    let start = (2 * rate) as usize;
    let end = (6 * rate) as usize;
    &samples[start.min(samples.len())..end.min(samples.len())]
}

fn tone(dir: &Path, freq: u32) -> std::path::PathBuf {
    let path = dir.join(format!("tone-{freq}.wav"));
    // Longer than the call: baresip hangs up when its source file ends.
    write_tone(
        &path,
        8000,
        f64::from(freq),
        0.3,
        f64::from(CALL_SECS) + 3.0,
    );
    path
}

#[test]
fn three_phones_hear_both_others_and_not_themselves() {
    let dir = scratch("three-phones");
    let _bridge = Bridge::start(&dir, 5400, (23000, 23099), None, &[]);
    let freqs = [440u32, 1000, 1800];
    let phones: Vec<Phone> = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let i = i as u16;
            Phone::dial(
                &dir,
                &format!("phone{f}"),
                5410 + 10 * i,
                12000 + 100 * i,
                &tone(&dir, f),
                "sip:500@127.0.0.1:5400",
                CALL_SECS,
            )
        })
        .collect();
    let recordings: Vec<_> = phones.into_iter().map(Phone::recording).collect();
    for (own, (samples, rate)) in freqs.iter().zip(&recordings) {
        let heard = steady(samples, *rate);
        assert!(
            heard.len() as u32 > 3 * rate,
            "phone {own} recorded too little"
        );
        let own_level = tone_level_db(heard, *rate, f64::from(*own));
        for other in freqs.iter().filter(|f| *f != own) {
            let level = tone_level_db(heard, *rate, f64::from(*other));
            eprintln!(
                "phone {own}: hears {other} Hz at {level:.1} dBFS, itself at {own_level:.1} dBFS"
            );
            // Sent at 0.3 of full scale (-10.5 dBFS); G.711 keeps it within a dB.
            assert!(
                (-13.0..=-8.0).contains(&level),
                "phone {own} hears {other} Hz at {level:.1} dBFS"
            );
            assert!(
                level - own_level >= 30.0,
                "phone {own} hears itself at {own_level:.1} dBFS, only {:.1} dB under {other} Hz",
                level - own_level
            );
        }
    }
}

#[test]
fn audio_never_crosses_conferences() {
    let dir = scratch("isolation");
    let config = "[extension.500]\n[extension.501]\n";
    let _bridge = Bridge::start(&dir, 5500, (23100, 23199), Some(config), &[]);
    // Two in each, so nobody is alone (a lone caller hears music).
    let calls = [(440u32, "500"), (1000, "500"), (1800, "501"), (2400, "501")];
    let phones: Vec<Phone> = calls
        .iter()
        .enumerate()
        .map(|(i, &(f, ext))| {
            let i = i as u16;
            Phone::dial(
                &dir,
                &format!("phone{f}"),
                5510 + 10 * i,
                12400 + 100 * i,
                &tone(&dir, f),
                &format!("sip:{ext}@127.0.0.1:5500"),
                CALL_SECS,
            )
        })
        .collect();
    let recordings: Vec<_> = phones.into_iter().map(Phone::recording).collect();
    let level = |i: usize, f: u32| {
        let (samples, rate) = &recordings[i];
        tone_level_db(steady(samples, *rate), *rate, f64::from(f))
    };
    // Each hears its partner...
    for (i, partner) in [(0, 1000), (1, 440), (2, 2400), (3, 1800)] {
        assert!(
            level(i, partner) > -13.0,
            "phone {i} hears {partner} Hz at {:.1}",
            level(i, partner)
        );
    }
    // ...and nothing of the other conference.
    for (i, f) in [
        (0, 1800),
        (0, 2400),
        (1, 1800),
        (1, 2400),
        (2, 440),
        (2, 1000),
        (3, 440),
        (3, 1000),
    ] {
        assert!(
            level(i, f) < -60.0,
            "{f} Hz crossed into phone {i}: {:.1} dBFS",
            level(i, f)
        );
    }
}

#[test]
fn five_phones_shouting_at_full_scale_are_limited_never_clipped_and_all_heard() {
    let dir = scratch("five-loud");
    let _bridge = Bridge::start(&dir, 9300, (38600, 38699), None, &[]);
    let freqs = [350u32, 500, 700, 1000, 1400];
    let phones: Vec<Phone> = freqs
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let path = dir.join(format!("loud-{f}.wav"));
            // 0.99 of full scale: four of them sum to nearly four times what 16 bits hold.
            write_tone(&path, 8000, f64::from(f), 0.99, f64::from(CALL_SECS) + 3.0);
            let i = i as u16;
            Phone::dial(
                &dir,
                &format!("loud{f}"),
                9310 + 10 * i,
                17800 + 30 * i,
                &path,
                "sip:500@127.0.0.1:9300",
                CALL_SECS,
            )
        })
        .collect();
    let recordings: Vec<_> = phones.into_iter().map(Phone::recording).collect();
    for (own, (samples, rate)) in freqs.iter().zip(&recordings) {
        let heard = steady(samples, *rate);
        // µ-law's top code decodes to 32124: a clamped sum lands there; a limited one not.
        let clipped = heard
            .iter()
            .filter(|s| s.abs() >= 32_000.0 / 32_768.0)
            .count();
        let peak = heard.iter().fold(0.0f64, |p, s| p.max(s.abs()));
        eprintln!(
            "phone {own}: peak {:.1} dBFS, {clipped} clipped samples",
            20.0 * peak.log10()
        );
        assert_eq!(clipped, 0, "phone {own} hears clipped samples");
        for other in freqs.iter().filter(|f| *f != own) {
            let level = tone_level_db(heard, *rate, f64::from(*other));
            assert!(
                level > -25.0,
                "phone {own} hears {other} Hz at {level:.1} dBFS"
            );
        }
        // One level throughout (no pumping): 100 ms windows within 1.5 dB of each other.
        let window = (*rate / 10) as usize;
        let levels: Vec<f64> = heard
            .chunks(window)
            .filter(|w| w.len() == window)
            .map(|w| 10.0 * (w.iter().map(|s| s * s).sum::<f64>() / w.len() as f64).log10())
            .collect();
        let (low, high) = levels
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(
            high - low < 1.5,
            "phone {own}: level swings {low:.1}..{high:.1} dB"
        );
    }
}

/// The member id of the caller whose URI contains `name`.
fn member_id(port: u16, name: &str) -> u64 {
    let members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
    members
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|m| m["caller"].as_str().is_some_and(|c| c.contains(name)))
        })
        .and_then(|m| m["id"].as_u64())
        .unwrap_or_else(|| panic!("{name} not in {members}"))
}

#[test]
fn an_operator_turns_a_talker_down_a_listener_up_and_makes_one_deaf() {
    let dir = scratch("hearing");
    let bridge = Bridge::start(&dir, 9400, (38700, 38799), None, &[]);
    let secs = 12;
    let calls = [("hearA", 1000u32), ("hearB", 440), ("hearC", 1800)];
    let phones: Vec<Phone> = calls
        .iter()
        .enumerate()
        .map(|(i, &(name, f))| {
            let path = dir.join(format!("{name}.wav"));
            write_tone(&path, 8000, f64::from(f), 0.3, f64::from(secs) + 3.0);
            Phone::dial(
                &dir,
                name,
                9410 + 10 * i as u16,
                16200 + 100 * i as u16,
                &path,
                "sip:500@127.0.0.1:9400",
                secs,
            )
        })
        .collect();
    let port = bridge.http_port();
    assert!(common::wait_until(
        std::time::Duration::from_secs(6),
        || {
            common::http(port, "GET", "/extension/500/conference/members/", "")
                .1
                .as_array()
                .is_some_and(|m| m.len() == 3)
        }
    ));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let changed_at: Vec<f64> = phones.iter().map(Phone::elapsed).collect();
    let (a, b, c) = (
        member_id(port, "hearA"),
        member_id(port, "hearB"),
        member_id(port, "hearC"),
    );
    let post = |path: String, body: &str| common::http(port, "POST", &path, body).0;
    let member = |id: u64, action: &str| format!("/extension/500/conference/members/{id}/{action}");
    assert_eq!(post(member(a, "volume"), r#"{"in": -10}"#), 204);
    assert_eq!(post(member(b, "volume"), r#"{"out": 6}"#), 204);
    assert_eq!(post(member(c, "deaf"), ""), 204);
    assert_eq!(
        post(member(c, "volume"), r#"{"in": 40}"#),
        422,
        "out of range"
    );
    let members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
    let field = |id: u64, name: &str| {
        members
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == id))
            .map(|m| m[name].clone())
            .unwrap_or_default()
    };
    assert_eq!(field(a, "volume_in_db"), -10.0, "{members}");
    assert_eq!(field(b, "volume_out_db"), 6.0, "{members}");
    assert_eq!(field(c, "deaf"), true, "{members}");

    let recordings: Vec<_> = phones.into_iter().map(Phone::recording).collect();
    let level = |who: usize, freq: u32, after: bool| {
        let (samples, rate) = &recordings[who];
        let at = changed_at[who];
        let (from, to) = if after {
            (at + 1.0, at + 5.0)
        } else {
            (at - 2.5, at - 0.5)
        };
        tone_level_db(
            common::window(samples, *rate, from, to),
            *rate,
            f64::from(freq),
        )
    };
    let expect = |who: usize, freq: u32, after: bool, want: f64| {
        let got = level(who, freq, after);
        eprintln!("phone {who} hears {freq} Hz at {got:.1} dBFS (after: {after})");
        assert!(
            (got - want).abs() <= 1.5,
            "phone {who}: {freq} Hz at {got:.1}, want {want:.1}"
        );
    };
    // Before: everyone hears the others as sent (-10.5 dBFS).
    expect(1, 1000, false, -10.5);
    expect(2, 1000, false, -10.5);
    // After: A is 10 dB down for everyone; B hears everything 6 dB up; C hears nothing,
    // and is still heard.
    expect(1, 1000, true, -14.5);
    expect(1, 1800, true, -4.5);
    expect(0, 1800, true, -10.5);
    expect(0, 440, true, -10.5);
    assert!(
        level(2, 1000, true) < -50.0 && level(2, 440, true) < -50.0,
        "deaf C hears"
    );
}
