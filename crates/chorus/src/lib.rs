//! The `chorus` binary's settings: command-line flags and a TOML file with the same keys,
//! merged over the embedded defaults (SIP on 127.0.0.1:5060, REST on 127.0.0.1:8080,
//! data in `./data`, RTP on 20000–29999, conference extension 500).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod encryption;
mod parse;
mod sample;
pub mod sounds;

pub use sample::sample_config;

use anyhow::{Context, Result, bail};
use clap::Parser;
use parse::{
    codec_list, dialout, digest_users, digit_range, networks, parse_port_range, prefixes,
    validate_extension,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The extension provisioned when the configuration names none.
pub const DEFAULT_EXTENSION: &str = "500";

/// Command-line flags. Every flag may also be given in the `--config` file under the same
/// name with `_` for `-`.
#[derive(Debug, Parser, Default)]
#[command(
    name = "chorus",
    version,
    about = "SIP/RTP audio conference bridge",
    after_help = "Environment:\n  CHORUS_LOG        log filter (tracing syntax), e.g. `debug` or `info,chorus_engine=debug` [default: info]\n  CHORUS_API_TOKEN  the REST bearer token, when neither --api-token nor --api-token-file is given"
)]
pub struct Cli {
    /// SIP address, UDP and TCP [default: 127.0.0.1:5060].
    #[arg(long)]
    pub sip_listen: Option<SocketAddr>,
    /// REST API address [default: 127.0.0.1:8080].
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    /// Directory for the database, sounds and recordings [default: ./data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where settings and sounds live: `sqlite` (in the data directory) or a
    /// `postgres://user@host/db` URL shared by several nodes [default: sqlite].
    #[arg(long)]
    pub database: Option<String>,
    /// RTP port range, FIRST-LAST [default: 20000-29999].
    #[arg(long)]
    pub rtp_ports: Option<String>,
    /// Address written in SDP and bound for RTP [default: the SIP address, or 127.0.0.1].
    #[arg(long)]
    pub media_ip: Option<IpAddr>,
    /// Mixing threads [default: the number of cores].
    #[arg(long)]
    pub media_threads: Option<usize>,
    /// Run mixing threads at real-time priority (SCHED_FIFO 10), so that other work on a
    /// busy machine cannot delay a tick. Needs CAP_SYS_NICE or LimitRTPRIO=10 [default:
    /// false].
    #[arg(long)]
    pub realtime_media: Option<bool>,
    /// Ring this many milliseconds before answering [default: 0].
    #[arg(long)]
    pub answer_delay_ms: Option<u64>,
    /// Require `Authorization: Bearer TOKEN` on every REST request [default: none]. The
    /// command line is visible to every user of the machine: prefer --api-token-file or
    /// CHORUS_API_TOKEN.
    #[arg(long)]
    pub api_token: Option<String>,
    /// Read the REST bearer token from this file (its first line).
    #[arg(long)]
    pub api_token_file: Option<PathBuf>,
    /// Require the token for /docs/ and /openapi.json too [default: false].
    #[arg(long)]
    pub protect_docs: Option<bool>,
    /// Log lines as `text` or `json` (one object a line) [default: text].
    #[arg(long)]
    pub log_format: Option<String>,
    /// Highest `max_members` the REST API accepts [default: 1000].
    #[arg(long)]
    pub max_members_cap: Option<u32>,
    /// Where `*8` dials: a SIP URI with `{number}`, e.g. `sip:{number}@192.0.2.1:5060`
    /// [default: none, `*8` is off].
    #[arg(long)]
    pub dialout_uri: Option<String>,
    /// Send invitations to this IP:port instead of the URI's host [default: the URI's].
    #[arg(long)]
    pub dialout_proxy: Option<SocketAddr>,
    /// `udp` or `tcp` towards the trunk [default: udp].
    #[arg(long)]
    pub dialout_transport: Option<String>,
    /// The From URI of invitations, with `{extension}` [default:
    /// sip:conference-{extension}@ the SIP address].
    #[arg(long)]
    pub dialout_caller_id: Option<String>,
    /// Digest user name for the trunk's 401/407 challenges.
    #[arg(long)]
    pub dialout_username: Option<String>,
    /// Digest password for the trunk.
    #[arg(long)]
    pub dialout_password: Option<String>,
    /// Seconds an invited number may ring [default: 30].
    #[arg(long)]
    pub dialout_ring_timeout: Option<u64>,
    /// How many digits an invited number may have, MIN-MAX [default: 3-20].
    #[arg(long)]
    pub dialout_digits: Option<String>,
    /// Invitations ringing at once per conference [default: 3].
    #[arg(long)]
    pub dialout_max_per_conference: Option<usize>,
    /// Invitations ringing at once over the bridge [default: 100].
    #[arg(long)]
    pub dialout_max_total: Option<usize>,
    /// Tell recorded invited parties "this call is recorded" [default: true].
    #[arg(long)]
    pub record_announcement: Option<bool>,
    /// Codecs accepted and offered, most preferred first, from opus, g722, pcmu, pcma
    /// [default: opus,g722,pcmu,pcma].
    #[arg(long)]
    pub codecs: Option<String>,
    /// Opus encoder complexity, 0-10 [default: 10].
    #[arg(long)]
    pub opus_complexity: Option<u8>,
    /// Opus bitrate in bit/s, lowered to a phone's maxaveragebitrate [default: 64000].
    #[arg(long)]
    pub opus_bitrate: Option<u32>,
    /// Send Opus in-band FEC to phones that ask for it [default: true].
    #[arg(long)]
    pub opus_fec: Option<bool>,
    /// Opus DTX towards phones that ask for it [default: false].
    #[arg(long)]
    pub opus_dtx: Option<bool>,
    /// Loss the Opus FEC is planned for, in percent [default: 10].
    #[arg(long)]
    pub opus_expected_loss: Option<u8>,
    /// Least jitter-buffer delay in ms [default: 20].
    #[arg(long)]
    pub jitter_min_ms: Option<u32>,
    /// Most jitter-buffer delay in ms [default: 200].
    #[arg(long)]
    pub jitter_max_ms: Option<u32>,
    /// Hang up a leg that sends no RTP (and, on hold, no RTCP) for this many seconds
    /// [default: 30].
    #[arg(long)]
    pub media_timeout: Option<u64>,
    /// RFC 4028 session interval in seconds: the bridge refreshes (or expects refreshes)
    /// and hangs up a call whose refreshes stop; 0 uses timers only when a caller asks
    /// [default: 1800].
    #[arg(long)]
    pub session_expires: Option<u64>,
    /// Shortest PIN the REST API and the config file accept [default: 4].
    #[arg(long)]
    pub min_pin_digits: Option<usize>,
    /// Networks allowed to start calls, comma-separated CIDRs, e.g. 10.0.0.0/8,192.0.2.7/32
    /// [default: any].
    #[arg(long)]
    pub sip_trusted_networks: Option<String>,
    /// Proxies in front of the bridge (a cluster's Kamailio), comma-separated CIDRs: a call
    /// from one is judged (PIN guessing, refusals) by the caller's address the proxy states
    /// in X-Chorus-Source [default: none].
    #[arg(long)]
    pub sip_proxies: Option<String>,
    /// Require digest authentication of callers (for a bridge with no PBX in front): a
    /// file of `user:password` lines [default: none, no authentication].
    #[arg(long)]
    pub sip_auth_file: Option<PathBuf>,
    /// The realm of those challenges [default: chorus].
    #[arg(long)]
    pub sip_auth_realm: Option<String>,
    /// Digest algorithms offered, most preferred first, from sha-256 and md5
    /// [default: sha-256,md5].
    #[arg(long)]
    pub sip_auth_algorithms: Option<String>,
    /// What an INVITE for an unknown extension gets: `404`, or `answer` (a PIN prompt
    /// that no PIN passes, so scans learn nothing) [default: 404].
    #[arg(long)]
    pub unknown_extension: Option<String>,
    /// The Server and User-Agent header [default: chorus].
    #[arg(long)]
    pub server_header: Option<String>,
    /// Callers of one extension that may be waiting to get in (ringing, keying the PIN,
    /// saying their name); more get 486 [default: 20].
    #[arg(long)]
    pub max_pending_per_extension: Option<usize>,
    /// SIP TCP connections open at once; at most a quarter of the descriptor limit is
    /// used [default: 1000].
    #[arg(long)]
    pub sip_tcp_max_connections: Option<usize>,
    /// SIP TCP connections from one address [default: 32].
    #[arg(long)]
    pub sip_tcp_max_per_address: Option<usize>,
    /// Close a SIP TCP connection idle this many seconds [default: 1800].
    #[arg(long)]
    pub sip_tcp_idle_timeout: Option<u64>,
    /// Networks whose callers may use `*8`, comma-separated CIDRs [default: any].
    #[arg(long)]
    pub dialout_allowed_networks: Option<String>,
    /// Number prefixes `*8` may dial, comma-separated [default: any not denied].
    #[arg(long)]
    pub dialout_allow: Option<String>,
    /// Number prefixes `*8` may never dial, comma-separated; empty for none
    /// [default: 00,011].
    #[arg(long)]
    pub dialout_deny: Option<String>,
    /// Invitations per conference per hour [default: 20].
    #[arg(long)]
    pub dialout_max_per_conference_per_hour: Option<usize>,
    /// Invitations over the bridge per hour [default: 200].
    #[arg(long)]
    pub dialout_max_per_hour: Option<usize>,
    /// The conference factory: an INVITE to sip:USER@bridge creates a temporary
    /// conference whose caller moderates it; empty turns the factory off
    /// [default: conference].
    #[arg(long)]
    pub adhoc_factory: Option<String>,
    /// Seconds an empty temporary conference waits for callers before it is gone
    /// [default: 30].
    #[arg(long)]
    pub adhoc_linger: Option<u64>,
    /// Temporary conferences at once; more factory calls get 503 [default: 200].
    #[arg(long)]
    pub adhoc_max: Option<usize>,
    /// Networks a member's REFER may name directly (an address rather than a trunk
    /// number), comma-separated CIDRs [default: loopback and the SIP listen network].
    #[arg(long)]
    pub refer_direct_networks: Option<String>,
    /// SIP over TLS and SRTP.
    #[command(flatten)]
    pub encryption: encryption::EncryptionFlags,
    /// Several nodes, and draining.
    #[command(flatten)]
    pub cluster: cluster::ClusterFlags,
    /// Bring each talker towards one speech level, in conferences that do not set
    /// `auto_gain` [default: true].
    #[arg(long)]
    pub auto_gain: Option<bool>,
    /// Suppress the noise around each talker's voice, in conferences that do not set
    /// `noise_suppression` (about 0.15 ms of CPU per talker per tick) [default: false].
    #[arg(long)]
    pub noise_suppression: Option<bool>,
    /// A TOML file with the same keys, plus one `[extension.ID]` table per conference.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print a commented sample configuration file with every key and its default, then
    /// exit.
    #[arg(long)]
    pub print_config: bool,
}

/// One conference extension's properties, with the names the REST API uses.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConferenceSettings {
    /// Callers record their name, announced on entry.
    #[serde(default)]
    pub announce_caller_name: bool,
    /// Sound played when someone enters.
    pub enter_sound: Option<i64>,
    /// Most participants at once (100 when unset).
    pub max_members: Option<u32>,
    /// Participant PIN.
    pub pin: Option<String>,
    /// Moderator PIN.
    pub moderator_pin: Option<String>,
    /// Everyone but moderators enters muted.
    #[serde(default)]
    pub mute_non_moderator: bool,
    /// Music while alone.
    pub music_on_hold_sound: Option<i64>,
    /// Record invited participants.
    #[serde(default)]
    pub record_enabled: bool,
    /// Gain control on the talkers (unset: the bridge's default).
    pub auto_gain: Option<bool>,
    /// Noise suppression on the talkers (unset: the bridge's default).
    pub noise_suppression: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    sip_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    rtp_ports: Option<String>,
    media_ip: Option<IpAddr>,
    media_threads: Option<usize>,
    realtime_media: Option<bool>,
    answer_delay_ms: Option<u64>,
    api_token: Option<String>,
    api_token_file: Option<PathBuf>,
    protect_docs: Option<bool>,
    log_format: Option<String>,
    max_members_cap: Option<u32>,
    dialout_uri: Option<String>,
    dialout_proxy: Option<SocketAddr>,
    dialout_transport: Option<String>,
    dialout_caller_id: Option<String>,
    dialout_username: Option<String>,
    dialout_password: Option<String>,
    dialout_ring_timeout: Option<u64>,
    dialout_digits: Option<String>,
    dialout_max_per_conference: Option<usize>,
    dialout_max_total: Option<usize>,
    record_announcement: Option<bool>,
    codecs: Option<String>,
    opus_complexity: Option<u8>,
    opus_bitrate: Option<u32>,
    opus_fec: Option<bool>,
    opus_dtx: Option<bool>,
    opus_expected_loss: Option<u8>,
    jitter_min_ms: Option<u32>,
    jitter_max_ms: Option<u32>,
    media_timeout: Option<u64>,
    session_expires: Option<u64>,
    min_pin_digits: Option<usize>,
    sip_trusted_networks: Option<String>,
    sip_proxies: Option<String>,
    sip_auth_file: Option<PathBuf>,
    sip_auth_realm: Option<String>,
    sip_auth_algorithms: Option<String>,
    unknown_extension: Option<String>,
    server_header: Option<String>,
    max_pending_per_extension: Option<usize>,
    sip_tcp_max_connections: Option<usize>,
    sip_tcp_max_per_address: Option<usize>,
    sip_tcp_idle_timeout: Option<u64>,
    dialout_allowed_networks: Option<String>,
    dialout_allow: Option<String>,
    dialout_deny: Option<String>,
    dialout_max_per_conference_per_hour: Option<usize>,
    dialout_max_per_hour: Option<usize>,
    adhoc_factory: Option<String>,
    adhoc_linger: Option<u64>,
    adhoc_max: Option<usize>,
    refer_direct_networks: Option<String>,
    sip_tls_listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    dialout_ca: Option<PathBuf>,
    dialout_tls_name: Option<String>,
    srtp: Option<String>,
    srtp_allow_cleartext_keys: Option<bool>,
    auto_gain: Option<bool>,
    noise_suppression: Option<bool>,
    node_name: Option<String>,
    advertise_sip: Option<SocketAddr>,
    advertise_api: Option<String>,
    drain_timeout: Option<u64>,
    #[serde(default)]
    extension: BTreeMap<String, ConferenceSettings>,
}

/// Everything the bridge runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// SIP address.
    pub sip_listen: SocketAddr,
    /// REST address (served once the API lands; reserved now so deployments can set it).
    pub http_listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL, or `None` for SQLite in the data directory.
    pub database: Option<String>,
    /// RTP ports, inclusive.
    pub rtp_ports: (u16, u16),
    /// Media address.
    pub media_ip: IpAddr,
    /// Mixing threads.
    pub media_threads: usize,
    /// Mixing threads at real-time priority.
    pub realtime_media: bool,
    /// Ring before answering.
    pub answer_delay: std::time::Duration,
    /// REST bearer token.
    pub api_token: Option<String>,
    /// Whether the API document needs the token too.
    pub protect_docs: bool,
    /// Log JSON lines instead of text.
    pub log_json: bool,
    /// Highest `max_members` over REST.
    pub max_members_cap: u32,
    /// Where `*8` dials, if anywhere.
    pub dialout: Option<chorus_engine::DialOut>,
    /// Conference extensions from the config file (or the default 500), seeded into the
    /// store when it does not have them yet.
    pub extensions: BTreeMap<String, ConferenceSettings>,
    /// Codecs, most preferred first.
    pub codecs: Vec<chorus_types::Codec>,
    /// Encoder and jitter-buffer settings.
    pub media: chorus_engine::MediaConfig,
    /// Who may call, and the limits on strangers.
    pub security: chorus_engine::Security,
    /// Bounds on SIP over TCP.
    pub tcp: chorus_net::TcpLimits,
    /// The Server / User-Agent header.
    pub server_header: String,
    /// Shortest PIN accepted.
    pub min_pin_digits: usize,
    /// RFC 4028 session interval.
    pub session_expires: std::time::Duration,
    /// The conference factory and the limits on temporary conferences.
    pub adhoc: chorus_engine::AdhocConfig,
    /// Networks a REFER may name as a direct target.
    pub refer_direct_networks: Vec<ipnet::IpNet>,
    /// SIP over TLS and SRTP.
    pub encryption: encryption::Encryption,
    /// This node among several, and how it drains.
    pub cluster: cluster::Cluster,
    /// The voice processing of conferences that do not set their own.
    pub voice: chorus_types::VoiceProcessing,
}

impl ConferenceSettings {
    /// The record the store keeps.
    pub fn record(&self) -> chorus_store::ConferenceRecord {
        chorus_store::ConferenceRecord {
            announce_caller_name: self.announce_caller_name,
            enter_sound: self.enter_sound,
            max_members: self.max_members,
            pin: self.pin.clone(),
            moderator_pin: self.moderator_pin.clone(),
            mute_non_moderator: self.mute_non_moderator,
            music_on_hold_sound: self.music_on_hold_sound,
            record_enabled: self.record_enabled,
            auto_gain: self.auto_gain,
            noise_suppression: self.noise_suppression,
        }
    }
}

impl Settings {
    /// Flags over the config file over the defaults.
    pub fn from_cli(cli: Cli) -> Result<Settings> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let sip_listen = cli
            .sip_listen
            .or(file.sip_listen)
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)));
        let http_listen = cli
            .http_listen
            .or(file.http_listen)
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)));
        let rtp_ports = match cli.rtp_ports.or(file.rtp_ports) {
            Some(text) => parse_port_range(&text)?,
            None => (20000, 29999),
        };
        let media_ip = cli.media_ip.or(file.media_ip).unwrap_or_else(|| {
            if sip_listen.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                sip_listen.ip()
            }
        });
        if media_ip.is_unspecified() {
            bail!("media_ip must be an address phones can send to, not {media_ip}");
        }
        let media_threads = cli.media_threads.or(file.media_threads).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let mut extensions = file.extension;
        if extensions.is_empty() {
            extensions.insert(DEFAULT_EXTENSION.to_owned(), ConferenceSettings::default());
        }
        let min_pin_digits = cli.min_pin_digits.or(file.min_pin_digits).unwrap_or(4);
        if !(1..=16).contains(&min_pin_digits) {
            bail!("min_pin_digits must be 1-16");
        }
        for (id, settings) in &extensions {
            validate_extension(id, settings, min_pin_digits)?;
        }
        let unknown_extension = match cli
            .unknown_extension
            .or(file.unknown_extension)
            .as_deref()
            .unwrap_or("404")
        {
            "404" => chorus_engine::UnknownExtension::NotFound,
            "answer" => chorus_engine::UnknownExtension::Answer,
            other => bail!("unknown_extension must be 404 or answer, not {other:?}"),
        };
        let security = chorus_engine::Security {
            trusted_networks: match cli.sip_trusted_networks.or(file.sip_trusted_networks) {
                Some(list) => networks("sip_trusted_networks", &list)?,
                None => Vec::new(),
            },
            proxies: match cli.sip_proxies.or(file.sip_proxies) {
                Some(list) => networks("sip_proxies", &list)?,
                None => Vec::new(),
            },
            unknown_extension,
            digest: match cli.sip_auth_file.or(file.sip_auth_file) {
                Some(path) => Some(digest_users(
                    &path,
                    cli.sip_auth_realm
                        .or(file.sip_auth_realm)
                        .unwrap_or_else(|| "chorus".to_owned()),
                    cli.sip_auth_algorithms
                        .as_deref()
                        .or(file.sip_auth_algorithms.as_deref())
                        .unwrap_or("sha-256,md5"),
                )?),
                None => None,
            },
            max_pending_per_extension: cli
                .max_pending_per_extension
                .or(file.max_pending_per_extension)
                .unwrap_or(20)
                .max(1),
            ..chorus_engine::Security::default()
        };
        let tcp_defaults = chorus_net::TcpLimits::default();
        let tcp = chorus_net::TcpLimits {
            max_connections: cli
                .sip_tcp_max_connections
                .or(file.sip_tcp_max_connections)
                .unwrap_or(tcp_defaults.max_connections)
                .max(1),
            max_per_address: cli
                .sip_tcp_max_per_address
                .or(file.sip_tcp_max_per_address)
                .unwrap_or(tcp_defaults.max_per_address)
                .max(1),
            idle_timeout: cli
                .sip_tcp_idle_timeout
                .or(file.sip_tcp_idle_timeout)
                .map_or(tcp_defaults.idle_timeout, |s| {
                    std::time::Duration::from_secs(s.max(1))
                }),
            ..tcp_defaults
        };
        let policy_defaults = chorus_engine::DialPolicy::default();
        let dial_policy = chorus_engine::DialPolicy {
            allowed_networks: match cli
                .dialout_allowed_networks
                .or(file.dialout_allowed_networks)
            {
                Some(list) => networks("dialout_allowed_networks", &list)?,
                None => Vec::new(),
            },
            allow: match cli.dialout_allow.or(file.dialout_allow) {
                Some(list) => prefixes("dialout_allow", &list)?,
                None => Vec::new(),
            },
            deny: match cli.dialout_deny.or(file.dialout_deny) {
                Some(list) => prefixes("dialout_deny", &list)?,
                None => policy_defaults.deny.clone(),
            },
            per_conference_per_hour: cli
                .dialout_max_per_conference_per_hour
                .or(file.dialout_max_per_conference_per_hour)
                .unwrap_or(policy_defaults.per_conference_per_hour),
            total_per_hour: cli
                .dialout_max_per_hour
                .or(file.dialout_max_per_hour)
                .unwrap_or(policy_defaults.total_per_hour),
        };
        let database = parse::database(cli.database.or(file.database))?;
        let shared = database.is_some();
        Ok(Settings {
            sip_listen,
            http_listen,
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            database,
            rtp_ports,
            media_ip,
            media_threads: media_threads.max(1),
            realtime_media: cli.realtime_media.or(file.realtime_media).unwrap_or(false),
            answer_delay: std::time::Duration::from_millis(
                cli.answer_delay_ms.or(file.answer_delay_ms).unwrap_or(0),
            ),
            api_token: parse::api_token(
                cli.api_token.or(file.api_token),
                cli.api_token_file.or(file.api_token_file),
            )?,
            protect_docs: cli.protect_docs.or(file.protect_docs).unwrap_or(false),
            log_json: match cli.log_format.or(file.log_format).as_deref() {
                None | Some("text") => false,
                Some("json") => true,
                Some(other) => bail!("log_format must be text or json, not {other:?}"),
            },
            max_members_cap: cli
                .max_members_cap
                .or(file.max_members_cap)
                .unwrap_or(1000)
                .max(1),
            dialout: match cli.dialout_uri.or(file.dialout_uri) {
                None => None,
                Some(uri) => Some(
                    dialout(
                        uri,
                        cli.dialout_proxy.or(file.dialout_proxy),
                        cli.dialout_transport.or(file.dialout_transport),
                        cli.dialout_caller_id
                            .or(file.dialout_caller_id)
                            .unwrap_or_else(|| {
                                format!("sip:conference-{{extension}}@{}", sip_listen.ip())
                            }),
                        cli.dialout_username
                            .or(file.dialout_username)
                            .zip(cli.dialout_password.or(file.dialout_password)),
                        cli.dialout_ring_timeout
                            .or(file.dialout_ring_timeout)
                            .unwrap_or(30),
                    )
                    .and_then(|mut d| {
                        if let Some(range) =
                            cli.dialout_digits.as_ref().or(file.dialout_digits.as_ref())
                        {
                            d.digits = digit_range(range)?;
                        }
                        d.max_per_conference = cli
                            .dialout_max_per_conference
                            .or(file.dialout_max_per_conference)
                            .unwrap_or(3)
                            .max(1);
                        d.max_total = cli
                            .dialout_max_total
                            .or(file.dialout_max_total)
                            .unwrap_or(100)
                            .max(1);
                        d.announce_recording = cli
                            .record_announcement
                            .or(file.record_announcement)
                            .unwrap_or(true);
                        d.policy = dial_policy;
                        Ok(d)
                    })?,
                ),
            },
            extensions,
            codecs: match cli.codecs.or(file.codecs) {
                Some(list) => codec_list(&list)?,
                None => chorus_types::Codec::ALL.to_vec(),
            },
            media: {
                let defaults = chorus_engine::MediaConfig::default();
                let opus = defaults.opus;
                let complexity = cli
                    .opus_complexity
                    .or(file.opus_complexity)
                    .unwrap_or(opus.complexity);
                if complexity > 10 {
                    bail!("opus_complexity must be 0-10");
                }
                let bitrate = cli
                    .opus_bitrate
                    .or(file.opus_bitrate)
                    .unwrap_or(opus.bitrate);
                if !(6_000..=510_000).contains(&bitrate) {
                    bail!("opus_bitrate must be 6000-510000");
                }
                let jitter_min_ms = cli
                    .jitter_min_ms
                    .or(file.jitter_min_ms)
                    .unwrap_or(defaults.jitter_min_ms);
                let jitter_max_ms = cli
                    .jitter_max_ms
                    .or(file.jitter_max_ms)
                    .unwrap_or(defaults.jitter_max_ms);
                if !(20..=1000).contains(&jitter_min_ms)
                    || !(jitter_min_ms..=2000).contains(&jitter_max_ms)
                {
                    bail!(
                        "jitter_min_ms must be 20-1000 and jitter_max_ms from jitter_min_ms to 2000"
                    );
                }
                chorus_engine::MediaConfig {
                    opus: chorus_engine::OpusSettings {
                        complexity,
                        bitrate,
                        fec: cli.opus_fec.or(file.opus_fec).unwrap_or(opus.fec),
                        dtx: cli.opus_dtx.or(file.opus_dtx).unwrap_or(opus.dtx),
                        expected_loss_percent: cli
                            .opus_expected_loss
                            .or(file.opus_expected_loss)
                            .unwrap_or(opus.expected_loss_percent)
                            .min(100),
                    },
                    jitter_min_ms,
                    jitter_max_ms,
                    media_timeout: std::time::Duration::from_secs(
                        cli.media_timeout
                            .or(file.media_timeout)
                            .unwrap_or(30)
                            .max(1),
                    ),
                }
            },
            security,
            tcp,
            server_header: cli
                .server_header
                .or(file.server_header)
                .unwrap_or_else(|| "chorus".to_owned()),
            min_pin_digits,
            session_expires: match cli.session_expires.or(file.session_expires) {
                None => std::time::Duration::from_secs(1800),
                Some(0) => std::time::Duration::ZERO,
                Some(s) if s >= 90 => std::time::Duration::from_secs(s),
                Some(_) => bail!("session_expires must be 0 (off) or at least 90"),
            },
            refer_direct_networks: match cli.refer_direct_networks.or(file.refer_direct_networks) {
                Some(text) => parse::networks("refer_direct_networks", &text)?,
                None => parse::listen_networks(sip_listen),
            },
            voice: chorus_types::VoiceProcessing {
                auto_gain: cli.auto_gain.or(file.auto_gain).unwrap_or(true),
                noise_suppression: cli
                    .noise_suppression
                    .or(file.noise_suppression)
                    .unwrap_or(false),
            },
            encryption: encryption::Encryption::from(
                cli.encryption,
                encryption::EncryptionFile {
                    sip_tls_listen: file.sip_tls_listen,
                    tls_cert: file.tls_cert,
                    tls_key: file.tls_key,
                    dialout_ca: file.dialout_ca,
                    dialout_tls_name: file.dialout_tls_name,
                    srtp: file.srtp,
                    srtp_allow_cleartext_keys: file.srtp_allow_cleartext_keys,
                },
            )?,
            cluster: cluster::Cluster::from(
                cli.cluster,
                cluster::ClusterFile {
                    node_name: file.node_name,
                    advertise_sip: file.advertise_sip,
                    advertise_api: file.advertise_api,
                    drain_timeout: file.drain_timeout,
                },
                sip_listen,
                http_listen,
                shared,
            )?,
            adhoc: parse::adhoc(
                cli.adhoc_factory.or(file.adhoc_factory),
                cli.adhoc_linger.or(file.adhoc_linger),
                cli.adhoc_max.or(file.adhoc_max),
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
