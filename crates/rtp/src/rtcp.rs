//! Reading RTCP (RFC 3550 §6) that arrives muxed on the RTP port (RFC 5761): what the far
//! end reports about the stream we send, and whether it said BYE. Parsing is `rtcp-types`'.

use rtcp_types::{Compound, Packet, ReportBlock};

/// What the far end last told us about our stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FarEndReport {
    /// Fraction of our packets lost since its last report, out of 256.
    pub fraction_lost: u8,
    /// Our packets lost since the start.
    pub cumulative_lost: u32,
    /// Interarrival jitter of our stream, in timestamp units.
    pub jitter: u32,
}

/// One compound RTCP packet, summarised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcpSummary {
    /// The report block about `our_ssrc`, if the packet had one.
    pub report: Option<FarEndReport>,
    /// Whether the packet carried BYE.
    pub bye: bool,
    /// Sender or receiver reports in it.
    pub reports: u32,
}

fn far_end(block: &ReportBlock<'_>) -> FarEndReport {
    FarEndReport {
        fraction_lost: block.fraction_lost(),
        cumulative_lost: block.cumulative_lost(),
        jitter: block.interarrival_jitter(),
    }
}

/// Whether a datagram on the RTP port is RTCP (RFC 5761 §4: payload types 72–76 with the
/// marker bit, i.e. packet types 200–204).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (200..=204).contains(&data[1])
}

/// Summarises a compound RTCP packet; `None` when it is not valid RTCP.
pub fn summarise(data: &[u8], our_ssrc: u32) -> Option<RtcpSummary> {
    let compound = Compound::parse(data).ok()?;
    let mut summary = RtcpSummary::default();
    for packet in compound {
        let packet = packet.ok()?;
        let blocks: Vec<FarEndReport> = match &packet {
            Packet::Sr(sr) => sr
                .report_blocks()
                .filter(|b| b.ssrc() == our_ssrc)
                .map(|b| far_end(&b))
                .collect(),
            Packet::Rr(rr) => rr
                .report_blocks()
                .filter(|b| b.ssrc() == our_ssrc)
                .map(|b| far_end(&b))
                .collect(),
            Packet::Bye(_) => {
                summary.bye = true;
                Vec::new()
            }
            _ => Vec::new(),
        };
        if matches!(packet, Packet::Sr(_) | Packet::Rr(_)) {
            summary.reports += 1;
        }
        if let Some(block) = blocks.last() {
            summary.report = Some(*block);
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp_types::{ReceiverReport, RtcpPacketWriterExt};

    #[test]
    fn receiver_report_about_our_stream_is_read() {
        let rr = ReceiverReport::builder(0x1111).add_report_block(
            ReportBlock::builder(0x2222)
                .fraction_lost(64)
                .cumulative_lost(12)
                .interarrival_jitter(80),
        );
        let builder = Compound::builder().add_packet(rr);
        let mut bytes = vec![0u8; 128];
        let len = builder.write_into(&mut bytes).expect("write");
        bytes.truncate(len);
        assert!(is_rtcp(&bytes));
        let summary = summarise(&bytes, 0x2222).expect("valid RTCP");
        assert_eq!(summary.reports, 1);
        assert_eq!(
            summary.report,
            Some(FarEndReport {
                fraction_lost: 64,
                cumulative_lost: 12,
                jitter: 80
            })
        );
        assert_eq!(summarise(&bytes, 0x3333).expect("valid").report, None);
        assert!(summarise(b"\x80\xc9\x00\x09garbage", 1).is_none());
        assert!(!is_rtcp(&[0x80, 0, 0, 0, 0, 0, 0, 0]));
    }
}
