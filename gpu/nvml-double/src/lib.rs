//! A test double of `libnvidia-ml.so.1`, the NVIDIA Management Library.
//!
//! This crate builds a shared object that exports the NVML C symbols `openshell-gpu`'s real
//! backend calls through `nvml-wrapper`, so that backend can be exercised end to end (dlopen,
//! symbol lookup, init, queries, shutdown) on machines without an NVIDIA driver.
//!
//! The machine it describes is read at `nvmlInit_v2` from a JSON file next to the loaded
//! object: `<path of this .so>.json`. A test copies the built object to a temporary directory
//! under any name, writes the JSON beside it, and points `Nvml::builder().lib_path(..)` at the
//! copy; each copy is a separate dlopen instance with its own machine, so tests run in
//! parallel without sharing state. The struct layouts and return codes come from
//! `nvml-wrapper-sys`, the bindings the real backend uses, so both sides agree on the ABI.
//!
//! Behaviour kept faithful to NVML where the backend depends on it: calls before
//! `nvmlInit_v2` return `NVML_ERROR_UNINITIALIZED`, init and shutdown are reference counted,
//! string buffers that are too small return `NVML_ERROR_INSUFFICIENT_SIZE`, unknown handles
//! return `NVML_ERROR_INVALID_ARGUMENT`, MIG queries on a GPU without MIG return
//! `NVML_ERROR_NOT_SUPPORTED`, and empty MIG slots return `NVML_ERROR_NOT_FOUND`.
#![allow(non_snake_case)]

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use nvml_wrapper_sys::bindings::{
    nvmlComputeMode_t, nvmlDevice_t, nvmlMemory_v2_t, nvmlPciInfo_t,
    nvmlReturn_enum_NVML_ERROR_INSUFFICIENT_SIZE as INSUFFICIENT_SIZE,
    nvmlReturn_enum_NVML_ERROR_INVALID_ARGUMENT as INVALID_ARGUMENT,
    nvmlReturn_enum_NVML_ERROR_NOT_FOUND as NOT_FOUND,
    nvmlReturn_enum_NVML_ERROR_NOT_SUPPORTED as NOT_SUPPORTED,
    nvmlReturn_enum_NVML_ERROR_UNINITIALIZED as UNINITIALIZED,
    nvmlReturn_enum_NVML_ERROR_UNKNOWN as UNKNOWN, nvmlReturn_enum_NVML_SUCCESS as SUCCESS,
    nvmlReturn_t,
};
use serde::Deserialize;

/// The fake machine, as written in the JSON file beside the shared object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Machine {
    /// What `nvmlInit_v2` returns; anything but 0 makes init fail with that NVML code
    /// (9 is `NVML_ERROR_DRIVER_NOT_LOADED`).
    #[serde(default)]
    init_result: nvmlReturn_t,
    driver_version: String,
    /// CUDA driver version as NVML encodes it: `1000 * major + 10 * minor`.
    cuda_driver_version: c_int,
    devices: Vec<Gpu>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Gpu {
    uuid: String,
    name: String,
    minor_number: c_uint,
    /// NVML's bus id, e.g. `00000000:1B:00.0`.
    bus_id: String,
    domain: c_uint,
    bus: c_uint,
    device: c_uint,
    pci_device_id: c_uint,
    memory_total: u64,
    /// `nvmlComputeMode_t` value.
    compute_mode: nvmlComputeMode_t,
    /// Absent: the GPU does not support MIG.
    #[serde(default)]
    mig: Option<Mig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Mig {
    current_mode: c_uint,
    pending_mode: c_uint,
    max_devices: c_uint,
    devices: Vec<MigDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MigDevice {
    /// Slot index passed to `nvmlDeviceGetMigDeviceHandleByIndex`.
    slot: c_uint,
    uuid: String,
    name: String,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
    memory_total: u64,
}

/// One NVML device handle: a physical GPU or a MIG device. Handles are pointers into the
/// `handles` vector, which never moves once the machine is loaded.
#[derive(Debug)]
enum Handle {
    Gpu(usize),
    Mig(usize, usize),
}

struct Loaded {
    machine: Machine,
    handles: Vec<Handle>,
}

static LOADED: OnceLock<Result<Loaded, ()>> = OnceLock::new();
static INIT_COUNT: AtomicU32 = AtomicU32::new(0);

/// The path of the shared object this code was loaded from.
fn own_path() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let anchor = own_path as *const libc::c_void;
    // SAFETY: dladdr only reads the address and fills `info`.
    if unsafe { libc::dladdr(anchor, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_str().ok()?))
}

fn load() -> Result<Loaded, ()> {
    let mut path = own_path().ok_or(())?.into_os_string();
    path.push(".json");
    let text = std::fs::read_to_string(path).map_err(|_| ())?;
    let machine: Machine = serde_json::from_str(&text).map_err(|_| ())?;
    let mut handles = Vec::new();
    for (g, gpu) in machine.devices.iter().enumerate() {
        handles.push(Handle::Gpu(g));
        for m in 0..gpu.mig.as_ref().map_or(0, |mig| mig.devices.len()) {
            handles.push(Handle::Mig(g, m));
        }
    }
    Ok(Loaded { machine, handles })
}

fn loaded() -> Result<&'static Loaded, nvmlReturn_t> {
    if INIT_COUNT.load(Ordering::SeqCst) == 0 {
        return Err(UNINITIALIZED);
    }
    LOADED.get_or_init(load).as_ref().map_err(|()| UNKNOWN)
}

fn handle_of(loaded: &'static Loaded, wanted: impl Fn(&Handle) -> bool) -> nvmlDevice_t {
    loaded
        .handles
        .iter()
        .find(|h| wanted(h))
        .map_or(std::ptr::null_mut(), |h| h as *const Handle as nvmlDevice_t)
}

fn resolve(device: nvmlDevice_t) -> Result<(&'static Loaded, &'static Handle), nvmlReturn_t> {
    let loaded = loaded()?;
    loaded
        .handles
        .iter()
        .find(|h| std::ptr::eq(*h as *const Handle, device as *const Handle))
        .map(|h| (loaded, h))
        .ok_or(INVALID_ARGUMENT)
}

fn status(result: Result<(), nvmlReturn_t>) -> nvmlReturn_t {
    result.err().unwrap_or(SUCCESS)
}

/// Copies `value` and its NUL into a caller buffer of `length` bytes.
fn write_str(value: &str, out: *mut c_char, length: c_uint) -> Result<(), nvmlReturn_t> {
    if out.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    let bytes = value.as_bytes();
    if bytes.len() + 1 > length as usize {
        return Err(INSUFFICIENT_SIZE);
    }
    // SAFETY: the caller promises `length` writable bytes at `out`; we write len + 1 <= length.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), out, bytes.len());
        *out.add(bytes.len()) = 0;
    }
    Ok(())
}

/// Writes `value` through `out` after a null check.
fn write_out<T>(out: *mut T, value: T) -> Result<(), nvmlReturn_t> {
    if out.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    // SAFETY: non-null pointer to caller storage of type T.
    unsafe { out.write(value) };
    Ok(())
}

/// Fills a caller's `nvmlMemory_v2_t` (whose `version` the caller set) for an idle device.
fn fill_memory(memory: *mut nvmlMemory_v2_t, total: u64) -> Result<(), nvmlReturn_t> {
    if memory.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    // SAFETY: non-null caller storage of the right type.
    unsafe {
        (*memory).total = total;
        (*memory).reserved = 0;
        (*memory).free = total;
        (*memory).used = 0;
    }
    Ok(())
}

fn gpu_of(loaded: &'static Loaded, handle: &Handle) -> &'static Gpu {
    let g = match handle {
        Handle::Gpu(g) | Handle::Mig(g, _) => *g,
    };
    &loaded.machine.devices[g]
}

fn mig_of(loaded: &'static Loaded, handle: &Handle) -> Option<&'static MigDevice> {
    match handle {
        Handle::Gpu(_) => None,
        Handle::Mig(g, m) => loaded.machine.devices[*g]
            .mig
            .as_ref()
            .map(|mig| &mig.devices[*m]),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlInit_v2() -> nvmlReturn_t {
    match LOADED.get_or_init(load) {
        Err(()) => UNKNOWN,
        Ok(loaded) if loaded.machine.init_result != SUCCESS => loaded.machine.init_result,
        Ok(_) => {
            INIT_COUNT.fetch_add(1, Ordering::SeqCst);
            SUCCESS
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlShutdown() -> nvmlReturn_t {
    let decremented =
        INIT_COUNT.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if decremented.is_ok() {
        SUCCESS
    } else {
        UNINITIALIZED
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlErrorString(result: nvmlReturn_t) -> *const c_char {
    let text: &'static CStr = match result {
        SUCCESS => c"Success",
        UNINITIALIZED => c"Uninitialized",
        INVALID_ARGUMENT => c"Invalid Argument",
        NOT_SUPPORTED => c"Not Supported",
        NOT_FOUND => c"Not Found",
        INSUFFICIENT_SIZE => c"Insufficient Size",
        _ => c"Unknown Error",
    };
    text.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlSystemGetDriverVersion(version: *mut c_char, length: c_uint) -> nvmlReturn_t {
    status(loaded().and_then(|l| write_str(&l.machine.driver_version, version, length)))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlSystemGetCudaDriverVersion_v2(version: *mut c_int) -> nvmlReturn_t {
    status(loaded().and_then(|l| write_out(version, l.machine.cuda_driver_version)))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> nvmlReturn_t {
    status(loaded().and_then(|l| write_out(count, l.machine.devices.len() as c_uint)))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut nvmlDevice_t,
) -> nvmlReturn_t {
    status(loaded().and_then(|l| {
        let handle = handle_of(l, |h| matches!(h, Handle::Gpu(g) if *g == index as usize));
        if handle.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        write_out(device, handle)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetUUID(
    device: nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let value = mig_of(l, h).map_or(&gpu_of(l, h).uuid, |m| &m.uuid);
        write_str(value, uuid, length)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetName(
    device: nvmlDevice_t,
    name: *mut c_char,
    length: c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let value = mig_of(l, h).map_or(&gpu_of(l, h).name, |m| &m.name);
        write_str(value, name, length)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetMinorNumber(
    device: nvmlDevice_t,
    minor: *mut c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| match h {
        Handle::Gpu(_) => write_out(minor, gpu_of(l, h).minor_number),
        Handle::Mig(..) => Err(NOT_SUPPORTED),
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetPciInfo_v3(
    device: nvmlDevice_t,
    pci: *mut nvmlPciInfo_t,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let gpu = gpu_of(l, h);
        // SAFETY: nvmlPciInfo_t is plain old data; all-zero is a valid value.
        let mut info: nvmlPciInfo_t = unsafe { std::mem::zeroed() };
        info.domain = gpu.domain;
        info.bus = gpu.bus;
        info.device = gpu.device;
        info.pciDeviceId = gpu.pci_device_id;
        let legacy = gpu.bus_id.get(4..).unwrap_or(&gpu.bus_id);
        write_str(
            &gpu.bus_id,
            info.busId.as_mut_ptr(),
            info.busId.len() as c_uint,
        )?;
        write_str(
            legacy,
            info.busIdLegacy.as_mut_ptr(),
            info.busIdLegacy.len() as c_uint,
        )?;
        write_out(pci, info)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetMemoryInfo_v2(
    device: nvmlDevice_t,
    memory: *mut nvmlMemory_v2_t,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let total = mig_of(l, h).map_or(gpu_of(l, h).memory_total, |m| m.memory_total);
        fill_memory(memory, total)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetComputeMode(
    device: nvmlDevice_t,
    mode: *mut nvmlComputeMode_t,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| write_out(mode, gpu_of(l, h).compute_mode)))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetMigMode(
    device: nvmlDevice_t,
    current: *mut c_uint,
    pending: *mut c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let mig = match h {
            Handle::Gpu(_) => gpu_of(l, h).mig.as_ref().ok_or(NOT_SUPPORTED)?,
            Handle::Mig(..) => return Err(NOT_SUPPORTED),
        };
        write_out(current, mig.current_mode)?;
        write_out(pending, mig.pending_mode)
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetMaxMigDeviceCount(
    device: nvmlDevice_t,
    count: *mut c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| match h {
        Handle::Gpu(_) => write_out(
            count,
            gpu_of(l, h).mig.as_ref().ok_or(NOT_SUPPORTED)?.max_devices,
        ),
        Handle::Mig(..) => Err(NOT_SUPPORTED),
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetMigDeviceHandleByIndex(
    device: nvmlDevice_t,
    index: c_uint,
    mig_device: *mut nvmlDevice_t,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        let Handle::Gpu(g) = *h else {
            return Err(INVALID_ARGUMENT);
        };
        let mig = l.machine.devices[g].mig.as_ref().ok_or(NOT_SUPPORTED)?;
        if mig.current_mode != 1 || index >= mig.max_devices {
            return Err(INVALID_ARGUMENT);
        }
        let m = mig
            .devices
            .iter()
            .position(|d| d.slot == index)
            .ok_or(NOT_FOUND)?;
        write_out(
            mig_device,
            handle_of(
                l,
                |x| matches!(x, Handle::Mig(pg, pm) if *pg == g && *pm == m),
            ),
        )
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetGpuInstanceId(
    device: nvmlDevice_t,
    id: *mut c_uint,
) -> nvmlReturn_t {
    status(
        resolve(device).and_then(|(l, h)| {
            write_out(id, mig_of(l, h).ok_or(INVALID_ARGUMENT)?.gpu_instance_id)
        }),
    )
}

#[unsafe(no_mangle)]
pub extern "C" fn nvmlDeviceGetComputeInstanceId(
    device: nvmlDevice_t,
    id: *mut c_uint,
) -> nvmlReturn_t {
    status(resolve(device).and_then(|(l, h)| {
        write_out(
            id,
            mig_of(l, h).ok_or(INVALID_ARGUMENT)?.compute_instance_id,
        )
    }))
}
