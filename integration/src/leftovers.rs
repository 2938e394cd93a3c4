//! Checks that a container left nothing behind: state, staged bundle, cgroups, mounts.

use std::fs;
use std::path::{Path, PathBuf};

/// Every directory named `id` below the cgroup hierarchies (v1 controllers and the v2 mount).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for hierarchy in hierarchies.flatten() {
        find_named(&hierarchy.path(), id, 6, &mut found);
    }
    found
}

fn find_named(dir: &Path, name: &str, depth: usize, found: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path);
        } else {
            find_named(&path, name, depth - 1, found);
        }
    }
}

/// Mount points in this mount namespace at or below `path`.
pub fn mounts_under(path: &Path) -> Vec<String> {
    let prefix = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_owned))
        .filter(|mount_point| mount_point.starts_with(&prefix))
        .collect()
}

/// Asserts that container `id` left no state, staged bundle, cgroup or mount under `bundle`.
pub fn assert_clean(root: &Path, id: &str, bundle: &Path) {
    assert!(!root.join(id).exists(), "state dir of {id} left behind");
    assert!(
        !root.join(".openshell").join(id).exists(),
        "staged bundle of {id} left behind"
    );
    let cgroups = cgroup_dirs(id);
    assert!(
        cgroups.is_empty(),
        "cgroups of {id} left behind: {cgroups:?}"
    );
    let mounts = mounts_under(bundle);
    assert!(
        mounts.is_empty(),
        "mounts under {} left behind: {mounts:?}",
        bundle.display()
    );
}
