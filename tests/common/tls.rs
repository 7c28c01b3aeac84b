//! The encryption test kit: a throwaway CA and server certificates made with openssl, a
//! loopback capture with tcpdump read back packet by packet, and a TLS shim that lets
//! sipp (Debian builds it without TLS) speak to the bridge's TLS port through
//! `openssl s_client`. Everything stays on 127.0.0.1 and stops when dropped.
#![allow(dead_code, unreachable_pub)]

use super::require;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    require("openssl", "openssl");
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority made for one test.
pub struct TestCa {
    dir: PathBuf,
    /// Its certificate (what phones and sipp trust).
    pub cert: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).expect("ca dir");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Chorus test CA",
            ],
        );
        TestCa {
            dir: dir.to_owned(),
            cert: dir.join("ca.pem"),
        }
    }

    /// A certificate and its key in one PEM file, as baresip's `sip_certificate` wants.
    pub fn bundle(&self, name: &str) -> PathBuf {
        let (cert, key) = self.issue(name);
        let mut pem = std::fs::read(cert).expect("cert");
        pem.extend(std::fs::read(key).expect("key"));
        let path = self.dir.join(format!("{name}-bundle.pem"));
        std::fs::write(&path, pem).expect("bundle");
        path
    }

    /// A server certificate for 127.0.0.1 with common name `name`: (certificate, key).
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let (key, csr, cert, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            self.dir.join(&ext),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions");
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        (self.dir.join(cert), self.dir.join(key))
    }
}

/// The common name of the certificate a TLS server at 127.0.0.1:`port` presents now,
/// verified against `ca`.
pub fn served_name(port: u16, ca: &Path) -> Option<String> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
        ])
        .arg(ca)
        .args([
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-noservername",
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let subject = text.lines().find(|l| l.starts_with("subject="))?;
    Some(
        subject
            .rsplit("CN")
            .next()?
            .trim_start_matches([' ', '='])
            .trim()
            .to_owned(),
    )
}

/// Whether we may capture packets: root, or sudo without a password.
fn capture_command() -> Command {
    require("tcpdump", "tcpdump");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        Command::new("tcpdump")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "tcpdump"]);
        c
    }
}

/// A tcpdump of loopback traffic matching a filter.
pub struct Capture {
    child: Child,
    path: PathBuf,
}

/// One captured UDP datagram or TCP segment's payload.
#[derive(Debug, Clone)]
pub struct Captured {
    pub udp: bool,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl Capture {
    pub fn start(dir: &Path, name: &str, filter: &str) -> Capture {
        let path = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.tcpdump.log"));
        let child = capture_command()
            .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
            .arg(&path)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("tcpdump log"))
            .spawn()
            .expect("start tcpdump");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("listening on")
        {
            assert!(
                Instant::now() < deadline,
                "tcpdump did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Capture { child, path }
    }

    /// Stops the capture and reads it.
    pub fn stop(mut self) -> Vec<Captured> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        super::wait_bounded(&mut self.child, Duration::from_secs(10));
        parse_pcap(&std::fs::read(&self.path).unwrap_or_default())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a classic pcap of Ethernet frames (what tcpdump writes for `lo`): IPv4 UDP and
/// TCP payloads.
fn parse_pcap(data: &[u8]) -> Vec<Captured> {
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let v = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32_at(&data[at + 8..]) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
        let Some(l4) = ip.get(ihl..total) else {
            continue;
        };
        let port = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
        match ip[9] {
            17 if l4.len() >= 8 => out.push(Captured {
                udp: true,
                src_port: port(0),
                dst_port: port(2),
                payload: l4[8..].to_vec(),
            }),
            6 if l4.len() >= 20 => {
                let offset = usize::from(l4[12] >> 4) * 4;
                out.push(Captured {
                    udp: false,
                    src_port: port(0),
                    dst_port: port(2),
                    payload: l4.get(offset..).unwrap_or_default().to_vec(),
                });
            }
            _ => {}
        }
    }
    out
}

/// Listens on 127.0.0.1:`port` for TCP and carries each connection to the TLS port
/// `bridge` through `openssl s_client`, which verifies the bridge against `ca`.
pub struct TlsShim {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    children: Arc<Mutex<Vec<Child>>>,
}

impl TlsShim {
    pub fn start(port: u16, bridge: u16, ca: &Path) -> TlsShim {
        require("openssl", "openssl");
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("shim port");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let children: Arc<Mutex<Vec<Child>>> = Arc::default();
        let ca = ca.to_owned();
        let thread = {
            let (stop, children) = (Arc::clone(&stop), Arc::clone(&children));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let child = carry(conn, bridge, &ca);
                            children.lock().expect("children").push(child);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        TlsShim {
            stop,
            thread: Some(thread),
            children,
        }
    }
}

fn carry(conn: TcpStream, bridge: u16, ca: &Path) -> Child {
    conn.set_nonblocking(false).expect("blocking");
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{bridge}"),
        ])
        .arg("-CAfile")
        .arg(ca)
        .args([
            "-verify_return_error",
            "-verify_ip",
            "127.0.0.1",
            "-noservername",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut to_tls = child.stdin.take().expect("stdin");
    let mut from_tls = child.stdout.take().expect("stdout");
    let mut inbound = conn.try_clone().expect("clone");
    let mut outbound = conn;
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = inbound.read(&mut buf) {
            if n == 0
                || to_tls
                    .write_all(&buf[..n])
                    .and_then(|()| to_tls.flush())
                    .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from_tls.read(&mut buf) {
            if n == 0 || outbound.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = outbound.shutdown(std::net::Shutdown::Both);
    });
    child
}

impl Drop for TlsShim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for child in self.children.lock().expect("children").iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
