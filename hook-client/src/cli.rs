//! The hook's command line: what the runtime writes into the spec's `args`, parsed the same way
//! whether the hook's process runs it or the runtime runs the hook in its own process.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::HookClientError;

/// `openshell-hook-client create-runtime|poststop …`.
#[derive(Parser, Debug)]
#[command(
    name = "openshell-hook-client",
    version,
    about = "openshell OCI hooks done by the policy service"
)]
pub struct HookCall {
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

impl HookCall {
    /// Parses `args` (`args[0]` the program's name, as in a hook's `args`).
    pub fn from_args<I, T>(args: I) -> Result<HookCall, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        HookCall::try_parse_from(args)
    }

    /// Runs the hook for the container whose OCI state is `state_json`.
    pub fn run(&self, state_json: &[u8]) -> Result<(), HookClientError> {
        let timeout = |common: &Common| Duration::from_millis(common.timeout_ms.max(1));
        match &self.hook {
            Hook::CreateRuntime { policy, common } => {
                crate::create_runtime(&common.socket, policy, state_json, timeout(common))
            }
            Hook::Poststop { common } => {
                crate::poststop(&common.socket, state_json, timeout(common))
            }
        }
    }
}
