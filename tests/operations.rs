//! The bridge as an operator meets it: probes, tokens, metrics that promtool accepts,
//! events that can be replayed, logs that keep secrets, the systemd unit and the sample
//! configuration.

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use common::{Bridge, repo_root, require, scratch, wait_for_log};
use rawsip::{Outcome, RawCall};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One HTTP exchange: status and body.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    http_with(port, method, path, headers, "")
}

/// One HTTP exchange with a body.
fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(body.as_bytes().to_vec()).expect("request");
    let mut response = agent.run(request).expect("HTTP exchange");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

/// One SSE event as it came: id, name, data.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    name: String,
    data: serde_json::Value,
}

/// Reads `/events` in the background, sending each event as it arrives.
fn subscribe(port: u16, headers: Vec<(String, String)>) -> mpsc::Receiver<Sse> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(None)
            .build()
            .into();
        let mut request = agent.get(format!("http://127.0.0.1:{port}/events"));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let Ok(response) = request.call() else {
            return;
        };
        let reader = BufReader::new(response.into_body().into_reader());
        let (mut id, mut name) = (None, String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                let data = serde_json::from_str(v).unwrap_or(serde_json::Value::Null);
                if tx
                    .send(Sse {
                        id,
                        name: name.clone(),
                        data,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

/// Events received within `limit`.
fn collect(events: &mpsc::Receiver<Sse>, limit: Duration) -> Vec<Sse> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event) => out.push(event),
            Err(_) => break,
        }
    }
    out
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn metrics_pass_promtool_and_each_call_is_counted_once() {
    require("promtool", "prometheus");
    let dir = scratch("ops-metrics");
    let bridge = Bridge::start(&dir, 8200, (31700, 31799), None, &[]);
    let port = bridge.http_port();
    // Lock the empty conference ahead of time; the caller is answered, then refused.
    assert_eq!(
        http(port, "POST", "/extension/500/conference/lock", &[]).0,
        204
    );
    let Outcome::Answered(mut caller) = RawCall::dial(LOCAL, 8200, "500", 31750) else {
        panic!("answered, then told the conference is locked");
    };
    wait_for_log(&bridge, "refusal=Locked", 1, Duration::from_secs(5));
    assert!(
        caller.wait_for_bye(Duration::from_secs(15)),
        "hung up after the prompt"
    );
    let (status, body) = http(port, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    for (series, value) in [
        ("chorus_calls_total{outcome=\"answered\"}", 1.0),
        ("chorus_calls_total{outcome=\"rejected\"}", 0.0),
        ("chorus_entries_refused_total{reason=\"locked\"}", 1.0),
        ("chorus_entries_refused_total{reason=\"full\"}", 0.0),
        ("chorus_guard_events_total{event=\"shed\"}", 0.0),
        (
            "chorus_sip_requests_total{direction=\"in\",method=\"INVITE\"}",
            1.0,
        ),
        ("chorus_ready", 1.0),
        (
            "chorus_http_requests_total{route=\"/extension/{extension_id}/conference/lock\",code=\"204\"}",
            1.0,
        ),
    ] {
        assert_eq!(metric(&body, series), Some(value), "{series} in:\n{body}");
    }
    assert!(metric(&body, "process_open_fds").is_some_and(|v| v > 5.0));
    assert!(body.contains("chorus_build_info{version="));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = promtool.wait_with_output().expect("promtool output");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenMetrics for scrapers that ask for it.
    let (_, open) = http(
        port,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(open.ends_with("# EOF\n"));
}

#[test]
fn probes_and_the_document_are_open_the_api_is_not_and_the_token_stays_off_the_command_line() {
    let dir = scratch("ops-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "t0ken-from-a-file\n").expect("token");
    let token_path = token_file.to_string_lossy().into_owned();
    let bridge = Bridge::start(
        &dir,
        8210,
        (31800, 31899),
        None,
        &["--api-token-file", &token_path],
    );
    let port = bridge.http_port();
    for path in ["/health", "/ready", "/openapi.json", "/docs/"] {
        assert_eq!(
            http(port, "GET", path, &[]).0,
            200,
            "{path} without a token"
        );
    }
    assert_eq!(http(port, "GET", "/ready", &[]).1, r#"{"status":"ok"}"#);
    assert_eq!(http(port, "GET", "/conference/", &[]).0, 401);
    let bearer = [("Authorization", "Bearer t0ken-from-a-file")];
    assert_eq!(http(port, "GET", "/conference/", &bearer).0, 200);
    let cmdline =
        std::fs::read(format!("/proc/{}/cmdline", bridge.pid().expect("pid"))).expect("cmdline");
    assert!(!String::from_utf8_lossy(&cmdline).contains("t0ken"));
    drop(bridge);

    // From the environment, with the document protected too.
    let dir = scratch("ops-token-env");
    let bridge = Bridge::start_with(
        &dir,
        8220,
        (31900, 31999),
        None,
        &["--protect-docs", "true"],
        None,
        &[("CHORUS_API_TOKEN", "t0ken-from-env")],
    );
    let port = bridge.http_port();
    assert_eq!(http(port, "GET", "/health", &[]).0, 200);
    assert_eq!(http(port, "GET", "/openapi.json", &[]).0, 401);
    let bearer = [("Authorization", "Bearer t0ken-from-env")];
    assert_eq!(http(port, "GET", "/openapi.json", &bearer).0, 200);
}

#[test]
fn pins_never_reach_the_log_or_the_events_and_events_replay_from_their_id() {
    let dir = scratch("ops-secrets");
    let config = "[extension.600]\npin = \"73195\"\nmoderator_pin = \"82046\"\n";
    let bridge = Bridge::start(&dir, 8230, (32000, 32099), Some(config), &[]);
    let port = bridge.http_port();
    let events = subscribe(port, Vec::new());
    std::thread::sleep(Duration::from_millis(300));
    let Outcome::Answered(mut guesser) = RawCall::dial(LOCAL, 8230, "600", 32050) else {
        panic!("answered");
    };
    assert!(guesser.keys("11111#"));
    std::thread::sleep(Duration::from_millis(2500));
    assert!(guesser.keys("73195#"));
    let Outcome::Answered(mut moderator) = RawCall::dial(LOCAL, 8230, "600", 32052) else {
        panic!("answered");
    };
    assert!(moderator.keys("82046#"));
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(10));
    assert_eq!(moderator.request("BYE", None), Some(200));
    assert_eq!(guesser.request("BYE", None), Some(200));
    wait_for_log(&bridge, "call summary", 2, Duration::from_secs(5));
    let seen = collect(&events, Duration::from_secs(2));
    let names: Vec<&str> = seen.iter().map(|e| e.name.as_str()).collect();
    for name in ["wrong_pin", "member_joined", "member_left", "call_ended"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let ids: Vec<u64> = seen.iter().filter_map(|e| e.id).collect();
    assert_eq!(ids.len(), seen.len(), "every event has an id");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(seen.iter().all(|e| e.data["timestamp"].is_string()));
    let ended = seen
        .iter()
        .find(|e| e.name == "call_ended")
        .expect("call_ended");
    assert_eq!(ended.data["reason"], "remote_bye");
    assert_eq!(ended.data["codec"], "pcmu");

    // Secrets: neither PIN anywhere in the log or the events.
    let log = bridge.log_text();
    let all_events = seen
        .iter()
        .map(|e| e.data.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for pin in ["73195", "82046"] {
        assert!(!log.contains(pin), "{pin} in the log:\n{log}");
        assert!(!all_events.contains(pin), "{pin} in the events");
    }
    assert!(log.contains("call summary"), "{log}");
    let summary = log
        .lines()
        .find(|l| l.contains("call summary"))
        .expect("summary");
    for field in [
        "call_id=",
        "caller=",
        "extension=600",
        "codec=pcmu",
        "duration_s=",
        "reason=remote_bye",
        "received=",
    ] {
        assert!(summary.contains(field), "{field} in {summary}");
    }

    // A client that reconnects with the id it saw last misses nothing still kept.
    let first = ids[0];
    let replay = subscribe(port, vec![("Last-Event-ID".into(), first.to_string())]);
    let again = collect(&replay, Duration::from_secs(2));
    let replayed: Vec<u64> = again.iter().filter_map(|e| e.id).collect();
    assert_eq!(replayed, ids[1..].to_vec());
}

#[test]
fn the_systemd_unit_verifies_and_the_sample_config_runs() {
    require("systemd-analyze", "systemd");
    let dir = scratch("ops-deploy");
    let unit = std::fs::read_to_string(repo_root().join("deploy/chorus.service")).expect("unit");
    // Verified as installed: the binary where ExecStart says it is.
    let unit = unit.replace("/usr/local/bin/chorus", env!("CARGO_BIN_EXE_chorus"));
    let path = dir.join("chorus.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    // The sample configuration, every value uncommented, starts a bridge.
    let sample = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .arg("--print-config")
        .output()
        .expect("print-config");
    assert!(sample.status.success());
    let text = String::from_utf8_lossy(&sample.stdout).into_owned();
    assert!(text.contains("# media_timeout = 30"), "{text}");
    let live: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(setting) if setting.contains(" = ") && !setting.ends_with(" = ") => setting,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("127.0.0.1:5060", "127.0.0.1:8240")
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("\"20000-29999\"", "\"32100-32199\"")
        .replace(
            "\"./data\"",
            &format!("{:?}", dir.join("data").to_string_lossy()),
        );
    let bridge = Bridge::start(&dir, 8240, (32100, 32199), Some(&live), &[]);
    assert!(bridge.log_text().contains("SIP listening"));
}

#[test]
fn json_logs_are_one_object_a_line() {
    let dir = scratch("ops-json");
    let bridge = Bridge::start(&dir, 8250, (32200, 32299), None, &["--log-format", "json"]);
    let Outcome::Answered(mut caller) = RawCall::dial(LOCAL, 8250, "500", 32250) else {
        panic!("answered");
    };
    assert_eq!(caller.request("BYE", None), Some(200));
    wait_for_log(&bridge, "call summary", 1, Duration::from_secs(5));
    let log = bridge.log_text();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["fields"].is_object(), "{line}");
    }
}

/// Runs the binary with `args` until it exits (bounded) and returns its stderr.
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chorus");
    let status = common::wait_bounded(&mut child, Duration::from_secs(10));
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
    }
    (status.is_some_and(|s| s.success()), err)
}

#[test]
fn provisioning_behaves_deletions_stay_bad_seeds_stop_startup_and_versions_guard_puts() {
    let dir = scratch("ops-provisioning");
    let config = "[extension.500]\n[extension.600]\npin = \"4321\"\n";
    let data = dir.join("data").to_string_lossy().into_owned();
    let mut bridge = Bridge::start(&dir, 8260, (32300, 32399), Some(config), &[]);
    let port = bridge.http_port();
    // Every configured extension, a page at a time.
    let (status, body) = http(port, "GET", "/extension/?limit=1", &[]);
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["extension_id"], "500");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    // Two operators: the second PUT with the version both read is refused.
    let etag_of = |port: u16| {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let response = agent
            .get(format!("http://127.0.0.1:{port}/extension/600/conference/"))
            .call()
            .expect("GET");
        response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("an ETag")
    };
    let read = etag_of(port);
    let first = http_with(
        port,
        "PUT",
        "/extension/600/conference/",
        &[("If-Match", &read)],
        "{}",
    );
    assert_eq!(first.0, 200, "an empty change with the current version");
    let path = "/extension/600/conference/";
    let read = etag_of(port);
    let one = http_with(
        port,
        "PUT",
        path,
        &[("If-Match", &read)],
        r#"{"max_members": 7}"#,
    );
    assert_eq!(one.0, 200, "{}", one.1);
    let other = http_with(
        port,
        "PUT",
        path,
        &[("If-Match", &read)],
        r#"{"max_members": 8}"#,
    );
    assert_eq!(
        other.0, 412,
        "the second operator's version is stale: {}",
        other.1
    );
    let (_, now) = http(port, "GET", path, &[]);
    assert!(now.contains(r#""max_members":7"#), "{now}");
    assert_ne!(etag_of(port), read, "the version moved");
    // Deleted over REST: gone after a restart although the file still names it.
    assert_eq!(
        http(port, "DELETE", "/extension/500/conference/", &[]).0,
        204
    );
    bridge.terminate();
    let bridge = Bridge::start(&dir, 8260, (32300, 32399), Some(config), &[]);
    let port = bridge.http_port();
    assert_eq!(http(port, "GET", "/extension/500/conference/", &[]).0, 404);
    assert!(bridge.log_text().contains("not provisioned again"));
    drop(bridge);

    // A seeded value the API would refuse stops startup, naming extension and field.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[extension.700]\npin = \"1234\"\nenter_sound = 99\n")
        .expect("bad config");
    let bad = bad.to_string_lossy().into_owned();
    let (ok, err) = run_to_exit(&[
        "--config",
        &bad,
        "--data-dir",
        &data,
        "--sip-listen",
        "127.0.0.1:8261",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(
        err.contains("extension 700") && err.contains("enter_sound"),
        "{err}"
    );
    // A media address that is not this machine's stops it too, saying so.
    let (ok, err) = run_to_exit(&[
        "--media-ip",
        "192.0.2.10",
        "--data-dir",
        &data,
        "--sip-listen",
        "127.0.0.1:8262",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(
        err.contains("media_ip 192.0.2.10 is not an address of this machine"),
        "{err}"
    );
}

#[test]
fn the_readme_configuration_example_works_as_copied() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example in the README");
    let dir = scratch("ops-readme");
    // Flags win over the file: only the ports move, so tests can run side by side.
    let bridge = Bridge::start(&dir, 8270, (32400, 32499), Some(example), &[]);
    let log = bridge.log_text();
    assert!(
        log.contains("provisioned from the configuration extension=600"),
        "{log}"
    );
    let Outcome::Answered(mut caller) = RawCall::dial(LOCAL, 8270, "500", 32450) else {
        panic!("the example's extension 500 answers");
    };
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(5));
    assert_eq!(caller.request("BYE", None), Some(200));
}
