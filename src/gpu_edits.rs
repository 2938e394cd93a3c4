//! The GPU part of a container's hardening: which devices it gets (annotation, environment,
//! node ceiling) and the OCI edits of its policy's `gpuAccess`, from `openshell-gpu`.

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use openshell_gpu::{
    AccessLevel, DeviceRequest, GpuRequest, HostRoots, InventorySource, SelectionInput,
};
use openshell_policy::node_config::GpuSettings;
use openshell_policy::{GpuAccess, GpuEdits};

/// The edits for `access`, or `None` for `gpuAccess: none` (the compiler then removes and
/// denies every NVIDIA device itself, and no driver is needed).
pub fn for_container(
    spec: &Spec,
    access: GpuAccess,
    settings: &GpuSettings,
) -> Result<Option<GpuEdits>> {
    let access = match access {
        GpuAccess::None => return Ok(None),
        GpuAccess::InferenceOnly => AccessLevel::InferenceOnly,
        GpuAccess::Full => AccessLevel::Full,
    };
    let ceiling = match &settings.ceiling {
        Some(value) => DeviceRequest::parse(value, openshell_gpu::selection::Origin::Ceiling)
            .context("node configuration gpu.ceiling")?,
        None => DeviceRequest::NoGpus,
    };
    let env = spec.process().as_ref().and_then(|p| p.env().as_deref());
    let selection = SelectionInput::from_oci(spec.annotations().as_ref(), env, ceiling)?;
    let source = match &settings.inventory_fixture {
        Some(fixture) => InventorySource::Fixture(fixture.clone()),
        None => InventorySource::Nvml {
            library: settings.nvml_library.clone(),
        },
    };
    let roots = HostRoots {
        driver_root: settings.driver_root.clone(),
        dev_root: settings.dev_root.clone(),
        proc_root: settings.proc_root.clone(),
        sys_root: settings.sys_root.clone(),
    };
    let edits = openshell_gpu::compile(&GpuRequest { access, selection }, &source, &roots)
        .with_context(|| format!("gpuAccess: {access}"))?;
    Ok(Some(GpuEdits {
        devices: edits.devices,
        device_rules: edits.device_cgroup,
        mounts: edits.mounts,
        env: edits.env,
        masked_paths: edits.masked_paths,
    }))
}
