//! The cgroup a container gets when its config names none, derived the way runc derives it.
//!
//! libcontainer on its own would create a cgroup literally named `:youki:<id>`. runc instead uses:
//! - systemd driver: a scope `<prefix>-<id>.scope` in `system.slice` (here `system.slice:openshell:<id>`);
//! - cgroupfs on cgroup v2: `<parent of the runtime's own cgroup>/<id>` (the runtime's own cgroup
//!   usually holds processes, so controllers could not be enabled below it);
//! - cgroupfs on cgroup v1 (legacy or hybrid): `<the runtime's own cgroup>/<id>`. runc resolves that
//!   per controller; libcontainer takes one path for all controllers, so the `cpu` controller's
//!   placement is used.
//!
//! libcontainer drives systemd only on cgroup v2. On a v1 or hybrid host a systemd-style path
//! (`slice:prefix:name`, from `--systemd-cgroup` or written by a systemd-configured caller) is
//! translated to the cgroupfs directory systemd itself would have used,
//! `/<expanded slice>/<prefix>-<name>.scope`, instead of becoming a directory literally named
//! `slice:prefix:name`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcgroups::common::{CgroupSetup, get_cgroup_setup};
use oci_spec::runtime::{LinuxBuilder, Spec};

/// Fills in `linux.cgroupsPath` when the caller left it out, and makes a systemd-style path
/// usable on hosts where libcontainer cannot drive systemd.
pub fn ensure_cgroups_path(spec: &mut Spec, id: &str, systemd: bool) -> Result<()> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.cgroups_path().clone());
    let setup = get_cgroup_setup().context("cannot detect the cgroup layout")?;
    let v1 = matches!(setup, CgroupSetup::Legacy | CgroupSetup::Hybrid);
    let path = match given {
        Some(path) => match systemd_unit_path(&path) {
            Some(translated) if v1 => {
                tracing::warn!(
                    "cgroup v1 host: systemd cgroup path {} placed at {} through cgroupfs",
                    path.display(),
                    translated.display()
                );
                translated
            }
            _ => return Ok(()),
        },
        None if systemd && v1 => PathBuf::from(format!("/system.slice/openshell-{id}.scope")),
        None if systemd => PathBuf::from(format!("system.slice:openshell:{id}")),
        None => {
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .context("cannot read /proc/self/cgroup")?;
            cgroupfs_path(setup, &own, id)
        }
    };
    let mut linux = match spec.linux() {
        Some(linux) => linux.clone(),
        None => LinuxBuilder::default().build()?,
    };
    linux.set_cgroups_path(Some(path));
    spec.set_linux(Some(linux));
    Ok(())
}

/// `slice:prefix:name` → `/<expanded slice>/<prefix>-<name>.scope`; `None` for other paths.
fn systemd_unit_path(path: &Path) -> Option<PathBuf> {
    let text = path.to_str()?;
    let mut parts = text.split(':');
    let (slice, prefix, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || text.starts_with('/') {
        return None;
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut dir = PathBuf::from("/");
    // systemd nests "a-b-c.slice" as a.slice/a-b.slice/a-b-c.slice.
    let stem = slice.strip_suffix(".slice")?;
    let mut prefix_so_far = String::new();
    for part in stem.split('-') {
        if !prefix_so_far.is_empty() {
            prefix_so_far.push('-');
        }
        prefix_so_far.push_str(part);
        dir.push(format!("{prefix_so_far}.slice"));
    }
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Some(dir.join(unit))
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
    fn systemd_paths_expand_like_systemd() {
        assert_eq!(
            systemd_unit_path(Path::new("system.slice:docker:abc")),
            Some(PathBuf::from("/system.slice/docker-abc.scope"))
        );
        assert_eq!(
            systemd_unit_path(Path::new("machine-agents.slice:openshell:c1")),
            Some(PathBuf::from(
                "/machine.slice/machine-agents.slice/openshell-c1.scope"
            ))
        );
        assert_eq!(
            systemd_unit_path(Path::new(":runc:c1")),
            Some(PathBuf::from("/system.slice/runc-c1.scope"))
        );
        assert_eq!(systemd_unit_path(Path::new("/plain/path")), None);
        assert_eq!(systemd_unit_path(Path::new("not-a-slice:x:y")), None);
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
        let expected = match get_cgroup_setup().unwrap() {
            CgroupSetup::Unified => "system.slice:openshell:c1",
            CgroupSetup::Legacy | CgroupSetup::Hybrid => "/system.slice/openshell-c1.scope",
        };
        assert_eq!(
            spec.linux().as_ref().unwrap().cgroups_path().as_deref(),
            Some(Path::new(expected))
        );
    }
}
