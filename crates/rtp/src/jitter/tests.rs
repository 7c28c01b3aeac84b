use super::*;
use std::time::Duration;

const FRAME: u32 = 160;

fn buffer() -> JitterBuffer {
    JitterBuffer::new(JitterConfig::new(8000))
}

fn payload(seq: u16) -> [u8; 2] {
    seq.to_be_bytes()
}

fn insert(jb: &mut JitterBuffer, at: Instant, seq: u16, marker: bool) {
    insert_ts(jb, at, seq, u32::from(seq) * FRAME, marker);
}

fn insert_ts(jb: &mut JitterBuffer, at: Instant, seq: u16, ts: u32, marker: bool) {
    jb.insert(at, 7, seq, ts, marker, FRAME, &payload(seq), None);
}

/// What each pop gave: Some(seq) for a packet, None for anything else.
fn pop(jb: &mut JitterBuffer) -> (Option<u16>, &'static str) {
    match jb.pop() {
        Playout::Packet { payload: p, .. } => (Some(u16::from_be_bytes([p[0], p[1]])), "packet"),
        Playout::Lost { next: Some(_) } => (None, "lost+fec"),
        Playout::Lost { next: None } => (None, "lost"),
        Playout::Silence => (None, "silence"),
        Playout::Empty => (None, "empty"),
    }
}

#[test]
fn reorders_and_drops_duplicates() {
    let t = Instant::now();
    let mut jb = buffer();
    for seq in [0u16, 2, 1, 1, 3] {
        insert(&mut jb, t, seq, false);
    }
    assert_eq!(jb.stats().duplicates, 1);
    let played: Vec<_> = (0..4).map(|_| pop(&mut jb).0).collect();
    assert_eq!(played, vec![Some(0), Some(1), Some(2), Some(3)]);
}

#[test]
fn the_first_packet_waits_out_the_target_delay() {
    let t = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig {
        clock_rate: 8000,
        min_delay_ms: 60,
        max_delay_ms: 200,
    });
    insert(&mut jb, t, 0, true);
    assert_eq!(pop(&mut jb).1, "silence");
    assert_eq!(pop(&mut jb).1, "silence");
    assert_eq!(pop(&mut jb).0, Some(0));
    assert_eq!(pop(&mut jb).1, "empty");
}

#[test]
fn a_lost_packet_is_reported_with_its_successor_for_fec() {
    let t = Instant::now();
    let mut jb = buffer();
    for seq in [0u16, 2, 3] {
        insert(&mut jb, t, seq, false);
    }
    assert_eq!(pop(&mut jb).0, Some(0));
    assert_eq!(pop(&mut jb).1, "lost+fec");
    assert_eq!(pop(&mut jb).0, Some(2));
    assert_eq!(jb.stats().concealed, 1);
    // Two lost in a row: the first has no successor yet.
    let mut jb = buffer();
    for seq in [0u16, 3] {
        insert(&mut jb, t, seq, false);
    }
    assert_eq!(pop(&mut jb).0, Some(0));
    assert_eq!(pop(&mut jb).1, "lost");
    assert_eq!(pop(&mut jb).1, "lost+fec");
    assert_eq!(pop(&mut jb).0, Some(3));
}

#[test]
fn a_dtx_gap_is_silence_not_loss_and_resumes_at_the_target_delay() {
    let t = Instant::now();
    let mut jb = buffer();
    insert(&mut jb, t, 0, false);
    assert_eq!(pop(&mut jb).0, Some(0));
    // The sender stops for 2 s, then resumes with the next sequence number.
    for _ in 0..3 {
        assert_eq!(pop(&mut jb).1, "empty");
    }
    insert_ts(&mut jb, t, 1, 16_000, true);
    insert_ts(&mut jb, t, 2, 16_160, false);
    let (seq, _) = pop(&mut jb);
    assert_eq!(seq, Some(1), "no waiting through the whole gap");
    assert_eq!(pop(&mut jb).0, Some(2));
    assert_eq!(jb.stats().concealed, 0);
}

#[test]
fn ssrc_change_and_backward_jump_resync() {
    let t = Instant::now();
    let mut jb = buffer();
    insert(&mut jb, t, 100, false);
    assert_eq!(pop(&mut jb).0, Some(100));
    jb.insert(t, 8, 5, 800, false, FRAME, &payload(5), None);
    assert_eq!(jb.stats().resyncs, 1);
    assert_eq!(pop(&mut jb).0, Some(5));
    jb.insert(t, 8, 6, 0, false, FRAME, &payload(6), None);
    assert_eq!(jb.stats().late, 1, "a little back is late");
    jb.insert(
        t,
        8,
        7,
        800u32.wrapping_sub(80_000),
        false,
        FRAME,
        &payload(7),
        None,
    );
    assert_eq!(jb.stats().resyncs, 2, "far back is a new start");
    let first = (0..4).find_map(|_| pop(&mut jb).0);
    assert_eq!(first, Some(7));
}

#[test]
fn target_follows_jitter_within_bounds() {
    let t = Instant::now();
    let mut jb = buffer();
    for seq in 0..50u16 {
        insert(
            &mut jb,
            t + Duration::from_millis(u64::from(seq) * 20),
            seq,
            false,
        );
    }
    assert_eq!(jb.target(), FRAME, "steady arrival: one frame");
    let mut jb = buffer();
    for seq in 0..200u16 {
        let wobble = if seq % 2 == 0 { 0 } else { 30 };
        insert(
            &mut jb,
            t + Duration::from_millis(u64::from(seq) * 20 + wobble),
            seq,
            false,
        );
    }
    let target_ms = jb.target() / 8;
    assert!(
        (80..=140).contains(&target_ms),
        "target {target_ms} ms, jitter {}",
        jb.jitter()
    );
    let mut jb = buffer();
    for seq in 0..200u16 {
        let wobble = if seq % 2 == 0 { 0 } else { 400 };
        insert(
            &mut jb,
            t + Duration::from_millis(u64::from(seq) * 20 + wobble),
            seq,
            false,
        );
    }
    assert_eq!(jb.target() / 8, 200, "capped at the maximum");
}

/// A seeded network: 20 ms packets with a sender clock `drift` off ours, `loss` random
/// loss, up to `jitter_ms` random extra delay (which also reorders). The receiver ticks
/// every 20 ms on a virtual clock, inserts what has arrived, plays one frame, and every
/// fifth frame counts as a pause where excess delay may go.
fn simulate(seed: u64, loss: f64, jitter_ms: u64, drift: f64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let t0 = Instant::now();
    let packets = 3000u16;
    let mut arrivals: Vec<(Duration, u16)> = Vec::new();
    for seq in 0..packets {
        if rng.f64() < loss {
            continue;
        }
        let sent = Duration::from_secs_f64(f64::from(seq) * 0.020 * (1.0 + drift));
        let delay = Duration::from_millis(5 + rng.u64(0..=jitter_ms));
        arrivals.push((sent + delay, seq));
    }
    arrivals.sort();
    let received = arrivals.len();
    let mut jb = buffer();
    let mut next = 0;
    let mut played: Vec<u16> = Vec::new();
    let mut over_target = 0;
    for tick in 0..(u32::from(packets) + 100) {
        let now = Duration::from_millis(u64::from(tick) * 20);
        while next < arrivals.len() && arrivals[next].0 <= now {
            insert(&mut jb, t0 + arrivals[next].0, arrivals[next].1, false);
            next += 1;
        }
        let target = jb.target();
        if let (Some(seq), _) = pop(&mut jb) {
            played.push(seq);
            // Playout delay: now minus when the sender produced the frame's end.
            let sent_end = Duration::from_secs_f64((f64::from(seq) + 1.0) * 0.020 * (1.0 + drift));
            let delay_ms = now.saturating_sub(sent_end).as_millis() as u32;
            if tick > 200 && delay_ms > target / 8 + jitter_ms as u32 / 2 + 40 {
                over_target += 1;
            }
            assert!(
                delay_ms <= 200 + 60,
                "seed {seed}: delay {delay_ms} ms at tick {tick}"
            );
        }
        // Speech pauses every 100 ms or so: where the caller sheds excess delay.
        if tick % 5 == 0 {
            jb.drop_excess();
        }
    }
    assert!(
        played.windows(2).all(|w| w[1] > w[0]),
        "seed {seed}: a frame played twice or out of order"
    );
    let stats = jb.stats();
    let unplayed = received - played.len();
    if loss == 0.0 && jitter_ms == 0 && drift == 0.0 {
        assert_eq!(
            played.len(),
            received,
            "seed {seed}: a clean network loses nothing"
        );
    }
    assert_eq!(
        unplayed as u64,
        stats.late + stats.skipped,
        "seed {seed}: every received packet is played or counted: {stats:?}"
    );
    // Skipping happens only to shed excess delay (drift), never wholesale.
    assert!(
        (unplayed as f64) < received as f64 * 0.02 + (drift.abs() * 3000.0 * 1.2),
        "seed {seed}: {unplayed} of {received} not played: {stats:?}"
    );
    assert!(
        over_target < 30,
        "seed {seed}: {over_target} frames over target"
    );
}

#[test]
fn seeded_networks_play_every_frame_once_within_target() {
    for seed in 1..=5 {
        simulate(seed, 0.0, 0, 0.0);
        simulate(seed, 0.05, 40, 0.0);
        simulate(seed, 0.05, 40, 0.005);
        simulate(seed, 0.05, 40, -0.005);
        simulate(seed, 0.0, 100, 0.0);
    }
}
