//! The audio of the conferences one mixing thread owns: legs, keypad detection, prompts,
//! music, announcements, name recording and the mix.

use crate::{CallId, MediaParams};
use chorus_dtmf::{EventReceiver, InbandDetector};
use chorus_mixer::{MemberId, Mixer, Output, TickClock};
use chorus_rtp::telephone_event::TelephoneEvent;
use chorus_rtp::{JitterBuffer, JitterStats, ReceiveStats, RtpReceiver, RtpSender};
use chorus_types::{Clip, Codec, FRAME_SAMPLES, Frame, SILENCE};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Jitter buffer delay: two frames.
const JITTER_TARGET_SAMPLES: u32 = 2 * FRAME_SAMPLES as u32;
/// Largest payload one packet may decode to (60 ms at 8 kHz), so a leg's decode scratch
/// never grows with hostile input.
const MAX_PACKET_SAMPLES: usize = 480;
/// RTP header plus one 20 ms G.711 payload, the most one outgoing packet needs.
const MAX_OUT_PACKET: usize = 12 + FRAME_SAMPLES;
/// Frames kept out of the mix after an in-band tone, so its tail is not heard either.
const TONE_HANGOVER_FRAMES: u32 = 3;
/// A name recording ends after this much quiet once the caller has spoken.
const NAME_TRAILING_QUIET: usize = 35;
/// Mean absolute level above which a frame counts as voice (about −40 dBFS).
const VOICE_LEVEL: u32 = 300;
/// Voiced frames in a row that start "talking".
const TALK_START_FRAMES: u32 = 3;
/// Quiet frames in a row that end it.
const TALK_STOP_FRAMES: u32 = 40;

/// Counters for one leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// What the RTP receiver accepted and dropped.
    pub receive: ReceiveStats,
    /// What the jitter buffer played, concealed and dropped.
    pub jitter: JitterStats,
    /// Packets sent.
    pub sent: u64,
    /// What the far end's last RTCP report said about the stream we send.
    pub far_end: Option<chorus_rtp::rtcp::FarEndReport>,
}

/// What the engine asks of the media side, beyond adding a leg (which needs its socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Put the leg into its conference's mix.
    Join {
        /// The leg.
        call: CallId,
        /// Whether its voice stays out of the mix.
        muted: bool,
    },
    /// Mute or unmute a joined leg.
    SetMuted {
        /// The leg.
        call: CallId,
        /// Muted or not.
        muted: bool,
    },
    /// Queue a sound for this leg alone, over whatever it hears. Reports
    /// [`MediaEvent::PlayDone`] with `id` when it ends.
    Play {
        /// The leg.
        call: CallId,
        /// The sound.
        clip: Clip,
        /// Echoed back when done.
        id: u64,
    },
    /// Drop this leg's queued sounds (barge-in).
    StopPrompts {
        /// The leg.
        call: CallId,
    },
    /// Loop music to this leg while no prompt plays; `None` stops it.
    Music {
        /// The leg.
        call: CallId,
        /// The music.
        clip: Option<Clip>,
    },
    /// Play sounds to every joined leg of a conference but one, over the conference audio.
    Announce {
        /// The conference.
        conference: String,
        /// A leg that does not hear it (the one who just entered).
        except: Option<CallId>,
        /// The sounds, in order.
        clips: Vec<Clip>,
    },
    /// Route a leg's incoming audio to another leg alone (early media from an invited
    /// number to its inviter); `to: None` ends it.
    Patch {
        /// The leg whose audio is heard.
        call: CallId,
        /// Who hears it.
        to: Option<CallId>,
    },
    /// Record this (invited) leg from now to its end: what it says and what it hears.
    Record {
        /// The leg.
        call: CallId,
        /// Its conference.
        conference: String,
        /// The number it was invited at.
        number: String,
        /// Its SIP Call-ID.
        call_id: String,
    },
    /// Record what the leg says, up to `max`, ending early on silence after speech.
    RecordName {
        /// The leg.
        call: CallId,
        /// The longest recording.
        max: Duration,
    },
}

impl MediaCommand {
    /// The leg a command is for, or `None` for conference-wide ones.
    pub fn call(&self) -> Option<CallId> {
        match self {
            MediaCommand::Join { call, .. }
            | MediaCommand::SetMuted { call, .. }
            | MediaCommand::Play { call, .. }
            | MediaCommand::StopPrompts { call }
            | MediaCommand::Music { call, .. }
            | MediaCommand::RecordName { call, .. }
            | MediaCommand::Patch { call, .. }
            | MediaCommand::Record { call, .. } => Some(*call),
            MediaCommand::Announce { .. } => None,
        }
    }
}

/// What the media side tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press (RFC 4733 event or in-band tone).
    Digit {
        /// The leg.
        call: CallId,
        /// The key.
        digit: char,
    },
    /// A [`MediaCommand::Play`] sound finished.
    PlayDone {
        /// The leg.
        call: CallId,
        /// The id it was queued with.
        id: u64,
    },
    /// A joined leg started or stopped talking.
    Talking {
        /// The leg.
        call: CallId,
        /// Talking now or not.
        talking: bool,
    },
    /// A [`MediaCommand::RecordName`] recording finished.
    NameRecorded {
        /// The leg.
        call: CallId,
        /// What was recorded (trailing silence trimmed).
        clip: Clip,
    },
}

#[derive(Debug)]
struct Recording {
    samples: Vec<i16>,
    max: usize,
    voiced: bool,
    quiet_frames: usize,
}

#[derive(Debug)]
enum Keys {
    /// RFC 4733 events on this payload type.
    Events(u8, EventReceiver),
    /// No telephone-event negotiated: listen for tones in the audio.
    Inband(Box<InbandDetector>),
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
    keys: Keys,
    joined: bool,
    muted: bool,
    tone_hangover: u32,
    prompts: VecDeque<(u64, Clip)>,
    prompt_pos: usize,
    music: Option<Clip>,
    music_pos: usize,
    recording: Option<Recording>,
    talking: bool,
    voiced_run: u32,
    quiet_run: u32,
    /// Whether each tick's audio both ways goes to [`MediaGroup::poll_recorded`].
    recorded: bool,
    /// This tick's input, kept for the recording.
    last_input: Frame,
    /// Another leg that hears this one's audio alone (early media).
    patched_to: Option<CallId>,
    /// The far end's last RTCP report on our stream.
    far_end: Option<chorus_rtp::rtcp::FarEndReport>,
}

fn keys_for(params: &MediaParams) -> Keys {
    match params.telephone_event {
        Some(pt) => Keys::Events(pt, EventReceiver::new(params.telephone_event_rate)),
        None => Keys::Inband(Box::default()),
    }
}

impl Leg {
    /// The next 20 ms of this leg's own sounds (prompt, else music), if any.
    fn personal_frame(&mut self, events: &mut VecDeque<MediaEvent>, id: CallId) -> Option<Frame> {
        if let Some((prompt_id, clip)) = self.prompts.front() {
            let mut frame = SILENCE;
            let end = (self.prompt_pos + FRAME_SAMPLES).min(clip.len());
            frame[..end - self.prompt_pos].copy_from_slice(&clip[self.prompt_pos..end]);
            self.prompt_pos = end;
            if end >= clip.len() {
                events.push_back(MediaEvent::PlayDone {
                    call: id,
                    id: *prompt_id,
                });
                self.prompts.pop_front();
                self.prompt_pos = 0;
            }
            return Some(frame);
        }
        let music = self.music.as_ref().filter(|m| !m.is_empty())?;
        let mut frame = SILENCE;
        for sample in frame.iter_mut() {
            *sample = music[self.music_pos];
            self.music_pos = (self.music_pos + 1) % music.len();
        }
        Some(frame)
    }
}

#[derive(Debug, Default)]
struct Conference {
    mixer: Mixer,
    legs: Vec<CallId>,
    announcements: VecDeque<(Clip, Option<CallId>)>,
    announce_pos: usize,
}

impl Conference {
    fn announcement_frame(&mut self) -> Option<(Frame, Option<CallId>)> {
        let (clip, except) = self.announcements.front()?;
        let except = *except;
        let mut frame = SILENCE;
        let end = (self.announce_pos + FRAME_SAMPLES).min(clip.len());
        frame[..end - self.announce_pos].copy_from_slice(&clip[self.announce_pos..end]);
        self.announce_pos = end;
        if end >= clip.len() {
            self.announcements.pop_front();
            self.announce_pos = 0;
        }
        Some((frame, except))
    }
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
    /// Encoded shared mix per (codec, with announcement) for the conference being sent.
    shared: Vec<(Codec, bool, [u8; FRAME_SAMPLES])>,
    events: VecDeque<MediaEvent>,
    /// This tick's audio of recorded legs: (leg, what it said, what it heard).
    recorded: VecDeque<(CallId, Frame, Frame)>,
    /// Counters of legs already removed, so totals never go backwards.
    retired: LegStats,
}

/// Counters summed over every leg this group has had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaTotals {
    /// RTP packets accepted.
    pub received: u64,
    /// Datagrams dropped (malformed, RTCP on the RTP port, wrong source or payload type).
    pub dropped: u64,
    /// Packets lost on the way (sequence gaps).
    pub lost: u64,
    /// RTP packets sent.
    pub sent: u64,
}

fn add_stats(total: &mut MediaTotals, s: &LegStats) {
    let r = &s.receive;
    total.received += r.accepted;
    total.dropped += r.malformed + r.foreign_source + r.unknown_payload_type;
    total.lost += r.lost;
    total.sent += s.sent;
}

fn add_into(acc: &mut Frame, other: &Frame) {
    for (a, &b) in acc.iter_mut().zip(other.iter()) {
        *a = a.saturating_add(b);
    }
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
            events: VecDeque::new(),
            recorded: VecDeque::new(),
            retired: LegStats::default(),
        }
    }

    /// Counters over every leg, present and past. O(legs): call it now and then, not per
    /// packet.
    pub fn totals(&self) -> MediaTotals {
        let mut total = MediaTotals::default();
        add_stats(&mut total, &self.retired);
        for id in self.legs.keys() {
            if let Some(stats) = self.leg_stats(*id) {
                add_stats(&mut total, &stats);
            }
        }
        total
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
            far_end: leg.far_end,
        })
    }

    fn payload_types(params: &MediaParams) -> Vec<u8> {
        let mut pts = vec![params.payload_type];
        pts.extend(params.telephone_event);
        pts
    }

    /// Adds a call's media to a conference (created on first use). The leg hears only its
    /// own sounds until [`MediaCommand::Join`].
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
            keys: keys_for(&params),
            joined: false,
            muted: false,
            tone_hangover: 0,
            prompts: VecDeque::new(),
            prompt_pos: 0,
            music: None,
            music_pos: 0,
            recording: None,
            talking: false,
            voiced_run: 0,
            quiet_run: 0,
            recorded: false,
            last_input: SILENCE,
            patched_to: None,
            far_end: None,
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
            if params.telephone_event != leg.params.telephone_event {
                leg.keys = keys_for(&params);
            }
            leg.params = params;
        }
    }

    /// Removes a leg; an emptied conference is dropped.
    pub fn remove_leg(&mut self, id: CallId) {
        if let Some(stats) = self.leg_stats(id) {
            let r = &mut self.retired.receive;
            r.accepted += stats.receive.accepted;
            r.malformed += stats.receive.malformed;
            r.rtcp += stats.receive.rtcp;
            r.foreign_source += stats.receive.foreign_source;
            r.unknown_payload_type += stats.receive.unknown_payload_type;
            r.lost += stats.receive.lost;
            self.retired.sent += stats.sent;
        }
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

    /// Carries out an engine command.
    pub fn handle_command(&mut self, command: MediaCommand) {
        if let MediaCommand::Announce {
            conference,
            except,
            clips,
        } = command
        {
            if let Some(conf) = self.conferences.get_mut(&conference) {
                conf.announcements
                    .extend(clips.into_iter().map(|clip| (clip, except)));
            }
            return;
        }
        let Some(leg) = command.call().and_then(|id| self.legs.get_mut(&id)) else {
            return;
        };
        match command {
            MediaCommand::Join { muted, .. } => {
                leg.joined = true;
                leg.muted = muted;
            }
            MediaCommand::SetMuted { muted, .. } => leg.muted = muted,
            MediaCommand::Play { clip, id, .. } => leg.prompts.push_back((id, clip)),
            MediaCommand::StopPrompts { .. } => {
                leg.prompts.clear();
                leg.prompt_pos = 0;
            }
            MediaCommand::Music { clip, .. } => {
                leg.music = clip;
                leg.music_pos = 0;
            }
            MediaCommand::RecordName { max, .. } => {
                let max = (max.as_millis() as usize) * 8;
                leg.recording = Some(Recording {
                    samples: Vec::with_capacity(max),
                    max,
                    voiced: false,
                    quiet_frames: 0,
                });
            }
            MediaCommand::Record { .. } => leg.recorded = true,
            MediaCommand::Patch { to, .. } => leg.patched_to = to,
            MediaCommand::Announce { .. } => {}
        }
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next 20 ms of a recorded leg: (leg, what it said, what it heard).
    pub fn poll_recorded(&mut self) -> Option<(CallId, Frame, Frame)> {
        self.recorded.pop_front()
    }

    /// One datagram that arrived on a leg's socket. Bad packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, id: CallId, source: SocketAddr, data: &[u8]) {
        let _ = now;
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let packet = match leg.receiver.handle_packet(source, data) {
            Ok(packet) => packet,
            // RTCP muxed on the RTP port (RFC 5761) from the far end: read its report.
            Err(chorus_rtp::Drop::Rtcp) => {
                if let Some(report) =
                    chorus_rtp::rtcp::summarise(data, leg.sender.ssrc()).and_then(|s| s.report)
                {
                    leg.far_end = Some(report);
                }
                return;
            }
            Err(_) => return,
        };
        if let Keys::Events(pt, receiver) = &mut leg.keys
            && packet.payload_type == *pt
        {
            if let Some(event) = TelephoneEvent::parse(packet.payload)
                && let Some(digit) = receiver.handle(packet.timestamp, event.event, event.duration)
            {
                self.events.push_back(MediaEvent::Digit { call: id, digit });
            }
            return;
        }
        if packet.payload_type != leg.params.payload_type || !leg.params.remote_direction.sends() {
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
        // Early media heard this tick, by listener (a handful at most).
        let mut early: Vec<(CallId, Frame)> = Vec::new();
        for conf in self.conferences.values_mut() {
            early.clear();
            for id in &conf.legs {
                let Some(leg) = self.legs.get_mut(id) else {
                    continue;
                };
                let audio = leg.jitter.pop_frame(&mut frame);
                if leg.recorded {
                    leg.last_input = frame;
                }
                if let Some(to) = leg.patched_to {
                    early.push((to, frame));
                }
                if let Keys::Inband(detector) = &mut leg.keys {
                    let found = detector.process(&frame);
                    if let Some(digit) = found.digit {
                        self.events
                            .push_back(MediaEvent::Digit { call: *id, digit });
                    }
                    if found.tone {
                        leg.tone_hangover = TONE_HANGOVER_FRAMES;
                    } else {
                        leg.tone_hangover = leg.tone_hangover.saturating_sub(1);
                    }
                }
                if let Some(recording) = &mut leg.recording
                    && record_frame(recording, &frame)
                {
                    let mut samples = std::mem::take(&mut recording.samples);
                    let keep = samples
                        .len()
                        .saturating_sub(recording.quiet_frames.saturating_sub(5) * FRAME_SAMPLES);
                    samples.truncate(keep);
                    leg.recording = None;
                    self.events.push_back(MediaEvent::NameRecorded {
                        call: *id,
                        clip: samples.into(),
                    });
                }
                let speaking = leg.joined
                    && !leg.muted
                    && leg.tone_hangover == 0
                    && leg.params.remote_direction.sends();
                if leg.joined {
                    let voiced = speaking && frame_level(&frame) >= VOICE_LEVEL;
                    if voiced {
                        leg.voiced_run += 1;
                        leg.quiet_run = 0;
                    } else {
                        leg.quiet_run += 1;
                        leg.voiced_run = 0;
                    }
                    let talking = if leg.talking {
                        leg.quiet_run < TALK_STOP_FRAMES
                    } else {
                        leg.voiced_run >= TALK_START_FRAMES
                    };
                    if talking != leg.talking {
                        leg.talking = talking;
                        self.events
                            .push_back(MediaEvent::Talking { call: *id, talking });
                    }
                }
                if speaking && (audio || frame != SILENCE) {
                    conf.mixer.set_input(leg.member, &frame);
                }
            }
            conf.mixer.mix();
            let announcement = conf.announcement_frame();
            self.shared.clear();
            for id in &conf.legs {
                let Some(leg) = self.legs.get_mut(id) else {
                    continue;
                };
                if !leg.params.remote_direction.receives() {
                    leg.sender.skip();
                    continue;
                }
                let mut personal = leg.personal_frame(&mut self.events, *id);
                if let Some((_, heard)) = early.iter().find(|(to, _)| to == id) {
                    personal = Some(*heard);
                }
                let announced = match &announcement {
                    Some((a, except)) if leg.joined && *except != Some(*id) => Some(a),
                    _ => None,
                };
                let codec = leg.params.codec;
                let mut own = [0u8; FRAME_SAMPLES];
                let base = if leg.joined {
                    conf.mixer.output(leg.member)
                } else {
                    Output::Own(&SILENCE)
                };
                let payload: &[u8] = match (base, personal) {
                    (Output::Shared(mix), None) if !leg.recorded => {
                        // Listeners who did not speak hear the same mix: encode it once.
                        let with = announced.is_some();
                        let at = match self
                            .shared
                            .iter()
                            .position(|(c, w, _)| *c == codec && *w == with)
                        {
                            Some(at) => at,
                            None => {
                                let mut pcm = *mix;
                                if let Some(a) = announced {
                                    add_into(&mut pcm, a);
                                }
                                let mut encoded = [0u8; FRAME_SAMPLES];
                                chorus_codec::encode(codec, &pcm, &mut encoded);
                                self.shared.push((codec, with, encoded));
                                self.shared.len() - 1
                            }
                        };
                        &self.shared[at].2
                    }
                    (base, personal) => {
                        let mut pcm = *base.frame();
                        if let Some(a) = announced {
                            add_into(&mut pcm, a);
                        }
                        if let Some(p) = &personal {
                            add_into(&mut pcm, p);
                        }
                        if leg.recorded {
                            self.recorded.push_back((*id, leg.last_input, pcm));
                        }
                        chorus_codec::encode(codec, &pcm, &mut own);
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

/// Appends a frame; returns `true` when the recording is complete (full, or quiet for a
/// while after the caller spoke).
fn record_frame(recording: &mut Recording, frame: &Frame) -> bool {
    let level = frame
        .iter()
        .map(|&s| u32::from(s.unsigned_abs()))
        .sum::<u32>()
        / FRAME_SAMPLES as u32;
    if level >= VOICE_LEVEL {
        recording.voiced = true;
        recording.quiet_frames = 0;
    } else {
        recording.quiet_frames += 1;
    }
    let room = recording.max.saturating_sub(recording.samples.len());
    recording
        .samples
        .extend_from_slice(&frame[..room.min(FRAME_SAMPLES)]);
    recording.samples.len() >= recording.max
        || (recording.voiced && recording.quiet_frames >= NAME_TRAILING_QUIET)
}

#[cfg(test)]
mod tests;

/// Mean absolute sample value.
fn frame_level(frame: &Frame) -> u32 {
    frame
        .iter()
        .map(|&s| u32::from(s.unsigned_abs()))
        .sum::<u32>()
        / FRAME_SAMPLES as u32
}
