//! The load scripts against this build's binary: `tests/load/sipp.sh` (100 concurrent sipp
//! calls over 20 conferences for 30 s, zero failures, no error logged) and a short run of
//! the project's load tool, `tests/load/run.sh` (ten rooms of five Opus callers for five
//! seconds), which fails if the bridge stops forwarding lone talkers or skipping silence.

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn hundred_sipp_calls_over_twenty_conferences() {
    common::require("sipp", "sip-tester");
    let status = Command::new("bash")
        .current_dir(common::repo_root())
        .arg("tests/load/sipp.sh")
        .arg(env!("CARGO_BIN_EXE_chorus"))
        .status()
        .expect("run the load script");
    assert!(status.success(), "load test failed (its output is above)");
}

#[test]
fn the_load_tool_sees_lone_talkers_forwarded_and_silence_skipped() {
    let root = common::repo_root();
    // The load tool is another package's binary: build it (its dependencies are built).
    let built = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--quiet", "--locked", "-p", "chorus-load"])
        .status()
        .expect("cargo build");
    assert!(built.success(), "building chorus-load failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let status = Command::new("bash")
        .current_dir(&root)
        .arg("tests/load/run.sh")
        .args([
            "--rooms",
            "10",
            "--members",
            "5",
            "--codec",
            "opus",
            "--seconds",
            "5",
        ])
        .env("CHORUS_BIN", env!("CARGO_BIN_EXE_chorus"))
        .env("CHORUS_LOAD_BIN", target.join("debug/chorus-load"))
        .status()
        .expect("run the load script");
    assert!(
        status.success(),
        "the load tool's run failed (its output is above)"
    );
}
