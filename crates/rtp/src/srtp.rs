//! SRTP and SRTCP (RFC 3711) with the AES-CM/HMAC-SHA1 profiles of RFC 4568 and
//! AEAD_AES_128_GCM (RFC 7714), keyed by SDES: one [`SrtpContext`] per direction of a leg,
//! built from that direction's master key.
//!
//! Receiving checks before it trusts: the replay window (RFC 3711 §3.3.2) and the
//! authentication tag, compared in constant time, come before anything is decrypted or any
//! state moves, so a forged or replayed packet changes nothing and is reported as such.
//! The primitives are RustCrypto's (`aes`, `ctr`, `hmac`, `sha1`, `aes-gcm`); the protocol
//! around them is here, sans-IO, checked against RFC 3711's test vectors.

use aes::Aes128;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use ctr::cipher::{InnerIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::fmt;

type HmacSha1 = Hmac<Sha1>;
type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// AES-128 in counter mode from an expanded key, without expanding it again.
fn aes_ctr(cipher: &Aes128, iv: [u8; 16]) -> Aes128Ctr {
    Aes128Ctr::from_core(ctr::CtrCore::inner_iv_init(cipher.clone(), &iv.into()))
}

/// The protection profiles we speak, by their SDES names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag on SRTP (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
    /// AES-128 in Galois/counter mode (RFC 7714), 128-bit tag.
    AeadAes128Gcm,
}

impl SrtpProfile {
    /// Every profile, in no particular order: the offer's order decides.
    pub const ALL: [SrtpProfile; 3] = [
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AesCm128HmacSha1_80,
        SrtpProfile::AesCm128HmacSha1_32,
    ];

    /// The crypto-suite name in `a=crypto` (RFC 4568 §6.2, RFC 7714 §14.2).
    pub fn name(self) -> &'static str {
        match self {
            SrtpProfile::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpProfile::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpProfile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The profile a crypto-suite name stands for, if we speak it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Bytes of master key followed by master salt in the key parameter.
    pub fn key_material_len(self) -> usize {
        KEY_LEN + self.salt_len()
    }

    fn salt_len(self) -> usize {
        match self {
            SrtpProfile::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    /// Bytes an SRTP packet grows by.
    pub fn rtp_overhead(self) -> usize {
        match self {
            SrtpProfile::AesCm128HmacSha1_80 => 10,
            SrtpProfile::AesCm128HmacSha1_32 => 4,
            SrtpProfile::AeadAes128Gcm => 16,
        }
    }

    /// Bytes an SRTCP packet grows by: the index and the tag.
    pub fn rtcp_overhead(self) -> usize {
        4 + match self {
            SrtpProfile::AeadAes128Gcm => 16,
            _ => 10,
        }
    }
}

const KEY_LEN: usize = 16;
const MAX_SALT: usize = 14;

/// A master key and salt for one direction. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    profile: SrtpProfile,
    material: [u8; KEY_LEN + MAX_SALT],
}

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKey")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl SrtpKey {
    /// The key from its material (master key then master salt), if the length fits the
    /// profile.
    pub fn new(profile: SrtpProfile, material: &[u8]) -> Option<Self> {
        if material.len() != profile.key_material_len() {
            return None;
        }
        let mut key = SrtpKey {
            profile,
            material: [0; KEY_LEN + MAX_SALT],
        };
        key.material[..material.len()].copy_from_slice(material);
        Some(key)
    }

    /// The profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Master key then master salt, as `a=crypto` carries them.
    pub fn material(&self) -> &[u8] {
        &self.material[..self.profile.key_material_len()]
    }

    fn master_key(&self) -> [u8; KEY_LEN] {
        let mut key = [0; KEY_LEN];
        key.copy_from_slice(&self.material[..KEY_LEN]);
        key
    }

    /// The master salt, padded with zeros to 112 bits (RFC 7714 §11 for the 96-bit one).
    fn master_salt(&self) -> [u8; MAX_SALT] {
        let mut salt = [0; MAX_SALT];
        let len = self.profile.salt_len();
        salt[..len].copy_from_slice(&self.material[KEY_LEN..KEY_LEN + len]);
        salt
    }
}

/// Why a packet was not protected or not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Too short for its header and tag, or not RTP/RTCP at all.
    Malformed,
    /// The tag did not match: forged, damaged, or under another key.
    AuthFailed,
    /// Seen before, or older than the replay window.
    Replayed,
}

impl fmt::Display for SrtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SrtpError::Malformed => "malformed SRTP packet",
            SrtpError::AuthFailed => "SRTP authentication failed",
            SrtpError::Replayed => "SRTP packet replayed",
        })
    }
}

impl std::error::Error for SrtpError {}

/// The keys of one of SRTP or SRTCP, derived from the master key (RFC 3711 §4.3, KDR 0).
#[derive(Clone)]
enum SessionKeys {
    Cm {
        cipher: Aes128,
        salt: [u8; 14],
        auth: HmacSha1,
    },
    Gcm {
        cipher: Aes128Gcm,
        salt: [u8; 12],
    },
}

/// RFC 3711 §4.3.1 with a key derivation rate of 0: AES-CM keyed by the master key over
/// (master salt XOR label at byte 7) × 2^16.
fn derive(master: &Aes128, salt: &[u8; MAX_SALT], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..MAX_SALT].copy_from_slice(salt);
    iv[7] ^= label;
    out.fill(0);
    aes_ctr(master, iv).apply_keystream(out);
}

impl SessionKeys {
    /// Labels 0, 1, 2 for SRTP; 3, 4, 5 for SRTCP.
    fn derive(key: &SrtpKey, first_label: u8) -> Self {
        let master = Aes128::new(&key.master_key().into());
        let salt = key.master_salt();
        let mut cipher_key = [0u8; KEY_LEN];
        derive(&master, &salt, first_label, &mut cipher_key);
        match key.profile {
            SrtpProfile::AeadAes128Gcm => {
                let mut session_salt = [0u8; 12];
                derive(&master, &salt, first_label + 2, &mut session_salt);
                SessionKeys::Gcm {
                    cipher: Aes128Gcm::new(&cipher_key.into()),
                    salt: session_salt,
                }
            }
            _ => {
                let mut session_salt = [0u8; 14];
                derive(&master, &salt, first_label + 2, &mut session_salt);
                // HMAC pads its key with zeros to the block (64 bytes): the 160-bit
                // session key is given already padded, which needs no fallible call.
                let mut auth_key = [0u8; 64];
                derive(&master, &salt, first_label + 1, &mut auth_key[..20]);
                SessionKeys::Cm {
                    cipher: Aes128::new(&cipher_key.into()),
                    salt: session_salt,
                    auth: <HmacSha1 as KeyInit>::new(&auth_key.into()),
                }
            }
        }
    }

    /// AES-CM over `data` with IV = salt·2^16 ⊕ ssrc·2^64 ⊕ index·2^16 (RFC 3711 §4.1.1).
    fn cm_apply(cipher: &Aes128, salt: &[u8; 14], ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        aes_ctr(cipher, iv).apply_keystream(data);
    }

    /// The full HMAC-SHA1 of `parts`.
    fn mac(auth: &HmacSha1, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = auth.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// 12-byte GCM IV: salt ⊕ (0 0 ‖ ssrc ‖ a ‖ b) (RFC 7714 §8.1, §9.1).
fn gcm_nonce(salt: &[u8; 12], ssrc: u32, high: u32, low: u16) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..10].copy_from_slice(&high.to_be_bytes());
    iv[10..12].copy_from_slice(&low.to_be_bytes());
    for (v, s) in iv.iter_mut().zip(salt) {
        *v ^= s;
    }
    iv.into()
}

/// Constant-time comparison of tags.
fn tags_match(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Packets a replay window remembers behind the newest (RFC 3711 suggests at least 64).
const REPLAY_WINDOW: u64 = 128;
/// Streams (SSRCs) one context follows; past this the least recently heard is forgotten.
const MAX_STREAMS: usize = 8;

/// What one SSRC's packets have shown so far.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// The highest index accepted (48 bits for SRTP, 31 for SRTCP).
    highest: u64,
    /// Bit i: `highest - i` was accepted.
    seen: u128,
    last_used: u64,
}

impl Stream {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        if index > self.highest {
            return Ok(());
        }
        let behind = self.highest - index;
        if behind >= REPLAY_WINDOW || self.seen & (1u128 << behind) != 0 {
            return Err(SrtpError::Replayed);
        }
        Ok(())
    }

    fn accept(&mut self, index: u64) {
        if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.highest = index;
        } else if self.highest - index < REPLAY_WINDOW {
            self.seen |= 1u128 << (self.highest - index);
        }
    }

    /// The 48-bit index of `seq` (RFC 3711 §3.3.1, Appendix A); a stream's first packet
    /// has rollover count 0.
    fn guess_index(&self, seq: u16) -> u64 {
        if self.seen == 0 {
            return u64::from(seq);
        }
        let roc = self.highest >> 16;
        let s_l = (self.highest & 0xffff) as u16;
        let v = if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        ((v & 0xffff_ffff) << 16) | u64::from(seq)
    }
}

/// A bounded table of streams by SSRC.
#[derive(Debug, Clone, Default)]
struct Streams {
    streams: Vec<Stream>,
    clock: u64,
}

impl Streams {
    /// The stream of `ssrc`, or a fresh one (not yet stored) for a first packet.
    fn get(&self, ssrc: u32) -> Stream {
        self.streams
            .iter()
            .find(|s| s.ssrc == ssrc)
            .copied()
            .unwrap_or(Stream {
                ssrc,
                highest: 0,
                seen: 0,
                last_used: 0,
            })
    }

    /// Stores `stream` after an authentic packet.
    fn put(&mut self, mut stream: Stream) {
        self.clock += 1;
        stream.last_used = self.clock;
        if let Some(slot) = self.streams.iter_mut().find(|s| s.ssrc == stream.ssrc) {
            *slot = stream;
            return;
        }
        if self.streams.len() >= MAX_STREAMS
            && let Some(oldest) = self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(i, _)| i)
        {
            self.streams.swap_remove(oldest);
        }
        self.streams.push(stream);
    }
}

/// SRTP and SRTCP for one direction of one leg: the sender's context protects what we
/// send, the receiver's unprotects what the far end sends.
#[derive(Clone)]
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    /// Received SRTP streams; for a sender, its own streams' rollover counts.
    rtp_streams: Streams,
    rtcp_streams: Streams,
    /// The next SRTCP index we send (31 bits).
    srtcp_index: u32,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// RTP header length (fixed part, CSRCs, extension), if the packet holds it.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let words = packet.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    (len <= packet.len()).then_some(len)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl SrtpContext {
    /// A context for one direction, keyed by its master key.
    pub fn new(key: &SrtpKey) -> Self {
        SrtpContext {
            profile: key.profile,
            rtp: SessionKeys::derive(key, 0),
            rtcp: SessionKeys::derive(key, 3),
            rtp_streams: Streams::default(),
            rtcp_streams: Streams::default(),
            srtcp_index: 0,
        }
    }

    /// The profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Encrypts the RTP packet at `buf[start..]` in place and appends its tag.
    pub fn protect_rtp(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<(), SrtpError> {
        let packet = buf.get(start..).ok_or(SrtpError::Malformed)?;
        let header = rtp_header_len(packet).ok_or(SrtpError::Malformed)?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = be32(&packet[8..12]);
        let mut stream = self.rtp_streams.get(ssrc);
        let index = stream.guess_index(seq);
        let roc = (index >> 16) as u32;
        match &self.rtp {
            SessionKeys::Cm { cipher, salt, auth } => {
                SessionKeys::cm_apply(cipher, salt, ssrc, index, &mut buf[start + header..]);
                let tag = SessionKeys::mac(auth, &[&buf[start..], &roc.to_be_bytes()]);
                buf.extend_from_slice(&tag[..self.profile.rtp_overhead()]);
            }
            SessionKeys::Gcm { cipher, salt } => {
                let nonce = gcm_nonce(salt, ssrc, roc, seq);
                let (head, body) = buf[start..].split_at_mut(header);
                let tag = cipher
                    .encrypt_inout_detached(&nonce, head, body.into())
                    .map_err(|_| SrtpError::Malformed)?;
                buf.extend_from_slice(&tag);
            }
        }
        stream.accept(index);
        self.rtp_streams.put(stream);
        Ok(())
    }

    /// Checks and decrypts one SRTP packet into `out` (cleared first). Nothing changes
    /// unless it is authentic and new.
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        let tag_len = self.profile.rtp_overhead();
        let body_len = packet
            .len()
            .checked_sub(tag_len)
            .ok_or(SrtpError::Malformed)?;
        let (protected, tag) = packet.split_at(body_len);
        let header = rtp_header_len(protected).ok_or(SrtpError::Malformed)?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = be32(&packet[8..12]);
        let mut stream = self.rtp_streams.get(ssrc);
        let index = stream.guess_index(seq);
        if stream.seen != 0 {
            stream.check(index)?;
        }
        let roc = (index >> 16) as u32;
        out.clear();
        out.extend_from_slice(protected);
        match &self.rtp {
            SessionKeys::Cm { cipher, salt, auth } => {
                let expected = SessionKeys::mac(auth, &[protected, &roc.to_be_bytes()]);
                if !tags_match(&expected[..tag_len], tag) {
                    return Err(SrtpError::AuthFailed);
                }
                SessionKeys::cm_apply(cipher, salt, ssrc, index, &mut out[header..]);
            }
            SessionKeys::Gcm { cipher, salt } => {
                let nonce = gcm_nonce(salt, ssrc, roc, seq);
                let tag = Tag::try_from(tag).map_err(|_| SrtpError::Malformed)?;
                let (head, body) = out.split_at_mut(header);
                cipher
                    .decrypt_inout_detached(&nonce, head, body.into(), &tag)
                    .map_err(|_| SrtpError::AuthFailed)?;
            }
        }
        stream.accept(index);
        self.rtp_streams.put(stream);
        Ok(())
    }

    /// Encrypts the RTCP compound packet at `buf[start..]` in place and appends the
    /// E flag with its SRTCP index, and the tag.
    pub fn protect_rtcp(&mut self, buf: &mut Vec<u8>, start: usize) -> Result<(), SrtpError> {
        let packet = buf.get(start..).ok_or(SrtpError::Malformed)?;
        if packet.len() < 8 {
            return Err(SrtpError::Malformed);
        }
        let ssrc = be32(&packet[4..8]);
        let index = self.srtcp_index;
        self.srtcp_index = (self.srtcp_index + 1) & 0x7fff_ffff;
        let e_index = (index | 0x8000_0000).to_be_bytes();
        match &self.rtcp {
            SessionKeys::Cm { cipher, salt, auth } => {
                SessionKeys::cm_apply(cipher, salt, ssrc, u64::from(index), &mut buf[start + 8..]);
                buf.extend_from_slice(&e_index);
                let tag = SessionKeys::mac(auth, &[&buf[start..]]);
                buf.extend_from_slice(&tag[..10]);
            }
            SessionKeys::Gcm { cipher, salt } => {
                let nonce = gcm_nonce(salt, ssrc, 0, 0);
                let nonce = srtcp_gcm_nonce(nonce, index);
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[start..start + 8]);
                aad[8..].copy_from_slice(&e_index);
                let tag = cipher
                    .encrypt_inout_detached(&nonce, &aad, (&mut buf[start + 8..]).into())
                    .map_err(|_| SrtpError::Malformed)?;
                buf.extend_from_slice(&tag);
                buf.extend_from_slice(&e_index);
            }
        }
        Ok(())
    }

    /// Checks and decrypts one SRTCP packet into `out` (cleared first).
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        let overhead = self.profile.rtcp_overhead();
        if packet.len() < 8 + overhead {
            return Err(SrtpError::Malformed);
        }
        let ssrc = be32(&packet[4..8]);
        let mut stream = self.rtcp_streams.get(ssrc);
        out.clear();
        let index = match &self.rtcp {
            SessionKeys::Cm { cipher, salt, auth } => {
                let (authenticated, tag) = packet.split_at(packet.len() - 10);
                let e_index = be32(&authenticated[authenticated.len() - 4..]);
                let index = e_index & 0x7fff_ffff;
                if stream.seen != 0 {
                    stream.check(u64::from(index))?;
                }
                let expected = SessionKeys::mac(auth, &[authenticated]);
                if !tags_match(&expected[..10], tag) {
                    return Err(SrtpError::AuthFailed);
                }
                out.extend_from_slice(&authenticated[..authenticated.len() - 4]);
                if e_index & 0x8000_0000 != 0 {
                    SessionKeys::cm_apply(cipher, salt, ssrc, u64::from(index), &mut out[8..]);
                }
                index
            }
            SessionKeys::Gcm { cipher, salt } => {
                let e_index_at = packet.len() - 4;
                let e_index = be32(&packet[e_index_at..]);
                if e_index & 0x8000_0000 == 0 {
                    // RFC 7714 §9.2's authenticate-only SRTCP: nobody sends it; refuse.
                    return Err(SrtpError::Malformed);
                }
                let index = e_index & 0x7fff_ffff;
                if stream.seen != 0 {
                    stream.check(u64::from(index))?;
                }
                let tag_at = e_index_at - 16;
                let tag =
                    Tag::try_from(&packet[tag_at..e_index_at]).map_err(|_| SrtpError::Malformed)?;
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&packet[..8]);
                aad[8..].copy_from_slice(&packet[e_index_at..]);
                out.extend_from_slice(&packet[..tag_at]);
                let nonce = srtcp_gcm_nonce(gcm_nonce(salt, ssrc, 0, 0), index);
                cipher
                    .decrypt_inout_detached(&nonce, &aad, (&mut out[8..]).into(), &tag)
                    .map_err(|_| SrtpError::AuthFailed)?;
                index
            }
        };
        stream.accept(u64::from(index));
        self.rtcp_streams.put(stream);
        Ok(())
    }
}

/// The SRTCP IV of RFC 7714 §9.1: salt ⊕ (0 0 ‖ ssrc ‖ 0 0 ‖ 0 ‖ 31-bit index); `base`
/// already holds salt ⊕ (0 0 ‖ ssrc ‖ 0…).
fn srtcp_gcm_nonce(
    base: Nonce<aes_gcm::aead::consts::U12>,
    index: u32,
) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut iv: [u8; 12] = base.into();
    for (v, b) in iv[8..].iter_mut().zip(index.to_be_bytes()) {
        *v ^= b;
    }
    iv.into()
}

#[cfg(test)]
mod tests;
