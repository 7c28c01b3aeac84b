//! An encrypted leg beside a plain one: each hears the other, nothing leaves the
//! encrypted leg in clear, and forged or replayed datagrams are counted, never mixed.

use super::*;
use crate::{SrtpKey, SrtpKeys, SrtpProfile};
use chorus_rtp::srtp::SrtpContext;

fn key(byte: u8) -> SrtpKey {
    SrtpKey::new(SrtpProfile::AesCm128HmacSha1_80, &[byte; 30]).expect("key")
}

/// Leg 1 encrypted (the far end's key 0xA1, ours 0xB1), leg 2 plain, both joined.
fn rig() -> (MediaGroup, Instant) {
    let start = Instant::now();
    let mut group = MediaGroup::new(start);
    let encrypted = MediaParams {
        srtp: Some(SrtpKeys {
            send: key(0xB1),
            receive: key(0xA1),
        }),
        ..params(7000)
    };
    group.add_leg(CallId(1), "500", encrypted, 1);
    group.add_leg(CallId(2), "500", params(7001), 2);
    join(&mut group, CallId(1));
    join(&mut group, CallId(2));
    (group, start)
}

#[test]
fn the_encrypted_and_the_plain_leg_hear_each_other_and_nothing_leaves_in_clear() {
    let (mut group, start) = rig();
    let mut phone = SrtpContext::new(&key(0xA1));
    let mut from_bridge = SrtpContext::new(&key(0xB1));
    let mut senders = [RtpSender::new(11, 0, 160), RtpSender::new(12, 0, 160)];
    let mut heard = HashMap::new();
    for tick in 0..6u64 {
        let now = start + Duration::from_millis(20 * tick);
        let mut secret = packet_of(&mut senders[0], &[3000; FRAME_SAMPLES]);
        phone.protect_rtp(&mut secret, 0).expect("protect");
        group.handle_packet(now, CallId(1), addr(7000), &secret);
        let plain = packet_of(&mut senders[1], &[-2000; FRAME_SAMPLES]);
        group.handle_packet(now, CallId(2), addr(7001), &plain);
        group.handle_timeout(now);
        while let Some(t) = group.poll_transmit() {
            if t.rtcp_port || chorus_rtp::rtcp::is_rtcp(t.data) {
                continue;
            }
            let data = if t.leg == CallId(1) {
                // What the encrypted leg is sent is SRTP under our key, and its payload
                // is not the µ-law the mix holds.
                let mut out = Vec::new();
                from_bridge
                    .unprotect_rtp(t.data, &mut out)
                    .expect("SRTP to leg 1");
                assert_ne!(&t.data[12..t.data.len() - 10], &out[12..]);
                out
            } else {
                t.data.to_vec()
            };
            let reader = rtp_rs::RtpReader::new(&data).expect("rtp");
            heard.insert(t.leg, chorus_codec::ulaw_to_linear(reader.payload()[0]));
        }
    }
    assert!(
        near(heard[&CallId(1)], -2000),
        "leg 1 hears {}",
        heard[&CallId(1)]
    );
    assert!(
        near(heard[&CallId(2)], 3000),
        "leg 2 hears {}",
        heard[&CallId(2)]
    );
    let stats = group.leg_stats(CallId(1)).expect("leg");
    assert!(stats.encrypted && stats.receive.accepted == 6);
    assert!(!group.leg_stats(CallId(2)).expect("leg").encrypted);
}

#[test]
fn forged_replayed_and_plain_datagrams_on_an_encrypted_leg_are_counted_and_dropped() {
    let (mut group, start) = rig();
    let mut phone = SrtpContext::new(&key(0xA1));
    let mut sender = RtpSender::new(11, 0, 160);
    let mut loud = packet_of(&mut sender, &[8000; FRAME_SAMPLES]);
    phone.protect_rtp(&mut loud, 0).expect("protect");
    group.handle_packet(start, CallId(1), addr(7000), &loud);
    // The same packet again, one with a flipped payload bit, a plain RTP packet, and
    // one under another key: none of it may reach the mix or the latch.
    group.handle_packet(start, CallId(1), addr(7000), &loud);
    let mut forged = packet_of(&mut sender, &[8000; FRAME_SAMPLES]);
    phone.protect_rtp(&mut forged, 0).expect("protect");
    forged[20] ^= 1;
    group.handle_packet(start, CallId(1), addr(9999), &forged);
    let plain = packet_of(&mut sender, &[8000; FRAME_SAMPLES]);
    group.handle_packet(start, CallId(1), addr(9999), &plain);
    let mut stranger = SrtpContext::new(&key(0x77));
    let mut foreign = packet_of(&mut sender, &[8000; FRAME_SAMPLES]);
    stranger.protect_rtp(&mut foreign, 0).expect("protect");
    group.handle_packet(start, CallId(1), addr(9999), &foreign);
    // Forged SRTCP on the RTCP port too.
    group.handle_rtcp(
        start,
        CallId(1),
        addr(7001),
        &[
            0x81, 200, 0, 6, 0, 0, 0, 11, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
            9,
        ],
    );
    let stats = group.leg_stats(CallId(1)).expect("leg");
    assert_eq!(stats.receive.accepted, 1);
    assert_eq!(stats.srtp_replayed, 1);
    assert_eq!(stats.srtp_auth_failures, 4);
    assert_eq!(
        stats.receive.foreign_source, 0,
        "forgeries never reach the latch"
    );
    let totals = group.totals();
    assert_eq!((totals.srtp_auth_failures, totals.srtp_replayed), (4, 1));
    // Removing the leg keeps its counts in the totals.
    group.remove_leg(CallId(1));
    assert_eq!(group.totals().srtp_auth_failures, 4);
}
