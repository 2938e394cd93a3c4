//! The CDI spec: valid against the published CDI schema, named as CDI requires, and built from
//! the same definition as the runtime's edits.

use std::collections::BTreeMap;

use openshell_gpu::cdi::{CdiDeviceNode, CdiSpec};
use openshell_gpu::testing::{CAPS_MAJOR, FakeDriverRoot, UVM_MAJOR, sample_inventory};
use openshell_gpu::{
    AccessLevel, FakeInventory, GpuError, GpuRequest, Inventory, SelectionInput, cdi_spec, compile,
};
use serde_json::Value;

const GPU0: &str = "GPU-5e3a7c1e-2b6f-4c44-9f1a-0c7d3b8e9a01";
const GPU1: &str = "GPU-8d2f4b60-71c3-4e0a-b5d9-3a6e1f2c7b02";
const GPU2: &str = "GPU-c0ffee00-1234-4abc-8def-0123456789ab";
const MIG_1_0: &str = "MIG-1f0e2d3c-4b5a-5968-8776-a5b4c3d2e1f0";
const MIG_1_1: &str = "MIG-6a7b8c9d-0e1f-5a2b-9c3d-4e5f6a7b8c9d";

fn schema_validator() -> jsonschema::Validator {
    let load = |name: &str| -> Value {
        let path = format!("{}/tests/cdi-schema/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let registry = jsonschema::Registry::new()
        .add("json-schema:///defs.json", load("defs.json"))
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .build(&load("schema.json"))
        .unwrap()
}

fn assert_valid(spec: &CdiSpec) {
    let json = serde_json::to_value(spec).unwrap();
    let validator = schema_validator();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "CDI schema violations: {errors:?}");
    // CDI's own naming rules (the schema leaves them to the parser).
    let (vendor, class) = spec.kind.split_once('/').unwrap();
    assert!(vendor.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }));
    assert!(valid_name(class), "class {class}");
    for device in &spec.devices {
        assert!(valid_name(&device.name), "device name {}", device.name);
    }
    let text = serde_json::to_string_pretty(spec).unwrap();
    assert_eq!(&serde_json::from_str::<CdiSpec>(&text).unwrap(), spec);
}

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(b))
}

fn nodes(nodes: &[CdiDeviceNode]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| format!("{} {}:{} {}", n.path, n.major, n.minor, n.permissions))
        .collect()
}

fn device_nodes(spec: &CdiSpec) -> BTreeMap<&str, Vec<String>> {
    spec.devices
        .iter()
        .map(|d| (d.name.as_str(), nodes(&d.container_edits.device_nodes)))
        .collect()
}

#[test]
fn inference_spec_is_valid_and_lists_every_device_under_each_name() {
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    let spec = cdi_spec(
        AccessLevel::InferenceOnly,
        &sample_inventory(),
        &root.roots(),
    )
    .unwrap();
    assert_valid(&spec);
    assert_eq!(spec.cdi_version, "1.1.0");
    assert_eq!(spec.kind, "openshell.nvidia.com/gpu-inference-only");
    let names: Vec<&str> = spec.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0", GPU0, "1", GPU1, "1:0", MIG_1_0, "1:1", MIG_1_1, "2", GPU2, "all"
        ]
    );

    let caps = |name: &str| {
        let minor = root.mig_minor(name).unwrap();
        format!("/dev/nvidia-caps/nvidia-cap{minor} {CAPS_MAJOR}:{minor} rw")
    };
    let by_name = device_nodes(&spec);
    assert_eq!(by_name["0"], ["/dev/nvidia0 195:0 rw"]);
    assert_eq!(by_name[GPU0], by_name["0"]);
    assert_eq!(
        by_name["1:1"],
        [
            "/dev/nvidia1 195:1 rw".to_owned(),
            caps("gpu1/gi2/access"),
            caps("gpu1/gi2/ci0/access")
        ]
    );
    assert_eq!(by_name["2"], ["/dev/nvidia3 195:3 rw"]);
    assert_eq!(
        by_name["all"],
        [
            "/dev/nvidia0 195:0 rw".to_owned(),
            "/dev/nvidia1 195:1 rw".to_owned(),
            caps("gpu1/gi1/access"),
            caps("gpu1/gi1/ci0/access"),
            caps("gpu1/gi2/access"),
            caps("gpu1/gi2/ci0/access"),
            "/dev/nvidia3 195:3 rw".to_owned(),
        ]
    );
    let common = &spec.container_edits;
    assert_eq!(common.env, ["NVIDIA_DRIVER_CAPABILITIES=compute,utility"]);
    assert_eq!(
        nodes(&common.device_nodes),
        [
            "/dev/nvidiactl 195:255 rw".to_owned(),
            format!("/dev/nvidia-uvm {UVM_MAJOR}:0 rw")
        ]
    );
    let canonical_root = root.path().canonicalize().unwrap();
    assert!(
        common
            .device_nodes
            .iter()
            .all(|n| n.host_path.starts_with(canonical_root.to_str().unwrap()))
    );
    assert!(
        common
            .mounts
            .iter()
            .all(|m| m.options == ["ro", "nosuid", "nodev", "bind"] && m.kind == "bind")
    );
}

#[test]
fn cdi_and_runtime_edits_share_one_definition() {
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    for access in [AccessLevel::InferenceOnly, AccessLevel::Full] {
        let spec = cdi_spec(access, &sample_inventory(), &root.roots()).unwrap();
        for device in ["0", "1:1", "2"] {
            let request = GpuRequest {
                access,
                selection: SelectionInput {
                    annotation: Some(device),
                    ..Default::default()
                },
            };
            let edits = compile(
                &request,
                &FakeInventory::new(sample_inventory()).unwrap(),
                &root.roots(),
            )
            .unwrap();
            let runtime: Vec<String> = edits
                .devices
                .iter()
                .map(|d| format!("{} {}:{}", d.path().display(), d.major(), d.minor()))
                .collect();
            let cdi_device = spec.devices.iter().find(|d| d.name == device).unwrap();
            let from_cdi: Vec<String> = spec
                .container_edits
                .device_nodes
                .iter()
                .chain(&cdi_device.container_edits.device_nodes)
                .map(|n| format!("{} {}:{}", n.path, n.major, n.minor))
                .collect();
            assert_eq!(runtime, from_cdi, "{access} {device}");
            let runtime_mounts: Vec<(String, String)> = edits
                .mounts
                .iter()
                .map(|m| {
                    (
                        m.source().as_ref().unwrap().display().to_string(),
                        m.destination().display().to_string(),
                    )
                })
                .collect();
            let cdi_mounts: Vec<(String, String)> = spec
                .container_edits
                .mounts
                .iter()
                .map(|m| (m.host_path.clone(), m.container_path.clone()))
                .collect();
            assert_eq!(runtime_mounts, cdi_mounts, "{access} {device}");
            assert!(edits.env.contains(&spec.container_edits.env[0]));
        }
    }
}

#[test]
fn full_spec_is_valid_and_grants_rwm_with_tools_and_display_nodes() {
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    let spec = cdi_spec(AccessLevel::Full, &sample_inventory(), &root.roots()).unwrap();
    assert_valid(&spec);
    assert_eq!(spec.kind, "openshell.nvidia.com/gpu-full");
    assert_eq!(spec.container_edits.env, ["NVIDIA_DRIVER_CAPABILITIES=all"]);
    assert_eq!(
        nodes(&spec.container_edits.device_nodes),
        [
            "/dev/nvidiactl 195:255 rwm".to_owned(),
            format!("/dev/nvidia-uvm {UVM_MAJOR}:0 rwm"),
            format!("/dev/nvidia-uvm-tools {UVM_MAJOR}:1 rwm"),
            "/dev/nvidia-modeset 195:254 rwm".to_owned(),
        ]
    );
    assert_eq!(
        device_nodes(&spec)["0"],
        [
            "/dev/nvidia0 195:0 rwm",
            "/dev/dri/card1 226:1 rwm",
            "/dev/dri/renderD128 226:128 rwm"
        ]
    );
}

#[test]
fn no_devices_no_spec() {
    let root = FakeDriverRoot::new(&sample_inventory()).unwrap();
    let error = cdi_spec(AccessLevel::None, &sample_inventory(), &root.roots()).unwrap_err();
    assert!(matches!(error, GpuError::CdiWithoutDevices), "{error:?}");
    let empty = Inventory {
        gpus: Vec::new(),
        ..sample_inventory()
    };
    assert!(matches!(
        cdi_spec(AccessLevel::InferenceOnly, &empty, &root.roots()),
        Err(GpuError::CdiWithoutDevices)
    ));
}

#[test]
fn schema_check_catches_a_broken_document() {
    // The validator is not vacuous: a device without containerEdits is refused.
    let broken =
        serde_json::json!({"cdiVersion": "1.1.0", "kind": "a.b/c", "devices": [{"name": "0"}]});
    assert!(!schema_validator().is_valid(&broken));
}
