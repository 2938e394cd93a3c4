//! The GPU inventory: what the node has, as owned data behind a small trait.
//!
//! `nvml-wrapper`'s `Device<'nvml>` borrows the library handle, so backends copy what the
//! runtime needs into [`Inventory`] and drop NVML before returning. The same struct is the
//! fixture format of [`FakeInventory`] and the JSON that `openshell gpu list --json` prints, so
//! a node's real inventory can be captured once and replayed on a machine without a GPU.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::nvml::NvmlInventory;

/// A source of the node's GPU inventory.
pub trait GpuInventory {
    /// Reads the current inventory.
    fn inventory(&self) -> Result<Inventory, DiscoveryError>;
}

/// Everything the runtime knows about the node's NVIDIA GPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    /// Kernel driver version, e.g. `550.54.15`; user-space driver files carry it in their names.
    pub driver_version: String,
    /// Highest CUDA version the driver supports.
    pub cuda_driver_version: CudaVersion,
    /// GPUs in NVML index order.
    pub gpus: Vec<Gpu>,
}

/// A CUDA version as `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CudaVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl CudaVersion {
    /// Decodes NVML's `1000 * major + 10 * minor` encoding.
    pub fn from_nvml(encoded: i32) -> Self {
        let encoded = encoded.max(0) as u32;
        Self {
            major: encoded / 1000,
            minor: encoded % 1000 / 10,
        }
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One physical GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gpu {
    /// NVML index (what `NVIDIA_VISIBLE_DEVICES=0` means).
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// Minor number of `/dev/nvidia<minor>` (major 195); not always equal to the index.
    pub minor_number: u32,
    /// PCI bus id as NVML reports it, e.g. `00000000:1B:00.0`.
    pub pci_bus_id: String,
    /// Total framebuffer memory in bytes.
    pub memory_total_bytes: u64,
    /// Compute mode.
    pub compute_mode: ComputeMode,
    /// Current MIG mode.
    pub mig_mode: MigMode,
    /// MIG devices, when `mig_mode` is enabled.
    #[serde(default)]
    pub mig_devices: Vec<MigDevice>,
}

impl Gpu {
    /// The directory name the driver uses under `/proc/driver/nvidia/gpus/`: the bus id with a
    /// 4-digit domain in lower case (`0000:1b:00.0`).
    pub fn proc_bus_id(&self) -> String {
        proc_bus_id(&self.pci_bus_id)
    }
}

/// Converts NVML's bus id (`00000000:1B:00.0`) to the kernel's (`0000:1b:00.0`).
pub(crate) fn proc_bus_id(nvml_bus_id: &str) -> String {
    let lower = nvml_bus_id.to_ascii_lowercase();
    match lower.split_once(':') {
        Some((domain, rest)) if domain.len() > 4 && domain.starts_with("0000") => {
            format!("{}:{rest}", &domain[domain.len() - 4..])
        }
        _ => lower,
    }
}

/// One MIG device (a compute instance inside a GPU instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigDevice {
    /// Index on its parent GPU (the `1` in `0:1`).
    pub index: u32,
    /// `MIG-…` UUID.
    pub uuid: String,
    /// Profile name as NVML reports it.
    pub name: String,
    /// GPU instance id (`giY` in `/proc/driver/nvidia-caps/mig-minors`).
    pub gpu_instance_id: u32,
    /// Compute instance id (`ciZ`).
    pub compute_instance_id: u32,
    /// Memory of the slice in bytes.
    pub memory_total_bytes: u64,
}

/// NVML compute mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComputeMode {
    /// Several contexts per device.
    Default,
    /// One context, usable from one thread (deprecated by NVIDIA).
    ExclusiveThread,
    /// No contexts at all.
    Prohibited,
    /// One context per device, shared by a process's threads.
    ExclusiveProcess,
}

impl fmt::Display for ComputeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::ExclusiveThread => "exclusive-thread",
            Self::Prohibited => "prohibited",
            Self::ExclusiveProcess => "exclusive-process",
        })
    }
}

/// Current MIG mode of a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigMode {
    /// The GPU cannot be partitioned.
    NotSupported,
    /// MIG-capable, not partitioned.
    Disabled,
    /// Partitioned: compute runs on MIG devices only.
    Enabled,
}

impl fmt::Display for MigMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSupported => "n/a",
            Self::Disabled => "disabled",
            Self::Enabled => "enabled",
        })
    }
}

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The NVML library could not be loaded: no user-space driver on this node.
    #[error("no NVIDIA driver: {library} not found ({detail})")]
    LibraryNotFound {
        /// Library name or path that was tried.
        library: String,
        /// The loader's message.
        detail: String,
    },
    /// NVML loaded but the kernel driver is not running.
    #[error("no NVIDIA driver: {library} is installed but the kernel module is not loaded")]
    DriverNotLoaded {
        /// Library name or path that was loaded.
        library: String,
    },
    /// An NVML call failed.
    #[error("NVML {call} failed: {source}")]
    Nvml {
        /// The call, with the device it was about where relevant.
        call: String,
        /// NVML's error.
        #[source]
        source: nvml_wrapper::error::NvmlError,
    },
    /// A fixture file could not be read or is not a valid inventory.
    #[error("GPU inventory fixture {}: {detail}", path.display())]
    Fixture {
        /// The fixture file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// An inventory that breaks an invariant NVML guarantees (indexes in order, unique UUIDs and
/// minors, MIG devices only on MIG-enabled GPUs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GPU inventory: {0}")]
pub struct InvalidInventory(pub String);

impl DiscoveryError {
    /// True when the node has no usable NVIDIA driver (library absent or module not loaded).
    pub fn is_no_driver(&self) -> bool {
        matches!(
            self,
            Self::LibraryNotFound { .. } | Self::DriverNotLoaded { .. }
        )
    }
}

impl Inventory {
    /// Reads and validates an inventory JSON file (the format `openshell gpu list --json`
    /// prints).
    pub fn from_json_file(path: &Path) -> Result<Self, DiscoveryError> {
        let fixture_error = |detail: String| DiscoveryError::Fixture {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fixture_error(e.to_string()))?;
        let inventory: Self = serde_json::from_str(&text)
            .map_err(|e| fixture_error(format!("line {} column {}: {e}", e.line(), e.column())))?;
        inventory.validate().map_err(|e| fixture_error(e.0))?;
        Ok(inventory)
    }

    /// Checks the invariants NVML guarantees, so a hand-written fixture cannot describe a
    /// machine the selection and edit code would misread.
    pub fn validate(&self) -> Result<(), InvalidInventory> {
        let mut uuids = HashSet::new();
        let mut minors = HashSet::new();
        for (position, gpu) in self.gpus.iter().enumerate() {
            if gpu.index as usize != position {
                return Err(InvalidInventory(format!(
                    "gpus[{position}] has index {}; indexes must be 0, 1, 2, … in order",
                    gpu.index
                )));
            }
            if !gpu.uuid.starts_with("GPU-") {
                return Err(InvalidInventory(format!(
                    "GPU {} uuid {:?} does not start with \"GPU-\"",
                    gpu.index, gpu.uuid
                )));
            }
            if !uuids.insert(gpu.uuid.as_str()) {
                return Err(InvalidInventory(format!(
                    "GPU {} repeats uuid {}",
                    gpu.index, gpu.uuid
                )));
            }
            if gpu.minor_number > 254 || !minors.insert(gpu.minor_number) {
                return Err(InvalidInventory(format!(
                    "GPU {} minor number {} is repeated or reserved (254 is nvidia-modeset, 255 nvidiactl)",
                    gpu.index, gpu.minor_number
                )));
            }
            if gpu.mig_mode != MigMode::Enabled && !gpu.mig_devices.is_empty() {
                return Err(InvalidInventory(format!(
                    "GPU {} lists MIG devices but its MIG mode is {}",
                    gpu.index, gpu.mig_mode
                )));
            }
            let mut mig_indexes = HashSet::new();
            for mig in &gpu.mig_devices {
                if !mig.uuid.starts_with("MIG-") {
                    return Err(InvalidInventory(format!(
                        "MIG device {}:{} uuid {:?} does not start with \"MIG-\"",
                        gpu.index, mig.index, mig.uuid
                    )));
                }
                if !uuids.insert(mig.uuid.as_str()) || !mig_indexes.insert(mig.index) {
                    return Err(InvalidInventory(format!(
                        "MIG device {}:{} repeats an index or uuid",
                        gpu.index, mig.index
                    )));
                }
            }
        }
        Ok(())
    }

    /// The GPU with this UUID.
    pub fn gpu_by_uuid(&self, uuid: &str) -> Option<&Gpu> {
        self.gpus.iter().find(|gpu| gpu.uuid == uuid)
    }
}

/// An inventory served from data: for machines without a GPU, and for integration tests
/// that drive a real container through a described node.
#[derive(Debug, Clone)]
pub struct FakeInventory {
    inventory: Inventory,
}

impl FakeInventory {
    /// Serves `inventory` after checking it the way a fixture file is checked.
    pub fn new(inventory: Inventory) -> Result<Self, InvalidInventory> {
        inventory.validate()?;
        Ok(Self { inventory })
    }
}

impl GpuInventory for FakeInventory {
    fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        Ok(self.inventory.clone())
    }
}

/// Which backend the runtime reads: chosen by node configuration or, for tests and
/// development, by environment variables (see [`InventorySource::from_env`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventorySource {
    /// NVML, loaded from the given library (default `libnvidia-ml.so.1` through the loader's
    /// search path).
    Nvml {
        /// Library path override.
        library: Option<PathBuf>,
    },
    /// A fixture file in the [`Inventory`] JSON format, read on every call.
    Fixture(PathBuf),
}

impl InventorySource {
    /// Environment variable naming a fixture file; when set the runtime uses the fake backend.
    pub const FIXTURE_ENV: &str = "OPENSHELL_GPU_INVENTORY_FIXTURE";
    /// Environment variable overriding the NVML library path.
    pub const NVML_LIBRARY_ENV: &str = "OPENSHELL_NVML_LIBRARY";

    /// Chooses the backend from the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// Chooses the backend from variables looked up by `var` (an empty value counts as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let set = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        match set(Self::FIXTURE_ENV) {
            Some(path) => Self::Fixture(path),
            None => Self::Nvml {
                library: set(Self::NVML_LIBRARY_ENV),
            },
        }
    }
}

impl GpuInventory for InventorySource {
    fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        match self {
            Self::Nvml {
                library: Some(path),
            } => NvmlInventory::with_library(path).inventory(),
            Self::Nvml { library: None } => NvmlInventory::default().inventory(),
            Self::Fixture(path) => Inventory::from_json_file(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_inventory;

    #[test]
    fn cuda_version_decodes_nvml_encoding() {
        assert_eq!(
            CudaVersion::from_nvml(12040),
            CudaVersion {
                major: 12,
                minor: 4
            }
        );
        assert_eq!(CudaVersion::from_nvml(11080).to_string(), "11.8");
    }

    #[test]
    fn proc_bus_id_uses_the_kernel_spelling() {
        assert_eq!(proc_bus_id("00000000:1B:00.0"), "0000:1b:00.0");
        assert_eq!(proc_bus_id("0000:3b:00.0"), "0000:3b:00.0");
    }

    #[test]
    fn validate_rejects_what_nvml_never_reports() {
        let broken = |edit: fn(&mut Inventory)| {
            let mut inventory = sample_inventory();
            edit(&mut inventory);
            inventory.validate().unwrap_err().to_string()
        };
        assert!(sample_inventory().validate().is_ok());
        assert!(broken(|i| i.gpus[1].index = 5).contains("gpus[1] has index 5"));
        assert!(broken(|i| i.gpus[1].uuid = i.gpus[0].uuid.clone()).contains("repeats uuid"));
        assert!(broken(|i| i.gpus[2].minor_number = 0).contains("minor number 0 is repeated"));
        assert!(broken(|i| i.gpus[2].minor_number = 255).contains("reserved"));
        assert!(broken(|i| i.gpus[1].mig_mode = MigMode::Disabled).contains("lists MIG devices"));
        assert!(
            broken(|i| i.gpus[1].mig_devices[0].uuid = "GPU-x".into())
                .contains("does not start with \"MIG-\"")
        );
        assert!(
            broken(|i| i.gpus[0].uuid = "5e3a".into()).contains("does not start with \"GPU-\"")
        );
    }

    #[test]
    fn fixture_files_round_trip_and_report_errors_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.json");
        std::fs::write(
            &path,
            crate::render::inventory_json(&sample_inventory()).unwrap(),
        )
        .unwrap();
        let source = InventorySource::Fixture(path.clone());
        assert_eq!(source.inventory().unwrap(), sample_inventory());

        std::fs::write(&path, "{\n  \"driverVersion\": \"550\",\n  \"gpus\": 3\n}").unwrap();
        let error = source.inventory().unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "GPU inventory fixture {}: line 3 column",
                path.display()
            )),
            "{error}"
        );

        let mut bad = sample_inventory();
        bad.gpus.swap(0, 1);
        std::fs::write(&path, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(
            source
                .inventory()
                .unwrap_err()
                .to_string()
                .contains("indexes must be 0, 1, 2")
        );

        let missing = InventorySource::Fixture(dir.path().join("absent.json"))
            .inventory()
            .unwrap_err();
        assert!(matches!(missing, DiscoveryError::Fixture { .. }) && !missing.is_no_driver());
    }

    #[test]
    fn source_is_chosen_from_variables() {
        let vars = |fixture: Option<&str>, library: Option<&str>| {
            InventorySource::from_vars(|name| match name {
                InventorySource::FIXTURE_ENV => fixture.map(OsString::from),
                InventorySource::NVML_LIBRARY_ENV => library.map(OsString::from),
                _ => None,
            })
        };
        assert_eq!(vars(None, None), InventorySource::Nvml { library: None });
        assert_eq!(
            vars(Some(""), Some("/opt/libnvidia-ml.so.1")),
            InventorySource::Nvml {
                library: Some("/opt/libnvidia-ml.so.1".into())
            }
        );
        assert_eq!(
            vars(Some("/etc/inv.json"), Some("/x")),
            InventorySource::Fixture("/etc/inv.json".into())
        );
    }

    #[test]
    fn fake_inventory_serves_its_data_and_refuses_invalid_data() {
        assert_eq!(
            FakeInventory::new(sample_inventory())
                .unwrap()
                .inventory()
                .unwrap(),
            sample_inventory()
        );
        let mut bad = sample_inventory();
        bad.gpus[0].index = 9;
        assert!(FakeInventory::new(bad).is_err());
    }
}
