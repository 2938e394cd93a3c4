//! `openshell policy get|set CONTAINER [FILE]` (run as `openshell-egress policy get|set`, the
//! engine's own admin client): shows or replaces the egress policy the node's engine enforces
//! for a running sandbox, without restarting it.

use std::path::Path;

use openshell_policy::PolicySet;
use openshell_policy::node_config::NodeConfig;

use crate::sandbox_net;

/// Why a policy could not be shown or replaced.
#[derive(Debug, thiserror::Error)]
pub enum PolicyAdminError {
    /// The request itself is wrong (no such sandbox, an unusable policy file).
    #[error("{0}")]
    Input(String),
    /// The engine could not be asked.
    #[error("egress engine: {0}")]
    Engine(#[from] sandbox_net::NetError),
}

/// The active egress policy of `container_id`, as pretty JSON.
pub fn get(container_id: &str, node: &NodeConfig) -> Result<String, PolicyAdminError> {
    let record =
        sandbox_net::active_policy(container_id, node).map_err(|e| explain(container_id, e))?;
    serde_json::to_string_pretty(&record.policy).map_err(|e| PolicyAdminError::Input(e.to_string()))
}

/// Replaces the egress policy of `container_id` with the one in `file`; returns a summary line.
pub fn set(container_id: &str, file: &Path, node: &NodeConfig) -> Result<String, PolicyAdminError> {
    let set = PolicySet::load(file).map_err(|e| PolicyAdminError::Input(e.to_string()))?;
    if set.network().is_none() {
        return Err(PolicyAdminError::Input(format!(
            "{}: no NetworkPolicy document: it would leave {container_id} reaching nothing \
             (add a NetworkPolicy, even one that allows nothing, to mean it)",
            file.display()
        )));
    }
    let record = sandbox_net::replace_policy(container_id, &set, node)
        .map_err(|e| explain(container_id, e))?;
    Ok(format!(
        "{container_id}: egress policy {:?} ({}) active from the next request",
        record.policy.name,
        set.digest()
    ))
}

/// A 404 from the engine means the container is not a running restricted sandbox.
fn explain(container_id: &str, error: sandbox_net::NetError) -> PolicyAdminError {
    match &error {
        sandbox_net::NetError::Engine(e) if e.is_not_found() => PolicyAdminError::Input(format!(
            "container {container_id:?} is not registered with the egress engine: only running \
             containers with isolation.network: restricted have an egress policy"
        )),
        _ => PolicyAdminError::Engine(error),
    }
}
