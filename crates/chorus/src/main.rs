//! `chorus`: the conference bridge. Parses settings, opens the store, and runs the SIP
//! driver and the REST API. SIGTERM drains (callers of conferences here still join, the
//! process exits 0 when the last call ends or at `--drain-timeout`, hanging everyone up);
//! SIGINT, or a second SIGTERM, hangs up every call at once and exits 0.

use anyhow::{Context, Result};
use chorus::{Cli, Settings};
use chorus_net::{ControlHandle, DriverConfig, Metrics};
use chorus_store::{PgStore, Seeded, SqliteStore, Store, StoreError};
use clap::Parser;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.print_config {
        print!("{}", chorus::sample_config());
        return Ok(());
    }
    let settings = Settings::from_cli(cli)?;
    let filter = EnvFilter::try_from_env("CHORUS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,webrtc_sdp=error"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if settings.log_json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    // A media address that is not this machine's makes every call fail later, with a
    // misleading port error: say what is wrong now.
    std::net::UdpSocket::bind((settings.media_ip, 0)).map_err(|e| {
        anyhow::anyhow!(
            "media_ip {} is not an address of this machine ({e}): set media_ip to one of its addresses",
            settings.media_ip
        )
    })?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let store: Arc<dyn Store> = match &settings.database {
        None => Arc::new(
            SqliteStore::open(&settings.data_dir)
                .with_context(|| format!("opening the store in {}", settings.data_dir.display()))?,
        ),
        // The URL may carry a password: the error says what failed, not where.
        Some(url) => {
            let store = PgStore::open(url, &settings.data_dir.join("sound-cache"))
                .context("opening the PostgreSQL store")?;
            info!("settings and sounds in PostgreSQL");
            Arc::new(store)
        }
    };
    let limits = chorus_api::Limits {
        max_members_cap: settings.max_members_cap,
        min_pin_digits: settings.min_pin_digits,
        protect_docs: settings.protect_docs,
        ..chorus_api::Limits::default()
    };
    for (id, conference) in &settings.extensions {
        match store.seed_conference(id, chorus_api::seed_check(conference.record(), limits)) {
            Ok(Seeded::Inserted) => info!(extension = %id, "provisioned from the configuration"),
            Ok(Seeded::Deleted) => {
                info!(extension = %id, "deleted over REST earlier; not provisioned again");
            }
            Ok(Seeded::Existed) => {}
            Err(StoreError::Rejected(why)) => {
                anyhow::bail!("extension {id} in the configuration: {why}")
            }
            Err(e) => return Err(e).context(format!("seeding extension {id}")),
        }
    }
    let extensions = chorus_api::extension_configs(store.as_ref(), &mut HashMap::new())
        .context("loading extensions and their sounds")?;
    info!(
        sip = %settings.sip_listen,
        http = %settings.http_listen,
        data = %settings.data_dir.display(),
        rtp = ?settings.rtp_ports,
        extensions = ?extensions.keys().collect::<Vec<_>>(),
        "chorus starting"
    );
    let tls_server = settings.encryption.tls_server()?;
    let config = DriverConfig {
        sip_listen: settings.sip_listen,
        media_ip: settings.media_ip,
        rtp_ports: settings.rtp_ports,
        media_threads: settings.media_threads,
        realtime_media: settings.realtime_media,
        extensions,
        prompts: chorus::sounds::builtin_prompts()?,
        codecs: settings.codecs.clone(),
        media: settings.media,
        user_agent: settings.server_header.clone(),
        security: settings.security.clone(),
        tcp: settings.tcp,
        session_expires: settings.session_expires,
        adhoc: settings.adhoc.clone(),
        refer_direct_networks: settings.refer_direct_networks.clone(),
        // The REST token also lets a SIP client watch any conference's roster.
        subscriptions: chorus_engine::SubscriptionConfig {
            operator_token: settings.api_token.clone(),
            ..chorus_engine::SubscriptionConfig::default()
        },
        answer_delay: settings.answer_delay,
        dialout: settings.dialout.clone(),
        recordings: settings.data_dir.join("recordings"),
        sip_tls: tls_server.clone(),
        tls_client: settings.encryption.tls_client(settings.dialout.as_ref())?,
        srtp: settings.encryption.srtp,
        voice: settings.voice,
        drain_timeout: settings.cluster.drain_timeout,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (control, control_rx) = ControlHandle::new();
        let (notify, _) = broadcast::channel(1024);
        let shared = settings.database.is_some();
        let metrics = Arc::new(Metrics::for_node(
            shared.then_some(settings.cluster.node_name.as_str()),
        ));
        let listener = tokio::net::TcpListener::bind(settings.http_listen)
            .await
            .with_context(|| format!("binding the REST API on {}", settings.http_listen))?;
        let state = chorus_api::AppState::new(
            Arc::clone(&store),
            control.clone(),
            notify.clone(),
            Arc::clone(&metrics),
            settings.api_token.clone(),
            limits,
            settings.data_dir.join("recordings"),
        );
        let mut directory = None;
        if let Some(url) = &settings.database {
            tokio::spawn(follow_other_nodes(url.clone(), state.clone()));
            let node = chorus_cluster::Node {
                name: settings.cluster.node_name.clone(),
                sip_uri: settings.cluster.sip_uri.clone(),
                api_url: match &settings.cluster.api_url {
                    Some(url) => url.clone(),
                    None => format!("http://{}", listener.local_addr()?),
                },
            };
            let joined =
                chorus_cluster::join(url, node, control.clone(), &notify, Arc::clone(&metrics))
                    .context("joining the other nodes")?;
            info!(node = %settings.cluster.node_name, "one node of several");
            state.join_cluster(Arc::clone(&joined));
            directory = Some(joined);
        }
        let api = tokio::spawn(chorus_api::serve(listener, state, stopped(stop_rx.clone())));
        tokio::spawn(stop_or_drain(control.clone(), stop_tx));
        // Always caught: SIGHUP's default would end the process, and the unit's reload
        // sends it whether or not TLS is on.
        tokio::spawn(reload_on_hangup(tls_server.map(|(_, server)| server)));
        let sip = chorus_net::run(config, control_rx, notify, metrics, stopped(stop_rx)).await;
        api.abort();
        if let Some(directory) = directory {
            tokio::task::spawn_blocking(move || directory.leave())
                .await
                .context("leaving the other nodes")?;
        }
        sip.context("SIP driver")
    })
}

/// With a shared store, changes made on other nodes reach this one's calls: each
/// notification (and each reconnection, which may have missed some) reloads every
/// extension; a burst is one reload.
async fn follow_other_nodes(url: String, state: chorus_api::AppState) {
    // One stored permit at most: any number of changes while a reload runs is one more
    // reload, never a queue.
    let changed = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&changed);
    if let Err(e) = PgStore::watch(&url, move || signal.notify_one()) {
        warn!(error = %e, "cannot watch the shared store for changes");
        return;
    }
    loop {
        changed.notified().await;
        match state.reload_extensions().await {
            Ok(()) => info!("settings reloaded from the shared store"),
            Err(e) => warn!(error = %e, "reloading settings from the shared store"),
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// SIGHUP reads the TLS certificate and key again: new connections get the new ones,
/// calls up keep theirs.
async fn reload_on_hangup(server: Option<Arc<chorus_net::TlsServer>>) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    while hangup.recv().await.is_some() {
        match &server {
            // A bad file is logged and the old certificate kept.
            Some(server) => {
                let _ = server.reload();
            }
            None => info!("SIGHUP: no TLS certificate to reload"),
        }
    }
}

/// SIGTERM starts a drain; SIGINT, or SIGTERM again, stops at once.
async fn stop_or_drain(control: ControlHandle, stop: watch::Sender<bool>) {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop.send(true);
                return;
            }
        };
    let mut draining = false;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => {
                if draining {
                    info!("SIGTERM again: stopping now");
                    break;
                }
                draining = true;
                if control.ask(chorus_net::Control::Drain).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stop.send(true);
}
