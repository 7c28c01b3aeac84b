//! This node among several (`--database postgres://…`): its name, the addresses other
//! nodes and the front door reach it at, and how long a drain waits.

use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::time::Duration;

/// Flags for several nodes; each is also a config-file key.
#[derive(Debug, Default, clap::Args)]
pub struct ClusterFlags {
    /// This node's name among several: in the placement table, events and the `node`
    /// label of metrics [default: the SIP address].
    #[arg(long)]
    pub node_name: Option<String>,
    /// The SIP address the front door (Kamailio) sends this node's conferences to
    /// [default: the SIP address].
    #[arg(long)]
    pub advertise_sip: Option<SocketAddr>,
    /// The REST URL other nodes forward this node's conference actions to, e.g.
    /// http://10.0.0.5:8080 [default: http:// and the REST address].
    #[arg(long)]
    pub advertise_api: Option<String>,
    /// Seconds a drain (SIGTERM, POST /admin/drain) waits for the last call to end before
    /// hanging up everyone; 0 hangs up at once [default: 0].
    #[arg(long)]
    pub drain_timeout: Option<u64>,
}

/// The same keys in the config file.
#[derive(Debug, Default)]
pub(crate) struct ClusterFile {
    pub(crate) node_name: Option<String>,
    pub(crate) advertise_sip: Option<SocketAddr>,
    pub(crate) advertise_api: Option<String>,
    pub(crate) drain_timeout: Option<u64>,
}

/// This node, as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its name.
    pub node_name: String,
    /// Where SIP reaches it, as a URI (`sip:10.0.0.5:5060`).
    pub sip_uri: String,
    /// Where its REST API is (`None`: the address the API bound, known once it has).
    pub api_url: Option<String>,
    /// How long a drain waits.
    pub drain_timeout: Duration,
}

impl Cluster {
    /// Flags over file; every key checked.
    pub(crate) fn from(
        cli: ClusterFlags,
        file: ClusterFile,
        sip_listen: SocketAddr,
        http_listen: SocketAddr,
        shared: bool,
    ) -> Result<Self> {
        let sip = cli
            .advertise_sip
            .or(file.advertise_sip)
            .unwrap_or(sip_listen);
        // A single node is never reached through these: only nodes sharing a database
        // need them right.
        if shared && (sip.ip().is_unspecified() || sip.port() == 0) {
            bail!("advertise_sip must be an address others can reach, not {sip}");
        }
        let node_name = cli
            .node_name
            .or(file.node_name)
            .unwrap_or_else(|| sip.to_string());
        // The name goes into SQL parameters, labels and logs: keep it plain.
        if node_name.is_empty()
            || node_name.len() > 64
            || !node_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:[]".contains(&b))
        {
            bail!("node_name must be 1-64 letters, digits or -_.:[], not {node_name:?}");
        }
        let api_url = match cli.advertise_api.or(file.advertise_api) {
            Some(url) => {
                let url = url.trim_end_matches('/').to_owned();
                // Nodes talk plain HTTP to each other (ureq is built without TLS).
                if !url.starts_with("http://") {
                    bail!("advertise_api must be an http:// URL, not {url:?}");
                }
                Some(url)
            }
            None if shared && http_listen.ip().is_unspecified() => {
                bail!("advertise_api is needed when http_listen is {http_listen}")
            }
            None => None,
        };
        let sip_uri = match sip {
            SocketAddr::V4(a) => format!("sip:{a}"),
            SocketAddr::V6(a) => format!("sip:[{}]:{}", a.ip(), a.port()),
        };
        Ok(Cluster {
            node_name,
            sip_uri,
            api_url,
            drain_timeout: Duration::from_secs(
                cli.drain_timeout.or(file.drain_timeout).unwrap_or(0),
            ),
        })
    }
}
