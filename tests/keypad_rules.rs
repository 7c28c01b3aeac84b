//! The conference rules and keypad commands with real phones: baresip callers press keys
//! (RFC 4733), sipp sends in-band tones, and what the phones recorded or how their calls
//! ended proves each rule.

mod common;

use common::{Bridge, Phone, scratch, sipp, tone_level_db, wait_for_log, window, write_tone};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(20);

fn tone(dir: &Path, freq: u32, secs: f64) -> PathBuf {
    let path = dir.join(format!("tone-{freq}.wav"));
    write_tone(&path, 8000, f64::from(freq), 0.3, secs);
    path
}

fn quiet(dir: &Path, secs: f64) -> PathBuf {
    let path = dir.join("quiet.wav");
    write_tone(&path, 8000, 1000.0, 0.0, secs);
    path
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn star1_mutes_and_unmutes_a_phone_for_the_others() {
    let dir = scratch("star1");
    let bridge = Bridge::start(&dir, 5800, (26000, 26099), None, &[]);
    let a = Phone::dial(
        &dir,
        "a",
        5810,
        13000,
        &tone(&dir, 440, 20.0),
        "sip:500@127.0.0.1:5800",
        11,
    );
    let b = Phone::dial(
        &dir,
        "b",
        5820,
        13100,
        &tone(&dir, 1000, 20.0),
        "sip:500@127.0.0.1:5800",
        11,
    );
    wait_for_log(&bridge, "joined role", 2, SETTLE);
    sleep(Duration::from_millis(2500));
    let muted_at = b.elapsed();
    a.keys("*1");
    sleep(Duration::from_secs(3));
    let unmuted_at = b.elapsed();
    a.keys("*1");
    let (heard, rate) = b.recording();
    let level = |from: f64, to: f64| tone_level_db(window(&heard, rate, from, to), rate, 440.0);
    let before = level(muted_at - 1.5, muted_at - 0.2);
    let during = level(muted_at + 1.0, unmuted_at - 0.2);
    let after = level(unmuted_at + 1.0, unmuted_at + 3.0);
    eprintln!("440 Hz at b: before *1 {before:.1}, muted {during:.1}, after *1 {after:.1} dBFS");
    assert!(before > -14.0, "before: {before:.1}");
    assert!(during < -50.0, "muted phone still heard: {during:.1}");
    assert!(after > -14.0, "after unmute: {after:.1}");
    assert!(bridge.log_text().contains("outcome=Muted"));
    drop(a);
}

#[test]
fn three_wrong_pins_end_the_call() {
    let dir = scratch("wrong-pin");
    let config = "[extension.500]\npin = \"1234\"\n";
    let bridge = Bridge::start(&dir, 5840, (26100, 26199), Some(config), &[]);
    let phone = Phone::dial(
        &dir,
        "p",
        5850,
        13200,
        &quiet(&dir, 40.0),
        "sip:500@127.0.0.1:5840",
        30,
    );
    wait_for_log(&bridge, "joined conference", 1, SETTLE);
    // Keys in the 2 s after a wrong PIN are ignored: wait them out, as a person would.
    for attempt in ["1111#", "2222#", "3333#"] {
        sleep(Duration::from_millis(2600));
        phone.keys(attempt);
    }
    wait_until(Duration::from_secs(15), "the bridge to hang up", || {
        phone.call_ended()
    });
    let log = bridge.log_text();
    assert!(log.contains("wrong PIN; hanging up"), "{log}");
    assert!(
        !log.contains("joined role"),
        "a wrong PIN let the caller in"
    );
}

#[test]
fn moderator_pin_grants_mute_all() {
    let dir = scratch("mute-all");
    let config = "[extension.500]\npin = \"1234\"\nmoderator_pin = \"9999\"\n";
    let bridge = Bridge::start(&dir, 5880, (26200, 26299), Some(config), &[]);
    let target = "sip:500@127.0.0.1:5880";
    let m = Phone::dial(&dir, "m", 5890, 13300, &tone(&dir, 440, 20.0), target, 12);
    let p1 = Phone::dial(&dir, "p1", 5900, 13400, &tone(&dir, 1000, 20.0), target, 12);
    let p2 = Phone::dial(&dir, "p2", 5910, 13500, &tone(&dir, 1800, 20.0), target, 12);
    wait_for_log(&bridge, "joined conference", 3, SETTLE);
    m.keys("9999#");
    p1.keys("1234#");
    p2.keys("1234#");
    wait_for_log(&bridge, "joined role", 3, SETTLE);
    assert!(bridge.log_text().contains("role=Moderator"));
    sleep(Duration::from_secs(2));
    let at = m.elapsed();
    m.keys("*91");
    let (heard, rate) = m.recording();
    for f in [1000.0, 1800.0] {
        let before = tone_level_db(window(&heard, rate, at - 1.5, at - 0.2), rate, f);
        let after = tone_level_db(window(&heard, rate, at + 1.2, at + 3.5), rate, f);
        eprintln!("moderator hears {f} Hz: {before:.1} before *91, {after:.1} after");
        assert!(before > -14.0, "{f} Hz before *91: {before:.1}");
        assert!(after < -50.0, "{f} Hz still heard after *91: {after:.1}");
    }
    drop((p1, p2));
}

#[test]
fn lock_refuses_even_a_moderator() {
    let dir = scratch("lock");
    let config = "[extension.500]\npin = \"1234\"\nmoderator_pin = \"9999\"\n";
    let bridge = Bridge::start(&dir, 5940, (26300, 26399), Some(config), &[]);
    let target = "sip:500@127.0.0.1:5940";
    let m = Phone::dial(&dir, "m", 5950, 13600, &quiet(&dir, 40.0), target, 25);
    wait_for_log(&bridge, "joined conference", 1, SETTLE);
    m.keys("9999#");
    wait_for_log(&bridge, "joined role", 1, SETTLE);
    m.keys("*92");
    wait_for_log(&bridge, "outcome=Locked", 1, SETTLE);
    let second = Phone::dial(&dir, "m2", 5960, 13700, &quiet(&dir, 40.0), target, 25);
    wait_for_log(&bridge, "joined conference", 2, SETTLE);
    // Refused before the PIN prompt; keying the moderator PIN changes nothing.
    second.keys("9999#");
    wait_until(
        Duration::from_secs(15),
        "the locked conference to hang up",
        || second.call_ended(),
    );
    let log = bridge.log_text();
    assert!(log.contains("refusal=Locked"), "{log}");
    assert_eq!(log.matches("joined role").count(), 1);
    assert!(!m.call_ended(), "the moderator inside stays");
}

#[test]
fn fourth_caller_into_max_members_three_is_refused() {
    let dir = scratch("full");
    let config = "[extension.500]\nmax_members = 3\n";
    let bridge = Bridge::start(&dir, 5980, (26400, 26499), Some(config), &[]);
    let target = "sip:500@127.0.0.1:5980";
    let quiet = quiet(&dir, 40.0);
    let phones: Vec<Phone> = (0..3u16)
        .map(|i| {
            Phone::dial(
                &dir,
                &format!("p{i}"),
                5990 + 10 * i,
                13800 + 100 * i,
                &quiet,
                target,
                20,
            )
        })
        .collect();
    wait_for_log(&bridge, "joined role", 3, SETTLE);
    let fourth = Phone::dial(&dir, "p3", 6020, 14100, &quiet, target, 20);
    wait_until(
        Duration::from_secs(15),
        "the full conference to hang up",
        || fourth.call_ended(),
    );
    let log = bridge.log_text();
    assert!(log.contains("refusal=Full"), "{log}");
    assert_eq!(log.matches("joined role").count(), 3);
    assert!(phones.iter().all(|p| !p.call_ended()));
}

#[test]
fn lone_caller_hears_music_until_a_second_joins() {
    let dir = scratch("music");
    let bridge = Bridge::start(&dir, 6040, (26500, 26599), None, &[]);
    let target = "sip:500@127.0.0.1:6040";
    let quiet = quiet(&dir, 40.0);
    let first = Phone::dial(&dir, "first", 6050, 14200, &quiet, target, 10);
    wait_for_log(&bridge, "joined role", 1, SETTLE);
    sleep(Duration::from_secs(4));
    let _second = Phone::dial(&dir, "second", 6060, 14300, &quiet, target, 10);
    wait_for_log(&bridge, "joined role", 2, SETTLE);
    let joined_at = first.elapsed();
    let (heard, rate) = first.recording();
    let alone = common::rms_db(window(&heard, rate, 1.0, joined_at - 0.5));
    let together = common::rms_db(window(&heard, rate, joined_at + 1.2, joined_at + 3.5));
    eprintln!("first caller: {alone:.1} dBFS alone, {together:.1} dBFS once the second joined");
    assert!(alone > -40.0, "no music while alone: {alone:.1}");
    assert!(together < -55.0, "music did not stop: {together:.1}");
}

#[test]
fn recorded_name_is_announced_to_the_others() {
    let dir = scratch("name");
    let config = "[extension.500]\nannounce_caller_name = true\n";
    let bridge = Bridge::start(&dir, 6080, (26600, 26699), Some(config), &[]);
    let target = "sip:500@127.0.0.1:6080";
    let first = Phone::dial(&dir, "first", 6090, 14400, &quiet(&dir, 40.0), target, 22);
    wait_for_log(&bridge, "joined role", 1, SETTLE);
    // The second caller "says" its name: 1.2 s of 1750 Hz once the beep has sounded.
    let name = dir.join("name.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&name, spec).expect("wav");
        for i in 0..8000 * 20 {
            let t = f64::from(i) / 8000.0;
            let on = (3.2..4.4).contains(&t);
            let s = if on {
                0.3 * 32767.0 * (2.0 * std::f64::consts::PI * 1750.0 * t).sin()
            } else {
                0.0
            };
            w.write_sample(s as i16).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    let dialled_at = first.elapsed();
    let _second = Phone::dial(&dir, "second", 6100, 14500, &name, target, 14);
    wait_for_log(&bridge, "joined role", 2, SETTLE);
    let joined_at = first.elapsed();
    let (heard, rate) = first.recording();
    let best = |from: f64, to: f64| {
        let mut best = f64::MIN;
        let mut t = from;
        while t + 0.4 <= to {
            best = best.max(tone_level_db(
                window(&heard, rate, t, t + 0.4),
                rate,
                1750.0,
            ));
            t += 0.1;
        }
        best
    };
    let before = best(dialled_at - 3.0, dialled_at);
    let announced = best(joined_at, joined_at + 5.0);
    eprintln!(
        "1750 Hz at the first caller: {before:.1} before, {announced:.1} dBFS when the name is announced"
    );
    assert!(announced > -25.0, "name not heard: {announced:.1}");
    assert!(
        announced > before + 20.0,
        "name not above the music: {announced:.1} vs {before:.1}"
    );
}

#[test]
fn inband_star1_mutes_a_phone_without_telephone_event_and_the_tones_are_cut() {
    let dir = scratch("inband");
    let bridge = Bridge::start(&dir, 6120, (26700, 26799), None, &[]);
    let listener = Phone::dial(
        &dir,
        "listener",
        6140,
        14600,
        &quiet(&dir, 40.0),
        "sip:500@127.0.0.1:6120",
        14,
    );
    wait_for_log(&bridge, "joined role", 1, SETTLE);
    let started = listener.elapsed();
    let (ok, out) = sipp(
        "inband_keys.xml",
        6120,
        6130,
        6300,
        &[],
        Duration::from_secs(30),
    );
    assert!(ok, "sipp failed:\n{out}");
    let log = bridge.log_text();
    assert!(
        log.contains("key digit=*") && log.contains("key digit=1"),
        "{log}"
    );
    assert!(log.contains("outcome=Muted"), "{log}");
    let (heard, rate) = listener.recording();
    let level = |from: f64, to: f64, f: f64| {
        tone_level_db(window(&heard, rate, started + from, started + to), rate, f)
    };
    let before = level(1.0, 2.8, 1000.0);
    let muted = level(4.5, 7.5, 1000.0);
    let star_low = level(2.9, 3.7, 941.0);
    let one_low = level(2.9, 3.7, 697.0);
    eprintln!(
        "listener: 1 kHz {before:.1} before, {muted:.1} after in-band *1; DTMF leak 941 Hz {star_low:.1}, 697 Hz {one_low:.1} dBFS"
    );
    assert!(before > -14.0, "before: {before:.1}");
    assert!(muted < -50.0, "in-band *1 did not mute: {muted:.1}");
    assert!(
        star_low < -35.0 && one_low < -35.0,
        "DTMF tones reached the others"
    );
}

#[test]
fn rfc4733_star1_from_sipp_mutes_it() {
    let dir = scratch("rfc4733");
    let bridge = Bridge::start(&dir, 6160, (26800, 26899), None, &[]);
    let listener = Phone::dial(
        &dir,
        "listener",
        6180,
        14700,
        &quiet(&dir, 40.0),
        "sip:500@127.0.0.1:6160",
        14,
    );
    wait_for_log(&bridge, "joined role", 1, SETTLE);
    let started = listener.elapsed();
    let (ok, out) = sipp(
        "rfc4733_keys.xml",
        6160,
        6170,
        6320,
        &[],
        Duration::from_secs(30),
    );
    assert!(ok, "sipp failed:\n{out}");
    let log = bridge.log_text();
    // Triple end packets and six updates per key still make one press each.
    assert_eq!(log.matches("key digit=*").count(), 1, "{log}");
    assert_eq!(log.matches("key digit=1").count(), 1, "{log}");
    assert!(log.contains("outcome=Muted"), "{log}");
    let (heard, rate) = listener.recording();
    let level = |from: f64, to: f64| {
        tone_level_db(
            window(&heard, rate, started + from, started + to),
            rate,
            1000.0,
        )
    };
    let before = level(1.0, 2.8);
    let muted = level(4.5, 7.0);
    eprintln!("listener: 1 kHz {before:.1} before, {muted:.1} dBFS after RFC 4733 *1");
    assert!(before > -14.0, "before: {before:.1}");
    assert!(muted < -50.0, "RFC 4733 *1 did not mute: {muted:.1}");
}
