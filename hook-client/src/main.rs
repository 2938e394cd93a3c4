//! `openshell-hook-client create-runtime|poststop`: the hooks openshell injects on a node that
//! runs the policy service, for sandboxes without a network to wire (see the library).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use openshell_hook_client::{HookClientError, environment};

#[derive(Parser, Debug)]
#[command(
    name = "openshell-hook-client",
    version,
    about = "openshell OCI hooks done by the policy service"
)]
struct Cli {
    #[command(subcommand)]
    hook: Hook,
}

#[derive(Subcommand, Debug)]
enum Hook {
    /// createRuntime: admission and registration. Reads the OCI state from stdin.
    CreateRuntime {
        /// The container's compiled policy (JSON) the runtime wrote into its state directory.
        #[arg(long)]
        policy: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// poststop: unregistration. Reads the OCI state from stdin.
    Poststop {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// The policy service's socket (the node's `[services] nemotron`).
    #[arg(long)]
    socket: PathBuf,
    /// Give up (and fail) after this many milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

fn run(cli: Cli) -> Result<(), HookClientError> {
    environment::harden().map_err(HookClientError::Environment)?;
    let state = openshell_hook_client::read_stdin(std::io::stdin().lock())?;
    match cli.hook {
        Hook::CreateRuntime { policy, common } => openshell_hook_client::create_runtime(
            &common.socket,
            &policy,
            &state,
            Duration::from_millis(common.timeout_ms.max(1)),
        ),
        Hook::Poststop { common } => openshell_hook_client::poststop(
            &common.socket,
            &state,
            Duration::from_millis(common.timeout_ms.max(1)),
        ),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openshell-hook-client: {e}");
            ExitCode::FAILURE
        }
    }
}
