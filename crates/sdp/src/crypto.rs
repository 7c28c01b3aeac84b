//! SDES keys (RFC 4568): the `a=crypto` lines of one media section, read and written.
//! Which suites we speak and what the keys do is the RTP crate's business; this only
//! carries them, and never shows a key in `Debug`.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::fmt;

/// Phones disagree on padding; accept both, write it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Lines of one section we read at most: an offer listing more is not a phone's.
const MAX_CRYPTO_LINES: usize = 16;

/// One `a=crypto` line: its tag, suite name and master key with salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesCrypto {
    /// The tag the answer must echo.
    pub tag: u32,
    /// The crypto-suite name, as written.
    pub suite: String,
    /// Master key then master salt.
    pub key: Vec<u8>,
}

impl fmt::Debug for SdesCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdesCrypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SdesCrypto {
    /// Reads the value of one `a=crypto:` attribute. Lines we cannot use — several keys,
    /// an MKI (it would change the packet format), session parameters, a bad key — are
    /// `None`, and the offer's other lines are tried.
    fn parse(value: &str) -> Option<Self> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields.next()?.parse::<u32>().ok()?;
        let suite = fields.next()?.to_string();
        let key_params = fields.next()?;
        if fields.next().is_some() || key_params.contains(';') {
            return None;
        }
        let inline = key_params.strip_prefix("inline:")?;
        let mut parts = inline.split('|');
        let key = BASE64.decode(parts.next()?).ok()?;
        for part in parts {
            // A lifetime is fine (we rekey never and calls are short); an MKI is not.
            if part.contains(':') {
                return None;
            }
        }
        Some(SdesCrypto { tag, suite, key })
    }

    /// The attribute line, CRLF included.
    pub fn attribute(&self) -> String {
        format!(
            "a=crypto:{} {} inline:{}\r\n",
            self.tag,
            self.suite,
            BASE64.encode(&self.key)
        )
    }
}

/// The usable `a=crypto` lines of the `index`-th media section of `sdp`, in the offer's
/// order of preference.
pub(crate) fn crypto_lines(sdp: &str, index: usize) -> Vec<SdesCrypto> {
    let mut section: Option<usize> = None;
    let mut found = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            section = Some(section.map_or(0, |s| s + 1));
            continue;
        }
        if section != Some(index) {
            continue;
        }
        if let Some(value) = line.strip_prefix("a=crypto:")
            && let Some(crypto) = SdesCrypto::parse(value)
        {
            found.push(crypto);
            if found.len() >= MAX_CRYPTO_LINES {
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_from_their_own_section_and_unusable_ones_skipped() {
        let sdp = "v=0\r\nm=audio 1 RTP/SAVP 0\r\n\
            a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
            a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^20|1:4\r\n\
            a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd KDR=1\r\n\
            a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAEC\r\n\
            a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:!!!\r\n\
            a=crypto:6 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw\r\n\
            m=video 2 RTP/SAVP 31\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:AAEC\r\n";
        let found = crypto_lines(sdp, 0);
        assert_eq!(
            found.iter().map(|c| c.tag).collect::<Vec<_>>(),
            vec![1, 6],
            "MKI, session parameters, a bad tag and bad base64 are skipped"
        );
        assert_eq!(found[0].key, (0..30).collect::<Vec<u8>>());
        assert_eq!(found[1].key.len(), 28, "unpadded base64 is read");
        assert_eq!(crypto_lines(sdp, 1).len(), 1);
        let line = found[0].attribute();
        assert_eq!(
            line,
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
        );
        let shown = format!("{:?}", found[0]);
        assert!(!shown.contains("key") || !shown.contains("[0"), "{shown}");
    }
}
