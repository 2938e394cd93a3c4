//! `openshell-router --admin-socket PATH [--listen ADDR] [--config FILE]`: the privacy router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use openshell_policy::node_config::NodeConfig;
use openshell_router::{Bound, PrivacyRouter, RouterConfig, RouterSettings};

/// The openshell privacy router: an OpenAI-compatible endpoint that routes each request by the
/// sensitivity and residency of its content.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The admin API's unix socket.
    #[arg(long, default_value = "/run/openshell/router.sock")]
    admin_socket: PathBuf,
    /// Where sandboxes reach the OpenAI front (default: the sandboxes' gateway and the node
    /// configuration's `[egress] router_port`, e.g. 10.200.0.1:4000, where the runtime points
    /// their OPENAI_BASE_URL).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The router configuration (TOML); the node configuration comes from $OPENSHELL_CONFIG,
    /// else /etc/openshell/config.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node = NodeConfig::load()?;
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from((node.egress.gateway(), node.egress.router_port)));
    let config = match &args.config {
        Some(path) => RouterConfig::load(path)?,
        None => RouterConfig::default(),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let router = PrivacyRouter::new(RouterSettings {
            config,
            config_path: args.config.clone(),
            node,
            env: Arc::new(|name| std::env::var(name).ok()),
        })
        .context("starting the router")?;
        let bound = Bound::bind(&args.admin_socket, listen)
            .await
            .with_context(|| format!("binding {} and {listen}", args.admin_socket.display()))?;
        eprintln!(
            "openshell-router: serving on {} (admin {}), {} callers registered",
            bound.front_addr()?,
            args.admin_socket.display(),
            router.callers().all().len()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        bound.serve(Arc::clone(&router), stopped).await;
        router
            .flush_audit(Duration::from_secs(5))
            .context("flushing the audit trail")
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
