//! Any datagram as SRTP and as SRTCP, on a leg that already took authentic packets: it is
//! refused or read without panicking, and whatever it was, the stream's next authentic
//! packet and report are still accepted (a forgery moves no state).
#![no_main]
use chorus_rtp::srtp::{SrtpContext, SrtpKey, SrtpProfile};
use libfuzzer_sys::fuzz_target;

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0, 0, 0, 42]);
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, datagram)) = data.split_first() else {
        return;
    };
    let profile = SrtpProfile::ALL[usize::from(which) % SrtpProfile::ALL.len()];
    let material = vec![0x5a; profile.key_material_len()];
    let Some(key) = SrtpKey::new(profile, &material) else {
        return;
    };
    let mut sender = SrtpContext::new(&key);
    let mut receiver = SrtpContext::new(&key);
    let mut out = Vec::new();
    let mut first = rtp(1000);
    sender.protect_rtp(&mut first, 0).expect("protect");
    receiver.unprotect_rtp(&first, &mut out).expect("first packet");

    let _ = receiver.unprotect_rtp(datagram, &mut out);
    let _ = receiver.unprotect_rtcp(datagram, &mut out);

    let mut next = rtp(1001);
    sender.protect_rtp(&mut next, 0).expect("protect");
    receiver.unprotect_rtp(&next, &mut out).expect("the next authentic packet");
    let mut report = vec![0x80, 200, 0, 1, 0, 0, 0, 42];
    sender.protect_rtcp(&mut report, 0).expect("protect");
    receiver.unprotect_rtcp(&report, &mut out).expect("the next authentic report");
});
