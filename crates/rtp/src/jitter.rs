//! An adaptive jitter buffer of encoded packets, played out in timestamp order.
//!
//! Packets are kept encoded until their turn, so the decoder sees them in order and a
//! missing one can be recovered from its successor's in-band FEC (Opus) or concealed
//! (the others); see [`Playout`]. The playout cursor runs in RTP clock units.
//!
//! - **Delay follows jitter.** Interarrival jitter is estimated as in RFC 3550 §6.4.1
//!   (`J += (|D| - J) / 16`), and the target delay is one frame plus three times `J`,
//!   rounded up to whole frames and kept between the configured minimum and maximum.
//! - **Growing** happens by itself: when the buffer runs dry the cursor holds
//!   ([`Playout::Empty`]), so the late audio is played rather than dropped.
//! - **Shrinking** happens in silence: across a gap in the timestamps that is not loss
//!   (DTX, silence suppression, a marker bit), the cursor jumps to the target delay; and
//!   the caller may drop a quiet frame with [`JitterBuffer::drop_excess`] when the buffer
//!   holds more than the target. Past the maximum the oldest audio is dropped regardless.
//! - Reordered packets are put in place, duplicates and late ones are counted and
//!   dropped; an SSRC change or a jump beyond the maximum delay re-anchors the cursor.
//!
//! Clock drift is absorbed by the same rules: a fast sender fills the buffer (shrunk in
//! silence), a slow one empties it (held).

use std::collections::VecDeque;
use std::time::Instant;

/// Packets kept at most, whatever their timestamps say.
const MAX_PACKETS: usize = 128;

/// Counters for one buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets played.
    pub played: u64,
    /// Frames lost and concealed (or recovered by FEC).
    pub concealed: u64,
    /// Ticks with nothing buffered (the cursor held).
    pub underruns: u64,
    /// Packets that arrived after their time had passed.
    pub late: u64,
    /// Packets that arrived twice.
    pub duplicates: u64,
    /// Packets dropped to cut delay.
    pub skipped: u64,
    /// Times the buffer re-anchored on a new SSRC or a timestamp jump.
    pub resyncs: u64,
}

/// How a buffer sizes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The RTP clock rate of the stream.
    pub clock_rate: u32,
    /// The least delay kept, in ms (at least one 20 ms frame).
    pub min_delay_ms: u32,
    /// The most, in ms.
    pub max_delay_ms: u32,
}

impl JitterConfig {
    /// 20 ms to 200 ms at `clock_rate`.
    pub fn new(clock_rate: u32) -> Self {
        JitterConfig {
            clock_rate,
            min_delay_ms: 20,
            max_delay_ms: 200,
        }
    }
}

/// What to play next.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// A packet to decode and play.
    Packet {
        /// Its payload.
        payload: &'a [u8],
        /// The RFC 6464 level its sender stated (−dBov, 127 for silence), if any.
        level: Option<u8>,
    },
    /// One frame whose packet is missing; `next` is the packet right after it when it has
    /// arrived, for FEC.
    Lost {
        /// The following packet, if here.
        next: Option<&'a [u8]>,
    },
    /// One frame of a gap the sender left on purpose (silence, DTX): play silence or
    /// comfort noise.
    Silence,
    /// Nothing has arrived for this moment yet: the cursor holds, so the buffer grows.
    Empty,
}

#[derive(Debug)]
struct Entry {
    seq: u16,
    ts: u32,
    duration: u32,
    marker: bool,
    level: Option<u8>,
    payload: Vec<u8>,
}

/// See the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    clock_rate: u32,
    frame: u32,
    min_delay: u32,
    max_delay: u32,
    entries: VecDeque<Entry>,
    spare: Vec<Vec<u8>>,
    current: Vec<u8>,
    current_level: Option<u8>,
    ssrc: Option<u32>,
    playing: bool,
    cursor: u32,
    last_played_seq: Option<u16>,
    jitter: f64,
    last_arrival: Option<(f64, u32)>,
    origin: Option<Instant>,
    target: u32,
    stats: JitterStats,
}

/// How far `a` is ahead of `b` on the wrapping timestamp circle.
fn ahead(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        let per_ms = config.clock_rate / 1000;
        let frame = per_ms * 20;
        let min_delay = (config.min_delay_ms * per_ms).max(frame);
        JitterBuffer {
            clock_rate: config.clock_rate,
            frame,
            min_delay,
            max_delay: (config.max_delay_ms * per_ms).max(min_delay),
            entries: VecDeque::new(),
            spare: Vec::new(),
            current: Vec::new(),
            current_level: None,
            ssrc: None,
            playing: false,
            cursor: 0,
            last_played_seq: None,
            jitter: 0.0,
            last_arrival: None,
            origin: None,
            target: min_delay,
            stats: JitterStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Interarrival jitter (RFC 3550) in RTP clock units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// The delay the buffer aims for, in RTP clock units.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Audio buffered ahead of the cursor, in RTP clock units.
    pub fn depth(&self) -> u32 {
        match self.entries.back() {
            Some(last) if self.playing => {
                ahead(last.ts.wrapping_add(last.duration), self.cursor).max(0) as u32
            }
            _ => 0,
        }
    }

    /// Adds a packet that arrived at `now`, covering `duration` RTP units, with the
    /// RFC 6464 level its sender stated, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        ts: u32,
        marker: bool,
        duration: u32,
        payload: &[u8],
        level: Option<u8>,
    ) {
        if duration == 0 {
            return;
        }
        if self.ssrc != Some(ssrc) {
            if self.ssrc.is_some() {
                self.stats.resyncs += 1;
            }
            self.resync(ssrc);
        }
        self.track_jitter(now, ts);
        if self.playing {
            let behind = ahead(self.cursor, ts.wrapping_add(duration));
            if behind >= 0 {
                if behind as u32 > self.max_delay.max(self.clock_rate) {
                    // The sender's timestamps jumped back: start over from here.
                    self.stats.resyncs += 1;
                    self.resync(ssrc);
                } else {
                    self.stats.late += 1;
                    return;
                }
            }
        }
        let at = self
            .entries
            .iter()
            .rposition(|e| ahead(ts, e.ts) >= 0)
            .map_or(0, |i| i + 1);
        if at > 0 && self.entries[at - 1].ts == ts {
            self.stats.duplicates += 1;
            return;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        self.entries.insert(
            at,
            Entry {
                seq,
                ts,
                duration,
                marker,
                level,
                payload: buf,
            },
        );
        if self.entries.len() > MAX_PACKETS
            && let Some(old) = self.entries.pop_front()
        {
            self.stats.skipped += 1;
            self.spare.push(old.payload);
        }
    }

    fn resync(&mut self, ssrc: u32) {
        self.ssrc = Some(ssrc);
        self.playing = false;
        self.last_played_seq = None;
        self.last_arrival = None;
        while let Some(e) = self.entries.pop_front() {
            self.spare.push(e.payload);
        }
    }

    fn track_jitter(&mut self, now: Instant, ts: u32) {
        let origin = *self.origin.get_or_insert(now);
        let arrival =
            now.saturating_duration_since(origin).as_secs_f64() * f64::from(self.clock_rate);
        if let Some((last_arrival, last_ts)) = self.last_arrival {
            let sent = f64::from(ahead(ts, last_ts));
            // Only neighbours in time: a jump (DTX, reorder across seconds) says nothing.
            if sent.abs() <= f64::from(self.clock_rate) {
                let d = (arrival - last_arrival) - sent;
                self.jitter += (d.abs() - self.jitter) / 16.0;
            }
        }
        self.last_arrival = Some((arrival, ts));
        let wanted = f64::from(self.frame) + 3.0 * self.jitter;
        let frames = (wanted / f64::from(self.frame)).ceil() as u32;
        self.target = (frames * self.frame).clamp(self.min_delay, self.max_delay);
    }

    fn newest_end(&self) -> Option<u32> {
        self.entries.back().map(|e| e.ts.wrapping_add(e.duration))
    }

    /// What to play next: call whenever the caller needs more audio (once per 20 ms
    /// frame for 20 ms packets).
    pub fn pop(&mut self) -> Playout<'_> {
        let Some(head) = self.entries.front() else {
            if self.playing {
                self.stats.underruns += 1;
            }
            return Playout::Empty;
        };
        if !self.playing {
            // Start a target's worth behind the first packet: the silence before it is
            // the buffer filling.
            self.cursor = head.ts.wrapping_sub(self.target - self.frame);
            self.playing = true;
        }
        let gap = ahead(head.ts, self.cursor);
        let newest_end = self.newest_end().unwrap_or(self.cursor);
        if gap > 0 {
            let intended = head.marker
                || self
                    .last_played_seq
                    .is_none_or(|s| head.seq == s.wrapping_add(1));
            if intended || gap as u32 > self.max_delay {
                // A silence the sender meant (or too long to be loss): catch up to the
                // target delay while nothing is lost by it.
                let wanted = newest_end.wrapping_sub(self.target);
                if ahead(wanted, self.cursor) > 0 {
                    self.cursor = if ahead(wanted, head.ts) > 0 {
                        head.ts
                    } else {
                        wanted
                    };
                }
                if ahead(head.ts, self.cursor) > 0 {
                    self.cursor = self.cursor.wrapping_add(self.frame);
                    return Playout::Silence;
                }
            } else {
                self.cursor = self.cursor.wrapping_add(self.frame);
                self.stats.concealed += 1;
                // The packet right after the hole carries its FEC (Opus LBRR).
                let next = self.entries.front().filter(|_| gap as u32 <= self.frame);
                return Playout::Lost {
                    next: next.map(|e| e.payload.as_slice()),
                };
            }
        }
        let Some(entry) = self.entries.pop_front() else {
            return Playout::Empty;
        };
        self.stats.played += 1;
        self.cursor = entry.ts.wrapping_add(entry.duration);
        self.last_played_seq = Some(entry.seq);
        if self.depth() > self.max_delay {
            self.cut_to_target();
        }
        let spent = std::mem::replace(&mut self.current, entry.payload);
        self.spare.push(spent);
        self.current_level = entry.level;
        Playout::Packet {
            payload: &self.current,
            level: self.current_level,
        }
    }

    /// Drops the next packet when the buffer holds at least a frame more than its target.
    /// Call it after a quiet frame, so delay shrinks where no one hears it. Returns
    /// whether a packet went.
    pub fn drop_excess(&mut self) -> bool {
        if self.entries.len() < 2 || self.depth() < self.target + self.frame {
            return false;
        }
        let Some(head) = self.entries.front() else {
            return false;
        };
        if ahead(head.ts, self.cursor) > 0 {
            return false;
        }
        if let Some(entry) = self.entries.pop_front() {
            self.stats.skipped += 1;
            self.cursor = entry.ts.wrapping_add(entry.duration);
            self.last_played_seq = Some(entry.seq);
            self.spare.push(entry.payload);
        }
        true
    }

    fn cut_to_target(&mut self) {
        let Some(end) = self.newest_end() else {
            return;
        };
        let wanted = end.wrapping_sub(self.target);
        while let Some(head) = self.entries.front() {
            if ahead(head.ts.wrapping_add(head.duration), wanted) > 0 {
                break;
            }
            if let Some(e) = self.entries.pop_front() {
                self.stats.skipped += 1;
                self.last_played_seq = Some(e.seq);
                self.spare.push(e.payload);
            }
        }
        if ahead(wanted, self.cursor) > 0 {
            self.cursor = wanted;
        }
    }
}

#[cfg(test)]
mod tests;
