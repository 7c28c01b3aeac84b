//! The RFC 4475 torture messages (fixtures/sip, written by make_rfc4475.py): the engine
//! must answer each one as fixtures/sip/expected.txt says: valid ones are served, invalid
//! ones get their 4xx/5xx, and what cannot be answered is dropped. None may panic.

use chorus_engine::{Engine, EngineConfig, Transport};
use chorus_sip_msg::{Message, parse};
use std::path::PathBuf;
use std::time::Instant;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sip")
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        seed: 1,
        ..EngineConfig::default()
    })
}

#[test]
fn torture_messages_get_the_expected_answer() {
    let expected = std::fs::read_to_string(fixtures().join("expected.txt")).expect("manifest");
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, want) = line.split_once(' ').expect("name and answer");
        let data = std::fs::read(fixtures().join(format!("{name}.dat"))).expect("fixture");
        let mut e = engine();
        e.handle_message(
            Instant::now(),
            Transport::Udp,
            "127.0.0.1:5999".parse().expect("addr"),
            &data,
        );
        let answers: Vec<u16> = std::iter::from_fn(|| e.poll_transmit())
            .filter_map(|t| match parse(&t.data) {
                Ok(Message::Response(r)) => Some(r.code),
                _ => None,
            })
            .filter(|&code| code >= 200)
            .collect();
        let got = match answers.last() {
            Some(code) => code.to_string(),
            None if matches!(parse(&data), Ok(Message::Response(_))) => "response".to_owned(),
            None => "drop".to_owned(),
        };
        checked += 1;
        if got != want {
            failures.push(format!("{name}: expected {want}, got {got}"));
        }
    }
    assert!(checked >= 40, "only {checked} fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
