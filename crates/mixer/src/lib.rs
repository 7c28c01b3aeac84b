//! The conference mixer and the tick clock that paces it.
//!
//! # Mixing
//! A [`Mixer`] is one conference's audio bus at one [`AudioRate`] (8, 16 or 48 kHz; see
//! [`Mixer::set_rate`]): frames are 20 ms at that rate. Each tick:
//! 1. [`Mixer::set_input`] for every member who has audio for this tick (the others count
//!    as silent),
//! 2. [`Mixer::mix`] sums all inputs on a 32-bit bus,
//! 3. [`Mixer::output`] gives each member what they hear: the whole mix minus their own
//!    voice, brought to 16 bits once at the end by a soft limiter per output (see
//!    [`limiter`]: unchanged under −1 dBFS, a smooth gain above it, never a clipped sample).
//!
//! Members who contributed nothing hear exactly the same thing, so they get
//! [`Output::Shared`]: one frame the caller may encode once and send to all of them. Only
//! contributors get an [`Output::Own`] frame. The work per tick is one pass over the inputs
//! plus one pass per contributor: O(N), never O(N²).
//!
//! # Pacing
//! [`TickClock`] turns a start instant into deadlines `start + n × 20 ms`. It never sleeps
//! and never reads the clock: the caller sleeps until [`TickClock::poll_timeout`] and then
//! reports the time with [`TickClock::handle_timeout`]. Because deadlines are computed from
//! the start, lateness never accumulates into drift.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use chorus_types::{AudioRate, FRAME_MS};
use limiter::Limiter;
use std::time::{Duration, Instant};

pub mod agc;
pub mod denoise;
pub mod limiter;

/// A member's handle inside one [`Mixer`]. Handles are reused after removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(u32);

impl MemberId {
    /// The handle as an index (dense, starting at 0).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug)]
struct Slot {
    in_use: bool,
    /// The input for the current tick, valid when `has_input`.
    input: Vec<i16>,
    has_input: bool,
    /// Index into `Mixer::own` when this member contributed this tick.
    own_index: Option<u32>,
    /// The limiter of the mix it hears when it contributed.
    limiter: Limiter,
}

/// What one member hears this tick.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// The full mix, identical for every member who did not contribute: encode it once.
    Shared(&'a [i16]),
    /// The mix without this member's own voice.
    Own(&'a [i16]),
}

impl<'a> Output<'a> {
    /// The samples, whichever kind.
    pub fn frame(self) -> &'a [i16] {
        match self {
            Output::Shared(f) | Output::Own(f) => f,
        }
    }
}

/// One conference's mixing bus. See the crate docs for the per-tick call order.
#[derive(Debug)]
pub struct Mixer {
    slots: Vec<Slot>,
    free: Vec<u32>,
    members: usize,
    /// Members with an input this tick, in the order they were set.
    contributors: Vec<u32>,
    rate: AudioRate,
    bus: Vec<i32>,
    shared: Vec<i16>,
    shared_limiter: Limiter,
    own: Vec<Vec<i16>>,
    /// The limiter's per-sample gains, reused.
    gains: Vec<f32>,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    /// An empty bus at 8 kHz.
    pub fn new() -> Self {
        Self::with_rate(AudioRate::Narrow)
    }

    /// An empty bus at `rate`.
    pub fn with_rate(rate: AudioRate) -> Self {
        let n = rate.frame_samples();
        Mixer {
            slots: Vec::new(),
            free: Vec::new(),
            members: 0,
            contributors: Vec::new(),
            rate,
            bus: vec![0; n],
            shared: vec![0; n],
            shared_limiter: Limiter::default(),
            own: Vec::new(),
            gains: Vec::with_capacity(n),
        }
    }

    /// The bus rate.
    pub fn rate(&self) -> AudioRate {
        self.rate
    }

    /// Changes the bus rate between ticks; inputs already set are dropped.
    pub fn set_rate(&mut self, rate: AudioRate) {
        if rate == self.rate {
            return;
        }
        let n = rate.frame_samples();
        self.rate = rate;
        self.bus = vec![0; n];
        self.shared = vec![0; n];
        self.own.clear();
        for &c in &self.contributors {
            self.slots[c as usize].has_input = false;
        }
        self.contributors.clear();
        for slot in &mut self.slots {
            slot.input = vec![0; n];
            slot.own_index = None;
        }
    }

    /// Adds a member, who hears the mix from the next [`Mixer::mix`] on.
    pub fn add(&mut self) -> MemberId {
        self.members += 1;
        let fresh = Slot {
            in_use: true,
            input: vec![0; self.rate.frame_samples()],
            has_input: false,
            own_index: None,
            limiter: Limiter::default(),
        };
        if let Some(index) = self.free.pop() {
            self.slots[index as usize] = fresh;
            return MemberId(index);
        }
        self.slots.push(fresh);
        MemberId(self.slots.len() as u32 - 1)
    }

    /// Removes a member; its handle may be handed out again.
    pub fn remove(&mut self, id: MemberId) {
        if let Some(slot) = self.slots.get_mut(id.index())
            && slot.in_use
        {
            slot.in_use = false;
            slot.has_input = false;
            slot.own_index = None;
            self.contributors.retain(|&c| c != id.0);
            self.free.push(id.0);
            self.members -= 1;
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether the bus has no members.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Sets a member's audio for the coming [`Mixer::mix`]: one frame at the bus rate
    /// (shorter input is padded with silence). Setting twice replaces.
    pub fn set_input(&mut self, id: MemberId, frame: &[i16]) {
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        if !slot.in_use {
            return;
        }
        let n = frame.len().min(slot.input.len());
        slot.input[..n].copy_from_slice(&frame[..n]);
        slot.input[n..].fill(0);
        if !slot.has_input {
            slot.has_input = true;
            self.contributors.push(id.0);
        }
    }

    /// Mixes the inputs set since the last call and clears them.
    pub fn mix(&mut self) {
        // Forget last tick's own-mix assignments.
        for slot in &mut self.slots {
            slot.own_index = None;
        }
        self.bus.iter_mut().for_each(|s| *s = 0);
        for &c in &self.contributors {
            let input = &self.slots[c as usize].input;
            for (acc, &s) in self.bus.iter_mut().zip(input.iter()) {
                *acc += i32::from(s);
            }
        }
        let hz = self.rate.hz();
        let bus = &self.bus;
        self.shared_limiter
            .write_bus(&mut self.shared, &mut self.gains, hz, bus, None);
        let n = self.rate.frame_samples();
        self.own.resize_with(self.contributors.len(), || vec![0; n]);
        for (k, &c) in self.contributors.iter().enumerate() {
            let slot = &mut self.slots[c as usize];
            let own = &mut self.own[k];
            slot.limiter
                .write_bus(own, &mut self.gains, hz, bus, Some(&slot.input));
            slot.own_index = Some(k as u32);
            slot.has_input = false;
        }
        self.contributors.clear();
    }

    /// The full mix from the last [`Mixer::mix`]: what every member who did not
    /// contribute hears.
    pub fn shared_mix(&self) -> &[i16] {
        &self.shared
    }

    /// What a member hears from the last [`Mixer::mix`].
    pub fn output(&self, id: MemberId) -> Output<'_> {
        match self.slots.get(id.index()).and_then(|s| s.own_index) {
            Some(k) => Output::Own(&self.own[k as usize]),
            None => Output::Shared(&self.shared),
        }
    }
}

/// Deadlines `start + n × 20 ms` for a mixing thread. See the crate docs.
#[derive(Debug, Clone)]
pub struct TickClock {
    start: Instant,
    next: u64,
    late_ticks: u64,
}

/// The period of one tick.
pub const TICK: Duration = Duration::from_millis(FRAME_MS as u64);

/// How many missed ticks a late thread still runs, in a burst: a host stall of up to
/// 100 ms costs no audio (the phones' jitter buffers absorb the burst); a longer one
/// skips the rest, since a listener would hear the delay grow.
pub const CATCH_UP_TICKS: u64 = 5;

impl TickClock {
    /// A clock whose first tick is due at `start`.
    pub fn new(start: Instant) -> Self {
        TickClock {
            start,
            next: 0,
            late_ticks: 0,
        }
    }

    /// When the next tick is due.
    pub fn poll_timeout(&self) -> Instant {
        self.start + TICK * self.next as u32
    }

    /// Reports the time after waking. Returns whether a tick is due now. A caller that
    /// woke late runs the missed ticks one after another (the next deadline is already
    /// past), so a short stall delays the audio but loses none; ticks more than
    /// [`CATCH_UP_TICKS`] behind are skipped (and counted), so the audio stays on time.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let due = self.poll_timeout();
        if now < due {
            return false;
        }
        let behind = ((now - due).as_nanos() / TICK.as_nanos()) as u64;
        let skipped = behind.saturating_sub(CATCH_UP_TICKS);
        self.late_ticks += skipped;
        self.next += 1 + skipped;
        true
    }

    /// How many ticks were skipped because the caller woke too late.
    pub fn late_ticks(&self) -> u64 {
        self.late_ticks
    }

    /// The number of the next tick.
    pub fn tick_number(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::{FRAME_SAMPLES, Frame, SILENCE};
    use proptest::prelude::*;

    fn frame(v: i16) -> Frame {
        [v; FRAME_SAMPLES]
    }

    #[test]
    fn mixes_at_the_bus_rate_and_changes_rate_between_ticks() {
        let mut m = Mixer::with_rate(AudioRate::Full);
        let a = m.add();
        let b = m.add();
        m.set_input(a, &[5; 960]);
        m.mix();
        assert_eq!(m.output(b).frame().len(), 960);
        assert_eq!(m.output(b).frame()[959], 5);
        m.set_input(a, &[5; 960]);
        m.set_rate(AudioRate::Wide);
        m.mix();
        assert_eq!(
            m.output(b).frame(),
            &[0; 320][..],
            "inputs of the old rate are gone"
        );
        m.set_input(b, &[9; 320]);
        m.mix();
        assert_eq!(m.output(a).frame()[319], 9);
    }

    #[test]
    fn each_member_hears_the_others_but_not_itself() {
        let mut m = Mixer::new();
        let a = m.add();
        let b = m.add();
        let c = m.add();
        let listener = m.add();
        m.set_input(a, &frame(100));
        m.set_input(b, &frame(20));
        m.set_input(c, &frame(3));
        m.mix();
        assert_eq!(m.output(a).frame()[0], 23);
        assert_eq!(m.output(b).frame()[0], 103);
        assert_eq!(m.output(c).frame()[0], 120);
        assert!(matches!(m.output(listener), Output::Shared(f) if f[0] == 123));
    }

    #[test]
    fn saturates_once_at_the_end() {
        let mut m = Mixer::new();
        let a = m.add();
        let b = m.add();
        let c = m.add();
        m.set_input(a, &frame(30_000));
        m.set_input(b, &frame(30_000));
        m.set_input(c, &frame(-30_000));
        m.mix();
        // b + c = 0 exactly: no intermediate clipping.
        assert_eq!(m.output(a).frame()[0], 0);
        // 60,000 is brought under the ceiling by the limiter, not clamped at full scale.
        let loud = m.output(c).frame();
        assert!(
            loud.iter()
                .all(|&s| s > 0 && i32::from(s) <= limiter::CEILING)
        );
    }

    #[test]
    fn alone_hears_silence_and_inputs_clear_each_tick() {
        let mut m = Mixer::new();
        let a = m.add();
        m.set_input(a, &frame(500));
        m.mix();
        assert_eq!(m.output(a).frame(), &SILENCE[..]);
        let b = m.add();
        m.mix();
        assert_eq!(m.output(b).frame(), &SILENCE[..]);
    }

    #[test]
    fn removed_members_leave_the_mix() {
        let mut m = Mixer::new();
        let a = m.add();
        let b = m.add();
        m.set_input(a, &frame(7));
        m.remove(a);
        m.mix();
        assert_eq!(m.output(b).frame()[0], 0);
        assert_eq!(m.len(), 1);
        assert_eq!(m.add(), a, "handle reused");
    }

    #[test]
    fn clock_deadlines_do_not_drift_catch_up_and_skip_when_far_behind() {
        let start = Instant::now();
        let mut clock = TickClock::new(start);
        assert!(clock.handle_timeout(start + Duration::from_micros(300)));
        assert_eq!(clock.poll_timeout(), start + TICK);
        assert!(!clock.handle_timeout(start + Duration::from_millis(19)));
        // 65 ms late: ticks 1, 2 and 3 are all run, one per call, nothing skipped.
        let woke = start + Duration::from_millis(65);
        let mut run = 0;
        while clock.handle_timeout(woke) {
            run += 1;
        }
        assert_eq!((run, clock.late_ticks()), (3, 0));
        assert_eq!(clock.poll_timeout(), start + TICK * 4);
        // 200 ms later than tick 4: ten ticks missed, the five beyond the burst skipped.
        let woke = start + TICK * 4 + Duration::from_millis(205);
        let mut run = 0;
        while clock.handle_timeout(woke) {
            run += 1;
        }
        assert_eq!(clock.late_ticks(), 5);
        assert_eq!(run, 6);
        assert!(clock.poll_timeout() > woke);
    }

    proptest! {
        #[test]
        fn output_is_the_sum_of_the_others_or_limited_under_the_ceiling(inputs in proptest::collection::vec(any::<i16>(), 1..12)) {
            let mut m = Mixer::new();
            let ids: Vec<_> = inputs.iter().map(|_| m.add()).collect();
            for (id, v) in ids.iter().zip(&inputs) {
                m.set_input(*id, &frame(*v));
            }
            m.mix();
            let total: i32 = inputs.iter().map(|&v| i32::from(v)).sum();
            for (id, v) in ids.iter().zip(&inputs) {
                let others = total - i32::from(*v);
                let heard = i32::from(m.output(*id).frame()[FRAME_SAMPLES - 1]);
                if others.abs() <= limiter::CEILING {
                    prop_assert_eq!(heard, others);
                } else {
                    prop_assert!(heard.abs() <= limiter::CEILING && heard.signum() == others.signum());
                }
            }
        }
    }
}
