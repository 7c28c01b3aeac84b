//! The conference event package (RFC 4575) with sipp as the subscribing phone: the full
//! roster, partial NOTIFYs with increasing versions on a join and a mute, refresh,
//! unsubscribe, expiry, and a stranger refused. Every NOTIFY body is checked against the
//! RFC 4575 schema with xmllint.
//! Ports: SIP 8700-8799, RTP 36400-36999 (unique within this binary).

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use common::{Bridge, http, repo_root, require, scratch, sipp, wait_for_log, wait_until};
use rawsip::{Outcome, RawCall};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn member_ids(port: u16) -> Vec<u64> {
    let (_, list) = http(port, "GET", "/extension/500/conference/members/", "");
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

fn join(bridge_port: u16, rtp_port: u16) -> RawCall {
    match RawCall::dial(localhost(), bridge_port, "500", rtp_port) {
        Outcome::Answered(call) => call,
        _ => panic!("the member's call was not answered"),
    }
}

/// The bodies of the NOTIFYs sipp received, in order, from its message log.
fn notify_bodies(log: &str) -> Vec<String> {
    log.split("----------------------------------------------- ")
        .filter(|chunk| chunk.contains("message received"))
        .filter_map(|chunk| {
            let start = chunk.find("NOTIFY sip:")?;
            let message = &chunk[start..];
            let body_at = message
                .find("\r\n\r\n")
                .map(|i| i + 4)
                .or_else(|| message.find("\n\n").map(|i| i + 2))?;
            Some(message[body_at..].trim().to_owned())
        })
        .collect()
}

/// The `version` of the `conference-info` element (not of the XML declaration).
fn version(body: &str) -> Option<u32> {
    let element = &body[body.find("<conference-info")?..];
    let at = element.find(" version=\"")? + " version=\"".len();
    element[at..].split('"').next()?.parse().ok()
}

/// Every body must be a valid `conference-info` document (RFC 4575 §6).
fn assert_valid(dir: &Path, bodies: &[String]) {
    require("xmllint", "libxml2-utils");
    let schema = repo_root().join("fixtures/schema/conference-info.xsd");
    for (n, body) in bodies.iter().enumerate() {
        let path = dir.join(format!("notify-{n}.xml"));
        std::fs::write(&path, body).expect("write body");
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&path)
            .output()
            .expect("run xmllint");
        assert!(
            out.status.success(),
            "NOTIFY {n} is not valid conference-info:\n{}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_member_watches_the_roster_change_and_every_document_is_valid() {
    let dir = scratch("subscribe-roster");
    let bridge = Bridge::start(&dir, 8700, (36400, 36499), None, &[]);
    let port = bridge.http_port();
    let _first = join(8700, 36900);
    assert!(wait_until(Duration::from_secs(10), || member_ids(port)
        .len()
        == 1));

    let log = dir.join("subscriber-messages.log");
    let log_arg = log.to_string_lossy().into_owned();
    let subscriber = std::thread::spawn(move || {
        sipp(
            "subscribe.xml",
            8700,
            8710,
            36910,
            &["-trace_msg", "-message_file", &log_arg],
            Duration::from_secs(60),
        )
    });
    wait_for_log(
        &bridge,
        "conference subscription",
        1,
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _second = join(8700, 36920);
    let mut ids = Vec::new();
    assert!(wait_until(Duration::from_secs(10), || {
        ids = member_ids(port);
        ids.len() == 2
    }));
    std::thread::sleep(Duration::from_millis(500));
    let newest = ids.iter().max().copied().expect("two members");
    let (status, _) = http(
        port,
        "POST",
        &format!("/extension/500/conference/members/{newest}/mute"),
        "",
    );
    assert_eq!(status, 204, "mute");
    let metrics = ureq::get(format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    assert!(
        metrics.contains("chorus_conference_subscriptions 1"),
        "{metrics}"
    );
    let (ok, out) = subscriber.join().expect("sipp thread");
    assert!(ok, "sipp:\n{out}\nbridge:\n{}", bridge.log_text());

    let bodies = notify_bodies(&std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(
        bodies.len(),
        5,
        "full, join, mute, refresh, final:\n{bodies:#?}"
    );
    let versions: Vec<Option<u32>> = bodies.iter().map(|b| version(b)).collect();
    assert_eq!(
        versions,
        [1, 2, 3, 4, 5].map(Some),
        "versions only increase"
    );
    assert!(
        bodies[0].contains("state=\"full\"") && bodies[0].contains("<user-count>1</user-count>")
    );
    assert!(bodies[1].contains("state=\"partial\""), "{}", bodies[1]);
    assert_eq!(
        bodies[1].matches("<endpoint ").count(),
        2,
        "both legs of the user"
    );
    assert!(bodies[2].contains("muted-via-focus"), "{}", bodies[2]);
    assert!(bodies[3].contains("state=\"full\""));
    assert_valid(&dir, &bodies);
}

#[test]
fn an_unrefreshed_subscription_ends_when_it_expires() {
    let dir = scratch("subscribe-expiry");
    // The member sends no RTP: keep it in past the subscription's minute.
    let bridge = Bridge::start(
        &dir,
        8720,
        (36500, 36599),
        None,
        &["--media-timeout", "120"],
    );
    let _member = join(8720, 36930);
    assert!(wait_until(Duration::from_secs(10), || {
        member_ids(bridge.http_port()).len() == 1
    }));
    let (ok, out) = sipp(
        "subscribe_expiry.xml",
        8720,
        8730,
        36940,
        &[],
        Duration::from_secs(90),
    );
    assert!(ok, "sipp:\n{out}\nbridge:\n{}", bridge.log_text());
    wait_for_log(&bridge, "subscription expired", 1, Duration::from_secs(5));
}

#[test]
fn a_stranger_cannot_see_who_is_in() {
    let dir = scratch("subscribe-stranger");
    let bridge = Bridge::start(&dir, 8740, (36600, 36699), None, &[]);
    let _member = join(8740, 36950);
    assert!(wait_until(Duration::from_secs(10), || {
        member_ids(bridge.http_port()).len() == 1
    }));
    // Another address on the same host: no member's dialog comes from it.
    let (ok, out) = sipp(
        "subscribe_refused.xml",
        8740,
        8750,
        36960,
        &["-i", "127.0.0.2"],
        Duration::from_secs(20),
    );
    assert!(ok, "sipp:\n{out}\nbridge:\n{}", bridge.log_text());
    // The same from a nonexistent conference: the same 403.
    let (ok, out) = sipp(
        "subscribe_refused.xml",
        8740,
        8751,
        36970,
        &["-i", "127.0.0.2", "-s", "nosuch"],
        Duration::from_secs(20),
    );
    assert!(ok, "sipp:\n{out}");
}
