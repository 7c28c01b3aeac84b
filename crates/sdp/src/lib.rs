//! SDP offer/answer for one audio stream (RFC 3264, RFC 4566).
//!
//! [`negotiate`] reads a remote offer (parsed by `webrtc-sdp`), picks the first audio
//! stream with a codec we support in the offerer's order of preference, and returns the
//! [`Negotiated`] media parameters; [`answer`] writes the matching answer, rejecting every
//! other stream with port 0. [`offer`] writes our own offer for an INVITE that came
//! without SDP, and [`negotiate_answer`] reads the answer to it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use chorus_types::{Codec, Direction};
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
    /// Index of the chosen `m=` line in the offer.
    pub media_index: usize,
    /// How many `m=` lines the offer had (the answer must have as many).
    media_count: usize,
    /// Media type and proto of every `m=` line, to reject the others in the answer.
    media_lines: Vec<(String, String, String)>,
}

/// Codecs we accept, in our order of preference when the far end has none.
pub const SUPPORTED: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

fn parse(text: &str) -> Result<SdpSession, SdpError> {
    webrtc_sdp::parse_sdp(text, false).map_err(|e| SdpError::Malformed(e.to_string()))
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

/// Reads an offer and chooses the audio stream, codec and telephone-event.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
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
        let chosen = formats.iter().find_map(|&pt| {
            let pt = u8::try_from(pt).ok()?;
            codec_of(pt).map(|c| (c, pt))
        });
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
        return Ok(Negotiated {
            remote: SocketAddr::new(ip, port),
            codec,
            payload_type,
            telephone_event,
            telephone_event_rate,
            remote_direction: direction(&session, media),
            ptime,
            media_index: index,
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
        let _ = write!(
            out,
            "m=audio {} RTP/AVP {formats}\r\na=rtpmap:{} {}/{}\r\n",
            local.port(),
            neg.payload_type,
            neg.codec.encoding_name(),
            neg.codec.clock_rate()
        );
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
    }
    out
}

/// Writes our own offer (for an INVITE that arrived without SDP).
pub fn offer(local: SocketAddr, session_id: u64, version: u64) -> String {
    let mut out = String::with_capacity(300);
    header(&mut out, session_id, version, local.ip());
    let pts: Vec<String> = SUPPORTED
        .iter()
        .map(|c| c.static_payload_type().to_string())
        .collect();
    let _ = write!(
        out,
        "m=audio {} RTP/AVP {} {TELEPHONE_EVENT_PT}\r\n",
        local.port(),
        pts.join(" ")
    );
    for c in SUPPORTED {
        let _ = write!(
            out,
            "a=rtpmap:{} {}/{}\r\n",
            c.static_payload_type(),
            c.encoding_name(),
            c.clock_rate()
        );
    }
    let _ = write!(
        out,
        "a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT_PT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    out
}

/// Reads the answer to our [`offer`]: the answerer must pick from what we offered.
pub fn negotiate_answer(answer: &str) -> Result<Negotiated, SdpError> {
    let neg = negotiate(answer)?;
    if !SUPPORTED.contains(&neg.codec) {
        return Err(SdpError::NoCommonCodec);
    }
    Ok(neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    const BARESIP_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10000 RTP/AVP 96 9 8 0 101\r\nb=AS:117\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\na=rtcp-rsize\r\n";

    #[test]
    fn picks_first_supported_codec_in_offer_order() {
        let neg = negotiate(BARESIP_OFFER).expect("negotiate");
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
    fn our_offer_round_trips() {
        let ours = offer("127.0.0.1:20002".parse().expect("addr"), 9, 9);
        let neg = negotiate_answer(&ours).expect("answer");
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.telephone_event, Some(TELEPHONE_EVENT_PT));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(negotiate("hello"), Err(SdpError::Malformed(_))));
    }
}
