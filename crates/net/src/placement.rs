//! Which mixing thread a conference lives on: the least loaded when its first leg comes,
//! then the same one for as long as it has legs (a conference's legs share one thread, so
//! a tick touches no lock). Load is weighed by codec: an Opus leg costs the thread several
//! times a G.711 one.

use chorus_engine::CallId;
use chorus_types::Codec;
use std::collections::HashMap;

/// How much a leg of `codec` weighs on its thread.
fn weight(codec: Codec) -> usize {
    match codec {
        Codec::Opus => 4,
        Codec::G722 => 2,
        Codec::Pcmu | Codec::Pcma => 1,
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Placement {
    load: Vec<usize>,
    conferences: HashMap<String, (usize, usize)>,
    legs: HashMap<CallId, (usize, String, usize)>,
}

impl Placement {
    pub(crate) fn new(threads: usize) -> Self {
        Placement {
            load: vec![0; threads.max(1)],
            conferences: HashMap::new(),
            legs: HashMap::new(),
        }
    }

    /// The thread of a conference that has legs.
    pub(crate) fn conference(&self, conference: &str) -> Option<usize> {
        self.conferences.get(conference).map(|(thread, _)| *thread)
    }

    /// The thread of a leg.
    pub(crate) fn leg(&self, call: CallId) -> Option<usize> {
        self.legs.get(&call).map(|(thread, _, _)| *thread)
    }

    /// Places a new leg: on its conference's thread, or, for a conference's first leg, on
    /// the least loaded thread.
    pub(crate) fn add(&mut self, call: CallId, conference: &str, codec: Codec) -> usize {
        let thread = match self.conferences.get_mut(conference) {
            Some((thread, legs)) => {
                *legs += 1;
                *thread
            }
            None => {
                let thread = (0..self.load.len())
                    .min_by_key(|&t| (self.load[t], t))
                    .unwrap_or(0);
                self.conferences.insert(conference.to_owned(), (thread, 1));
                thread
            }
        };
        let weight = weight(codec);
        self.load[thread] += weight;
        self.legs
            .insert(call, (thread, conference.to_owned(), weight));
        thread
    }

    /// Moves a leg to conference `to`: to its thread, or, when `to` has no legs yet, to
    /// the leg's own thread (no move between threads). Returns (from, to) threads.
    pub(crate) fn relocate(&mut self, call: CallId, to: &str) -> Option<(usize, usize)> {
        let (from, _, weight) = self.legs.get(&call).cloned()?;
        let target = self.conference(to).unwrap_or(from);
        self.remove(call);
        self.load[target] += weight;
        self.conferences
            .entry(to.to_owned())
            .or_insert((target, 0))
            .1 += 1;
        self.legs.insert(call, (target, to.to_owned(), weight));
        Some((from, target))
    }

    /// Forgets a leg; a conference without legs may be placed afresh.
    pub(crate) fn remove(&mut self, call: CallId) -> Option<usize> {
        let (thread, conference, weight) = self.legs.remove(&call)?;
        self.load[thread] = self.load[thread].saturating_sub(weight);
        if let Some((_, legs)) = self.conferences.get_mut(&conference) {
            *legs -= 1;
            if *legs == 0 {
                self.conferences.remove(&conference);
            }
        }
        Some(thread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conferences_go_to_the_least_loaded_thread_and_stay_there() {
        let mut p = Placement::new(2);
        // A big G.711 conference on thread 0...
        for i in 0..10 {
            assert_eq!(p.add(CallId(i), "big", Codec::Pcmu), 0);
        }
        // ...so the next conferences go to thread 1 until it carries as much.
        assert_eq!(p.add(CallId(100), "a", Codec::Opus), 1);
        assert_eq!(
            p.add(CallId(101), "a", Codec::Opus),
            1,
            "a conference stays together"
        );
        assert_eq!(p.add(CallId(102), "b", Codec::Opus), 1);
        assert_eq!(
            p.add(CallId(103), "c", Codec::Pcmu),
            0,
            "thread 1 now weighs 12"
        );
        assert_eq!(p.conference("a"), Some(1));
        assert_eq!(p.leg(CallId(103)), Some(0));
        // Emptied, a conference is placed afresh.
        for i in 0..10 {
            p.remove(CallId(i));
        }
        assert_eq!(p.conference("big"), None);
        assert_eq!(p.add(CallId(200), "big", Codec::Pcmu), 0);
        assert_eq!(p.remove(CallId(999)), None);
    }

    #[test]
    fn a_moved_leg_goes_to_its_new_conference_s_thread_or_stays() {
        let mut p = Placement::new(2);
        assert_eq!(p.add(CallId(1), "a", Codec::Pcmu), 0);
        assert_eq!(p.add(CallId(2), "b", Codec::Pcmu), 1);
        assert_eq!(p.add(CallId(3), "b", Codec::Pcmu), 1);
        // To a conference on the other thread: it goes there.
        assert_eq!(p.relocate(CallId(1), "b"), Some((0, 1)));
        assert_eq!((p.conference("a"), p.conference("b")), (None, Some(1)));
        // To a conference nobody is in: it stays on its thread.
        assert_eq!(p.relocate(CallId(2), "c"), Some((1, 1)));
        assert_eq!(p.leg(CallId(2)), Some(1));
        assert_eq!(p.relocate(CallId(9), "c"), None);
        // Its weight moved with it.
        assert_eq!(p.load, vec![0, 3]);
    }
}
