//! SDP offer/answer for one audio stream (RFC 3264, RFC 4566).
//!
//! [`negotiate`] reads a remote offer (parsed by `webrtc-sdp`), picks the first audio
//! stream with a codec we support, the codec by *our* order of preference (by default
//! Opus, G.722, PCMU, PCMA: wideband first), and returns the [`Negotiated`] media
//! parameters with the far end's Opus `fmtp`, RTCP multiplexing (RFC 5761) and RFC 6464
//! audio-level extension; [`answer`] writes the matching answer, rejecting every other
//! stream with port 0. [`offer`] writes our own offer for an INVITE that came without
//! SDP, and [`negotiate_answer`] reads the answer to it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod crypto;

pub use crypto::SdesCrypto;

use chorus_types::{Codec, Direction, OpusFmtp};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use webrtc_sdp::SdpSession;
use webrtc_sdp::address::ExplicitlyTypedAddress;
use webrtc_sdp::attribute_type::{SdpAttribute, SdpAttributeType};
use webrtc_sdp::media_type::{SdpFormatList, SdpMedia, SdpMediaValue};

/// Why an offer or answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The text is not valid SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No audio stream with a codec in common (answer with 488).
    #[error("no common audio codec")]
    NoCommonCodec,
    /// The stream's address is not an IP address we can send to.
    #[error("unusable connection address")]
    BadAddress,
}

/// The payload-type number we use for telephone-event in our own offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The payload-type number we use for Opus in our own offers.
pub const OPUS_PT: u8 = 111;

/// The RFC 6464 client-to-mixer audio level header extension.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// What both sides agreed on for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where the far end receives RTP (its `c=` address and `m=` port).
    pub remote: SocketAddr,
    /// The codec both send.
    pub codec: Codec,
    /// Its payload type number as the offer numbered it.
    pub payload_type: u8,
    /// The telephone-event payload type, when both support RFC 4733.
    pub telephone_event: Option<u8>,
    /// Its RTP clock rate: 8000, or 48000 beside wideband codecs.
    pub telephone_event_rate: u32,
    /// The far end's direction, from its own point of view.
    pub remote_direction: Direction,
    /// The far end's packet time in ms (10–60 accepted), default 20.
    pub ptime: u32,
    /// What the far end said about Opus (defaults for other codecs).
    pub opus: OpusFmtp,
    /// Whether RTCP shares the RTP port (`a=rtcp-mux`, RFC 5761).
    pub rtcp_mux: bool,
    /// Where the far end receives RTCP when not muxed: `a=rtcp`, else RTP port + 1.
    pub remote_rtcp: SocketAddr,
    /// The RFC 6464 audio-level extension id, when offered.
    pub audio_level_id: Option<u8>,
    /// Index of the chosen `m=` line in the offer.
    pub media_index: usize,
    /// Whether the stream's profile is secure (`RTP/SAVP`, `RTP/SAVPF`): SRTP or nothing.
    pub secure: bool,
    /// Its usable `a=crypto` lines (RFC 4568), in the offer's order.
    pub crypto: Vec<SdesCrypto>,
    /// How many `m=` lines the offer had (the answer must have as many).
    media_count: usize,
    /// Media type and proto of every `m=` line, to reject the others in the answer.
    media_lines: Vec<(String, String, String)>,
}

/// Codecs we accept, in our default order of preference.
pub const SUPPORTED: [Codec; 4] = Codec::ALL;

fn parse(text: &str) -> Result<SdpSession, SdpError> {
    // webrtc-sdp logs attributes it does not know with their whole line: keys must not
    // reach it (crypto.rs reads them from the text).
    let without_keys: String = text
        .split_inclusive('\n')
        .filter(|line| !line.trim_start().starts_with("a=crypto:"))
        .collect();
    webrtc_sdp::parse_sdp(&without_keys, false).map_err(|e| SdpError::Malformed(e.to_string()))
}

fn connection_ip(session: &SdpSession, media: &SdpMedia) -> Result<IpAddr, SdpError> {
    let conn = media
        .get_connection()
        .as_ref()
        .or(session.get_connection().as_ref())
        .ok_or(SdpError::BadAddress)?;
    match &conn.address {
        ExplicitlyTypedAddress::Ip(ip) => Ok(*ip),
        ExplicitlyTypedAddress::Fqdn { .. } => Err(SdpError::BadAddress),
    }
}

fn direction_of(attributes: &[SdpAttribute]) -> Option<Direction> {
    attributes.iter().find_map(|attr| match attr {
        SdpAttribute::Sendonly => Some(Direction::SendOnly),
        SdpAttribute::Recvonly => Some(Direction::RecvOnly),
        SdpAttribute::Inactive => Some(Direction::Inactive),
        SdpAttribute::Sendrecv => Some(Direction::SendRecv),
        _ => None,
    })
}

/// The media-level direction, else the session-level one, else sendrecv.
fn direction(session: &SdpSession, media: &SdpMedia) -> Direction {
    direction_of(media.get_attributes())
        .or_else(|| direction_of(&session.attribute))
        .unwrap_or(Direction::SendRecv)
}

/// Reads an offer and chooses the audio stream, codec (by [`SUPPORTED`] order) and
/// telephone-event.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
    negotiate_with(offer, &SUPPORTED)
}

fn opus_fmtp(media: &SdpMedia, pt: u8) -> OpusFmtp {
    let mut fmtp = OpusFmtp::default();
    for attr in media.get_attributes_of_type(SdpAttributeType::Fmtp) {
        let SdpAttribute::Fmtp(f) = attr else {
            continue;
        };
        if f.payload_type != pt {
            continue;
        }
        let p = &f.parameters;
        fmtp.max_playback_rate = p.maxplaybackrate.clamp(8_000, 48_000);
        fmtp.max_average_bitrate = (p.maxaveragebitrate > 0).then_some(p.maxaveragebitrate);
        fmtp.use_inband_fec = p.useinbandfec;
        fmtp.use_dtx = p.usedtx;
        fmtp.stereo = p.stereo;
        for token in &p.unknown_tokens {
            if let Some((key, value)) = token.split_once('=')
                && key.trim().eq_ignore_ascii_case("sprop-maxcapturerate")
                && let Ok(rate) = value.trim().parse::<u32>()
            {
                fmtp.max_capture_rate = rate.clamp(8_000, 48_000);
            }
        }
    }
    fmtp
}

/// [`negotiate`] with our own order of preference: the first codec of `preference` that
/// the offer carries wins, whatever the offer's order.
pub fn negotiate_with(offer: &str, preference: &[Codec]) -> Result<Negotiated, SdpError> {
    let session = parse(offer)?;
    let media_lines = session
        .media
        .iter()
        .map(|m| {
            let formats = match m.get_formats() {
                SdpFormatList::Integers(v) => {
                    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
                }
                SdpFormatList::Strings(v) => v.join(" "),
                SdpFormatList::Unknown(s) => s.clone(),
            };
            (m.get_type().to_string(), m.get_proto().to_string(), formats)
        })
        .collect::<Vec<_>>();
    for (index, media) in session.media.iter().enumerate() {
        if *media.get_type() != SdpMediaValue::Audio || media.get_port() == 0 {
            continue;
        }
        let SdpFormatList::Integers(formats) = media.get_formats() else {
            continue;
        };
        let rtpmaps: Vec<_> = media
            .get_attributes_of_type(SdpAttributeType::Rtpmap)
            .into_iter()
            .filter_map(|a| match a {
                SdpAttribute::Rtpmap(r) => Some(r),
                _ => None,
            })
            .collect();
        let codec_of = |pt: u8| match rtpmaps.iter().find(|r| r.payload_type == pt) {
            Some(r) => Codec::from_rtpmap(&r.codec_name, r.frequency),
            None => Codec::from_static_payload_type(pt),
        };
        let offered: Vec<(Codec, u8)> = formats
            .iter()
            .filter_map(|&pt| {
                let pt = u8::try_from(pt).ok()?;
                codec_of(pt).map(|c| (c, pt))
            })
            .collect();
        let chosen = preference
            .iter()
            .find_map(|want| offered.iter().find(|(c, _)| c == want).copied());
        let Some((codec, payload_type)) = chosen else {
            continue;
        };
        // RFC 4733 events at the audio's clock if offered, else at any clock we read.
        let events: Vec<_> = rtpmaps
            .iter()
            .filter(|r| {
                r.codec_name.eq_ignore_ascii_case("telephone-event")
                    && matches!(r.frequency, 8000 | 48000)
            })
            .collect();
        let event = events
            .iter()
            .find(|r| r.frequency == codec.clock_rate())
            .or(events.first());
        let telephone_event = event.map(|r| r.payload_type);
        let telephone_event_rate = event.map_or(8000, |r| r.frequency);
        let ptime = match media.get_attribute(SdpAttributeType::Ptime) {
            Some(SdpAttribute::Ptime(ms)) => (*ms).clamp(10, 60) as u32,
            _ => 20,
        };
        let ip = connection_ip(&session, media)?;
        let port = u16::try_from(media.get_port()).map_err(|_| SdpError::BadAddress)?;
        let rtcp_mux = media.get_attribute(SdpAttributeType::RtcpMux).is_some();
        let remote_rtcp = match media.get_attribute(SdpAttributeType::Rtcp) {
            Some(SdpAttribute::Rtcp(r)) => {
                let rtcp_ip = match &r.unicast_addr {
                    Some(ExplicitlyTypedAddress::Ip(ip)) => *ip,
                    _ => ip,
                };
                SocketAddr::new(rtcp_ip, r.port)
            }
            _ => SocketAddr::new(ip, port.wrapping_add(1)),
        };
        let audio_level_id = media
            .get_attributes_of_type(SdpAttributeType::Extmap)
            .into_iter()
            .find_map(|a| match a {
                SdpAttribute::Extmap(e) if e.url == AUDIO_LEVEL_URI => {
                    u8::try_from(e.id).ok().filter(|id| (1..=14).contains(id))
                }
                _ => None,
            });
        return Ok(Negotiated {
            remote: SocketAddr::new(ip, port),
            opus: if codec == Codec::Opus {
                opus_fmtp(media, payload_type)
            } else {
                OpusFmtp::default()
            },
            rtcp_mux,
            remote_rtcp,
            audio_level_id,
            codec,
            payload_type,
            telephone_event,
            telephone_event_rate,
            remote_direction: direction(&session, media),
            ptime,
            media_index: index,
            secure: matches!(
                media.get_proto().to_string().as_str(),
                "RTP/SAVP" | "RTP/SAVPF"
            ),
            crypto: crypto::crypto_lines(offer, index),
            media_count: session.media.len(),
            media_lines,
        });
    }
    Err(SdpError::NoCommonCodec)
}

fn header(out: &mut String, session_id: u64, version: u64, ip: IpAddr) {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=chorus {session_id} {version} IN {family} {ip}\r\ns=chorus\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    );
}

/// Writes the answer to an offer that [`negotiate`] accepted. `local` is our RTP
/// address; `version` must grow with every new answer in the same dialog (RFC 3264 §8).
pub fn answer(neg: &Negotiated, local: SocketAddr, session_id: u64, version: u64) -> String {
    answer_with_crypto(neg, local, session_id, version, None)
}

/// [`answer`], with SRTP keyed by `crypto` (our key under the tag and suite we took from
/// the offer) when given: the stream keeps the offer's profile, `RTP/SAVP` or `RTP/AVP`
/// for an offer that put keys on a plain stream (best-effort SRTP).
pub fn answer_with_crypto(
    neg: &Negotiated,
    local: SocketAddr,
    session_id: u64,
    version: u64,
    crypto: Option<&SdesCrypto>,
) -> String {
    let mut out = String::with_capacity(300);
    header(&mut out, session_id, version, local.ip());
    for i in 0..neg.media_count {
        if i != neg.media_index {
            let (kind, proto, formats) = &neg.media_lines[i];
            let _ = write!(out, "m={kind} 0 {proto} {formats}\r\n");
            continue;
        }
        let mut formats = neg.payload_type.to_string();
        if let Some(te) = neg.telephone_event {
            let _ = write!(formats, " {te}");
        }
        let proto = match crypto {
            Some(_) if neg.secure => "RTP/SAVP",
            _ => "RTP/AVP",
        };
        let _ = write!(
            out,
            "m=audio {} {proto} {formats}\r\na=rtpmap:{} {}/{}\r\n",
            local.port(),
            neg.payload_type,
            neg.codec.encoding_name(),
            neg.codec.rtpmap_rate()
        );
        if neg.codec == Codec::Opus {
            write_opus_fmtp(&mut out, neg.payload_type);
        }
        if let Some(te) = neg.telephone_event {
            let rate = neg.telephone_event_rate;
            let _ = write!(
                out,
                "a=rtpmap:{te} telephone-event/{rate}\r\na=fmtp:{te} 0-16\r\n"
            );
        }
        let _ = write!(
            out,
            "a=ptime:20\r\na={}\r\n",
            neg.remote_direction.answer().attribute()
        );
        if neg.rtcp_mux {
            out.push_str("a=rtcp-mux\r\n");
        }
        if let Some(id) = neg.audio_level_id {
            let _ = write!(out, "a=extmap:{id} {AUDIO_LEVEL_URI}\r\n");
        }
        if let Some(crypto) = crypto {
            out.push_str(&crypto.attribute());
        }
    }
    out
}

/// What we say about the Opus we receive and send (RFC 7587 §6.1): mono, wideband and up,
/// FEC welcome.
fn write_opus_fmtp(out: &mut String, pt: u8) {
    let _ = write!(
        out,
        "a=fmtp:{pt} useinbandfec=1;maxplaybackrate=48000;sprop-maxcapturerate=48000;stereo=0;sprop-stereo=0\r\n"
    );
}

/// Writes our own offer (for an INVITE that arrived without SDP, or a call we place),
/// listing `codecs` in order.
pub fn offer(local: SocketAddr, session_id: u64, version: u64, codecs: &[Codec]) -> String {
    offer_with_crypto(local, session_id, version, codecs, None)
}

/// [`offer`], as `RTP/SAVP` with our key in `crypto` when given.
pub fn offer_with_crypto(
    local: SocketAddr,
    session_id: u64,
    version: u64,
    codecs: &[Codec],
    crypto: Option<&SdesCrypto>,
) -> String {
    let mut out = String::with_capacity(400);
    header(&mut out, session_id, version, local.ip());
    let pt_of = |c: Codec| c.static_payload_type().unwrap_or(OPUS_PT);
    let pts: Vec<String> = codecs.iter().map(|&c| pt_of(c).to_string()).collect();
    let _ = write!(
        out,
        "m=audio {} {} {} {TELEPHONE_EVENT_PT}\r\n",
        local.port(),
        if crypto.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        },
        pts.join(" ")
    );
    for &c in codecs {
        let _ = write!(
            out,
            "a=rtpmap:{} {}/{}\r\n",
            pt_of(c),
            c.encoding_name(),
            c.rtpmap_rate()
        );
        if c == Codec::Opus {
            write_opus_fmtp(&mut out, OPUS_PT);
        }
    }
    let _ = write!(
        out,
        "a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    if let Some(crypto) = crypto {
        out.push_str(&crypto.attribute());
    }
    out
}

/// Reads the answer to our [`offer`] of `offered`: the answerer must pick from those.
pub fn negotiate_answer(answer: &str, offered: &[Codec]) -> Result<Negotiated, SdpError> {
    negotiate_with(answer, offered)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    const BARESIP_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 96 9 8 0 101\r\nb=AS:117\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\na=rtcp-rsize\r\n";

    #[test]
    fn prefers_wideband_then_follows_a_configured_order() {
        let neg = negotiate(BARESIP_OFFER).expect("negotiate");
        assert_eq!((neg.codec, neg.payload_type), (Codec::Opus, 96));
        assert!(neg.opus.stereo);
        let ans = answer(&neg, "127.0.0.1:20000".parse().expect("addr"), 1, 1);
        assert!(ans.contains("a=rtpmap:96 opus/48000/2\r\n"), "{ans}");
        assert!(ans.contains("stereo=0"), "{ans}");
        assert_eq!(negotiate(&ans).expect("answer parses").codec, Codec::Opus);
        let g722 = negotiate_with(BARESIP_OFFER, &[Codec::G722, Codec::Pcmu]).expect("g722");
        assert_eq!((g722.codec, g722.payload_type), (Codec::G722, 9));
        let ans = answer(&g722, "127.0.0.1:20000".parse().expect("addr"), 1, 1);
        assert!(ans.contains("a=rtpmap:9 G722/8000\r\n"), "{ans}");
        let neg = negotiate_with(BARESIP_OFFER, &[Codec::Pcma, Codec::Pcmu]).expect("negotiate");
        assert_eq!(neg.codec, Codec::Pcma);
        assert_eq!(neg.payload_type, 8);
        assert_eq!(neg.telephone_event, Some(101));
        assert_eq!(neg.remote, "127.0.0.1:10000".parse().expect("addr"));
        let ans = answer(&neg, "127.0.0.1:20000".parse().expect("addr"), 1, 1);
        let back = negotiate(&ans).expect("answer parses");
        assert_eq!(back.codec, Codec::Pcma);
        assert_eq!(back.telephone_event, Some(101));
    }

    #[test]
    fn static_payload_without_rtpmap() {
        let offer = SIPP_OFFER.replace("a=rtpmap:0 PCMU/8000\r\n", "a=ptime:30\r\n");
        let neg = negotiate(&offer).expect("negotiate");
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.ptime, 30);
        assert_eq!(neg.telephone_event, None);
    }

    #[test]
    fn no_common_codec() {
        let offer = SIPP_OFFER
            .replace("RTP/AVP 0", "RTP/AVP 18")
            .replace("0 PCMU/8000", "18 G729/8000");
        assert_eq!(negotiate(&offer).err(), Some(SdpError::NoCommonCodec));
    }

    #[test]
    fn directions_and_rejected_streams() {
        let offer = format!("{SIPP_OFFER}a=sendonly\r\nm=video 5000 RTP/AVP 31\r\n");
        let neg = negotiate(&offer).expect("negotiate");
        assert_eq!(neg.remote_direction, Direction::SendOnly);
        let ans = answer(&neg, "127.0.0.1:20000".parse().expect("addr"), 1, 2);
        assert!(ans.contains("a=recvonly"));
        assert!(ans.contains("m=video 0 RTP/AVP 31"));
    }

    #[test]
    fn telephone_event_at_48khz_is_taken_and_echoed() {
        let offer = SIPP_OFFER.replace("RTP/AVP 0", "RTP/AVP 0 110").replace(
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:110 telephone-event/48000\r\n",
        );
        let neg = negotiate(&offer).expect("negotiate");
        assert_eq!(
            (neg.telephone_event, neg.telephone_event_rate),
            (Some(110), 48000)
        );
        let ans = answer(&neg, "127.0.0.1:20000".parse().expect("addr"), 1, 1);
        assert!(ans.contains("a=rtpmap:110 telephone-event/48000"), "{ans}");
    }

    #[test]
    fn opus_fmtp_rtcp_mux_and_audio_level_are_read_and_answered() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxplaybackrate=16000;sprop-maxcapturerate=16000;useinbandfec=1;usedtx=1;maxaveragebitrate=20000;stereo=0\r\na=rtcp-mux\r\na=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
        let neg = negotiate(offer).expect("negotiate");
        assert_eq!(neg.codec, Codec::Opus);
        let o = neg.opus;
        assert_eq!((o.max_playback_rate, o.max_capture_rate), (16_000, 16_000));
        assert_eq!(o.max_average_bitrate, Some(20_000));
        assert!(o.use_inband_fec && o.use_dtx && !o.stereo);
        assert_eq!(o.audio_rate(), chorus_types::AudioRate::Wide);
        assert!(neg.rtcp_mux);
        assert_eq!(neg.audio_level_id, Some(3));
        let ans = answer(&neg, "127.0.0.1:20000".parse().expect("addr"), 1, 1);
        assert!(ans.contains("a=rtcp-mux\r\n"), "{ans}");
        assert!(
            ans.contains("a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            "{ans}"
        );
        let plain = negotiate(SIPP_OFFER).expect("negotiate");
        assert!(!plain.rtcp_mux);
        assert_eq!(plain.remote_rtcp, "127.0.0.1:6001".parse().expect("addr"));
    }

    #[test]
    fn our_offer_round_trips() {
        let ours = offer("127.0.0.1:20002".parse().expect("addr"), 9, 9, &SUPPORTED);
        assert!(
            ours.contains("m=audio 20002 RTP/AVP 111 9 0 8 101"),
            "{ours}"
        );
        let neg = negotiate_answer(&ours, &SUPPORTED).expect("answer");
        assert_eq!(neg.codec, Codec::Opus);
        let narrow = offer(
            "127.0.0.1:20002".parse().expect("addr"),
            9,
            9,
            &[Codec::Pcmu],
        );
        let neg = negotiate_answer(&narrow, &[Codec::Pcmu]).expect("answer");
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.telephone_event, Some(TELEPHONE_EVENT_PT));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(negotiate("hello"), Err(SdpError::Malformed(_))));
    }

    #[test]
    fn srtp_offers_are_read_and_answered_with_our_key() {
        let offer = SIPP_OFFER.replace("RTP/AVP 0", "RTP/SAVP 0")
            + "a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n";
        let neg = negotiate(&offer).expect("negotiate");
        assert!(neg.secure);
        assert_eq!(neg.crypto.len(), 1);
        assert_eq!(
            (neg.crypto[0].tag, neg.crypto[0].suite.as_str()),
            (7, "AES_CM_128_HMAC_SHA1_32")
        );
        let ours = SdesCrypto {
            tag: 7,
            suite: "AES_CM_128_HMAC_SHA1_32".into(),
            key: vec![1; 30],
        };
        let local = "127.0.0.1:20000".parse().expect("addr");
        let ans = answer_with_crypto(&neg, local, 1, 1, Some(&ours));
        assert!(ans.contains("m=audio 20000 RTP/SAVP 0"), "{ans}");
        let back = negotiate(&ans).expect("answer parses");
        assert_eq!(back.crypto, vec![ours.clone()]);
        // Keys on a plain stream (best effort) are answered on a plain stream.
        let best_effort = offer.replace("RTP/SAVP", "RTP/AVP");
        let neg = negotiate(&best_effort).expect("negotiate");
        assert!(!neg.secure && neg.crypto.len() == 1);
        let ans = answer_with_crypto(&neg, local, 1, 1, Some(&ours));
        assert!(
            ans.contains("RTP/AVP 0") && ans.contains("a=crypto:7"),
            "{ans}"
        );
        // Our own offer.
        let ours_offer = offer_with_crypto(local, 1, 1, &[Codec::Pcmu], Some(&ours));
        let read = negotiate(&ours_offer).expect("offer parses");
        assert!(read.secure && read.crypto == vec![ours]);
        assert!(!negotiate(SIPP_OFFER).expect("plain").secure);
    }
}
