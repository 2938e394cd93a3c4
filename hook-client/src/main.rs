//! `openshell-hook-client create-runtime|poststop`: the hooks openshell injects on a node that
//! runs the policy service, for sandboxes without a network to wire (see the library).

use std::process::ExitCode;

use openshell_hook_client::{HookCall, HookClientError, environment};

fn run(call: &HookCall) -> Result<(), HookClientError> {
    environment::harden().map_err(HookClientError::Environment)?;
    let state = openshell_hook_client::read_stdin(std::io::stdin().lock())?;
    call.run(&state)
}

fn main() -> ExitCode {
    let call = HookCall::from_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match run(&call) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openshell-hook-client: {e}");
            ExitCode::FAILURE
        }
    }
}
