//! The API checked against its own OpenAPI document by schemathesis (from PyPI): generated
//! requests of every shape, good and bad, and not one may get a server error.

mod common;

use common::{Bridge, scratch};
use std::process::{Command, Stdio};

#[test]
fn no_server_errors_against_the_openapi_document() {
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
    let output = Command::new("python3")
        .current_dir(&dir)
        .args([
            "-c",
            CLI,
            "run",
            "http://127.0.0.1:8900/openapi.json",
            "--checks",
            "not_a_server_error",
            // An endless stream: checked by tests/api.rs instead.
            "--exclude-path",
            "/events",
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
