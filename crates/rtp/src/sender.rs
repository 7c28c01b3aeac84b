//! Outgoing RTP with continuous sequence numbers and timestamps.

use rtp_rs::{RtpPacketBuilder, Seq};

/// Writes one leg's outgoing packets. Sequence numbers and timestamps continue across
/// everything the leg sends, whatever happens upstream (speakers joining, leaving, prompts).
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    payload_type: u8,
    samples_per_packet: u32,
    sequence: u16,
    timestamp: u32,
    sent: u64,
    octets: u64,
}

impl RtpSender {
    /// A sender with a random-looking `ssrc` chosen by the caller (sans-IO: no RNG here).
    pub fn new(ssrc: u32, payload_type: u8, samples_per_packet: u32) -> Self {
        RtpSender {
            ssrc,
            payload_type,
            samples_per_packet,
            // RFC 3550 §5.1 asks for random starting values; derive them from the SSRC.
            sequence: (ssrc >> 16) as u16 ^ ssrc as u16,
            timestamp: ssrc.rotate_left(13),
            sent: 0,
            octets: 0,
        }
    }

    /// Changes the payload type (after a re-INVITE) without breaking the sequence.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    /// Changes the payload type and how far the timestamp advances per packet (a
    /// re-INVITE changed the codec).
    pub fn set_format(&mut self, payload_type: u8, samples_per_packet: u32) {
        self.payload_type = payload_type;
        self.samples_per_packet = samples_per_packet;
    }

    /// The SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packets written so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    /// Writes one packet carrying `payload` into `out`, returning its length (0 if `out`
    /// is too small). `marker` marks the start of a talkspurt.
    pub fn write(&mut self, payload: &[u8], marker: bool, out: &mut [u8]) -> usize {
        let builder = RtpPacketBuilder::new()
            .payload_type(self.payload_type)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.sequence))
            .timestamp(self.timestamp)
            .marked(marker || self.sent == 0)
            .payload(payload);
        let written = builder.build_into(out).unwrap_or(0);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_packet);
        self.sent += 1;
        self.octets += payload.len() as u64;
        written
    }

    /// Payload octets sent.
    pub fn octets_sent(&self) -> u64 {
        self.octets
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Advances the timestamp by one packet's worth without sending (a skipped tick).
    pub fn skip(&mut self) {
        self.timestamp = self.timestamp.wrapping_add(self.samples_per_packet);
    }

    /// Advances the sequence number and timestamp by one packet without sending: the
    /// receiver sees the loss of a packet this stream forwards, and can recover it from
    /// the next packet's FEC as if it had the sender's stream.
    pub fn pass_loss(&mut self) {
        self.sequence = self.sequence.wrapping_add(1);
        self.skip();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_rs::RtpReader;

    #[test]
    fn sequence_and_timestamp_continue() {
        let mut s = RtpSender::new(0xdead_beef, 8, 160);
        let mut buf = [0u8; 256];
        let n = s.write(&[1; 160], false, &mut buf);
        let first = RtpReader::new(&buf[..n]).expect("rtp");
        let (seq0, ts0) = (u16::from(first.sequence_number()), first.timestamp());
        assert!(first.mark());
        s.skip();
        let n = s.write(&[1; 160], false, &mut buf);
        let second = RtpReader::new(&buf[..n]).expect("rtp");
        assert_eq!(u16::from(second.sequence_number()), seq0.wrapping_add(1));
        assert_eq!(second.timestamp(), ts0.wrapping_add(320));
        assert_eq!(second.payload_type(), 8);
        assert!(!second.mark());
    }
}
