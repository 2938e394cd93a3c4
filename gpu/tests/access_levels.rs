//! Each access level yields exactly the devices, device-cgroup rules, mounts, environment,
//! masked paths and capability constraints the crate documentation defines, computed against
//! a fake driver root (real `mknod` nodes, stub libraries) and the sample inventory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use oci_spec::runtime::Capability;
use openshell_gpu::testing::{
    CAPS_MAJOR, FakeDriverRoot, NVIDIA_MAJORS, UVM_MAJOR, sample_inventory,
};
use openshell_gpu::{
    AccessLevel, FakeInventory, GpuEdits, GpuError, GpuRequest, HostError, HostRoots,
    NvmlInventory, SelectionError, SelectionInput, compile,
};

const GPU0: &str = "GPU-5e3a7c1e-2b6f-4c44-9f1a-0c7d3b8e9a01";
const MIG_1_1: &str = "MIG-6a7b8c9d-0e1f-5a2b-9c3d-4e5f6a7b8c9d";
const VERSION: &str = "550.54.15";

fn fake_root() -> FakeDriverRoot {
    FakeDriverRoot::new(&sample_inventory()).expect("fake driver root (mknod needs CAP_MKNOD)")
}

fn compile_at(
    root: &HostRoots,
    access: AccessLevel,
    annotation: &str,
) -> Result<GpuEdits, GpuError> {
    let request = GpuRequest {
        access,
        selection: SelectionInput {
            annotation: Some(annotation),
            ..SelectionInput::default()
        },
    };
    compile(
        &request,
        &FakeInventory::new(sample_inventory()).unwrap(),
        root,
    )
}

fn devices(edits: &GpuEdits) -> Vec<String> {
    edits
        .devices
        .iter()
        .map(|d| {
            format!(
                "{} {}:{} {:o} {}:{}",
                d.path().display(),
                d.major(),
                d.minor(),
                d.file_mode().unwrap(),
                d.uid().unwrap(),
                d.gid().unwrap()
            )
        })
        .collect()
}

fn cgroup(edits: &GpuEdits) -> Vec<String> {
    edits
        .device_cgroup
        .iter()
        .map(|rule| format!("{} {rule}", if rule.allow() { "allow" } else { "deny" }))
        .collect()
}

fn denies() -> Vec<String> {
    NVIDIA_MAJORS
        .iter()
        .chain(&[226])
        .map(|major| format!("deny c {major}:* rwm"))
        .collect()
}

/// Mount destinations, after checking every mount is a read-only bind of a file inside the
/// driver root at the same path.
fn mount_destinations(edits: &GpuEdits, root: &FakeDriverRoot) -> Vec<String> {
    let canonical_root = root.path().canonicalize().unwrap();
    edits
        .mounts
        .iter()
        .map(|mount| {
            assert_eq!(mount.typ().as_deref(), Some("bind"));
            assert_eq!(
                mount.options().as_deref().unwrap(),
                ["ro", "nosuid", "nodev", "bind"]
            );
            let source = mount.source().as_ref().unwrap();
            assert!(
                source.starts_with(&canonical_root),
                "{} outside the driver root",
                source.display()
            );
            assert!(
                fs::symlink_metadata(source).unwrap().is_file(),
                "{} is not a regular file",
                source.display()
            );
            mount.destination().display().to_string()
        })
        .collect()
}

fn lib(name: &str) -> String {
    format!("/usr/lib/{}-linux-gnu/{name}", std::env::consts::ARCH)
}

fn inference_mounts() -> Vec<String> {
    let mut expected = Vec::new();
    for name in [
        "libcuda.so",
        "libnvidia-ml.so",
        "libnvidia-ptxjitcompiler.so",
        "libnvidia-nvvm.so",
        "libnvidia-gpucomp.so",
        "libnvidia-allocator.so",
        "libnvidia-pkcs11.so",
        "libnvidia-pkcs11-openssl3.so",
        "libnvidia-cfg.so",
        "libnvidia-nscq.so",
    ] {
        expected.push(lib(&format!("{name}.{VERSION}")));
        if name == "libcuda.so" {
            expected.push(lib("libcuda.so"));
        }
        expected.push(lib(&format!("{name}.1")));
    }
    expected.push("/usr/bin/nvidia-smi".into());
    expected
}

#[test]
fn none_denies_every_nvidia_major_and_needs_no_driver() {
    let root = fake_root();
    let request = GpuRequest {
        access: AccessLevel::None,
        selection: SelectionInput {
            annotation: Some("all"),
            ..Default::default()
        },
    };
    // The inventory would fail: `none` must not read it.
    let no_driver = NvmlInventory::with_library(root.path().join("absent/libnvidia-ml.so.1"));
    let edits = compile(&request, &no_driver, &root.roots()).unwrap();
    assert!(edits.devices.is_empty());
    assert_eq!(cgroup(&edits), denies());
    assert!(edits.mounts.is_empty());
    assert_eq!(edits.env, ["NVIDIA_VISIBLE_DEVICES=void"]);
    assert_eq!(
        edits.masked_paths,
        ["/proc/driver/nvidia", "/proc/driver/nvidia-caps"]
    );
    assert!(edits.forbidden_capabilities.is_empty());
    assert!(!edits.no_new_privileges);
    assert!(edits.selected.is_empty());
}

#[test]
fn none_on_a_host_without_any_nvidia_driver() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("proc/driver/rtc")).unwrap();
    fs::write(
        dir.path().join("proc/devices"),
        "Character devices:\n  1 mem\n226 drm\n\nBlock devices:\n  8 sd\n",
    )
    .unwrap();
    let edits = compile(
        &GpuRequest::default(),
        &NvmlInventory::with_library(dir.path().join("libnvidia-ml.so.1")),
        &HostRoots::under(dir.path()),
    )
    .unwrap();
    assert_eq!(cgroup(&edits), ["deny c 195:* rwm", "deny c 226:* rwm"]);
    assert!(edits.masked_paths.is_empty() && edits.devices.is_empty());
}

#[test]
fn inference_only_on_one_gpu_is_exactly_the_definition() {
    let root = fake_root();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap();
    assert_eq!(
        devices(&edits),
        [
            "/dev/nvidiactl 195:255 666 0:0".to_owned(),
            format!("/dev/nvidia-uvm {UVM_MAJOR}:0 666 0:0"),
            "/dev/nvidia0 195:0 666 0:0".to_owned(),
        ]
    );
    let mut expected_cgroup = denies();
    expected_cgroup.extend([
        "allow c 195:255 rw".to_owned(),
        format!("allow c {UVM_MAJOR}:0 rw"),
        "allow c 195:0 rw".to_owned(),
    ]);
    assert_eq!(cgroup(&edits), expected_cgroup);
    assert_eq!(mount_destinations(&edits, &root), inference_mounts());
    assert_eq!(
        edits.env,
        [
            format!("NVIDIA_VISIBLE_DEVICES={GPU0}"),
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility".to_owned()
        ]
    );
    assert_eq!(
        edits.masked_paths,
        [
            "/proc/driver/nvidia/gpus/0000:43:00.0",
            "/proc/driver/nvidia/gpus/0000:9b:00.0"
        ]
    );
    assert_eq!(
        edits.forbidden_capabilities,
        [
            Capability::SysAdmin,
            Capability::Perfmon,
            Capability::SysNice,
            Capability::Mknod,
            Capability::SysRawio
        ]
    );
    assert!(edits.no_new_privileges);
    assert_eq!(edits.selected, [GPU0]);
    // Spelled out for the reader: what the exact lists above leave out.
    for forbidden in [
        "/dev/nvidia-uvm-tools",
        "/dev/nvidia-modeset",
        "/dev/nvidia-caps",
        "/dev/dri",
        "/dev/nvidia1",
    ] {
        assert!(
            edits
                .devices
                .iter()
                .all(|d| !d.path().starts_with(forbidden)),
            "{forbidden} granted"
        );
    }
    let mounted = mount_destinations(&edits, &root).join(" ");
    for left_out in [
        "libcudadebugger",
        "libnvidia-opencl",
        "libGLX",
        "nvidia-debugdump",
        "mps",
        "persistenced",
    ] {
        assert!(!mounted.contains(left_out), "{left_out} mounted");
    }
}

#[test]
fn inference_only_uses_nvml_minor_numbers_not_indexes() {
    let root = fake_root();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, "2").unwrap();
    assert_eq!(devices(&edits)[2], "/dev/nvidia3 195:3 666 0:0");
    assert_eq!(cgroup(&edits).last().unwrap(), "allow c 195:3 rw");
}

#[test]
fn inference_only_mig_slice_gets_only_its_own_capabilities() {
    let root = fake_root();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, MIG_1_1).unwrap();
    let gi = root.mig_minor("gpu1/gi2/access").unwrap();
    let ci = root.mig_minor("gpu1/gi2/ci0/access").unwrap();
    assert_eq!(
        devices(&edits),
        [
            "/dev/nvidiactl 195:255 666 0:0".to_owned(),
            format!("/dev/nvidia-uvm {UVM_MAJOR}:0 666 0:0"),
            "/dev/nvidia1 195:1 666 0:0".to_owned(),
            format!("/dev/nvidia-caps/nvidia-cap{gi} {CAPS_MAJOR}:{gi} 666 0:0"),
            format!("/dev/nvidia-caps/nvidia-cap{ci} {CAPS_MAJOR}:{ci} 666 0:0"),
        ]
    );
    let allows: Vec<String> = cgroup(&edits)
        .into_iter()
        .filter(|r| r.starts_with("allow"))
        .collect();
    assert_eq!(
        allows,
        [
            "allow c 195:255 rw".to_owned(),
            format!("allow c {UVM_MAJOR}:0 rw"),
            "allow c 195:1 rw".to_owned(),
            format!("allow c {CAPS_MAJOR}:{gi} rw"),
            format!("allow c {CAPS_MAJOR}:{ci} rw"),
        ]
    );
    assert_eq!(edits.env[0], format!("NVIDIA_VISIBLE_DEVICES={MIG_1_1}"));
    assert_eq!(
        edits.masked_paths,
        [
            "/proc/driver/nvidia/gpus/0000:1b:00.0",
            "/proc/driver/nvidia/gpus/0000:9b:00.0"
        ]
    );
    let config = root.mig_minor("config").unwrap();
    assert!(
        devices(&edits)
            .iter()
            .all(|d| !d.starts_with(&format!("/dev/nvidia-caps/nvidia-cap{config} ")))
    );
}

#[test]
fn two_slices_of_one_gpu_share_its_node_and_a_whole_mig_gpu_brings_all_slices() {
    let root = fake_root();
    let slices = compile_at(&root.roots(), AccessLevel::InferenceOnly, "1:0,1:1").unwrap();
    let whole = compile_at(&root.roots(), AccessLevel::InferenceOnly, "1").unwrap();
    assert_eq!(devices(&slices), devices(&whole));
    assert_eq!(
        devices(&slices)
            .iter()
            .filter(|d| d.starts_with("/dev/nvidia1 "))
            .count(),
        1
    );
    assert_eq!(
        devices(&slices)
            .iter()
            .filter(|d| d.starts_with("/dev/nvidia-caps/"))
            .count(),
        4
    );
}

#[test]
fn full_adds_tools_modeset_dri_and_every_driver_file() {
    let root = fake_root();
    let edits = compile_at(&root.roots(), AccessLevel::Full, "0").unwrap();
    assert_eq!(
        devices(&edits),
        [
            "/dev/nvidiactl 195:255 666 0:0".to_owned(),
            format!("/dev/nvidia-uvm {UVM_MAJOR}:0 666 0:0"),
            format!("/dev/nvidia-uvm-tools {UVM_MAJOR}:1 666 0:0"),
            "/dev/nvidia-modeset 195:254 666 0:0".to_owned(),
            "/dev/nvidia0 195:0 666 0:0".to_owned(),
            "/dev/dri/card1 226:1 666 0:0".to_owned(),
            "/dev/dri/renderD128 226:128 666 0:0".to_owned(),
        ]
    );
    let rules = cgroup(&edits);
    assert_eq!(rules[..7], denies()[..]);
    assert!(
        rules[7..]
            .iter()
            .all(|r| r.starts_with("allow") && r.ends_with(" rwm")),
        "{rules:?}"
    );
    assert_eq!(rules.len(), 7 + 7);
    let mounted = mount_destinations(&edits, &root);
    for name in inference_mounts() {
        assert!(mounted.contains(&name), "{name} missing from full");
    }
    for extra in [
        lib(&format!("libcudadebugger.so.{VERSION}")),
        lib(&format!("libGLX_nvidia.so.{VERSION}")),
        lib(&format!("vdpau/libvdpau_nvidia.so.{VERSION}")),
        lib("vdpau/libvdpau_nvidia.so.1"),
        lib(&format!("libnvidia-ngx.so.{VERSION}")),
        "/usr/bin/nvidia-cuda-mps-server".to_owned(),
    ] {
        assert!(
            mounted.contains(&extra),
            "{extra} missing from full: {mounted:?}"
        );
    }
    assert_eq!(edits.env[1], "NVIDIA_DRIVER_CAPABILITIES=all");
    assert!(edits.forbidden_capabilities.is_empty() && !edits.no_new_privileges);
    assert_eq!(edits.masked_paths.len(), 2);
}

#[test]
fn selecting_no_gpu_yields_the_none_edits() {
    let root = fake_root();
    let none = compile_at(&root.roots(), AccessLevel::None, "0").unwrap();
    for access in [AccessLevel::InferenceOnly, AccessLevel::Full] {
        let mut edits = compile_at(&root.roots(), access, "void").unwrap();
        assert_eq!(edits.access, access);
        edits.access = AccessLevel::None;
        assert_eq!(edits, none);
    }
}

#[test]
fn gpu_levels_without_a_driver_fail_clearly() {
    let root = fake_root();
    let library = root.path().join("absent/libnvidia-ml.so.1");
    for access in [AccessLevel::InferenceOnly, AccessLevel::Full] {
        let request = GpuRequest {
            access,
            selection: SelectionInput {
                annotation: Some("0"),
                ..Default::default()
            },
        };
        let error = compile(
            &request,
            &NvmlInventory::with_library(&library),
            &root.roots(),
        )
        .unwrap_err();
        assert!(error.is_no_driver(), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "no NVIDIA driver: {} not found (",
                library.display()
            )),
            "{message}"
        );
    }
}

#[test]
fn bad_selection_is_reported_through_compile() {
    let root = fake_root();
    let error = compile_at(
        &root.roots(),
        AccessLevel::InferenceOnly,
        "GPU-ffffffff-0000-0000-0000-000000000000",
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            GpuError::Selection(SelectionError::UnknownUuid { .. })
        ),
        "{error:?}"
    );
    let error = compile_at(&root.roots(), AccessLevel::InferenceOnly, "5").unwrap_err();
    assert_eq!(
        error.to_string(),
        "annotation openshell.nvidia.com/gpus: GPU index 5 is out of range: this node has 3 GPU(s)"
    );
}

#[test]
fn unloaded_uvm_module_is_refused() {
    let root = fake_root();
    let devices_file = root.path().join("proc/devices");
    let text = fs::read_to_string(&devices_file)
        .unwrap()
        .replace("238 nvidia-uvm\n", "");
    fs::write(&devices_file, text).unwrap();
    let error = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "kernel module nvidia-uvm is not loaded: no \"nvidia-uvm\" character device in {}",
            devices_file.display()
        )
    );
}

fn replace_node(root: &FakeDriverRoot, name: &str, replacement: impl FnOnce(&Path)) -> GpuError {
    let path = root.path().join(name);
    fs::remove_file(&path).unwrap();
    replacement(&path);
    compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap_err()
}

#[test]
fn host_device_nodes_must_match_the_driver() {
    let root = fake_root();
    let error = replace_node(&root, "dev/nvidia0", |_| {});
    assert!(
        matches!(error, GpuError::Host(HostError::MissingDeviceNode { .. })),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("nvidia-modprobe -c 0 creates it"),
        "{error}"
    );

    let root = fake_root();
    let error = replace_node(&root, "dev/nvidia0", |path| {
        mknod(
            path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(195, 7),
        )
        .unwrap();
    });
    assert!(
        error
            .to_string()
            .ends_with("is character device 195:7, expected character device 195:0"),
        "{error}"
    );

    let root = fake_root();
    let error = replace_node(&root, "dev/nvidia-uvm", |path| {
        symlink("nvidia-uvm-tools", path).unwrap()
    });
    assert!(
        error.to_string().ends_with(&format!(
            "is a symlink, expected character device {UVM_MAJOR}:0"
        )),
        "{error}"
    );
}

#[test]
fn required_libraries_must_match_the_driver_version() {
    let root = fake_root();
    let dir = root.library_dir();
    fs::remove_file(dir.join(format!("libcuda.so.{VERSION}"))).unwrap();
    fs::write(dir.join("libcuda.so.470.57.02"), "stale").unwrap();
    let error = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "driver file libcuda.so.{VERSION} for driver {VERSION} not found under driver root"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "searched /usr/lib/{}-linux-gnu, /usr/lib64",
            std::env::consts::ARCH
        )),
        "{message}"
    );
}

#[test]
fn optional_libraries_are_skipped_when_absent() {
    let root = fake_root();
    let dir = root.library_dir();
    fs::remove_file(dir.join(format!("libnvidia-nscq.so.{VERSION}"))).unwrap();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap();
    let expected: Vec<String> = inference_mounts()
        .into_iter()
        .filter(|m| !m.contains("nscq"))
        .collect();
    assert_eq!(mount_destinations(&edits, &root), expected);
}

#[test]
fn driver_root_symlinks_cannot_reach_host_files() {
    assert!(
        Path::new("/etc/passwd").is_file(),
        "precondition: the host has /etc/passwd"
    );
    let root = fake_root();
    let dir = root.library_dir();
    let cfg = dir.join(format!("libnvidia-cfg.so.{VERSION}"));
    fs::remove_file(&cfg).unwrap();
    symlink("../../../../../../../../../../../../etc/passwd", &cfg).unwrap();
    let nscq = dir.join(format!("libnvidia-nscq.so.{VERSION}"));
    fs::remove_file(&nscq).unwrap();
    symlink("/etc/passwd", &nscq).unwrap();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap();
    let mounted = mount_destinations(&edits, &root);
    assert!(
        !mounted
            .iter()
            .any(|m| m.contains("libnvidia-cfg") || m.contains("libnvidia-nscq")),
        "{mounted:?}"
    );

    // Inside the root the same link resolves to the root's own file, mounted at the library
    // path rather than over the container's /etc/passwd.
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::write(root.path().join("etc/passwd"), "driver root's own file").unwrap();
    let edits = compile_at(&root.roots(), AccessLevel::InferenceOnly, "0").unwrap();
    let cfg_mount = edits
        .mounts
        .iter()
        .find(|m| {
            m.destination()
                .ends_with(format!("libnvidia-cfg.so.{VERSION}"))
        })
        .expect("cfg mounted once the root has a target");
    assert_eq!(
        cfg_mount.source().as_ref().unwrap(),
        &root.path().canonicalize().unwrap().join("etc/passwd")
    );
    assert!(
        edits
            .mounts
            .iter()
            .all(|m| m.destination() != Path::new("/etc/passwd"))
    );
}
