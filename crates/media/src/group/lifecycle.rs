//! Legs coming, changing and going: their codec chains, the conference's bus rate, and
//! the liveness check that reports legs gone silent.

use super::tick::{rtcp_route, sender_stats};
use super::*;
use chorus_codec::OpusSettings;
use chorus_rtp::JitterConfig;

impl MediaGroup {
    pub(super) fn payload_types(params: &MediaParams) -> Vec<u8> {
        let mut pts = vec![params.payload_type];
        pts.extend(params.telephone_event);
        pts
    }

    pub(super) fn jitter_for(&self, params: &MediaParams) -> JitterBuffer {
        JitterBuffer::new(JitterConfig {
            clock_rate: params.codec.clock_rate(),
            min_delay_ms: self.config.jitter_min_ms,
            max_delay_ms: self.config.jitter_max_ms,
        })
    }

    pub(super) fn audio_for(&self, params: &MediaParams) -> LegAudio {
        LegAudio::new(params.codec, params.opus, &self.config.opus)
            .or_else(|_| LegAudio::new(params.codec, OpusFmtp::default(), &OpusSettings::default()))
            .or_else(|_| LegAudio::new(Codec::Pcmu, OpusFmtp::default(), &OpusSettings::default()))
            .unwrap_or_else(|e| unreachable!("G.711 needs no set-up: {e}"))
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
            jitter: self.jitter_for(&params),
            sender: RtpSender::new(ssrc, params.payload_type, params.codec.clock_rate() / 50),
            audio: self.audio_for(&params),
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
            narrow: SILENCE,
            patched_to: None,
            audio_level: None,
            mark_next: false,
            gate: 0,
            rtcp: RtcpSession::new(
                self.epoch.0,
                self.epoch.1,
                ssrc,
                &format!("chorus-{ssrc:08x}@{conference}"),
            )
            .first_report_after(self.clock.poll_timeout()),
            heard_at: None,
            inactive: false,
            forwarded_from: None,
            forwarded: 0,
            srtp: params.srtp.as_ref().map(LegSrtp::new),
            input_gain: 1.0,
            output_gain: 1.0,
            deaf: false,
            voice: voice::Voice::default(),
            params,
        };
        self.legs.insert(id, leg);
    }

    /// Applies a re-INVITE's new media to a leg.
    pub fn update_leg(&mut self, id: CallId, params: MediaParams) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        let recode = leg.params.codec != params.codec || leg.params.opus != params.opus;
        let (jitter, audio) = if recode {
            (
                Some(self.jitter_for(&params)),
                Some(self.audio_for(&params)),
            )
        } else {
            (None, None)
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        leg.receiver
            .reannounce(params.remote, Self::payload_types(&params));
        leg.sender
            .set_format(params.payload_type, params.codec.clock_rate() / 50);
        if params.telephone_event != leg.params.telephone_event {
            leg.keys = keys_for(&params);
        }
        if let (Some(jitter), Some(audio)) = (jitter, audio) {
            leg.jitter = jitter;
            leg.audio = audio;
        }
        if params.srtp != leg.params.srtp {
            // New keys (or none): fresh contexts; the old counts stay with the leg.
            let counted = leg.srtp.as_ref().map(|s| (s.auth_failures, s.replayed));
            leg.srtp = params.srtp.as_ref().map(LegSrtp::new);
            if let (Some(srtp), Some((failures, replayed))) = (&mut leg.srtp, counted) {
                srtp.auth_failures = failures;
                srtp.replayed = replayed;
            }
        }
        leg.params = params;
        // A renegotiation is a sign of life (it is how a held phone refreshes).
        leg.heard_at = None;
        let conference = leg.conference.clone();
        if recode {
            self.retune(&conference);
        }
    }

    /// Sets a conference's bus to the highest rate its joined members need, and every
    /// leg's converters to match.
    pub(super) fn retune(&mut self, conference: &str) {
        let Some(conf) = self.conferences.get_mut(conference) else {
            return;
        };
        let rate = conf
            .legs
            .iter()
            .filter_map(|id| self.legs.get(id))
            .filter(|leg| leg.joined)
            .map(|leg| leg.audio.rate)
            .max()
            .unwrap_or(AudioRate::Narrow);
        let old = conf.mixer.rate();
        // What each leg on the old bus rate heard last, to continue it across the change.
        let mut heard: HashMap<CallId, Vec<i16>> = HashMap::new();
        if rate != old {
            for id in &conf.legs {
                if let Some(leg) = self.legs.get(id)
                    && leg.joined
                    && leg.audio.rate == old
                {
                    heard.insert(*id, conf.mixer.output(leg.member).frame().to_vec());
                }
            }
            tracing::info!(conference, rate = rate.hz(), "conference mixing rate");
            conf.mixer.set_rate(rate);
            conf.streams.clear();
            conf.announce_up =
                (rate != AudioRate::Narrow).then(|| Resampler::new(AudioRate::Narrow, rate));
        }
        for id in &conf.legs {
            if let Some(leg) = self.legs.get_mut(id) {
                leg.audio
                    .set_bus_rate(rate, heard.get(id).map(Vec::as_slice));
            }
        }
    }

    /// Reports legs whose far end has gone quiet for the media timeout.
    pub(super) fn check_liveness(&mut self, now: Instant) {
        let timeout = self.config.media_timeout;
        for (id, leg) in &mut self.legs {
            let heard = *leg.heard_at.get_or_insert(now);
            if !leg.inactive && now.saturating_duration_since(heard) >= timeout {
                leg.inactive = true;
                self.events.push_back(MediaEvent::Inactive { call: *id });
            }
        }
    }

    /// Moves a leg to another conference on this thread, its streams unbroken (same SSRC,
    /// sequence, SRTP contexts). It hears the new conference once joined there.
    pub fn move_leg(&mut self, id: CallId, to: &str) {
        if let Some(leg) = self.detach_leg(id) {
            self.attach_leg(id, leg, to);
        }
    }

    /// Takes a leg out, to attach it to a conference on another thread
    /// ([`MediaGroup::attach_leg`]); nothing is sent (its streams go on there).
    pub fn detach_leg(&mut self, id: CallId) -> Option<MovingLeg> {
        let mut leg = self.legs.remove(&id)?;
        self.leave_mix(id, &leg.conference, leg.member);
        leg.joined = false;
        leg.forwarded_from = None;
        leg.patched_to = None;
        Some(MovingLeg(Box::new(leg)))
    }

    /// Puts a leg taken out by [`MediaGroup::detach_leg`] into `to` (created on first
    /// use), not yet joined.
    pub fn attach_leg(&mut self, id: CallId, leg: MovingLeg, to: &str) {
        let mut leg = *leg.0;
        let conf = self.conferences.entry(to.to_owned()).or_default();
        leg.member = conf.mixer.add();
        leg.conference = to.to_owned();
        conf.legs.push(id);
        self.legs.insert(id, leg);
        self.retune(to);
    }

    /// Takes a leg's place in its conference's mix away; an emptied conference is dropped.
    fn leave_mix(&mut self, id: CallId, conference: &str, member: MemberId) {
        if let Some(conf) = self.conferences.get_mut(conference) {
            conf.mixer.remove(member);
            conf.legs.retain(|&l| l != id);
            if conf.legs.is_empty() {
                if conf.recording.is_some() {
                    self.mix_recorded.push_back((conference.to_owned(), None));
                }
                self.conferences.remove(conference);
            } else {
                self.retune(conference);
            }
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
            self.retired.decodes_skipped += stats.decodes_skipped;
            self.retired.srtp_auth_failures += stats.srtp_auth_failures;
            self.retired.srtp_replayed += stats.srtp_replayed;
        }
        let Some(mut leg) = self.legs.remove(&id) else {
            return;
        };
        // Goodbye in RTCP (RFC 3550 §6.6); the driver sends it before closing the sockets.
        let sent = sender_stats(&leg.sender);
        let jitter = leg.jitter.jitter();
        let start = self.out.len();
        self.out.resize(start + MAX_RTCP, 0);
        let n = leg.rtcp.write_bye(
            self.epoch.0.max(self.clock.poll_timeout()),
            sent,
            jitter,
            &mut self.out[start..],
        );
        self.out.truncate(start + n);
        let n = if n > 0 {
            seal(&mut leg.srtp, &mut self.out, start, true)
        } else {
            0
        };
        if n > 0 {
            let (to, own_port) = rtcp_route(&leg);
            self.queue.push_back((id, to, start..start + n, own_port));
        }
        self.leave_mix(id, &leg.conference, leg.member);
    }
}
