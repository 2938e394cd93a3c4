//! The hook's inputs: the OCI state on stdin and the compiled policy file.

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::container::check_state;

use crate::HookError;

/// Largest input read (state, policy, config.json).
const MAX_INPUT: u64 = 4 << 20;

fn read_limited(mut reader: impl Read, what: &str) -> Result<String, HookError> {
    let mut text = String::new();
    reader
        .by_ref()
        .take(MAX_INPUT + 1)
        .read_to_string(&mut text)
        .map_err(|e| HookError::Input(format!("cannot read {what}: {e}")))?;
    if text.len() as u64 > MAX_INPUT {
        return Err(HookError::Input(format!(
            "{what} is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(text)
}

/// Parses the OCI state the runtime writes to a hook's stdin.
pub fn read_state(reader: impl Read) -> Result<State, HookError> {
    let text = read_limited(reader, "the OCI state on stdin")?;
    let state: State = serde_json::from_str(&text)
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
