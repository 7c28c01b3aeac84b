//! Digest authentication headers as a stranger sends them: Authorization (inbound calls)
//! and WWW-/Proxy-Authenticate (a trunk's challenge) parse or are refused, never panic.
#![no_main]
use chorus_sip_proto::digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(credentials) = digest::parse_credentials(text) {
        let _ = credentials.verify("password", "INVITE");
    }
    if let Some(challenge) = digest::parse_challenge(text) {
        let _ = digest::authorization(&challenge, "user", "password", "INVITE", "sip:1@h", "c", 1);
    }
    let _ = digest::nonce_issued("secret", text);
});
