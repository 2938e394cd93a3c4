//! Test support (feature `testing`): a described node and a fake driver root to match it.
//!
//! [`FakeDriverRoot`] lays out, in a temporary directory, what an NVIDIA driver installs on a
//! host: real character device nodes made with `mknod` (they need no driver: opening one in a
//! container reaches the device cgroup check first, then fails with `ENXIO`), `proc/devices`,
//! `proc/driver/nvidia*`, `sys/bus/pci/devices/<bus>/drm`, stub libraries with their soname
//! symlinks and stub executables. [`FakeDriverRoot::roots`] points every lookup of this crate
//! at it. Creating device nodes needs `CAP_MKNOD` (root outside a user namespace).

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use tempfile::TempDir;

use crate::access::AccessLevel;
use crate::driver_files::{DriverFileKind, binary_dirs, driver_files, library_dirs};
use crate::host::HostRoots;
use crate::inventory::{ComputeMode, CudaVersion, Gpu, Inventory, MigDevice, MigMode};
use crate::procfs::{
    DRI_MAJOR, MODESET_MINOR, NVIDIA_MAJOR, NVIDIACTL_MINOR, UVM_MINOR, UVM_TOOLS_MINOR,
};

/// Major the fake `/proc/devices` gives `nvidia-uvm`.
pub const UVM_MAJOR: u32 = 238;
/// Major the fake `/proc/devices` gives `nvidia-caps`.
pub const CAPS_MAJOR: u32 = 237;
/// Every NVIDIA major in the fake `/proc/devices` (195, nvswitch, nvlink, imex channels, caps,
/// uvm), sorted.
pub const NVIDIA_MAJORS: [u32; 6] = [NVIDIA_MAJOR, 234, 235, 236, CAPS_MAJOR, UVM_MAJOR];

const PROC_DEVICES: &str = "Character devices:
  1 mem
  4 /dev/vc/0
  5 /dev/tty
 10 misc
136 pts
195 nvidia-frontend
226 drm
234 nvidia-nvswitch
235 nvidia-nvlink
236 nvidia-caps-imex-channels
237 nvidia-caps
238 nvidia-uvm

Block devices:
  8 sd
259 blkext
";

/// A node like a DGX with mixed GPUs: GPU 0 an H100 with MIG disabled, GPU 1 an H100 with MIG
/// enabled and two MIG devices (0 → gi 1/ci 0, 1 → gi 2/ci 0), GPU 2 an A10 whose minor number
/// (3) differs from its index.
pub fn sample_inventory() -> Inventory {
    let h100 = |index: u32, minor: u32, bus: &str, uuid: &str, mig_mode, mig_devices| Gpu {
        index,
        uuid: uuid.into(),
        name: "NVIDIA H100 80GB HBM3".into(),
        minor_number: minor,
        pci_bus_id: bus.into(),
        memory_total_bytes: 85_520_809_984,
        compute_mode: ComputeMode::Default,
        mig_mode,
        mig_devices,
    };
    let mig = |index: u32, gi: u32, uuid: &str, name: &str, memory: u64| MigDevice {
        index,
        uuid: uuid.into(),
        name: name.into(),
        gpu_instance_id: gi,
        compute_instance_id: 0,
        memory_total_bytes: memory,
    };
    Inventory {
        driver_version: "550.54.15".into(),
        cuda_driver_version: CudaVersion {
            major: 12,
            minor: 4,
        },
        gpus: vec![
            h100(
                0,
                0,
                "00000000:1B:00.0",
                "GPU-5e3a7c1e-2b6f-4c44-9f1a-0c7d3b8e9a01",
                MigMode::Disabled,
                vec![],
            ),
            h100(
                1,
                1,
                "00000000:43:00.0",
                "GPU-8d2f4b60-71c3-4e0a-b5d9-3a6e1f2c7b02",
                MigMode::Enabled,
                vec![
                    mig(
                        0,
                        1,
                        "MIG-1f0e2d3c-4b5a-5968-8776-a5b4c3d2e1f0",
                        "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
                        10_468_982_784,
                    ),
                    mig(
                        1,
                        2,
                        "MIG-6a7b8c9d-0e1f-5a2b-9c3d-4e5f6a7b8c9d",
                        "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
                        42_044_555_264,
                    ),
                ],
            ),
            Gpu {
                index: 2,
                uuid: "GPU-c0ffee00-1234-4abc-8def-0123456789ab".into(),
                name: "NVIDIA A10".into(),
                minor_number: 3,
                pci_bus_id: "00000000:9B:00.0".into(),
                memory_total_bytes: 24_146_608_128,
                compute_mode: ComputeMode::ExclusiveProcess,
                mig_mode: MigMode::NotSupported,
                mig_devices: vec![],
            },
        ],
    }
}

/// A temporary directory laid out like a host with the NVIDIA driver for an inventory.
#[derive(Debug)]
pub struct FakeDriverRoot {
    dir: TempDir,
    inventory: Inventory,
    mig_minors: Vec<(String, u32)>,
}

impl FakeDriverRoot {
    /// Builds the tree for `inventory`. Device nodes are created with `mknod`.
    pub fn new(inventory: &Inventory) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("openshell-fake-driver-")
            .tempdir()?;
        let root = Self {
            dir,
            inventory: inventory.clone(),
            mig_minors: mig_minor_table(inventory),
        };
        root.write_proc()?;
        root.write_sys()?;
        root.make_device_nodes()?;
        root.write_driver_files()?;
        // A usr-merged host: /lib is a symlink to usr/lib.
        symlink("usr/lib", root.path().join("lib"))?;
        Ok(root)
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Host roots pointing every lookup into this tree.
    pub fn roots(&self) -> HostRoots {
        HostRoots::under(self.path())
    }

    /// The inventory the tree was built for.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Writes the inventory as `<root>/inventory.json`, the fixture format
    /// [`crate::InventorySource::Fixture`] reads, and returns its path.
    pub fn write_inventory_fixture(&self) -> io::Result<PathBuf> {
        let path = self.path().join("inventory.json");
        fs::write(
            &path,
            crate::render::inventory_json(&self.inventory).map_err(io::Error::other)?,
        )?;
        Ok(path)
    }

    /// The multiarch library directory holding the stub libraries.
    pub fn library_dir(&self) -> PathBuf {
        self.path().join(&library_dirs()[0])
    }

    /// Minor of a MIG capability (`config`, `gpu1/gi2/access`, `gpu1/gi2/ci0/access`) in the fake
    /// `mig-minors` table.
    pub fn mig_minor(&self, name: &str) -> Option<u32> {
        self.mig_minors
            .iter()
            .find(|(entry, _)| entry == name)
            .map(|(_, minor)| *minor)
    }

    fn write(&self, relative: &str, contents: &str) -> io::Result<()> {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, contents)
    }

    fn write_proc(&self) -> io::Result<()> {
        self.write("proc/devices", PROC_DEVICES)?;
        let table: String = self
            .mig_minors
            .iter()
            .map(|(name, minor)| format!("{name} {minor}\n"))
            .collect();
        self.write("proc/driver/nvidia-caps/mig-minors", &table)?;
        let version = format!(
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {}\n",
            self.inventory.driver_version
        );
        self.write("proc/driver/nvidia/version", &version)?;
        self.write(
            "proc/driver/nvidia/params",
            "ModifyDeviceFiles: 1\nRmProfilingAdminOnly: 1\n",
        )?;
        for gpu in &self.inventory.gpus {
            let information = format!(
                "Model: \t\t {}\nGPU UUID: \t {}\nBus Location: \t {}\nDevice Minor: \t {}\n",
                gpu.name,
                gpu.uuid,
                gpu.proc_bus_id(),
                gpu.minor_number
            );
            self.write(
                &format!("proc/driver/nvidia/gpus/{}/information", gpu.proc_bus_id()),
                &information,
            )?;
        }
        Ok(())
    }

    /// DRM nodes per GPU: `card<index + 1>` and `renderD<128 + index>`.
    fn dri_nodes(gpu: &Gpu) -> [(String, u32); 2] {
        [
            (format!("card{}", gpu.index + 1), gpu.index + 1),
            (format!("renderD{}", 128 + gpu.index), 128 + gpu.index),
        ]
    }

    fn write_sys(&self) -> io::Result<()> {
        for gpu in &self.inventory.gpus {
            for (name, minor) in Self::dri_nodes(gpu) {
                let relative = format!("sys/bus/pci/devices/{}/drm/{name}/dev", gpu.proc_bus_id());
                self.write(&relative, &format!("{DRI_MAJOR}:{minor}\n"))?;
            }
        }
        Ok(())
    }

    fn mknod(&self, relative: &str, major: u32, minor: u32) -> io::Result<()> {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mode = Mode::from_bits_truncate(0o666);
        mknod(
            &path,
            SFlag::S_IFCHR,
            mode,
            makedev(major.into(), minor.into()),
        )
        .map_err(|errno| {
            io::Error::other(format!(
                "mknod {} (needs CAP_MKNOD): {errno}",
                path.display()
            ))
        })?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
    }

    fn make_device_nodes(&self) -> io::Result<()> {
        self.mknod("dev/nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR)?;
        self.mknod("dev/nvidia-modeset", NVIDIA_MAJOR, MODESET_MINOR)?;
        self.mknod("dev/nvidia-uvm", UVM_MAJOR, UVM_MINOR)?;
        self.mknod("dev/nvidia-uvm-tools", UVM_MAJOR, UVM_TOOLS_MINOR)?;
        for name in ["config", "monitor"] {
            let minor = self.mig_minor(name).unwrap_or_default();
            self.mknod(
                &format!("dev/nvidia-caps/nvidia-cap{minor}"),
                CAPS_MAJOR,
                minor,
            )?;
        }
        for gpu in &self.inventory.gpus {
            self.mknod(
                &format!("dev/nvidia{}", gpu.minor_number),
                NVIDIA_MAJOR,
                gpu.minor_number,
            )?;
            for (name, minor) in Self::dri_nodes(gpu) {
                self.mknod(&format!("dev/dri/{name}"), DRI_MAJOR, minor)?;
            }
            for mig in &gpu.mig_devices {
                let gi = format!("gpu{}/gi{}/access", gpu.minor_number, mig.gpu_instance_id);
                let ci = format!(
                    "gpu{}/gi{}/ci{}/access",
                    gpu.minor_number, mig.gpu_instance_id, mig.compute_instance_id
                );
                for name in [gi, ci] {
                    let minor = self.mig_minor(&name).unwrap_or_default();
                    self.mknod(
                        &format!("dev/nvidia-caps/nvidia-cap{minor}"),
                        CAPS_MAJOR,
                        minor,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Stub libraries `<name>.<version>` with a `<name>.1` symlink (libnvidia-ml's absolute, to
    /// exercise resolution inside the root), `libcuda.so -> libcuda.so.1`, and stub
    /// executables.
    fn write_driver_files(&self) -> io::Result<()> {
        let version = &self.inventory.driver_version;
        let lib_dir = self.library_dir();
        let bin_dir = self.path().join(&binary_dirs()[0]);
        fs::create_dir_all(&bin_dir)?;
        for file in driver_files(AccessLevel::Full) {
            match file.kind {
                DriverFileKind::Library => {
                    let versioned = lib_dir.join(format!("{}.{version}", file.name));
                    let dir = versioned.parent().unwrap_or(&lib_dir).to_path_buf();
                    fs::create_dir_all(&dir)?;
                    fs::write(&versioned, format!("stub {}\n", file.name))?;
                    let versioned_name = versioned.file_name().unwrap_or_default();
                    let soname = dir.join(format!(
                        "{}.1",
                        Path::new(file.name)
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                    ));
                    if file.name == "libnvidia-ml.so" {
                        let in_root = Path::new("/").join(
                            versioned
                                .strip_prefix(self.path())
                                .map_err(io::Error::other)?,
                        );
                        symlink(in_root, &soname)?;
                    } else {
                        symlink(versioned_name, &soname)?;
                    }
                }
                DriverFileKind::Executable => {
                    let path = bin_dir.join(file.name);
                    fs::write(&path, "#!/bin/sh\n")?;
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
                }
            }
        }
        symlink("libcuda.so.1", lib_dir.join("libcuda.so"))
    }
}

/// A `mig-minors` table numbered like the driver's: `config 1`, `monitor 2`, then for every GPU
/// minor, GPU instances 0–14 each followed by compute instances 0–7.
fn mig_minor_table(inventory: &Inventory) -> Vec<(String, u32)> {
    let mut table = vec![("config".to_owned(), 1), ("monitor".to_owned(), 2)];
    let mut next = 3;
    let mut minors: Vec<u32> = inventory.gpus.iter().map(|gpu| gpu.minor_number).collect();
    minors.sort_unstable();
    for gpu in minors {
        for gi in 0..15 {
            table.push((format!("gpu{gpu}/gi{gi}/access"), next));
            next += 1;
            for ci in 0..8 {
                table.push((format!("gpu{gpu}/gi{gi}/ci{ci}/access"), next));
                next += 1;
            }
        }
    }
    table
}
