//! Container Device Interface (CDI) spec for the node's GPUs, built from the same plan as the
//! runtime's edits, so `openshell gpu cdi` and `openshell create` share one definition.
//!
//! The document follows CDI 1.1.0 (`cdiVersion`, `kind`, `devices[].containerEdits`, spec-wide
//! `containerEdits`), serialized with this module's own serde types. The
//! `container-device-interface` crate (1.1) was evaluated: its spec types keep their fields
//! crate-private (a spec can only be parsed, not built), and it always depends on `jsonschema`
//! with default features (reqwest, rustls on aws-lc-rs), `clap`, `anyhow` and the archived
//! `serde_yaml` — too much for a runtime that re-executes itself on every create. Tests check
//! the output against the published CDI JSON schema instead.
//!
//! What CDI cannot carry stays runtime-only: the device-cgroup denies for the other NVIDIA
//! majors (a CDI consumer only adds allows for the listed nodes on top of its own default
//! deny), the masking of other GPUs' `/proc/driver/nvidia/gpus/<bus>` entries, and the
//! capabilities `inference-only` forbids. `NVIDIA_VISIBLE_DEVICES` is not set either: it would
//! differ with every combination of requested devices.

use serde::{Deserialize, Serialize};

use crate::access::AccessLevel;
use crate::device_nodes::HostNode;
use crate::driver_files::{DRIVER_MOUNT_OPTIONS, DriverMount};
use crate::edits::{GpuError, Plan};
use crate::host::HostRoots;
use crate::inventory::Inventory;
use crate::selection::SelectedDevice;

/// The CDI version written.
pub const CDI_VERSION: &str = "1.1.0";
/// Vendor part of the CDI kind.
pub const CDI_VENDOR: &str = "openshell.nvidia.com";

/// A CDI spec document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CdiSpec {
    /// CDI version.
    pub cdi_version: String,
    /// `vendor/class`.
    pub kind: String,
    /// Named devices.
    pub devices: Vec<CdiDevice>,
    /// Edits applied whenever any device of the spec is requested.
    pub container_edits: ContainerEdits,
}

/// One requestable device (`<kind>=<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CdiDevice {
    /// Device name: a GPU index or UUID, `<gpu>:<mig>`, a MIG UUID, or `all`.
    pub name: String,
    /// Edits for this device.
    pub container_edits: ContainerEdits,
}

/// CDI container edits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerEdits {
    /// `KEY=value` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Device nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_nodes: Vec<CdiDeviceNode>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<CdiMount>,
}

/// A CDI device node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CdiDeviceNode {
    /// Path in the container.
    pub path: String,
    /// Path on the host.
    pub host_path: String,
    /// `c` for character devices.
    #[serde(rename = "type")]
    pub kind: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits.
    pub file_mode: u32,
    /// Device-cgroup access (`rw` or `rwm`).
    pub permissions: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// A CDI mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CdiMount {
    /// Source on the host.
    pub host_path: String,
    /// Destination in the container.
    pub container_path: String,
    /// Mount type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Mount options.
    pub options: Vec<String>,
}

/// The CDI kind for an access level: `openshell.nvidia.com/gpu-inference-only` or
/// `openshell.nvidia.com/gpu-full`, so a CDI user picks the level by the name they request.
pub fn cdi_kind(access: AccessLevel) -> String {
    format!("{CDI_VENDOR}/gpu-{access}")
}

/// Builds the CDI spec of `access` for every GPU and MIG device in `inventory`: a device per
/// GPU under its index and its UUID, a device per MIG device under `<gpu>:<mig>` and its UUID,
/// and `all`.
pub fn cdi_spec(
    access: AccessLevel,
    inventory: &Inventory,
    roots: &HostRoots,
) -> Result<CdiSpec, GpuError> {
    if access == AccessLevel::None || inventory.gpus.is_empty() {
        return Err(GpuError::CdiWithoutDevices);
    }
    let mut devices: Vec<SelectedDevice> = Vec::new();
    for gpu in &inventory.gpus {
        devices.push(SelectedDevice::Gpu(gpu.clone()));
        for mig in &gpu.mig_devices {
            devices.push(SelectedDevice::Mig {
                parent: gpu.clone(),
                device: mig.clone(),
            });
        }
    }
    let plan = Plan::build(access, inventory, devices, roots)?;
    let permissions = plan.cgroup_permissions();
    let mut cdi_devices = Vec::new();
    let mut all_nodes: Vec<&HostNode> = Vec::new();
    for (device, nodes) in plan.devices.iter().zip(&plan.nodes.per_device) {
        let edits = ContainerEdits {
            device_nodes: nodes
                .iter()
                .map(|node| cdi_node(node, permissions))
                .collect(),
            ..ContainerEdits::default()
        };
        for name in [device.index_name(), device.uuid().to_owned()] {
            cdi_devices.push(CdiDevice {
                name,
                container_edits: edits.clone(),
            });
        }
        for node in nodes {
            if !all_nodes.iter().any(|known| known.path == node.path) {
                all_nodes.push(node);
            }
        }
    }
    cdi_devices.push(CdiDevice {
        name: "all".into(),
        container_edits: ContainerEdits {
            device_nodes: all_nodes
                .into_iter()
                .map(|node| cdi_node(node, permissions))
                .collect(),
            ..ContainerEdits::default()
        },
    });
    Ok(CdiSpec {
        cdi_version: CDI_VERSION.into(),
        kind: cdi_kind(access),
        devices: cdi_devices,
        container_edits: ContainerEdits {
            env: vec![plan.capabilities_env()],
            device_nodes: plan
                .nodes
                .common
                .iter()
                .map(|node| cdi_node(node, permissions))
                .collect(),
            mounts: plan.mounts.iter().map(cdi_mount).collect(),
        },
    })
}

fn cdi_node(node: &HostNode, permissions: &str) -> CdiDeviceNode {
    CdiDeviceNode {
        path: node.path.display().to_string(),
        host_path: node.host_path.display().to_string(),
        kind: "c".into(),
        major: i64::from(node.major),
        minor: i64::from(node.minor),
        file_mode: node.file_mode,
        permissions: permissions.into(),
        uid: node.uid,
        gid: node.gid,
    }
}

fn cdi_mount(mount: &DriverMount) -> CdiMount {
    CdiMount {
        host_path: mount.source.display().to_string(),
        container_path: mount.destination.display().to_string(),
        kind: "bind".into(),
        options: DRIVER_MOUNT_OPTIONS
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}
