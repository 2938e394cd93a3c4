//! Devices: the standard character devices, the GPU edits, and nothing else.

use std::path::Path;

use oci_spec::runtime::{Hook, Hooks, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use super::GpuEdits;

/// The device nodes a container keeps: (major, minor, path).
pub const STANDARD_DEVICES: [(i64, i64, &str); 6] = [
    (1, 3, "/dev/null"),
    (1, 5, "/dev/zero"),
    (1, 7, "/dev/full"),
    (1, 8, "/dev/random"),
    (1, 9, "/dev/urandom"),
    (5, 0, "/dev/tty"),
];

/// Terminal devices the runtime provides through its own mounts: console (5:1), ptmx (5:2)
/// and the pseudo-terminal slaves (136:*).
const TERMINALS: [(i64, Option<i64>); 3] = [(5, Some(1)), (5, Some(2)), (136, None)];

/// Majors of NVIDIA GPUs (195) and DRM render/card nodes (226); the NVIDIA UVM and caps
/// devices have dynamic majors and are caught by their paths.
const GPU_MAJORS: [i64; 2] = [195, 226];

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow);
    rule.set_typ(Some(typ));
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some("rwm".to_owned()));
    rule
}

/// A device path that belongs to a GPU.
pub(crate) fn is_gpu_path(path: &Path) -> bool {
    path.starts_with("/dev/dri") || path.to_string_lossy().starts_with("/dev/nvidia")
}

/// A hook that would hand GPUs to the container behind the policy's back
/// (`nvidia-container-runtime-hook`, `nvidia-ctk`, …).
pub(crate) fn is_gpu_hook(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("nvidia-"))
}

fn overlaps(a: &LinuxDeviceCgroup, b: &LinuxDeviceCgroup) -> bool {
    let typ = |rule: &LinuxDeviceCgroup| rule.typ().unwrap_or(LinuxDeviceType::A);
    let types = typ(a) == typ(b) || typ(a) == LinuxDeviceType::A || typ(b) == LinuxDeviceType::A;
    let number = |x: Option<i64>, y: Option<i64>| x.is_none() || y.is_none() || x == y;
    types && number(a.major(), b.major()) && number(a.minor(), b.minor())
}

pub(super) fn apply(spec: &mut Spec, gpu: Option<&GpuEdits>) {
    if let Some(mounts) = spec.mounts_mut() {
        mounts.retain(|mount| {
            !is_gpu_path(mount.destination()) && !mount.source().as_deref().is_some_and(is_gpu_path)
        });
        mounts.extend(gpu.iter().flat_map(|edits| edits.mounts.iter().cloned()));
    } else if let Some(edits) = gpu {
        spec.set_mounts(Some(edits.mounts.clone()));
    }
    if let Some(hooks) = spec.hooks_mut() {
        remove_gpu_hooks(hooks);
    }

    let linux = spec.linux_mut().get_or_insert_with(super::empty_linux);
    let mut devices: Vec<_> = linux
        .devices()
        .iter()
        .flatten()
        .filter(|device| {
            device.typ() == LinuxDeviceType::C
                && STANDARD_DEVICES
                    .iter()
                    .any(|(major, minor, _)| device.major() == *major && device.minor() == *minor)
        })
        .cloned()
        .collect();
    for device in gpu.iter().flat_map(|edits| &edits.devices) {
        if !devices
            .iter()
            .any(|existing| existing.path() == device.path())
        {
            devices.push(device.clone());
        }
    }
    linux.set_devices((!devices.is_empty()).then_some(devices));

    let resources = linux
        .resources_mut()
        .get_or_insert_with(LinuxResources::default);
    let caller_rules = resources.devices().clone().unwrap_or_default();
    let mut rules = vec![rule(false, LinuxDeviceType::A, None, None)];
    rules.extend(
        STANDARD_DEVICES
            .iter()
            .map(|(major, minor, _)| rule(true, LinuxDeviceType::C, Some(*major), Some(*minor))),
    );
    rules.extend(
        TERMINALS
            .iter()
            .map(|(major, minor)| rule(true, LinuxDeviceType::C, Some(*major), *minor)),
    );
    match gpu {
        Some(edits) => rules.extend(edits.device_rules.iter().cloned()),
        None => rules.extend(
            GPU_MAJORS
                .iter()
                .map(|major| rule(false, LinuxDeviceType::C, Some(*major), None)),
        ),
    }
    // The caller's own denials still hold, unless a later rule of theirs re-allowed the
    // devices; a blanket "deny all" is already the first rule.
    for (index, denial) in caller_rules.iter().enumerate() {
        let blanket = denial.typ().unwrap_or(LinuxDeviceType::A) == LinuxDeviceType::A
            && denial.major().is_none()
            && denial.minor().is_none();
        let reallowed = caller_rules[index + 1..]
            .iter()
            .any(|later| later.allow() && overlaps(later, denial));
        if !denial.allow() && !blanket && !reallowed && !rules.contains(denial) {
            rules.push(denial.clone());
        }
    }
    resources.set_devices(Some(rules));

    if let Some(edits) = gpu.filter(|edits| !edits.masked_paths.is_empty()) {
        let mut masked = linux.masked_paths().clone().unwrap_or_default();
        for path in &edits.masked_paths {
            if !masked.contains(path) {
                masked.push(path.clone());
            }
        }
        linux.set_masked_paths(Some(masked));
    }
}

fn remove_gpu_hooks(hooks: &mut Hooks) {
    let keep_others = |list: &mut Option<Vec<Hook>>| {
        if let Some(list) = list {
            list.retain(|hook| !is_gpu_hook(hook.path()));
        }
    };
    keep_others(hooks.prestart_mut());
    keep_others(hooks.create_runtime_mut());
    keep_others(hooks.create_container_mut());
    keep_others(hooks.start_container_mut());
    keep_others(hooks.poststart_mut());
    keep_others(hooks.poststop_mut());
}
