//! One container at `createRuntime`, as the hook and the policy service both see it: the OCI
//! state's checks, the admission question its compiled spec asks, and its registration record
//! (`<registry dir>/<id>.json`, read by the policy service at start, the egress engine and the
//! router).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec, State};

use crate::CompiledPolicy;
use crate::wire::{
    AdmissionRequest, ContainerRegistration, RequestedSandbox, SandboxAddresses, check_container_id,
};

/// Checks the OCI state a runtime hands a hook: a valid container id and an absolute bundle.
pub fn check_state(state: &State) -> Result<(), String> {
    check_container_id(state.id()).map_err(|e| e.to_string())?;
    if !state.bundle().is_absolute() {
        return Err(format!(
            "the OCI state's bundle {:?} is not an absolute path",
            state.bundle()
        ));
    }
    Ok(())
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

/// The registration record of a container about to start; `node_region` applies when its
/// policy names no region. The caller token's digest is read from the staged bundle.
pub fn registration(
    state: &State,
    policy: &CompiledPolicy,
    node_region: Option<&str>,
) -> ContainerRegistration {
    let pid = state
        .pid()
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0);
    ContainerRegistration {
        container_id: state.id().clone(),
        bundle: state.bundle().clone(),
        pid,
        region: policy
            .region
            .clone()
            .or_else(|| node_region.map(str::to_owned)),
        netns_path: pid.map(|p| PathBuf::from(format!("/proc/{p}/ns/net"))),
        sandbox: SandboxAddresses::default(),
        policy: policy.clone(),
        registered_at: Utc::now(),
        caller_token: fs::read_to_string(state.bundle().join(crate::caller_token::DIGEST_FILE))
            .ok()
            .map(|digest| digest.trim().to_owned()),
    }
}

/// Where container `container_id`'s record lives under `registry_dir`.
pub fn record_path(registry_dir: &Path, container_id: &str) -> PathBuf {
    registry_dir.join(format!("{container_id}.json"))
}

/// Writes a record atomically (aside, then renamed), mode 0600, never through a symlink.
pub fn write_record(path: &Path, registration: &ContainerRegistration) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("record")
    ));
    // Compact: every reader (policy service, egress engine, router) parses it by machine.
    let json = serde_json::to_vec(registration).map_err(std::io::Error::other)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    // Renamed into place, so a reader sees a whole record or none. Not synced to disk: a
    // record describes a running container, which a crash of the node ends as well (the
    // default registry is on a tmpfs), while syncing a disk-backed registry costs each start
    // milliseconds.
    file.write_all(&json)?;
    fs::rename(&tmp, path)
}

/// Removes a record; one that is not there is not an error.
pub fn remove_record(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
