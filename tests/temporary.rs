//! Conferences on the fly: phones calling the factory URI (sipp, baresip), operators
//! creating and ending temporary conferences over REST, and the limits on both.
//! Ports: SIP 8400-8499 (baresip takes its port, +1 for TLS and +9 for control), RTP
//! 33000-34099 (unique within this binary).

mod common;
#[path = "common/rawsip.rs"]
mod rawsip;

use common::{
    Bridge, Phone, http, scratch, sipp, temporary_ids, tone_level_db, wait_until, write_tone,
};
use rawsip::{Outcome, RawCall};
use std::net::IpAddr;
use std::time::Duration;

fn localhost() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

#[test]
fn each_factory_call_gets_a_new_conference_named_in_a_focus_contact() {
    let dir = scratch("factory-sipp");
    let bridge = Bridge::start(&dir, 8400, (33000, 33099), None, &[]);
    let (ok, out) = sipp(
        "factory_call.xml",
        8400,
        8401,
        33500,
        &["-s", "conference", "-m", "2", "-l", "1"],
        Duration::from_secs(30),
    );
    assert!(ok, "sipp:\n{out}\nbridge:\n{}", bridge.log_text());
    // Both conferences linger (30 s by default) for parties on their way.
    let ids = temporary_ids(bridge.http_port());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(id.starts_with("t-") && id.len() == 12, "{id}");
    }
}

#[test]
fn phones_meet_in_a_conference_made_on_the_fly_which_ends_when_they_leave() {
    const CALL_SECS: u32 = 8;
    let dir = scratch("factory-phones");
    let bridge = Bridge::start(&dir, 8410, (33100, 33199), None, &["--adhoc-linger", "2"]);
    let port = bridge.http_port();
    let tone = |freq: u32| {
        let path = dir.join(format!("tone-{freq}.wav"));
        write_tone(
            &path,
            8000,
            f64::from(freq),
            0.3,
            f64::from(CALL_SECS) + 3.0,
        );
        path
    };
    let a = Phone::dial(
        &dir,
        "creator",
        8440,
        33600,
        &tone(440),
        "sip:conference@127.0.0.1:8410",
        CALL_SECS,
    );
    let mut ids = Vec::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            ids = temporary_ids(port);
            !ids.is_empty()
        }),
        "no temporary conference:\n{}",
        bridge.log_text()
    );
    let id = ids[0].clone();
    let b = Phone::dial(
        &dir,
        "joiner",
        8450,
        33700,
        &tone(1000),
        &format!("sip:{id}@127.0.0.1:8410"),
        CALL_SECS,
    );
    // The creator moderates, the joiner takes part.
    assert!(wait_until(Duration::from_secs(5), || {
        let (_, members) = http(
            port,
            "GET",
            &format!("/extension/{id}/conference/members/"),
            "",
        );
        let roles: Vec<&str> = members
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["role"].as_str())
            .collect();
        roles.contains(&"moderator") && roles.contains(&"participant")
    }));
    let (heard_by_a, rate_a) = a.recording();
    let (heard_by_b, rate_b) = b.recording();
    // B joined up to a second after A: listen from 3 s to 6 s of each recording.
    let window = |s: &[f64], rate: u32| -> Vec<f64> {
        let (from, to) = ((3 * rate) as usize, (6 * rate) as usize);
        s[from.min(s.len())..to.min(s.len())].to_vec()
    };
    let a_hears_b = tone_level_db(&window(&heard_by_a, rate_a), rate_a, 1000.0);
    let b_hears_a = tone_level_db(&window(&heard_by_b, rate_b), rate_b, 440.0);
    eprintln!(
        "creator hears joiner at {a_hears_b:.1} dBFS; joiner hears creator at {b_hears_a:.1} dBFS"
    );
    assert!((-13.0..=-8.0).contains(&a_hears_b), "{a_hears_b:.1} dBFS");
    assert!((-13.0..=-8.0).contains(&b_hears_a), "{b_hears_a:.1} dBFS");

    // Both hung up: after the linger it is gone, and its URI no longer answers.
    assert!(
        wait_until(Duration::from_secs(10), || temporary_ids(port).is_empty()),
        "still live:\n{}",
        bridge.log_text()
    );
    match RawCall::dial(localhost(), 8410, &id, 33800) {
        Outcome::Refused(code) => assert_eq!(code, 404),
        _ => panic!("the ended conference's URI still answers"),
    }
}

#[test]
fn operators_create_join_and_end_temporary_conferences() {
    let dir = scratch("temporary-rest");
    let bridge = Bridge::start(&dir, 8420, (33200, 33299), None, &["--adhoc-max", "2"]);
    let port = bridge.http_port();
    // The rules of a PUT, every field at fault named.
    let (status, error) = http(
        port,
        "POST",
        "/conference/",
        r#"{"pin": "12", "max_members": 0}"#,
    );
    assert_eq!(status, 422, "{error}");
    let text = error.to_string();
    assert!(
        text.contains("pin") && text.contains("max_members"),
        "{text}"
    );

    let (status, created) = http(port, "POST", "/conference/", r#"{"max_members": 1}"#);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["uri"], format!("sip:{id}@127.0.0.1:8420"));
    assert_eq!(created["properties"]["max_members"], 1);
    assert_eq!(temporary_ids(port), vec![id.clone()]);

    let Outcome::Answered(mut first) = RawCall::dial(localhost(), 8420, &id, 33900) else {
        panic!("the first caller is refused");
    };
    assert!(wait_until(Duration::from_secs(5), || {
        rawsip::members(port, &id) == Some(1)
    }));
    // max_members 1: the second caller hears "full" and is hung up on.
    if let Outcome::Answered(mut second) = RawCall::dial(localhost(), 8420, &id, 33902) {
        assert!(
            second.wait_for_bye(Duration::from_secs(10)),
            "a second caller got in"
        );
    }
    // The limit of two: one more is fine, a third is not.
    let (status, _) = http(port, "POST", "/conference/", "null");
    assert_eq!(status, 201, "null is no body: every default");
    let (status, error) = http(port, "POST", "/conference/", "");
    assert_eq!(status, 503, "{error}");

    let (status, _) = http(port, "DELETE", &format!("/conference/{id}"), "");
    assert_eq!(status, 204);
    assert!(
        first.wait_for_bye(Duration::from_secs(10)),
        "the member was not hung up on"
    );
    let (status, _) = http(port, "DELETE", &format!("/conference/{id}"), "");
    assert_eq!(status, 404);
    let (status, _) = http(port, "DELETE", "/conference/500", "");
    assert_eq!(status, 404, "a provisioned extension is not ended here");
    match RawCall::dial(localhost(), 8420, &id, 33904) {
        Outcome::Refused(code) => assert_eq!(code, 404),
        _ => panic!("an ended conference still answers"),
    }
}

#[test]
fn one_source_cannot_mint_conferences_without_limit() {
    let dir = scratch("factory-flood");
    let bridge = Bridge::start(&dir, 8430, (33300, 33399), None, &[]);
    let source = IpAddr::from([127, 0, 0, 7]);
    let mut calls = Vec::new();
    for n in 0..5u16 {
        match RawCall::dial(source, 8430, "conference", 34000 + 2 * n) {
            Outcome::Answered(call) => calls.push(call),
            _ => panic!("factory call {n} refused:\n{}", bridge.log_text()),
        }
    }
    match RawCall::dial(source, 8430, "conference", 34010) {
        Outcome::Refused(code) => assert_eq!(code, 486),
        _ => panic!("a sixth conference in a minute from one source"),
    }
    // Another source is not held back by the first.
    assert!(matches!(
        RawCall::dial(IpAddr::from([127, 0, 0, 8]), 8430, "conference", 34012),
        Outcome::Answered(_)
    ));
    assert_eq!(temporary_ids(bridge.http_port()).len(), 6);
}
