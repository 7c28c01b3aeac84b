//! The encryption settings: SIP over TLS (listener, certificate, dial-out trust) and the
//! SRTP policy, from flags or the config file.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags for encryption; each is also a config-file key.
#[derive(Debug, Default, clap::Args)]
pub struct EncryptionFlags {
    /// SIP over TLS address, e.g. 127.0.0.1:5061 [default: none (off)].
    #[arg(long)]
    pub sip_tls_listen: Option<SocketAddr>,
    /// The TLS certificate chain, PEM; read again on SIGHUP [default: none].
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key, PEM; read again on SIGHUP [default: none].
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that dial-out over TLS trusts [default: the system's roots].
    #[arg(long)]
    pub dialout_ca: Option<PathBuf>,
    /// The name the dial-out trunk's certificate must carry [default: its IP address].
    #[arg(long)]
    pub dialout_tls_name: Option<String>,
    /// SRTP: off (plain RTP only), optional (SRTP when offered) or required (SRTP or 488)
    /// [default: optional].
    #[arg(long)]
    pub srtp: Option<String>,
    /// Exchange SRTP keys in SDP over UDP and TCP too, where anyone on the path can read
    /// them [default: false].
    #[arg(long)]
    pub srtp_allow_cleartext_keys: Option<bool>,
}

/// The same keys in the config file.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct EncryptionFile {
    pub(crate) sip_tls_listen: Option<SocketAddr>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) dialout_ca: Option<PathBuf>,
    pub(crate) dialout_tls_name: Option<String>,
    pub(crate) srtp: Option<String>,
    pub(crate) srtp_allow_cleartext_keys: Option<bool>,
}

/// What the bridge encrypts with.
#[derive(Debug, Clone, Default)]
pub struct Encryption {
    /// SIP over TLS: its address, certificate and key.
    pub sip_tls: Option<(SocketAddr, PathBuf, PathBuf)>,
    /// CA for dial-out over TLS.
    pub dialout_ca: Option<PathBuf>,
    /// Name the trunk's certificate must carry.
    pub dialout_tls_name: Option<String>,
    /// The SRTP policy.
    pub srtp: chorus_engine::SrtpPolicy,
}

impl Encryption {
    /// Flags over file; every key checked.
    pub(crate) fn from(cli: EncryptionFlags, file: EncryptionFile) -> Result<Self> {
        let listen = cli.sip_tls_listen.or(file.sip_tls_listen);
        let cert = cli.tls_cert.or(file.tls_cert);
        let key = cli.tls_key.or(file.tls_key);
        let sip_tls = match (listen, cert, key) {
            (None, None, None) => None,
            (Some(listen), Some(cert), Some(key)) => Some((listen, cert, key)),
            (Some(_), _, _) => bail!("sip_tls_listen needs tls_cert and tls_key"),
            (None, _, _) => bail!("tls_cert and tls_key need sip_tls_listen"),
        };
        let mode = match cli.srtp.or(file.srtp).as_deref() {
            None | Some("optional") => chorus_engine::SrtpMode::Optional,
            Some("off") => chorus_engine::SrtpMode::Off,
            Some("required") => chorus_engine::SrtpMode::Required,
            Some(other) => bail!("srtp must be off, optional or required, not {other:?}"),
        };
        Ok(Encryption {
            sip_tls,
            dialout_ca: cli.dialout_ca.or(file.dialout_ca),
            dialout_tls_name: cli.dialout_tls_name.or(file.dialout_tls_name),
            srtp: chorus_engine::SrtpPolicy {
                mode,
                allow_cleartext_keys: cli
                    .srtp_allow_cleartext_keys
                    .or(file.srtp_allow_cleartext_keys)
                    .unwrap_or(false),
            },
        })
    }

    /// The listener's certificate, loaded (the process stops on a bad file at start).
    pub fn tls_server(
        &self,
    ) -> Result<Option<(SocketAddr, std::sync::Arc<chorus_net::TlsServer>)>> {
        self.sip_tls
            .as_ref()
            .map(|(listen, cert, key)| {
                chorus_net::TlsServer::load(cert, key)
                    .map(|server| (*listen, server))
                    .context("loading the TLS certificate")
            })
            .transpose()
    }

    /// Trust for dial-out over TLS, when dial-out uses TLS.
    pub fn tls_client(
        &self,
        dialout: Option<&chorus_engine::DialOut>,
    ) -> Result<Option<chorus_net::TlsClient>> {
        match dialout {
            Some(d) if d.transport == chorus_engine::Transport::Tls => Ok(Some(
                chorus_net::TlsClient::new(
                    self.dialout_ca.as_deref(),
                    self.dialout_tls_name.as_deref(),
                )
                .context("dial-out TLS trust")?,
            )),
            _ => Ok(None),
        }
    }
}
