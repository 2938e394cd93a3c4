//! A container's `createRuntime` and `poststop` done by the service itself, for the thin hook
//! (`openshell-hook-client`) the runtime injects on a node that runs the service: one request a
//! hook, instead of a hook process that loads the node configuration, starts a client, asks for
//! admission, writes the registration record and registers it.
//!
//! Only sandboxes without a network to wire go this way (`isolation.network` other than
//! `restricted`): wiring a restricted sandbox's namespace to the egress engine and registering it
//! with the router stay the full `openshell-hook`'s, and the service refuses such a sandbox.

use std::time::SystemTime;

use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::container::{self, admission_request, check_state};
use openshell_policy::wire::{Decision, check_container_id};

use crate::service::{PolicyService, ServiceError};

impl PolicyService {
    /// `createRuntime` for container `state` under its compiled `policy`: the admission
    /// decision, and when it allows, the registration record written to the node's
    /// `registry_dir` and the container registered (a failed registration removes the record
    /// again). A denial is returned, not an error: nothing is written for it.
    ///
    /// `deadline` is when the hook gives up. A start that is done only after it (checked once
    /// the container is registered) is undone and answered [`ServiceError::TooLate`]: the hook
    /// has failed, and the runtime's `poststop` ([`stop_sandbox`](Self::stop_sandbox)) may
    /// have come before the start was done, so nothing of the start may stay.
    pub fn start_sandbox(
        &self,
        state: &State,
        policy: CompiledPolicy,
        deadline: Option<SystemTime>,
    ) -> Result<Decision, ServiceError> {
        let late = || {
            deadline.is_some_and(|d| SystemTime::now() > d).then(|| {
                ServiceError::TooLate(format!(
                    "the hook's deadline for container {} passed before its start was done; undone",
                    state.id()
                ))
            })
        };
        check_state(state).map_err(ServiceError::BadRequest)?;
        policy
            .verify()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        // Compiled now, without hashing the record a second time, so that the admission below
        // finds it by digest. A record that does not compile is denied there, with its reasons.
        let _ = self.compile_verified(&policy);
        if policy.sandbox_network.is_some() {
            return Err(ServiceError::BadRequest(format!(
                "policy {:?} isolates the network (restricted): its sandbox is wired and \
                 registered by openshell-hook, not by the policy service",
                policy.name
            )));
        }
        let request = admission_request(state, policy);
        let decision = self.admit(&request);
        if !decision.is_allowed() {
            return Ok(decision);
        }
        let node = self.node();
        let registration = container::registration(state, &request.policy, node.region.as_deref());
        let path = container::record_path(&node.registry_dir, state.id());
        container::write_record(&path, &registration).map_err(|source| ServiceError::Registry {
            path: path.clone(),
            source,
        })?;
        if let Err(e) = self.register(registration) {
            let _ = container::remove_record(&path);
            return Err(e);
        }
        if let Some(e) = late() {
            let _ = self.stop_sandbox(state.id());
            return Err(e);
        }
        Ok(decision)
    }

    /// `poststop` for container `container_id`: its record removed and the container
    /// unregistered; one that is neither is not an error (poststop also runs after a failed
    /// create). True if it was registered.
    pub fn stop_sandbox(&self, container_id: &str) -> Result<bool, ServiceError> {
        check_container_id(container_id).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let path = container::record_path(&self.node().registry_dir, container_id);
        container::remove_record(&path)
            .map_err(|source| ServiceError::Registry { path, source })?;
        Ok(self.unregister(container_id))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::service::tests::service;

    fn record(network: &str, denied: &str) -> CompiledPolicy {
        let yaml = format!(
            "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {{name: agent}}\n\
             spec:\n  isolation: {{network: {network}}}\n  permissions:\n    deniedAPIs: [\"{denied}\"]\n"
        );
        openshell_policy::compile_default("agent.yaml", &yaml).unwrap()
    }

    fn state(id: &str, bundle: &Path) -> State {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "id": id, "status": "creating", "pid": 4242, "bundle": bundle,
        }))
        .unwrap()
    }

    #[test]
    fn an_admitted_sandbox_is_recorded_and_registered_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let decision = service
            .start_sandbox(&state("c1", dir.path()), record("none", "crm.delete"), None)
            .unwrap();
        assert!(decision.is_allowed(), "{decision:?}");
        let path = container::record_path(&service.node().registry_dir, "c1");
        let written: openshell_policy::wire::ContainerRegistration =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            (written.container_id.as_str(), written.pid),
            ("c1", Some(4242))
        );
        assert!(service.registration("c1").is_some());
        assert!(service.stop_sandbox("c1").unwrap());
        assert!(!path.exists() && service.registration("c1").is_none());
        // Again (poststop after a failed create): nothing to do, no error.
        assert!(!service.stop_sandbox("c1").unwrap());
        assert!(matches!(
            service.stop_sandbox("../c1"),
            Err(ServiceError::BadRequest(_))
        ));
    }

    #[test]
    fn a_denied_or_unrecordable_sandbox_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let registry = &service.node().registry_dir;
        let denied = service
            .start_sandbox(&state("c2", dir.path()), record("none", "sandbox.*"), None)
            .unwrap();
        assert!(!denied.is_allowed());
        assert!(!container::record_path(registry, "c2").exists());
        assert!(service.registration("c2").is_none());

        // A restricted sandbox is the full hook's; a tampered record is refused.
        let restricted =
            service.start_sandbox(&state("c3", dir.path()), record("restricted", "x"), None);
        assert!(
            matches!(restricted, Err(ServiceError::BadRequest(m)) if m.contains("openshell-hook"))
        );
        let mut tampered = record("none", "crm.delete");
        tampered.decisions.permissions.denied_apis.clear();
        let tampered = service.start_sandbox(&state("c3", dir.path()), tampered, None);
        assert!(matches!(tampered, Err(ServiceError::BadRequest(m)) if m.contains("changed")));
        let relative = service.start_sandbox(
            &state("c3", Path::new("bundle")),
            record("none", "crm.delete"),
            None,
        );
        assert!(matches!(relative, Err(ServiceError::BadRequest(m)) if m.contains("absolute")));

        // The registry cannot be written: an error, and the container is not registered.
        std::fs::write(registry, "not a directory").unwrap();
        let unwritable =
            service.start_sandbox(&state("c4", dir.path()), record("none", "crm.delete"), None);
        assert!(
            matches!(unwritable, Err(ServiceError::Registry { .. })),
            "{unwritable:?}"
        );
        assert!(service.registration("c4").is_none());
        assert_eq!(service.registered_count(), 0);
    }

    #[test]
    fn a_start_past_the_hooks_deadline_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let path = container::record_path(&service.node().registry_dir, "c5");
        let past = SystemTime::now() - std::time::Duration::from_millis(1);
        let late = service.start_sandbox(&state("c5", dir.path()), record("none", "x"), Some(past));
        assert!(matches!(late, Err(ServiceError::TooLate(m)) if m.contains("c5")));
        assert!(!path.exists() && service.registration("c5").is_none());
        // In time: started and kept.
        let future = SystemTime::now() + std::time::Duration::from_secs(60);
        let started =
            service.start_sandbox(&state("c5", dir.path()), record("none", "x"), Some(future));
        assert!(started.unwrap().is_allowed());
        assert!(path.exists() && service.registration("c5").is_some());
    }
}
