//! The bridge on a hostile network, tried as an attacker would with raw SIP and RTP on
//! loopback: spoofed in-dialog requests, callers that vanish, PIN guessing from one and
//! many addresses, RTP from a stranger on the phone's host, scans of unknown extensions,
//! untrusted sources, toll fraud through `*8`, and a TCP descriptor flood.

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use common::{Bridge, scratch, wait_for_log};
use rawsip::{Outcome, RawCall, members, rtp_packet};
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn answered(outcome: Outcome) -> RawCall {
    match outcome {
        Outcome::Answered(call) => call,
        Outcome::Refused(code) => panic!("refused with {code}"),
        Outcome::NoAnswer => panic!("no answer"),
    }
}

#[test]
fn spoofed_bye_and_info_have_no_effect() {
    let dir = scratch("hostile-spoof");
    let bridge = Bridge::start(&dir, 8000, (29000, 29099), None, &[]);
    let http = bridge.http_port();
    let mut phone = answered(RawCall::dial(LOCAL, 8000, "500", 41000));
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(5));
    assert_eq!(members(http, "500"), Some(1));

    // The attacker knows the Call-ID and the bridge's tag, not the caller's From tag.
    let attacker = UdpSocket::bind((LOCAL, 0)).expect("bind");
    attacker
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    for (n, (method, body)) in [
        ("BYE", None),
        (
            "INFO",
            Some(("application/dtmf-relay", "Signal=*\r\nDuration=160\r\n")),
        ),
        (
            "INFO",
            Some(("application/dtmf-relay", "Signal=1\r\nDuration=160\r\n")),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let text = phone
            .message_with_tags(
                method,
                &format!("z9hG4bKspoof{n}"),
                100 + n as u32,
                "made-up",
                Some(&phone.to_tag),
                body,
            )
            .replace(
                &phone.local.to_string(),
                &attacker.local_addr().expect("a").to_string(),
            );
        attacker
            .send_to(text.as_bytes(), phone.bridge)
            .expect("send");
        let mut buf = [0u8; 4096];
        let (len, _) = attacker.recv_from(&mut buf).expect("an answer");
        let answer = String::from_utf8_lossy(&buf[..len]);
        assert!(
            answer.starts_with("SIP/2.0 481"),
            "{method} with a made-up From tag: {answer}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(members(http, "500"), Some(1), "still in the conference");
    let log = bridge.log_text();
    assert!(
        !log.contains("outcome=Muted"),
        "the spoofed *1 muted nobody:\n{log}"
    );
    assert!(!log.contains("call ended"), "{log}");

    // The real caller's own BYE still works.
    assert_eq!(phone.request("BYE", None), Some(200));
    wait_for_log(&bridge, "reason=remote_bye", 1, Duration::from_secs(5));
}

#[test]
fn vanished_and_ghost_callers_are_freed_with_their_sockets() {
    let dir = scratch("hostile-vanished");
    let config = "[extension.500]\nmax_members = 100\n[extension.600]\nmax_members = 300\n";
    let bridge = Bridge::start(
        &dir,
        8010,
        (29100, 29799),
        Some(config),
        &["--media-timeout", "3"],
    );
    let http = bridge.http_port();
    std::thread::sleep(Duration::from_millis(300));
    let idle_descriptors = bridge.open_descriptors();

    // 100 ghosts fill 500: INVITE and ACK, then nothing at all.
    let mut calls: Vec<RawCall> = (0..100)
        .map(|n| answered(RawCall::dial(LOCAL, 8010, "500", 42000 + 2 * n)))
        .collect();
    // 200 callers of 600 send audio, then die without BYE (as after kill -9).
    let rtp = UdpSocket::bind((LOCAL, 31500)).expect("rtp socket");
    let dying: Vec<RawCall> = (0..200)
        .map(|_| answered(RawCall::dial(LOCAL, 8010, "600", 31500)))
        .collect();
    for tick in 0..25u16 {
        for (n, call) in dying.iter().enumerate() {
            let packet = rtp_packet(n as u32, tick, u32::from(tick) * 160);
            let _ = rtp.send_to(&packet, (LOCAL, call.bridge_rtp));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let died = Instant::now();
    calls.extend(dying);
    assert_eq!(members(http, "500"), Some(100));
    assert_eq!(members(http, "600"), Some(200));
    assert!(bridge.open_descriptors() >= idle_descriptors + 300);

    // A real caller meets a full conference now.
    match RawCall::dial(LOCAL, 8010, "500", 44000) {
        Outcome::Answered(mut late) => {
            wait_for_log(&bridge, "refusal=Full", 1, Duration::from_secs(5));
            late.wait_for_bye(Duration::from_secs(15));
        }
        _ => panic!("the bridge answers and explains"),
    }

    // Within the timeout + 5 s every one of them is hung up and its sockets closed.
    let deadline = died + Duration::from_secs(3 + 5);
    while Instant::now() < deadline
        && (members(http, "500") != Some(0) || members(http, "600") != Some(0))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let freed_after = died.elapsed();
    assert_eq!(members(http, "500"), Some(0), "ghosts gone");
    assert_eq!(members(http, "600"), Some(0), "dead callers gone");
    wait_for_log(&bridge, "reason=media_timeout", 300, Duration::from_secs(5));
    let byes = calls
        .iter_mut()
        .filter_map(|c| c.wait_for_bye(Duration::from_millis(200)).then_some(()))
        .count();
    assert!(
        byes >= 290,
        "BYE sent to the vanished callers: {byes} of 300"
    );
    std::thread::sleep(Duration::from_millis(500));
    let now_open = bridge.open_descriptors();
    assert!(
        now_open <= idle_descriptors + 2,
        "sockets released: {now_open} open, {idle_descriptors} when idle"
    );
    eprintln!("300 vanished callers freed {freed_after:?} after they fell silent");

    // The conference takes a real caller again.
    let mut fresh = answered(RawCall::dial(LOCAL, 8010, "500", 44002));
    wait_for_log(&bridge, "joined role", 301, Duration::from_secs(5));
    assert_eq!(fresh.request("BYE", None), Some(200));
}

/// One attacking address: `calls` calls in parallel to `extension`, each keying guesses
/// from `guesses` by INFO as fast as the bridge answers, redialling when hung up on.
fn attacker(
    ip: IpAddr,
    extension: &'static str,
    calls: usize,
    guesses: &'static [String],
    until: Instant,
) -> Vec<std::thread::JoinHandle<usize>> {
    (0..calls)
        .map(|lane| {
            std::thread::spawn(move || {
                let mut sent = 0usize;
                let mut next = lane;
                while Instant::now() < until {
                    let mut call = match RawCall::dial(ip, 8020, extension, 45000) {
                        Outcome::Answered(call) => call,
                        _ => {
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                    };
                    while Instant::now() < until && !call.ended {
                        let guess = &guesses[next % guesses.len()];
                        next += calls;
                        if !call.keys(&format!("{guess}#")) {
                            break;
                        }
                        sent += 1;
                    }
                    if !call.ended {
                        let _ = call.request("BYE", None);
                    }
                }
                sent
            })
        })
        .collect()
}

fn checked_guesses(log: &str, extension: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains(&format!("conference={extension}"))
                && l.contains("wrong PIN")
                && l.contains("checked=true")
        })
        .count()
}

#[test]
fn pin_guessing_is_rationed_per_source_and_per_extension() {
    let dir = scratch("hostile-pin");
    let config = "[extension.600]\npin = \"90817263\"\n[extension.601]\npin = \"81726354\"\n";
    let bridge = Bridge::start(
        &dir,
        8020,
        (29800, 30299),
        Some(config),
        &["--max-pending-per-extension", "100"],
    );
    let one: &'static [String] = Box::leak((1000..2000).map(|n| n.to_string()).collect());
    let many: &'static [String] = Box::leak((2000..3000).map(|n| n.to_string()).collect());
    let started = Instant::now();
    let until = started + Duration::from_secs(60);
    let mut lanes = attacker(IpAddr::from([127, 0, 0, 2]), "600", 20, one, until);
    let spread: Vec<_> = (10..50u8)
        .flat_map(|last| attacker(IpAddr::from([127, 0, 0, last]), "601", 2, many, until))
        .collect();
    lanes.extend(spread);
    let sent: usize = lanes.into_iter().map(|t| t.join().expect("attacker")).sum();
    let minute = started.elapsed();
    let log = bridge.log_text();
    let one_source = checked_guesses(&log, "600");
    let all_sources = checked_guesses(&log, "601");
    eprintln!(
        "in {minute:?}: {sent} guesses keyed; checked: {one_source} from one address, \
         {all_sources} from 40 addresses"
    );
    assert!(!log.contains("joined role"), "nobody got in:\n{log}");
    assert!(
        one_source <= 10,
        "one address: {one_source} checks a minute"
    );
    assert!(one_source >= 3, "the check itself works: {one_source}");
    assert!(
        all_sources <= 60,
        "one extension: {all_sources} checks a minute"
    );
    assert!(sent > 200, "the attack was real: {sent} guesses keyed");
    // The PINs never reach the log; refused sources hear the same as a wrong PIN.
    assert!(
        !log.contains("90817263") && !log.contains("81726354"),
        "{log}"
    );
    assert!(
        log.contains("refused for guessing"),
        "refused at INVITE too"
    );
}

#[test]
fn stranger_on_the_phones_host_cannot_take_or_join_its_leg() {
    let dir = scratch("hostile-latch");
    let _bridge = Bridge::start(&dir, 8030, (30300, 30399), None, &[]);
    let phone_rtp = UdpSocket::bind((LOCAL, 31600)).expect("phone rtp");
    let listener_rtp = UdpSocket::bind((LOCAL, 31602)).expect("listener rtp");
    let stranger = UdpSocket::bind((LOCAL, 31604)).expect("stranger rtp");
    stranger
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    listener_rtp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let phone = answered(RawCall::dial(LOCAL, 8030, "500", 31600));
    let listener = answered(RawCall::dial(LOCAL, 8030, "500", 31602));
    // The phone sends silence from its announced port; the stranger, on the same host,
    // sends full-scale noise to the phone's leg for 3 s, before and after.
    let loud: Vec<u8> = {
        let mut p = rtp_packet(99, 0, 0);
        for (i, b) in p[12..].iter_mut().enumerate() {
            *b = if i % 2 == 0 { 0x00 } else { 0x80 };
        }
        p
    };
    listener_rtp.set_nonblocking(true).expect("nonblocking");
    stranger.set_nonblocking(true).expect("nonblocking");
    let (mut loudest_late, mut stranger_late) = (0u8, 0usize);
    let mut buf = [0u8; 2048];
    for tick in 0..200u16 {
        let mut noise = loud.clone();
        noise[2..4].copy_from_slice(&tick.to_be_bytes());
        let _ = stranger.send_to(&noise, (LOCAL, phone.bridge_rtp));
        if tick >= 5 {
            let silence = rtp_packet(7, tick, u32::from(tick) * 160);
            let _ = phone_rtp.send_to(&silence, (LOCAL, phone.bridge_rtp));
        }
        let silence = rtp_packet(8, tick, u32::from(tick) * 160);
        let _ = listener_rtp.send_to(&silence, (LOCAL, listener.bridge_rtp));
        std::thread::sleep(Duration::from_millis(20));
        // From 1 s after the phone's first packet on, judge what each one gets.
        let judged = tick >= 55;
        while let Ok((n, _)) = listener_rtp.recv_from(&mut buf) {
            if judged && n > 12 {
                // µ-law: 0xFF and 0x7F are silence; distance from them is loudness.
                let level = buf[12..n].iter().map(|b| 0x7F - (b & 0x7F)).max();
                loudest_late = loudest_late.max(level.unwrap_or(0));
            }
        }
        while stranger.recv_from(&mut buf).is_ok() {
            stranger_late += usize::from(judged);
        }
    }
    assert!(
        loudest_late < 8,
        "the listener heard the stranger: µ-law level {loudest_late}"
    );
    assert_eq!(
        stranger_late, 0,
        "the stranger still receives the conference"
    );
}

#[test]
fn scans_learn_nothing_and_untrusted_sources_are_refused() {
    let dir = scratch("hostile-scan");
    let open = Bridge::start(&dir, 8040, (30400, 30499), None, &[]);
    assert!(matches!(
        RawCall::dial(LOCAL, 8040, "999", 47000),
        Outcome::Refused(404)
    ));
    let log = open.log_text();
    assert!(log.contains("INVITE for an unknown extension"), "{log}");
    drop(open);

    let dir = scratch("hostile-decoy");
    let decoy = Bridge::start(
        &dir,
        8050,
        (30500, 30599),
        None,
        &[
            "--unknown-extension",
            "answer",
            "--sip-trusted-networks",
            "127.0.0.1/32",
        ],
    );
    // An unknown extension answers like a PIN-protected one; no PIN opens it.
    let mut scan = answered(RawCall::dial(LOCAL, 8050, "999", 47002));
    assert!(scan.keys("999#"), "keys are taken");
    let mut real = answered(RawCall::dial(LOCAL, 8050, "500", 47004));
    wait_for_log(&decoy, "joined role", 1, Duration::from_secs(5));
    assert_eq!(real.request("BYE", None), Some(200));
    assert_eq!(scan.request("BYE", None), Some(200));
    let log = decoy.log_text();
    assert!(log.contains("wrong PIN"), "{log}");
    assert_eq!(log.matches("joined role").count(), 1, "{log}");
    // Outside the trusted network: 403 before anything is set up.
    assert!(matches!(
        RawCall::dial(IpAddr::from([127, 0, 0, 9]), 8050, "500", 47006),
        Outcome::Refused(403)
    ));
    // No version in Server.
    let probe = answered(RawCall::dial(LOCAL, 8050, "500", 47008));
    let mut probe = probe;
    let text = probe.message_with_tags("OPTIONS", "z9hG4bKprobe", 9, "x", None, None);
    probe.send(&text);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut server = None;
    while server.is_none() && Instant::now() < deadline {
        if let Some(r) = probe.receive()
            && r.cseq_method() == Some("OPTIONS")
        {
            server = r.header("Server").map(str::to_owned);
        }
    }
    assert_eq!(server.as_deref(), Some("chorus"));
}

#[test]
fn star8_follows_the_dial_out_policy() {
    let dir = scratch("hostile-tollfraud");
    // The trunk address is a closed loopback port: dialling only has to start.
    let bridge = Bridge::start(
        &dir,
        8060,
        (30600, 30699),
        None,
        &[
            "--dialout-uri",
            "sip:{number}@127.0.0.1:8079",
            "--dialout-max-per-conference-per-hour",
            "1",
        ],
    );
    let mut caller = answered(RawCall::dial(LOCAL, 8060, "500", 48000));
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(5));
    let dial = |caller: &mut RawCall, number: &str| {
        assert!(caller.keys("*8"));
        std::thread::sleep(Duration::from_millis(200));
        assert!(caller.keys(&format!("{number}#")));
    };
    dial(&mut caller, "0044207931600");
    wait_for_log(&bridge, "outcome=refused_number", 1, Duration::from_secs(5));
    dial(&mut caller, "7001");
    wait_for_log(&bridge, "outcome=dialing", 1, Duration::from_secs(5));
    // Another member tries while that one rings: the conference's hour is used up.
    let mut other = answered(RawCall::dial(LOCAL, 8060, "500", 48002));
    wait_for_log(&bridge, "joined role", 2, Duration::from_secs(5));
    dial(&mut other, "7002");
    wait_for_log(
        &bridge,
        "outcome=refused_hourly_cap",
        1,
        Duration::from_secs(5),
    );
    assert_eq!(caller.request("BYE", None), Some(200));
}

/// Raises this process's soft open-file limit to its hard one, for tests that hold more
/// sockets than the common default of 1024.
fn raise_own_file_limit() {
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        })
        .unwrap_or_else(|| "4096".to_owned());
    let _ = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status();
}

#[test]
fn idle_tcp_connections_cannot_starve_udp_callers() {
    raise_own_file_limit();
    let dir = scratch("hostile-tcp");
    // The per-address cap would stop one host at 32; lift it to try the total cap.
    let bridge = Bridge::start_with(
        &dir,
        8070,
        (30700, 31299),
        None,
        &["--sip-tcp-max-per-address", "5000"],
        Some(1024),
        &[],
    );
    let log = bridge.log_text();
    assert!(log.contains("tcp_connections=256"), "{log}");
    // 1100 connections that never send a byte.
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .filter_map(|_| std::net::TcpStream::connect((LOCAL, 8070)).ok())
        .collect();
    assert!(idle.len() >= 1000, "connected {}", idle.len());
    std::thread::sleep(Duration::from_millis(500));
    let with_tcp = bridge.open_descriptors();
    assert!(
        (256..400).contains(&with_tcp),
        "TCP holds at most a quarter: {with_tcp} open"
    );
    // UDP callers are served as ever: 100 calls, each with its RTP and RTCP sockets.
    let calls: Vec<RawCall> = (0..100)
        .map(|n| answered(RawCall::dial(LOCAL, 8070, "500", 49000 + 2 * n)))
        .collect();
    wait_for_log(&bridge, "joined role", 100, Duration::from_secs(10));
    let open = bridge.open_descriptors();
    assert!(open < 1024, "{open} descriptors open");
    let log = bridge.log_text();
    assert!(!log.contains("no RTP port"), "{log}");
    assert!(!log.contains("out of file descriptors"), "{log}");
    eprintln!(
        "{} idle TCP connections, 100 UDP callers in; the bridge holds {open} descriptors of 1024",
        idle.len()
    );
    drop(calls);
    drop(idle);
}

/// CPU seconds the process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start past the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

/// Sends `count` OPTIONS at `per_second`, each a new transaction, and returns how many
/// answers came back.
fn options_burst(socket: &UdpSocket, bridge: u16, first: u64, count: u64, per_second: u64) -> u64 {
    let local = socket.local_addr().expect("local");
    let start = Instant::now();
    let mut answered = 0;
    let mut buf = [0u8; 2048];
    for n in first..first + count {
        let due = start + Duration::from_micros((n - first) * 1_000_000 / per_second);
        while Instant::now() < due {
            while socket.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let text = format!(
            "OPTIONS sip:500@127.0.0.1:{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKflood{n}\r\nMax-Forwards: 70\r\nFrom: <sip:scan@127.0.0.1>;tag={n}\r\nTo: <sip:500@127.0.0.1>\r\nCall-ID: flood{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = socket.send_to(text.as_bytes(), (LOCAL, bridge));
    }
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        while socket.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    answered
}

#[test]
fn a_flood_of_options_leaves_the_cost_per_message_flat() {
    let dir = scratch("hostile-flood");
    let bridge = Bridge::start(&dir, 8090, (31300, 31399), None, &[]);
    let pid = bridge.pid().expect("pid");
    let socket = UdpSocket::bind((LOCAL, 0)).expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    // Cost of 3000 messages with nothing else live.
    let before_cpu = cpu_seconds(pid);
    let quiet = options_burst(&socket, 8090, 0, 3000, 1000);
    let before = cpu_seconds(pid) - before_cpu;
    // 2000 a second for 30 s: 60,000 transactions linger for 32 s each.
    let flood = options_burst(&socket, 8090, 10_000, 60_000, 2000);
    // The same 3000 messages right after, with the flood's transactions all live.
    let after_cpu = cpu_seconds(pid);
    let loaded = options_burst(&socket, 8090, 100_000, 3000, 1000);
    let after = cpu_seconds(pid) - after_cpu;
    eprintln!(
        "CPU for 3000 OPTIONS: {:.0} ms before a 60,000-message flood, {:.0} ms with its \
         transactions live; answered {quiet}, {flood}, {loaded}",
        before * 1000.0,
        after * 1000.0
    );
    assert!(flood >= 59_000, "the flood was answered: {flood}");
    assert!(quiet >= 2990 && loaded >= 2990, "{quiet} {loaded}");
    // A scan of 60,000 live transactions per message would cost seconds here.
    assert!(
        after <= before * 3.0 + 0.1,
        "cost per message grew with live transactions: {before:.3} s → {after:.3} s"
    );
}

#[test]
fn without_a_pbx_in_front_callers_authenticate_with_digest() {
    let dir = scratch("hostile-digest");
    let users = dir.join("users");
    std::fs::write(&users, "# who may call\nalice:wonderland\n").expect("users file");
    let users = users.to_string_lossy().into_owned();
    // sipp answers the first challenge only and knows MD5 alone: offer that first.
    let bridge = Bridge::start(
        &dir,
        8095,
        (31400, 31499),
        None,
        &[
            "--sip-auth-file",
            &users,
            "--sip-auth-algorithms",
            "md5,sha-256",
        ],
    );
    // A phone with the password is challenged, answers and gets in.
    let (ok, out) = common::sipp(
        "auth_call.xml",
        8095,
        8096,
        31450,
        &[],
        Duration::from_secs(30),
    );
    assert!(ok, "sipp failed:\n{out}");
    let log = bridge.log_text();
    assert!(log.contains("joined role"), "{log}");
    assert!(
        !log.contains("wonderland"),
        "the password never reaches the log"
    );
    // Without credentials: 401, and nothing is set up.
    assert!(matches!(
        RawCall::dial(LOCAL, 8095, "500", 31460),
        Outcome::Refused(401)
    ));
}

#[test]
fn a_burst_of_300_byes_is_answered_whole() {
    let dir = scratch("hostile-bye-burst");
    let config = "[extension.500]\nmax_members = 300\n";
    let bridge = Bridge::start(&dir, 8097, (31700, 32399), Some(config), &[]);
    let mut calls: Vec<RawCall> = (0..300)
        .map(|n| answered(RawCall::dial(LOCAL, 8097, "500", 41000 + 2 * n)))
        .collect();
    wait_for_log(&bridge, "joined role", 300, Duration::from_secs(20));
    // Every BYE at once, back to back, before reading a single answer.
    for call in &mut calls {
        call.cseq += 1;
        let text = call.message_with_tags(
            "BYE",
            &format!("z9hG4bKburst{}", call.cseq),
            call.cseq,
            &call.from_tag.clone(),
            Some(&call.to_tag.clone()),
            None,
        );
        call.send(&text);
    }
    let answered = calls
        .iter_mut()
        .map(|c| c.await_status("BYE", Duration::from_secs(5)))
        .filter(|status| *status == Some(200))
        .count();
    assert_eq!(
        answered, 300,
        "every BYE answered, none lost in the socket buffer"
    );
    wait_for_log(&bridge, "reason=remote_bye", 300, Duration::from_secs(10));
}

#[test]
fn callers_stuck_at_the_pin_prompt_cannot_take_every_port() {
    let dir = scratch("hostile-pending");
    let config = "[extension.600]\npin = \"4826\"\n";
    let bridge = Bridge::start(
        &dir,
        8099,
        (32400, 32499),
        Some(config),
        &["--max-pending-per-extension", "3"],
    );
    // Three callers sit at the PIN prompt and key nothing.
    let mut waiting: Vec<RawCall> = (0..3)
        .map(|n| answered(RawCall::dial(LOCAL, 8099, "600", 42800 + 2 * n)))
        .collect();
    assert!(matches!(
        RawCall::dial(LOCAL, 8099, "600", 42810),
        Outcome::Refused(486)
    ));
    // A place frees up when one of them hangs up.
    assert_eq!(waiting[0].request("BYE", None), Some(200));
    let mut next = answered(RawCall::dial(LOCAL, 8099, "600", 42820));
    assert!(next.keys("4826#"));
    wait_for_log(&bridge, "joined role", 1, Duration::from_secs(5));
    assert!(
        bridge
            .log_text()
            .contains("too many callers wait to get in")
    );
}
