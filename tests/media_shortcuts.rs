//! The work the bridge no longer does, proven on the wire and in `/metrics`: in a room
//! where one member talks and the others send silence marked with RFC 6464 levels, the
//! listeners get the talker's own packets byte for byte, the talker gets the shared
//! silence, and the silent packets are never decoded. Fails if forwarding or decode
//! skipping stops happening, whatever the timing.
//! Ports: SIP 8800-8899, RTP 37000-37499 (unique within this binary).

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use common::{Bridge, scratch, wait_until};
use rawsip::{Outcome, RawCall, rtp_packet_with_level};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A member: its call and the socket its RTP goes from (the address it announced).
struct Member {
    _call: RawCall,
    rtp: UdpSocket,
    to: SocketAddr,
}

fn member(bridge_port: u16, rtp_port: u16) -> Member {
    let ip = IpAddr::from([127, 0, 0, 1]);
    let rtp = UdpSocket::bind((ip, rtp_port)).expect("bind RTP");
    rtp.set_nonblocking(true).expect("nonblocking");
    let Outcome::Answered(call) = RawCall::dial(ip, bridge_port, "500", rtp_port) else {
        panic!("not answered");
    };
    let to = SocketAddr::new(ip, call.bridge_rtp);
    Member {
        _call: call,
        rtp,
        to,
    }
}

/// The payloads waiting on a member's socket.
fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok(n) = socket.recv(&mut buf) {
        if n > 12 && buf[1] & 0x7f == 0 {
            out.push(buf[12..n].to_vec());
        }
    }
    out
}

/// A counter's value in the Prometheus text.
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_lone_talker_is_forwarded_and_silence_is_neither_decoded_nor_encoded() {
    let dir = scratch("shortcuts");
    let bridge = Bridge::start(&dir, 8800, (37000, 37099), None, &[]);
    let members: Vec<Member> = (0..3).map(|i| member(8800, 37200 + 2 * i)).collect();
    assert!(wait_until(Duration::from_secs(5), || {
        rawsip::members(bridge.http_port(), "500") == Some(3)
    }));
    // The talker's frames: µ-law of a 1 kHz tone, a different byte pattern each frame.
    let tone: Vec<Vec<u8>> = (0..8)
        .map(|k| {
            (0..160)
                .map(|i| {
                    let t = f64::from(k * 160 + i) / 8000.0;
                    let s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
                    let mut b = [0u8];
                    chorus_codec::encode(chorus_types::Codec::Pcmu, &[s], &mut b);
                    b[0]
                })
                .collect()
        })
        .collect();
    let sent: HashSet<Vec<u8>> = tone.iter().cloned().collect();
    let silence = vec![0xFFu8; 160];
    let start = Instant::now();
    let mut heard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    for n in 0..150u32 {
        // Paced on absolute deadlines, as a phone sends.
        let due = start + Duration::from_millis(20 * u64::from(n));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for (i, m) in members.iter().enumerate() {
            let (payload, level) = if i == 0 {
                (&tone[n as usize % tone.len()], 10)
            } else {
                (&silence, 127)
            };
            let seq = n as u16;
            let packet = rtp_packet_with_level(0x1000 + i as u32, seq, n * 160, payload, level);
            let _ = m.rtp.send_to(&packet, m.to);
            heard[i].extend(drain(&m.rtp));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    for (i, m) in members.iter().enumerate() {
        heard[i].extend(drain(&m.rtp));
    }
    // The listeners got the talker's own frames, byte for byte.
    for (i, got) in heard.iter().enumerate().skip(1) {
        let forwarded = got.iter().filter(|p| sent.contains(*p)).count();
        assert!(
            forwarded >= 100,
            "listener {i}: {forwarded} of {} were the talker's",
            got.len()
        );
    }
    // The talker heard one shared silent frame, again and again.
    let silent = heard[0].iter().filter(|p| **p == silence).count();
    assert!(
        silent >= 100,
        "the talker: {silent} silent frames of {}",
        heard[0].len()
    );
    // The mixing threads publish their counters about once a second.
    let fetch = || {
        ureq::get(format!("http://127.0.0.1:{}/metrics", bridge.http_port()))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    };
    let mut metrics = String::new();
    // About 150 packets each way per member went by; half is plenty to show the work was
    // skipped, and none would mean it no longer is.
    let enough = |m: &str| {
        counter(m, "chorus_media_frames_total{path=\"forwarded\"}") >= 150.0
            && counter(m, "chorus_media_frames_total{path=\"silence\"}") >= 75.0
            && counter(m, "chorus_media_decodes_skipped_total") >= 150.0
    };
    wait_until(Duration::from_secs(3), || {
        metrics = fetch();
        enough(&metrics)
    });
    let forwarded = counter(&metrics, "chorus_media_frames_total{path=\"forwarded\"}");
    let shared_silence = counter(&metrics, "chorus_media_frames_total{path=\"silence\"}");
    let skipped = counter(&metrics, "chorus_media_decodes_skipped_total");
    eprintln!("forwarded {forwarded}, silence {shared_silence}, decodes skipped {skipped}");
    assert!(enough(&metrics), "{metrics}");
}
