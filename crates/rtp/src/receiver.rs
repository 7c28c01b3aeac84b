//! Validating incoming RTP and latching to the far end's real address (symmetric RTP).

use rtp_rs::RtpReader;
use std::net::SocketAddr;

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Not a valid RTP version 2 packet.
    Malformed,
    /// RTCP arriving on the RTP port (payload types 72–76 as RFC 5761 §4 lays out).
    Rtcp,
    /// From an address other than the latched one, or another host before latching.
    ForeignSource,
    /// A payload type the session did not negotiate.
    UnknownPayloadType,
}

/// Counters for one receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Packets accepted.
    pub accepted: u64,
    /// Dropped as malformed.
    pub malformed: u64,
    /// Dropped as RTCP on the RTP port.
    pub rtcp: u64,
    /// Dropped for coming from the wrong source.
    pub foreign_source: u64,
    /// Dropped for a payload type not negotiated.
    pub unknown_payload_type: u64,
    /// Packets never seen: gaps in the sequence numbers.
    pub lost: u64,
}

/// An accepted packet's header fields and payload.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp in the payload type's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload without padding.
    pub payload: &'a [u8],
    /// The header extension: profile and data (RFC 3550 §5.3.1).
    pub extension: Option<(u16, &'a [u8])>,
}

/// An RFC 6464 client-to-mixer audio level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// Level in −dBov, 0 (loudest) to 127 (silence).
    pub level: u8,
    /// The sender's voice activity flag.
    pub voice: bool,
}

impl Packet<'_> {
    /// The RFC 6464 audio level carried in a one-byte header extension (RFC 8285 §4.2)
    /// with element `id`, if present and well formed.
    pub fn audio_level(&self, id: u8) -> Option<AudioLevel> {
        let (profile, data) = self.extension?;
        if profile != 0xBEDE {
            return None;
        }
        let mut at = 0;
        while at < data.len() {
            let header = data[at];
            if header == 0 {
                at += 1;
                continue;
            }
            let element = header >> 4;
            let len = usize::from(header & 0x0f) + 1;
            if element == 15 {
                return None;
            }
            let body = data.get(at + 1..at + 1 + len)?;
            if element == id {
                return Some(AudioLevel {
                    level: body[0] & 0x7f,
                    voice: body[0] & 0x80 != 0,
                });
            }
            at += 1 + len;
        }
        None
    }
}

/// Validates packets and latches to where the far end really sends from. The address the
/// SDP announced always wins: a packet from it latches there for good. Another port on the
/// announced host is latched only while the announced address has sent nothing (a NAT that
/// rewrote the port), so someone else on that host cannot take a leg whose phone is
/// sending. Until the first good packet, [`RtpReceiver::send_to`] is the SDP address.
#[derive(Debug, Clone)]
pub struct RtpReceiver {
    announced: SocketAddr,
    latched: Option<SocketAddr>,
    payload_types: Vec<u8>,
    stats: ReceiveStats,
    highest_sequence: Option<(u32, u16)>,
}

impl RtpReceiver {
    /// A receiver for a leg whose SDP announced `announced` and the given payload types.
    pub fn new(announced: SocketAddr, payload_types: Vec<u8>) -> Self {
        RtpReceiver {
            announced,
            latched: None,
            payload_types,
            stats: ReceiveStats::default(),
            highest_sequence: None,
        }
    }

    /// A re-INVITE moved the far end: forget the latch and wait for the new address.
    pub fn reannounce(&mut self, announced: SocketAddr, payload_types: Vec<u8>) {
        if announced != self.announced {
            self.latched = None;
        }
        self.announced = announced;
        self.payload_types = payload_types;
    }

    /// Where to send media: the latched source, else the SDP address.
    pub fn send_to(&self) -> SocketAddr {
        self.latched.unwrap_or(self.announced)
    }

    /// The counters so far.
    pub fn stats(&self) -> ReceiveStats {
        self.stats
    }

    /// Checks one datagram from `source`. An accepted packet may latch the receiver.
    pub fn handle_packet<'a>(
        &mut self,
        source: SocketAddr,
        data: &'a [u8],
    ) -> Result<Packet<'a>, Drop> {
        let result = self.check(source, data);
        match &result {
            Ok(packet) => {
                self.stats.accepted += 1;
                self.count_loss(packet.ssrc, packet.sequence);
            }
            Err(Drop::Malformed) => self.stats.malformed += 1,
            Err(Drop::Rtcp) => self.stats.rtcp += 1,
            Err(Drop::ForeignSource) => self.stats.foreign_source += 1,
            Err(Drop::UnknownPayloadType) => self.stats.unknown_payload_type += 1,
        }
        result
    }

    fn count_loss(&mut self, ssrc: u32, sequence: u16) {
        match self.highest_sequence {
            Some((known, highest)) if known == ssrc => {
                let ahead = sequence.wrapping_sub(highest) as i16;
                // A big jump is a restarted stream, not thousands of lost packets.
                if (1..=3000).contains(&ahead) {
                    self.stats.lost += u64::from(ahead.unsigned_abs()) - 1;
                    self.highest_sequence = Some((ssrc, sequence));
                } else if !(-3000..=3000).contains(&ahead) {
                    self.highest_sequence = Some((ssrc, sequence));
                }
            }
            _ => self.highest_sequence = Some((ssrc, sequence)),
        }
    }

    fn check<'a>(&mut self, source: SocketAddr, data: &'a [u8]) -> Result<Packet<'a>, Drop> {
        let from_announced = source == self.announced;
        let acceptable = match self.latched {
            _ if from_announced => true,
            Some(latched) => latched == source,
            None => source.ip() == self.announced.ip(),
        };
        if !acceptable {
            return Err(Drop::ForeignSource);
        }
        if data.len() >= 2 && (data[0] >> 6) == 2 && (200..=204).contains(&data[1]) {
            return Err(Drop::Rtcp);
        }
        let reader = RtpReader::new(data).map_err(|_| Drop::Malformed)?;
        if reader.version() != 2 {
            return Err(Drop::Malformed);
        }
        let payload_type = reader.payload_type();
        if !self.payload_types.contains(&payload_type) {
            return Err(Drop::UnknownPayloadType);
        }
        self.latched = Some(source);
        Ok(Packet {
            payload_type,
            sequence: u16::from(reader.sequence_number()),
            timestamp: reader.timestamp(),
            ssrc: reader.ssrc(),
            marker: reader.mark(),
            payload: reader.payload(),
            extension: reader.extension(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RtpSender;

    #[test]
    fn reads_the_rfc6464_audio_level() {
        // Padding, an element 2 of two bytes, then element 1: V=1, level 42.
        let data = [0u8, 0x21, 9, 9, 0x10, 0x80 | 42, 0, 0];
        let packet = Packet {
            payload_type: 0,
            sequence: 0,
            timestamp: 0,
            ssrc: 0,
            marker: false,
            payload: &[],
            extension: Some((0xBEDE, &data)),
        };
        assert_eq!(
            packet.audio_level(1),
            Some(AudioLevel {
                level: 42,
                voice: true
            })
        );
        assert_eq!(packet.audio_level(3), None);
        let truncated = Packet {
            extension: Some((0xBEDE, &data[..2])),
            ..packet
        };
        assert_eq!(truncated.audio_level(2), None);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    fn packet(pt: u8) -> Vec<u8> {
        let mut sender = RtpSender::new(1234, pt, 160);
        let mut buf = [0u8; 200];
        let n = sender.write(&[0xFF; 160], false, &mut buf);
        buf[..n].to_vec()
    }

    #[test]
    fn latches_to_another_port_only_until_the_announced_address_sends() {
        let mut rx = RtpReceiver::new(addr("127.0.0.1:4000"), vec![0]);
        assert_eq!(
            rx.handle_packet(addr("127.0.0.2:4000"), &packet(0)).err(),
            Some(Drop::ForeignSource)
        );
        // NAT rewrote the port: latch there while the announced address is silent.
        assert!(rx.handle_packet(addr("127.0.0.1:4100"), &packet(0)).is_ok());
        assert_eq!(rx.send_to(), addr("127.0.0.1:4100"));
        assert_eq!(
            rx.handle_packet(addr("127.0.0.1:4200"), &packet(0)).err(),
            Some(Drop::ForeignSource)
        );
        // The announced address speaks: it wins, for good.
        assert!(rx.handle_packet(addr("127.0.0.1:4000"), &packet(0)).is_ok());
        assert_eq!(rx.send_to(), addr("127.0.0.1:4000"));
        assert_eq!(
            rx.handle_packet(addr("127.0.0.1:4100"), &packet(0)).err(),
            Some(Drop::ForeignSource)
        );
        assert_eq!(rx.stats().foreign_source, 3);
    }

    #[test]
    fn another_port_on_the_phones_host_cannot_take_a_sending_leg() {
        let mut rx = RtpReceiver::new(addr("127.0.0.1:4000"), vec![0]);
        assert!(rx.handle_packet(addr("127.0.0.1:4000"), &packet(0)).is_ok());
        for port in [4001, 4100, 5000] {
            assert_eq!(
                rx.handle_packet(addr(&format!("127.0.0.1:{port}")), &packet(0))
                    .err(),
                Some(Drop::ForeignSource)
            );
        }
        assert_eq!(rx.send_to(), addr("127.0.0.1:4000"));
    }

    #[test]
    fn garbage_and_rtcp_are_counted_and_dropped() {
        let mut rx = RtpReceiver::new(addr("127.0.0.1:4000"), vec![0]);
        let src = addr("127.0.0.1:4000");
        assert_eq!(rx.handle_packet(src, b"").err(), Some(Drop::Malformed));
        assert_eq!(
            rx.handle_packet(src, &[0x80; 5]).err(),
            Some(Drop::Malformed)
        );
        assert_eq!(
            rx.handle_packet(src, &[0x80, 200, 0, 6]).err(),
            Some(Drop::Rtcp)
        );
        assert_eq!(
            rx.handle_packet(src, &packet(18)).err(),
            Some(Drop::UnknownPayloadType)
        );
        assert_eq!(rx.stats().accepted, 0);
        assert_eq!(rx.send_to(), src, "garbage never latches");
    }
}
