//! `openshell-hook-client`: the hooks of a node that runs the policy service, as one request
//! each, for sandboxes without a network to wire. The service does the work
//! (`nemotron_service::sandboxes`): `create-runtime` sends the OCI state and the compiled
//! policy to `POST /v1/sandboxes` (admission, registration record, registration), `poststop`
//! sends `DELETE /v1/sandboxes/{id}`.
//!
//! A hook's own process start is most of what it costs (the decision takes tens of
//! microseconds in the service), so this client is what runs when a sandbox starts: it loads no
//! node configuration (the runtime passes the socket and the timeout), starts no async runtime
//! and no thread, and speaks HTTP/1.1 over one blocking unix-socket connection (`httparse`
//! reads the answer). Like `openshell-hook` it refuses `LD_*` variables, works from `/`, reads
//! the policy file without following symlinks, and fails closed: no answer within the timeout,
//! a refused or malformed answer, or a denial exits non-zero and the container does not start.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::State;
use openshell_policy::container::check_state;
use openshell_service_http::error_text;

use crate::HookError;

/// Largest input read (the OCI state, the compiled policy).
const MAX_INPUT: u64 = 4 << 20;
/// Largest answer read from the service.
const MAX_ANSWER: usize = 64 * 1024;

/// `create-runtime`: admission and registration by the service listening on `socket`, for the
/// container whose OCI state is `state_json` and whose compiled policy the runtime wrote to
/// `policy`.
pub fn create_runtime(
    socket: &Path,
    policy: &Path,
    state_json: &[u8],
    timeout: Duration,
) -> Result<(), HookError> {
    read_state(state_json)?;
    let policy_json = read_policy(policy)?;
    let mut body = Vec::with_capacity(state_json.len() + policy_json.len() + 24);
    body.extend_from_slice(b"{\"state\":");
    body.extend_from_slice(state_json);
    body.extend_from_slice(b",\"policy\":");
    body.extend_from_slice(&policy_json);
    body.push(b'}');
    let (status, answer) = call(socket, timeout, "POST", "/v1/sandboxes", Some(&body))?;
    match status {
        201 => Ok(()),
        403 => Err(HookError::Service(error_text(&answer))),
        _ => Err(refused(socket, status, &answer)),
    }
}

/// `poststop`: the container's record removed and the container unregistered by the service.
pub fn poststop(socket: &Path, state_json: &[u8], timeout: Duration) -> Result<(), HookError> {
    let state = read_state(state_json)?;
    let path = format!("/v1/sandboxes/{}", state.id());
    match call(socket, timeout, "DELETE", &path, None)? {
        (204, _) => Ok(()),
        (status, answer) => Err(refused(socket, status, &answer)),
    }
}

/// Reads the OCI state on stdin, at most [`MAX_INPUT`] bytes.
pub fn read_stdin(mut stdin: impl Read) -> Result<Vec<u8>, HookError> {
    let mut text = Vec::new();
    stdin
        .by_ref()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut text)
        .map_err(|e| HookError::Input(format!("cannot read the OCI state on stdin: {e}")))?;
    if text.len() as u64 > MAX_INPUT {
        return Err(HookError::Input(format!(
            "the OCI state on stdin is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(text)
}

fn read_state(json: &[u8]) -> Result<State, HookError> {
    let state: State = serde_json::from_slice(json)
        .map_err(|e| HookError::Input(format!("the OCI state on stdin is not valid: {e}")))?;
    check_state(&state).map_err(HookError::Input)?;
    Ok(state)
}

/// The policy file's bytes, checked to be one JSON value (the service verifies the record and
/// its digest).
fn read_policy(path: &Path) -> Result<Vec<u8>, HookError> {
    let unreadable = |e: std::io::Error| {
        HookError::Input(format!(
            "cannot read compiled policy {}: {e}",
            path.display()
        ))
    };
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
        return Err(HookError::Input(format!(
            "compiled policy {} is larger than {MAX_INPUT} bytes",
            path.display()
        )));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&json).map_err(|e| {
        HookError::Input(format!(
            "compiled policy {} is not JSON: {e}",
            path.display()
        ))
    })?;
    Ok(json)
}

fn refused(socket: &Path, status: u16, answer: &[u8]) -> HookError {
    HookError::Service(format!(
        "the policy service at {} answered {status}: {}",
        socket.display(),
        error_text(answer)
    ))
}

/// One HTTP/1.1 exchange with the service, which closes the connection after answering: the
/// status and the body. The whole exchange is bounded by `timeout`.
fn call(
    socket: &Path,
    timeout: Duration,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), HookError> {
    let deadline = Instant::now() + timeout;
    let failed = |what: String| {
        HookError::Service(format!(
            "the policy service at {}: {what}",
            socket.display()
        ))
    };
    let late = || {
        HookError::Service(format!(
            "the policy service at {} did not answer within {timeout:?}; failing closed",
            socket.display()
        ))
    };
    let io_failed = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => late(),
        _ => failed(e.to_string()),
    };
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(late)
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        HookError::Service(format!(
            "cannot connect to the policy service at {}: {e}",
            socket.display()
        ))
    })?;
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: openshell\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .set_write_timeout(Some(remaining()?))
        .map_err(io_failed)?;
    stream.write_all(&request).map_err(io_failed)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(remaining()?))
            .map_err(io_failed)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failed(e)),
        }
        if answer.len() > MAX_ANSWER {
            return Err(failed(format!("answer larger than {MAX_ANSWER} bytes")));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&answer) {
        Ok(httparse::Status::Complete(head)) => {
            let status = response.code.unwrap_or_default();
            Ok((status, answer[head..].to_vec()))
        }
        Ok(httparse::Status::Partial) => Err(failed("the answer ended early".to_owned())),
        Err(e) => Err(failed(format!("not an HTTP answer: {e}"))),
    }
}
