//! RTCP (RFC 3550 §6) for one leg, muxed on the RTP port (RFC 5761) or on its own.
//!
//! [`summarise`] reads what the far end reports about the stream we send, and whether it
//! said BYE. [`RtcpSession`] keeps the statistics of the stream we receive (RFC 3550
//! Appendix A.3), writes sender or receiver reports with a CNAME on a randomised 5 s
//! interval, measures the round-trip time from the far end's LSR/DLSR, and writes the BYE
//! on hang-up. It never reads a clock: `now` is an argument, and the wall clock enters
//! once, as the NTP time of a known instant. Parsing and writing are `rtcp-types`'.

use rtcp_types::{
    Bye, Compound, Packet, ReceiverReport, ReportBlock, RtcpPacketWriter, RtcpPacketWriterExt,
    SdesChunk, SdesItem, SenderReport,
};
use std::time::{Duration, Instant};

/// What the far end last told us about our stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FarEndReport {
    /// Fraction of our packets lost since its last report, out of 256.
    pub fraction_lost: u8,
    /// Our packets lost since the start.
    pub cumulative_lost: u32,
    /// Interarrival jitter of our stream, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of our last SR it saw (0: none).
    pub last_sr: u32,
    /// How long after that SR it sent this report, in 1/65536 s.
    pub delay_since_last_sr: u32,
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
    /// The NTP time of the far end's sender report, if one was in it.
    pub sender_ntp: Option<u64>,
}

fn far_end(block: &ReportBlock<'_>) -> FarEndReport {
    FarEndReport {
        fraction_lost: block.fraction_lost(),
        cumulative_lost: block.cumulative_lost(),
        jitter: block.interarrival_jitter(),
        last_sr: block.last_sender_report_timestamp(),
        delay_since_last_sr: block.delay_since_last_sender_report_timestamp(),
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
            Packet::Sr(sr) => {
                summary.sender_ntp = Some(sr.ntp_timestamp());
                sr.report_blocks()
                    .filter(|b| b.ssrc() == our_ssrc)
                    .map(|b| far_end(&b))
                    .collect()
            }
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

/// What we sent, for a sender report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// RTP packets sent.
    pub packets: u64,
    /// Payload octets sent.
    pub octets: u64,
    /// The RTP timestamp of now (the next packet's).
    pub rtp_timestamp: u32,
}

/// Reception statistics of one source (RFC 3550 Appendix A.1, A.3).
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
}

impl Source {
    fn extended_max(&self) -> u32 {
        self.cycles + u32::from(self.max_seq)
    }

    fn expected(&self) -> u64 {
        u64::from(self.extended_max().wrapping_sub(self.base_seq)) + 1
    }
}

/// The RTCP side of one leg. See the module docs.
#[derive(Debug, Clone)]
pub struct RtcpSession {
    ssrc: u32,
    cname: String,
    epoch: Instant,
    epoch_ntp: u64,
    source: Option<Source>,
    /// Middle 32 bits of the far end's last SR, and when it arrived.
    their_sr: Option<(u32, Instant)>,
    far_end: Option<FarEndReport>,
    rtt: Option<Duration>,
    next_report: Instant,
    reports_sent: u64,
    sent_at_last_report: u64,
    random: u32,
}

/// The RFC 3550 §6.2 minimum interval.
const INTERVAL: Duration = Duration::from_secs(5);

impl RtcpSession {
    /// A session for our `ssrc`, whose wall clock read `now_ntp` (64-bit NTP format) at
    /// `now`. The first report goes out after half an interval.
    pub fn new(now: Instant, now_ntp: u64, ssrc: u32, cname: &str) -> Self {
        RtcpSession {
            ssrc,
            cname: cname.to_owned(),
            epoch: now,
            epoch_ntp: now_ntp,
            source: None,
            their_sr: None,
            far_end: None,
            rtt: None,
            next_report: now + INTERVAL / 2,
            reports_sent: 0,
            sent_at_last_report: 0,
            random: ssrc | 1,
        }
    }

    /// Schedules the first report half an interval after `now` (a session created from an
    /// older clock reading).
    pub fn first_report_after(mut self, now: Instant) -> Self {
        self.next_report = now + INTERVAL / 2;
        self
    }

    /// The NTP time at `now`.
    pub fn ntp_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch);
        let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
        self.epoch_ntp
            .wrapping_add(since.as_secs() << 32)
            .wrapping_add(fraction)
    }

    /// What the far end last reported about our stream.
    pub fn far_end(&self) -> Option<FarEndReport> {
        self.far_end
    }

    /// Round-trip time, from the far end's last report on one of our SRs.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Reports written so far.
    pub fn reports_sent(&self) -> u64 {
        self.reports_sent
    }

    /// Counts an accepted RTP packet.
    pub fn on_rtp(&mut self, ssrc: u32, seq: u16) {
        match &mut self.source {
            Some(s) if s.ssrc == ssrc => {
                let delta = seq.wrapping_sub(s.max_seq);
                if delta < 0x8000 {
                    if seq < s.max_seq {
                        s.cycles = s.cycles.wrapping_add(1 << 16);
                    }
                    s.max_seq = seq;
                } else if delta > 0xffff - 100 {
                    // Reordered or duplicated: counted, the maximum stays.
                } else {
                    // A big jump: the source restarted its sequence.
                    *s = Source::fresh(ssrc, seq);
                }
                s.received += 1;
            }
            _ => {
                let mut fresh = Source::fresh(ssrc, seq);
                fresh.received = 1;
                self.source = Some(fresh);
            }
        }
    }

    /// Reads an RTCP datagram from the far end that arrived at `now`.
    pub fn handle_rtcp(&mut self, now: Instant, data: &[u8]) -> Option<RtcpSummary> {
        let summary = summarise(data, self.ssrc)?;
        if let Some(ntp) = summary.sender_ntp {
            self.their_sr = Some(((ntp >> 16) as u32, now));
        }
        if let Some(report) = summary.report {
            self.far_end = Some(report);
            if report.last_sr != 0 {
                let arrival = (self.ntp_at(now) >> 16) as u32;
                let rtt = arrival
                    .wrapping_sub(report.last_sr)
                    .wrapping_sub(report.delay_since_last_sr);
                // Over a minute is a wrapped or bogus value, not a round trip.
                if rtt < 60 << 16 {
                    self.rtt = Some(Duration::from_micros((u64::from(rtt) * 1_000_000) >> 16));
                }
            }
        }
        Some(summary)
    }

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    fn report_block(
        &mut self,
        now: Instant,
        jitter: u32,
    ) -> Option<rtcp_types::ReportBlockBuilder> {
        let s = self.source.as_mut()?;
        let expected = s.expected();
        let lost = expected.saturating_sub(s.received);
        let expected_interval = expected - s.expected_prior;
        let received_interval = s.received - s.received_prior;
        s.expected_prior = expected;
        s.received_prior = s.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (lsr, dlsr) = match self.their_sr {
            Some((lsr, at)) => {
                let delay = now.saturating_duration_since(at);
                (lsr, ((delay.as_micros() << 16) / 1_000_000) as u32)
            }
            None => (0, 0),
        };
        Some(
            ReportBlock::builder(s.ssrc)
                .fraction_lost(fraction)
                .cumulative_lost(lost.min(0x7f_ffff) as u32)
                .extended_sequence_number(s.extended_max())
                .interarrival_jitter(jitter)
                .last_sender_report_timestamp(lsr)
                .delay_since_last_sender_report_timestamp(dlsr),
        )
    }

    fn write(
        &mut self,
        now: Instant,
        sent: SenderStats,
        jitter: u32,
        bye: bool,
        out: &mut [u8],
    ) -> usize {
        let block = self.report_block(now, jitter);
        let report: Box<dyn RtcpPacketWriter> = if sent.packets > self.sent_at_last_report {
            let mut sr = SenderReport::builder(self.ssrc)
                .ntp_timestamp(self.ntp_at(now))
                .rtp_timestamp(sent.rtp_timestamp)
                .packet_count(sent.packets as u32)
                .octet_count(sent.octets as u32);
            if let Some(block) = block {
                sr = sr.add_report_block(block);
            }
            Box::new(sr)
        } else {
            let mut rr = ReceiverReport::builder(self.ssrc);
            if let Some(block) = block {
                rr = rr.add_report_block(block);
            }
            Box::new(rr)
        };
        self.sent_at_last_report = sent.packets;
        let sdes = rtcp_types::Sdes::builder().add_chunk(
            SdesChunk::builder(self.ssrc).add_item(SdesItem::builder(SdesItem::CNAME, &self.cname)),
        );
        let mut compound = Compound::builder()
            .add_packet(BoxedWriter(report))
            .add_packet(sdes);
        if bye {
            compound = compound.add_packet(Bye::builder().add_source(self.ssrc));
        }
        self.reports_sent += 1;
        compound.write_into(out).unwrap_or(0)
    }

    /// Writes the report due at `now` (SR when we sent since the last one, else RR, each
    /// with SDES CNAME) into `out` and schedules the next. Returns its length.
    pub fn write_report(
        &mut self,
        now: Instant,
        sent: SenderStats,
        jitter: u32,
        out: &mut [u8],
    ) -> usize {
        // 0.5 to 1.5 times the interval (RFC 3550 §6.3.1), from a per-session sequence.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 17;
        self.random ^= self.random << 5;
        let factor = 0.5 + f64::from(self.random % 1000) / 1000.0;
        self.next_report = now + INTERVAL.mul_f64(factor);
        self.write(now, sent, jitter, false, out)
    }

    /// Writes the last report with a BYE, for hang-up.
    pub fn write_bye(
        &mut self,
        now: Instant,
        sent: SenderStats,
        jitter: u32,
        out: &mut [u8],
    ) -> usize {
        self.write(now, sent, jitter, true, out)
    }
}

impl Source {
    fn fresh(ssrc: u32, seq: u16) -> Source {
        Source {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            received: 0,
            expected_prior: 0,
            received_prior: 0,
        }
    }
}

/// `rtcp-types` takes its packet writers by value; this lets SR and RR share one slot.
struct BoxedWriter(Box<dyn RtcpPacketWriter>);

impl std::fmt::Debug for BoxedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxedWriter")
    }
}

impl RtcpPacketWriter for BoxedWriter {
    fn calculate_size(&self) -> Result<usize, rtcp_types::RtcpWriteError> {
        self.0.calculate_size()
    }

    fn write_into_unchecked(&self, buf: &mut [u8]) -> usize {
        self.0.write_into_unchecked(buf)
    }

    fn get_padding(&self) -> Option<u8> {
        self.0.get_padding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp_types::ReceiverReport;

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
                jitter: 80,
                last_sr: 0,
                delay_since_last_sr: 0,
            })
        );
        assert_eq!(summarise(&bytes, 0x3333).expect("valid").report, None);
        assert!(summarise(b"\x80\xc9\x00\x09garbage", 1).is_none());
        assert!(!is_rtcp(&[0x80, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn sessions_exchange_reports_with_loss_jitter_and_round_trip_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut a = RtcpSession::new(t0, 0x1234_5678_0000_0000, 0xa, "a@chorus");
        // B's wall clock is another; only A's own clock enters A's RTT.
        let mut b = RtcpSession::new(t0, 0x9999_0000_0000_0000, 0xb, "b@phone");
        for seq in 0u16..100 {
            if seq % 10 != 3 {
                b.on_rtp(0xa, seq.wrapping_add(65_500));
            }
        }
        let mut buf = [0u8; 256];
        let sent = SenderStats {
            packets: 100,
            octets: 16_000,
            rtp_timestamp: 4242,
        };
        let n = a.write_report(t0, sent, 0, &mut buf);
        assert!(n > 0 && is_rtcp(&buf[..n]));
        assert!(a.poll_timeout() >= t0 + ms(2500) && a.poll_timeout() <= t0 + ms(7500));
        let sr = b.handle_rtcp(t0 + ms(15), &buf[..n]).expect("SR parses");
        assert!(sr.sender_ntp.is_some());
        let n = b.write_report(t0 + ms(115), SenderStats::default(), 80, &mut buf);
        let rr = a.handle_rtcp(t0 + ms(130), &buf[..n]).expect("RR parses");
        let report = rr.report.expect("block about A");
        assert_eq!(report.cumulative_lost, 10);
        assert_eq!(report.fraction_lost, 25, "10 of 100, in 256ths");
        assert_eq!(report.jitter, 80);
        let rtt = a.rtt().expect("rtt").as_secs_f64() * 1000.0;
        assert!((rtt - 30.0).abs() < 0.1, "rtt {rtt} ms");
        let n = a.write_bye(t0 + ms(200), sent, 0, &mut buf);
        assert!(b.handle_rtcp(t0 + ms(201), &buf[..n]).expect("bye").bye);
    }
}
