//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616 / RFC 8760 algorithms):
//! answering a 401/407 challenge with MD5 or SHA-256.

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617).
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    fn hash(self, data: &str) -> String {
        let bytes = match self {
            Algorithm::Md5 => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }
}

/// A `WWW-Authenticate` or `Proxy-Authenticate` digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Realm.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Whether `qop=auth` is offered.
    pub qop_auth: bool,
    /// Opaque value to echo.
    pub opaque: Option<String>,
}

/// Parses a digest challenge; `None` for other schemes or unsupported algorithms.
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let rest = value.trim();
    let (scheme, params) = rest.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut realm = None;
    let mut nonce = None;
    let mut algorithm = Algorithm::Md5;
    let mut qop_auth = false;
    let mut opaque = None;
    for (name, value) in split_params(params) {
        match name.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "nonce" => nonce = Some(value),
            "opaque" => opaque = Some(value),
            "qop" => {
                qop_auth = value
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            }
            "algorithm" => {
                algorithm = match value.to_ascii_uppercase().as_str() {
                    "MD5" => Algorithm::Md5,
                    "SHA-256" => Algorithm::Sha256,
                    _ => return None,
                }
            }
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        nonce: nonce?,
        algorithm,
        qop_auth,
        opaque,
    })
}

/// `name=value` pairs, values unquoted, commas inside quotes respected.
fn split_params(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim(), &after[end..]),
                None => (after.trim(), ""),
            }
        };
        out.push((name.trim().to_owned(), value.to_owned()));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The credentials answering `challenge` for a request, as the header value of
/// `Authorization` (401) or `Proxy-Authorization` (407).
pub fn authorization(
    challenge: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nonce_count: u32,
) -> String {
    let a = challenge.algorithm;
    let ha1 = a.hash(&format!("{username}:{}:{password}", challenge.realm));
    let ha2 = a.hash(&format!("{method}:{uri}"));
    let nc = format!("{nonce_count:08x}");
    let response = if challenge.qop_auth {
        a.hash(&format!(
            "{ha1}:{}:{nc}:{cnonce}:auth:{ha2}",
            challenge.nonce
        ))
    } else {
        a.hash(&format!("{ha1}:{}:{ha2}", challenge.nonce))
    };
    let mut value = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        challenge.realm,
        challenge.nonce,
        a.name()
    );
    if challenge.qop_auth {
        value.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        let challenge = parse_challenge(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("challenge");
        assert!(challenge.qop_auth);
        let header = authorization(
            &challenge,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert!(
            header.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{header}"
        );
        assert!(header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(header.contains("nc=00000001"));
    }

    #[test]
    fn sha256_and_no_qop() {
        let challenge =
            parse_challenge("Digest realm=\"sip.example\", nonce=\"abc\", algorithm=SHA-256")
                .expect("challenge");
        assert_eq!(challenge.algorithm, Algorithm::Sha256);
        let header = authorization(&challenge, "u", "p", "INVITE", "sip:1@x", "c", 1);
        let ha1 = Algorithm::Sha256.hash("u:sip.example:p");
        let ha2 = Algorithm::Sha256.hash("INVITE:sip:1@x");
        let expected = Algorithm::Sha256.hash(&format!("{ha1}:abc:{ha2}"));
        assert!(header.contains(&expected));
        assert_eq!(expected.len(), 64);
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
        assert!(
            parse_challenge("Digest realm=\"x\", nonce=\"y\", algorithm=SHA-512-256").is_none()
        );
    }
}
