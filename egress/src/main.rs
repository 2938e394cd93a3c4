//! `openshell-egress --admin-socket PATH [--config FILE]`: the node's egress engine.
//! `openshell-egress policy get|set CONTAINER [FILE]`: its admin client for a running sandbox's
//! egress policy (what `openshell policy get|set` runs).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use openshell_egress::config::EngineConfig;
use openshell_egress::engine::{AuditMode, Engine};
use openshell_egress::policy_admin;
use openshell_policy::node_config::NodeConfig;
use tokio::signal::unix::{SignalKind, signal};

/// jemalloc: decisions allocate on the request threads and the audit writer frees on its own,
/// which glibc's allocator pays for in consolidations and trims inside the decisions' tail.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The openshell egress engine: every restricted sandbox's traffic goes through it.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Unix socket of the admin API (registrations, policies, /healthz, /metrics).
    #[arg(long, required = true)]
    admin_socket: Option<PathBuf>,
    /// Engine configuration (TOML); the node configuration comes from OPENSHELL_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// A running sandbox's egress policy at the node's engine (the engine named by the node
    /// configuration's `[services] egress`).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the active egress policy of a container (JSON).
    Get {
        /// Container identifier
        container_id: String,
    },
    /// Replace the egress policy of a running container with the one in a policy file; the
    /// next request is decided by it.
    Set {
        /// Container identifier
        container_id: String,
        /// Policy file (its NetworkPolicy, permissions, API catalog and audit settings apply)
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Some(Command::Policy { command }) => policy(command),
        None => serve(args.admin_socket.unwrap_or_default(), args.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("openshell-egress: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    let node = NodeConfig::load()?;
    let output = match command {
        PolicyCommand::Get { container_id } => policy_admin::get(&container_id, &node)?,
        PolicyCommand::Set { container_id, file } => {
            policy_admin::set(&container_id, &file, &node)?
        }
    };
    println!("{output}");
    Ok(())
}

fn serve(admin_socket: PathBuf, config: Option<PathBuf>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let config = match &config {
        Some(path) => EngineConfig::load(path)?,
        None => EngineConfig::default(),
    };
    let node = NodeConfig::load()?;
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    runtime.block_on(async {
        let engine = Engine::start(config, &node, &admin_socket, AuditMode::Node).await?;
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

/// Raises the soft limit on open descriptors to the hard one, as Go's runtime does for every
/// program: every proxied connection holds two sockets, so four sandboxes at the engine's
/// default of 256 connections each would reach the usual soft limit of 1,024.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("open files limit stays at {soft}: {error}");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!("cannot read the open files limit: {error}"),
    }
}
