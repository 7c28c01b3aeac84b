//! The load script of `tests/load/run.sh` against this build's binary: 100 concurrent calls
//! over 20 conferences for 30 s, zero failures, no error logged.

mod common;

use std::process::Command;

#[test]
fn hundred_calls_over_twenty_conferences() {
    common::require("sipp", "sip-tester");
    let status = Command::new("bash")
        .current_dir(common::repo_root())
        .arg("tests/load/run.sh")
        .arg(env!("CARGO_BIN_EXE_chorus"))
        .status()
        .expect("run the load script");
    assert!(status.success(), "load test failed (its output is above)");
}
