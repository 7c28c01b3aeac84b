//! SIP signalling against sipp, the real bridge binary, over UDP and TCP on loopback.

mod common;

use common::{Bridge, options_ping, scratch, sipp};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn assert_sipp(result: (bool, String)) {
    assert!(result.0, "sipp failed:\n{}", result.1);
}

#[test]
fn basic_call_with_rtp_over_udp() {
    let dir = scratch("basic-udp");
    let bridge = Bridge::start(&dir, 5200, (22000, 22099), None, &[]);
    assert_sipp(sipp("basic_call.xml", 5200, 5210, 6200, &[], LIMIT));
    let log = bridge.log_text();
    assert!(log.contains("joined conference"), "{log}");
    assert!(log.contains("reason=remote_bye"), "{log}");
}

#[test]
fn basic_call_with_rtp_over_tcp() {
    let dir = scratch("basic-tcp");
    let bridge = Bridge::start(&dir, 5220, (22100, 22199), None, &[]);
    assert_sipp(sipp(
        "basic_call.xml",
        5220,
        5230,
        6220,
        &["-t", "t1"],
        LIMIT,
    ));
    let log = bridge.log_text();
    assert!(log.contains("transport=Tcp"), "{log}");
    assert!(log.contains("reason=remote_bye"), "{log}");
}

#[test]
fn cancel_before_answer_gets_487() {
    let dir = scratch("cancel");
    let bridge = Bridge::start(
        &dir,
        5240,
        (22200, 22299),
        None,
        &["--answer-delay-ms", "2000"],
    );
    assert_sipp(sipp("cancel.xml", 5240, 5250, 6240, &[], LIMIT));
    assert!(bridge.log_text().contains("reason=cancelled"));
}

#[test]
fn retransmitted_invite_is_one_call() {
    let dir = scratch("retrans");
    let bridge = Bridge::start(
        &dir,
        5260,
        (22300, 22399),
        None,
        &["--answer-delay-ms", "1500"],
    );
    assert_sipp(sipp(
        "invite_retransmission.xml",
        5260,
        5270,
        6260,
        &[],
        LIMIT,
    ));
    let log = bridge.log_text();
    assert_eq!(log.matches("incoming call").count(), 1, "{log}");
}

#[test]
fn sigterm_sends_bye_to_every_caller_and_exits_zero() {
    let dir = scratch("sigterm");
    let mut bridge = Bridge::start(&dir, 5280, (22400, 22499), None, &[]);
    let caller = std::thread::spawn(|| sipp("bye_from_bridge.xml", 5280, 5290, 6280, &[], LIMIT));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bridge.log_text().contains("joined conference") {
        assert!(Instant::now() < deadline, "caller never joined");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = bridge.terminate().expect("bridge exits by itself");
    assert!(status.success(), "exit status {status:?}");
    assert_sipp(caller.join().expect("sipp thread"));
    assert!(bridge.log_text().contains("reason=local_hangup"));
}

/// SIGTERM with a drain timeout: the caller stays, OPTIONS say 503 (a proxy's probe takes
/// the node out), a call that would start a new conference gets 503, and the bridge exits
/// 0 once the caller hangs up.
#[test]
fn sigterm_drains_until_the_last_caller_leaves() {
    let dir = scratch("sigterm-drain");
    let mut bridge = Bridge::start(
        &dir,
        5360,
        (22800, 22899),
        Some("[extension.500]\n[extension.501]\n"),
        &["--drain-timeout", "60"],
    );
    assert_eq!(options_ping(5360, 5361).as_deref(), Some("SIP/2.0 200 OK"));
    let caller =
        std::thread::spawn(|| sipp("basic_call.xml", 5360, 5370, 6370, &["-d", "4000"], LIMIT));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bridge.log_text().contains("joined conference") {
        assert!(Instant::now() < deadline, "caller never joined");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = bridge.pid().expect("running");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        options_ping(5360, 5362).as_deref(),
        Some("SIP/2.0 503 Service Unavailable")
    );
    let (refused, out) = sipp("basic_call.xml", 5360, 5371, 6380, &["-s", "501"], LIMIT);
    assert!(!refused, "a new conference while draining:\n{out}");
    assert!(
        bridge
            .log_text()
            .contains("INVITE refused: draining, and its conference is not on this node"),
        "{}",
        bridge.log_text()
    );
    assert_sipp(caller.join().expect("sipp thread"));
    let status = bridge.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let log = bridge.log_text();
    assert!(log.contains("drained: the last call ended"), "{log}");
    assert!(!log.contains("reason=local_hangup"), "nobody was hung up");
}

/// A drain that outlasts its timeout hangs up the callers still in, then exits 0.
#[test]
fn a_drain_timeout_hangs_up_who_is_left() {
    let dir = scratch("drain-timeout");
    let mut bridge = Bridge::start(&dir, 5380, (22900, 22999), None, &["--drain-timeout", "2"]);
    let caller = std::thread::spawn(|| sipp("bye_from_bridge.xml", 5380, 5390, 6390, &[], LIMIT));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bridge.log_text().contains("joined conference") {
        assert!(Instant::now() < deadline, "caller never joined");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let port = bridge.http_port();
    let (status, answer) = common::http(port, "POST", "/admin/drain", "");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["calls"], 1);
    let status = bridge.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_sipp(caller.join().expect("sipp thread"));
    assert!(
        bridge
            .log_text()
            .contains("drain timeout: hanging up every call")
    );
}

#[test]
fn options_keepalive_and_malformed_requests() {
    let dir = scratch("options");
    let bridge = Bridge::start(&dir, 5300, (22500, 22599), None, &[]);
    assert_eq!(options_ping(5300, 5301).as_deref(), Some("SIP/2.0 200 OK"));

    let socket = UdpSocket::bind("127.0.0.1:5302").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    // Answerable but broken: CSeq is not a number.
    let bad = "INVITE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5302;branch=z9hG4bKbad1\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:500@h>\r\nCall-ID: bad1\r\nCSeq: abc INVITE\r\nContent-Length: 0\r\n\r\n";
    socket
        .send_to(bad.as_bytes(), "127.0.0.1:5300")
        .expect("send");
    let (n, _) = socket.recv_from(&mut buf).expect("400 comes back");
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        answer.starts_with("SIP/2.0 400 bad CSeq header"),
        "{answer}"
    );
    // Unanswerable garbage is dropped; the bridge keeps serving.
    socket
        .send_to(b"\x00\x01garbage\r\n\r\n", "127.0.0.1:5300")
        .expect("send");
    // Unknown extension.
    let unknown = bad
        .replace("sip:500@127.0.0.1", "sip:999@127.0.0.1")
        .replace("abc INVITE", "1 INVITE")
        .replace("bad1", "bad2");
    socket
        .send_to(unknown.as_bytes(), "127.0.0.1:5300")
        .expect("send");
    let mut codes = Vec::new();
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        codes.push(text.lines().next().unwrap_or("").to_owned());
        if text.contains(" 404 ") {
            break;
        }
    }
    assert!(
        codes.iter().any(|c| c.starts_with("SIP/2.0 404")),
        "{codes:?}"
    );
    assert_eq!(options_ping(5300, 5303).as_deref(), Some("SIP/2.0 200 OK"));
    drop(bridge);
}

#[test]
fn the_bridge_refreshes_a_session_it_was_asked_to_refresh() {
    let dir = scratch("session-refresh");
    let bridge = Bridge::start(&dir, 5320, (22600, 22699), None, &[]);
    assert_sipp(sipp(
        "session_refresh.xml",
        5320,
        5330,
        6320,
        &[],
        Duration::from_secs(90),
    ));
    let log = bridge.log_text();
    assert!(log.contains("reason=remote_bye"), "{log}");
}

#[test]
fn a_session_the_caller_stops_refreshing_is_hung_up() {
    let dir = scratch("session-expiry");
    let bridge = Bridge::start(&dir, 5340, (22700, 22799), None, &[]);
    let started = Instant::now();
    assert_sipp(sipp(
        "session_expiry.xml",
        5340,
        5350,
        6340,
        &[],
        Duration::from_secs(90),
    ));
    let after = started.elapsed();
    let log = bridge.log_text();
    assert!(log.contains("reason=session_expired"), "{log}");
    // 90 s less the margin (a third, at most 32 s): about 60 s after the answer.
    assert!(after >= Duration::from_secs(55), "{after:?}");
}
