//! `chorus-load`: puts rooms of SIP callers on a bridge and measures what it costs and
//! what it sends back. Each caller has its own SIP and RTP socket; talkers send speech,
//! the others −60 dBFS noise, every packet with its RFC 6464 level; one thread paces all
//! packets on absolute 20 ms deadlines. Reported: the bridge's CPU per participant per tick
//! (from /proc, given its pid), the spacing of the packets it sends (p50/p99/max), loss,
//! and the level listeners hear.
//!
//! ```text
//! chorus-load --sip 127.0.0.1:5060 --api http://127.0.0.1:8080 --pid PID \
//!     --rooms 40 --members 5 --talkers 1 --codec opus --seconds 20
//! ```

use anyhow::{Context, Result, bail};
use chorus_types::{AudioRate, Codec};
use clap::Parser;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod media;
mod sip;

#[derive(Debug, Parser)]
#[command(
    name = "chorus-load",
    version,
    about = "Load a Chorus bridge with rooms of callers and measure it"
)]
struct Cli {
    /// The bridge's SIP address.
    #[arg(long, default_value = "127.0.0.1:5060")]
    sip: SocketAddr,
    /// The bridge's REST API, to create the rooms as temporary conferences (unless
    /// --extensions names provisioned ones).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The REST bearer token, if the bridge has one.
    #[arg(long)]
    token: Option<String>,
    /// Use these provisioned extensions as rooms, e.g. `600-619`, instead of creating them.
    #[arg(long)]
    extensions: Option<String>,
    /// The bridge's process id, for its CPU time (without it no CPU figure).
    #[arg(long)]
    pid: Option<u32>,
    /// Rooms.
    #[arg(long, default_value_t = 20)]
    rooms: usize,
    /// Callers per room.
    #[arg(long, default_value_t = 5)]
    members: usize,
    /// Talkers per room (the others send low-level noise).
    #[arg(long, default_value_t = 1)]
    talkers: usize,
    /// pcmu or opus.
    #[arg(long, default_value = "pcmu")]
    codec: String,
    /// Seconds measured, after every call is up and a two-second settling.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The address callers bind to.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// First RTP port (each caller takes one).
    #[arg(long, default_value_t = 40_000)]
    rtp_base: u16,
    /// The speech clip talkers play (16 kHz mono WAV).
    #[arg(long, default_value = "fixtures/speech/pesq-clip.wav")]
    speech: PathBuf,
    /// Fail (exit 1) when more than this percentage of the bridge's packets went missing.
    #[arg(long, default_value_t = 1.0)]
    max_loss: f64,
}

/// Creates `count` temporary conferences over REST; returns their ids.
fn create_rooms(api: &str, token: Option<&str>, count: usize) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let mut request = ureq::post(format!("{api}/conference/"));
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request
            .send_empty()
            .with_context(|| format!("POST {api}/conference/"))?;
        let body: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        let id = body["id"].as_str().context("no id in the answer")?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// The bridge's `chorus_late_ticks_total` from its `/metrics`, if it answers.
fn bridge_late_ticks(api: &str, token: Option<&str>) -> Option<f64> {
    let mut request = ureq::get(format!("{api}/metrics"));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let text = request.call().ok()?.body_mut().read_to_string().ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("chorus_late_ticks_total "))
        .and_then(|v| v.trim().parse().ok())
}

fn provisioned(range: &str) -> Result<Vec<String>> {
    let (from, to) = range.split_once('-').unwrap_or((range, range));
    let (from, to): (u64, u64) = (from.trim().parse()?, to.trim().parse()?);
    Ok((from..=to).map(|e| e.to_string()).collect())
}

/// User plus system CPU time of a process, from /proc (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state: utime is
    // field 14 of the whole line, i.e. index 11 after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The machine's CPU time so far from `/proc/stat`: (stolen by the hypervisor, all), in
/// clock ticks. Steal is time the host ran something else while this VM wanted to run:
/// late ticks during steal are the host's, not the bridge's.
fn machine_time() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let all = fields.iter().take(8).sum();
    Some((*fields.get(7)?, all))
}

fn percentile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let codec = match cli.codec.as_str() {
        "pcmu" => Codec::Pcmu,
        "opus" => Codec::Opus,
        other => bail!("--codec: pcmu or opus, not {other}"),
    };
    let (rate, payload_type, samples) = match codec {
        Codec::Opus => (AudioRate::Full, 111u8, 960u32),
        _ => (AudioRate::Narrow, 0, 160),
    };
    let speech = media::encode(codec, rate, &media::speech(&cli.speech, rate)?);
    let noise = media::encode(codec, rate, &media::noise(rate));
    // Temporary rooms are made one at a time just before their callers dial: an empty
    // temporary conference ends soon after it is made.
    let provisioned_rooms = match &cli.extensions {
        Some(range) => Some(
            provisioned(range)?
                .into_iter()
                .take(cli.rooms)
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    let room_count = provisioned_rooms.as_ref().map_or(cli.rooms, Vec::len);
    let participants = room_count * cli.members;
    eprintln!(
        "chorus-load: {} rooms × {} ({} talking), {}, {participants} callers",
        room_count,
        cli.members,
        cli.talkers.min(cli.members),
        cli.codec
    );
    let offer = if codec == Codec::Opus {
        sip::Offer::Opus
    } else {
        sip::Offer::Pcmu
    };
    let mut calls = Vec::new();
    let mut legs = Vec::new();
    let mut failed = 0;
    let setup = Instant::now();
    // Every RTP port first, before the SIP sockets take ephemeral ports among them.
    let mut rtp_sockets = Vec::with_capacity(participants);
    for n in 0..participants {
        let port = u16::try_from(usize::from(cli.rtp_base) + n)
            .context("too many callers for --rtp-base")?;
        let rtp = UdpSocket::bind((cli.local_ip, port))
            .with_context(|| format!("binding RTP port {port}"))?;
        rtp.set_nonblocking(true)?;
        // Without kernel stamps arrivals read as when this tool got to them.
        let _ = nix::sys::socket::setsockopt(
            &rtp,
            nix::sys::socket::sockopt::ReceiveTimestampns,
            &true,
        );
        rtp_sockets.push(Some(rtp));
    }
    for r in 0..room_count {
        let room = match &provisioned_rooms {
            Some(rooms) => rooms[r].clone(),
            None => create_rooms(&cli.api, cli.token.as_deref(), 1)?.remove(0),
        };
        let room = &room;
        for m in 0..cli.members {
            let n = r * cli.members + m;
            let port = cli.rtp_base + n as u16;
            let Some(rtp) = rtp_sockets[n].take() else {
                continue;
            };
            match sip::Call::dial(cli.sip, room, SocketAddr::new(cli.local_ip, port), offer, n) {
                Ok(call) => {
                    // One listener per room decodes what it hears, for the level; in
                    // at most 20 rooms, so that at capacity the tool's own decoding
                    // does not take the cores it measures.
                    let sampled = m == cli.members - 1 && r % room_count.div_ceil(20) == 0;
                    legs.push(media::Leg::new(
                        rtp,
                        call.media,
                        m < cli.talkers,
                        n,
                        codec,
                        sampled,
                    ));
                    calls.push((n, call));
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("chorus-load: call {n}: {e:#}");
                }
            }
            // About 100 calls a second: a burst of INVITEs is what the bridge sheds.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    eprintln!(
        "chorus-load: {} calls up in {:.1} s, {failed} failed",
        calls.len(),
        setup.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let settle = 100u64; // ticks (2 s) before measuring
    let ticks = settle + cli.seconds * 50;
    let mut cpu_before = None;
    let mut own_before = None;
    let mut machine_before = None;
    let mut late_before = None;
    let mut buf = vec![0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut late = 0u64;
    for tick in 0..ticks {
        let due = start + Duration::from_millis(20 * tick);
        match due.checked_duration_since(Instant::now()) {
            Some(wait) => std::thread::sleep(wait),
            None if Instant::now() > due + Duration::from_millis(10) => late += 1,
            None => {}
        }
        if tick == settle {
            cpu_before = cli.pid.and_then(cpu_time).map(|c| (c, Instant::now()));
            own_before = cpu_time(std::process::id());
            machine_before = machine_time();
            late_before = bridge_late_ticks(&cli.api, cli.token.as_deref());
        }
        for leg in &mut legs {
            let frames = if leg.talker { &speech } else { &noise };
            leg.send(frames, tick, payload_type, samples);
            leg.drain(&mut buf, &mut cmsg, tick >= settle);
        }
    }
    let cpu = cpu_before.and_then(|(before, at)| {
        let after = cli.pid.and_then(cpu_time)?;
        Some((after.saturating_sub(before), at.elapsed()))
    });
    let bridge_late = late_before
        .and_then(|before| Some(bridge_late_ticks(&cli.api, cli.token.as_deref())? - before));
    let own =
        own_before.and_then(|before| Some(cpu_time(std::process::id())?.saturating_sub(before)));
    for (n, call) in &calls {
        call.hang_up(*n);
    }
    let mut gaps: Vec<f32> = legs
        .iter()
        .flat_map(|l| l.gaps_ms.iter().copied())
        .collect();
    gaps.sort_by(f32::total_cmp);
    let received: u64 = legs.iter().map(|l| l.received).sum();
    let lost: u64 = legs.iter().map(media::Leg::lost).sum();
    let loss = 100.0 * lost as f64 / (received + lost).max(1) as f64;
    let (power, count) = legs.iter().fold((0.0, 0u64), |(p, c), l| {
        (p + l.heard_power, c + l.heard_samples)
    });
    let heard_db = 10.0
        * (power / count.max(1) as f64 / (32768.0f64 * 32768.0))
            .max(1e-12)
            .log10();
    println!(
        "participants      {participants} ({} rooms × {}, {} talking, {})",
        room_count,
        cli.members,
        cli.talkers.min(cli.members),
        cli.codec
    );
    println!("calls failed      {failed}");
    if let Some((cpu, wall)) = cpu {
        let ticks = wall.as_secs_f64() * 50.0;
        let per = cpu.as_secs_f64() * 1e6 / (ticks * calls.len().max(1) as f64);
        println!(
            "bridge CPU        {:.2} s in {:.1} s ({:.1} % of one core): {per:.1} µs per participant per tick",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
    println!(
        "bridge pacing     p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms between packets to a caller",
        percentile(&gaps, 0.5),
        percentile(&gaps, 0.99),
        gaps.last().copied().unwrap_or(0.0)
    );
    println!(
        "loss              {loss:.2} % ({lost} of {})",
        received + lost
    );
    println!("heard (listeners) {heard_db:.1} dBFS");
    if let (Some(own), Some((_, wall))) = (own, cpu) {
        println!(
            "load tool CPU     {:.1} % of one core",
            100.0 * own.as_secs_f64() / wall.as_secs_f64()
        );
    }
    if let Some(bridge_late) = bridge_late {
        println!("bridge late       {bridge_late} ticks in the measured window");
    }
    println!("load tool late    {late} ticks");
    if let (Some((steal0, all0)), Some((steal1, all1))) = (machine_before, machine_time()) {
        println!(
            "host steal        {:.1} % of the machine's time (late ticks then are the host's)",
            100.0 * steal1.saturating_sub(steal0) as f64 / all1.saturating_sub(all0).max(1) as f64
        );
    }
    if failed > 0 || loss > cli.max_loss {
        bail!("{failed} calls failed, {loss:.2} % lost");
    }
    Ok(())
}
