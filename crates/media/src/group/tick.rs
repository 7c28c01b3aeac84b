//! One tick: every leg's input is pulled from its jitter buffer (decoded only where
//! someone needs it), every conference mixes once, and every leg is sent one packet: the
//! lone talker's own, the shared silence, a shared encoded mix, or its own encode.

use super::*;

impl MediaGroup {
    /// Runs a tick if one is due: every conference mixes once and every leg gets a packet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.clock.handle_timeout(now) {
            return;
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(LIVENESS_TICKS) {
            self.check_liveness(now);
        }
        self.out.clear();
        self.queue.clear();
        // Early media heard this tick, by listener (a handful at most).
        let mut early: Vec<(CallId, Frame)> = Vec::new();
        for (name, conf) in self.conferences.iter_mut() {
            early.clear();
            // Members on the bus this tick: how many, and the last one.
            let mut voices = 0;
            let mut voice = None;
            for id in &conf.legs {
                let Some(leg) = self.legs.get_mut(id) else {
                    continue;
                };
                let decoding = if leg.needs_narrow() {
                    Decoding::Everything
                } else if leg.joined
                    && !leg.muted
                    && leg.tone_hangover == 0
                    && leg.params.remote_direction.sends()
                {
                    if conf.unheard_talker == Some(*id) && leg.voice.may_defer() {
                        Decoding::Deferred
                    } else {
                        Decoding::Voiced
                    }
                } else {
                    Decoding::Nothing
                };
                let audio = leg.audio.pull(&mut leg.jitter, decoding);
                if leg.needs_narrow() {
                    leg.narrow = leg.audio.narrow_input();
                }
                if let Some(to) = leg.patched_to {
                    early.push((to, leg.narrow));
                }
                if let Keys::Inband(detector) = &mut leg.keys {
                    let found = detector.process(&leg.narrow);
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
                    && record_frame(recording, &leg.narrow)
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
                if speaking {
                    // Keys, names and recordings above took the untouched audio; the
                    // talking state, the gate and the mix below take the processed voice.
                    match leg.audio.deferred_level() {
                        Some(dbov) => leg.voice.observe(dbov),
                        None => leg
                            .voice
                            .process(&mut leg.audio.input, leg.audio.rate, audio),
                    }
                    if let Some((level, gain)) = leg.voice.gain_changed() {
                        tracing::info!(
                            call = id.0,
                            speech_level_dbfs = level,
                            gain_db = gain,
                            "gain control"
                        );
                    }
                }
                if leg.joined {
                    let voiced = speaking && leg.audio.level() >= VOICE_LEVEL;
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
                let level = leg.audio.level();
                if audio && level >= GATE_LEVEL {
                    leg.gate = GATE_HOLD_FRAMES;
                } else {
                    leg.gate = leg.gate.saturating_sub(1);
                }
                if speaking && leg.gate > 0 {
                    voices += 1;
                    voice = Some(*id);
                    // A kept packet joins the mix only if someone needs the mix.
                    if !leg.audio.is_deferred() {
                        let input = leg.audio.bus_input();
                        conf.mixer
                            .set_input(leg.member, gained(input, leg.input_gain, &mut self.gained));
                    }
                } else if leg.joined && !leg.audio.on_bus_rate() {
                    // Keep the converter's history continuous through silence.
                    leg.audio.clear_input();
                    let _ = leg.audio.bus_input();
                }
            }
            conf.forward_from = lone_talker(&self.legs, conf, voices, voice);
            let lone = voice.filter(|_| voices == 1);
            let announcement = conf.announcement_frame();
            if let Some((frame, _)) = &announcement {
                conf.announcement_at_bus_rate(frame);
            }
            let mix_needed = conf.recording.is_some()
                || conf.legs.iter().any(|id| {
                    self.legs.get(id).is_some_and(|leg| {
                        let announced = matches!(
                            &announcement,
                            Some((_, except)) if leg.joined && !leg.deaf && *except != Some(*id)
                        );
                        let disturbed = leg.has_personal() || early.iter().any(|(to, _)| to == id);
                        let path = listening(leg, *id, conf, disturbed, announced, voices, lone);
                        leg.params.remote_direction.receives() && path == Listening::Mix
                    })
                });
            if mix_needed {
                // Someone hears the mix after all: the talker's kept packet is decoded
                // (its decoder warmed on the one before) and joins it.
                for id in &conf.legs {
                    if let Some(leg) = self.legs.get_mut(id)
                        && leg.audio.is_deferred()
                    {
                        if let Some(before) = leg.audio.decode_deferred()
                            && before.len() == conf.previous_mix.len()
                        {
                            conf.previous_mix.copy_from_slice(before);
                        }
                        let input = leg.audio.bus_input();
                        conf.mixer
                            .set_input(leg.member, gained(input, leg.input_gain, &mut self.gained));
                    }
                }
            }
            conf.mixer.mix();
            if let Some(recorder) = &mut conf.recording {
                let frame = recorder.frame(conf.mixer.shared_mix(), conf.mixer.rate());
                self.mix_recorded.push_back((name.clone(), Some(frame)));
            }
            conf.unheard_talker = conf.forward_from.filter(|_| !mix_needed);
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
                let announced = matches!(
                    &announcement,
                    Some((_, except)) if leg.joined && !leg.deaf && *except != Some(*id)
                );
                let base = (leg.joined && !leg.deaf).then(|| conf.mixer.output(leg.member));
                let path = listening(leg, *id, conf, personal.is_some(), announced, voices, lone);
                let forward = match path {
                    Listening::Talker(talker) => Some(talker),
                    _ => None,
                };
                let hears_nobody = path == Listening::Nobody;
                if leg.forwarded_from != forward {
                    // A switch between the talker's stream and ours: a new talkspurt.
                    leg.mark_next = true;
                    leg.forwarded_from = forward;
                }
                let shareable = matches!(base, Some(Output::Shared(_)))
                    && personal.is_none()
                    && !leg.recorded
                    && leg.output_gain == 1.0
                    && leg.audio.on_bus_rate()
                    && leg.audio.codec != Codec::G722
                    && (announcement.is_none() || announced);
                let start = self.out.len();
                self.out.resize(start + MAX_OUT_PACKET, 0);
                let written = if forward.is_some() {
                    // Nothing decoded, mixed or encoded for it: the talker's own packet, or
                    // the same gap in the sequence its loss left, for the listener's own
                    // FEC or concealment.
                    self.forwarded += 1;
                    leg.forwarded += 1;
                    leg.audio.shared_last = true;
                    if conf.forward_lost {
                        leg.sender.pass_loss();
                        0
                    } else {
                        send(leg, &conf.forward, &mut self.out[start..])
                    }
                } else if hears_nobody
                    && let Some(at) = silence_for(&mut self.silence, &leg.audio, &self.config)
                {
                    self.silent_frames += 1;
                    leg.audio.shared_last = true;
                    send(leg, &self.silence[at].2, &mut self.out[start..])
                } else if shareable {
                    let (codec, fmtp) = (leg.audio.codec, leg.audio.fmtp);
                    let at = match conf.streams.iter().position(|s| {
                        s.codec == codec && s.fmtp == fmtp && s.announced == announced
                    }) {
                        Some(at) => at,
                        None => {
                            let Ok(encoder) =
                                Encoder::new(codec, leg.audio.rate, &self.config.opus, &fmtp)
                            else {
                                self.out.truncate(start);
                                continue;
                            };
                            conf.streams.push(SharedStream {
                                codec,
                                fmtp,
                                announced,
                                encoder,
                                payload: vec![0; chorus_codec::MAX_PAYLOAD],
                                len: 0,
                                tick: 0,
                            });
                            conf.streams.len() - 1
                        }
                    };
                    let stream = &mut conf.streams[at];
                    if stream.tick + 1 < self.ticks
                        && conf.previous_mix.len() == leg.audio.rate.frame_samples()
                    {
                        // Idle last tick (its listeners were forwarded a talker, or it is
                        // new): warm it on what they heard, so it does not start cold
                        // mid-word.
                        stream.encoder.reset();
                        let _ = stream
                            .encoder
                            .encode(&conf.previous_mix, &mut stream.payload);
                    }
                    if stream.tick != self.ticks {
                        // Listeners who did not speak hear the same mix: encode it once.
                        let mix = conf.mixer.output(leg.member).frame();
                        let len = if announced {
                            let pcm = with_announcement(&mut self.scratch, mix, &conf.announce_bus);
                            stream.encoder.encode(pcm, &mut stream.payload)
                        } else {
                            stream.encoder.encode(mix, &mut stream.payload)
                        };
                        stream.len = len;
                        stream.tick = self.ticks;
                    }
                    leg.audio.shared_last = true;
                    send(leg, &stream.payload[..stream.len], &mut self.out[start..])
                } else {
                    let bus = match base {
                        Some(output) if announced => Some(with_announcement(
                            &mut self.scratch,
                            output.frame(),
                            &conf.announce_bus,
                        )),
                        Some(output) => Some(output.frame()),
                        None => None,
                    };
                    let bus = bus.map(|frame| gained(frame, leg.output_gain, &mut self.gained));
                    if leg.audio.on_bus_rate() {
                        leg.audio.prime(&conf.previous_mix);
                    }
                    let len = leg.audio.render(bus, personal.as_ref());
                    if leg.recorded {
                        let heard = leg.audio.narrow_output();
                        self.recorded.push_back((*id, leg.narrow, heard));
                    }
                    let payload = std::mem::take(&mut leg.audio.payload);
                    let n = send(leg, &payload[..len], &mut self.out[start..]);
                    leg.audio.payload = payload;
                    n
                };
                self.out.truncate(start + written);
                let written = if written > 0 {
                    seal(&mut leg.srtp, &mut self.out, start, false)
                } else {
                    0
                };
                if written > 0 {
                    self.queue.push_back((
                        *id,
                        leg.receiver.send_to(),
                        start..start + written,
                        false,
                    ));
                }
                if now >= leg.rtcp.poll_timeout() {
                    let sent = sender_stats(&leg.sender);
                    let jitter = leg.jitter.jitter();
                    let start = self.out.len();
                    self.out.resize(start + MAX_RTCP, 0);
                    let n = leg
                        .rtcp
                        .write_report(now, sent, jitter, &mut self.out[start..]);
                    self.out.truncate(start + n);
                    let n = if n > 0 {
                        seal(&mut leg.srtp, &mut self.out, start, true)
                    } else {
                        0
                    };
                    if n > 0 {
                        let (to, own_port) = rtcp_route(leg);
                        self.queue.push_back((*id, to, start..start + n, own_port));
                    }
                }
            }
            conf.previous_mix.clear();
            conf.previous_mix.extend_from_slice(conf.mixer.shared_mix());
        }
    }
}

/// `frame` as it is, or times `gain` in `out` when the gain is not unity.
fn gained<'a>(frame: &'a [i16], gain: f32, out: &'a mut Vec<i16>) -> &'a [i16] {
    if gain == 1.0 {
        frame
    } else {
        scaled(frame, gain, out)
    }
}

/// What a listener hears this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listening {
    /// Exactly the lone talker's voice, in a codec it can take unchanged.
    Talker(CallId),
    /// Nobody (it is the lone talker, or nobody talks).
    Nobody,
    /// The mix, or its own sounds.
    Mix,
}

fn listening(
    leg: &Leg,
    id: CallId,
    conf: &Conference,
    disturbed: bool,
    announced: bool,
    voices: usize,
    lone: Option<CallId>,
) -> Listening {
    if leg.deaf && !disturbed {
        return Listening::Nobody;
    }
    let undisturbed = leg.joined
        && !disturbed
        && !leg.recorded
        && !announced
        && leg.output_gain == 1.0
        && leg.audio.codec != Codec::G722;
    let forward = conf.forward_from.filter(|talker| {
        *talker != id
            // A loss is passed on only to listeners already following the talker's
            // stream.
            && (!conf.forward_lost || leg.forwarded_from == Some(*talker))
            && undisturbed
            && leg.audio.on_bus_rate()
            && conf.forward_codec.0 == leg.audio.codec
            && (leg.audio.codec != Codec::Opus || conf.forward_codec.1 == leg.audio.fmtp)
    });
    match forward {
        Some(talker) => Listening::Talker(talker),
        None if undisturbed && (voices == 0 || lone == Some(id)) => Listening::Nobody,
        None => Listening::Mix,
    }
}

/// The member whose packet listeners may be sent unchanged this tick: the only voice on
/// the bus, or, while nobody is on it, the last such voice for as long as it sends whole
/// packets (its pauses then reach the listeners as it sent them, with no switch). Its
/// packet is copied into the conference.
fn lone_talker(
    legs: &HashMap<CallId, Leg>,
    conf: &mut Conference,
    voices: usize,
    voice: Option<CallId>,
) -> Option<CallId> {
    let candidate = match voices {
        1 => voice,
        0 => conf.forward_from,
        _ => None,
    }?;
    let leg = legs.get(&candidate)?;
    let eligible = (leg.audio.whole_packet || leg.audio.lost_packet)
        && leg.joined
        && !leg.muted
        && leg.tone_hangover == 0
        && leg.params.remote_direction.sends()
        && leg.audio.codec != Codec::G722
        // Its packet would not carry the gain the operator set, nor its voice processing.
        && leg.input_gain == 1.0
        && leg.voice.is_transparent()
        // Off the bus rate the mixed path adds its converters' delay: a switch between
        // the two would jump.
        && leg.audio.on_bus_rate();
    if !eligible {
        return None;
    }
    conf.forward_lost = !leg.audio.whole_packet;
    conf.forward.clear();
    conf.forward.extend_from_slice(&leg.audio.packet);
    conf.forward_codec = (leg.audio.codec, leg.audio.fmtp);
    Some(candidate)
}

/// Where in `silence` the encoded silence for this leg's codec and settings is, encoding
/// it on first use: an encoder fed zeros until it settles.
fn silence_for(
    silence: &mut Vec<(Codec, OpusFmtp, Vec<u8>)>,
    audio: &LegAudio,
    config: &MediaConfig,
) -> Option<usize> {
    if let Some(at) = silence
        .iter()
        .position(|(codec, fmtp, _)| *codec == audio.codec && *fmtp == audio.fmtp)
    {
        return Some(at);
    }
    let mut encoder = Encoder::new(audio.codec, audio.rate, &config.opus, &audio.fmtp).ok()?;
    let zeros = vec![0i16; audio.rate.frame_samples()];
    let mut payload = vec![0; chorus_codec::MAX_PAYLOAD];
    let mut len = 0;
    for _ in 0..10 {
        len = encoder.encode(&zeros, &mut payload);
    }
    payload.truncate(len);
    silence.push((audio.codec, audio.fmtp, payload));
    Some(silence.len() - 1)
}

/// `mix` with the conference's announcement added, in `scratch`.
fn with_announcement<'a>(
    scratch: &'a mut Vec<i16>,
    mix: &[i16],
    announcement: &[i16],
) -> &'a [i16] {
    scratch.clear();
    scratch.extend_from_slice(mix);
    add_into(scratch, announcement);
    scratch
}

/// What a leg's sender has sent, for its RTCP sender report.
pub(super) fn sender_stats(sender: &RtpSender) -> SenderStats {
    SenderStats {
        packets: sender.packets_sent(),
        octets: sender.octets_sent(),
        rtp_timestamp: sender.timestamp(),
    }
}

/// Where a leg's RTCP goes: muxed to the RTP destination, else to its RTCP address from
/// the RTCP socket.
pub(super) fn rtcp_route(leg: &Leg) -> (SocketAddr, bool) {
    if leg.params.rtcp_mux {
        (leg.receiver.send_to(), false)
    } else {
        (leg.params.remote_rtcp, true)
    }
}

/// Writes one RTP packet of `payload` for a leg into `out`; an empty payload (DTX) sends
/// nothing but keeps the timestamp running. Returns the bytes written.
fn send(leg: &mut Leg, payload: &[u8], out: &mut [u8]) -> usize {
    if payload.is_empty() {
        leg.sender.skip();
        leg.mark_next = true;
        return 0;
    }
    let marker = std::mem::take(&mut leg.mark_next);
    leg.sender.write(payload, marker, out)
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
