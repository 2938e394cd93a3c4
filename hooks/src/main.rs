//! `openshell-hook create-runtime|poststop`: the OCI hooks openshell injects (see the library
//! docs for the contract).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use openshell_hook::backend::PolicyBackend;
use openshell_hook::steps::{self, CreateContext};
use openshell_hook::{HookError, HookSettings, inputs};
use openshell_hook_client::environment;
use openshell_policy::node_config::NodeConfig;

#[derive(Parser, Debug)]
#[command(name = "openshell-hook", version, about = "openshell OCI hooks")]
struct Cli {
    #[command(subcommand)]
    hook: Hook,
}

#[derive(Subcommand, Debug)]
enum Hook {
    /// createRuntime: admission, then registration. Reads the OCI state from stdin.
    CreateRuntime {
        /// The container's policy (JSON) written by the runtime into its state directory.
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
    /// Where registration records live (default: the node's registry_dir).
    #[arg(long)]
    state_root: Option<PathBuf>,
    /// Node configuration (default: $OPENSHELL_CONFIG, else /etc/openshell/config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Give up (and fail) after this many milliseconds (default: the node's hooks.timeout_ms).
    #[arg(long)]
    timeout_ms: Option<u64>,
}

fn settings(common: &Common) -> Result<HookSettings, HookError> {
    let node = match &common.config {
        Some(path) => NodeConfig::load_from(path),
        None => NodeConfig::load(),
    }
    .map_err(|e| HookError::Input(e.to_string()))?;
    let timeout = Duration::from_millis(common.timeout_ms.unwrap_or(node.hooks.timeout_ms).max(1));
    let state_root = common
        .state_root
        .clone()
        .unwrap_or_else(|| node.registry_dir.clone());
    Ok(HookSettings {
        node,
        state_root,
        timeout,
    })
}

/// A registration record to remove if the deadline passes.
static UNDO: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Fails the hook when the deadline passes, wherever it is stuck, removing a registration
/// record it may have written so nothing is left behind.
fn arm_deadline(timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        if let Some(path) = UNDO.lock().ok().and_then(|mut p| p.take()) {
            let _ = std::fs::remove_file(path);
        }
        eprintln!("openshell-hook: no answer within {timeout:?}; failing closed");
        std::process::exit(1);
    });
}

fn run(cli: Cli) -> Result<(), HookError> {
    environment::harden().map_err(HookError::Environment)?;
    match cli.hook {
        Hook::CreateRuntime { policy, common } => {
            let settings = settings(&common)?;
            let backend = PolicyBackend::for_node(&settings.node, settings.timeout)?;
            backend.prepare_audit();
            arm_deadline(settings.timeout);
            let state = inputs::read_state(std::io::stdin().lock())?;
            if let Ok(mut undo) = UNDO.lock() {
                *undo = Some(steps::registration::record_path(&settings, state.id()));
            }
            let policy = inputs::read_policy(&policy)?;
            let registration = steps::registration::record(&state, &policy, &settings);
            steps::create_runtime(CreateContext {
                state,
                policy,
                settings,
                backend,
                registration,
            })
        }
        Hook::Poststop { common } => {
            let settings = settings(&common)?;
            arm_deadline(settings.timeout);
            let state = inputs::read_state(std::io::stdin().lock())?;
            let backend = PolicyBackend::for_node(&settings.node, settings.timeout)?;
            steps::poststop(&state, &settings, &backend)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openshell-hook: {e}");
            ExitCode::FAILURE
        }
    }
}
