//! `openshell approvals list|show ID|approve ID|deny ID|watch`: the node's approval queue, as
//! an operator sees and answers it.
//!
//! The commands run `openshell-approvals` (found next to this binary, else on `PATH`), the
//! approval daemon's own client, rather than linking an HTTP client: this binary is the one
//! every `create`, `run` and `exec` starts, so it stays without one. The daemon's client
//! records answers as `$SUDO_USER` (else the user) through the `cli` channel.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use openshell_policy::wire::APPROVALS_SOCKET;

use crate::exe_seal;

/// The approval daemon's binary, whose client these commands run.
const APPROVALS_BINARY: &str = "openshell-approvals";

/// The node's approval queue.
#[derive(Args, Debug)]
pub struct ApprovalsArgs {
    /// The approval daemon's socket
    #[arg(long, global = true, default_value = APPROVALS_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    command: ApprovalsCommand,
}

#[derive(Subcommand, Debug)]
enum ApprovalsCommand {
    /// List approvals: ID, STATE, CONTAINER, ACTION, DESTINATION, AMOUNT, EXPIRES.
    List {
        /// Only those in this state
        #[arg(long, value_enum)]
        state: Option<State>,
    },
    /// Show one approval.
    Show {
        /// The approval's id
        id: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Approve a pending approval: the held action goes ahead.
    Approve {
        /// The approval's id
        id: String,
        /// Why
        #[arg(long)]
        note: Option<String>,
    },
    /// Deny a pending approval: the held action is refused.
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
enum State {
    Pending,
    Approved,
    Denied,
    TimedOut,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Json,
    Text,
}

/// Replaces this process with `openshell-approvals --socket SOCKET COMMAND ARGS`.
pub fn approvals(args: ApprovalsArgs) -> Result<i32> {
    let mut words: Vec<String> = Vec::new();
    match args.command {
        ApprovalsCommand::List { state } => {
            words.push("list".into());
            if let Some(state) = state {
                words.push("--state".into());
                words.push(
                    match state {
                        State::Pending => "pending",
                        State::Approved => "approved",
                        State::Denied => "denied",
                        State::TimedOut => "timed-out",
                    }
                    .into(),
                );
            }
        }
        ApprovalsCommand::Show { id, format } => {
            words.extend(["show".into(), id, "--format".into()]);
            words.push(
                match format {
                    Format::Json => "json",
                    Format::Text => "text",
                }
                .into(),
            );
        }
        ApprovalsCommand::Approve { id, note } => answer(&mut words, "approve", id, note),
        ApprovalsCommand::Deny { id, note } => answer(&mut words, "deny", id, note),
        ApprovalsCommand::Watch => words.push("watch".into()),
    }
    let binary =
        exe_seal::sibling(APPROVALS_BINARY).unwrap_or_else(|| PathBuf::from(APPROVALS_BINARY));
    let err = Command::new(&binary)
        .arg("--socket")
        .arg(&args.socket)
        .args(&words)
        .exec();
    Err(err).with_context(|| {
        format!(
            "cannot run {} (install it next to openshell or on PATH): it is the approval daemon's client",
            binary.display()
        )
    })
}

fn answer(words: &mut Vec<String>, verdict: &str, id: String, note: Option<String>) {
    words.push(verdict.into());
    words.push(id);
    if let Some(note) = note {
        words.push("--note".into());
        words.push(note);
    }
}
