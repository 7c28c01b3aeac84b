//! A throwaway PostgreSQL cluster for one test: `initdb` in a scratch directory, the
//! server on loopback and a socket in that directory, stopped when dropped. Debian's
//! PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
//! user and its commands run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub(crate) port: u16,
    as_postgres: bool,
}

/// The newest installed server's binaries (`/usr/lib/postgresql/N/bin`).
fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/setup installs it)")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql")
        .1
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Creates and starts a cluster in `dir/pg` on 127.0.0.1:`port`, user `chorus`
    /// trusted (loopback only).
    pub(crate) fn start(dir: &Path, port: u16) -> Postgres {
        let dir = dir.join("pg");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg dir");
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the cluster directory to postgres");
        }
        let pg = Postgres {
            dir,
            bin: server_bin(),
            port,
            as_postgres,
        };
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "chorus",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.ctl("start");
        pg
    }

    /// `postgres://` URL of the cluster's `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://chorus@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast: sessions are cut, committed work is kept) and starts it
    /// again.
    #[allow(dead_code)] // used by tests/postgres.rs, not by every binary that shares this
    pub(crate) fn restart(&self) {
        self.ctl("restart");
    }

    fn ctl(&self, action: &str) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        // Slow statements and lock waits are logged, to tell a slow database from a slow
        // node when a test fails.
        let options = format!(
            "-k {} -h 127.0.0.1 -p {} -c log_min_duration_statement=200 -c log_lock_waits=on -c deadlock_timeout=200ms",
            self.dir.display(),
            self.port
        );
        let mut args = vec![
            "-D".to_owned(),
            data.to_string_lossy().into_owned(),
            "-l".to_owned(),
            log.to_string_lossy().into_owned(),
            "-w".to_owned(),
            "-t".to_owned(),
            "30".to_owned(),
            "-m".to_owned(),
            "fast".to_owned(),
        ];
        if action != "stop" {
            args.extend(["-o".to_owned(), options]);
        }
        args.push(action.to_owned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("pg_ctl", &refs);
    }

    /// One of the server's programs, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
