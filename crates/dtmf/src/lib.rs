//! Keypad digits from the three ways phones send them, each turned into one `char` per key
//! press:
//!
//! - [`EventReceiver`]: RFC 4733 telephone-events. One press is one event timestamp, however
//!   many packets, end packets or redundant copies carry it; a press shorter than 40 ms is
//!   ignored.
//! - [`parse_info`]: SIP INFO bodies, `application/dtmf-relay` and `application/dtmf`.
//! - [`InbandDetector`]: DTMF tones in decoded audio (ITU-T Q.23/Q.24), for phones that offered
//!   no telephone-event. It also says which frames carried tone, so the mixer can keep the
//!   tones out of what the others hear.
//!
//! Everything is sans-IO and allocation-free per frame.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod inband;

pub use inband::{InbandDetector, InbandResult};

/// The shortest key press that counts.
pub const MIN_PRESS_MS: u32 = 40;

/// The keypad character for an RFC 4733 event code (0–9, `*`, `#`, A–D).
pub fn event_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Turns a leg's RFC 4733 packets into key presses.
#[derive(Debug, Clone)]
pub struct EventReceiver {
    min_duration: u32,
    current: Option<u32>,
    reported: bool,
}

impl EventReceiver {
    /// A receiver for a telephone-event stream with the given RTP clock rate.
    pub fn new(clock_rate: u32) -> Self {
        EventReceiver {
            min_duration: clock_rate / 1000 * MIN_PRESS_MS,
            current: None,
            reported: false,
        }
    }

    /// One telephone-event packet: its RTP timestamp (the event's start), event code, and
    /// duration so far. Returns the digit the first time its press reaches 40 ms.
    pub fn handle(&mut self, timestamp: u32, event: u8, duration: u16) -> Option<char> {
        if self.current != Some(timestamp) {
            self.current = Some(timestamp);
            self.reported = false;
        }
        if self.reported || u32::from(duration) < self.min_duration {
            return None;
        }
        self.reported = true;
        event_char(event)
    }
}

/// The digit in a SIP INFO body, or `None` when the type is not a DTMF one, the body names
/// no key, or the press was shorter than 40 ms.
pub fn parse_info(content_type: &str, body: &str) -> Option<char> {
    let normalise = |signal: &str| -> Option<char> {
        let signal = signal.trim();
        match signal {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => {
                let mut chars = signal.chars();
                let c = chars.next()?.to_ascii_uppercase();
                (chars.next().is_none() && matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
                    .then_some(c)
            }
        }
    };
    match content_type.trim().to_ascii_lowercase().as_str() {
        "application/dtmf-relay" => {
            let mut signal = None;
            let mut duration_ms = None;
            for line in body.lines() {
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                match key.trim().to_ascii_lowercase().as_str() {
                    "signal" => signal = normalise(value),
                    "duration" => duration_ms = value.trim().parse::<u32>().ok(),
                    _ => {}
                }
            }
            if duration_ms.is_some_and(|d| d < MIN_PRESS_MS) {
                return None;
            }
            signal
        }
        "application/dtmf" => normalise(body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_press_counts_once_however_many_packets() {
        let mut rx = EventReceiver::new(8000);
        // 20 ms in: too short yet.
        assert_eq!(rx.handle(1000, 5, 160), None);
        assert_eq!(rx.handle(1000, 5, 320), Some('5'));
        assert_eq!(rx.handle(1000, 5, 480), None);
        // Three end packets.
        for _ in 0..3 {
            assert_eq!(rx.handle(1000, 5, 800), None);
        }
        // The same key again is a new press (new timestamp).
        assert_eq!(rx.handle(2600, 5, 800), Some('5'));
        assert_eq!(rx.handle(4000, 10, 400), Some('*'));
    }

    #[test]
    fn short_presses_are_ignored_at_any_clock() {
        let mut rx = EventReceiver::new(48_000);
        assert_eq!(rx.handle(0, 1, 1800), None); // 37.5 ms
        assert_eq!(rx.handle(0, 1, 1920), Some('1'));
        let mut rx = EventReceiver::new(8000);
        assert_eq!(rx.handle(0, 11, 200), None);
        assert_eq!(rx.handle(500, 11, 200), None);
    }

    #[test]
    fn info_bodies() {
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            parse_info("Application/DTMF-Relay", "Signal= *\nDuration= 250"),
            Some('*')
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=11\r\n"),
            Some('#')
        );
        assert_eq!(
            parse_info("application/dtmf-relay", "Signal=5\r\nDuration=20\r\n"),
            None
        );
        assert_eq!(parse_info("application/dtmf", "9"), Some('9'));
        assert_eq!(parse_info("application/dtmf", "x"), None);
        assert_eq!(parse_info("text/plain", "5"), None);
    }
}
