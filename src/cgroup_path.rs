//! The cgroup a container gets when its config names none, derived the way runc derives it.
//!
//! libcontainer on its own would create a cgroup literally named `:youki:<id>`. runc instead uses:
//! - systemd driver: a scope `<prefix>-<id>.scope` in `system.slice` (here `system.slice:openshell:<id>`);
//! - cgroupfs on cgroup v2: `<parent of the runtime's own cgroup>/<id>` (the runtime's own cgroup
//!   usually holds processes, so controllers could not be enabled below it);
//! - cgroupfs on cgroup v1 (legacy or hybrid): `<the runtime's own cgroup>/<id>`. runc resolves that
//!   per controller; libcontainer takes one path for all controllers, so the `cpu` controller's
//!   placement is used.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcgroups::common::{CgroupSetup, get_cgroup_setup};
use oci_spec::runtime::{LinuxBuilder, Spec};

/// Fills in `linux.cgroupsPath` when the caller left it out.
pub fn ensure_cgroups_path(spec: &mut Spec, id: &str, systemd: bool) -> Result<()> {
    let has_path = spec
        .linux()
        .as_ref()
        .is_some_and(|linux| linux.cgroups_path().is_some());
    if has_path {
        return Ok(());
    }
    let path = if systemd {
        PathBuf::from(format!("system.slice:openshell:{id}"))
    } else {
        let setup = get_cgroup_setup().context("cannot detect the cgroup layout")?;
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .context("cannot read /proc/self/cgroup")?;
        cgroupfs_path(setup, &own, id)
    };
    let mut linux = match spec.linux() {
        Some(linux) => linux.clone(),
        None => LinuxBuilder::default().build()?,
    };
    linux.set_cgroups_path(Some(path));
    spec.set_linux(Some(linux));
    Ok(())
}

fn cgroupfs_path(setup: CgroupSetup, proc_self_cgroup: &str, id: &str) -> PathBuf {
    let own = match setup {
        CgroupSetup::Unified => own_cgroup(proc_self_cgroup, |controllers| controllers.is_empty())
            .map(|own| own.parent().unwrap_or(Path::new("/")).to_path_buf()),
        CgroupSetup::Legacy | CgroupSetup::Hybrid => own_cgroup(proc_self_cgroup, |controllers| {
            controllers.split(',').any(|c| c == "cpu")
        }),
    };
    own.unwrap_or_else(|| PathBuf::from("/")).join(id)
}

/// The path of the line in `/proc/self/cgroup` whose controller list matches.
fn own_cgroup(proc_self_cgroup: &str, matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        matches(controllers).then(|| PathBuf::from(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n4:memory:/agents/x\n2:cpu,cpuacct:/agents\n0::/\n";

    #[test]
    fn v1_uses_the_cpu_controller_placement() {
        assert_eq!(
            cgroupfs_path(CgroupSetup::Hybrid, HYBRID, "c1"),
            PathBuf::from("/agents/c1")
        );
    }

    #[test]
    fn v2_uses_the_parent_of_the_own_cgroup() {
        let own = "0::/user.slice/session-3.scope\n";
        assert_eq!(
            cgroupfs_path(CgroupSetup::Unified, own, "c1"),
            PathBuf::from("/user.slice/c1")
        );
        assert_eq!(
            cgroupfs_path(CgroupSetup::Unified, "0::/\n", "c1"),
            PathBuf::from("/c1")
        );
    }

    #[test]
    fn explicit_path_is_kept_and_missing_one_is_filled() {
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap();
        linux.set_cgroups_path(Some(PathBuf::from("/mine")));
        spec.set_linux(Some(linux));
        ensure_cgroups_path(&mut spec, "c1", false).unwrap();
        assert_eq!(
            spec.linux().as_ref().unwrap().cgroups_path().as_deref(),
            Some(Path::new("/mine"))
        );

        let mut spec = Spec::default();
        ensure_cgroups_path(&mut spec, "c1", true).unwrap();
        assert_eq!(
            spec.linux().as_ref().unwrap().cgroups_path().as_deref(),
            Some(Path::new("system.slice:openshell:c1"))
        );
    }
}
