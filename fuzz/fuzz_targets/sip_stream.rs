//! Arbitrary TCP byte streams, cut at arbitrary points, through the stream framer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut framer = chorus_sip_msg::StreamFramer::new();
    for chunk in data.chunks(7) {
        framer.push(chunk);
        while let Ok(Some(message)) = framer.next_message() {
            let _ = chorus_sip_msg::parse(&message);
        }
    }
});
