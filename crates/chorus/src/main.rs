//! `chorus`: the conference bridge. Parses settings, starts logging and runs the network
//! driver until SIGINT or SIGTERM, then hangs up every call and exits 0.

use anyhow::{Context, Result};
use chorus::{Cli, Settings};
use chorus_net::DriverConfig;
use clap::Parser;
use tracing::info;
use tracing_subscriber::EnvFilter;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CHORUS_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,webrtc_sdp=error")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::from_cli(Cli::parse())?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    info!(
        sip = %settings.sip_listen,
        http = %settings.http_listen,
        data = %settings.data_dir.display(),
        rtp = ?settings.rtp_ports,
        extensions = ?settings.extensions.keys().collect::<Vec<_>>(),
        "chorus starting"
    );
    let config = DriverConfig {
        sip_listen: settings.sip_listen,
        media_ip: settings.media_ip,
        rtp_ports: settings.rtp_ports,
        media_threads: settings.media_threads,
        extensions: settings.extension_configs()?,
        prompts: chorus::sounds::builtin_prompts()?,
        user_agent: format!("chorus/{}", env!("CARGO_PKG_VERSION")),
        answer_delay: settings.answer_delay,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        chorus_net::run(config, stop_signal())
            .await
            .context("SIP driver")
    })
}

async fn stop_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
