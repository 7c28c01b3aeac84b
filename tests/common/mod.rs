//! Shared harness for the end-to-end tests: the real `chorus` binary, real peers (sipp,
//! baresip) on loopback, and analysis of what a phone recorded.
//!
//! Every test gets its own ports (given by the test, so parallel tests never clash), its own
//! temporary directory, and processes that are bounded in time and killed on drop.
#![allow(dead_code, unreachable_pub)]

pub mod tls;

use std::fs;
use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The repository root (tests run sipp from here so scenario paths resolve).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("chorus-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Fails with a clear message when a peer program is missing.
pub fn require(program: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{program} is not installed: `apt-get install -y {package}` (see .ci/run)"
    );
}

/// Waits for a child up to `limit`, killing it when it overruns.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running bridge; SIGTERM and wait on drop.
pub struct Bridge {
    child: Option<Child>,
    pub sip_port: u16,
    pub log: PathBuf,
    pub dir: PathBuf,
}

impl Bridge {
    /// Starts the bridge on 127.0.0.1:`sip_port` with RTP ports `rtp` and extra flags.
    /// `config` is TOML written to a file passed with `--config`.
    pub fn start(
        dir: &Path,
        sip_port: u16,
        rtp: (u16, u16),
        config: Option<&str>,
        extra: &[&str],
    ) -> Bridge {
        Self::start_with(dir, sip_port, rtp, config, extra, None, &[])
    }

    /// As [`Bridge::start`], with the open-file limit (soft and hard) set to `files`, as
    /// `ulimit -n` would, and extra environment variables.
    pub fn start_with(
        dir: &Path,
        sip_port: u16,
        rtp: (u16, u16),
        config: Option<&str>,
        extra: &[&str],
        files: Option<u64>,
        env: &[(&str, &str)],
    ) -> Bridge {
        let log = dir.join("chorus.log");
        let mut cmd = match files {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_chorus"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_chorus")),
        };
        // The REST port is the system's choice unless the test picks one: a fixed port in
        // the ephemeral range could be held by any outgoing connection on the machine.
        if !extra.contains(&"--http-listen") {
            cmd.arg("--http-listen").arg("127.0.0.1:0");
        }
        // One mixing thread unless the test asks for more: tests run side by side.
        if !extra.contains(&"--media-threads") {
            cmd.arg("--media-threads").arg("1");
        }
        cmd.arg("--sip-listen")
            .arg(format!("127.0.0.1:{sip_port}"))
            .arg("--rtp-ports")
            .arg(format!("{}-{}", rtp.0, rtp.1))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .envs(env.iter().copied())
            .env("CHORUS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log file"));
        if let Some(config) = config {
            let path = dir.join("chorus.toml");
            fs::write(&path, config).expect("write config");
            cmd.arg("--config").arg(path);
        }
        let child = cmd.spawn().expect("start chorus");
        let bridge = Bridge {
            child: Some(child),
            sip_port,
            log,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(bridge.log_text().contains("SIP listening")
            && bridge.log_text().contains("REST API listening"))
        {
            assert!(
                Instant::now() < deadline,
                "bridge did not start:\n{}",
                bridge.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bridge
    }

    /// The bridge's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Descriptors the bridge has open now.
    pub fn open_descriptors(&self) -> usize {
        self.pid()
            .and_then(|pid| fs::read_dir(format!("/proc/{pid}/fd")).ok())
            .map_or(0, Iterator::count)
    }

    /// The REST API's port, as the bridge logged it.
    pub fn http_port(&self) -> u16 {
        let log = self.log_text();
        log.lines()
            .find(|l| l.contains("REST API listening"))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|tail| {
                tail.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()
                    .ok()
            })
            .expect("REST port in the log")
    }

    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Kills the bridge outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the bridge to exit by itself; past `limit` it is killed. Either
    /// way it is reaped and forgotten, so no later signal can reach a reused pid.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        wait_bounded(&mut child, limit)
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        wait_bounded(&mut child, Duration::from_secs(10))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Runs a sipp scenario from `tests/sipp` against the bridge and returns (success, output).
pub fn sipp(
    scenario: &str,
    bridge_port: u16,
    local_port: u16,
    media_port: u16,
    extra: &[&str],
    limit: Duration,
) -> (bool, String) {
    require("sipp", "sip-tester");
    let mut child = Command::new("sipp")
        .current_dir(repo_root())
        .arg("-sf")
        .arg(format!("tests/sipp/{scenario}"))
        .args([
            "-s",
            "500",
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-nostdin",
        ])
        .arg("-p")
        .arg(local_port.to_string())
        .arg("-mp")
        .arg(media_port.to_string())
        .args(extra)
        .arg(format!("127.0.0.1:{bridge_port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sipp");
    let status = wait_bounded(&mut child, limit);
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut out);
    }
    (status.is_some_and(|s| s.success()), out)
}

/// Writes samples as a mono 16-bit WAV.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// Writes a mono 16-bit WAV of a sine at `freq` Hz, `amplitude` of full scale, `secs` long.
pub fn write_tone(path: &Path, rate: u32, freq: f64, amplitude: f64, secs: f64) {
    let n = (f64::from(rate) * secs) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amplitude * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    write_wav(path, rate, &samples);
}

/// Reads one channel of a WAV as f64 samples in [-1, 1], with its rate.
pub fn read_wav_channel(path: &Path, channel: usize) -> (Vec<f64>, u32) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let channels = usize::from(spec.channels);
    let samples: Vec<f64> = r
        .samples::<i16>()
        .skip(channel)
        .step_by(channels)
        .map(|s| f64::from(s.unwrap_or(0)) / 32768.0)
        .collect();
    (samples, spec.sample_rate)
}

/// Reads a WAV as mono f64 samples in [-1, 1] (first channel) and its rate.
pub fn read_wav(path: &Path) -> (Vec<f64>, u32) {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let spec = r.spec();
    let channels = usize::from(spec.channels);
    let samples: Vec<f64> = r
        .samples::<i16>()
        .step_by(channels)
        .map(|s| f64::from(s.unwrap_or(0)) / 32768.0)
        .collect();
    (samples, spec.sample_rate)
}

/// Level of one frequency in dBFS (a full-scale sine reads 0 dB): the median over 250 ms
/// blocks of a Hann-windowed Goertzel filter. The median makes one concealed packet (which
/// shifts a tone's phase) not count as the tone being quieter; the window keeps the other
/// tones in the recording from leaking into the measured bin.
pub fn tone_level_db(samples: &[f64], rate: u32, freq: f64) -> f64 {
    let block = (rate / 4) as usize;
    if samples.len() < 2 * block {
        return block_level_db(samples, rate, freq);
    }
    let mut levels: Vec<f64> = samples
        .chunks_exact(block)
        .map(|b| block_level_db(b, rate, freq))
        .collect();
    levels.sort_by(f64::total_cmp);
    levels[levels.len() / 2]
}

fn block_level_db(samples: &[f64], rate: u32, freq: f64) -> f64 {
    let n = samples.len().max(1);
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut window_sum) = (0.0, 0.0, 0.0);
    for (i, &x) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
        window_sum += hann;
        let s0 = x * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let amplitude = 2.0 * power.max(1e-30).sqrt() / window_sum.max(1e-9);
    20.0 * amplitude.max(1e-12).log10()
}

/// The codec a phone offers (alone), and the rate its microphone file is read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// PCMU and PCMA, 8 kHz source.
    G711,
    /// PCMU alone.
    Pcmu,
    /// G.722, 16 kHz source.
    G722,
    /// Opus, 16 kHz source (baresip resamples to 48 kHz).
    Opus,
}

impl Voice {
    fn codecs(self) -> &'static str {
        match self {
            Voice::G711 => "pcmu,pcma",
            Voice::Pcmu => "pcmu",
            Voice::G722 => "G722/16000/1",
            Voice::Opus => "opus/48000/1",
        }
    }

    /// The rate of the WAV the phone plays.
    pub fn source_rate(self) -> u32 {
        match self {
            Voice::G711 | Voice::Pcmu => 8000,
            Voice::G722 | Voice::Opus => 16000,
        }
    }
}

/// A baresip phone that dials `target`, plays `source` as its microphone and records what
/// it hears. Runs for `secs` seconds and then quits by itself.
pub struct Phone {
    child: Child,
    dir: PathBuf,
    pub name: String,
    /// When the phone was started: the origin of its recording, give or take call setup.
    pub started: Instant,
    ctrl_port: u16,
}

impl Phone {
    pub fn dial(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        target: &str,
        secs: u32,
    ) -> Phone {
        Self::start(
            dir,
            name,
            sip_port,
            rtp_base,
            source,
            Some(target),
            secs,
            Voice::G711,
            None,
        )
    }

    /// [`Phone::dial`] offering only `voice`'s codec.
    #[allow(clippy::too_many_arguments)]
    pub fn dial_with(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        target: &str,
        secs: u32,
        voice: Voice,
    ) -> Phone {
        Self::start(
            dir,
            name,
            sip_port,
            rtp_base,
            source,
            Some(target),
            secs,
            voice,
            None,
        )
    }

    /// [`Phone::answering`] offering only `voice`'s codec.
    pub fn answering_with(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        secs: u32,
        voice: Voice,
    ) -> Phone {
        Self::start(
            dir, name, sip_port, rtp_base, source, None, secs, voice, None,
        )
    }

    /// A phone that answers calls to `sip:NAME@127.0.0.1:SIP_PORT` by itself (an external
    /// number for `*8`).
    pub fn answering(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        secs: u32,
    ) -> Phone {
        Self::start(
            dir,
            name,
            sip_port,
            rtp_base,
            source,
            None,
            secs,
            Voice::G711,
            None,
        )
    }

    /// [`Phone::dial`] over SIP/TLS trusting the CA at `ca`, with SRTP mandatory
    /// (`target` names the bridge's TLS port with `;transport=tls`).
    #[allow(clippy::too_many_arguments)]
    pub fn dial_secure(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        target: &str,
        secs: u32,
        ca: &Path,
    ) -> Phone {
        Self::start(
            dir,
            name,
            sip_port,
            rtp_base,
            source,
            Some(target),
            secs,
            Voice::G711,
            Some((ca, None)),
        )
    }

    /// [`Phone::answering`] over SIP/TLS (serving `certificate`, a PEM with its key, on
    /// `sip_port + 1`) with SRTP mandatory: a secure external number for `*8`.
    #[allow(clippy::too_many_arguments)]
    pub fn answering_secure(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        secs: u32,
        ca: &Path,
        certificate: &Path,
    ) -> Phone {
        Self::start(
            dir,
            name,
            sip_port,
            rtp_base,
            source,
            None,
            secs,
            Voice::G711,
            Some((ca, Some(certificate))),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        dir: &Path,
        name: &str,
        sip_port: u16,
        rtp_base: u16,
        source: &Path,
        target: Option<&str>,
        secs: u32,
        voice: Voice,
        secure: Option<(&Path, Option<&Path>)>,
    ) -> Phone {
        require("baresip", "baresip-core");
        let home = dir.join(name);
        let dumps = home.join("dumps");
        fs::create_dir_all(&dumps).expect("phone dir");
        // baresip also binds TLS on sip_port + 1: callers must space their ports.
        let config = format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{sip_port}\nnet_interface\t127.0.0.1\ndns_server\t127.0.0.1:53\n\
audio_player\talsa,null\naudio_alert\talsa,null\naudio_source\taufile,{src}\nausrc_srate\t{srate}\nausrc_channels\t1\n\
auplay_srate\t{srate}\nauplay_channels\t1\naudio_codecs\t{codecs}\nrtp_ports\t{rtp_base}-{rtp_end}\n\
module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\tg722.so\nmodule\topus.so\nmodule\taufile.so\nmodule\talsa.so\nmodule\tsndfile.so\n\
module\taccount.so\nmodule\tmenu.so\nmodule\tctrl_tcp.so\nctrl_tcp_listen\t127.0.0.1:{ctrl}\n\
snd_path\t{dumps}\nstatmode_default\toff\n\
opus_bitrate\t64000\nopus_stereo\tno\nopus_sprop_stereo\tno\nopus_inbandfec\tyes\nopus_packet_loss\t10\n",
            ctrl = sip_port + 9,
            src = source.display(),
            srate = voice.source_rate(),
            codecs = voice.codecs(),
            rtp_end = rtp_base + 20,
            dumps = dumps.display(),
        );
        // Secure: the SIP account over TLS trusting the test CA, and SRTP or no call.
        let (config, transport, mediaenc) = match secure {
            Some((ca, certificate)) => (
                // srtp.so before account.so, or the account's mediaenc is unknown.
                format!(
                    "{config}sip_cafile\t{}\n{}",
                    ca.display(),
                    certificate.map_or(String::new(), |c| format!(
                        "sip_certificate\t{}\n",
                        c.display()
                    ))
                )
                .replace("module\taccount.so", "module\tsrtp.so\nmodule\taccount.so"),
                ";transport=tls",
                ";mediaenc=srtp-mand",
            ),
            None => (config, "", ""),
        };
        fs::write(home.join("config"), config).expect("config");
        let answer = if target.is_none() {
            ";answermode=auto"
        } else {
            ""
        };
        fs::write(
            home.join("accounts"),
            format!(
                "<sip:{name}@127.0.0.1:{sip_port}{transport}>;regint=0;audio_codecs={}{answer}{mediaenc}\n",
                voice.codecs()
            ),
        )
        .expect("accounts");
        let log = fs::File::create(home.join("baresip.log")).expect("log");
        let mut command = Command::new("baresip");
        command.arg("-f").arg(&home);
        if let Some(target) = target {
            command.arg("-e").arg(format!("/dial {target}"));
        }
        let child = command
            .arg("-t")
            .arg(secs.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start baresip");
        Phone {
            child,
            dir: home,
            name: name.to_owned(),
            started: Instant::now(),
            ctrl_port: sip_port + 9,
        }
    }

    /// Presses keys during the call (sent as RFC 4733 events by baresip).
    pub fn keys(&self, digits: &str) {
        let command =
            format!("{{\"command\":\"sndcode\",\"params\":\"{digits}\",\"token\":\"k\"}}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.ctrl_port)) {
                use std::io::Write;
                let frame = format!("{}:{command},", command.len());
                stream.write_all(frame.as_bytes()).expect("send keys");
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reply = [0u8; 256];
                let _ = stream.read(&mut reply);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no control connection",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the phone printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Whether the far end (the bridge) ended the call.
    pub fn call_ended(&self) -> bool {
        self.log().contains("terminated")
    }

    /// Seconds since the phone started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Waits for the phone to quit and returns what it heard (decoded audio).
    pub fn recording(mut self) -> (Vec<f64>, u32) {
        wait_bounded(&mut self.child, Duration::from_secs(30));
        let dumps = self.dir.join("dumps");
        let heard = fs::read_dir(&dumps)
            .expect("dumps")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| {
                panic!(
                    "{} recorded nothing; its log:\n{}",
                    self.name,
                    fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
                )
            });
        read_wav(&heard)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one SIP OPTIONS over UDP and returns the status line of the answer.
pub fn options_ping(bridge_port: u16, local_port: u16) -> Option<String> {
    let socket = UdpSocket::bind(("127.0.0.1", local_port)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let msg = format!(
        "OPTIONS sip:500@127.0.0.1:{bridge_port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bKping{local_port}\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:500@127.0.0.1>\r\nCall-ID: ping-{local_port}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(msg.as_bytes(), ("127.0.0.1", bridge_port))
        .ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .map(str::to_owned)
}

/// The part of a recording between two times, in seconds from its start.
pub fn window(samples: &[f64], rate: u32, from: f64, to: f64) -> &[f64] {
    let start = ((from * f64::from(rate)) as usize).min(samples.len());
    let end = ((to * f64::from(rate)) as usize).clamp(start, samples.len());
    &samples[start..end]
}

/// Root-mean-square level in dBFS.
pub fn rms_db(samples: &[f64]) -> f64 {
    let power = samples.iter().map(|x| x * x).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * power.max(1e-12).log10()
}

/// Waits until the bridge log has `count` lines containing `needle`.
pub fn wait_for_log(bridge: &Bridge, needle: &str, count: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while bridge.log_text().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "waited for {count} × {needle:?}; bridge log:\n{}",
            bridge.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One REST exchange with the bridge on `port`: the status and the JSON answer (null
/// when the answer is not JSON).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())
        .expect("request");
    let mut response = agent.run(request).expect("HTTP exchange");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// The ids of the live temporary conferences.
pub fn temporary_ids(port: u16) -> Vec<String> {
    let (status, list) = http(port, "GET", "/conference/", "");
    assert_eq!(status, 200);
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["temporary"] == true)
        .filter_map(|c| c["extension_id"].as_str().map(str::to_owned))
        .collect()
}

/// Polls `done` every 100 ms until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A sipp UAS (a trunk, a referred party) running a scenario from tests/sipp/uas; killed
/// when dropped.
pub struct SippUas(pub Child);

impl Drop for SippUas {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl SippUas {
    /// Starts `scenario` on 127.0.0.1:`port`, writing its output to `dir/log`.
    pub fn start(
        dir: &Path,
        log: &str,
        scenario: &str,
        port: u16,
        media_port: u16,
        extra: &[&str],
    ) -> SippUas {
        require("sipp", "sip-tester");
        let log = fs::File::create(dir.join(log)).expect("sipp log");
        Command::new("sipp")
            .current_dir(dir)
            .arg("-sf")
            .arg(repo_root().join("tests/sipp/uas").join(scenario))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", "1", "-nostdin"])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(extra)
            .args(["-trace_err", "-trace_msg"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .map(SippUas)
            .expect("start sipp")
    }

    /// Whether the scenario ran to its end, within 30 s.
    pub fn finished(mut self) -> bool {
        wait_bounded(&mut self.0, Duration::from_secs(30)).is_some_and(|s| s.success())
    }
}
