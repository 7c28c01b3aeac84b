//! `*8` with real phones: a baresip caller invites an external number (another baresip
//! that answers by itself); they hear each other, and with record_enabled the invited leg
//! is recorded in stereo.

mod common;

use common::{
    Bridge, Phone, read_wav_channel, scratch, tone_level_db, wait_for_log, window, write_tone,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn star8_brings_in_a_number_that_hears_and_is_heard_and_is_recorded() {
    let dir = scratch("dialout");
    let config = "[extension.500]\nrecord_enabled = true\n";
    let bridge = Bridge::start(
        &dir,
        6400,
        (27800, 27899),
        Some(config),
        &["--dialout-uri", "sip:{number}@127.0.0.1:6420"],
    );
    let tone = |f: u32| {
        let path = dir.join(format!("tone-{f}.wav"));
        write_tone(&path, 8000, f64::from(f), 0.3, 40.0);
        path
    };
    let callee = Phone::answering(&dir, "7001", 6420, 15400, &tone(1000), 16);
    let inviter = Phone::dial(
        &dir,
        "inviter",
        6410,
        15300,
        &tone(440),
        "sip:500@127.0.0.1:6400",
        18,
    );
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    inviter.keys("*8");
    std::thread::sleep(Duration::from_millis(1500));
    inviter.keys("7001#");
    wait_for_log(
        &bridge,
        "invited number answered",
        1,
        Duration::from_secs(20),
    );
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let inviter_at = inviter.elapsed();
    let callee_at = callee.elapsed();

    // The invited party keys *8 itself: refused (no toll fraud through a dialled leg).
    std::thread::sleep(Duration::from_secs(8));
    callee.keys("*8");
    std::thread::sleep(Duration::from_millis(1500));
    callee.keys("7002#");
    wait_for_log(
        &bridge,
        "outcome=refused_invited_party",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(bridge.log_text().matches("outcome=dialing").count(), 1);

    let (heard, rate) = inviter.recording();
    let inviter_hears = tone_level_db(
        window(&heard, rate, inviter_at + 1.5, inviter_at + 6.0),
        rate,
        1000.0,
    );
    let (heard, rate) = callee.recording();
    let callee_hears = tone_level_db(
        window(&heard, rate, callee_at + 2.5, callee_at + 7.0),
        rate,
        440.0,
    );
    eprintln!(
        "inviter hears the number at {inviter_hears:.1} dBFS; the number hears the inviter at {callee_hears:.1} dBFS"
    );
    assert!(
        inviter_hears > -15.0,
        "inviter does not hear the invited number"
    );
    assert!(
        callee_hears > -15.0,
        "invited number does not hear the inviter"
    );

    // The number hung up: its recording is finished, with a sidecar.
    let folder = dir.join("data/recordings/500");
    let deadline = Instant::now() + Duration::from_secs(15);
    let sidecar: PathBuf = loop {
        let found = std::fs::read_dir(&folder).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json"))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no finished recording in {}",
            folder.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).expect("sidecar")).expect("json");
    assert_eq!(meta["extension_id"], "500");
    assert_eq!(meta["number"], "sip:7001@127.0.0.1:6420");
    assert!(
        meta["duration_ms"].as_u64().is_some_and(|d| d > 5000),
        "{meta}"
    );
    let wav = sidecar.with_extension("wav");
    let (said, rate) = read_wav_channel(&wav, 0);
    let (heard, _) = read_wav_channel(&wav, 1);
    let left = tone_level_db(window(&said, rate, 3.0, 7.0), rate, 1000.0);
    let right = tone_level_db(window(&heard, rate, 3.0, 7.0), rate, 440.0);
    let left_leak = tone_level_db(window(&said, rate, 3.0, 7.0), rate, 440.0);
    eprintln!(
        "recording: left (said) 1000 Hz {left:.1}, right (heard) 440 Hz {right:.1}, left 440 Hz {left_leak:.1} dBFS"
    );
    assert!(
        left > -15.0 && right > -15.0,
        "recording channels: {left:.1} / {right:.1}"
    );
    assert!(
        left_leak < -40.0,
        "the left channel is only the invited party"
    );
}

/// An operator dials a number in over REST (`POST …/members/`): the `*8` path with no
/// inviter. The answered number is a member, heard by the one already in.
#[test]
fn an_operator_dials_a_number_into_the_conference() {
    let dir = scratch("dialout-api");
    let bridge = Bridge::start(
        &dir,
        6430,
        (28200, 28299),
        None,
        &["--dialout-uri", "sip:{number}@127.0.0.1:6450"],
    );
    let tone = |f: u32| {
        let path = dir.join(format!("tone-{f}.wav"));
        write_tone(&path, 8000, f64::from(f), 0.3, 30.0);
        path
    };
    let callee = Phone::answering(&dir, "7001", 6450, 16100, &tone(1000), 12);
    let member = Phone::dial(
        &dir,
        "member",
        6440,
        16200,
        &tone(440),
        "sip:500@127.0.0.1:6430",
        14,
    );
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    let port = bridge.http_port();
    let path = "/extension/500/conference/members/";
    let (status, error) = common::http(port, "POST", path, r#"{"number": "70x1"}"#);
    assert_eq!((status, error["field"].as_str()), (422, Some("number")));
    let (status, dialled) = common::http(port, "POST", path, r#"{"number": "7001"}"#);
    assert_eq!(status, 202, "{dialled}");
    let id = dialled["member_id"].as_u64().expect("member id");
    wait_for_log(
        &bridge,
        "invited number answered",
        1,
        Duration::from_secs(20),
    );
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let joined_at = member.elapsed();
    let (_, members) = common::http(port, "GET", path, "");
    assert!(
        members
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["id"] == id && m["invited"] == true)),
        "{members}"
    );
    let (heard, rate) = member.recording();
    let hears = tone_level_db(
        window(&heard, rate, joined_at + 1.0, joined_at + 5.0),
        rate,
        1000.0,
    );
    eprintln!("the member hears the dialled number at {hears:.1} dBFS");
    assert!(hears > -15.0, "the member does not hear the dialled number");
    drop(callee);
}

/// A sipp trunk, killed if the test ends before it does.
type Trunk = common::SippUas;

/// Starts a sipp UAS scenario from tests/sipp/uas on 127.0.0.1:`port`.
fn trunk(
    dir: &std::path::Path,
    scenario: &str,
    port: u16,
    media_port: u16,
    extra: &[&str],
) -> Trunk {
    Trunk::start(dir, "trunk.log", scenario, port, media_port, extra)
}

/// One inviter keys `*8 7001#` against a trunk scenario; returns the bridge to inspect.
fn invite_against(
    name: &str,
    sip: u16,
    scenario: &str,
    extra: &[&str],
    bridge_args: &[&str],
) -> (Bridge, Trunk, Phone) {
    let dir = scratch(name);
    let trunk_port = sip + 20;
    let uri = format!("sip:{{number}}@127.0.0.1:{trunk_port}");
    let mut args = vec!["--dialout-uri", uri.as_str()];
    args.extend_from_slice(bridge_args);
    let bridge = Bridge::start(&dir, sip, (sip * 5, sip * 5 + 99), None, &args);
    std::fs::copy(
        common::repo_root().join("fixtures/audio/tone-1000hz.ulaw"),
        dir.join("tone-1000hz.ulaw"),
    )
    .expect("copy the trunk's announcement");
    let trunk = trunk(&dir, scenario, trunk_port, sip + 1000, extra);
    let quiet = dir.join("quiet.wav");
    write_tone(&quiet, 8000, 440.0, 0.0, 40.0);
    let inviter = Phone::dial(
        &dir,
        "inviter",
        sip + 10,
        sip * 3,
        &quiet,
        &format!("sip:500@127.0.0.1:{sip}"),
        20,
    );
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    inviter.keys("*8");
    std::thread::sleep(Duration::from_millis(800));
    inviter.keys("7001#");
    (bridge, trunk, inviter)
}

fn finished(trunk: Trunk) -> bool {
    trunk.finished()
}

#[test]
fn busy_and_unknown_numbers_are_reported_to_the_inviter() {
    for (name, sip, code) in [("busy", 6500u16, "486"), ("notfound", 6540, "404")] {
        let scenario = if code == "486" {
            "busy.xml"
        } else {
            "not_found.xml"
        };
        let (bridge, trunk, _inviter) = invite_against(name, sip, scenario, &[], &[]);
        assert!(finished(trunk), "the trunk saw INVITE and ACK for {code}");
        wait_for_log(&bridge, &format!("code={code}"), 1, Duration::from_secs(10));
        assert_eq!(bridge.log_text().matches("joined role").count(), 1);
    }
}

#[test]
fn unanswered_number_is_cancelled_after_the_ring_timeout() {
    let (bridge, trunk, _inviter) = invite_against(
        "noanswer",
        6580,
        "no_answer.xml",
        &[],
        &["--dialout-ring-timeout", "3"],
    );
    assert!(finished(trunk), "the trunk saw INVITE, CANCEL and ACK");
    let log = bridge.log_text();
    assert!(log.contains("did not answer in time; cancelling"), "{log}");
    assert!(log.contains("code=487"), "{log}");
}

#[test]
fn challenges_get_an_authenticated_call() {
    // 407 (credentials checked by pattern) and 401 (checked by sipp's own digest).
    for (name, sip, scenario) in [
        ("auth407", 6620u16, "auth.xml"),
        ("auth401", 6660, "auth401.xml"),
    ] {
        let (mut bridge, trunk, _inviter) = invite_against(
            name,
            sip,
            scenario,
            &[],
            &[
                "--dialout-username",
                "bridge",
                "--dialout-password",
                "secret",
            ],
        );
        wait_for_log(
            &bridge,
            "invited number answered",
            1,
            Duration::from_secs(20),
        );
        wait_for_log(&bridge, "joined role", 2, Duration::from_secs(10));
        // Stopping the bridge hangs up both; the trunk takes the BYE.
        assert!(bridge.terminate().is_some_and(|s| s.success()));
        assert!(
            finished(trunk),
            "the trunk verified the credentials and took the BYE"
        );
    }
}

#[test]
fn early_media_from_the_number_reaches_the_inviter() {
    let (bridge, trunk, inviter) = invite_against("early", 6700, "early_media.xml", &[], &[]);
    wait_for_log(
        &bridge,
        "early media from the invited number",
        1,
        Duration::from_secs(20),
    );
    let early_at = inviter.elapsed();
    assert!(
        finished(trunk),
        "the trunk sent 183, its announcement, 486, and got the ACK"
    );
    wait_for_log(&bridge, "code=486", 1, Duration::from_secs(10));
    let (heard, rate) = inviter.recording();
    let announcement = tone_level_db(
        window(&heard, rate, early_at + 0.5, early_at + 3.0),
        rate,
        1000.0,
    );
    eprintln!("inviter hears the number's early media at {announcement:.1} dBFS");
    assert!(
        announcement > -20.0,
        "early media not heard: {announcement:.1}"
    );
}

#[test]
fn recording_cut_short_by_kill_9_is_still_playable() {
    let dir = scratch("dialout-crash");
    let config = "[extension.500]\nrecord_enabled = true\n";
    let mut bridge = Bridge::start(
        &dir,
        6740,
        (28000, 28099),
        Some(config),
        &[
            "--dialout-uri",
            "sip:{number}@127.0.0.1:6760",
            "--record-announcement",
            "false",
        ],
    );
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, 1000.0, 0.3, 40.0);
    let _callee = Phone::answering(&dir, "7002", 6760, 15800, &tone, 20);
    let inviter = Phone::dial(
        &dir,
        "inviter",
        6750,
        15700,
        &tone,
        "sip:500@127.0.0.1:6740",
        20,
    );
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    inviter.keys("*87002#");
    wait_for_log(&bridge, "recording started", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(4500));
    bridge.kill();
    let folder = dir.join("data/recordings/500");
    let wav = std::fs::read_dir(&folder)
        .expect("recordings")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wav"))
        .expect("a recording");
    assert!(
        !wav.with_extension("json").exists(),
        "no sidecar: the bridge died mid-call"
    );
    let reader = hound::WavReader::open(&wav).expect("the cut-short file is a valid WAV");
    let seconds = f64::from(reader.duration()) / 8000.0;
    eprintln!("after kill -9 the recording holds {seconds:.1} s");
    assert!(seconds >= 3.0, "only {seconds:.1} s survived");
}

#[test]
fn unwritable_recordings_stop_the_recording_not_the_call() {
    let dir = scratch("dialout-unwritable");
    // A file where the recordings directory should be: nothing can be written there.
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    std::fs::write(dir.join("data/recordings"), b"not a directory").expect("blocker");
    let config = "[extension.500]\nrecord_enabled = true\n";
    let bridge = Bridge::start(
        &dir,
        6780,
        (28100, 28199),
        Some(config),
        &["--dialout-uri", "sip:{number}@127.0.0.1:6800"],
    );
    let tone = |f: u32| {
        let path = dir.join(format!("tone-{f}.wav"));
        write_tone(&path, 8000, f64::from(f), 0.3, 40.0);
        path
    };
    let _callee = Phone::answering(&dir, "7003", 6800, 16000, &tone(1000), 14);
    let inviter = Phone::dial(
        &dir,
        "inviter",
        6790,
        15900,
        &tone(440),
        "sip:500@127.0.0.1:6780",
        14,
    );
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    inviter.keys("*87003#");
    wait_for_log(
        &bridge,
        "recording not started; the call goes on",
        1,
        Duration::from_secs(20),
    );
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(10));
    let joined_at = inviter.elapsed();
    let (heard, rate) = inviter.recording();
    let level = tone_level_db(
        window(&heard, rate, joined_at + 2.0, joined_at + 5.0),
        rate,
        1000.0,
    );
    eprintln!("without recordings the inviter still hears the number at {level:.1} dBFS");
    assert!(level > -15.0, "the call did not go on: {level:.1}");
}
