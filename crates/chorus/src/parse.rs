//! Parsers for the values of flags and config keys, each failing with a message that
//! names the key.

use crate::ConferenceSettings;
use anyhow::{Context, Result, bail};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Parses a comma-separated list of CIDRs (a bare address is one host).
pub(crate) fn networks(name: &str, text: &str) -> Result<Vec<ipnet::IpNet>> {
    text.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("{name}: {n:?} is not a network like 10.0.0.0/8"))
        })
        .collect()
}

/// Reads `user:password` lines (blank lines and `#` comments skipped).
pub(crate) fn digest_users(
    path: &std::path::Path,
    realm: String,
    algorithms: &str,
) -> Result<chorus_engine::DigestUsers> {
    let algorithms = algorithms
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| match a.to_ascii_lowercase().as_str() {
            "sha-256" => Ok(chorus_engine::DigestAlgorithm::Sha256),
            "md5" => Ok(chorus_engine::DigestAlgorithm::Md5),
            other => bail!("sip_auth_algorithms: {other:?} is not sha-256 or md5"),
        })
        .collect::<Result<Vec<_>>>()?;
    if algorithms.is_empty() {
        bail!("sip_auth_algorithms: name sha-256, md5 or both");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("sip_auth_file: reading {}", path.display()))?;
    let mut users = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                users.insert(user.to_owned(), password.to_owned());
            }
            // The line itself is not shown: it may hold a password.
            _ => bail!(
                "sip_auth_file: line {} of {} is not user:password",
                n + 1,
                path.display()
            ),
        }
    }
    if users.is_empty() {
        bail!("sip_auth_file: {} names no user", path.display());
    }
    Ok(chorus_engine::DigestUsers {
        realm,
        users,
        algorithms,
    })
}

/// Parses a comma-separated list of number prefixes.
pub(crate) fn prefixes(name: &str, text: &str) -> Result<Vec<String>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                Ok(p.to_owned())
            } else {
                bail!("{name}: {p:?} is not a digit prefix")
            }
        })
        .collect()
}

pub(crate) fn codec_list(text: &str) -> Result<Vec<chorus_types::Codec>> {
    let mut codecs = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let codec = chorus_types::Codec::from_config_name(name)
            .with_context(|| format!("codecs: unknown codec {name:?} (opus, g722, pcmu, pcma)"))?;
        if !codecs.contains(&codec) {
            codecs.push(codec);
        }
    }
    if codecs.is_empty() {
        bail!("codecs: name at least one of opus, g722, pcmu, pcma");
    }
    Ok(codecs)
}

pub(crate) fn parse_port_range(text: &str) -> Result<(u16, u16)> {
    let (first, last) = text
        .split_once('-')
        .context("rtp_ports must look like 20000-29999")?;
    let first: u16 = first.trim().parse().context("rtp_ports: bad first port")?;
    let last: u16 = last.trim().parse().context("rtp_ports: bad last port")?;
    if first == 0 || last <= first {
        bail!("rtp_ports: the range must be FIRST-LAST with 0 < FIRST < LAST");
    }
    Ok((first, last))
}

pub(crate) fn digit_range(text: &str) -> Result<std::ops::RangeInclusive<usize>> {
    let (min, max) = text
        .split_once('-')
        .and_then(|(a, b)| {
            Some((
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ))
        })
        .filter(|(a, b)| *a >= 1 && a <= b)
        .context("dialout_digits must look like 3-20")?;
    Ok(min..=max)
}

/// Builds the dial-out settings; the trunk must be reachable without DNS (an IP address
/// in the URI, or `dialout_proxy`).
pub(crate) fn dialout(
    uri: String,
    proxy: Option<SocketAddr>,
    transport: Option<String>,
    caller_id: String,
    credentials: Option<(String, String)>,
    ring_timeout: u64,
) -> Result<chorus_engine::DialOut> {
    if !uri.starts_with("sip:") || !uri.contains("{number}") {
        bail!("dialout_uri must be a sip: URI with {{number}}, e.g. sip:{{number}}@192.0.2.1:5060");
    }
    let transport = match transport
        .as_deref()
        .unwrap_or("udp")
        .to_ascii_lowercase()
        .as_str()
    {
        "udp" => chorus_engine::Transport::Udp,
        "tcp" => chorus_engine::Transport::Tcp,
        "tls" => chorus_engine::Transport::Tls,
        other => bail!("dialout_transport must be udp, tcp or tls, not {other}"),
    };
    let destination = match proxy {
        Some(proxy) => proxy,
        None => {
            let host_port = uri
                .split_once('@')
                .map_or(&uri["sip:".len()..], |(_, h)| h)
                .split([';', '?'])
                .next()
                .unwrap_or("");
            host_port
                .parse::<SocketAddr>()
                .or_else(|_| {
                    host_port
                        .parse::<IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 5060))
                })
                .with_context(|| {
                    format!(
                        "dialout_uri host {host_port:?} is not an IP address: set dialout_proxy"
                    )
                })?
        }
    };
    Ok(chorus_engine::DialOut {
        uri_template: uri,
        destination,
        transport,
        caller_id_template: caller_id,
        credentials,
        digits: 3..=20,
        ring_timeout: std::time::Duration::from_secs(ring_timeout.max(1)),
        max_per_conference: 3,
        max_total: 100,
        announce_recording: true,
        policy: chorus_engine::DialPolicy::default(),
    })
}

pub(crate) fn validate_extension(
    id: &str,
    settings: &ConferenceSettings,
    min_pin: usize,
) -> Result<()> {
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_id {
        bail!("extension {id:?}: ids are 1-64 characters of A-Z, a-z, 0-9, _ and -");
    }
    for (name, pin) in [
        ("pin", &settings.pin),
        ("moderator_pin", &settings.moderator_pin),
    ] {
        if let Some(pin) = pin
            && (pin.len() < min_pin || pin.len() > 16 || !pin.bytes().all(|b| b.is_ascii_digit()))
        {
            bail!("extension {id}: {name} must be {min_pin}-16 digits");
        }
    }
    if settings.moderator_pin.is_some() && settings.pin.is_none() {
        bail!("extension {id}: moderator_pin may not be set without pin");
    }
    if settings.max_members == Some(0) {
        bail!("extension {id}: max_members must be at least 1");
    }
    Ok(())
}

/// The conference factory's settings. The factory user must be a plain SIP user part
/// that no temporary conference id can take (ids start with `t-`).
pub(crate) fn adhoc(
    factory: Option<String>,
    linger: Option<u64>,
    max: Option<usize>,
) -> Result<chorus_engine::AdhocConfig> {
    let defaults = chorus_engine::AdhocConfig::default();
    let factory = match factory {
        None => defaults.factory,
        Some(user) if user.is_empty() => None,
        Some(user) => {
            let plain = user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c));
            if !plain || user.len() > 64 {
                bail!(
                    "adhoc_factory: {user:?} is not a SIP user part (letters, digits, -_.!~*'())"
                );
            }
            if user.starts_with(chorus_engine::TEMPORARY_PREFIX) {
                bail!(
                    "adhoc_factory: {user:?} may not start with the temporary conferences' t- prefix"
                );
            }
            Some(user)
        }
    };
    let linger = match linger {
        None => defaults.linger,
        Some(s) if s <= 3600 => std::time::Duration::from_secs(s),
        Some(_) => bail!("adhoc_linger: at most 3600 seconds"),
    };
    Ok(chorus_engine::AdhocConfig {
        factory,
        linger,
        max: max.unwrap_or(defaults.max),
        ..defaults
    })
}

/// Loopback and the network of the SIP listen address (a /24, or a /64 for IPv6), unless
/// it listens on every address or on loopback alone.
pub(crate) fn listen_networks(listen: SocketAddr) -> Vec<ipnet::IpNet> {
    let mut networks: Vec<ipnet::IpNet> = ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        let prefix = if ip.is_ipv4() { 24 } else { 64 };
        if let Ok(net) = ipnet::IpNet::new(ip, prefix) {
            networks.push(net.trunc());
        }
    }
    networks
}

/// The REST token: the flag or config key, else the file, else `CHORUS_API_TOKEN`.
pub(crate) fn api_token(given: Option<String>, file: Option<PathBuf>) -> Result<Option<String>> {
    let token = match (given, file) {
        (Some(token), _) => Some(token),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("api_token_file: reading {}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_owned();
            // An empty file must not leave the API open by accident.
            if token.is_empty() {
                bail!("api_token_file: {} holds no token", path.display());
            }
            Some(token)
        }
        (None, None) => std::env::var("CHORUS_API_TOKEN").ok(),
    };
    Ok(token.filter(|t| !t.is_empty()))
}

/// `--database`: `sqlite` (or unset) for the embedded store, else a PostgreSQL URL.
pub(crate) fn database(given: Option<String>) -> Result<Option<String>> {
    match given.as_deref().map(str::trim) {
        None | Some("" | "sqlite") => Ok(None),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Some(url.to_owned()))
        }
        // The value may hold a password: it is not repeated in the message.
        Some(_) => bail!("database must be sqlite or a postgres:// URL"),
    }
}
