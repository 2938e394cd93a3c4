//! User-space driver files exposed per access level, and where they are found in the driver
//! root.
//!
//! Libraries are found by their versioned name, `<name>.<driver version>` (for example
//! `libcuda.so.550.54.15`), so a stale library of another driver version is never mounted
//! (a libcuda/kernel-module version mismatch fails every CUDA call). The first search
//! directory holding the name wins. The file is mounted read-only at
//! `<the directory's canonical path inside the driver root>/<name>`, together with every
//! symlink in that directory that resolves to it (`libcuda.so.1`, `libcuda.so`), as separate
//! read-only bind mounts of the same file: the container needs no symlink created and no
//! `ldconfig` run inside it (the toolkit's hooks that had CVE-2025-23266 and CVE-2025-23267).
//! The source is the fully resolved file; the destination never follows a symlink, so a
//! driver root whose `libfoo.so.<version>` points at, say, its `/etc/passwd` still mounts at
//! the library path, not over the container's `/etc/passwd`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::sys::stat::SFlag;
use oci_spec::runtime::Mount;

use crate::access::AccessLevel;
use crate::host::{HostError, InRoot, Resolved};

/// Kind of driver file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverFileKind {
    /// A shared library named `<name>.<driver version>` in a library directory.
    Library,
    /// An executable in a binary directory.
    Executable,
}

/// One user-space driver file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverFile {
    /// Library name without version (`libcuda.so`, `vdpau/libvdpau_nvidia.so`) or executable
    /// name.
    pub name: &'static str,
    /// Library or executable.
    pub kind: DriverFileKind,
    /// Whether a driver without it is refused (otherwise it is skipped when absent: several
    /// files only exist on some driver branches or systems).
    pub required: bool,
}

const fn lib(name: &'static str) -> DriverFile {
    DriverFile {
        name,
        kind: DriverFileKind::Library,
        required: false,
    }
}

const fn required_lib(name: &'static str) -> DriverFile {
    DriverFile {
        name,
        kind: DriverFileKind::Library,
        required: true,
    }
}

const fn bin(name: &'static str) -> DriverFile {
    DriverFile {
        name,
        kind: DriverFileKind::Executable,
        required: false,
    }
}

/// `inference-only`: the toolkit's `compute` and `utility` files minus debugging, profiling,
/// non-CUDA APIs and host daemons. A library grants nothing the device nodes and capabilities
/// do not already allow; this list is about giving CUDA what it loads and nothing more.
pub const INFERENCE_FILES: &[DriverFile] = &[
    // CUDA driver API: every CUDA program, runtime and framework loads it.
    required_lib("libcuda.so"),
    // NVML: nvidia-smi, and frameworks' device/memory queries (PyTorch, DCGM clients).
    required_lib("libnvidia-ml.so"),
    // PTX JIT compiler: kernels shipped as PTX for a newer architecture are compiled by it.
    lib("libnvidia-ptxjitcompiler.so"),
    // libNVVM JIT for JIT-LTO and runtime-compiled kernels (CUDA 12+).
    lib("libnvidia-nvvm.so"),
    // Compiler backend the two JITs above share since the R535 driver branch.
    lib("libnvidia-gpucomp.so"),
    // Driver allocator the toolkit lists under compute (shareable/exportable allocations).
    lib("libnvidia-allocator.so"),
    // Confidential-computing crypto: CUDA needs it when the GPU runs in CC mode (H100+).
    lib("libnvidia-pkcs11.so"),
    lib("libnvidia-pkcs11-openssl3.so"),
    // Utility: GPU configuration queries (toolkit `utility`).
    lib("libnvidia-cfg.so"),
    // NVSwitch queries used by nvidia-smi on NVSwitch systems (DGX/HGX); absent elsewhere.
    lib("libnvidia-nscq.so"),
    // Query tool. Its state-changing commands need CAP_SYS_ADMIN, which inference-only
    // forbids, so in the container it can only read.
    bin("nvidia-smi"),
    // Left out on purpose: libcudadebugger (cuda-gdb's GPU debugger backend), libnvidia-opencl
    // (OpenCL ICD, not CUDA), nvidia-debugdump (diagnostic state dumps), nvidia-persistenced
    // and the MPS control/server binaries (host daemons), and every graphics, video, display
    // and NGX library.
];

/// Added for `full`: the rest of what the toolkit mounts for `NVIDIA_DRIVER_CAPABILITIES=all`.
pub const FULL_EXTRA_FILES: &[DriverFile] = &[
    // compute
    lib("libcudadebugger.so"),
    lib("libnvidia-opencl.so"),
    // video
    lib("libnvcuvid.so"),
    lib("libnvidia-encode.so"),
    lib("libnvidia-opticalflow.so"),
    lib("vdpau/libvdpau_nvidia.so"),
    // graphics
    lib("libGLX_nvidia.so"),
    lib("libEGL_nvidia.so"),
    lib("libGLESv2_nvidia.so"),
    lib("libGLESv1_CM_nvidia.so"),
    lib("libnvidia-glcore.so"),
    lib("libnvidia-eglcore.so"),
    lib("libnvidia-glsi.so"),
    lib("libnvidia-tls.so"),
    lib("libnvidia-glvkspirv.so"),
    lib("libnvidia-rtcore.so"),
    lib("libnvoptix.so"),
    lib("libnvidia-cbl.so"),
    lib("libnvidia-fbc.so"),
    lib("libnvidia-vulkan-producer.so"),
    // ngx
    lib("libnvidia-ngx.so"),
    // utility and compute binaries
    bin("nvidia-debugdump"),
    bin("nvidia-persistenced"),
    bin("nvidia-cuda-mps-control"),
    bin("nvidia-cuda-mps-server"),
];

/// The files an access level exposes (none for `none`).
pub fn driver_files(access: AccessLevel) -> Vec<DriverFile> {
    match access {
        AccessLevel::None => Vec::new(),
        AccessLevel::InferenceOnly => INFERENCE_FILES.to_vec(),
        AccessLevel::Full => INFERENCE_FILES
            .iter()
            .chain(FULL_EXTRA_FILES)
            .copied()
            .collect(),
    }
}

/// Library directories searched inside the driver root, in order, for this machine's
/// architecture (Debian multiarch first, then the Red Hat and plain layouts).
pub fn library_dirs() -> Vec<PathBuf> {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    vec![
        Path::new("usr/lib").join(&multiarch),
        "usr/lib64".into(),
        "usr/lib".into(),
        Path::new("lib").join(&multiarch),
        "lib64".into(),
        "lib".into(),
    ]
}

/// Binary directories searched inside the driver root, in order.
pub fn binary_dirs() -> Vec<PathBuf> {
    ["usr/bin", "usr/sbin", "bin", "sbin", "usr/local/bin"]
        .into_iter()
        .map(PathBuf::from)
        .collect()
}

/// Options of every driver-file mount.
pub const DRIVER_MOUNT_OPTIONS: [&str; 4] = ["ro", "nosuid", "nodev", "bind"];

/// A host file bind-mounted read-only into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriverMount {
    /// Host path (inside the driver root, symlinks resolved).
    pub source: PathBuf,
    /// Container path.
    pub destination: PathBuf,
}

impl DriverMount {
    pub(crate) fn to_oci(&self) -> Mount {
        let mut mount = Mount::default();
        mount
            .set_destination(self.destination.clone())
            .set_typ(Some("bind".into()))
            .set_source(Some(self.source.clone()))
            .set_options(Some(
                DRIVER_MOUNT_OPTIONS
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ));
        mount
    }
}

/// Finds the files of `access` in the driver root and returns their mounts, in table order,
/// each file followed by its symlinks.
pub(crate) fn locate(
    access: AccessLevel,
    driver: &InRoot,
    driver_version: &str,
) -> Result<Vec<DriverMount>, HostError> {
    let mut locator = Locator {
        driver,
        library_dirs: SearchDirs::resolve(driver, library_dirs())?,
        binary_dirs: SearchDirs::resolve(driver, binary_dirs())?,
        listings: HashMap::new(),
    };
    let mut mounts: Vec<DriverMount> = Vec::new();
    for file in driver_files(access) {
        let (dirs, name) = match file.kind {
            DriverFileKind::Library => (
                &locator.library_dirs,
                format!("{}.{driver_version}", file.name),
            ),
            DriverFileKind::Executable => (&locator.binary_dirs, file.name.to_owned()),
        };
        let Some((dir, found)) = dirs.find_regular_file(driver, &name)? else {
            if file.required {
                return Err(HostError::MissingDriverFile {
                    name,
                    driver_version: driver_version.to_owned(),
                    root: driver.path().to_path_buf(),
                    searched: dirs.searched(),
                });
            }
            continue;
        };
        let mut file_mounts = vec![DriverMount {
            source: found.host.clone(),
            destination: dir.join(&name),
        }];
        if file.kind == DriverFileKind::Library {
            file_mounts.extend(locator.symlinks_to(&dir.join(&name), &found, file.name)?);
        }
        for mount in file_mounts {
            if !mounts
                .iter()
                .any(|existing| existing.destination == mount.destination)
            {
                mounts.push(mount);
            }
        }
    }
    Ok(mounts)
}

/// Search directories as configured and as resolved inside the driver root (canonical,
/// existing, without duplicates such as `/lib/x` and `/usr/lib/x` on a usr-merged root).
struct SearchDirs {
    configured: Vec<PathBuf>,
    canonical: Vec<PathBuf>,
}

impl SearchDirs {
    fn resolve(driver: &InRoot, configured: Vec<PathBuf>) -> Result<Self, HostError> {
        let mut canonical: Vec<PathBuf> = Vec::new();
        for dir in &configured {
            if let Some(resolved) = driver.resolve(dir, true)?
                && resolved.file_type() == SFlag::S_IFDIR
                && !canonical.contains(&resolved.in_root)
            {
                canonical.push(resolved.in_root);
            }
        }
        Ok(Self {
            configured,
            canonical,
        })
    }

    /// The first directory holding `name` as (or as a symlink to) a regular file: the
    /// directory's canonical path inside the root, and the resolved file.
    fn find_regular_file(
        &self,
        driver: &InRoot,
        name: &str,
    ) -> Result<Option<(PathBuf, Resolved)>, HostError> {
        for dir in &self.canonical {
            if let Some(resolved) = driver.resolve(&dir.join(name), true)?
                && resolved.file_type() == SFlag::S_IFREG
            {
                return Ok(Some((dir.clone(), resolved)));
            }
        }
        Ok(None)
    }

    fn searched(&self) -> String {
        let dirs: Vec<String> = self
            .configured
            .iter()
            .map(|d| format!("/{}", d.display()))
            .collect();
        dirs.join(", ")
    }
}

struct Locator<'a> {
    driver: &'a InRoot,
    library_dirs: SearchDirs,
    binary_dirs: SearchDirs,
    /// Directory listings, read once (a real library directory has thousands of entries).
    listings: HashMap<PathBuf, Vec<String>>,
}

impl Locator<'_> {
    /// Symlinks next to `found_path` named `<base name>…` (for `libcuda.so`: `libcuda.so.1`,
    /// `libcuda.so`) that resolve inside the driver root to the same file.
    fn symlinks_to(
        &mut self,
        found_path: &Path,
        target: &Resolved,
        name: &str,
    ) -> Result<Vec<DriverMount>, HostError> {
        let (Some(dir), Some(found_name)) = (found_path.parent(), found_path.file_name()) else {
            return Ok(Vec::new());
        };
        let base = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name);
        if !self.listings.contains_key(dir) {
            self.listings
                .insert(dir.to_path_buf(), self.driver.list(dir)?);
        }
        let mut links = Vec::new();
        for entry in self.listings.get(dir).into_iter().flatten() {
            if !entry.starts_with(base) || entry.as_str() == found_name {
                continue;
            }
            // Another name that leads to the same inode can only be a symlink to it (a hard
            // link would be a second regular file, not mounted).
            let path = dir.join(entry);
            if let Some(stat) = self.driver.stat(&path)?
                && (stat.st_dev, stat.st_ino) == (target.stat.st_dev, target.stat.st_ino)
                && self
                    .driver
                    .resolve(&path, false)?
                    .is_some_and(|link| link.file_type() == SFlag::S_IFLNK)
            {
                links.push(DriverMount {
                    source: target.host.clone(),
                    destination: path,
                });
            }
        }
        Ok(links)
    }
}
