//! The OCI edits for one container: what the policy compiler merges into its spec.

use std::path::Path;

use oci_spec::runtime::{Capability, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount};

use crate::access::AccessLevel;
use crate::device_nodes::{self, HostNode, NodePlan};
use crate::driver_files::{self, DriverMount};
use crate::host::{HostError, HostRoots, InRoot};
use crate::inventory::{DiscoveryError, GpuInventory, Inventory};
use crate::procfs::{driver_gpu_dirs, driver_proc_entries};
use crate::selection::{
    SelectedDevice, Selection, SelectionError, SelectionInput, VISIBLE_DEVICES_ENV, select,
};

/// The toolkit's driver-capability variable.
pub const DRIVER_CAPABILITIES_ENV: &str = "NVIDIA_DRIVER_CAPABILITIES";

/// Capabilities an `inference-only` container must not hold (the compiler removes them from
/// every capability set and refuses a policy that insists on them).
pub const INFERENCE_FORBIDDEN_CAPABILITIES: [Capability; 5] = [
    // Clocks, power limits, compute mode, MIG layout, ECC and persistence changes.
    Capability::SysAdmin,
    // Profiling counters (the driver's RmProfilingAdminOnly check).
    Capability::Perfmon,
    // Scheduling-priority and some clock-related settings.
    Capability::SysNice,
    // Creating device nodes for devices the spec does not list.
    Capability::Mknod,
    // Raw PCI access (`/proc/bus/pci` and sysfs BAR mmap) that bypasses the driver.
    Capability::SysRawio,
];

/// What a container asks for.
#[derive(Debug, Clone, Default)]
pub struct GpuRequest<'a> {
    /// The policy's `gpuAccess`.
    pub access: AccessLevel,
    /// Annotation, environment and node ceiling for device selection.
    pub selection: SelectionInput<'a>,
}

/// Any failure computing GPU edits or a CDI spec.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The inventory could not be read (including "no NVIDIA driver").
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The requested devices are invalid for this node.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// The host's driver installation is incomplete or inconsistent.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A CDI spec was asked for the `none` level or a node without GPUs: it would list no
    /// device.
    #[error(
        "a CDI spec needs a node with at least one GPU and an access level that exposes it (inference-only or full)"
    )]
    CdiWithoutDevices,
}

impl GpuError {
    /// True when the node has no usable NVIDIA driver.
    pub fn is_no_driver(&self) -> bool {
        matches!(self, Self::Discovery(error) if error.is_no_driver())
    }
}

/// OCI edits for one container. How the compiler merges them:
/// - `device_cgroup`: drop the caller's allow rules for any major these rules deny (type `c`
///   or `a`, that major or a wildcard major), then append these rules after the caller's.
///   Appending alone is not enough: cgroup v2 (eBPF) and runc's emulator let the last match
///   win, but under cgroup v1, which libcontainer writes rule by rule, a deny only removes an
///   identical earlier allow (`deny c 195:* rwm` leaves an `allow c 195:3 rw` in place).
/// - `devices`, `mounts`, `masked_paths`: add.
/// - `env`: replace any existing entry for the same variable (images bake
///   `NVIDIA_VISIBLE_DEVICES` and `NVIDIA_DRIVER_CAPABILITIES`).
/// - `forbidden_capabilities`: remove from every capability set; `no_new_privileges`: force.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuEdits {
    /// The level these edits implement.
    pub access: AccessLevel,
    /// UUIDs of the selected devices.
    pub selected: Vec<String>,
    /// `linux.devices`.
    pub devices: Vec<LinuxDevice>,
    /// Rules for `linux.resources.devices`, in order: denies, then allows.
    pub device_cgroup: Vec<LinuxDeviceCgroup>,
    /// Read-only bind mounts of driver files.
    pub mounts: Vec<Mount>,
    /// `KEY=value` entries for `process.env`.
    pub env: Vec<String>,
    /// Paths for `linux.maskedPaths`.
    pub masked_paths: Vec<String>,
    /// Capabilities that must be absent from every set.
    pub forbidden_capabilities: Vec<Capability>,
    /// Whether `process.noNewPrivileges` must be true.
    pub no_new_privileges: bool,
}

/// Computes the edits for `request`. `none` never touches NVML; the other levels read the
/// inventory first, so a node without a driver fails with the "no NVIDIA driver" error.
pub fn compile(
    request: &GpuRequest<'_>,
    inventory: &dyn GpuInventory,
    roots: &HostRoots,
) -> Result<GpuEdits, GpuError> {
    if request.access == AccessLevel::None {
        return Ok(no_gpu_edits(AccessLevel::None, roots)?);
    }
    let inventory = inventory.inventory()?;
    let selection = select(&inventory, &request.selection)?;
    edits_for_selection(request.access, &inventory, &selection, roots)
}

/// The edits of `access` for an already resolved selection.
pub fn edits_for_selection(
    access: AccessLevel,
    inventory: &Inventory,
    selection: &Selection,
    roots: &HostRoots,
) -> Result<GpuEdits, GpuError> {
    if access == AccessLevel::None || selection.is_empty() {
        return Ok(no_gpu_edits(access, roots)?);
    }
    let plan = Plan::build(access, inventory, selection.devices.clone(), roots)?;
    let nodes = plan.all_nodes();
    let permissions = plan.cgroup_permissions();
    let mut device_cgroup = deny_rules(&roots.proc_root)?;
    device_cgroup.extend(nodes.iter().map(|node| allow_rule(node, permissions)));
    let selected_buses: Vec<String> = selection
        .devices
        .iter()
        .map(|d| d.gpu().proc_bus_id())
        .collect();
    let masked_paths = driver_gpu_dirs(&roots.proc_root)?
        .into_iter()
        .filter(|bus| !selected_buses.contains(bus))
        .map(|bus| format!("/proc/driver/nvidia/gpus/{bus}"))
        .collect();
    let inference = access == AccessLevel::InferenceOnly;
    Ok(GpuEdits {
        access,
        selected: selection
            .devices
            .iter()
            .map(|d| d.uuid().to_owned())
            .collect(),
        devices: nodes.iter().map(linux_device).collect(),
        device_cgroup,
        mounts: plan.mounts.iter().map(DriverMount::to_oci).collect(),
        env: vec![
            format!("{VISIBLE_DEVICES_ENV}={}", selection.visible_devices()),
            plan.capabilities_env(),
        ],
        masked_paths,
        forbidden_capabilities: if inference {
            INFERENCE_FORBIDDEN_CAPABILITIES.to_vec()
        } else {
            Vec::new()
        },
        no_new_privileges: inference,
    })
}

/// The edits when no GPU is granted: no node, denies for every NVIDIA and DRM major, the
/// driver's `/proc/driver/nvidia*` entries masked, `NVIDIA_VISIBLE_DEVICES=void`.
fn no_gpu_edits(access: AccessLevel, roots: &HostRoots) -> Result<GpuEdits, HostError> {
    Ok(GpuEdits {
        access,
        selected: Vec::new(),
        devices: Vec::new(),
        device_cgroup: deny_rules(&roots.proc_root)?,
        mounts: Vec::new(),
        env: vec![format!("{VISIBLE_DEVICES_ENV}=void")],
        masked_paths: driver_proc_entries(&roots.proc_root)?
            .into_iter()
            .map(|entry| format!("/proc/driver/{entry}"))
            .collect(),
        forbidden_capabilities: Vec::new(),
        no_new_privileges: false,
    })
}

fn deny_rules(proc_root: &Path) -> Result<Vec<LinuxDeviceCgroup>, HostError> {
    Ok(device_nodes::denied_majors(proc_root)?
        .into_iter()
        .map(|major| {
            let mut rule = LinuxDeviceCgroup::default();
            rule.set_allow(false)
                .set_typ(Some(LinuxDeviceType::C))
                .set_major(Some(i64::from(major)))
                .set_access(Some("rwm".into()));
            rule
        })
        .collect())
}

fn allow_rule(node: &HostNode, permissions: &str) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true)
        .set_typ(Some(LinuxDeviceType::C))
        .set_major(Some(i64::from(node.major)))
        .set_minor(Some(i64::from(node.minor)))
        .set_access(Some(permissions.into()));
    rule
}

fn linux_device(node: &HostNode) -> LinuxDevice {
    let mut device = LinuxDevice::default();
    device
        .set_path(node.path.clone())
        .set_typ(LinuxDeviceType::C)
        .set_major(i64::from(node.major))
        .set_minor(i64::from(node.minor))
        .set_file_mode(Some(node.file_mode))
        .set_uid(Some(node.uid))
        .set_gid(Some(node.gid));
    device
}

/// Nodes and files of a level for a set of devices: the one definition both the runtime edits
/// and the CDI spec are built from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub access: AccessLevel,
    pub devices: Vec<SelectedDevice>,
    pub nodes: NodePlan,
    pub mounts: Vec<DriverMount>,
}

impl Plan {
    pub(crate) fn build(
        access: AccessLevel,
        inventory: &Inventory,
        devices: Vec<SelectedDevice>,
        roots: &HostRoots,
    ) -> Result<Self, HostError> {
        let nodes = device_nodes::plan(access, &devices, roots)?;
        let driver = InRoot::open(&roots.driver_root)?;
        let mounts = driver_files::locate(access, &driver, &inventory.driver_version)?;
        Ok(Self {
            access,
            devices,
            nodes,
            mounts,
        })
    }

    /// Common nodes then each device's, without repeats (two MIG devices share their GPU's
    /// node).
    pub(crate) fn all_nodes(&self) -> Vec<HostNode> {
        let mut nodes: Vec<HostNode> = Vec::new();
        for node in self
            .nodes
            .common
            .iter()
            .chain(self.nodes.per_device.iter().flatten())
        {
            if !nodes.iter().any(|existing| existing.path == node.path) {
                nodes.push(node.clone());
            }
        }
        nodes
    }

    /// Device-cgroup access for granted nodes: read and write only for inference (the
    /// container cannot create nodes), the toolkit's `rwm` for full.
    pub(crate) fn cgroup_permissions(&self) -> &'static str {
        match self.access {
            AccessLevel::Full => "rwm",
            AccessLevel::None | AccessLevel::InferenceOnly => "rw",
        }
    }

    /// `NVIDIA_DRIVER_CAPABILITIES=…` for the level.
    pub(crate) fn capabilities_env(&self) -> String {
        let value = match self.access {
            AccessLevel::Full => "all",
            AccessLevel::None | AccessLevel::InferenceOnly => "compute,utility",
        };
        format!("{DRIVER_CAPABILITIES_ENV}={value}")
    }
}
