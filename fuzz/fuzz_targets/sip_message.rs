//! Any datagram through the SIP parser, its lenient fallback and header decoding.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match chorus_sip_msg::parse(data) {
        Ok(chorus_sip_msg::Message::Request(request)) => {
            let _ = request.essentials();
            let _ = request.uri_user();
            let _ = request.sip_uri();
        }
        Ok(chorus_sip_msg::Message::Response(response)) => {
            let _ = response.essentials();
        }
        Err(_) => {
            if let Some(request) = chorus_sip_msg::parse_for_reply(data) {
                let _ = request.can_be_answered();
            }
        }
    }
});
