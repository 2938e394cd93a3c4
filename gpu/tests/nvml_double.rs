//! The real NVML backend (`nvml-wrapper`, dlopen, the C ABI) against `openshell-nvml-double`,
//! a shared object exporting the NVML symbols; and the no-driver paths.
//!
//! Each test copies the double into its own directory as `libnvidia-ml.so.1` with the machine
//! description beside it, so every test loads a separate instance.

use std::path::PathBuf;

use openshell_gpu::inventory::{ComputeMode, MigMode};
use openshell_gpu::testing::{FakeDriverRoot, sample_inventory};
use openshell_gpu::{
    AccessLevel, DiscoveryError, GpuInventory, GpuRequest, Inventory, InventorySource,
    NvmlInventory, SelectionInput, compile,
};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The double as cargo built it, next to this test binary in `target/<profile>/deps`.
fn built_double() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let library = exe.parent().unwrap().join("libopenshell_nvml_double.so");
    assert!(
        library.is_file(),
        "{} not built (it is a dev-dependency of openshell-gpu)",
        library.display()
    );
    library
}

/// A directory holding a copy of the double and its machine description.
fn install_double(machine: &Value) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libnvidia-ml.so.1");
    std::fs::copy(built_double(), &library).unwrap();
    std::fs::write(
        dir.path().join("libnvidia-ml.so.1.json"),
        machine.to_string(),
    )
    .unwrap();
    (dir, library)
}

/// `inventory` described the way NVML reports it.
fn nvml_machine(inventory: &Inventory) -> Value {
    let devices: Vec<Value> = inventory
        .gpus
        .iter()
        .map(|gpu| {
            let bus_id = &gpu.pci_bus_id;
            let hex = |range: std::ops::Range<usize>| u32::from_str_radix(&bus_id[range], 16).unwrap();
            let mut device = json!({
                "uuid": gpu.uuid,
                "name": gpu.name,
                "minorNumber": gpu.minor_number,
                "busId": bus_id,
                "domain": hex(0..8),
                "bus": hex(9..11),
                "device": hex(12..14),
                "pciDeviceId": 0x2330_10de_u32,
                "memoryTotal": gpu.memory_total_bytes,
                "computeMode": match gpu.compute_mode {
                    ComputeMode::Default => 0,
                    ComputeMode::ExclusiveThread => 1,
                    ComputeMode::Prohibited => 2,
                    ComputeMode::ExclusiveProcess => 3,
                },
            });
            let mig_devices: Vec<Value> = gpu
                .mig_devices
                .iter()
                .map(|mig| {
                    json!({
                        "slot": mig.index,
                        "uuid": mig.uuid,
                        "name": mig.name,
                        "gpuInstanceId": mig.gpu_instance_id,
                        "computeInstanceId": mig.compute_instance_id,
                        "memoryTotal": mig.memory_total_bytes,
                    })
                })
                .collect();
            let mode = match gpu.mig_mode {
                MigMode::NotSupported => return device,
                MigMode::Disabled => 0,
                MigMode::Enabled => 1,
            };
            device["mig"] = json!({"currentMode": mode, "pendingMode": mode, "maxDevices": 7, "devices": mig_devices});
            device
        })
        .collect();
    let cuda = inventory.cuda_driver_version;
    json!({
        "driverVersion": inventory.driver_version,
        "cudaDriverVersion": cuda.major * 1000 + cuda.minor * 10,
        "devices": devices,
    })
}

#[test]
fn real_backend_reads_the_whole_machine_through_the_c_abi() {
    let mut expected = sample_inventory();
    // A gap in the MIG slots: slots 1, 2 and 4–6 answer NVML_ERROR_NOT_FOUND and are skipped.
    expected.gpus[1].mig_devices[1].index = 3;
    let (_dir, library) = install_double(&nvml_machine(&expected));
    let backend = NvmlInventory::with_library(&library);
    assert_eq!(backend.inventory().unwrap(), expected);
    // Init and shutdown balance: a second read on the same loaded library works the same.
    assert_eq!(backend.inventory().unwrap(), expected);
    // The configured source reaches the same backend.
    assert_eq!(
        InventorySource::Nvml {
            library: Some(library)
        }
        .inventory()
        .unwrap(),
        expected
    );
}

#[test]
fn node_without_gpus_is_an_empty_inventory() {
    let empty = Inventory {
        gpus: Vec::new(),
        ..sample_inventory()
    };
    let (_dir, library) = install_double(&nvml_machine(&empty));
    assert_eq!(
        NvmlInventory::with_library(&library).inventory().unwrap(),
        empty
    );
}

#[test]
fn library_without_kernel_driver_is_no_driver() {
    let mut machine = nvml_machine(&sample_inventory());
    machine["initResult"] = json!(9); // NVML_ERROR_DRIVER_NOT_LOADED
    let (_dir, library) = install_double(&machine);
    let error = NvmlInventory::with_library(&library)
        .inventory()
        .unwrap_err();
    assert!(
        matches!(error, DiscoveryError::DriverNotLoaded { .. }) && error.is_no_driver(),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "no NVIDIA driver: {} is installed but the kernel module is not loaded",
            library.display()
        )
    );
}

#[test]
fn missing_library_is_no_driver_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libnvidia-ml.so.1");
    let error = NvmlInventory::with_library(&library)
        .inventory()
        .unwrap_err();
    assert!(
        matches!(error, DiscoveryError::LibraryNotFound { .. }) && error.is_no_driver(),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "no NVIDIA driver: {} not found (",
            library.display()
        )),
        "{message}"
    );
}

#[test]
fn default_library_reads_the_node_or_reports_no_driver() {
    // Whatever this machine has: a driver yields a valid inventory, none the no-driver error.
    match NvmlInventory::default().inventory() {
        Ok(inventory) => inventory.validate().unwrap(),
        Err(error) => assert!(error.is_no_driver(), "{error:?}"),
    }
}

#[test]
fn fixture_written_by_the_fake_root_drives_the_fixture_source() {
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    let source = InventorySource::Fixture(root.write_inventory_fixture().unwrap());
    assert_eq!(source.inventory().unwrap(), sample_inventory());
}

#[test]
fn other_nvml_failures_name_the_call() {
    let mut machine = nvml_machine(&sample_inventory());
    machine["initResult"] = json!(999); // NVML_ERROR_UNKNOWN
    let (_dir, library) = install_double(&machine);
    let error = NvmlInventory::with_library(&library)
        .inventory()
        .unwrap_err();
    assert!(!error.is_no_driver());
    assert!(
        error.to_string().starts_with("NVML nvmlInit_v2 failed: "),
        "{error}"
    );
}

#[test]
fn compile_through_the_real_backend() {
    let (_dir, library) = install_double(&nvml_machine(&sample_inventory()));
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    let request = GpuRequest {
        access: AccessLevel::InferenceOnly,
        selection: SelectionInput {
            annotation: Some("1:0"),
            ..SelectionInput::default()
        },
    };
    let edits = compile(
        &request,
        &NvmlInventory::with_library(&library),
        &root.roots(),
    )
    .unwrap();
    let paths: Vec<String> = edits
        .devices
        .iter()
        .map(|d| d.path().display().to_string())
        .collect();
    let gi = root.mig_minor("gpu1/gi1/access").unwrap();
    let ci = root.mig_minor("gpu1/gi1/ci0/access").unwrap();
    assert_eq!(
        paths,
        [
            "/dev/nvidiactl".to_owned(),
            "/dev/nvidia-uvm".to_owned(),
            "/dev/nvidia1".to_owned(),
            format!("/dev/nvidia-caps/nvidia-cap{gi}"),
            format!("/dev/nvidia-caps/nvidia-cap{ci}"),
        ]
    );
    assert_eq!(edits.selected, ["MIG-1f0e2d3c-4b5a-5968-8776-a5b4c3d2e1f0"]);
}
