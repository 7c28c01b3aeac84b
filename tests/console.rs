//! The operator console in a real browser: headless Chromium (Debian's) driven by
//! Playwright (`tests/console/drive.py`), against a bridge with an API token and real
//! baresip phones.

mod common;

use common::{Bridge, Phone, scratch, tone_level_db, wait_for_log, window, write_tone};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "console-token";

/// A JSON answer of the API, asked with the token.
fn api(port: u16, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn an_operator_runs_a_conference_from_the_console() {
    common::require("python3", "python3");
    common::require("chromium", "chromium");
    let dir = scratch("console");
    let http = 8950;
    let listen = format!("127.0.0.1:{http}");
    let bridge = Bridge::start(
        &dir,
        6950,
        (29500, 29599),
        None,
        &["--http-listen", &listen, "--api-token", TOKEN],
    );
    let target = "sip:500@127.0.0.1:6950";
    let silence = dir.join("silence.wav");
    write_tone(&silence, 8000, 1000.0, 0.0, 40.0);
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, 700.0, 0.3, 40.0);
    let bell = dir.join("bell.wav");
    write_tone(&bell, 16000, 880.0, 0.3, 0.5);

    // The phone that listens, in before the page opens.
    let listener = Phone::dial(&dir, "listener", 6960, 16300, &silence, target, 25);
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    let listening_since = Instant::now();

    let mut driver = Command::new("python3")
        .arg(common::repo_root().join("tests/console/drive.py"))
        .arg(format!("http://127.0.0.1:{http}"))
        .arg(TOKEN)
        .arg(&bell)
        // CHORUS_CONSOLE_SCREENSHOT=docs/console.png: the README's picture, taken here.
        .args(std::env::var_os("CHORUS_CONSOLE_SCREENSHOT"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Playwright driver");
    let mut to_driver = driver.stdin.take().expect("stdin");
    let from_driver = driver.stdout.take().expect("stdout");
    let (said, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from_driver).lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let mut driver_says = |expected: &str, limit: u64| -> String {
        match lines.recv_timeout(Duration::from_secs(limit)) {
            Ok(line) if line.starts_with(expected) => line,
            other => {
                let _ = driver.kill();
                let mut errors = String::new();
                if let Some(mut e) = driver.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut errors);
                }
                panic!("waiting for {expected}: {other:?}\n{errors}");
            }
        }
    };
    driver_says("READY", 90);

    // The talker dials in while the page is open.
    let talker = Phone::dial(&dir, "talker", 6970, 16400, &tone, target, 20);
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let talking_since = Instant::now();
    let members = api(http, "/extension/500/conference/members/");
    let id = members
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["caller"].as_str().is_some_and(|c| c.contains(":6970")))
        })
        .and_then(|m| m["id"].as_u64())
        .unwrap_or_else(|| panic!("the talker is a member: {members}"));
    writeln!(to_driver, "JOINED {id}").expect("tell the driver");
    let seen = driver_says("SEEN", 10);
    eprintln!(
        "the page showed the new member {} s after it joined",
        &seen[5..]
    );
    driver_says("MUTED", 15);
    let muted_at = Instant::now();
    driver_says("SETTINGS", 60);
    driver_says("DONE", 30);
    drop(to_driver);
    assert!(
        common::wait_bounded(&mut driver, Duration::from_secs(30)).is_some_and(|s| s.success()),
        "the driver failed"
    );

    // The uploaded sound is the entry sound now.
    let settings = api(http, "/extension/500/conference/");
    let sounds = api(http, "/sound/");
    let bell_id = sounds
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "bell"))
        .map(|s| s["id"].clone())
        .unwrap_or_else(|| panic!("uploaded: {sounds}"));
    assert_eq!(settings["enter_sound"], bell_id, "{settings}");
    // The form's refused change changed nothing.
    assert_eq!(settings["moderator_pin"], serde_json::Value::Null);

    // The listener heard the talker until the click, and nothing of it after.
    drop(talker);
    let (heard, rate) = listener.recording();
    let at = |t: Instant| t.duration_since(listening_since).as_secs_f64();
    let before = tone_level_db(
        window(&heard, rate, at(talking_since) + 1.5, at(muted_at) - 0.5),
        rate,
        700.0,
    );
    let after = tone_level_db(
        window(&heard, rate, at(muted_at) + 0.5, at(muted_at) + 3.0),
        rate,
        700.0,
    );
    eprintln!("the listener heard the talker at {before:.1} dBFS, then {after:.1} dBFS");
    assert!(before > -20.0, "{before:.1}");
    assert!(after < -45.0, "{after:.1}");
}
