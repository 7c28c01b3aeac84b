//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616 / RFC 8760 algorithms):
//! answering a 401/407 challenge with MD5 or SHA-256, and, as a server, challenging
//! callers and checking their credentials with stateless nonces.

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

    /// The algorithm a header names; `None` for one we do not support.
    fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
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
            "algorithm" => algorithm = Algorithm::parse(&value)?,
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

/// Digest credentials from an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Realm.
    pub realm: String,
    /// The nonce answered.
    pub nonce: String,
    /// The digest URI.
    pub uri: String,
    /// The response hash.
    pub response: String,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// `nc` and `cnonce` when `qop=auth` was used.
    pub qop_auth: Option<(String, String)>,
}

/// Parses `Authorization: Digest ...`; `None` for other schemes, unsupported algorithms or
/// missing fields.
pub fn parse_credentials(value: &str) -> Option<Credentials> {
    let (scheme, params) = value.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let (mut username, mut realm, mut nonce, mut uri, mut response) =
        (None, None, None, None, None);
    let (mut algorithm, mut qop, mut nc, mut cnonce) = (Algorithm::Md5, None, None, None);
    for (name, value) in split_params(params) {
        match name.to_ascii_lowercase().as_str() {
            "username" => username = Some(value),
            "realm" => realm = Some(value),
            "nonce" => nonce = Some(value),
            "uri" => uri = Some(value),
            "response" => response = Some(value),
            "qop" => qop = Some(value),
            "nc" => nc = Some(value),
            "cnonce" => cnonce = Some(value),
            "algorithm" => algorithm = Algorithm::parse(&value)?,
            _ => {}
        }
    }
    let qop_auth = match qop.as_deref() {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some((nc?, cnonce?)),
        Some(_) => return None,
    };
    Some(Credentials {
        username: username?,
        realm: realm?,
        nonce: nonce?,
        uri: uri?,
        response: response?,
        algorithm,
        qop_auth,
    })
}

impl Credentials {
    /// Whether the response proves knowledge of `password` for a request of `method`.
    /// Compared in constant time.
    pub fn verify(&self, password: &str, method: &str) -> bool {
        let a = self.algorithm;
        let ha1 = a.hash(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = a.hash(&format!("{method}:{}", self.uri));
        let expected = match &self.qop_auth {
            Some((nc, cnonce)) => a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce)),
            None => a.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
        };
        let given = self.response.to_ascii_lowercase();
        bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// A `WWW-Authenticate` value offering `algorithm` with `qop=auth`.
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm) -> String {
    format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
        algorithm.name()
    )
}

/// A stateless nonce: when it was issued (seconds on the server's clock) and a keyed hash
/// of that, so the server can check it without remembering it.
pub fn make_nonce(secret: &str, issued: u64) -> String {
    let mac = Algorithm::Sha256.hash(&format!("{secret}:{issued}"));
    format!("{issued:x}-{}", &mac[..32])
}

/// When a nonce made by [`make_nonce`] with `secret` was issued; `None` if it is not one.
pub fn nonce_issued(secret: &str, nonce: &str) -> Option<u64> {
    let (issued, _) = nonce.split_once('-')?;
    let issued = u64::from_str_radix(issued, 16).ok()?;
    let expected = make_nonce(secret, issued);
    bool::from(expected.as_bytes().ct_eq(nonce.as_bytes())).then_some(issued)
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

    #[test]
    fn server_side_round_trip() {
        let nonce = make_nonce("secret", 42);
        assert_eq!(nonce_issued("secret", &nonce), Some(42));
        assert_eq!(nonce_issued("other", &nonce), None);
        assert_eq!(nonce_issued("secret", "2a-00"), None);
        for algorithm in [Algorithm::Sha256, Algorithm::Md5] {
            let offered = parse_challenge(&challenge("chorus", &nonce, algorithm)).expect("ours");
            assert_eq!(offered.algorithm, algorithm);
            let header = authorization(&offered, "alice", "pw", "INVITE", "sip:500@h", "cn", 1);
            let creds = parse_credentials(&header).expect("credentials");
            assert_eq!(creds.username, "alice");
            assert!(creds.verify("pw", "INVITE"));
            assert!(!creds.verify("pw2", "INVITE"));
            assert!(!creds.verify("pw", "BYE"));
        }
        assert!(parse_credentials("Basic YWxhZGRpbjpvcGVuc2VzYW1l").is_none());
        assert!(parse_credentials("Digest username=\"a\"").is_none());
    }
}
