//! A jitter buffer that plays one 20 ms frame per tick from packets that arrive late,
//! early, twice, out of order or not at all.
//!
//! Decoded samples are written into a ring indexed by RTP timestamp, so reordering and
//! duplicates need no bookkeeping: a sample lands where its timestamp says, twice if sent
//! twice. The playout cursor trails the newest timestamp by a target delay. A missing frame
//! is concealed by repeating the last one at falling level (then silence), so loss is not a
//! click. An SSRC change or a timestamp jump re-anchors the cursor; a buffer that grows past
//! the target (sender clock faster than ours) drops its oldest audio, and an empty one
//! (sender slower) holds the cursor until audio arrives.

use chorus_types::{FRAME_SAMPLES, Frame, SILENCE};

/// Ring capacity in samples (power of two): 512 ms at 8 kHz.
const CAPACITY: usize = 4096;
const MASK: u32 = CAPACITY as u32 - 1;
/// How many consecutive missing frames are concealed before going silent.
const CONCEAL_FRAMES: u32 = 3;

/// Counters for one buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Frames played from received audio.
    pub played: u64,
    /// Frames concealed after loss.
    pub concealed: u64,
    /// Packets that arrived after their time had passed.
    pub late: u64,
    /// Times the cursor jumped forward to cut excess delay.
    pub skipped: u64,
    /// Times the buffer re-anchored on a new SSRC or a timestamp jump.
    pub resyncs: u64,
}

/// See the module docs. Samples are at the codec clock rate (8 kHz here).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    ring: Vec<i16>,
    filled: Vec<bool>,
    target: u32,
    cursor: u32,
    newest_end: u32,
    ssrc: Option<u32>,
    last: Frame,
    missing_run: u32,
    stats: JitterStats,
}

fn ahead(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl JitterBuffer {
    /// A buffer that keeps `target_samples` of delay (e.g. 320 = 40 ms at 8 kHz).
    pub fn new(target_samples: u32) -> Self {
        JitterBuffer {
            ring: vec![0; CAPACITY],
            filled: vec![false; CAPACITY],
            target: target_samples.min(CAPACITY as u32 / 2),
            cursor: 0,
            newest_end: 0,
            ssrc: None,
            last: SILENCE,
            missing_run: CONCEAL_FRAMES,
            stats: JitterStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Samples buffered ahead of the playout cursor.
    pub fn depth(&self) -> i32 {
        if self.ssrc.is_none() {
            return 0;
        }
        ahead(self.newest_end, self.cursor)
    }

    fn resync(&mut self, ssrc: u32, timestamp: u32) {
        if self.ssrc.is_some() {
            self.stats.resyncs += 1;
        }
        self.filled.iter_mut().for_each(|f| *f = false);
        self.ssrc = Some(ssrc);
        self.cursor = timestamp.wrapping_sub(self.target);
        self.newest_end = timestamp;
    }

    /// Stores decoded samples that start at RTP `timestamp`.
    pub fn insert(&mut self, ssrc: u32, timestamp: u32, samples: &[i16]) {
        if samples.is_empty() || samples.len() > CAPACITY / 2 {
            return;
        }
        let len = samples.len() as i32;
        let offset = ahead(timestamp, self.cursor);
        let jumped = offset < -(CAPACITY as i32) / 2 || offset + len > CAPACITY as i32;
        if self.ssrc != Some(ssrc) || jumped {
            self.resync(ssrc, timestamp);
        } else if offset + len <= 0 {
            self.stats.late += 1;
            return;
        }
        for (i, &s) in samples.iter().enumerate() {
            let ts = timestamp.wrapping_add(i as u32);
            if ahead(ts, self.cursor) < 0 {
                continue; // this part is already played
            }
            let at = (ts & MASK) as usize;
            self.ring[at] = s;
            self.filled[at] = true;
        }
        let end = timestamp.wrapping_add(len as u32);
        if ahead(end, self.newest_end) > 0 {
            self.newest_end = end;
        }
    }

    /// The frame for this tick. Returns `true` when it holds received audio (possibly with
    /// gaps), `false` when it is concealment or silence.
    pub fn pop_frame(&mut self, out: &mut Frame) -> bool {
        if self.ssrc.is_none() {
            *out = SILENCE;
            return false;
        }
        let depth = self.depth();
        let excess = depth - (self.target + 4 * FRAME_SAMPLES as u32) as i32;
        if excess > 0 {
            // Keep the target plus the newest frame.
            let cut = (excess + 3 * FRAME_SAMPLES as i32) as u32;
            for i in 0..cut {
                self.filled[(self.cursor.wrapping_add(i) & MASK) as usize] = false;
            }
            self.cursor = self.cursor.wrapping_add(cut);
            self.stats.skipped += 1;
        }
        let mut present = 0;
        for (i, o) in out.iter_mut().enumerate() {
            let at = (self.cursor.wrapping_add(i as u32) & MASK) as usize;
            if self.filled[at] {
                *o = self.ring[at];
                self.filled[at] = false;
                present += 1;
            } else {
                *o = 0;
            }
        }
        if present > 0 {
            self.cursor = self.cursor.wrapping_add(FRAME_SAMPLES as u32);
            self.last = *out;
            self.missing_run = 0;
            self.stats.played += 1;
            return true;
        }
        // Nothing at the cursor. If nothing is buffered beyond it either, the sender is
        // behind (or paused): hold the cursor so its next packet still plays in order.
        if self.depth() > 0 {
            self.cursor = self.cursor.wrapping_add(FRAME_SAMPLES as u32);
        }
        if self.missing_run < CONCEAL_FRAMES {
            self.missing_run += 1;
            let shift = self.missing_run;
            for (o, &l) in out.iter_mut().zip(self.last.iter()) {
                *o = l >> shift;
            }
            self.stats.concealed += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: u32 = FRAME_SAMPLES as u32;

    fn chunk(v: i16) -> Vec<i16> {
        vec![v; FRAME_SAMPLES]
    }

    fn drain(jb: &mut JitterBuffer, n: usize) -> Vec<i16> {
        let mut out = Vec::new();
        let mut f = SILENCE;
        for _ in 0..n {
            jb.pop_frame(&mut f);
            out.push(f[0]);
        }
        out
    }

    #[test]
    fn reorders_and_ignores_duplicates() {
        let mut jb = JitterBuffer::new(2 * N);
        jb.insert(1, 1000, &chunk(1));
        jb.insert(1, 1000 + 2 * N, &chunk(3));
        jb.insert(1, 1000 + N, &chunk(2));
        jb.insert(1, 1000 + N, &chunk(2));
        // Two frames of initial delay, then 1, 2, 3 in order.
        assert_eq!(drain(&mut jb, 5), vec![0, 0, 1, 2, 3]);
        assert_eq!(jb.stats().played, 3);
    }

    #[test]
    fn loss_is_concealed_with_falling_level_then_silence() {
        let mut jb = JitterBuffer::new(0);
        let mut heard = Vec::new();
        // Packets arrive on time, but frames 1 to 4 are lost.
        for frame in 0..7u32 {
            if frame == 0 || frame >= 5 {
                jb.insert(1, frame * N, &chunk(800));
            }
            heard.extend(drain(&mut jb, 1));
        }
        assert_eq!(heard, vec![800, 400, 200, 100, 0, 800, 800]);
        assert_eq!(jb.stats().concealed, 3);
    }

    #[test]
    fn late_packets_are_dropped() {
        let mut jb = JitterBuffer::new(0);
        jb.insert(1, 0, &chunk(5));
        jb.insert(1, N, &chunk(6));
        drain(&mut jb, 2);
        jb.insert(1, 0, &chunk(9));
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn ssrc_change_and_timestamp_jump_resync() {
        let mut jb = JitterBuffer::new(0);
        jb.insert(1, 0, &chunk(5));
        assert_eq!(drain(&mut jb, 1), vec![5]);
        jb.insert(2, 777_777, &chunk(6));
        assert_eq!(drain(&mut jb, 1), vec![6]);
        jb.insert(2, 10, &chunk(7));
        assert_eq!(drain(&mut jb, 1), vec![7]);
        assert_eq!(jb.stats().resyncs, 2);
    }

    #[test]
    fn fast_sender_does_not_grow_delay_forever() {
        let mut jb = JitterBuffer::new(2 * N);
        let mut ts = 0u32;
        // The sender delivers 11 frames for every 10 ticks.
        for tick in 0..1000 {
            jb.insert(7, ts, &chunk(1));
            ts = ts.wrapping_add(N);
            if tick % 10 == 0 {
                jb.insert(7, ts, &chunk(1));
                ts = ts.wrapping_add(N);
            }
            let mut f = SILENCE;
            jb.pop_frame(&mut f);
            assert!(jb.depth() <= (2 * N + 5 * N) as i32);
        }
        assert!(jb.stats().skipped > 0);
    }

    #[test]
    fn slow_sender_holds_cursor_without_dropping_packets() {
        let mut jb = JitterBuffer::new(N);
        let mut ts = 0u32;
        // The sender delivers 9 frames for every 10 ticks.
        for tick in 0..1000 {
            if tick % 10 != 0 {
                jb.insert(7, ts, &chunk(1));
                ts = ts.wrapping_add(N);
            }
            let mut f = SILENCE;
            jb.pop_frame(&mut f);
        }
        assert_eq!(jb.stats().late, 0);
        assert!(jb.stats().played >= 890);
    }
}
