//! SRTP by SDES: what the policy answers on which transport, the keys handed to the media
//! side, and that keys never leave over a transport anyone can read unless allowed.

use super::*;
use crate::{SrtpMode, SrtpPolicy};

const SAVP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n";

fn engine_with(mode: SrtpMode, allow_cleartext_keys: bool) -> Engine {
    Engine::new(EngineConfig {
        seed: 7,
        tls_sip: Some("127.0.0.1:5061".parse().expect("addr")),
        srtp: SrtpPolicy {
            mode,
            allow_cleartext_keys,
        },
        ..EngineConfig::default()
    })
}

/// Sends an INVITE over `transport`; the final response and the media it started, if any.
fn call_over(e: &mut Engine, transport: Transport, body: &str) -> (Response, Option<MediaParams>) {
    let now = Instant::now();
    let invite = String::from_utf8(request("INVITE", "500", "z9hG4bKinv", 1, None, body))
        .expect("utf8")
        .replace("SIP/2.0/UDP", &format!("SIP/2.0/{}", transport.via_token()));
    e.handle_message(now, transport, caller(), invite.as_bytes());
    if let Some(call) = requested_media(e) {
        e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    }
    let last = responses(e)
        .into_iter()
        .rfind(|r| r.code >= 200)
        .expect("final response");
    let media = events(e).into_iter().find_map(|ev| match ev {
        Event::CallStarted { media, .. } => Some(media),
        _ => None,
    });
    (last, media)
}

#[test]
fn an_srtp_offer_over_tls_is_answered_with_a_fresh_key_and_the_media_gets_both() {
    let mut e = engine_with(SrtpMode::Optional, false);
    let (ok, media) = call_over(&mut e, Transport::Tls, SAVP_OFFER);
    assert_eq!(ok.code, 200);
    let sdp = String::from_utf8_lossy(&ok.body);
    assert!(sdp.contains("m=audio 20000 RTP/SAVP 0 101"), "{sdp}");
    let answer = chorus_sdp::negotiate(&sdp).expect("answer");
    let ours = &answer.crypto[0];
    assert_eq!(
        (ours.tag, ours.suite.as_str()),
        (1, "AES_CM_128_HMAC_SHA1_80")
    );
    let keys = media.expect("media").srtp.expect("encrypted");
    assert_eq!(keys.send.material(), &ours.key[..]);
    assert_eq!(keys.receive.material(), &(0..30).collect::<Vec<u8>>()[..]);
    // Contact and Via route back over TLS, to the TLS port.
    let contact = ok
        .headers
        .get_raw(&Name::CONTACT)
        .next()
        .expect("contact")
        .to_string();
    assert!(
        contact.contains("127.0.0.1:5061;transport=tls"),
        "{contact}"
    );
}

#[test]
fn keys_are_not_exchanged_over_udp_unless_allowed() {
    let mut e = engine_with(SrtpMode::Optional, false);
    let (refused, media) = call_over(&mut e, Transport::Udp, SAVP_OFFER);
    assert_eq!(refused.code, 488);
    assert!(media.is_none());
    let mut e = engine_with(SrtpMode::Optional, true);
    let (ok, media) = call_over(&mut e, Transport::Udp, SAVP_OFFER);
    assert_eq!(ok.code, 200);
    assert!(media.expect("media").srtp.is_some());
}

#[test]
fn required_refuses_plain_offers_and_off_refuses_srtp_ones() {
    let mut e = engine_with(SrtpMode::Required, false);
    let (refused, _) = call_over(&mut e, Transport::Tls, OFFER);
    assert_eq!(refused.code, 488);
    let mut e = engine_with(SrtpMode::Off, true);
    let (refused, _) = call_over(&mut e, Transport::Tls, SAVP_OFFER);
    assert_eq!(refused.code, 488);
    // Optional: a plain offer is a plain call.
    let mut e = engine_with(SrtpMode::Optional, false);
    let (ok, media) = call_over(&mut e, Transport::Tls, OFFER);
    assert_eq!(ok.code, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("RTP/AVP"));
    assert!(media.expect("media").srtp.is_none());
}

#[test]
fn an_offerless_invite_under_required_gets_our_key_and_the_ack_must_bring_one() {
    let mut e = engine_with(SrtpMode::Required, false);
    let (ok, media) = call_over(&mut e, Transport::Tls, "");
    assert_eq!(ok.code, 200);
    assert!(media.is_none(), "media waits for the answer in the ACK");
    let offer = chorus_sdp::negotiate(&String::from_utf8_lossy(&ok.body)).expect("offer");
    assert!(offer.secure && offer.crypto.len() == 1);
    let tag = ok
        .essentials()
        .expect("ess")
        .to
        .tag
        .expect("tag")
        .to_string();
    // An ACK whose answer has no key: the call is hung up, never carried in clear.
    let ack = String::from_utf8(request("ACK", "500", "z9hG4bKack", 1, Some(&tag), OFFER))
        .expect("utf8")
        .replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    e.handle_message(Instant::now(), Transport::Tls, caller(), ack.as_bytes());
    let bye = requests(&mut e);
    assert_eq!(bye.len(), 1, "BYE");
    assert!(
        events(&mut e)
            .iter()
            .any(|ev| matches!(ev, Event::CallEnded { .. }))
    );
    // Over UDP it cannot offer a key at all: 488.
    let mut e = engine_with(SrtpMode::Required, false);
    let (refused, _) = call_over(&mut e, Transport::Udp, "");
    assert_eq!(refused.code, 488);
}

#[test]
fn a_sips_uri_needs_tls_and_gets_a_sips_contact() {
    let mut e = engine_with(SrtpMode::Optional, false);
    let sips = |t: Transport| {
        let branch = format!("z9hG4bK{}", t.via_token());
        String::from_utf8(request("INVITE", "500", &branch, 1, None, OFFER))
            .expect("utf8")
            .replacen("INVITE sip:", "INVITE sips:", 1)
            .replace("SIP/2.0/UDP", &format!("SIP/2.0/{}", t.via_token()))
    };
    e.handle_message(
        Instant::now(),
        Transport::Udp,
        caller(),
        sips(Transport::Udp).as_bytes(),
    );
    assert_eq!(codes(&responses(&mut e)).last(), Some(&416));
    let now = Instant::now();
    e.handle_message(
        now,
        Transport::Tls,
        caller(),
        sips(Transport::Tls).as_bytes(),
    );
    let call = requested_media(&mut e).expect("media");
    e.media_ready(now, call, "127.0.0.1:20000".parse().expect("addr"));
    let ok = responses(&mut e)
        .into_iter()
        .rfind(|r| r.code == 200)
        .expect("200");
    let contact = ok
        .headers
        .get_raw(&Name::CONTACT)
        .next()
        .expect("contact")
        .to_string();
    assert!(
        contact.starts_with("<sips:500@127.0.0.1:5061>"),
        "{contact}"
    );
}
