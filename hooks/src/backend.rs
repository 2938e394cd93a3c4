//! Who decides: the policy service over its socket, or the embedded engine in-process.
//!
//! The embedded engine is built when the hook first asks it for a decision, and without its
//! intent classifier (an admission needs none): `poststop` never builds it, and
//! `create-runtime` builds only the Cedar compiler and the audit hub. With `[hooks]
//! admission_cache` it answers an admission the cache verifiably holds without compiling.

use std::sync::OnceLock;
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
    Embedded(Box<LazyEngine>),
}

/// The embedded engine, built on first use.
pub struct LazyEngine {
    /// The node configuration the engine is built for.
    node: NodeConfig,
    /// The engine, once built.
    engine: OnceLock<PolicyService>,
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
            None => Ok(PolicyBackend::Embedded(Box::new(LazyEngine {
                node: node.clone(),
                engine: OnceLock::new(),
            }))),
        }
    }

    /// Starts what auditing a decision here needs, for a hook that will decide: the embedded
    /// engine audits its decision, and the scanner that redacts the event takes over half a
    /// millisecond to build, so it is built on the other core from now, while the hook does the
    /// rest of its work. The policy service audits on its own side.
    pub fn prepare_audit(&self) {
        if let PolicyBackend::Embedded(_) = self {
            openshell_audit::prepare_redaction();
        }
    }

    /// Asks whether the sandbox may start.
    pub fn admit(&self, request: &AdmissionRequest) -> Result<Decision, HookError> {
        match self {
            PolicyBackend::Service { client, runtime } => runtime
                .block_on(client.admission(request))
                .map_err(service_error),
            PolicyBackend::Embedded(lazy) => {
                let engine = match lazy.engine.get() {
                    Some(engine) => engine,
                    None => {
                        let mut built =
                            PolicyService::for_admission(ServiceSettings::new(lazy.node.clone()))
                                .map_err(|e| HookError::Service(format!("embedded engine: {e}")))?;
                        if let Some(dir) = &lazy.node.hooks.admission_cache {
                            built = built.with_admission_cache(dir);
                        }
                        lazy.engine.get_or_init(|| built)
                    }
                };
                Ok(engine.admit(request))
            }
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
        let PolicyBackend::Embedded(lazy) = self else {
            return Ok(());
        };
        match lazy.engine.get() {
            Some(engine) => engine
                .flush_audit(timeout)
                .map_err(|e| HookError::Service(format!("audit: {e}"))),
            None => Ok(()),
        }
    }
}
