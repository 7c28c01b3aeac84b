//! Refer-To values as a member could send them: parsed or refused, never a panic, and
//! nothing that parses can smuggle a header into the INVITE the bridge sends.
#![no_main]
use chorus_engine::parse_refer_to;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(target) = parse_refer_to(text) {
        assert!(target.uri.starts_with("sip:"));
        assert!(!target.host.is_empty());
        for part in [&target.uri, &target.user, &target.host] {
            assert!(!part.contains(['\r', '\n']), "{part:?}");
        }
        if let Some(replaces) = &target.replaces {
            assert!(!replaces.chars().any(char::is_control), "{replaces:?}");
        }
    }
});
