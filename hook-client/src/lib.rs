//! `openshell-hook-client`: the hooks of a node that runs the policy service, as one request
//! each, for sandboxes without a network to wire. The service does the work: `create-runtime`
//! sends the OCI state, the compiled policy and its deadline to `POST /v1/sandboxes` (the
//! service verifies the record, admits, writes the registration record and registers, and
//! undoes it all if it finishes after the deadline), `poststop` sends
//! `DELETE /v1/sandboxes/{id}`.
//!
//! A hook's own process start is most of what it costs (the decision takes tens of
//! microseconds in the service), and every sandbox start pays it, so this client loads no node
//! configuration (the runtime passes the socket and the timeout), parses neither the state nor
//! the policy (it checks that each is one JSON value; the service checks the rest), starts no
//! async runtime and no thread, and speaks HTTP/1.1 over one blocking unix-socket connection
//! (`httparse` reads the answer). Its few dependencies let the build link it statically, which
//! saves the dynamic loader's work at every start.
//!
//! openshell itself does not start this binary: its hook runner makes the same call
//! ([`HookCall`]) in the runtime's own process, which saves the process start. The binary is
//! what the spec names, for other runtimes given the bundle.
//!
//! Like `openshell-hook` it refuses `LD_*` variables and works from `/` ([`environment`]),
//! reads the policy file without following symlinks, and fails closed: no answer within the
//! timeout, a refused or malformed answer, or a denial exits non-zero, and the runtime does not
//! start the container.

mod cli;
pub mod environment;
mod exchange;

pub use cli::HookCall;

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest input read (the OCI state, the compiled policy).
const MAX_INPUT: u64 = 4 << 20;

/// Why a hook failed; printed on stderr, and the hook exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum HookClientError {
    /// The environment is unsafe to run in.
    #[error("refusing to run: {0}")]
    Environment(String),
    /// The OCI state or the policy file is unusable.
    #[error("{0}")]
    Input(String),
    /// The service denied the sandbox (its message names the reasons and policies).
    #[error("{0}")]
    Denied(String),
    /// The service is unreachable, silent, or refused the request.
    #[error("policy service: {0}")]
    Service(String),
}

/// `create-runtime`: admission and registration by the service listening on `socket`, for the
/// container whose OCI state is `state_json` and whose compiled policy the runtime wrote to
/// `policy`.
pub fn create_runtime(
    socket: &Path,
    policy: &Path,
    state_json: &[u8],
    timeout: Duration,
) -> Result<(), HookClientError> {
    one_json_value(state_json, "the OCI state on stdin")?;
    let policy_json = read_policy(policy)?;
    let mut body = Vec::with_capacity(state_json.len() + policy_json.len() + 64);
    body.extend_from_slice(b"{\"state\":");
    body.extend_from_slice(state_json);
    body.extend_from_slice(b",\"policy\":");
    body.extend_from_slice(&policy_json);
    body.extend_from_slice(
        format!(",\"deadline_ms\":{}}}", service_deadline_ms(timeout)).as_bytes(),
    );
    let answer = exchange::call(socket, timeout, "POST", "/v1/sandboxes", Some(&body))?;
    match answer.status {
        201 => Ok(()),
        403 => Err(HookClientError::Denied(answer.error_text())),
        _ => Err(answer.refused(socket)),
    }
}

/// The deadline the service must finish a start by (milliseconds since the Unix epoch): this
/// hook's own, less a margin for the answer to arrive (a tenth of the timeout, at most 100 ms).
/// A start the service finishes later it undoes, so a hook that gave up leaves nothing behind
/// even when its `poststop` reached the service first.
fn service_deadline_ms(timeout: Duration) -> u128 {
    let margin = (timeout / 10).min(Duration::from_millis(100));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now + timeout - margin).as_millis()
}

/// `poststop`: the container's record removed and the container unregistered by the service.
pub fn poststop(
    socket: &Path,
    state_json: &[u8],
    timeout: Duration,
) -> Result<(), HookClientError> {
    let id = container_id(state_json)?;
    let answer = exchange::call(
        socket,
        timeout,
        "DELETE",
        &format!("/v1/sandboxes/{id}"),
        None,
    )?;
    match answer.status {
        204 => Ok(()),
        _ => Err(answer.refused(socket)),
    }
}

/// Reads the OCI state on stdin, at most 4 MiB.
pub fn read_stdin(mut stdin: impl Read) -> Result<Vec<u8>, HookClientError> {
    let mut text = Vec::new();
    stdin
        .by_ref()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut text)
        .map_err(|e| HookClientError::Input(format!("cannot read the OCI state on stdin: {e}")))?;
    if text.len() as u64 > MAX_INPUT {
        return Err(HookClientError::Input(format!(
            "the OCI state on stdin is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(text)
}

fn one_json_value(json: &[u8], what: &str) -> Result<(), HookClientError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(json)
        .map(|_| ())
        .map_err(|e| HookClientError::Input(format!("{what} is not valid JSON: {e}")))
}

/// The state's container id, which goes into a request path: letters, digits, `_`, `-` and
/// `.` only (the service checks the rest of the OCI rules).
fn container_id(state_json: &[u8]) -> Result<String, HookClientError> {
    let state: serde_json::Value = serde_json::from_slice(state_json).map_err(|e| {
        HookClientError::Input(format!("the OCI state on stdin is not valid JSON: {e}"))
    })?;
    let id = state["id"].as_str().unwrap_or_default();
    let path_safe = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !path_safe {
        return Err(HookClientError::Input(format!(
            "the OCI state's container id {id:?} is not letters, digits, '_', '-' and '.'"
        )));
    }
    Ok(id.to_owned())
}

/// The policy file's bytes, checked to be one JSON value.
fn read_policy(path: &Path) -> Result<Vec<u8>, HookClientError> {
    let what = format!("compiled policy {}", path.display());
    let unreadable = |e: std::io::Error| HookClientError::Input(format!("cannot read {what}: {e}"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(unreadable)?;
    let mut json = Vec::new();
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut json)
        .map_err(unreadable)?;
    if json.len() as u64 > MAX_INPUT {
        return Err(HookClientError::Input(format!(
            "{what} is larger than {MAX_INPUT} bytes"
        )));
    }
    one_json_value(&json, &what)?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_path_safe_ids_reach_a_request_path() {
        let state = |id: &str| serde_json::json!({ "id": id }).to_string().into_bytes();
        assert_eq!(container_id(&state("c-1_x.y")).unwrap(), "c-1_x.y");
        for bad in ["", "../x", "a/b", "a?b", "a b", "a%2f"] {
            let err = container_id(&state(bad)).unwrap_err().to_string();
            assert!(err.contains("container id"), "{bad}: {err}");
        }
        assert!(container_id(b"{").is_err());
    }

    #[test]
    fn the_policy_is_one_json_value_read_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("policy.json");
        std::fs::write(&good, br#"{"name": "agent"}"#).unwrap();
        assert_eq!(read_policy(&good).unwrap(), br#"{"name": "agent"}"#);
        let two = dir.path().join("two.json");
        std::fs::write(&two, br#"{"name": 1}, {}"#).unwrap();
        assert!(
            read_policy(&two)
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(
            read_policy(&link)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
