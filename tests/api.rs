//! The REST API over HTTP against the real binary: every status code, concurrency,
//! durability across a kill -9, the bearer token, live control and events with real phones.

mod common;

use common::{Bridge, Phone, read_wav, scratch, tone_level_db, wait_for_log, write_tone};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

struct Http {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Http {
    fn new(port: u16) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Http {
            agent,
            base: format!("http://127.0.0.1:{port}"),
            token: None,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url);
        let request = match &self.token {
            Some(t) => request.header("Authorization", format!("Bearer {t}")),
            None => request,
        };
        let request = request
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .expect("request");
        let mut response = self.agent.run(request).expect("HTTP exchange");
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(50 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        (status, text)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, None)
    }

    fn put(&self, path: &str, body: &str) -> (u16, String) {
        self.call("PUT", path, Some(body.as_bytes()))
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, text) = self.call(method, path, body.map(str::as_bytes));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The status of a POST that announces `length` bytes and sends none of them.
fn status_of_announced_upload(port: u16, path: &str, length: usize) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn start(dir: &Path, sip: u16, http: u16, rtp: (u16, u16), extra: &[&str]) -> Bridge {
    let listen = format!("127.0.0.1:{http}");
    let mut args = vec!["--http-listen", listen.as_str()];
    args.extend_from_slice(extra);
    Bridge::start(dir, sip, rtp, None, &args)
}

fn wav(path: &Path, secs: f64) -> Vec<u8> {
    write_tone(path, 16_000, 440.0, 0.3, secs);
    std::fs::read(path).expect("wav")
}

const CONF: &str = "/extension/500/conference/";

#[test]
fn every_status_code_and_nothing_invalid_is_stored() {
    let dir = scratch("api-codes");
    let _bridge = start(&dir, 6200, 8800, (27100, 27199), &[]);
    let http = Http::new(8800);

    // The embedded default: extension 500 with default properties.
    let (status, body) = http.json("GET", CONF, None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        // The eight properties, and the two voice-processing ones (#15) that follow the
        // bridge's flags while null.
        json!({"announce_caller_name": false, "enter_sound": null, "max_members": null,
               "moderator_pin": null, "music_on_hold_sound": null, "mute_non_moderator": false,
               "pin": null, "record_enabled": false, "auto_gain": null,
               "noise_suppression": null})
    );
    let (status, body) = http.json("GET", "/extension/nope/conference/", None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    // Create, change a subset, reset with null.
    assert_eq!(http.put("/extension/sales/conference/", "{}").0, 201);
    let (status, body) = http.json(
        "PUT",
        CONF,
        Some(r#"{"pin": "1234", "moderator_pin": "9999", "max_members": 10}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(body["pin"], "1234");
    assert_eq!(
        body["mute_non_moderator"], false,
        "absent fields keep their value"
    );
    let good = http.json("GET", CONF, None).1;

    for (body, field) in [
        (r#"{"pin": 1234}"#, "pin"),
        (r#"{"pin": "12a"}"#, "pin"),
        (r#"{"pin": "123"}"#, "pin"),
        (r#"{"pin": "12345678901234567"}"#, "pin"),
        (r#"{"pin": null}"#, "moderator_pin"),
        (r#"{"moderator_pin": "1234"}"#, "moderator_pin"),
        (r#"{"max_members": 0}"#, "max_members"),
        (r#"{"max_members": 1001}"#, "max_members"),
        (r#"{"max_members": "5"}"#, "max_members"),
        (r#"{"enter_sound": 4242}"#, "enter_sound"),
        (r#"{"music_on_hold_sound": true}"#, "music_on_hold_sound"),
        (r#"{"record_enabled": "yes"}"#, "record_enabled"),
        (r#"{"colour": "blue"}"#, "colour"),
        ("[1, 2]", "body"),
    ] {
        let (status, error) = http.json("PUT", CONF, Some(body));
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["field"], field, "{body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(http.put(CONF, "{\"pin\": ").0, 400);
    let (status, error) = http.json("PUT", "/extension/bad.id/conference/", Some("{}"));
    assert_eq!(
        (status, error["field"].as_str()),
        (422, Some("extension_id"))
    );
    assert_eq!(
        http.json("GET", CONF, None).1,
        good,
        "nothing invalid was stored"
    );

    // Sounds.
    let (status, sound) = {
        let bytes = wav(&dir.join("s.wav"), 1.0);
        let (s, t) = http.call("POST", "/sound/?name=chime", Some(&bytes));
        (s, serde_json::from_str::<Value>(&t).unwrap_or(Value::Null))
    };
    assert_eq!(status, 201);
    let id = sound["id"].as_i64().expect("id");
    assert_eq!(sound["duration_ms"], 1000);
    assert_eq!(http.get(&format!("/sound/{id}")).0, 200);
    assert_eq!(http.get("/sound/9999").0, 404);
    assert!(http.get("/sound/").1.contains("chime"));
    let (status, error) = http.json("POST", "/sound/", Some("not a wav"));
    assert_eq!((status, error["field"].as_str()), (422, Some("body")));
    // Refused from its Content-Length alone, before the body is read: sent by hand, so the
    // client reads the answer instead of failing on the pipe the server closed meanwhile.
    let long = wav(&dir.join("long.wav"), 700.0);
    assert_eq!(
        status_of_announced_upload(8800, "/sound/", long.len()),
        413,
        "over 20 MB"
    );
    let long8k = {
        write_tone(&dir.join("long8k.wav"), 8000, 440.0, 0.3, 610.0);
        std::fs::read(dir.join("long8k.wav")).expect("wav")
    };
    assert_eq!(http.call("POST", "/sound/", Some(&[])).0, 422, "empty body");
    let (status, text) = http.call("POST", "/sound/", Some(&long8k));
    assert_eq!(status, 422, "over 600 s: {text}");
    assert!(text.contains("600 seconds"));
    assert_eq!(
        http.put(CONF, &format!(r#"{{"enter_sound": {id}}}"#)).0,
        200
    );
    let (status, error) = http.json("DELETE", &format!("/sound/{id}"), None);
    assert_eq!((status, error["error"].as_str()), (409, Some("conflict")));
    assert_eq!(http.put(CONF, r#"{"enter_sound": null}"#).0, 200);
    assert_eq!(http.call("DELETE", &format!("/sound/{id}"), None).0, 204);
    assert_eq!(http.call("DELETE", &format!("/sound/{id}"), None).0, 404);

    // Live state with nobody in.
    assert_eq!(http.json("GET", "/conference/", None), (200, json!([])));
    assert_eq!(
        http.json("GET", &format!("{CONF}members/"), None),
        (200, json!([]))
    );
    assert_eq!(http.get("/extension/nope/conference/members/").0, 404);
    // An empty conference can be locked ahead of time; the lock holds until lifted.
    assert_eq!(http.call("POST", &format!("{CONF}lock"), None).0, 204);
    let (_, live) = http.json("GET", "/conference/", None);
    assert_eq!(live[0]["locked"], true, "{live}");
    assert_eq!(http.call("POST", &format!("{CONF}unlock"), None).0, 204);
    assert_eq!(http.json("GET", "/conference/", None), (200, json!([])));
    assert_eq!(
        http.call("POST", "/extension/nope/conference/lock", None).0,
        404
    );
    assert_eq!(
        http.call("POST", &format!("{CONF}members/77/mute"), None).0,
        404
    );

    // Operations.
    let (status, metrics) = http.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("chorus_tick_duration_seconds_count"));
    let (status, spec) = http.json("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert!(spec["paths"]["/extension/{extension_id}/conference/"]["put"].is_object());
    let (status, page) = http.get("/docs/");
    assert_eq!(status, 200);
    assert!(page.contains("swagger"), "API browser page");

    // Delete.
    assert_eq!(
        http.call("DELETE", "/extension/sales/conference/", None).0,
        204
    );
    assert_eq!(
        http.call("DELETE", "/extension/sales/conference/", None).0,
        404
    );
}

#[test]
fn bearer_token_is_required_when_configured() {
    let dir = scratch("api-token");
    let _bridge = start(&dir, 6210, 8810, (27200, 27299), &["--api-token", "s3cret"]);
    let mut http = Http::new(8810);
    let (status, body) = http.json("GET", CONF, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    http.token = Some("wrong".into());
    assert_eq!(http.get(CONF).0, 401);
    http.token = Some("s3cret".into());
    assert_eq!(http.get(CONF).0, 200);
}

#[test]
fn concurrent_puts_leave_one_whole_write() {
    let dir = scratch("api-concurrent");
    let _bridge = start(&dir, 6220, 8820, (27300, 27399), &[]);
    let writers: Vec<_> = (1..=16u32)
        .map(|i| {
            std::thread::spawn(move || {
                let http = Http::new(8820);
                let body = format!(
                    r#"{{"pin": "{i}{i}{i}{i}", "moderator_pin": "{i}{i}{i}{i}0", "max_members": {i}}}"#
                );
                http.put(CONF, &body).0
            })
        })
        .collect();
    for w in writers {
        assert_eq!(w.join().expect("writer"), 200);
    }
    let (_, last) = Http::new(8820).json("GET", CONF, None);
    let i = last["max_members"].as_u64().expect("max_members");
    assert_eq!(last["pin"], format!("{i}{i}{i}{i}"), "{last}");
    assert_eq!(last["moderator_pin"], format!("{i}{i}{i}{i}0"), "{last}");
}

#[test]
fn settings_and_sounds_survive_kill_9() {
    let dir = scratch("api-restart");
    let mut bridge = start(&dir, 6230, 8830, (27400, 27499), &[]);
    let http = Http::new(8830);
    let bytes = wav(&dir.join("s.wav"), 0.5);
    let (status, text) = http.call("POST", "/sound/?name=keep", Some(&bytes));
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).expect("json")["id"]
        .as_i64()
        .expect("id");
    let body =
        format!(r#"{{"pin": "2468", "music_on_hold_sound": {id}, "announce_caller_name": true}}"#);
    assert_eq!(http.put("/extension/kept/conference/", &body).0, 201);
    let before = http.json("GET", "/extension/kept/conference/", None).1;
    bridge.kill();
    let _again = start(&dir, 6230, 8830, (27400, 27499), &[]);
    assert_eq!(
        http.json("GET", "/extension/kept/conference/", None),
        (200, before)
    );
    assert_eq!(http.get(&format!("/sound/{id}")).0, 200);
}

/// Reads `/events` in the background; each item is (event name, data).
fn subscribe(port: u16) -> mpsc::Receiver<(String, Value)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(None)
            .build()
            .into();
        let Ok(response) = agent.get(format!("http://127.0.0.1:{port}/events")).call() else {
            return;
        };
        let reader = BufReader::new(response.into_body().into_reader());
        let mut name = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let value = serde_json::from_str(data).unwrap_or(Value::Null);
                if tx.send((name.clone(), value)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn expect_event(events: &mpsc::Receiver<(String, Value)>, name: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok((n, data)) if n == name => return data,
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    panic!("no {name} event");
}

/// The next `action` event for `action`, skipping the others.
fn expect_action(events: &mpsc::Receiver<(String, Value)>, action: &str) -> Value {
    loop {
        let data = expect_event(events, "action");
        if data["action"] == action {
            return data;
        }
    }
}

/// The whole conference recorded for 3 s while the second caller plays its tone: listed
/// with the others as `conference`, a mono 16 kHz WAV holding the tone at its level.
fn conference_recording(dir: &Path, http: &Http, events: &mpsc::Receiver<(String, Value)>) {
    let start = format!("{CONF}recording/start");
    let (status, answer) = http.json("POST", &start, None);
    assert_eq!(
        (status, answer),
        (200, json!({"recording": true, "changed": true}))
    );
    // The action is said at once, the file's start when the recorder has opened it.
    assert_eq!(expect_action(events, "record")["by"], "api");
    let began = expect_event(events, "recording_started");
    assert_eq!(began["member_id"], Value::Null);
    assert_eq!(http.json("POST", &start, None).1["changed"], false);
    let (_, live) = http.json("GET", "/conference/", None);
    assert_eq!(live[0]["recording"], true, "{live}");
    std::thread::sleep(Duration::from_secs(3));
    let (status, answer) = http.json("POST", &format!("{CONF}recording/stop"), None);
    assert_eq!((status, answer["changed"].as_bool()), (200, Some(true)));
    let ended = expect_event(events, "recording_stopped");
    assert_eq!(ended["recording_id"], began["recording_id"]);
    assert_eq!(ended["reason"], "stopped");
    let id = began["recording_id"].as_str().expect("recording id");
    let (_, list) = http.json("GET", &format!("{CONF}recordings/"), None);
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|r| r["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("not listed: {list}"));
    assert_eq!(entry["kind"], "conference", "{entry}");
    assert_eq!(entry["finished"], true, "{entry}");
    assert!(
        entry["duration_ms"]
            .as_u64()
            .is_some_and(|ms| (2500..4500).contains(&ms)),
        "{entry}"
    );
    assert_eq!(http.get(&format!("{CONF}recordings/{id}")).0, 200);
    let wav = dir.join(format!("data/recordings/500/{id}.wav"));
    let spec = hound::WavReader::open(&wav).expect("wav").spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 16000));
    let (samples, rate) = read_wav(&wav);
    let level = tone_level_db(&samples, rate, 700.0);
    eprintln!("the second caller's tone in the conference recording: {level:.1} dBFS");
    assert!(level > -16.0, "{level:.1} dBFS");
}

#[test]
fn pin_set_over_rest_applies_to_the_next_caller_and_live_control_works() {
    let dir = scratch("api-live");
    let bridge = start(&dir, 6240, 8840, (27500, 27599), &[]);
    let http = Http::new(8840);
    let events = subscribe(8840);
    std::thread::sleep(Duration::from_millis(300));
    let quiet = dir.join("quiet.wav");
    write_tone(&quiet, 8000, 1000.0, 0.0, 40.0);
    let target = "sip:500@127.0.0.1:6240";
    let first = Phone::dial(&dir, "first", 6250, 15000, &quiet, target, 25);
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(20));
    let joined = expect_event(&events, "member_joined");
    assert_eq!(joined["extension_id"], "500");
    let first_id = joined["member_id"].as_u64().expect("member id");

    // The operator sets a PIN while the first caller is connected.
    assert_eq!(http.put(CONF, r#"{"pin": "4321"}"#).0, 200);
    let tone = dir.join("tone.wav");
    write_tone(&tone, 8000, 700.0, 0.3, 40.0);
    let second = Phone::dial(&dir, "second", 6260, 15100, &tone, target, 25);
    wait_for_log(&bridge, "joined conference", 2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        bridge.log_text().matches("joined role").count(),
        1,
        "entered without the new PIN"
    );
    second.keys("4321#");
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let second_id = expect_event(&events, "member_joined")["member_id"]
        .as_u64()
        .expect("id");

    let (status, members) = http.json("GET", &format!("{CONF}members/"), None);
    assert_eq!(status, 200);
    let members = members.as_array().expect("array").clone();
    assert_eq!(members.len(), 2);
    for m in &members {
        assert_eq!(m["role"], "participant");
        assert_eq!(m["codec"], "PCMU");
        assert_eq!(m["invited"], false);
        assert!(m["caller"].as_str().is_some_and(|c| c.starts_with("sip:")));
        assert!(m["joined_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    let (_, live) = http.json("GET", "/conference/", None);
    assert_eq!(
        live,
        json!([{"extension_id": "500", "members": 2, "locked": false, "temporary": false, "recording": false}])
    );

    assert_eq!(
        http.call("POST", &format!("{CONF}members/{second_id}/mute"), None)
            .0,
        204
    );
    assert_eq!(expect_event(&events, "muted")["member_id"], second_id);
    assert_eq!(
        http.call("POST", &format!("{CONF}members/{second_id}/unmute"), None)
            .0,
        204
    );
    expect_event(&events, "unmuted");
    assert_eq!(http.call("POST", &format!("{CONF}lock"), None).0, 204);
    expect_event(&events, "locked");
    assert_eq!(http.call("POST", &format!("{CONF}unlock"), None).0, 204);
    expect_event(&events, "unlocked");
    // Turning mute_non_moderator on mutes the participants already in.
    assert_eq!(http.put(CONF, r#"{"mute_non_moderator": true}"#).0, 200);
    let mut muted = vec![
        expect_event(&events, "muted")["member_id"].as_u64(),
        expect_event(&events, "muted")["member_id"].as_u64(),
    ];
    muted.sort();
    let mut both = vec![Some(first_id), Some(second_id)];
    both.sort();
    assert_eq!(muted, both);
    let (_, members) = http.json("GET", &format!("{CONF}members/"), None);
    assert!(
        members
            .as_array()
            .expect("array")
            .iter()
            .all(|m| m["muted"] == true)
    );
    // Everyone at once, as *90 and *91 do; each change names who asked for it.
    let (status, changed) = http.json("POST", &format!("{CONF}unmute-all"), None);
    assert_eq!(
        (status, changed["members_changed"].as_u64()),
        (200, Some(2))
    );
    let action = expect_action(&events, "unmute_all");
    assert_eq!(action["by"], "api");
    conference_recording(&dir, &http, &events);
    let (status, changed) = http.json("POST", &format!("{CONF}mute-all"), None);
    assert_eq!(
        (status, changed["members_changed"].as_u64()),
        (200, Some(2))
    );
    expect_action(&events, "mute_all");
    assert_eq!(
        http.json("POST", "/extension/nope/conference/mute-all", None)
            .0,
        404
    );
    // A stored sound played to everyone, then to one member; each play says when it ends.
    let bytes = wav(&dir.join("bell.wav"), 0.5);
    let (status, text) = http.call("POST", "/sound/?name=bell", Some(&bytes));
    assert_eq!(status, 201, "{text}");
    let bell = serde_json::from_str::<Value>(&text).expect("json")["id"].clone();
    let body = json!({ "sound": bell }).to_string();
    let (status, playing) = http.json("POST", &format!("{CONF}play"), Some(&body));
    assert_eq!(status, 202, "{playing}");
    let finished = expect_event(&events, "play_finished");
    assert_eq!(finished["play_id"], playing["play_id"]);
    assert_eq!(finished["member_id"], Value::Null);
    let one = format!("{CONF}members/{second_id}/play");
    let (status, playing) = http.json("POST", &one, Some(&body));
    assert_eq!(status, 202, "{playing}");
    let finished = expect_event(&events, "play_finished");
    assert_eq!(
        (&finished["play_id"], finished["member_id"].as_u64()),
        (&playing["play_id"], Some(second_id))
    );
    let (status, error) = http.json("POST", &one, Some(r#"{"sound": 999999}"#));
    assert_eq!((status, error["field"].as_str()), (422, Some("sound")));
    let missing = format!("{CONF}members/999999/play");
    assert_eq!(http.json("POST", &missing, Some(&body)).0, 404);

    let (_, metrics) = http.get("/metrics");
    assert!(metrics.contains("chorus_members 2"), "{metrics}");
    assert!(
        metrics.contains("chorus_calls_total{outcome=\"answered\"} 2"),
        "{metrics}"
    );

    assert_eq!(
        http.call("POST", &format!("{CONF}members/{first_id}/kick"), None)
            .0,
        204
    );
    let left = expect_event(&events, "member_left");
    assert_eq!(
        (left["member_id"].as_u64(), left["reason"].as_str()),
        (Some(first_id), Some("kicked"))
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !first.call_ended() {
        assert!(
            std::time::Instant::now() < deadline,
            "kicked phone still in the call"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Deleting the extension says goodbye to whoever is left.
    assert_eq!(http.call("DELETE", CONF, None).0, 204);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !second.call_ended() {
        assert!(
            std::time::Instant::now() < deadline,
            "deleted conference still running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An operator moves a caller from one conference into another (most likely mixed on
/// another thread): no new call, the two then hear each other; the refusals name why.
#[test]
fn an_operator_moves_a_member_into_another_conference_without_a_new_call() {
    let dir = scratch("api-move");
    // Two mixing threads: each conference gets its own, so the move crosses threads.
    let bridge = start(&dir, 6270, 8870, (27600, 27699), &["--media-threads", "2"]);
    let http = Http::new(8870);
    let events = subscribe(8870);
    let other = "/extension/501/conference/";
    let (status, text) = http.put(other, "{}");
    assert!(status == 200 || status == 201, "{status} {text}");
    std::thread::sleep(Duration::from_millis(300));
    let (low, high) = (dir.join("low.wav"), dir.join("high.wav"));
    write_tone(&low, 8000, 500.0, 0.3, 40.0);
    write_tone(&high, 8000, 900.0, 0.3, 40.0);
    let a = Phone::dial(&dir, "a", 6280, 15200, &low, "sip:500@127.0.0.1:6270", 12);
    let b = Phone::dial(&dir, "b", 6290, 15300, &high, "sip:501@127.0.0.1:6270", 12);
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let member = |path: &str| {
        let (_, list) = http.json("GET", &format!("{path}members/"), None);
        list[0]["id"].as_u64().expect("a member")
    };
    let (a_id, b_id) = (member(CONF), member(other));
    let to_500 = r#"{"to": "500"}"#;
    let moving = |path: &str, id: u64, body: &str| {
        http.json("POST", &format!("{path}members/{id}/move"), Some(body))
    };

    let (status, error) = moving(CONF, a_id, to_500);
    assert_eq!(
        (status, error["field"].as_str()),
        (422, Some("to")),
        "{error}"
    );
    let (status, error) = moving(other, b_id, r#"{"to": "nope"}"#);
    assert_eq!(
        (status, error["field"].as_str()),
        (422, Some("to")),
        "{error}"
    );
    assert_eq!(moving(other, 999_999, to_500).0, 404);
    assert_eq!(http.call("POST", &format!("{CONF}lock"), None).0, 204);
    assert_eq!(moving(other, b_id, to_500).0, 409, "locked");
    assert_eq!(http.call("POST", &format!("{CONF}unlock"), None).0, 204);

    assert_eq!(moving(other, b_id, to_500).0, 204);
    let action = expect_action(&events, "move");
    assert_eq!(
        (
            action["extension_id"].as_str(),
            action["member_id"].as_u64()
        ),
        (Some("501"), Some(b_id))
    );
    let left = expect_event(&events, "member_left");
    assert_eq!(
        (left["reason"].as_str(), left["member_id"].as_u64()),
        (Some("moved"), Some(b_id))
    );
    let joined = expect_event(&events, "member_joined");
    assert_eq!(
        (
            joined["extension_id"].as_str(),
            joined["member_id"].as_u64()
        ),
        (Some("500"), Some(b_id))
    );
    let (_, live) = http.json("GET", "/conference/", None);
    assert_eq!(live.as_array().map(Vec::len), Some(1), "{live}");
    assert_eq!(live[0]["members"], 2, "{live}");
    let log = bridge.log_text();
    assert_eq!(log.matches("incoming call").count(), 2, "no new call");
    assert!(log.contains("leg handed to another mixing thread"), "{log}");

    // Well after the move, each hears the other's tone.
    let (heard_by_a, rate_a) = a.recording();
    let (heard_by_b, rate_b) = b.recording();
    let a_hears = tone_level_db(
        common::window(&heard_by_a, rate_a, 7.0, 11.0),
        rate_a,
        900.0,
    );
    let b_hears = tone_level_db(
        common::window(&heard_by_b, rate_b, 7.0, 11.0),
        rate_b,
        500.0,
    );
    eprintln!("after the move: a hears b at {a_hears:.1} dBFS, b hears a at {b_hears:.1} dBFS");
    assert!(
        a_hears > -16.0 && b_hears > -16.0,
        "{a_hears:.1} {b_hears:.1}"
    );
}
