//! The hook's inputs: the OCI state on stdin and the compiled policy file.

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::container::check_state;

use crate::HookError;

/// Parses the OCI state the runtime writes to a hook's stdin.
pub fn read_state(reader: impl Read) -> Result<State, HookError> {
    let text =
        openshell_hook_client::read_stdin(reader).map_err(|e| HookError::Input(e.to_string()))?;
    let state: State = serde_json::from_slice(&text)
        .map_err(|e| HookError::Input(format!("the OCI state on stdin is not valid: {e}")))?;
    check_state(&state).map_err(HookError::Input)?;
    Ok(state)
}

/// Reads and verifies the compiled policy the runtime wrote for the container.
pub fn read_policy(path: &Path) -> Result<CompiledPolicy, HookError> {
    CompiledPolicy::read(path).map_err(|e| HookError::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_checked() {
        let ok = r#"{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        let state = read_state(ok.as_bytes()).unwrap();
        assert_eq!((state.id().as_str(), *state.pid()), ("c1", Some(42)));
        let bad_id = r#"{"ociVersion":"1.0.2","id":"../x","status":"creating","bundle":"/b"}"#;
        assert!(
            read_state(bad_id.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("container id")
        );
        let relative = r#"{"ociVersion":"1.0.2","id":"c","status":"creating","bundle":"b"}"#;
        assert!(
            read_state(relative.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        assert!(
            read_state(&b"{"[..])
                .unwrap_err()
                .to_string()
                .contains("not valid")
        );
    }
}
