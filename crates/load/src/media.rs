//! What the callers send (pre-encoded speech for talkers, −60 dBFS noise for the others,
//! each packet with its RFC 6464 level) and what they measure of what comes back.

use chorus_codec::{Decoder, Encoder, OpusSettings, Resampler};
use chorus_types::{AudioRate, Codec, OpusFmtp};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One encoded 20 ms frame and the level its sender states.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) payload: Vec<u8>,
    pub(crate) level: u8,
}

/// RFC 6464 level (−dBov, 0–127) of a frame.
fn level_of(pcm: &[i16]) -> u8 {
    let power = pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64;
    let dbov = 10.0 * (power.max(1e-9) / (32768.0 * 32768.0)).log10();
    (-dbov).clamp(0.0, 127.0) as u8
}

/// Encodes `pcm` (at `rate`) into 20 ms frames.
pub(crate) fn encode(codec: Codec, rate: AudioRate, pcm: &[i16]) -> Vec<Frame> {
    let n = rate.frame_samples();
    let mut encoder =
        match Encoder::new(codec, rate, &OpusSettings::default(), &OpusFmtp::default()) {
            Ok(e) => e,
            Err(_) => return Vec::new(),
        };
    let mut out = Vec::new();
    for chunk in pcm.chunks_exact(n) {
        let mut payload = vec![0u8; chorus_codec::MAX_PAYLOAD];
        let len = encoder.encode(chunk, &mut payload);
        payload.truncate(len);
        out.push(Frame {
            payload,
            level: level_of(chunk),
        });
    }
    out
}

/// The speech clip (16 kHz WAV) at `rate`.
pub(crate) fn speech(path: &std::path::Path, rate: AudioRate) -> anyhow::Result<Vec<i16>> {
    let mut reader = hound::WavReader::open(path)?;
    anyhow::ensure!(
        reader.spec().sample_rate == 16_000,
        "the speech clip must be 16 kHz"
    );
    let wide: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap_or(0)).collect();
    if rate == AudioRate::Wide {
        return Ok(wide);
    }
    let mut resampler = Resampler::new(AudioRate::Wide, rate);
    let mut out = Vec::new();
    let mut frame = vec![0i16; rate.frame_samples()];
    for chunk in wide.chunks_exact(AudioRate::Wide.frame_samples()) {
        resampler.process(chunk, &mut frame);
        out.extend_from_slice(&frame);
    }
    Ok(out)
}

/// Ten seconds of white noise at about −60 dBFS.
pub(crate) fn noise(rate: AudioRate) -> Vec<i16> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    (0..rate.hz() as usize * 10)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed % 61) as i16) - 30
        })
        .collect()
}

/// One caller's media: its socket, what it sends, and what it has seen come back.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) socket: UdpSocket,
    pub(crate) to: SocketAddr,
    pub(crate) talker: bool,
    /// Offset into the frames it cycles through, so rooms do not all say the same word.
    pub(crate) offset: usize,
    pub(crate) ssrc: u32,
    /// Decodes what it hears, when sampled for the level.
    pub(crate) decoder: Option<Decoder>,
    pub(crate) received: u64,
    pub(crate) highest_seq: Option<u32>,
    pub(crate) first_seq: Option<u32>,
    pub(crate) last_arrival: Option<SystemTime>,
    pub(crate) gaps_ms: Vec<f32>,
    pub(crate) heard_power: f64,
    pub(crate) heard_samples: u64,
}

impl Leg {
    pub(crate) fn new(
        socket: UdpSocket,
        to: SocketAddr,
        talker: bool,
        n: usize,
        codec: Codec,
        sampled: bool,
    ) -> Leg {
        let rate = if codec == Codec::Opus {
            AudioRate::Full
        } else {
            codec.audio_rate()
        };
        Leg {
            socket,
            to,
            talker,
            offset: n * 37,
            ssrc: 0x4c00_0000 + n as u32,
            decoder: sampled.then(|| Decoder::new(codec, rate).ok()).flatten(),
            received: 0,
            highest_seq: None,
            first_seq: None,
            last_arrival: None,
            gaps_ms: Vec::new(),
            heard_power: 0.0,
            heard_samples: 0,
        }
    }

    /// Sends frame `tick` of what it says.
    pub(crate) fn send(&self, frames: &[Frame], tick: u64, payload_type: u8, samples: u32) {
        let Some(frame) = frames.get((tick as usize + self.offset) % frames.len().max(1)) else {
            return;
        };
        if frame.payload.is_empty() {
            return;
        }
        let mut packet = Vec::with_capacity(20 + frame.payload.len());
        packet.extend_from_slice(&[0x90, payload_type]);
        packet.extend_from_slice(&(tick as u16).to_be_bytes());
        packet.extend_from_slice(&((tick as u32).wrapping_mul(samples)).to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        let voice = if frame.level < 50 { 0x80 } else { 0 };
        packet.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, voice | frame.level, 0, 0]);
        packet.extend_from_slice(&frame.payload);
        let _ = self.socket.send_to(&packet, self.to);
    }

    /// Reads everything waiting; `measure` says whether the steady window has begun.
    /// Arrival times are the kernel's (SO_TIMESTAMPNS), so the pacing measured is the
    /// bridge's even when this tool runs late.
    pub(crate) fn drain(&mut self, buf: &mut [u8], cmsg: &mut [u8], measure: bool) {
        while let Some((len, stamp)) = recv_stamped(&self.socket, buf, cmsg) {
            let now = stamp.unwrap_or_else(SystemTime::now);
            let Some(packet) = buf.get(..len).filter(|p| p.len() >= 12 && p[0] >> 6 == 2) else {
                continue;
            };
            if packet[1] & 0x7f >= 72 && packet[1] & 0x7f <= 79 {
                continue; // RTCP muxed
            }
            if !measure {
                continue;
            }
            self.received += 1;
            let seq = u32::from(u16::from_be_bytes([packet[2], packet[3]]));
            // Sequence numbers unwrapped against the highest seen.
            let seq = match self.highest_seq {
                Some(high) => {
                    let delta = (seq as u16).wrapping_sub(high as u16) as i16;
                    (i64::from(high) + i64::from(delta)).max(0) as u32
                }
                None => seq + 65_536,
            };
            self.first_seq.get_or_insert(seq);
            // Pacing is the spacing of consecutive packets: a gap the sender meant (DTX,
            // a loss passed on) is not lateness.
            if let (Some(last), Some(high)) = (self.last_arrival, self.highest_seq)
                && seq == high + 1
            {
                let gap = now.duration_since(last).unwrap_or_default();
                self.gaps_ms.push(gap.as_secs_f32() * 1000.0);
            }
            self.highest_seq = Some(self.highest_seq.map_or(seq, |h| h.max(seq)));
            self.last_arrival = Some(now);
            let header = 12 + 4 * usize::from(packet[0] & 0x0f);
            let payload_start = if packet[0] & 0x10 != 0 && packet.len() >= header + 4 {
                let words =
                    usize::from(u16::from_be_bytes([packet[header + 2], packet[header + 3]]));
                header + 4 + 4 * words
            } else {
                header
            };
            if let (Some(decoder), Some(payload)) = (&mut self.decoder, packet.get(payload_start..))
            {
                let mut pcm = Vec::new();
                decoder.decode(payload, &mut pcm);
                self.heard_power += pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                self.heard_samples += pcm.len() as u64;
            }
        }
    }

    /// Packets the bridge sent in the window that never arrived.
    pub(crate) fn lost(&self) -> u64 {
        match (self.first_seq, self.highest_seq) {
            (Some(first), Some(high)) => {
                (u64::from(high - first) + 1).saturating_sub(self.received)
            }
            _ => 0,
        }
    }
}

/// Reads one datagram without blocking, with the kernel's receive time when it gave one.
fn recv_stamped(
    socket: &UdpSocket,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> Option<(usize, Option<SystemTime>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let stamp = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => Some(
                UNIX_EPOCH
                    + Duration::new(
                        u64::try_from(ts.tv_sec()).ok()?,
                        u32::try_from(ts.tv_nsec()).ok()?,
                    ),
            ),
            _ => None,
        })
    });
    Some((msg.bytes, stamp))
}
