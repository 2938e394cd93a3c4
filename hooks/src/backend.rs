//! Who decides: the policy service over its socket, or the embedded engine in-process.

use std::time::Duration;

use nemotron_service::client::{ClientError, ServiceClient};
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{AdmissionRequest, ContainerRegistration, Decision};

use crate::HookError;

/// The decision backend of this node.
pub enum PolicyBackend {
    /// The node runs the policy service: ask it (and fail closed if it does not answer).
    Service {
        /// The client.
        client: ServiceClient,
        /// A single-threaded runtime for the client's calls.
        runtime: tokio::runtime::Runtime,
    },
    /// No service configured: the same engine, in this process.
    Embedded(Box<PolicyService>),
}

fn service_error(e: ClientError) -> HookError {
    HookError::Service(e.to_string())
}

impl PolicyBackend {
    /// The backend the node configuration names; service calls are bounded by `timeout`.
    pub fn for_node(node: &NodeConfig, timeout: Duration) -> Result<PolicyBackend, HookError> {
        match &node.services.nemotron {
            Some(socket) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        HookError::Service(format!("cannot start the I/O runtime: {e}"))
                    })?;
                Ok(PolicyBackend::Service {
                    client: ServiceClient::new(socket, timeout),
                    runtime,
                })
            }
            None => {
                let service = PolicyService::new(ServiceSettings::new(node.clone()))
                    .map_err(|e| HookError::Service(format!("embedded engine: {e}")))?;
                Ok(PolicyBackend::Embedded(Box::new(service)))
            }
        }
    }

    /// Asks whether the sandbox may start.
    pub fn admit(&self, request: &AdmissionRequest) -> Result<Decision, HookError> {
        match self {
            PolicyBackend::Service { client, runtime } => runtime
                .block_on(client.admission(request))
                .map_err(service_error),
            PolicyBackend::Embedded(service) => Ok(service.admit(request)),
        }
    }

    /// Registers the container with the service (the embedded engine keeps no registry: the
    /// record on disk is the registration).
    pub fn register(&self, registration: &ContainerRegistration) -> Result<(), HookError> {
        match self {
            PolicyBackend::Service { client, runtime } => runtime
                .block_on(client.register(registration))
                .map_err(service_error),
            PolicyBackend::Embedded(_) => Ok(()),
        }
    }

    /// Unregisters the container from the service.
    pub fn unregister(&self, container_id: &str) -> Result<(), HookError> {
        match self {
            PolicyBackend::Service { client, runtime } => runtime
                .block_on(client.unregister(container_id))
                .map(|_| ())
                .map_err(service_error),
            PolicyBackend::Embedded(_) => Ok(()),
        }
    }

    /// Waits (up to `timeout`) for the embedded engine's audit events to be written.
    pub fn finish(&self, timeout: Duration) -> Result<(), HookError> {
        match self {
            PolicyBackend::Service { .. } => Ok(()),
            PolicyBackend::Embedded(service) => service
                .flush_audit(timeout)
                .map_err(|e| HookError::Service(format!("audit: {e}"))),
        }
    }
}
