//! Several bridge nodes on one throwaway PostgreSQL, behind Kamailio with the shipped
//! configuration (`deploy/kamailio/kamailio.cfg`), all on loopback.

use crate::common::{Bridge, repo_root, require, wait_until};
use crate::postgres::Postgres;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kamailio running the shipped configuration in front of `nodes` (name, SIP port).
pub(crate) struct FrontDoor {
    child: Child,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
}

impl FrontDoor {
    pub(crate) fn start(dir: &Path, port: u16, database: &str, nodes: &[(&str, u16)]) -> Self {
        require("kamailio", "kamailio");
        let dir = dir.join("kamailio");
        std::fs::create_dir_all(&dir).expect("kamailio dir");
        let list = dir.join("nodes.list");
        let lines: String = nodes
            .iter()
            .map(|(name, sip)| format!("1 sip:127.0.0.1:{sip} 0 0 {name}\n"))
            .collect();
        std::fs::write(&list, lines).expect("nodes list");
        let log = dir.join("kamailio.log");
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-f"])
            .arg(repo_root().join("deploy/kamailio/kamailio.cfg"))
            .arg("-A")
            .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
            .arg("-A")
            .arg(format!("DBCON=\"chorus=>{database}\""))
            .arg("-A")
            .arg(format!("DSLIST=\"{}\"", list.display()))
            .arg("-Y")
            .arg(&dir)
            .arg("-w")
            .arg(&dir)
            .args(["-m", "64", "-M", "8"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start kamailio");
        let door = FrontDoor { child, port, log };
        // Its UDP socket is set up (the receive buffer is sized) before the workers fork.
        assert!(
            wait_until(Duration::from_secs(10), || door
                .log_text()
                .contains("SO_RCVBUF is finally")),
            "kamailio did not start:\n{}",
            door.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        door
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        if crate::common::wait_bounded(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A node of several: its name, SIP port and RTP range, on the shared database.
pub(crate) fn node(
    dir: &Path,
    pg: &Postgres,
    name: &str,
    sip: u16,
    rtp: (u16, u16),
    extra: &[&str],
) -> Bridge {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).expect("node dir");
    let url = pg.url();
    // Kamailio on loopback states each caller's address; the nodes believe only it.
    let mut args = vec![
        "--database",
        url.as_str(),
        "--node-name",
        name,
        "--sip-proxies",
        "127.0.0.1/32",
    ];
    args.extend_from_slice(extra);
    Bridge::start(&dir, sip, rtp, None, &args)
}
