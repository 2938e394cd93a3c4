//! The hook's inputs: the OCI state on stdin, the policy file, the bundle's `config.json`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec, State};
use openshell_policy::CompiledPolicy;
use openshell_policy::wire::{AdmissionRequest, RequestedSandbox, check_container_id};

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
    check_container_id(state.id()).map_err(|e| HookError::Input(e.to_string()))?;
    if !state.bundle().is_absolute() {
        return Err(HookError::Input(format!(
            "the OCI state's bundle {:?} is not an absolute path",
            state.bundle()
        )));
    }
    Ok(state)
}

/// Reads and verifies the compiled policy the runtime wrote for the container.
pub fn read_policy(path: &Path) -> Result<CompiledPolicy, HookError> {
    CompiledPolicy::read(path).map_err(|e| HookError::Input(e.to_string()))
}

/// Annotations that name the image.
const IMAGE_ANNOTATIONS: [&str; 4] = [
    "org.opencontainers.image.ref.name",
    "io.kubernetes.cri.image-name",
    "io.kubernetes.cri-o.ImageName",
    "org.opencontainers.image.base.name",
];

/// The admission question for a container: what its spec (the compiled one it runs with) asks
/// for, under `policy`.
pub fn admission_request(state: &State, policy: CompiledPolicy) -> AdmissionRequest {
    let spec = &policy.spec;
    let mut annotations: BTreeMap<String, String> = spec
        .annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if let Some(extra) = state.annotations() {
        annotations.extend(extra.clone());
    }
    let image = IMAGE_ANNOTATIONS
        .iter()
        .find_map(|k| annotations.get(*k).cloned());
    let args = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().clone())
        .unwrap_or_default();
    AdmissionRequest {
        container_id: state.id().clone(),
        bundle: state.bundle().clone(),
        args,
        image,
        requested: requested(spec, &annotations),
        annotations,
        policy,
    }
}

/// What the spec asks for: network, GPUs, privileges, limits.
pub fn requested(spec: &Spec, annotations: &BTreeMap<String, String>) -> RequestedSandbox {
    let linux = spec.linux().as_ref();
    let network = match linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::Network))
    {
        None => "host",
        Some(n) if n.path().is_some() => "private",
        Some(_) => "none",
    };
    let mut gpus: Vec<String> = linux
        .and_then(|l| l.devices().as_ref())
        .map(|devices| {
            devices
                .iter()
                .map(|d| d.path().display().to_string())
                .filter(|p| {
                    p.starts_with("/dev/nvidia")
                        && !p.ends_with("ctl")
                        && !p.contains("uvm")
                        && !p.contains("modeset")
                })
                .collect()
        })
        .unwrap_or_default();
    gpus.extend(
        annotations
            .iter()
            .filter(|(k, _)| k.starts_with("cdi.k8s.io/"))
            .flat_map(|(_, v)| v.split(',').map(|d| d.trim().to_owned()))
            .filter(|d| d.contains("gpu")),
    );
    let env = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    if let Some(visible) = env
        .iter()
        .find_map(|e| e.strip_prefix("NVIDIA_VISIBLE_DEVICES="))
        && !matches!(visible.trim(), "" | "void" | "none")
    {
        gpus.push(format!("NVIDIA_VISIBLE_DEVICES={visible}"));
    }
    let privileged = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .is_some_and(|b| b.contains(&Capability::SysAdmin));
    let resources = linux.and_then(|l| l.resources().as_ref());
    let memory_bytes = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .and_then(|l| u64::try_from(l).ok());
    let cpu_millis =
        resources
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| match (c.quota(), c.period()) {
                (Some(q), Some(p)) if q > 0 && p > 0 => Some((q as u64).saturating_mul(1000) / p),
                _ => None,
            });
    let pids = resources
        .and_then(|r| r.pids().as_ref())
        .and_then(|p| u64::try_from(p.limit()).ok());
    RequestedSandbox {
        network: network.into(),
        readonly_rootfs: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        gpus,
        privileged,
        memory_bytes,
        cpu_millis,
        pids,
    }
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

    #[test]
    fn spec_requests_are_read() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/bin/agent"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["NVIDIA_VISIBLE_DEVICES=0"],
                        "capabilities": {"bounding": ["CAP_SYS_ADMIN"]}},
            "root": {"path": "rootfs", "readonly": true},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}],
                      "resources": {"memory": {"limit": 4294967296u64}, "cpu": {"quota": 200000, "period": 100000}, "pids": {"limit": 64}},
                      "devices": [{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0}, {"path": "/dev/nvidiactl", "type": "c", "major": 195, "minor": 255}]}
        }))
        .unwrap();
        let r = requested(&spec, &BTreeMap::new());
        assert_eq!(r.network, "none");
        assert!(r.readonly_rootfs && r.privileged);
        assert_eq!(
            r.gpus,
            vec![
                "/dev/nvidia0".to_owned(),
                "NVIDIA_VISIBLE_DEVICES=0".to_owned()
            ]
        );
        assert_eq!(
            (r.memory_bytes, r.cpu_millis, r.pids),
            (Some(4 << 30), Some(2000), Some(64))
        );
        let host: Spec = serde_json::from_value(
            serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "pid"}]}}),
        )
        .unwrap();
        assert_eq!(requested(&host, &BTreeMap::new()).network, "host");
    }
}
