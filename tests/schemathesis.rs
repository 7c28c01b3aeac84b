//! The API checked against its own OpenAPI document: the document by
//! openapi-spec-validator, the API by schemathesis with every check (generated requests of
//! every shape, good and bad: no server error, every status and body as documented, bad
//! input refused and good input taken). Both from PyPI.

mod common;

use common::{Bridge, scratch};
use std::process::{Command, Stdio};

#[test]
fn every_check_passes_against_the_openapi_document() {
    // Through the interpreter, so a pip install works whatever is on PATH.
    const CLI: &str = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())";
    let found = Command::new("python3")
        .args(["-c", CLI, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "schemathesis is not installed: `python3 -m pip install schemathesis` (see .ci/run)"
    );
    let dir = scratch("schemathesis");
    let _bridge = Bridge::start(
        &dir,
        6300,
        (27700, 27799),
        None,
        &["--http-listen", "127.0.0.1:8900"],
    );
    let config = common::repo_root().join("tests/schemathesis.toml");
    let output = Command::new("python3")
        .current_dir(&dir)
        .args(["-c", CLI, "--config-file"])
        .arg(&config)
        .args([
            "run",
            "http://127.0.0.1:8900/openapi.json",
            "--checks",
            "all",
            // An endless stream: checked by tests/api.rs instead.
            "--exclude-path",
            "/events",
            // Would drain the bridge under test: tests/many_nodes.rs drives it.
            "--exclude-path",
            "/admin/drain",
            "--max-examples",
            "50",
            "--request-timeout",
            "10",
            "--seed",
            "1",
        ])
        .output()
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed") || l.contains("failed"))
        .collect();
    eprintln!("schemathesis: {}", summary.join(" | "));
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
}

#[test]
fn the_openapi_document_is_valid() {
    let dir = scratch("openapi-validator");
    let bridge = Bridge::start(&dir, 6310, (27600, 27699), None, &[]);
    let url = format!("http://127.0.0.1:{}/openapi.json", bridge.http_port());
    let mut response = ureq::get(&url).call().expect("the document");
    let document = response.body_mut().read_to_string().expect("body");
    let path = dir.join("openapi.json");
    std::fs::write(&path, document).expect("write");
    let output = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("run openapi-spec-validator (python3 -m pip install openapi-spec-validator)");
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.contains("OK"), "{said}");
}
