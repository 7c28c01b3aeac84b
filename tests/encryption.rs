//! Encrypted calls with real peers on loopback: a baresip phone over SIP/TLS with SRTP
//! beside a plain one (recordings analysed, the wire captured), sipp over TLS, the SRTP
//! policy's refusals, forged and replayed SRTP counted, and a certificate reloaded under a
//! live call.

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chorus_rtp::srtp::{SrtpContext, SrtpKey, SrtpProfile};
use common::tls::{Capture, Captured, TestCa, TlsShim, served_name};
use common::{Bridge, Phone, scratch, sipp, tone_level_db, wait_until, write_tone};
use rawsip::{Outcome, RawCall};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Seconds each phone stays in the call.
const CALL_SECS: u32 = 8;

fn tone(dir: &std::path::Path, freq: u32) -> std::path::PathBuf {
    let path = dir.join(format!("tone-{freq}.wav"));
    write_tone(
        &path,
        8000,
        f64::from(freq),
        0.3,
        f64::from(CALL_SECS) + 3.0,
    );
    path
}

/// The share of RTP payloads (past the 12-byte header) that repeat with one of the tones'
/// periods: µ-law of a steady tone does, nearly byte for byte; ciphertext never does.
fn periodic_share(packets: &[&Captured], periods: &[usize]) -> f64 {
    let rtp: Vec<&[u8]> = packets
        .iter()
        .map(|p| &p.payload[..])
        .filter(|p| p.len() > 12 + 40 && p[0] >> 6 == 2 && !(200..=204).contains(&p[1]))
        .map(|p| &p[12..])
        .collect();
    if rtp.is_empty() {
        return 0.0;
    }
    let periodic = rtp
        .iter()
        .filter(|payload| {
            periods.iter().any(|&period| {
                let pairs = payload.len() - period;
                let same = (0..pairs)
                    .filter(|&i| payload[i] == payload[i + period])
                    .count();
                same * 10 >= pairs * 9
            })
        })
        .count();
    periodic as f64 / rtp.len() as f64
}

fn has_text(packets: &[&Captured], needle: &str) -> bool {
    packets.iter().any(|p| {
        p.payload
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    })
}

#[test]
fn a_tls_srtp_phone_and_a_plain_phone_hear_each_other_and_the_encrypted_leg_is_unreadable() {
    let dir = scratch("tls-srtp-phones");
    let ca = TestCa::new(&dir.join("ca"));
    let (cert, key) = ca.issue("chorus-bridge");
    let capture = Capture::start(
        &dir,
        "wire",
        "udp portrange 38000-38099 or tcp port 9001 or udp port 9000",
    );
    let bridge = Bridge::start(
        &dir,
        9000,
        (38000, 38099),
        None,
        &[
            "--sip-tls-listen",
            "127.0.0.1:9001",
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            key.to_str().expect("path"),
        ],
    );
    // The secure phone's RTP on 17000-17020, the plain one's on 17100-17120.
    let secure = Phone::dial_secure(
        &dir,
        "secure",
        9010,
        17000,
        &tone(&dir, 1000),
        "sip:500@127.0.0.1:9001;transport=tls",
        CALL_SECS,
        &ca.cert,
    );
    let plain = Phone::dial(
        &dir,
        "plain",
        9030,
        17100,
        &tone(&dir, 400),
        "sip:500@127.0.0.1:9000",
        CALL_SECS,
    );
    // While both are in: the members list says which leg is encrypted, and how.
    let port = bridge.http_port();
    let mut members = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(6), || {
            members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
            members.as_array().is_some_and(|m| m.len() == 2)
        }),
        "two members: {members}"
    );
    let by_transport = |t: &str| {
        members
            .as_array()
            .and_then(|m| m.iter().find(|m| m["transport"] == t))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_transport("tls")["encrypted"], true, "{members}");
    assert_eq!(by_transport("udp")["encrypted"], false, "{members}");

    let heard_by_secure = secure.recording();
    let heard_by_plain = plain.recording();
    let packets = capture.stop();
    for ((samples, rate), other, own, who) in [
        (&heard_by_secure, 400.0, 1000.0, "secure"),
        (&heard_by_plain, 1000.0, 400.0, "plain"),
    ] {
        let steady = &samples[(2 * rate) as usize..(6 * rate) as usize];
        let level = tone_level_db(steady, *rate, other);
        let itself = tone_level_db(steady, *rate, own);
        eprintln!("{who} hears the other at {level:.1} dBFS, itself at {itself:.1} dBFS");
        assert!(
            (-13.0..=-8.0).contains(&level),
            "{who} hears {level:.1} dBFS"
        );
        assert!(level - itself >= 30.0, "{who} hears itself");
    }

    // The wire. The encrypted leg's media: no payload is the tones' µ-law (1000 Hz
    // repeats every 8 samples, 400 Hz every 20); the plain leg's is, which proves the
    // check can see it.
    let leg = |range: std::ops::RangeInclusive<u16>| -> Vec<&Captured> {
        packets
            .iter()
            .filter(|p| p.udp && (range.contains(&p.src_port) || range.contains(&p.dst_port)))
            .collect()
    };
    let encrypted = leg(17000..=17020);
    let clear = leg(17100..=17120);
    assert!(
        encrypted.len() > 200 && clear.len() > 200,
        "{} {}",
        encrypted.len(),
        clear.len()
    );
    // Each leg carries both tones, one each way.
    let share = periodic_share(&encrypted, &[8, 20]);
    assert!(
        share < 0.01,
        "encrypted leg: {share:.3} of payloads repeat like a tone"
    );
    let share = periodic_share(&clear, &[8, 20]);
    assert!(
        share > 0.8,
        "plain leg: only {share:.3} of payloads repeat like a tone"
    );
    // Its SIP: TLS records only; the plain leg's SIP is readable.
    let tls: Vec<&Captured> = packets
        .iter()
        .filter(|p| !p.udp && (p.src_port == 9001 || p.dst_port == 9001) && !p.payload.is_empty())
        .collect();
    assert!(tls.len() >= 4, "TLS segments: {}", tls.len());
    assert!(
        tls.iter()
            .all(|p| p.payload[0] >= 0x14 && p.payload[0] <= 0x17 || p.payload.len() < 5)
    );
    for text in ["SIP/2.0", "INVITE", "a=crypto", "secure@"] {
        assert!(!has_text(&tls, text), "{text:?} readable on the TLS leg");
    }
    let udp_sip: Vec<&Captured> = packets
        .iter()
        .filter(|p| p.udp && p.dst_port == 9000)
        .collect();
    assert!(
        has_text(&udp_sip, "INVITE sip:500@"),
        "the plain leg's SIP is readable"
    );
    // No key reaches the log.
    let log = bridge.log_text();
    assert!(!log.contains("inline:"), "a key in the log");
}

/// An SDP offer of SRTP (AES_CM_128_HMAC_SHA1_80) with `key` at `rtp_port`.
fn srtp_offer(rtp_port: u16, key: &SrtpKey) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
        STANDARD.encode(key.material())
    )
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn metrics(port: u16) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text")
}

#[test]
fn srtp_required_refuses_plain_offers_and_counts_forged_and_replayed_packets() {
    let dir = scratch("srtp-required");
    let bridge = Bridge::start(
        &dir,
        9050,
        (38100, 38199),
        None,
        &["--srtp", "required", "--srtp-allow-cleartext-keys", "true"],
    );
    // A plain offer: 488.
    assert!(matches!(
        RawCall::dial(LOCAL, 9050, "500", 17200),
        Outcome::Refused(488)
    ));
    // An SRTP offer: answered with the bridge's own key.
    let ours = SrtpKey::new(SrtpProfile::AesCm128HmacSha1_80, &[0x42; 30]).expect("key");
    let media = UdpSocket::bind("127.0.0.1:17210").expect("rtp socket");
    media
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let Outcome::Answered(call) =
        RawCall::dial_offering(LOCAL, 9050, "500", &srtp_offer(17210, &ours))
    else {
        panic!("an SRTP offer is answered");
    };
    assert!(call.answer.contains("RTP/SAVP"), "{}", call.answer);
    let inline = call
        .answer
        .lines()
        .find_map(|l| l.split("inline:").nth(1))
        .expect("a=crypto in the answer")
        .to_owned();
    let theirs = SrtpKey::new(
        SrtpProfile::AesCm128HmacSha1_80,
        &STANDARD
            .decode(inline.split('|').next().unwrap_or_default().trim())
            .expect("base64 key"),
    )
    .expect("the bridge's key");
    let bridge_rtp = format!("127.0.0.1:{}", call.bridge_rtp);
    // Good packets, then the same one again, a forged one, and a plain one.
    let mut sender = SrtpContext::new(&ours);
    let mut packet = |seq: u16| {
        let mut p = rawsip::rtp_packet(0x5eed, seq, u32::from(seq) * 160);
        sender.protect_rtp(&mut p, 0).expect("protect");
        p
    };
    let mut last = Vec::new();
    for seq in 1..=50u16 {
        last = packet(seq);
        media.send_to(&last, &bridge_rtp).expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
    media.send_to(&last, &bridge_rtp).expect("replay");
    let mut forged = packet(51);
    forged[20] ^= 0x10;
    media.send_to(&forged, &bridge_rtp).expect("forged");
    media
        .send_to(&rawsip::rtp_packet(0x5eed, 52, 52 * 160), &bridge_rtp)
        .expect("plain");
    // What the bridge sends is SRTP under its key from the answer.
    let mut receiver = SrtpContext::new(&theirs);
    let mut buf = [0u8; 2048];
    let mut opened = 0;
    let mut plain = Vec::new();
    for _ in 0..30 {
        if let Ok((n, _)) = media.recv_from(&mut buf)
            && receiver.unprotect_rtp(&buf[..n], &mut plain).is_ok()
        {
            opened += 1;
        }
    }
    assert!(
        opened >= 10,
        "only {opened} SRTP packets from the bridge opened"
    );
    let port = bridge.http_port();
    let mut text = String::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            text = metrics(port);
            metric(&text, "chorus_srtp_dropped_total{reason=\"replay\"}") == Some(1.0)
                && metric(&text, "chorus_srtp_dropped_total{reason=\"auth_failure\"}") == Some(2.0)
        }),
        "{}",
        text.lines()
            .filter(|l| l.contains("srtp"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
    let media_figures = &members[0]["media"];
    assert_eq!(members[0]["encrypted"], true, "{members}");
    assert_eq!(media_figures["srtp_auth_failures"], 2, "{members}");
    assert_eq!(media_figures["srtp_replayed"], 1, "{members}");
    assert_eq!(media_figures["packets_received"], 50, "{members}");
    drop(call);
    // Keys stay out of the log.
    let log = bridge.log_text();
    assert!(!log.contains(inline.trim()), "the bridge's key in the log");
    // SIGHUP (systemctl reload) without TLS: noted, and the bridge carries on.
    hangup(&bridge);
    assert!(wait_until(Duration::from_secs(5), || {
        bridge.log_text().contains("no TLS certificate to reload")
    }));
    assert!(metrics(port).contains("chorus_ready 1"));
}

#[test]
fn sipp_over_tls_calls_holds_cancels_and_is_hung_up_by_the_bridge() {
    let dir = scratch("sipp-tls");
    let ca = TestCa::new(&dir.join("ca"));
    let (cert, key) = ca.issue("chorus-bridge");
    let bridge = Bridge::start(
        &dir,
        9100,
        (38200, 38299),
        None,
        &[
            "--sip-tls-listen",
            "127.0.0.1:9101",
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            key.to_str().expect("path"),
            "--answer-delay-ms",
            "1000",
        ],
    );
    // sipp speaks TCP to the shim, which carries it over TLS to the bridge.
    let _shim = TlsShim::start(9105, 9101, &ca.cert);
    let limit = Duration::from_secs(40);
    for (scenario, local, media) in [
        ("basic_call.xml", 9110, 17300),
        ("reinvite.xml", 9120, 17320),
        ("cancel.xml", 9130, 17340),
    ] {
        let (ok, out) = sipp(scenario, 9105, local, media, &["-t", "t1"], limit);
        assert!(ok, "{scenario} over TLS:\n{out}");
    }
    // The bridge's own BYE (the operator kicks the caller) goes back over the caller's
    // TLS connection.
    let caller = std::thread::spawn(move || {
        sipp(
            "bye_from_bridge.xml",
            9105,
            9140,
            17360,
            &["-t", "t1"],
            limit,
        )
    });
    let port = bridge.http_port();
    let mut id = None;
    assert!(
        wait_until(Duration::from_secs(15), || {
            let members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
            id = members[0]["id"].as_u64();
            id.is_some()
        }),
        "the last caller joined"
    );
    let kick = format!(
        "/extension/500/conference/members/{}/kick",
        id.unwrap_or_default()
    );
    assert_eq!(common::http(port, "POST", &kick, "").0, 204);
    let (ok, out) = caller.join().expect("sipp");
    assert!(ok, "bye_from_bridge over TLS:\n{out}");
    let log = bridge.log_text();
    assert_eq!(log.matches("transport=Tls").count(), 4, "{log}");
    assert!(log.contains("reason=cancelled"), "{log}");
    assert!(log.contains("re-INVITE accepted"), "{log}");
    assert!(log.contains("reason=kicked"), "{log}");
}

#[test]
fn a_reloaded_certificate_serves_new_connections_and_the_live_call_stays() {
    let dir = scratch("tls-reload");
    let ca = TestCa::new(&dir.join("ca"));
    let (cert, key) = ca.issue("chorus-first");
    // The bridge reads the files at these paths; the test replaces them.
    let live_cert = dir.join("bridge.pem");
    let live_key = dir.join("bridge.key");
    std::fs::copy(&cert, &live_cert).expect("cert");
    std::fs::copy(&key, &live_key).expect("key");
    let bridge = Bridge::start(
        &dir,
        9150,
        (38300, 38399),
        None,
        &[
            "--sip-tls-listen",
            "127.0.0.1:9151",
            "--tls-cert",
            live_cert.to_str().expect("path"),
            "--tls-key",
            live_key.to_str().expect("path"),
        ],
    );
    assert_eq!(served_name(9151, &ca.cert).as_deref(), Some("chorus-first"));
    let phone = Phone::dial_secure(
        &dir,
        "caller",
        9160,
        17400,
        &tone(&dir, 1000),
        "sip:500@127.0.0.1:9151;transport=tls",
        CALL_SECS,
        &ca.cert,
    );
    assert!(
        wait_until(Duration::from_secs(5), || bridge
            .log_text()
            .contains("joined conference")),
        "the TLS caller joined"
    );
    // A broken file is refused and the old certificate stays.
    std::fs::write(&live_cert, "not a certificate").expect("break");
    hangup(&bridge);
    assert!(wait_until(Duration::from_secs(5), || {
        bridge.log_text().contains("TLS certificate not reloaded")
    }));
    assert_eq!(served_name(9151, &ca.cert).as_deref(), Some("chorus-first"));
    // The new certificate.
    let (cert, key) = ca.issue("chorus-second");
    std::fs::copy(&cert, &live_cert).expect("cert");
    std::fs::copy(&key, &live_key).expect("key");
    hangup(&bridge);
    assert!(wait_until(Duration::from_secs(5), || {
        bridge.log_text().contains("TLS certificate reloaded")
    }));
    assert_eq!(
        served_name(9151, &ca.cert).as_deref(),
        Some("chorus-second")
    );
    // The call made under the first certificate lasted its full length.
    let log_before_end = bridge.log_text();
    assert!(
        !log_before_end.contains("call summary"),
        "the call ended early"
    );
    let (samples, rate) = phone.recording();
    assert!(samples.len() as u32 >= (CALL_SECS - 2) * rate);
    let log = bridge.log_text();
    assert!(log.contains("reason=remote_bye"), "{log}");
}

/// Once `inviter` is in, it keys `*8`, then `number#`.
fn star8(bridge: &Bridge, inviter: &Phone, number: &str) {
    common::wait_for_log(bridge, "joined role", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    inviter.keys("*8");
    std::thread::sleep(Duration::from_millis(1500));
    inviter.keys(&format!("{number}#"));
}

fn hangup(bridge: &Bridge) {
    let pid = bridge.pid().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn star8_dials_out_over_tls_with_srtp_and_trusts_only_the_named_ca() {
    let dir = scratch("dialout-tls");
    let ca = TestCa::new(&dir.join("ca"));
    let (cert, key) = ca.issue("chorus-bridge");
    let number = ca.bundle("trunk");
    let bridge = Bridge::start(
        &dir,
        9200,
        (38400, 38499),
        None,
        &[
            "--sip-tls-listen",
            "127.0.0.1:9201",
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            key.to_str().expect("path"),
            "--srtp",
            "required",
            // The number's TLS port is its SIP port + 1.
            "--dialout-uri",
            "sip:{number}@127.0.0.1:9221;transport=tls",
            "--dialout-transport",
            "tls",
            "--dialout-ca",
            ca.cert.to_str().expect("path"),
        ],
    );
    let callee = Phone::answering_secure(
        &dir,
        "7001",
        9220,
        17600,
        &tone(&dir, 1000),
        16,
        &ca.cert,
        &number,
    );
    let inviter = Phone::dial_secure(
        &dir,
        "inviter",
        9210,
        17500,
        &tone(&dir, 400),
        "sip:500@127.0.0.1:9201;transport=tls",
        16,
        &ca.cert,
    );
    star8(&bridge, &inviter, "7001");
    common::wait_for_log(
        &bridge,
        "invited number answered",
        1,
        Duration::from_secs(20),
    );
    common::wait_for_log(&bridge, "joined role", 2, Duration::from_secs(20));
    let port = bridge.http_port();
    let members = common::http(port, "GET", "/extension/500/conference/members/", "").1;
    let all = members.as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 2, "{members}");
    assert!(
        all.iter()
            .all(|m| m["transport"] == "tls" && m["encrypted"] == true),
        "{members}"
    );
    let at = inviter.elapsed();
    let (heard, rate) = inviter.recording();
    let level = tone_level_db(
        common::window(&heard, rate, at + 1.0, at + 5.0),
        rate,
        1000.0,
    );
    eprintln!("the inviter hears the number at {level:.1} dBFS");
    assert!(level > -15.0, "the inviter does not hear the number");
    drop(callee);
}

#[test]
fn dial_out_over_tls_refuses_a_trunk_its_ca_did_not_sign() {
    let dir = scratch("dialout-tls-untrusted");
    let trusted = TestCa::new(&dir.join("trusted"));
    let stranger = TestCa::new(&dir.join("stranger"));
    let (cert, key) = stranger.issue("impostor");
    // A TLS server with a certificate the bridge has no reason to trust.
    let mut impostor = std::process::Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:9261", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(dir.join("impostor.log")).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let bridge = Bridge::start(
        &dir,
        9250,
        (38500, 38599),
        None,
        &[
            "--dialout-uri",
            "sip:{number}@127.0.0.1:9261;transport=tls",
            "--dialout-transport",
            "tls",
            "--dialout-ca",
            trusted.cert.to_str().expect("path"),
        ],
    );
    let inviter = Phone::dial(
        &dir,
        "inviter",
        9270,
        17700,
        &tone(&dir, 400),
        "sip:500@127.0.0.1:9250",
        10,
    );
    star8(&bridge, &inviter, "7001");
    common::wait_for_log(
        &bridge,
        "SIP TLS connect refused",
        1,
        Duration::from_secs(15),
    );
    let log = bridge.log_text();
    assert!(log.contains("certificate"), "{log}");
    let _ = impostor.kill();
    let _ = impostor.wait();
    let seen = std::fs::read_to_string(dir.join("impostor.log")).unwrap_or_default();
    assert!(
        !seen.contains("INVITE"),
        "the INVITE reached an untrusted trunk:\n{seen}"
    );
    drop(inviter);
}
