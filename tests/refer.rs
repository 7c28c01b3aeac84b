//! Calls merged into conferences with REFER (RFC 3515, RFC 4579 5.5): a member refers its
//! other call's party with Replaces (sipp on both sides), the creator of a conference made
//! on the fly refers a real phone that the bridge calls in and that hears the phone who
//! dialled the conference's URI (baresip), a phone transferred to the conference URI joins by
//! itself (baresip follows the REFER), and targets outside the policy are refused.
//! Ports: SIP 8600-8699 (baresip takes its port, +1 for TLS and +9 for control), RTP
//! 35000-35999 (unique within this binary).

mod common;

use common::{
    Bridge, Phone, SippUas, scratch, sipp, temporary_ids, tone_level_db, wait_until, write_tone,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn members(port: u16) -> Vec<serde_json::Value> {
    let url = format!("http://127.0.0.1:{port}/extension/500/conference/members/");
    let Ok(mut response) = ureq::get(&url).call() else {
        return Vec::new();
    };
    let text = response.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap_or_default()
}

fn tone(dir: &Path, freq: u32, secs: u32) -> PathBuf {
    let path = dir.join(format!("tone-{freq}.wav"));
    write_tone(&path, 8000, f64::from(freq), 0.3, f64::from(secs) + 3.0);
    path
}

#[test]
fn a_member_merges_its_other_call_by_refer_with_replaces() {
    let dir = scratch("refer-replaces");
    let mut bridge = Bridge::start(&dir, 8600, (35000, 35099), None, &[]);
    let bob = SippUas::start(&dir, "uas.log", "replaces.xml", 8605, 35100, &[]);
    // The member: dials 500, REFERs Bob naming its call with him, follows the NOTIFYs.
    let (ok, out) = sipp(
        "refer.xml",
        8600,
        8601,
        35200,
        &["-key", "bob", "127.0.0.1:8605"],
        Duration::from_secs(30),
    );
    assert!(ok, "member:\n{out}\nbridge:\n{}", bridge.log_text());
    let log = bridge.log_text();
    assert!(log.contains("REFER accepted"), "{log}");
    // Bob (who checked Replaces and Referred-By) is in; stopping the bridge sends him BYE.
    common::wait_for_log(
        &bridge,
        "invited number answered",
        1,
        Duration::from_secs(5),
    );
    assert!(bridge.terminate().is_some_and(|s| s.success()));
    let log = dir.join("uas.log");
    assert!(
        bob.finished(),
        "Bob saw the Replaces and took the BYE:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn a_refer_to_a_stranger_is_refused() {
    let dir = scratch("refer-stranger");
    let bridge = Bridge::start(
        &dir,
        8610,
        (35300, 35399),
        None,
        &["--refer-direct-networks", "127.0.0.2/32"],
    );
    // The default direct networks are replaced: loopback is no longer a direct target.
    let (ok, _) = sipp(
        "refer.xml",
        8610,
        8611,
        35400,
        &["-key", "bob", "127.0.0.1:8615"],
        Duration::from_secs(20),
    );
    assert!(!ok, "REFER to a target outside the networks went through");
    assert!(!bridge.log_text().contains("REFER accepted"));
    assert!(
        bridge
            .log_text()
            .contains("REFER to a target outside the policy")
    );
}

#[test]
fn phones_in_a_conference_made_on_the_fly_hear_the_phone_its_creator_refers() {
    const SECS: u32 = 14;
    let dir = scratch("refer-phone");
    let bridge = Bridge::start(&dir, 8620, (35500, 35599), None, &[]);
    let port = bridge.http_port();
    let carol = Phone::answering(&dir, "carol", 8640, 35700, &tone(&dir, 1800, SECS), SECS);
    // A (sipp) calls the factory, which makes it the moderator of a new conference, and
    // refers Carol; the bridge calls her in.
    let creator = std::thread::spawn(|| {
        sipp(
            "refer_any.xml",
            8620,
            8621,
            35800,
            &[
                "-s",
                "conference",
                "-key",
                "refer_to",
                "sip:carol@127.0.0.1:8640",
            ],
            Duration::from_secs(30),
        )
    });
    let mut ids = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            ids = temporary_ids(port);
            !ids.is_empty()
        }),
        "no temporary conference:\n{}",
        bridge.log_text()
    );
    // B dials the conference's URI.
    let talker = Phone::dial(
        &dir,
        "talker",
        8630,
        35600,
        &tone(&dir, 1000, SECS),
        &format!("sip:{}@127.0.0.1:8620", ids[0]),
        SECS,
    );
    let (ok, out) = creator.join().expect("sipp thread");
    assert!(ok, "creator:\n{out}\nbridge:\n{}", bridge.log_text());
    let joined = bridge.log_text().matches("invited number answered").count();
    assert_eq!(joined, 1, "{}", bridge.log_text());
    let (heard, rate) = talker.recording();
    // Carol and B are both in from about a second after the creator: listen from 3 s to 7 s.
    let window = &heard[(3 * rate) as usize..(7 * rate).min(heard.len() as u32) as usize];
    let level = tone_level_db(window, rate, 1800.0);
    eprintln!("B hears the referred phone at {level:.1} dBFS");
    assert!((-13.0..=-8.0).contains(&level), "{level:.1} dBFS");
    let (heard, rate) = carol.recording();
    let window = &heard[(2 * rate) as usize..(5 * rate).min(heard.len() as u32) as usize];
    let level = tone_level_db(window, rate, 1000.0);
    eprintln!("the referred phone hears B at {level:.1} dBFS");
    assert!((-13.0..=-8.0).contains(&level), "{level:.1} dBFS");
}

#[test]
fn a_phone_transferred_to_the_conference_joins_and_is_heard() {
    const SECS: u32 = 14;
    let dir = scratch("refer-transfer");
    let bridge = Bridge::start(&dir, 8650, (35900, 35999), None, &[]);
    let port = bridge.http_port();
    let talker = Phone::dial(
        &dir,
        "talker",
        8660,
        36000,
        &tone(&dir, 1000, SECS),
        "sip:500@127.0.0.1:8650",
        SECS,
    );
    let dave = Phone::answering(&dir, "dave", 8670, 36100, &tone(&dir, 1800, SECS), SECS);
    assert!(wait_until(Duration::from_secs(10), || members(port).len() == 1));
    // Someone in a call with Dave transfers him to the conference; Dave's phone dials it.
    let (ok, out) = sipp(
        "refer_any.xml",
        8670,
        8651,
        36200,
        &["-s", "dave", "-key", "refer_to", "sip:500@127.0.0.1:8650"],
        Duration::from_secs(30),
    );
    assert!(ok, "transferor:\n{out}\ndave:\n{}", dave.log());
    assert!(
        wait_until(Duration::from_secs(5), || members(port)
            .iter()
            .any(|m| m["caller"].as_str().is_some_and(|c| c.contains("dave")))),
        "Dave did not join:\n{}",
        bridge.log_text()
    );
    let (heard, rate) = talker.recording();
    let window = &heard[(5 * rate) as usize..(9 * rate).min(heard.len() as u32) as usize];
    let level = tone_level_db(window, rate, 1800.0);
    eprintln!("the talker hears the transferred phone at {level:.1} dBFS");
    assert!((-13.0..=-8.0).contains(&level), "{level:.1} dBFS");
    drop(dave);
}
