//! `openshell-egress --admin-socket PATH [--config FILE]`: the node's egress engine.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use openshell_egress::config::EngineConfig;
use openshell_egress::engine::{AuditMode, Engine};
use openshell_policy::node_config::NodeConfig;
use tokio::signal::unix::{SignalKind, signal};

/// The openshell egress engine: every restricted sandbox's traffic goes through it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Unix socket of the admin API (registrations, policies, /healthz, /metrics).
    #[arg(long)]
    admin_socket: PathBuf,
    /// Engine configuration (TOML); the node configuration comes from OPENSHELL_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => EngineConfig::load(path)?,
        None => EngineConfig::default(),
    };
    let node = NodeConfig::load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        let engine = Engine::start(config, &node, &args.admin_socket, AuditMode::Node).await?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!(gateway = %engine.gateway(), "stopping; the node's nftables table stays");
        drop(engine);
        Ok(())
    })
}
