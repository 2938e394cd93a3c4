//! The real inventory backend: NVML through `nvml-wrapper`, dlopened at call time.
//!
//! NVML is never linked: the runtime binary starts on nodes without a driver and only loads
//! `libnvidia-ml.so.1` when a policy grants GPU access. Each [`NvmlInventory::inventory`] call
//! initializes NVML, copies what the runtime needs into owned structs and shuts NVML down
//! again (the `Nvml` value's drop calls `nvmlShutdown`).

use std::ffi::OsString;
use std::os::raw::c_uint;
use std::path::Path;

use nvml_wrapper::Nvml;
use nvml_wrapper::device::Device;
use nvml_wrapper::enum_wrappers::device::ComputeMode as NvmlComputeMode;
use nvml_wrapper::error::NvmlError;

use crate::inventory::{
    ComputeMode, CudaVersion, DiscoveryError, Gpu, GpuInventory, Inventory, MigDevice, MigMode,
};

/// The NVML library's soname: what the driver package installs (the unversioned
/// `libnvidia-ml.so` only comes with development packages).
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// NVML's `NVML_DEVICE_MIG_ENABLE`.
const MIG_ENABLED: u32 = 1;

/// Inventory read from NVML.
#[derive(Debug, Clone)]
pub struct NvmlInventory {
    library: OsString,
}

impl Default for NvmlInventory {
    /// Loads [`NVML_LIBRARY`] through the dynamic loader's search path.
    fn default() -> Self {
        Self {
            library: NVML_LIBRARY.into(),
        }
    }
}

impl NvmlInventory {
    /// Loads NVML from `library` (a path, or a name the loader searches for).
    pub fn with_library(library: impl AsRef<Path>) -> Self {
        Self {
            library: library.as_ref().as_os_str().to_owned(),
        }
    }

    fn library_name(&self) -> String {
        self.library.to_string_lossy().into_owned()
    }

    fn init(&self) -> Result<Nvml, DiscoveryError> {
        Nvml::builder()
            .lib_path(&self.library)
            .init()
            .map_err(|error| match error {
                NvmlError::LibloadingError(detail) => DiscoveryError::LibraryNotFound {
                    library: self.library_name(),
                    detail: detail.to_string(),
                },
                NvmlError::FailedToLoadSymbol(detail) => DiscoveryError::LibraryNotFound {
                    library: self.library_name(),
                    detail: format!("not an NVML library: {detail}"),
                },
                NvmlError::DriverNotLoaded => DiscoveryError::DriverNotLoaded {
                    library: self.library_name(),
                },
                source => DiscoveryError::Nvml {
                    call: "nvmlInit_v2".into(),
                    source,
                },
            })
    }
}

impl GpuInventory for NvmlInventory {
    fn inventory(&self) -> Result<Inventory, DiscoveryError> {
        let nvml = self.init()?;
        let driver_version = nvml
            .sys_driver_version()
            .map_err(nvml_error("nvmlSystemGetDriverVersion"))?;
        let cuda = nvml
            .sys_cuda_driver_version()
            .map_err(nvml_error("nvmlSystemGetCudaDriverVersion_v2"))?;
        let count = nvml
            .device_count()
            .map_err(nvml_error("nvmlDeviceGetCount_v2"))?;
        let gpus = (0..count)
            .map(|index| read_gpu(&nvml, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Inventory {
            driver_version,
            cuda_driver_version: CudaVersion::from_nvml(cuda),
            gpus,
        })
    }
}

fn nvml_error(call: &'static str) -> impl Fn(NvmlError) -> DiscoveryError {
    move |source| DiscoveryError::Nvml {
        call: call.into(),
        source,
    }
}

fn device_error(call: &'static str, what: String) -> impl Fn(NvmlError) -> DiscoveryError {
    move |source| DiscoveryError::Nvml {
        call: format!("{call} ({what})"),
        source,
    }
}

fn read_gpu(nvml: &Nvml, index: u32) -> Result<Gpu, DiscoveryError> {
    let what = format!("GPU {index}");
    let device = nvml
        .device_by_index(index)
        .map_err(device_error("nvmlDeviceGetHandleByIndex_v2", what.clone()))?;
    let mig_mode = match device.mig_mode() {
        Ok(mode) if mode.current == MIG_ENABLED => MigMode::Enabled,
        Ok(_) => MigMode::Disabled,
        Err(NvmlError::NotSupported) => MigMode::NotSupported,
        Err(source) => return Err(device_error("nvmlDeviceGetMigMode", what)(source)),
    };
    let mig_devices = match mig_mode {
        MigMode::Enabled => read_mig_devices(nvml, &device, index)?,
        MigMode::Disabled | MigMode::NotSupported => Vec::new(),
    };
    Ok(Gpu {
        index,
        uuid: device
            .uuid()
            .map_err(device_error("nvmlDeviceGetUUID", what.clone()))?,
        name: device
            .name()
            .map_err(device_error("nvmlDeviceGetName", what.clone()))?,
        minor_number: device
            .minor_number()
            .map_err(device_error("nvmlDeviceGetMinorNumber", what.clone()))?,
        pci_bus_id: device
            .pci_info()
            .map_err(device_error("nvmlDeviceGetPciInfo_v3", what.clone()))?
            .bus_id,
        memory_total_bytes: device
            .memory_info()
            .map_err(device_error("nvmlDeviceGetMemoryInfo_v2", what.clone()))?
            .total,
        compute_mode: match device
            .compute_mode()
            .map_err(device_error("nvmlDeviceGetComputeMode", what))?
        {
            NvmlComputeMode::Default => ComputeMode::Default,
            NvmlComputeMode::ExclusiveThread => ComputeMode::ExclusiveThread,
            NvmlComputeMode::Prohibited => ComputeMode::Prohibited,
            NvmlComputeMode::ExclusiveProcess => ComputeMode::ExclusiveProcess,
        },
        mig_mode,
        mig_devices,
    })
}

/// Reads the populated MIG slots of a MIG-enabled GPU; empty slots answer `NotFound`.
fn read_mig_devices(
    nvml: &Nvml,
    parent: &Device<'_>,
    gpu: u32,
) -> Result<Vec<MigDevice>, DiscoveryError> {
    let slots = parent.mig_device_count().map_err(device_error(
        "nvmlDeviceGetMaxMigDeviceCount",
        format!("GPU {gpu}"),
    ))?;
    let mut devices = Vec::new();
    for slot in 0..slots {
        let what = format!("MIG device {gpu}:{slot}");
        let mig = match parent.mig_device_by_index(slot) {
            Ok(mig) => mig,
            Err(NvmlError::NotFound) => continue,
            Err(source) => {
                return Err(device_error("nvmlDeviceGetMigDeviceHandleByIndex", what)(
                    source,
                ));
            }
        };
        devices.push(MigDevice {
            index: slot,
            uuid: mig
                .uuid()
                .map_err(device_error("nvmlDeviceGetUUID", what.clone()))?,
            name: mig
                .name()
                .map_err(device_error("nvmlDeviceGetName", what.clone()))?,
            gpu_instance_id: instance_id(nvml, &mig, InstanceKind::Gpu)
                .map_err(device_error("nvmlDeviceGetGpuInstanceId", what.clone()))?,
            compute_instance_id: instance_id(nvml, &mig, InstanceKind::Compute)
                .map_err(device_error("nvmlDeviceGetComputeInstanceId", what.clone()))?,
            memory_total_bytes: mig
                .memory_info()
                .map_err(device_error("nvmlDeviceGetMemoryInfo_v2", what))?
                .total,
        });
    }
    Ok(devices)
}

enum InstanceKind {
    Gpu,
    Compute,
}

/// GPU and compute instance ids of a MIG device handle. `nvml-wrapper` 0.13 has no safe
/// wrapper for these two calls, so they go through its raw bindings.
fn instance_id(nvml: &Nvml, mig: &Device<'_>, kind: InstanceKind) -> Result<u32, NvmlError> {
    let lib = nvml.lib();
    let symbol = match kind {
        InstanceKind::Gpu => lib.nvmlDeviceGetGpuInstanceId.as_ref(),
        InstanceKind::Compute => lib.nvmlDeviceGetComputeInstanceId.as_ref(),
    };
    let function = nvml_wrapper::error::nvml_sym(symbol)?;
    let mut id: c_uint = 0;
    // SAFETY: `mig.handle()` is a live handle from this `nvml` instance (borrowed for the
    // duration of the call) and `id` is valid storage for the out-parameter.
    let status = unsafe { function(mig.handle(), &mut id) };
    nvml_wrapper::error::nvml_try(status)?;
    Ok(id)
}
