//! GPU access for openshell: the node's NVIDIA inventory, which GPUs a container gets, and the
//! OCI edits (device nodes, device-cgroup rules, mounts, environment, masked paths, forbidden
//! capabilities) that implement a policy's `gpuAccess: none | inference-only | full`. The
//! policy compiler merges [`GpuEdits`] into the container's spec; `openshell gpu cdi` prints
//! the same definition as a CDI spec ([`cdi_spec`]); `openshell gpu list` renders
//! [`Inventory`] ([`inventory_text`], [`inventory_json`]).
//!
//! # Modules
//! - [`inventory`]: owned inventory types, the [`GpuInventory`] trait, the fake backend and
//!   the backend choice ([`InventorySource`]); [`nvml`]: the real backend on `nvml-wrapper`.
//! - [`selection`]: the device list grammar and its precedence (annotation over environment,
//!   environment never beyond the node's ceiling).
//! - [`edits`]: [`compile`] and [`GpuEdits`]; [`cdi`]: the CDI document.
//! - [`driver_files`]: which driver files each level exposes; [`host`]: host roots and
//!   confined path resolution; device nodes and `/proc` parsing are internal.
//! - `testing` (feature `testing`): `testing::FakeDriverRoot` and a sample inventory.
//!
//! # Access levels: the exact definition
//!
//! Numbers: NVIDIA's fixed major is 195; `nvidia-uvm` and `nvidia-caps` majors are read from
//! the host's `/proc/devices`; "NVIDIA majors" means 195 plus every `/proc/devices` character
//! entry whose name starts with `nvidia`; DRI is major 226. Every node listed must exist on the
//! host as a character device with exactly these numbers or the request fails.
//!
//! ## `none`
//! - Never initializes NVML and needs no driver (only `/proc/devices` and `/proc/driver` are
//!   read, both possibly without NVIDIA entries).
//! - Devices: none.
//! - Device cgroup: `deny c <major>:* rwm` for each NVIDIA major and for 226.
//! - Mounts: none.
//! - Env: `NVIDIA_VISIBLE_DEVICES=void`.
//! - Masked: every `/proc/driver/nvidia*` entry of the host (`nvidia`, `nvidia-caps`, …).
//! - Capabilities: no constraint from this crate.
//!
//! ## `inference-only`
//! - Reads the inventory first: no driver → "no NVIDIA driver: libnvidia-ml.so.1 not found".
//! - Devices, exactly:
//!   - `/dev/nvidiactl` (195:255) and `/dev/nvidia-uvm` (uvm:0);
//!   - per selected GPU, `/dev/nvidia<minor>` (195:minor, NVML's minor number);
//!   - per selected MIG device, its GPU's `/dev/nvidia<minor>` and the two capability nodes
//!     `/dev/nvidia-caps/nvidia-cap<m>` for `gpu<minor>/gi<G>/access` and
//!     `gpu<minor>/gi<G>/ci<C>/access` (minors from `/proc/driver/nvidia-caps/mig-minors`);
//!     a whole GPU in MIG mode brings the capability nodes of all its MIG devices;
//!   - never `/dev/nvidia-uvm-tools`, `/dev/nvidia-modeset`, the MIG `config`/`monitor`
//!     capabilities, another GPU's node, or `/dev/dri/*`.
//! - Device cgroup: the `none` denies, then `allow c <major>:<minor> rw` for each device above
//!   (no `m`: the container never creates nodes).
//! - Mounts: [`driver_files::INFERENCE_FILES`] (libcuda, libnvidia-ml required;
//!   ptxjitcompiler, nvvm, gpucomp, allocator, pkcs11, cfg, nscq and `nvidia-smi` when the
//!   driver has them), found on the host in the driver root only, read-only with
//!   `ro,nosuid,nodev,bind`, plus each symlink to them in the same directory.
//! - Env: `NVIDIA_VISIBLE_DEVICES=<selected UUIDs>`, `NVIDIA_DRIVER_CAPABILITIES=compute,utility`
//!   (replacing any value the image set).
//! - Masked: `/proc/driver/nvidia/gpus/<bus>` of every GPU that is not selected. (Replacing
//!   `/proc/driver/nvidia/params` as the toolkit does would need a mount under `/proc`, which
//!   the runtime refuses; `ModifyDeviceFiles` stays visible but node creation still fails:
//!   no `CAP_MKNOD`, no nvidia-modprobe in the container, and the device cgroup.)
//! - Capabilities that must be absent from every set: `CAP_SYS_ADMIN` (clocks, power, compute
//!   mode, MIG layout), `CAP_PERFMON` (profiling counters), `CAP_SYS_NICE`, `CAP_MKNOD`,
//!   `CAP_SYS_RAWIO` (raw PCI access); `noNewPrivileges` must be true.
//!
//! ## `full`
//! What the NVIDIA Container Toolkit grants for `NVIDIA_DRIVER_CAPABILITIES=all` on the selected
//! devices: the `inference-only` nodes plus `/dev/nvidia-uvm-tools`, `/dev/nvidia-modeset` and
//! each selected GPU's `/dev/dri/card*` and `renderD*` (each when present on the host), allowed
//! `rwm`; every driver library of compute, utility, video, graphics and NGX plus the debugging,
//! persistence and MPS binaries; `NVIDIA_DRIVER_CAPABILITIES=all`; the same masking; no
//! capability constraint. Like the toolkit, the MIG `config`/`monitor` capabilities are not
//! part of it.
//!
//! A request that selects no GPU yields the `none` edits whatever its level.
//!
//! # Memory caps
//! `CUDA_MPS_PINNED_DEVICE_MEM_LIMIT` and `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE` limit a CUDA
//! client only while it runs under an MPS server, and only because the client library honours
//! them (cooperative: a process that unsets them is not limited). They apply to
//! `inference-only` containers whose node runs an MPS control daemon and shares its pipe
//! directory and IPC namespace with the container, which this crate does not set up; a
//! kernel-enforced limit needs the cgroup v2 `dmem` controller of very recent drivers, which
//! NVML (and `nvml-wrapper` 0.13) does not expose. No edits set them today.

pub mod access;
pub mod cdi;
mod device_nodes;
pub mod driver_files;
pub mod edits;
pub mod host;
pub mod inventory;
pub mod nvml;
mod procfs;
pub mod render;
pub mod selection;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use access::AccessLevel;
pub use cdi::{CdiSpec, cdi_kind, cdi_spec};
pub use edits::{GpuEdits, GpuError, GpuRequest, compile, edits_for_selection};
pub use host::{HostError, HostRoots};
pub use inventory::{DiscoveryError, FakeInventory, GpuInventory, Inventory, InventorySource};
pub use nvml::NvmlInventory;
pub use render::{inventory_json, inventory_text};
pub use selection::{
    DeviceRequest, GPUS_ANNOTATION, Selection, SelectionError, SelectionInput, select,
};
