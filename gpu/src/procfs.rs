//! What the host kernel says about the NVIDIA driver: `/proc/devices` (character majors),
//! `/proc/driver/nvidia-caps/mig-minors` (MIG capability minors) and the
//! `/proc/driver/nvidia*` entries containers may see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::host::{HostError, list_dir, read_optional};

/// Fixed major of `/dev/nvidiactl`, `/dev/nvidia<minor>` and `/dev/nvidia-modeset`.
pub const NVIDIA_MAJOR: u32 = 195;
/// Minor of `/dev/nvidiactl`.
pub const NVIDIACTL_MINOR: u32 = 255;
/// Minor of `/dev/nvidia-modeset`.
pub const MODESET_MINOR: u32 = 254;
/// Minor of `/dev/nvidia-uvm` on the dynamic `nvidia-uvm` major.
pub const UVM_MINOR: u32 = 0;
/// Minor of `/dev/nvidia-uvm-tools` (profiling and tools interface).
pub const UVM_TOOLS_MINOR: u32 = 1;
/// Major of DRM nodes (`/dev/dri/card*`, `/dev/dri/renderD*`).
pub const DRI_MAJOR: u32 = 226;
/// `/proc/devices` name of the unified-memory driver.
pub const UVM_DEVICE: &str = "nvidia-uvm";
/// `/proc/devices` name of the MIG capability devices.
pub const CAPS_DEVICE: &str = "nvidia-caps";

/// The character-device section of `/proc/devices`.
#[derive(Debug, Clone)]
pub(crate) struct CharDevices {
    path: PathBuf,
    entries: Vec<(u32, String)>,
}

impl CharDevices {
    /// Reads `<proc_root>/devices`.
    pub(crate) fn read(proc_root: &Path) -> Result<Self, HostError> {
        let path = proc_root.join("devices");
        let text = std::fs::read_to_string(&path).map_err(|source| HostError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub(crate) fn parse(text: &str, path: PathBuf) -> Result<Self, HostError> {
        let mut entries = Vec::new();
        let mut in_char_section = false;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            match line {
                "Character devices:" => in_char_section = true,
                "Block devices:" => in_char_section = false,
                "" => {}
                _ if in_char_section => {
                    let parsed = line
                        .split_once(char::is_whitespace)
                        .and_then(|(major, name)| {
                            Some((major.parse::<u32>().ok()?, name.trim().to_owned()))
                        });
                    let Some(entry) = parsed else {
                        return Err(HostError::Parse {
                            path,
                            line: number + 1,
                            reason: format!("expected \"<major> <name>\", found {line:?}"),
                        });
                    };
                    entries.push(entry);
                }
                _ => {}
            }
        }
        Ok(Self { path, entries })
    }

    /// Major registered under `name`, if any.
    pub(crate) fn major(&self, name: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|(_, entry)| entry == name)
            .map(|(major, _)| *major)
    }

    /// Major registered under `name`, or the error saying its module is not loaded.
    pub(crate) fn require(&self, name: &'static str) -> Result<u32, HostError> {
        self.major(name).ok_or_else(|| HostError::ModuleNotLoaded {
            module: name,
            path: self.path.clone(),
        })
    }

    /// Every NVIDIA character major: 195 and each `nvidia*` entry (uvm, caps, nvlink,
    /// nvswitch, imex channels…), sorted.
    pub(crate) fn nvidia_majors(&self) -> Vec<u32> {
        let mut majors: Vec<u32> = self
            .entries
            .iter()
            .filter(|(_, name)| name.starts_with("nvidia"))
            .map(|(major, _)| *major)
            .chain([NVIDIA_MAJOR])
            .collect();
        majors.sort_unstable();
        majors.dedup();
        majors
    }
}

/// `/proc/driver/nvidia-caps/mig-minors`: `gpu<minor>/gi<id>/access <minor>` and
/// `gpu<minor>/gi<id>/ci<id>/access <minor>` lines (plus `config` and `monitor`).
#[derive(Debug, Clone)]
pub(crate) struct MigMinors {
    path: PathBuf,
    minors: HashMap<String, u32>,
}

impl MigMinors {
    /// Reads the table; a missing file is an empty table (the driver creates it when MIG is in
    /// use).
    pub(crate) fn read(proc_root: &Path) -> Result<Self, HostError> {
        let path = proc_root.join("driver/nvidia-caps/mig-minors");
        let text = read_optional(&path)?.unwrap_or_default();
        Self::parse(&text, path)
    }

    pub(crate) fn parse(text: &str, path: PathBuf) -> Result<Self, HostError> {
        let mut minors = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let parsed = line
                .split_once(char::is_whitespace)
                .and_then(|(name, minor)| {
                    Some((name.to_owned(), minor.trim().parse::<u32>().ok()?))
                });
            let Some((name, minor)) = parsed else {
                return Err(HostError::Parse {
                    path,
                    line: number + 1,
                    reason: format!("expected \"<capability> <minor>\", found {line:?}"),
                });
            };
            minors.insert(name, minor);
        }
        Ok(Self { path, minors })
    }

    /// Minor of the capability `name`.
    pub(crate) fn minor(&self, name: &str) -> Result<u32, HostError> {
        self.minors
            .get(name)
            .copied()
            .ok_or_else(|| HostError::MissingMigCapability {
                name: name.to_owned(),
                path: self.path.clone(),
            })
    }
}

/// Capability name guarding a GPU instance.
pub(crate) fn gpu_instance_cap(gpu_minor: u32, gpu_instance: u32) -> String {
    format!("gpu{gpu_minor}/gi{gpu_instance}/access")
}

/// Capability name guarding a compute instance.
pub(crate) fn compute_instance_cap(
    gpu_minor: u32,
    gpu_instance: u32,
    compute_instance: u32,
) -> String {
    format!("gpu{gpu_minor}/gi{gpu_instance}/ci{compute_instance}/access")
}

/// Bus ids under `<proc_root>/driver/nvidia/gpus/` (one directory per GPU the driver bound).
pub(crate) fn driver_gpu_dirs(proc_root: &Path) -> Result<Vec<String>, HostError> {
    list_dir(&proc_root.join("driver/nvidia/gpus"))
}

/// Entries of `<proc_root>/driver/` that belong to the NVIDIA driver (`nvidia`, `nvidia-caps`,
/// `nvidia-uvm`, `nvidia-nvswitch`, …).
pub(crate) fn driver_proc_entries(proc_root: &Path) -> Result<Vec<String>, HostError> {
    Ok(list_dir(&proc_root.join("driver"))?
        .into_iter()
        .filter(|name| name.starts_with("nvidia"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_devices_reads_only_the_character_section() {
        let text = "Character devices:\n  1 mem\n195 nvidia-frontend\n237 nvidia-caps\n238 nvidia-uvm\n240 nvidia-nvlink\n\nBlock devices:\n239 nvidia-looking-block\n";
        let devices = CharDevices::parse(text, "devices".into()).unwrap();
        assert_eq!(devices.major("nvidia-uvm"), Some(238));
        assert_eq!(devices.major("nvidia-looking-block"), None);
        assert_eq!(devices.nvidia_majors(), vec![195, 237, 238, 240]);
        let error = devices
            .require("nvidia-modeset-missing")
            .unwrap_err()
            .to_string();
        assert!(error.contains("nvidia-modeset-missing"), "{error}");
    }

    #[test]
    fn char_devices_rejects_garbage_with_line_number() {
        let error = CharDevices::parse(
            "Character devices:\n  1 mem\nxyz nvidia\n",
            "/proc/devices".into(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "/proc/devices: line 3: expected \"<major> <name>\", found \"xyz nvidia\""
        );
    }

    #[test]
    fn nvidia_majors_always_include_195() {
        let devices =
            CharDevices::parse("Character devices:\n  1 mem\n", "devices".into()).unwrap();
        assert_eq!(devices.nvidia_majors(), vec![NVIDIA_MAJOR]);
    }

    #[test]
    fn mig_minors_lookup_by_capability_name() {
        let text = "config 1\nmonitor 2\ngpu0/gi1/access 12\ngpu0/gi1/ci0/access 13\n";
        let minors = MigMinors::parse(text, "mig-minors".into()).unwrap();
        assert_eq!(minors.minor(&gpu_instance_cap(0, 1)).unwrap(), 12);
        assert_eq!(minors.minor(&compute_instance_cap(0, 1, 0)).unwrap(), 13);
        let error = minors
            .minor(&gpu_instance_cap(1, 1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "MIG capability gpu1/gi1/access has no entry in mig-minors"
        );
        assert!(MigMinors::parse("gpu0/gi1/access twelve\n", "m".into()).is_err());
    }
}
