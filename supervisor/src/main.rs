//! `openshell-supervisor`: listens for seccomp notification descriptors and holds escalated
//! system calls until the node's approval queue answers.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{APPROVALS_SOCKET, SECCOMP_SUPERVISOR_SOCKET};
use openshell_supervisor::ask::{Asker, Call};
use openshell_supervisor::{held, listener};

/// Holds the system calls a policy escalates until a human answers through the approval queue.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The socket libcontainer hands notification descriptors to (the node configuration's
    /// `[services] seccomp`, else /run/openshell/seccomp.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The approval queue's socket (the node configuration's `[services] approvals`, else
    /// /run/openshell/approvals.sock).
    #[arg(long)]
    approvals: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let node = NodeConfig::load()?;
    let socket = args
        .socket
        .or(node.services.seccomp.clone())
        .unwrap_or_else(|| PathBuf::from(SECCOMP_SUPERVISOR_SOCKET));
    let approvals = args
        .approvals
        .or(node.services.approvals.clone())
        .unwrap_or_else(|| PathBuf::from(APPROVALS_SOCKET));
    let listener = listener::bind(&socket)?;
    let asker = Arc::new(Asker::new(approvals));
    eprintln!("openshell-supervisor: listening on {}", socket.display());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("openshell-supervisor: accept: {error}");
                continue;
            }
        };
        let hand_over = match listener::receive(&stream) {
            Ok(hand_over) => hand_over,
            Err(listener::ListenerError::Empty) => continue,
            Err(error) => {
                eprintln!("openshell-supervisor: {error}");
                continue;
            }
        };
        let call = Call {
            container_id: hand_over.state.state().id().to_owned(),
            bundle: hand_over.state.state().bundle().to_owned(),
        };
        let asker = Arc::clone(&asker);
        std::thread::spawn(move || held::serve(hand_over.fd, call, asker));
    }
    Ok(())
}
