//! `openshell-approvals`: the node's approval queue daemon (run without a command) and its operator
//! commands (`list`, `show`, `approve`, `deny`, `watch`) over the daemon's unix socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use openshell_approvals::cli;
use openshell_approvals::client::ApprovalsClient;
use openshell_approvals::config::Config;
use openshell_approvals::daemon::{Daemon, Settings};
use openshell_approvals::notify::RetryPolicy;
use openshell_policy::wire::{APPROVALS_SOCKET, ApprovalState};

/// The node's approval queue: escalated agent actions held for a human. Without a command it
/// runs the daemon; the commands are the operator's, over the daemon's socket.
#[derive(Parser, Debug)]
#[command(name = "openshell-approvals", version)]
struct Args {
    /// The daemon's unix socket (default: the config's `socket`, else /run/openshell/approvals.sock)
    #[arg(long, global = true, env = "OPENSHELL_APPROVALS_SOCKET")]
    socket: Option<PathBuf>,
    /// Daemon: configuration file (TOML: state_dir, listen, public_url, audit_trail, [channels.*])
    #[arg(long)]
    config: Option<PathBuf>,
    /// Daemon: state directory (the queue, the link key, the operator token)
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Daemon: also listen on TCP for consoles and chat-link callbacks (`127.0.0.1:9447`)
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Daemon: the operator token file (created 0600 at first start when missing)
    #[arg(long)]
    operator_token_file: Option<PathBuf>,
    /// Daemon: the node's audit trail (JSON lines)
    #[arg(long)]
    audit_trail: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List approvals as a table.
    List {
        /// Only those in this state
        #[arg(long, value_enum)]
        state: Option<StateArg>,
    },
    /// Show one approval.
    Show {
        /// The approval's id
        id: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Approve a pending approval (recorded as $SUDO_USER or the user, channel `cli`).
    Approve {
        /// The approval's id
        id: String,
        /// Why
        #[arg(long)]
        note: Option<String>,
    },
    /// Deny a pending approval (recorded as $SUDO_USER or the user, channel `cli`).
    Deny {
        /// The approval's id
        id: String,
        /// Why
        #[arg(long)]
        note: Option<String>,
    },
    /// Print each new pending approval and each decision as they happen (Ctrl-C stops).
    Watch,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum StateArg {
    Pending,
    Approved,
    Denied,
    TimedOut,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        None => serve(
            args.socket,
            args.config,
            args.state_dir,
            args.listen,
            args.operator_token_file,
            args.audit_trail,
        ),
        Some(command) => operate(
            args.socket
                .unwrap_or_else(|| PathBuf::from(APPROVALS_SOCKET)),
            command,
        ),
    };
    result.unwrap_or_else(|err| {
        eprintln!("openshell-approvals: {err:#}");
        ExitCode::FAILURE
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn serve(
    socket: Option<PathBuf>,
    config_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    operator_token_file: Option<PathBuf>,
    audit_trail: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut config = match &config_file {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.socket = socket.or(config.socket);
    config.state_dir = state_dir.or(config.state_dir);
    config.listen = listen.or(config.listen);
    config.operator_token_file = operator_token_file.or(config.operator_token_file);
    config.audit_trail = audit_trail.or(config.audit_trail);
    let runtime = runtime()?;
    let queue = runtime.block_on(async {
        let daemon = Daemon::start(Settings {
            config,
            retry: RetryPolicy::default(),
        })
        .await?;
        let tcp = daemon
            .bound
            .tcp_addr()
            .map(|a| format!(" and {a}"))
            .unwrap_or_default();
        let socket = daemon_socket(&daemon);
        eprintln!(
            "openshell-approvals: serving on {socket}{tcp} ({} pending)",
            daemon.queue.list(Some(ApprovalState::Pending)).len()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        let queue = std::sync::Arc::clone(&daemon.queue);
        daemon.bound.serve(daemon.app, stopped).await;
        anyhow::Ok(queue)
    })?;
    queue
        .flush_audit(Duration::from_secs(5))
        .context("flushing the audit trail")?;
    Ok(ExitCode::SUCCESS)
}

fn daemon_socket(daemon: &Daemon) -> String {
    daemon.bound.socket().display().to_string()
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

fn operate(socket: PathBuf, command: Command) -> anyhow::Result<ExitCode> {
    let client = ApprovalsClient::new(socket).with_channel("cli");
    runtime()?.block_on(async {
        match command {
            Command::List { state } => {
                let state = state.map(|s| match s {
                    StateArg::Pending => ApprovalState::Pending,
                    StateArg::Approved => ApprovalState::Approved,
                    StateArg::Denied => ApprovalState::Denied,
                    StateArg::TimedOut => ApprovalState::TimedOut,
                });
                print!("{}", cli::table(&client.list(state).await?));
            }
            Command::Show { id, format } => {
                let approval = client.get(&id).await?;
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&approval)?),
                    Format::Text => print!("{}", cli::text(&approval)),
                }
            }
            Command::Approve { id, note } => {
                let approval = client.approve(&id, &cli::operator_answer(note)).await?;
                println!("{}", cli::event_line(&approval));
            }
            Command::Deny { id, note } => {
                let approval = client.deny(&id, &cli::operator_answer(note)).await?;
                println!("{}", cli::event_line(&approval));
            }
            Command::Watch => {
                use std::io::Write as _;
                cli::watch(&client, |line| {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                })
                .await?;
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
