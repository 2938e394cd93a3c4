//! `nemotron-service --socket PATH [--listen ADDR] [--config FILE]`: the policy service daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nemotron_service::http::{Bound, ServerConfig};
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_policy::node_config::{DEFAULT_NEMOTRON_SOCKET, NodeConfig};

/// The openshell policy service: admission and action decisions, intent classification,
/// natural-language policies, audit.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Unix socket to serve on.
    #[arg(long, default_value = DEFAULT_NEMOTRON_SOCKET)]
    socket: PathBuf,
    /// Also serve on this TCP address (e.g. 127.0.0.1:8700).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Node configuration file (default: $OPENSHELL_CONFIG, else /etc/openshell/config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Longest time a client may take to send request headers, milliseconds.
    #[arg(long, default_value_t = 5000)]
    header_timeout_ms: u64,
    /// Longest time a client may take to send a request body, milliseconds.
    #[arg(long, default_value_t = 5000)]
    body_timeout_ms: u64,
    /// Largest request body accepted, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node = match &args.config {
        Some(path) => NodeConfig::load_from(path)?,
        None => NodeConfig::load()?,
    };
    let registry_dir = node.registry_dir.clone();
    let service = Arc::new(
        PolicyService::new(ServiceSettings::new(node)).context("starting the policy service")?,
    );
    let (loaded, problems) = service.load_registry(&registry_dir);
    for problem in &problems {
        eprintln!("nemotron-service: registration not loaded: {problem}");
    }
    let mut config = ServerConfig::new(args.socket.clone());
    config.listen = args.listen;
    config.header_timeout = Duration::from_millis(args.header_timeout_ms);
    config.limits.timeout = Duration::from_millis(args.body_timeout_ms);
    config.limits.max_bytes = args.max_body_bytes;

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let bound = Bound::bind(config)
            .await
            .with_context(|| format!("binding {}", args.socket.display()))?;
        let tcp = bound
            .tcp_addr()
            .map(|a| format!(" and {a}"))
            .unwrap_or_default();
        eprintln!(
            "nemotron-service: serving on {}{tcp} ({loaded} containers re-registered)",
            args.socket.display()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        bound.serve(Arc::clone(&service), stopped).await;
        anyhow::Ok(())
    })?;
    service
        .flush_audit(Duration::from_secs(5))
        .context("flushing the audit trail")?;
    Ok(())
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
