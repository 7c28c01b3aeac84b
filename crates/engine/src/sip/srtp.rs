//! SDES-keyed SRTP (RFC 4568) for calls: which offers the bridge's policy answers with
//! SRTP on which transport, the fresh key it answers or offers with, and the keys the
//! media side gets. Keys travel in SDP, so they are only sent where SDP is private (TLS)
//! unless the operator says otherwise.

use chorus_media::{SrtpKey, SrtpKeys, SrtpProfile};
use chorus_sdp::{Negotiated, SdesCrypto};
use chorus_sip_proto::Transport;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What the bridge does about SRTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpMode {
    /// Plain RTP only: an `RTP/SAVP` offer gets 488.
    Off,
    /// SRTP when the caller offers it (and its keys may travel), plain RTP otherwise.
    #[default]
    Optional,
    /// SRTP or nothing: a plain offer gets 488, and invitations offer SRTP.
    Required,
}

/// The bridge's SRTP policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrtpPolicy {
    /// Off, optional or required.
    pub mode: SrtpMode,
    /// Exchange SDES keys over UDP and TCP too, where anyone on the path can read them.
    pub allow_cleartext_keys: bool,
}

impl SrtpPolicy {
    /// Whether keys may be written in SDP carried over `transport`.
    pub(crate) fn keys_may_travel(&self, transport: Transport) -> bool {
        self.mode != SrtpMode::Off && (transport == Transport::Tls || self.allow_cleartext_keys)
    }

    /// Whether our own offers (INVITE without SDP, invitations) carry SRTP.
    pub(crate) fn offers_srtp(&self, transport: Transport) -> bool {
        self.mode == SrtpMode::Required && self.keys_may_travel(transport)
    }
}

/// An encrypted call's SRTP: the `a=crypto` line we sent, and both master keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallSrtp {
    pub(crate) ours: SdesCrypto,
    send: SrtpKey,
    /// The far end's key; `None` while our offer awaits its answer.
    receive: Option<SrtpKey>,
}

impl CallSrtp {
    /// The keys for the media side, once both are known.
    pub(crate) fn keys(&self) -> Option<SrtpKeys> {
        Some(SrtpKeys {
            send: self.send.clone(),
            receive: self.receive.clone()?,
        })
    }

    /// This SRTP with the far end's key from the answer to our offer: the line with our
    /// tag and suite. `None` when the answer has none (the call must not go on in clear).
    pub(crate) fn answered(&self, answer: &Negotiated) -> Option<CallSrtp> {
        let profile = self.send.profile();
        let receive = answer
            .crypto
            .iter()
            .filter(|c| c.tag == self.ours.tag && c.suite.eq_ignore_ascii_case(profile.name()))
            .find_map(|c| SrtpKey::new(profile, &c.key))?;
        Some(CallSrtp {
            receive: Some(receive),
            ..self.clone()
        })
    }
}

/// What to do with an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SrtpAnswer {
    Plain,
    Srtp(CallSrtp),
    /// 488: the offer and the policy have no media in common.
    Refuse,
}

/// Master keys from the engine's secret: HMAC-SHA256(secret, label ‖ counter), a PRF, so
/// each key is fresh and unpredictable without the secret, which the driver draws from
/// the operating system. The engine stays free of IO.
#[derive(Debug)]
pub(crate) struct KeyMaker {
    mac: Hmac<Sha256>,
    counter: u64,
}

impl KeyMaker {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        // HMAC pads its key with zeros to the 64-byte block: given so, no fallible call.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(secret);
        KeyMaker {
            mac: <Hmac<Sha256> as KeyInit>::new(&key.into()),
            counter: 0,
        }
    }

    fn key(&mut self, profile: SrtpProfile) -> Option<SrtpKey> {
        self.counter += 1;
        let mut mac = self.mac.clone();
        mac.update(b"chorus srtp master key");
        mac.update(&self.counter.to_be_bytes());
        let material: [u8; 32] = mac.finalize().into_bytes().into();
        SrtpKey::new(profile, &material[..profile.key_material_len()])
    }

    /// Our side of an offer: the first line (in the offer's order) we speak, answered
    /// with a fresh key — or the key we already use for that profile, on a re-INVITE.
    pub(crate) fn answer(
        &mut self,
        policy: &SrtpPolicy,
        transport: Transport,
        offer: &Negotiated,
        current: Option<&CallSrtp>,
    ) -> SrtpAnswer {
        let usable = policy
            .keys_may_travel(transport)
            .then(|| {
                offer.crypto.iter().find_map(|c| {
                    let profile = SrtpProfile::from_name(&c.suite)?;
                    Some((c, SrtpKey::new(profile, &c.key)?))
                })
            })
            .flatten();
        let Some((line, receive)) = usable else {
            return if offer.secure || policy.mode == SrtpMode::Required {
                SrtpAnswer::Refuse
            } else {
                SrtpAnswer::Plain
            };
        };
        let profile = receive.profile();
        let send = match current.filter(|c| c.send.profile() == profile) {
            Some(current) => current.send.clone(),
            None => match self.key(profile) {
                Some(key) => key,
                None => return SrtpAnswer::Refuse,
            },
        };
        SrtpAnswer::Srtp(CallSrtp {
            ours: SdesCrypto {
                tag: line.tag,
                suite: line.suite.clone(),
                key: send.material().to_vec(),
            },
            send,
            receive: Some(receive),
        })
    }

    /// Our own offer's SRTP (AES_CM_128_HMAC_SHA1_80, which every SDES phone speaks),
    /// keeping the key a call already uses.
    pub(crate) fn offer(&mut self, current: Option<&CallSrtp>) -> Option<CallSrtp> {
        let profile = SrtpProfile::AesCm128HmacSha1_80;
        let send = match current.filter(|c| c.send.profile() == profile) {
            Some(current) => current.send.clone(),
            None => self.key(profile)?,
        };
        Some(CallSrtp {
            ours: SdesCrypto {
                tag: 1,
                suite: profile.name().to_owned(),
                key: send.material().to_vec(),
            },
            send,
            receive: current.and_then(|c| c.receive.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(proto: &str, crypto: &str) -> Negotiated {
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 {proto} 0\r\n{crypto}"
        );
        chorus_sdp::negotiate(&sdp).expect("offer")
    }

    const CRYPTO: &str = "a=crypto:3 F8_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\na=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n";

    #[test]
    fn offers_are_answered_as_the_policy_and_the_transport_allow() {
        let mut keys = KeyMaker::new(&[7; 32]);
        let optional = SrtpPolicy::default();
        let required = SrtpPolicy {
            mode: SrtpMode::Required,
            ..SrtpPolicy::default()
        };
        let off = SrtpPolicy {
            mode: SrtpMode::Off,
            allow_cleartext_keys: true,
        };
        let savp = offer("RTP/SAVP", CRYPTO);
        let plain = offer("RTP/AVP", "");
        // Over TLS: the first line we speak, echoed with its tag and a fresh key.
        let SrtpAnswer::Srtp(call) = keys.answer(&optional, Transport::Tls, &savp, None) else {
            panic!("SRTP over TLS");
        };
        assert_eq!(
            (call.ours.tag, call.ours.suite.as_str()),
            (4, "AES_CM_128_HMAC_SHA1_32")
        );
        assert_ne!(call.ours.key, savp.crypto[1].key);
        let keys_for_media = call.keys().expect("both keys");
        assert_eq!(keys_for_media.receive.material(), &savp.crypto[1].key[..]);
        // A re-INVITE keeps our key.
        let SrtpAnswer::Srtp(again) = keys.answer(&optional, Transport::Tls, &savp, Some(&call))
        else {
            panic!("SRTP again");
        };
        assert_eq!(again.ours.key, call.ours.key);
        // The next call gets another.
        let SrtpAnswer::Srtp(other) = keys.answer(&optional, Transport::Tls, &savp, None) else {
            panic!("SRTP");
        };
        assert_ne!(other.ours.key, call.ours.key);
        // Over UDP the keys would be readable: SAVP refused, best effort answered plain.
        assert_eq!(
            keys.answer(&optional, Transport::Udp, &savp, None),
            SrtpAnswer::Refuse
        );
        let best_effort = offer("RTP/AVP", CRYPTO);
        assert_eq!(
            keys.answer(&optional, Transport::Udp, &best_effort, None),
            SrtpAnswer::Plain
        );
        // Required refuses plain offers; off refuses SAVP.
        assert_eq!(
            keys.answer(&required, Transport::Tls, &plain, None),
            SrtpAnswer::Refuse
        );
        assert_eq!(
            keys.answer(&optional, Transport::Tls, &plain, None),
            SrtpAnswer::Plain
        );
        assert_eq!(
            keys.answer(&off, Transport::Tls, &savp, None),
            SrtpAnswer::Refuse
        );
        assert!(matches!(
            keys.answer(
                &SrtpPolicy {
                    allow_cleartext_keys: true,
                    ..required
                },
                Transport::Udp,
                &savp,
                None
            ),
            SrtpAnswer::Srtp(_)
        ));
        // A SAVP offer with no line we speak.
        let foreign = offer("RTP/SAVP", "a=crypto:1 F8_128_HMAC_SHA1_80 inline:AAEC\r\n");
        assert_eq!(
            keys.answer(&required, Transport::Tls, &foreign, None),
            SrtpAnswer::Refuse
        );
    }

    #[test]
    fn our_offer_takes_the_answers_key_for_our_tag_only() {
        let mut keys = KeyMaker::new(&[7; 32]);
        let call = keys.offer(None).expect("offer");
        assert!(call.keys().is_none());
        let wrong_tag = offer(
            "RTP/SAVP",
            &call.ours.attribute().replace("crypto:1", "crypto:2"),
        );
        assert!(call.answered(&wrong_tag).is_none());
        let none = offer("RTP/AVP", "");
        assert!(call.answered(&none).is_none());
        let theirs = SdesCrypto {
            key: vec![5; 30],
            ..call.ours.clone()
        };
        let call = call
            .answered(&offer("RTP/SAVP", &theirs.attribute()))
            .expect("answered");
        assert_eq!(call.keys().expect("keys").receive.material(), &[5; 30][..]);
        assert_eq!(
            keys.offer(Some(&call)).expect("again").ours.key,
            call.ours.key
        );
    }
}
