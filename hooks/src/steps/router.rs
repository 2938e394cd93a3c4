//! The privacy router's part of `create-runtime` and `poststop`, on a node whose configuration
//! names the router's admin socket (`[services] router`): a restricted sandbox is registered
//! with the router once its address is known (so its first model request is served, and its
//! caller token is accepted), and unregistered at `poststop` (so the token dies with the
//! sandbox at once, not at the router's next scan of the registry). A router that does not
//! answer fails `create-runtime`: the sandbox does not start (fail closed).

use std::path::Path;
use std::time::Duration;

use hyper::{Method, StatusCode};
use oci_spec::runtime::State;
use openshell_egress_client::client::block_on;
use openshell_policy::wire::ContainerRegistration;
use openshell_service_http::{UnixClient, error_text};

use crate::steps::CreateContext;
use crate::{HookError, HookSettings};

/// The largest answer the router's admin API gives to these calls.
const MAX_ANSWER: usize = 64 * 1024;

fn client(socket: &Path, timeout: Duration) -> UnixClient {
    UnixClient::new(socket, timeout, "openshell-router", MAX_ANSWER)
}

fn failed(socket: &Path, what: String) -> HookError {
    HookError::Router(format!("{} ([services] router): {what}", socket.display()))
}

/// Registers a restricted sandbox with the router, when the node names one.
pub fn run(ctx: &CreateContext) -> Result<(), HookError> {
    let Some(socket) = &ctx.settings.node.services.router else {
        return Ok(());
    };
    if ctx.policy.sandbox_network.is_none() {
        return Ok(());
    }
    register(socket, ctx.settings.timeout, &ctx.registration)
}

fn register(
    socket: &Path,
    timeout: Duration,
    registration: &ContainerRegistration,
) -> Result<(), HookError> {
    let body = serde_json::to_vec(registration).map_err(|e| failed(socket, e.to_string()))?;
    let path = format!("/v1/callers/{}", registration.container_id);
    let answer = block_on(client(socket, timeout).call(Method::PUT, &path, Some(body)))
        .map_err(|e| failed(socket, e.to_string()))?;
    match answer {
        Ok((StatusCode::OK, _)) => Ok(()),
        Ok((status, body)) => Err(failed(
            socket,
            format!("registration refused ({status}): {}", error_text(&body)),
        )),
        Err(e) => Err(failed(socket, e.to_string())),
    }
}

/// Unregisters the container from the router; a container it does not know is not an error.
pub fn remove(state: &State, settings: &HookSettings) -> Result<(), HookError> {
    let Some(socket) = &settings.node.services.router else {
        return Ok(());
    };
    let path = format!("/v1/callers/{}", state.id());
    let answer = block_on(client(socket, settings.timeout).call(Method::DELETE, &path, None))
        .map_err(|e| failed(socket, e.to_string()))?;
    match answer {
        Ok((StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _)) => Ok(()),
        Ok((status, body)) => Err(failed(
            socket,
            format!("unregistration refused ({status}): {}", error_text(&body)),
        )),
        Err(e) => Err(failed(socket, e.to_string())),
    }
}
