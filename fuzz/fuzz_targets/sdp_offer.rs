//! Any text as an SDP offer; an accepted one must produce an answer that parses again.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(negotiated) = chorus_sdp::negotiate(text) {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 20000));
        let answer = chorus_sdp::answer(&negotiated, local, 1, 1);
        assert!(chorus_sdp::negotiate(&answer).is_ok(), "our answer must parse: {answer}");
    }
});
