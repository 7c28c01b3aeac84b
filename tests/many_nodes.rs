//! Many nodes (#16): bridge nodes on one PostgreSQL behind Kamailio running the shipped
//! `deploy/kamailio/kamailio.cfg`, all on loopback. Every conference's callers meet on one
//! node; a dead node's conferences move; a draining node keeps its own conferences, sends
//! new ones elsewhere and exits when empty; the API of any node speaks for all; real
//! phones hear each other through the front door.

mod common;
#[path = "common/front_door.rs"]
mod front_door;
#[path = "common/postgres.rs"]
mod postgres;

use common::{Phone, http, scratch, tone_level_db, wait_until, write_tone};
use front_door::{FrontDoor, node};
use postgres::Postgres;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A sipp caller through the front door at `door`: `calls` calls to `extension`, each
/// staying `stay_ms`. Runs in the background.
fn caller(door: u16, extension: &str, calls: u32, stay_ms: u32, local: u16, media: u16) -> Child {
    let calls = Calls {
        count: calls,
        per_second: 10,
        stay_ms,
    };
    caller_from("127.0.0.1", door, extension, calls, (local, media))
}

/// What one sipp process places.
struct Calls {
    count: u32,
    per_second: u32,
    stay_ms: u32,
}

/// As [`caller`], from loopback address `ip`, on SIP and media ports `ports`.
fn caller_from(ip: &str, door: u16, extension: &str, calls: Calls, ports: (u16, u16)) -> Child {
    common::require("sipp", "sip-tester");
    let _ = std::fs::remove_file(sipp_errors(ip, ports.0));
    Command::new("sipp")
        .current_dir(common::repo_root())
        .args(["-sf", "tests/sipp/proxied_call.xml", "-s", extension])
        .args(["-m", &calls.count.to_string()])
        .args(["-r", &calls.per_second.to_string()])
        .args(["-d", &calls.stay_ms.to_string()])
        .args(["-i", ip, "-mi", ip, "-nostdin"])
        .args(["-p", &ports.0.to_string(), "-mp", &ports.1.to_string()])
        // Its own control port: by default sipp tries 60 from 8888, fewer than the sipp
        // processes these tests run at once.
        .args(["-cp", &control_port(ip, ports.0).to_string()])
        .args(["-timeout", "120s", "-timeout_error"])
        // What went wrong, for the test's failure message (see `sipp_errors`).
        .args(["-trace_err", "-error_file"])
        .arg(sipp_errors(ip, ports.0))
        .arg(format!("127.0.0.1:{door}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

/// Where the caller on `ip`, SIP port `port`, writes the messages it did not expect
/// (removed when it starts).
fn sipp_errors(ip: &str, port: u16) -> std::path::PathBuf {
    std::env::temp_dir()
        .join("chorus-tests")
        .join(format!("nodes-sipp-{ip}-{port}-errors.log"))
}

/// A control port per caller: its SIP port moved up, apart for each loopback address.
fn control_port(ip: &str, sip: u16) -> u16 {
    let apart = if ip == "127.0.0.1" { 0 } else { 100 };
    sip + 10_000 + apart
}

fn succeeded(mut sipp: Child) -> bool {
    common::wait_bounded(&mut sipp, Duration::from_secs(60)).is_some_and(|s| s.success())
}

/// Every live conference as node `port` reports for the whole cluster: extension →
/// (node, members, locked). A conference split over two nodes would be listed twice.
/// A live conference as listed: extension, node, members, locked.
type Row = (String, String, u64, bool);

fn live(port: u16) -> (Vec<Row>, BTreeMap<String, String>) {
    let (status, list) = http(port, "GET", "/conference/", "");
    assert_eq!(status, 200, "{list}");
    let rows: Vec<Row> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["extension_id"].as_str().unwrap_or_default().to_owned(),
                c["node"].as_str().unwrap_or_default().to_owned(),
                c["members"].as_u64().unwrap_or_default(),
                c["locked"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let hosts = rows
        .iter()
        .map(|(ext, node, _, _)| (ext.clone(), node.clone()))
        .collect();
    (rows, hosts)
}

fn provision(port: u16, extensions: impl IntoIterator<Item = u32>) {
    for ext in extensions {
        let path = format!("/extension/{ext}/conference/");
        let (status, body) = http(port, "PUT", &path, r#"{"max_members": 10}"#);
        assert!(status == 200 || status == 201, "{status} {body}");
    }
}

/// What `curl` prints for `path` on `port` within `secs` (an event stream never ends).
fn curl(port: u16, path: &str, secs: u32, header: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-N", "--max-time", &secs.to_string(), "-H", header])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn twenty_conferences_through_the_front_door_each_meet_on_one_node() {
    let dir = scratch("nodes-twenty");
    let pg = Postgres::start(&dir, 55441);
    let a = node(&dir, &pg, "a", 6711, (28000, 28199), &[]);
    let b = node(&dir, &pg, "b", 6712, (28200, 28399), &[]);
    let door = FrontDoor::start(&dir, 6700, &pg.url(), &[("a", 6711), ("b", 6712)]);
    provision(a.http_port(), 700..720);
    // Both nodes' heartbeats are in and Kamailio's first probes answered.
    std::thread::sleep(Duration::from_secs(2));

    // One caller of each conference comes from another address: the nodes see it as the
    // proxy states it, not as the proxy.
    let callers: Vec<Child> = (0..20u16)
        .flat_map(|i| {
            let ext = (700 + i).to_string();
            [
                caller(door.port, &ext, 1, 15_000, 6800 + i, 30000 + 40 * i),
                caller_from(
                    "127.0.0.2",
                    door.port,
                    &ext,
                    Calls {
                        count: 1,
                        per_second: 10,
                        stay_ms: 15_000,
                    },
                    (6800 + i, 30020 + 40 * i),
                ),
            ]
        })
        .collect();
    // Forty sipp processes take a while to start on a loaded machine.
    let settled = wait_until(Duration::from_secs(20), || {
        let (rows, _) = live(a.http_port());
        rows.len() >= 20 && rows.iter().all(|r| r.2 == 2)
    });
    let (rows, hosts) = live(a.http_port());
    assert!(settled, "every conference with both callers: {rows:?}");
    // One row per conference: no conference is on two nodes.
    let extensions: BTreeSet<&String> = rows.iter().map(|r| &r.0).collect();
    assert_eq!(extensions.len(), 20, "{rows:?}");
    assert_eq!(rows.len(), 20, "a conference split over nodes: {rows:?}");
    let per_node: BTreeMap<&str, usize> = hosts.values().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.as_str()).or_default() += 1;
        m
    });
    eprintln!("conferences per node: {per_node:?}");
    assert_eq!(per_node.len(), 2, "every node hosts some: {per_node:?}");
    // Node b's own view agrees with a's.
    assert_eq!(live(b.http_port()).1, hosts);

    // An action on a conference node b hosts, asked of node a, is carried out on b.
    let on_b = hosts
        .iter()
        .find(|(_, n)| n.as_str() == "b")
        .map(|(e, _)| e.clone())
        .expect("b hosts one");
    let lock = format!("/extension/{on_b}/conference/lock");
    assert_eq!(http(a.http_port(), "POST", &lock, "").0, 204);
    assert!(
        live(b.http_port())
            .0
            .iter()
            .any(|r| r.0 == on_b && r.1 == "b" && r.3),
        "locked on b"
    );
    let members = format!("/extension/{on_b}/conference/members/");
    let (status, list) = http(a.http_port(), "GET", &members, "");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    // Node a's event stream carries node b's events, named by node.
    let events = curl(a.http_port(), "/events", 2, "Last-Event-ID: 0");
    assert!(
        events.contains("event: member_joined") && events.contains(r#""node":"b""#),
        "{events}"
    );
    // Every metric names its node.
    let metrics = curl(b.http_port(), "/metrics", 2, "Accept: text/plain");
    assert!(metrics.contains(r#"chorus_ready{node="b"} 1"#), "{metrics}");

    let ok = callers.into_iter().map(succeeded).filter(|s| *s).count();
    assert_eq!(ok, 40, "every sipp caller completed:\n{}", door.log_text());
    let mut origins = 0;
    for n in [&a, &b] {
        let log = n.log_text();
        assert!(!log.contains("callers are split"), "{log}");
        origins += log.matches("origin=127.0.0.2").count();
    }
    assert_eq!(origins, 20, "each node saw the caller behind the proxy");
}

/// Waits until `extension` is listed on node `port` with `members` or more; returns when.
fn wait_members(port: u16, extension: &str, members: u64, limit: Duration) -> Option<Instant> {
    wait_until(limit, || {
        live(port)
            .0
            .iter()
            .any(|r| r.0 == extension && r.2 >= members)
    })
    .then(Instant::now)
}

fn member_media(port: u16, extension: &str) -> (u64, u64) {
    let (_, list) = http(
        port,
        "GET",
        &format!("/extension/{extension}/conference/members/"),
        "",
    );
    let media = &list[0]["media"];
    (
        media["packets_received"].as_u64().unwrap_or_default(),
        media["concealed"].as_u64().unwrap_or_default(),
    )
}

#[test]
fn a_killed_node_s_conferences_meet_again_on_a_survivor() {
    let dir = scratch("nodes-kill");
    let pg = Postgres::start(&dir, 55442);
    let mut nodes = [
        node(&dir, &pg, "c", 6721, (28400, 28599), &[]),
        node(&dir, &pg, "d", 6722, (28600, 28799), &[]),
    ];
    let door = FrontDoor::start(&dir, 6720, &pg.url(), &[("c", 6721), ("d", 6722)]);
    provision(nodes[0].http_port(), 730..736);
    std::thread::sleep(Duration::from_secs(2));
    // Long callers in six conferences, to find one on each node.
    let long: Vec<Child> = (0..6u16)
        .map(|i| {
            caller(
                door.port,
                &(730 + i).to_string(),
                1,
                20_000,
                6850 + i,
                31000 + 20 * i,
            )
        })
        .collect();
    assert!(wait_until(Duration::from_secs(10), || live(
        nodes[1].http_port()
    )
    .0
    .len()
        == 6));
    let (_, hosts) = live(nodes[1].http_port());
    let on = |name: &str| {
        hosts
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(e, _)| e.clone())
            .unwrap_or_else(|| panic!("node {name} hosts one: {hosts:?}"))
    };
    let (doomed, kept) = (on("c"), on("d"));
    // Let the survivor's member show media figures.
    std::thread::sleep(Duration::from_millis(1500));
    let before = member_media(nodes[1].http_port(), &kept);
    let measured = Instant::now();

    nodes[0].kill();
    let killed = Instant::now();
    let newcomer = caller(door.port, &doomed, 1, 2000, 6860, 31200);
    let met = wait_members(nodes[1].http_port(), &doomed, 1, Duration::from_secs(15));
    let moved = met.map(|t| t.duration_since(killed));
    eprintln!("death to the first caller placed elsewhere: {moved:?}");
    assert!(
        moved.is_some_and(|d| d < Duration::from_secs(6)),
        "{moved:?}\n{}",
        door.log_text()
    );
    assert!(succeeded(newcomer));
    // The survivor's own conference kept its audio: packets kept coming and none of the
    // 20 ms frames in the meantime had to be concealed.
    let after = member_media(nodes[1].http_port(), &kept);
    let seconds = measured.elapsed().as_secs_f64();
    eprintln!("survivor's member: {before:?} -> {after:?} over {seconds:.1} s");
    // 50 packets a second; the figures are refreshed once a second, so one may be stale.
    assert!(
        after.0 - before.0 >= ((seconds - 1.0) * 45.0) as u64,
        "{before:?} {after:?}"
    );
    assert!(
        after.1 - before.1 <= 2,
        "frames concealed: {before:?} {after:?}"
    );
    // Callers of the dead node lost their calls; the others finish.
    let finished: Vec<bool> = long.into_iter().map(succeeded).collect();
    assert_eq!(finished.iter().filter(|f| **f).count(), 3, "{finished:?}");
}

#[test]
fn a_draining_node_keeps_its_conferences_sends_new_ones_elsewhere_and_exits_empty() {
    let dir = scratch("nodes-drain");
    let pg = Postgres::start(&dir, 55443);
    let mut nodes = [
        node(
            &dir,
            &pg,
            "e",
            6731,
            (28800, 28999),
            &["--drain-timeout", "60"],
        ),
        node(
            &dir,
            &pg,
            "f",
            6732,
            (29000, 29199),
            &["--drain-timeout", "60"],
        ),
    ];
    let door = FrontDoor::start(&dir, 6730, &pg.url(), &[("e", 6731), ("f", 6732)]);
    provision(nodes[0].http_port(), 750..760);
    std::thread::sleep(Duration::from_secs(2));
    let first = caller(door.port, "750", 1, 7000, 6870, 31400);
    assert!(wait_members(nodes[0].http_port(), "750", 1, Duration::from_secs(10)).is_some());
    let host = live(nodes[0].http_port()).1["750"].clone();
    let (draining, other) = if host == "e" { (0, 1) } else { (1, 0) };
    // The conference's placement is in the database (the other node reads it there):
    // until then a caller is placed by hash, which skips a draining node.
    assert!(wait_until(Duration::from_secs(10), || live(
        nodes[other].http_port()
    )
    .1
    .get("750")
        == Some(&host)));

    let (status, answer) = http(nodes[draining].http_port(), "POST", "/admin/drain", "");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["calls"], 1);
    // The other node's event stream says so, naming the node.
    let events = curl(nodes[other].http_port(), "/events", 2, "Last-Event-ID: 0");
    assert!(
        events.contains("event: draining") && events.contains(&format!(r#""node":"{host}""#)),
        "{events}"
    );
    // A second caller of its conference still joins it there.
    let second = caller(door.port, "750", 1, 2000, 6871, 31420);
    let local = |i: usize| -> Vec<Row> { live(nodes[i].http_port()).0 };
    assert!(
        wait_until(Duration::from_secs(10), || local(draining)
            .iter()
            .any(|r| r.0 == "750" && r.2 == 2)),
        "{:?}\n{}",
        local(draining),
        door.log_text()
    );
    // New conferences go to the other node, whatever their hash says.
    let fresh: Vec<Child> = (0..4u16)
        .map(|i| {
            caller(
                door.port,
                &(751 + i).to_string(),
                1,
                2000,
                6872 + i,
                31440 + 20 * i,
            )
        })
        .collect();
    assert!(
        fresh.into_iter().all(succeeded),
        "new conferences placed:\n{}",
        door.log_text()
    );
    let hosted_by = |i: usize| nodes[i].log_text();
    for ext in 751..755 {
        let needle = format!("conference={ext}");
        assert!(
            !hosted_by(draining).contains(&needle),
            "{ext} placed on the draining node"
        );
        assert!(hosted_by(other).contains(&needle), "{ext} not placed");
    }
    assert!(succeeded(second));
    assert!(succeeded(first));
    // Its last caller gone, the draining node exits by itself, cleanly.
    let status = nodes[draining].wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(
        nodes[draining]
            .log_text()
            .contains("drained: the last call ended")
    );
}

#[test]
fn phones_dialling_the_front_door_hear_each_other() {
    let dir = scratch("nodes-phones");
    let pg = Postgres::start(&dir, 55444);
    let g = node(&dir, &pg, "g", 6741, (29200, 29299), &[]);
    let _h = node(&dir, &pg, "h", 6742, (29300, 29399), &[]);
    let _door = FrontDoor::start(&dir, 6740, &pg.url(), &[("g", 6741), ("h", 6742)]);
    provision(g.http_port(), [770]);
    std::thread::sleep(Duration::from_secs(2));
    let secs = 7;
    let phones: Vec<Phone> = [440u32, 1000]
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let tone = dir.join(format!("tone-{f}.wav"));
            write_tone(&tone, 8000, f64::from(f), 0.3, f64::from(secs) + 3.0);
            let i = i as u16;
            Phone::dial(
                &dir,
                &format!("phone{f}"),
                6745 + 10 * i,
                29400 + 100 * i,
                &tone,
                "sip:770@127.0.0.1:6740",
                secs,
            )
        })
        .collect();
    let recordings: Vec<(Vec<f64>, u32)> = phones.into_iter().map(Phone::recording).collect();
    for ((samples, rate), (own, other)) in recordings.iter().zip([(440, 1000), (1000, 440)]) {
        let steady = &samples[(2 * rate) as usize..((6 * rate) as usize).min(samples.len())];
        let heard = tone_level_db(steady, *rate, f64::from(other));
        let itself = tone_level_db(steady, *rate, f64::from(own));
        eprintln!("phone {own}: hears {other} Hz at {heard:.1} dBFS, itself at {itself:.1}");
        assert!(heard > -13.0, "phone {own} hears its partner at {heard:.1}");
        assert!(itself < -40.0, "phone {own} hears itself at {itself:.1}");
    }
}

/// Calls per second through the front door to two nodes: ten sipp callers, each placing
/// one-second calls into its own conference. Every call must succeed. CI runs it for 5 s;
/// `CHORUS_FRONT_DOOR_SECS=30 CHORUS_FRONT_DOOR_CPS=100 cargo test --test many_nodes
/// calls_per_second -- --nocapture` gives the README's figure.
#[test]
fn calls_per_second_through_the_front_door() {
    let env = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (secs, cps) = (
        env("CHORUS_FRONT_DOOR_SECS", 5),
        env("CHORUS_FRONT_DOOR_CPS", 20),
    );
    let dir = scratch("nodes-cps");
    let pg = Postgres::start(&dir, 55445);
    let i = node(&dir, &pg, "i", 6761, (32000, 32999), &[]);
    let _j = node(&dir, &pg, "j", 6762, (33000, 33999), &[]);
    let door = FrontDoor::start(&dir, 6760, &pg.url(), &[("i", 6761), ("j", 6762)]);
    provision(i.http_port(), 780..790);
    std::thread::sleep(Duration::from_secs(2));
    let per_caller = (cps / 10).max(1);
    let started = Instant::now();
    let callers: Vec<Child> = (0..10u16)
        .map(|k| {
            let calls = Calls {
                count: per_caller * secs,
                per_second: per_caller,
                stay_ms: 1000,
            };
            let ports = (6770 + k, 34000 + 200 * k);
            caller_from("127.0.0.1", door.port, &(780 + k).to_string(), calls, ports)
        })
        .collect();
    let ok = callers
        .into_iter()
        .map(|mut c| common::wait_bounded(&mut c, Duration::from_secs(180)))
        .filter(|s| s.is_some_and(|s| s.success()))
        .count();
    let calls = 10 * per_caller * secs;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{calls} calls through the front door in {elapsed:.1} s ({:.1} calls/s offered {}), {ok}/10 callers clean",
        f64::from(calls) / (elapsed - 1.0),
        10 * per_caller
    );
    let errors: String = (0..10u16)
        .filter_map(|k| std::fs::read_to_string(sipp_errors("127.0.0.1", 6770 + k)).ok())
        .collect();
    assert_eq!(ok, 10, "some calls failed:\n{errors}\n{}", door.log_text());
}

/// A PIN set over REST on one node is asked of the next caller on the other node, one
/// second later.
#[test]
fn a_pin_set_on_one_node_is_asked_by_the_other_a_second_later() {
    let dir = scratch("nodes-pin");
    let pg = Postgres::start(&dir, 55446);
    let nodes = [
        node(&dir, &pg, "k", 6781, (36000, 36099), &[]),
        node(&dir, &pg, "l", 6782, (36100, 36199), &[]),
    ];
    let door = FrontDoor::start(&dir, 6780, &pg.url(), &[("k", 6781), ("l", 6782)]);
    provision(nodes[0].http_port(), [790]);
    std::thread::sleep(Duration::from_secs(2));
    // No PIN yet: the first caller goes straight in.
    let first = caller(door.port, "790", 1, 12_000, 6790, 36200);
    assert!(wait_members(nodes[0].http_port(), "790", 1, Duration::from_secs(10)).is_some());
    let host = live(nodes[0].http_port()).1["790"].clone();
    let (hosting, other) = if host == "k" { (0, 1) } else { (1, 0) };
    // A caller who dials the other node directly, around the front door, splits the
    // conference: that node says so in its metrics and its log.
    let sip = [6781, 6782][other];
    let around = std::thread::spawn(move || {
        common::sipp(
            "basic_call.xml",
            sip,
            6795,
            36240,
            &["-s", "790"],
            Duration::from_secs(20),
        )
    });
    let split = format!(
        "chorus_split_conferences{{node=\"{}\"}} 1",
        ["k", "l"][other]
    );
    assert!(
        wait_until(Duration::from_secs(5), || curl(
            nodes[other].http_port(),
            "/metrics",
            2,
            "Accept: text/plain"
        )
        .contains(&split)),
        "{split}"
    );
    assert!(around.join().expect("sipp").0);
    assert!(nodes[other].log_text().contains("callers are split"));
    let path = "/extension/790/conference/";
    let (status, _) = http(nodes[other].http_port(), "PUT", path, r#"{"pin": "4321"}"#);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(1));
    let calls_before = nodes[hosting].log_text().matches("incoming call").count();
    let second = caller(door.port, "790", 1, 4000, 6791, 36220);
    assert!(wait_until(Duration::from_secs(5), || {
        nodes[hosting].log_text().matches("incoming call").count() > calls_before
    }));
    std::thread::sleep(Duration::from_secs(2));
    // Answered, asked for the PIN, and not let in without it.
    let (rows, _) = live(nodes[0].http_port());
    assert!(
        rows.iter().any(|r| r.0 == "790" && r.1 == host && r.2 == 1),
        "{rows:?}"
    );
    assert!(succeeded(second), "{}", door.log_text());
    assert!(succeeded(first));
    assert!(
        !nodes[hosting].log_text().contains("4321"),
        "the PIN stays out of the log"
    );

    // Recordings stay on the node that made them; any node lists, serves and deletes them.
    assert!(wait_until(Duration::from_secs(5), || live(
        nodes[0].http_port()
    )
    .0
    .is_empty()));
    let folder = nodes[other].dir.join("data/recordings/790");
    std::fs::create_dir_all(&folder).expect("recordings folder");
    common::write_wav(&folder.join("made-elsewhere.wav"), 8000, &[0i16; 800]);
    // The sidecar marks it finished (a recording in progress cannot be deleted).
    std::fs::write(
        folder.join("made-elsewhere.json"),
        r#"{"number": "sip:5551234@127.0.0.1", "duration_ms": 100}"#,
    )
    .expect("sidecar");
    let port = nodes[hosting].http_port();
    let (status, list) = http(port, "GET", "/extension/790/conference/recordings/", "");
    assert_eq!(status, 200);
    let other_name = ["k", "l"][other];
    assert!(
        list.as_array().is_some_and(|l| l
            .iter()
            .any(|r| r["id"] == "made-elsewhere" && r["node"] == other_name)),
        "{list}"
    );
    let one = "/extension/790/conference/recordings/made-elsewhere";
    let fetched = curl(port, one, 5, "Accept: audio/wav");
    assert!(fetched.starts_with("RIFF"), "{fetched:.40}");
    assert_eq!(http(port, "DELETE", one, "").0, 204);
    assert!(!folder.join("made-elsewhere.wav").exists());
    assert_eq!(http(port, "GET", one, "").0, 404);
}
