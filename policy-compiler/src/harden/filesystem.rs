//! The filesystem view: read-only root with scratch tmpfs, masked and read-only kernel paths.

use std::path::Path;

use oci_spec::runtime::{Mount, Spec};

use crate::documents::{FilesystemIsolation, Isolation};

/// Paths hidden from the container: runc's defaults plus Docker's additions.
pub const DEFAULT_MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths made read-only: runc's and Docker's defaults.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Scratch mounts under a read-only root when the policy names none: (path, bytes).
pub const DEFAULT_TMPFS: [(&str, u64); 2] = [("/tmp", 64 << 20), ("/run", 16 << 20)];

fn tmpfs(path: &str, bytes: u64) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(path.into());
    mount.set_typ(Some("tmpfs".to_owned()));
    mount.set_source(Some("tmpfs".into()));
    // Sticky and world-writable like /tmp, so an agent that dropped root can use it too.
    mount.set_options(Some(vec![
        "nosuid".to_owned(),
        "nodev".to_owned(),
        "mode=1777".to_owned(),
        format!("size={bytes}"),
    ]));
    mount
}

fn union(existing: &Option<Vec<String>>, extra: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut paths = existing.clone().unwrap_or_default();
    for path in extra {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// Makes a kernel filesystem mount read-only (`rw` becomes `ro`).
fn force_read_only(mount: &mut Mount) {
    let options = mount.options_mut().get_or_insert_with(Vec::new);
    options.retain(|option| option != "rw");
    if !options.iter().any(|option| option == "ro") {
        options.push("ro".to_owned());
    }
}

pub(super) fn apply(spec: &mut Spec, isolation: &Isolation) -> Result<(), String> {
    let read_only = isolation.filesystem.value == FilesystemIsolation::ReadOnly;
    if read_only {
        let root = spec.root_mut().as_mut().ok_or_else(|| {
            "the container's config.json has no root filesystem to make read-only".to_owned()
        })?;
        root.set_readonly(Some(true));
    }
    let scratch: Vec<(String, u64)> = match &isolation.tmpfs {
        Some(mounts) => mounts
            .iter()
            .map(|mount| (mount.path.value.clone(), mount.size.bytes()))
            .collect(),
        None if read_only => DEFAULT_TMPFS
            .iter()
            .map(|(path, bytes)| ((*path).to_owned(), *bytes))
            .collect(),
        None => Vec::new(),
    };
    let mounts = spec.mounts_mut().get_or_insert_with(Vec::new);
    for (path, bytes) in scratch {
        if !mounts
            .iter()
            .any(|mount| mount.destination() == Path::new(&path))
        {
            mounts.push(tmpfs(&path, bytes));
        }
    }
    for mount in mounts.iter_mut() {
        let kind = mount.typ().as_deref().unwrap_or_default();
        if matches!(kind, "sysfs" | "cgroup" | "cgroup2") {
            force_read_only(mount);
        }
    }
    let linux = spec.linux_mut().get_or_insert_with(super::empty_linux);
    let masked = union(
        linux.masked_paths(),
        DEFAULT_MASKED_PATHS
            .iter()
            .map(|path| (*path).to_owned())
            .chain(isolation.masked_paths.iter().map(|path| path.value.clone())),
    );
    linux.set_masked_paths(Some(masked));
    let read_only_paths = union(
        linux.readonly_paths(),
        DEFAULT_READONLY_PATHS
            .iter()
            .map(|path| (*path).to_owned())
            .chain(
                isolation
                    .read_only_paths
                    .iter()
                    .map(|path| path.value.clone()),
            ),
    );
    linux.set_readonly_paths(Some(read_only_paths));
    Ok(())
}
