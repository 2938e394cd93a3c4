//! Device nodes per access level, checked against the host.
//!
//! Numbers come from the driver's fixed major (195), NVML minor numbers, `/proc/devices` for
//! the dynamic majors and `/proc/driver/nvidia-caps/mig-minors` for MIG capabilities. Each
//! node must also exist on the host under the dev root as a character device with exactly
//! those numbers: the runtime then creates the same node in the container (or, in a user
//! namespace, bind-mounts the host's), and a mismatch fails closed instead of granting a
//! device nobody checked.

use std::path::{Path, PathBuf};

use nix::sys::stat::{SFlag, major, minor};

use crate::access::AccessLevel;
use crate::host::{HostError, HostRoots, InRoot, read_optional, relative};
use crate::inventory::{Gpu, MigDevice};
use crate::procfs::{
    CAPS_DEVICE, CharDevices, DRI_MAJOR, MODESET_MINOR, MigMinors, NVIDIA_MAJOR, NVIDIACTL_MINOR,
    UVM_DEVICE, UVM_MINOR, UVM_TOOLS_MINOR, compute_instance_cap, gpu_instance_cap,
};
use crate::selection::SelectedDevice;

/// A character device node the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostNode {
    /// Path in the container (`/dev/…`).
    pub path: PathBuf,
    /// Path of the checked node on the host.
    pub host_path: PathBuf,
    pub major: u32,
    pub minor: u32,
    /// Permission bits of the host node.
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Nodes every container of the level gets, and nodes per selected device (same order as the
/// devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodePlan {
    pub common: Vec<HostNode>,
    pub per_device: Vec<Vec<HostNode>>,
}

struct Prober {
    dev: InRoot,
    char_devices: CharDevices,
    mig_minors: MigMinors,
    sys_root: PathBuf,
}

impl Prober {
    /// The node at `path`, which must exist; `hint` says how to create it.
    fn required(
        &self,
        path: &str,
        major_number: u32,
        minor_number: u32,
        hint: String,
    ) -> Result<HostNode, HostError> {
        self.optional(path, major_number, minor_number)?
            .ok_or_else(|| HostError::MissingDeviceNode {
                path: self.dev.path().join(relative(Path::new(path))),
                hint,
            })
    }

    /// The node at `path` if the host has it.
    fn optional(
        &self,
        path: &str,
        major_number: u32,
        minor_number: u32,
    ) -> Result<Option<HostNode>, HostError> {
        let expected = format!("{major_number}:{minor_number}");
        let Some(found) = self.dev.resolve(Path::new(path), false)? else {
            return Ok(None);
        };
        let kind = found.file_type();
        let rdev = found.stat.st_rdev;
        if kind != SFlag::S_IFCHR
            || major(rdev) != u64::from(major_number)
            || minor(rdev) != u64::from(minor_number)
        {
            let found_text = match kind {
                SFlag::S_IFCHR => format!("character device {}:{}", major(rdev), minor(rdev)),
                SFlag::S_IFLNK => "a symlink".into(),
                SFlag::S_IFBLK => "a block device".into(),
                SFlag::S_IFDIR => "a directory".into(),
                _ => "not a device".into(),
            };
            return Err(HostError::UnexpectedDeviceNode {
                path: found.host,
                found: found_text,
                expected,
            });
        }
        Ok(Some(HostNode {
            path: PathBuf::from(path),
            host_path: found.host,
            major: major_number,
            minor: minor_number,
            file_mode: found.stat.st_mode & 0o777,
            uid: found.stat.st_uid,
            gid: found.stat.st_gid,
        }))
    }

    fn gpu_node(&self, gpu: &Gpu) -> Result<HostNode, HostError> {
        let path = format!("/dev/nvidia{}", gpu.minor_number);
        let hint = format!(
            "load the nvidia module; nvidia-modprobe -c {} creates it",
            gpu.minor_number
        );
        self.required(&path, NVIDIA_MAJOR, gpu.minor_number, hint)
    }

    /// The two capability nodes that let CUDA open one MIG device.
    fn mig_nodes(&self, parent: &Gpu, mig: &MigDevice) -> Result<Vec<HostNode>, HostError> {
        let caps_major = self.char_devices.require(CAPS_DEVICE)?;
        let names = [
            gpu_instance_cap(parent.minor_number, mig.gpu_instance_id),
            compute_instance_cap(
                parent.minor_number,
                mig.gpu_instance_id,
                mig.compute_instance_id,
            ),
        ];
        let mut nodes = Vec::new();
        for name in names {
            let cap_minor = self.mig_minors.minor(&name)?;
            let path = format!("/dev/nvidia-caps/nvidia-cap{cap_minor}");
            let hint = format!(
                "nvidia-modprobe -f /proc/driver/nvidia/capabilities/{} creates it",
                mig_proc_path(&name)
            );
            nodes.push(self.required(&path, caps_major, cap_minor, hint)?);
        }
        Ok(nodes)
    }

    /// DRM nodes (`card*`, `renderD*`) the kernel lists for the GPU in sysfs.
    fn dri_nodes(&self, gpu: &Gpu) -> Result<Vec<HostNode>, HostError> {
        let drm = self
            .sys_root
            .join("bus/pci/devices")
            .join(gpu.proc_bus_id())
            .join("drm");
        let mut nodes = Vec::new();
        for name in crate::host::list_dir(&drm)? {
            if !(name.starts_with("card") || name.starts_with("renderD")) {
                continue;
            }
            let dev_file = drm.join(&name).join("dev");
            let Some(text) = read_optional(&dev_file)? else {
                continue;
            };
            let numbers = text
                .trim()
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            let Some((dri_major, dri_minor)) =
                numbers.filter(|(m, _): &(u32, u32)| *m == DRI_MAJOR)
            else {
                return Err(HostError::Parse {
                    path: dev_file,
                    line: 1,
                    reason: format!("expected \"{DRI_MAJOR}:<minor>\", found {:?}", text.trim()),
                });
            };
            nodes.extend(self.optional(&format!("/dev/dri/{name}"), dri_major, dri_minor)?);
        }
        Ok(nodes)
    }
}

/// `gpu0/gi1/ci0/access` → `gpu0/mig/gi1/ci0/access` (the layout under
/// `/proc/driver/nvidia/capabilities`).
fn mig_proc_path(name: &str) -> String {
    match name.split_once('/') {
        Some((gpu, rest)) => format!("{gpu}/mig/{rest}"),
        None => name.to_owned(),
    }
}

/// The NVIDIA character majors and the DRM major, which every level denies before allowing
/// its own nodes.
pub(crate) fn denied_majors(proc_root: &Path) -> Result<Vec<u32>, HostError> {
    let mut majors = CharDevices::read(proc_root)?.nvidia_majors();
    majors.push(DRI_MAJOR);
    Ok(majors)
}

/// The nodes of `access` for `devices` (see the crate documentation for the definition).
pub(crate) fn plan(
    access: AccessLevel,
    devices: &[SelectedDevice],
    roots: &HostRoots,
) -> Result<NodePlan, HostError> {
    if access == AccessLevel::None {
        return Ok(NodePlan {
            common: Vec::new(),
            per_device: vec![Vec::new(); devices.len()],
        });
    }
    let prober = Prober {
        dev: InRoot::open(&roots.dev_root)?,
        char_devices: CharDevices::read(&roots.proc_root)?,
        mig_minors: MigMinors::read(&roots.proc_root)?,
        sys_root: roots.sys_root.clone(),
    };
    let uvm_major = prober.char_devices.require(UVM_DEVICE)?;
    let mut common = vec![
        prober.required(
            "/dev/nvidiactl",
            NVIDIA_MAJOR,
            NVIDIACTL_MINOR,
            "load the nvidia module; nvidia-modprobe -c 0 creates it".into(),
        )?,
        prober.required(
            "/dev/nvidia-uvm",
            uvm_major,
            UVM_MINOR,
            "load nvidia-uvm; nvidia-modprobe -u -c 0 creates it".into(),
        )?,
    ];
    if access == AccessLevel::Full {
        common.extend(prober.optional("/dev/nvidia-uvm-tools", uvm_major, UVM_TOOLS_MINOR)?);
        common.extend(prober.optional("/dev/nvidia-modeset", NVIDIA_MAJOR, MODESET_MINOR)?);
    }
    let mut per_device = Vec::new();
    for device in devices {
        let mut nodes = vec![prober.gpu_node(device.gpu())?];
        match device {
            SelectedDevice::Gpu(gpu) => {
                for mig in &gpu.mig_devices {
                    nodes.extend(prober.mig_nodes(gpu, mig)?);
                }
                if access == AccessLevel::Full {
                    nodes.extend(prober.dri_nodes(gpu)?);
                }
            }
            SelectedDevice::Mig { parent, device } => {
                nodes.extend(prober.mig_nodes(parent, device)?)
            }
        }
        per_device.push(nodes);
    }
    Ok(NodePlan { common, per_device })
}
