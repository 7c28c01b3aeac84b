//! RFC 4733 payloads: parse, and what parses writes back the same.
#![no_main]
use chorus_rtp::telephone_event::TelephoneEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(event) = TelephoneEvent::parse(data) {
        assert_eq!(TelephoneEvent::parse(&event.write()), Some(event));
        let _ = event.digit();
    }
});
