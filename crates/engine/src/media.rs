//! The audio of the conferences one mixing thread owns.

use crate::{CallId, MediaParams};
use chorus_mixer::{MemberId, Mixer, Output, TickClock};
use chorus_rtp::{JitterBuffer, JitterStats, ReceiveStats, RtpReceiver, RtpSender};
use chorus_types::{Codec, FRAME_SAMPLES, Frame, SILENCE};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;

/// Jitter buffer delay: two frames.
const JITTER_TARGET_SAMPLES: u32 = 2 * FRAME_SAMPLES as u32;
/// Largest payload one packet may decode to (60 ms at 8 kHz), so a leg's decode scratch
/// never grows with hostile input.
const MAX_PACKET_SAMPLES: usize = 480;
/// RTP header plus one 20 ms G.711 payload, the most one outgoing packet needs.
const MAX_OUT_PACKET: usize = 12 + FRAME_SAMPLES;

/// Counters for one leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// What the RTP receiver accepted and dropped.
    pub receive: ReceiveStats,
    /// What the jitter buffer played, concealed and dropped.
    pub jitter: JitterStats,
    /// Packets sent.
    pub sent: u64,
}

#[derive(Debug)]
struct Leg {
    conference: String,
    member: MemberId,
    params: MediaParams,
    receiver: RtpReceiver,
    jitter: JitterBuffer,
    sender: RtpSender,
    decoded: Vec<i16>,
}

#[derive(Debug, Default)]
struct Conference {
    mixer: Mixer,
    legs: Vec<CallId>,
}

/// One packet to send from a leg's socket.
#[derive(Debug)]
pub struct MediaTransmit<'a> {
    /// The leg whose socket sends it.
    pub leg: CallId,
    /// Where to.
    pub destination: SocketAddr,
    /// The RTP packet.
    pub data: &'a [u8],
}

/// See the crate docs: legs in, packets out, one mix per conference per tick.
#[derive(Debug)]
pub struct MediaGroup {
    clock: TickClock,
    legs: HashMap<CallId, Leg>,
    conferences: HashMap<String, Conference>,
    /// Outgoing packets of the last tick, back to back.
    out: Vec<u8>,
    queue: VecDeque<(CallId, SocketAddr, Range<usize>)>,
    /// Encoded shared mix per codec for the conference being sent.
    shared: Vec<(Codec, [u8; FRAME_SAMPLES])>,
}

impl MediaGroup {
    /// A group whose first tick is due at `now`.
    pub fn new(now: Instant) -> Self {
        MediaGroup {
            clock: TickClock::new(now),
            legs: HashMap::new(),
            conferences: HashMap::new(),
            out: Vec::new(),
            queue: VecDeque::new(),
            shared: Vec::new(),
        }
    }

    /// Number of legs.
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Ticks skipped because the thread woke late.
    pub fn late_ticks(&self) -> u64 {
        self.clock.late_ticks()
    }

    /// A leg's counters.
    pub fn leg_stats(&self, id: CallId) -> Option<LegStats> {
        self.legs.get(&id).map(|leg| LegStats {
            receive: leg.receiver.stats(),
            jitter: leg.jitter.stats(),
            sent: leg.sender.packets_sent(),
        })
    }

    fn payload_types(params: &MediaParams) -> Vec<u8> {
        let mut pts = vec![params.payload_type];
        pts.extend(params.telephone_event);
        pts
    }

    /// Joins a call's media to a conference (created on first use).
    pub fn add_leg(&mut self, id: CallId, conference: &str, params: MediaParams, ssrc: u32) {
        if self.legs.contains_key(&id) {
            return self.update_leg(id, params);
        }
        let conf = self.conferences.entry(conference.to_owned()).or_default();
        let member = conf.mixer.add();
        conf.legs.push(id);
        let leg = Leg {
            conference: conference.to_owned(),
            member,
            receiver: RtpReceiver::new(params.remote, Self::payload_types(&params)),
            jitter: JitterBuffer::new(JITTER_TARGET_SAMPLES),
            sender: RtpSender::new(ssrc, params.payload_type, FRAME_SAMPLES as u32),
            decoded: Vec::with_capacity(MAX_PACKET_SAMPLES),
            params,
        };
        self.legs.insert(id, leg);
    }

    /// Applies a re-INVITE's new media to a leg.
    pub fn update_leg(&mut self, id: CallId, params: MediaParams) {
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.receiver
                .reannounce(params.remote, Self::payload_types(&params));
            leg.sender.set_payload_type(params.payload_type);
            leg.params = params;
        }
    }

    /// Removes a leg; an emptied conference is dropped.
    pub fn remove_leg(&mut self, id: CallId) {
        let Some(leg) = self.legs.remove(&id) else {
            return;
        };
        if let Some(conf) = self.conferences.get_mut(&leg.conference) {
            conf.mixer.remove(leg.member);
            conf.legs.retain(|&l| l != id);
            if conf.legs.is_empty() {
                self.conferences.remove(&leg.conference);
            }
        }
    }

    /// One datagram that arrived on a leg's socket. Bad packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, id: CallId, source: SocketAddr, data: &[u8]) {
        let _ = now;
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let Ok(packet) = leg.receiver.handle_packet(source, data) else {
            return;
        };
        if packet.payload_type != leg.params.payload_type {
            return; // telephone-event: keypad handling arrives with the policy layer
        }
        if !leg.params.remote_direction.sends() {
            return;
        }
        let samples = chorus_codec::samples_in_payload(leg.params.codec, packet.payload.len());
        if samples == 0 || samples > MAX_PACKET_SAMPLES {
            return;
        }
        leg.decoded.resize(samples, 0);
        chorus_codec::decode(leg.params.codec, packet.payload, &mut leg.decoded);
        leg.jitter
            .insert(packet.ssrc, packet.timestamp, &leg.decoded);
    }

    /// When the next tick is due.
    pub fn poll_timeout(&self) -> Instant {
        self.clock.poll_timeout()
    }

    /// Runs a tick if one is due: every conference mixes once and every leg gets a packet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.clock.handle_timeout(now) {
            return;
        }
        self.out.clear();
        self.queue.clear();
        let mut frame: Frame = SILENCE;
        for conf in self.conferences.values_mut() {
            for id in &conf.legs {
                let Some(leg) = self.legs.get_mut(id) else {
                    continue;
                };
                let audio = leg.jitter.pop_frame(&mut frame);
                if audio || frame != SILENCE {
                    conf.mixer.set_input(leg.member, &frame);
                }
            }
            conf.mixer.mix();
            self.shared.clear();
            for id in &conf.legs {
                let Some(leg) = self.legs.get_mut(id) else {
                    continue;
                };
                if !leg.params.remote_direction.receives() {
                    leg.sender.skip();
                    continue;
                }
                let codec = leg.params.codec;
                let mut own = [0u8; FRAME_SAMPLES];
                let payload: &[u8] = match conf.mixer.output(leg.member) {
                    Output::Shared(mix) => {
                        // Listeners who did not speak hear the same mix: encode it once.
                        let at = match self.shared.iter().position(|(c, _)| *c == codec) {
                            Some(at) => at,
                            None => {
                                let mut encoded = [0u8; FRAME_SAMPLES];
                                chorus_codec::encode(codec, mix, &mut encoded);
                                self.shared.push((codec, encoded));
                                self.shared.len() - 1
                            }
                        };
                        &self.shared[at].1
                    }
                    Output::Own(mix) => {
                        chorus_codec::encode(codec, mix, &mut own);
                        &own
                    }
                };
                let start = self.out.len();
                self.out.resize(start + MAX_OUT_PACKET, 0);
                let written = leg.sender.write(payload, false, &mut self.out[start..]);
                self.out.truncate(start + written);
                self.queue
                    .push_back((*id, leg.receiver.send_to(), start..start + written));
            }
        }
    }

    /// The next packet of the last tick.
    pub fn poll_transmit(&mut self) -> Option<MediaTransmit<'_>> {
        let (leg, destination, range) = self.queue.pop_front()?;
        Some(MediaTransmit {
            leg,
            destination,
            data: &self.out[range],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::Direction;
    use std::time::Duration;

    fn params(port: u16) -> MediaParams {
        MediaParams {
            remote: SocketAddr::from(([127, 0, 0, 1], port)),
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            remote_direction: Direction::SendRecv,
        }
    }

    fn tone_packet(sender: &mut RtpSender, level: i16) -> Vec<u8> {
        let pcm = [level; FRAME_SAMPLES];
        let mut payload = [0u8; FRAME_SAMPLES];
        chorus_codec::encode(Codec::Pcmu, &pcm, &mut payload);
        let mut out = [0u8; 200];
        let n = sender.write(&payload, false, &mut out);
        out[..n].to_vec()
    }

    fn heard(group: &mut MediaGroup) -> HashMap<CallId, i16> {
        let mut out = HashMap::new();
        while let Some(t) = group.poll_transmit() {
            let reader = rtp_rs::RtpReader::new(t.data).expect("rtp");
            out.insert(t.leg, chorus_codec::ulaw_to_linear(reader.payload()[0]));
        }
        out
    }

    #[test]
    fn three_legs_hear_each_other_but_not_themselves_and_conferences_are_isolated() {
        let start = Instant::now();
        let mut group = MediaGroup::new(start);
        let (a, b, c, d) = (CallId(1), CallId(2), CallId(3), CallId(4));
        group.add_leg(a, "500", params(7001), 1);
        group.add_leg(b, "500", params(7002), 2);
        group.add_leg(c, "500", params(7003), 3);
        group.add_leg(d, "501", params(7004), 4);
        let mut senders: Vec<RtpSender> = (0..3).map(|i| RtpSender::new(100 + i, 0, 160)).collect();
        let levels = [1000i16, 2000, 4000];
        let mut last = HashMap::new();
        for tick in 0..6u32 {
            let now = start + Duration::from_millis(20 * u64::from(tick));
            for (i, (id, port)) in [(a, 7001u16), (b, 7002), (c, 7003)].iter().enumerate() {
                let pkt = tone_packet(&mut senders[i], levels[i]);
                group.handle_packet(now, *id, SocketAddr::from(([127, 0, 0, 1], *port)), &pkt);
            }
            group.handle_timeout(now);
            last = heard(&mut group);
        }
        let near = |got: i16, want: i16| (i32::from(got) - i32::from(want)).abs() < 200;
        assert!(near(last[&a], 6000), "a hears {}", last[&a]);
        assert!(near(last[&b], 5000), "b hears {}", last[&b]);
        assert!(near(last[&c], 3000), "c hears {}", last[&c]);
        assert_eq!(last[&d], 0, "another conference hears nothing");
        assert_eq!(group.leg_stats(a).expect("a").sent, 6);
    }

    #[test]
    fn removing_the_last_leg_drops_the_conference() {
        let now = Instant::now();
        let mut group = MediaGroup::new(now);
        group.add_leg(CallId(1), "500", params(7001), 1);
        group.remove_leg(CallId(1));
        assert!(group.conferences.is_empty());
        group.handle_timeout(now);
        assert!(group.poll_transmit().is_none());
    }

    #[test]
    fn garbage_packets_are_counted() {
        let now = Instant::now();
        let mut group = MediaGroup::new(now);
        group.add_leg(CallId(1), "500", params(7001), 1);
        let src = SocketAddr::from(([127, 0, 0, 1], 7001));
        group.handle_packet(now, CallId(1), src, b"\x80");
        group.handle_packet(now, CallId(1), src, &[0xff; 40]);
        let stats = group.leg_stats(CallId(1)).expect("stats");
        assert_eq!(stats.receive.malformed, 2);
    }
}
