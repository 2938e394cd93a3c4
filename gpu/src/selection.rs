//! Which GPUs a container gets.
//!
//! # Precedence
//!
//! 1. The annotation [`GPUS_ANNOTATION`] (`openshell.nvidia.com/gpus`), when present, decides
//!    alone. It is set by whoever creates the container (orchestrator, operator), not by the
//!    image. `NVIDIA_VISIBLE_DEVICES` in the process environment is then ignored.
//! 2. Without the annotation, `NVIDIA_VISIBLE_DEVICES` from the container's process
//!    environment is honoured **only inside the node's ceiling** ([`SelectionInput::env_ceiling`],
//!    node configuration, default: no GPU). Images bake this variable in (CUDA images set
//!    `all`), so it may narrow what the node allows but never widen it:
//!    - unset, empty, `none` or `void` → no GPU;
//!    - `all` → exactly the ceiling;
//!    - a list → every entry must lie inside the ceiling (a MIG device lies inside when it or
//!      its whole GPU does), otherwise selection fails naming the entry.
//!
//! Either source uses the toolkit's grammar: `all`, `none`, `void`, or a comma-separated list of
//! GPU indexes (`0`), GPU UUIDs (`GPU-…`), MIG devices as `<gpu>:<mig>` (`0:1`) or MIG UUIDs
//! (`MIG-…`). Entries are checked against the inventory: an unknown UUID, an index out of range,
//! a MIG device on a GPU without MIG enabled, or a malformed entry is an error that names the
//! source and the entry. Several `NVIDIA_VISIBLE_DEVICES=` entries with different values in the
//! environment are refused as ambiguous (getenv and the toolkit disagree on which one wins).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::inventory::{Gpu, Inventory, MigDevice, MigMode};

/// Annotation naming the GPUs a container gets; overrides the environment.
pub const GPUS_ANNOTATION: &str = "openshell.nvidia.com/gpus";
/// The NVIDIA Container Toolkit's device-selection variable.
pub const VISIBLE_DEVICES_ENV: &str = "NVIDIA_VISIBLE_DEVICES";

/// A parsed device list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// `none`, `void` or empty: no GPU.
    #[default]
    NoGpus,
    /// `all`: every GPU (as whole GPUs).
    All,
    /// Explicit entries.
    List(Vec<DeviceId>),
}

/// One entry of a device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceId {
    /// A GPU by NVML index.
    Index(u32),
    /// A GPU by `GPU-…` UUID.
    GpuUuid(String),
    /// A MIG device as `<gpu index>:<mig index>`.
    Mig {
        /// Parent GPU index.
        gpu: u32,
        /// MIG device index on that GPU.
        mig: u32,
    },
    /// A MIG device by `MIG-…` UUID.
    MigUuid(String),
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(index) => write!(f, "{index}"),
            Self::GpuUuid(uuid) | Self::MigUuid(uuid) => f.write_str(uuid),
            Self::Mig { gpu, mig } => write!(f, "{gpu}:{mig}"),
        }
    }
}

/// Where a device list came from (named in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The [`GPUS_ANNOTATION`] annotation.
    Annotation,
    /// `NVIDIA_VISIBLE_DEVICES` in the container's process environment.
    Environment,
    /// The node's ceiling for environment requests.
    Ceiling,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Annotation => "annotation openshell.nvidia.com/gpus",
            Self::Environment => "NVIDIA_VISIBLE_DEVICES in the container's environment",
            Self::Ceiling => "the node's GPU ceiling for NVIDIA_VISIBLE_DEVICES",
        })
    }
}

/// Why a selection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// The value does not follow the grammar.
    #[error("{origin}: malformed device list {value:?}: {reason}")]
    Malformed {
        /// Source of the value.
        origin: Origin,
        /// The whole value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A GPU index beyond the inventory.
    #[error("{origin}: GPU index {index} is out of range: this node has {count} GPU(s)")]
    IndexOutOfRange {
        /// Source of the entry.
        origin: Origin,
        /// The index asked for.
        index: u32,
        /// GPUs on the node.
        count: usize,
    },
    /// A UUID no GPU or MIG device on the node has.
    #[error("{origin}: no GPU or MIG device on this node has UUID {uuid}")]
    UnknownUuid {
        /// Source of the entry.
        origin: Origin,
        /// The UUID asked for.
        uuid: String,
    },
    /// `<gpu>:<mig>` on a GPU whose MIG mode is not enabled.
    #[error("{origin}: MIG device {gpu}:{mig} requested but GPU {gpu} has MIG mode {mode}")]
    MigNotEnabled {
        /// Source of the entry.
        origin: Origin,
        /// Parent GPU index.
        gpu: u32,
        /// MIG index asked for.
        mig: u32,
        /// The GPU's MIG mode.
        mode: MigMode,
    },
    /// `<gpu>:<mig>` naming an empty MIG slot.
    #[error("{origin}: GPU {gpu} has no MIG device {mig} (it has {existing})")]
    UnknownMigDevice {
        /// Source of the entry.
        origin: Origin,
        /// Parent GPU index.
        gpu: u32,
        /// MIG index asked for.
        mig: u32,
        /// The MIG indexes that exist, comma-separated.
        existing: String,
    },
    /// Several differing `NVIDIA_VISIBLE_DEVICES=` entries in the environment.
    #[error(
        "NVIDIA_VISIBLE_DEVICES is set {count} times with different values in the container's environment"
    )]
    AmbiguousEnvironment {
        /// Number of entries.
        count: usize,
    },
    /// The environment asks for a device outside the node's ceiling.
    #[error(
        "NVIDIA_VISIBLE_DEVICES in the container's environment asks for {device}, which this node does not grant \
         through the environment (ceiling: {ceiling}); name the GPUs in the annotation openshell.nvidia.com/gpus"
    )]
    OutsideCeiling {
        /// The entry that is not allowed.
        device: String,
        /// The ceiling, as configured.
        ceiling: String,
    },
}

impl DeviceRequest {
    /// Parses a device list from `origin`.
    pub fn parse(value: &str, origin: Origin) -> Result<Self, SelectionError> {
        let malformed = |reason: String| SelectionError::Malformed {
            origin,
            value: value.to_owned(),
            reason,
        };
        match value.trim() {
            "" | "none" | "void" => return Ok(Self::NoGpus),
            "all" => return Ok(Self::All),
            _ => {}
        }
        let mut ids = Vec::new();
        for entry in value.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(malformed("empty entry between commas".into()));
            }
            if matches!(entry, "all" | "none" | "void") {
                return Err(malformed(format!(
                    "{entry:?} cannot be combined with other entries"
                )));
            }
            ids.push(parse_id(entry).map_err(malformed)?);
        }
        Ok(Self::List(ids))
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoGpus => f.write_str("none"),
            Self::All => f.write_str("all"),
            Self::List(ids) => {
                let entries: Vec<String> = ids.iter().map(ToString::to_string).collect();
                f.write_str(&entries.join(","))
            }
        }
    }
}

fn parse_index(text: &str, entry: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{entry:?} is not an index"));
    }
    text.parse()
        .map_err(|_| format!("{entry:?} is too large for an index"))
}

fn parse_id(entry: &str) -> Result<DeviceId, String> {
    let uuid_ok = |uuid: &str, prefix: &str| {
        let body = &uuid[prefix.len()..];
        !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/".contains(&b))
    };
    if entry.starts_with("GPU-") {
        return if uuid_ok(entry, "GPU-") {
            Ok(DeviceId::GpuUuid(entry.to_owned()))
        } else {
            Err(format!("{entry:?} is not a GPU UUID"))
        };
    }
    if entry.starts_with("MIG-") {
        return if uuid_ok(entry, "MIG-") {
            Ok(DeviceId::MigUuid(entry.to_owned()))
        } else {
            Err(format!("{entry:?} is not a MIG UUID"))
        };
    }
    if let Some((gpu, mig)) = entry.split_once(':') {
        return Ok(DeviceId::Mig {
            gpu: parse_index(gpu, entry)?,
            mig: parse_index(mig, entry)?,
        });
    }
    if !entry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{entry:?} is not an index, GPU-<uuid>, MIG-<uuid> or <gpu>:<mig>"
        ));
    }
    parse_index(entry, entry).map(DeviceId::Index)
}

/// One device a container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectedDevice {
    /// A whole GPU.
    Gpu(Gpu),
    /// One MIG device of a MIG-enabled GPU.
    Mig {
        /// The physical GPU it lives on.
        parent: Gpu,
        /// The MIG device.
        device: MigDevice,
    },
}

impl SelectedDevice {
    /// The physical GPU (the device itself, or a MIG device's parent).
    pub fn gpu(&self) -> &Gpu {
        match self {
            Self::Gpu(gpu) | Self::Mig { parent: gpu, .. } => gpu,
        }
    }

    /// The device's UUID (`GPU-…` or `MIG-…`).
    pub fn uuid(&self) -> &str {
        match self {
            Self::Gpu(gpu) => &gpu.uuid,
            Self::Mig { device, .. } => &device.uuid,
        }
    }

    /// Index form: `0` or `0:1`.
    pub fn index_name(&self) -> String {
        match self {
            Self::Gpu(gpu) => gpu.index.to_string(),
            Self::Mig { parent, device } => format!("{}:{}", parent.index, device.index),
        }
    }

    fn sort_key(&self) -> (u32, Option<u32>) {
        match self {
            Self::Gpu(gpu) => (gpu.index, None),
            Self::Mig { parent, device } => (parent.index, Some(device.index)),
        }
    }
}

/// The devices a container gets, in (GPU, MIG) index order, without duplicates; a MIG device
/// whose whole GPU is also selected is folded into the GPU.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Selected devices.
    pub devices: Vec<SelectedDevice>,
}

impl Selection {
    /// True when no GPU is selected.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The value for the container's `NVIDIA_VISIBLE_DEVICES`: the selected UUIDs, or `void`.
    pub fn visible_devices(&self) -> String {
        if self.devices.is_empty() {
            return "void".into();
        }
        let uuids: Vec<&str> = self.devices.iter().map(SelectedDevice::uuid).collect();
        uuids.join(",")
    }

    fn from_devices(mut devices: Vec<SelectedDevice>) -> Self {
        devices.sort_by_key(SelectedDevice::sort_key);
        devices.dedup_by_key(|device| device.sort_key());
        let whole: Vec<u32> = devices
            .iter()
            .filter(|d| matches!(d, SelectedDevice::Gpu(_)))
            .map(|d| d.gpu().index)
            .collect();
        devices.retain(|d| matches!(d, SelectedDevice::Gpu(_)) || !whole.contains(&d.gpu().index));
        Self { devices }
    }
}

/// The inputs of a selection, as found in the container's configuration and node settings.
#[derive(Debug, Clone, Default)]
pub struct SelectionInput<'a> {
    /// Value of [`GPUS_ANNOTATION`], if the container has it.
    pub annotation: Option<&'a str>,
    /// Value of `NVIDIA_VISIBLE_DEVICES` in the process environment, if set.
    pub env: Option<&'a str>,
    /// Node setting: the most the environment may select without the annotation (default: no
    /// GPU).
    pub env_ceiling: DeviceRequest,
}

impl<'a> SelectionInput<'a> {
    /// Reads the annotation and the environment variable from an OCI config's annotations and
    /// `process.env`.
    pub fn from_oci(
        annotations: Option<&'a HashMap<String, String>>,
        env: Option<&'a [String]>,
        env_ceiling: DeviceRequest,
    ) -> Result<Self, SelectionError> {
        let prefix = format!("{VISIBLE_DEVICES_ENV}=");
        let values: Vec<&str> = env
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| entry.strip_prefix(&prefix))
            .collect();
        if values.iter().any(|value| *value != values[0]) {
            return Err(SelectionError::AmbiguousEnvironment {
                count: values.len(),
            });
        }
        Ok(Self {
            annotation: annotations
                .and_then(|map| map.get(GPUS_ANNOTATION))
                .map(String::as_str),
            env: values.first().copied(),
            env_ceiling,
        })
    }
}

/// Resolves the container's selection against the inventory, following the module's
/// precedence rules.
pub fn select(
    inventory: &Inventory,
    input: &SelectionInput<'_>,
) -> Result<Selection, SelectionError> {
    if let Some(annotation) = input.annotation {
        if annotation.trim().is_empty() {
            return Err(SelectionError::Malformed {
                origin: Origin::Annotation,
                value: annotation.to_owned(),
                reason: "empty; write none to select no GPU".into(),
            });
        }
        let request = DeviceRequest::parse(annotation, Origin::Annotation)?;
        return resolve(inventory, &request, Origin::Annotation).map(Selection::from_devices);
    }
    let Some(env) = input.env else {
        return Ok(Selection::default());
    };
    let request = DeviceRequest::parse(env, Origin::Environment)?;
    if request == DeviceRequest::NoGpus {
        return Ok(Selection::default());
    }
    let ceiling = resolve(inventory, &input.env_ceiling, Origin::Ceiling)?;
    let devices = match request {
        DeviceRequest::NoGpus => Vec::new(),
        DeviceRequest::All => ceiling,
        DeviceRequest::List(_) => {
            let wanted = resolve(inventory, &request, Origin::Environment)?;
            if let Some(outside) = wanted.iter().find(|device| !within(device, &ceiling)) {
                return Err(SelectionError::OutsideCeiling {
                    device: format!("{} ({})", outside.index_name(), outside.uuid()),
                    ceiling: input.env_ceiling.to_string(),
                });
            }
            wanted
        }
    };
    Ok(Selection::from_devices(devices))
}

fn within(device: &SelectedDevice, ceiling: &[SelectedDevice]) -> bool {
    ceiling.iter().any(|allowed| match allowed {
        SelectedDevice::Gpu(gpu) => gpu.index == device.gpu().index,
        SelectedDevice::Mig { .. } => allowed == device,
    })
}

fn resolve(
    inventory: &Inventory,
    request: &DeviceRequest,
    origin: Origin,
) -> Result<Vec<SelectedDevice>, SelectionError> {
    match request {
        DeviceRequest::NoGpus => Ok(Vec::new()),
        DeviceRequest::All => Ok(inventory
            .gpus
            .iter()
            .cloned()
            .map(SelectedDevice::Gpu)
            .collect()),
        DeviceRequest::List(ids) => ids
            .iter()
            .map(|id| resolve_id(inventory, id, origin))
            .collect(),
    }
}

fn resolve_id(
    inventory: &Inventory,
    id: &DeviceId,
    origin: Origin,
) -> Result<SelectedDevice, SelectionError> {
    let gpu_at = |index: u32| {
        inventory
            .gpus
            .get(index as usize)
            .ok_or(SelectionError::IndexOutOfRange {
                origin,
                index,
                count: inventory.gpus.len(),
            })
    };
    match id {
        DeviceId::Index(index) => gpu_at(*index).cloned().map(SelectedDevice::Gpu),
        DeviceId::GpuUuid(uuid) => inventory
            .gpu_by_uuid(uuid)
            .cloned()
            .map(SelectedDevice::Gpu)
            .ok_or_else(|| SelectionError::UnknownUuid {
                origin,
                uuid: uuid.clone(),
            }),
        DeviceId::Mig { gpu, mig } => {
            let parent = gpu_at(*gpu)?;
            if parent.mig_mode != MigMode::Enabled {
                return Err(SelectionError::MigNotEnabled {
                    origin,
                    gpu: *gpu,
                    mig: *mig,
                    mode: parent.mig_mode,
                });
            }
            let device = parent
                .mig_devices
                .iter()
                .find(|d| d.index == *mig)
                .ok_or_else(|| {
                    let existing: Vec<String> = parent
                        .mig_devices
                        .iter()
                        .map(|d| d.index.to_string())
                        .collect();
                    SelectionError::UnknownMigDevice {
                        origin,
                        gpu: *gpu,
                        mig: *mig,
                        existing: if existing.is_empty() {
                            "none".into()
                        } else {
                            existing.join(",")
                        },
                    }
                })?;
            Ok(SelectedDevice::Mig {
                parent: parent.clone(),
                device: device.clone(),
            })
        }
        DeviceId::MigUuid(uuid) => inventory
            .gpus
            .iter()
            .find_map(|gpu| {
                let device = gpu.mig_devices.iter().find(|d| &d.uuid == uuid)?;
                Some(SelectedDevice::Mig {
                    parent: gpu.clone(),
                    device: device.clone(),
                })
            })
            .ok_or_else(|| SelectionError::UnknownUuid {
                origin,
                uuid: uuid.clone(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_inventory;

    const GPU0: &str = "GPU-5e3a7c1e-2b6f-4c44-9f1a-0c7d3b8e9a01";
    const MIG_1_1: &str = "MIG-6a7b8c9d-0e1f-5a2b-9c3d-4e5f6a7b8c9d";

    fn names(selection: &Selection) -> Vec<String> {
        selection
            .devices
            .iter()
            .map(SelectedDevice::index_name)
            .collect()
    }

    fn annotated(value: &str) -> Result<Selection, SelectionError> {
        select(
            &sample_inventory(),
            &SelectionInput {
                annotation: Some(value),
                ..SelectionInput::default()
            },
        )
    }

    fn from_env(value: &str, ceiling: &str) -> Result<Selection, SelectionError> {
        let input = SelectionInput {
            annotation: None,
            env: Some(value),
            env_ceiling: DeviceRequest::parse(ceiling, Origin::Ceiling).unwrap(),
        };
        select(&sample_inventory(), &input)
    }

    #[test]
    fn grammar_covers_indexes_uuids_mig_and_keywords() {
        let request =
            DeviceRequest::parse(" 0, GPU-abc-1 ,1:1,MIG-def-2", Origin::Annotation).unwrap();
        assert_eq!(
            request,
            DeviceRequest::List(vec![
                DeviceId::Index(0),
                DeviceId::GpuUuid("GPU-abc-1".into()),
                DeviceId::Mig { gpu: 1, mig: 1 },
                DeviceId::MigUuid("MIG-def-2".into()),
            ])
        );
        for (value, expected) in [
            ("all", DeviceRequest::All),
            ("none", DeviceRequest::NoGpus),
            ("void", DeviceRequest::NoGpus),
            ("", DeviceRequest::NoGpus),
        ] {
            assert_eq!(
                DeviceRequest::parse(value, Origin::Environment).unwrap(),
                expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn malformed_entries_are_named() {
        for (value, needle) in [
            ("0,,1", "empty entry"),
            ("all,0", "\"all\" cannot be combined"),
            ("gpu0", "\"gpu0\" is not an index"),
            ("-1", "\"-1\" is not an index"),
            ("1:x", "\"1:x\" is not an index"),
            ("GPU-", "not a GPU UUID"),
            ("MIG-a b", "not a MIG UUID"),
            ("99999999999", "too large"),
        ] {
            let error = DeviceRequest::parse(value, Origin::Annotation)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("annotation openshell.nvidia.com/gpus: malformed device list"),
                "{error}"
            );
            assert!(error.contains(needle), "{value:?}: {error}");
        }
    }

    #[test]
    fn annotation_resolves_against_the_inventory_sorted_and_deduplicated() {
        let selection = annotated(&format!("2,{GPU0},1:1,0,{MIG_1_1}")).unwrap();
        assert_eq!(names(&selection), ["0", "1:1", "2"]);
        assert_eq!(
            selection.visible_devices(),
            format!("{GPU0},{MIG_1_1},GPU-c0ffee00-1234-4abc-8def-0123456789ab")
        );
    }

    #[test]
    fn whole_gpu_absorbs_its_mig_devices() {
        assert_eq!(names(&annotated("1:0,1,1:1").unwrap()), ["1"]);
    }

    #[test]
    fn unknown_devices_are_errors() {
        assert_eq!(
            annotated("3").unwrap_err().to_string(),
            "annotation openshell.nvidia.com/gpus: GPU index 3 is out of range: this node has 3 GPU(s)"
        );
        assert_eq!(
            annotated("GPU-00000000-0000-0000-0000-000000000000")
                .unwrap_err()
                .to_string(),
            "annotation openshell.nvidia.com/gpus: no GPU or MIG device on this node has UUID GPU-00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            annotated("MIG-00000000-0000-0000-0000-000000000000").unwrap_err(),
            SelectionError::UnknownUuid {
                origin: Origin::Annotation,
                uuid: "MIG-00000000-0000-0000-0000-000000000000".into()
            }
        );
        assert_eq!(
            annotated("0:0").unwrap_err().to_string(),
            "annotation openshell.nvidia.com/gpus: MIG device 0:0 requested but GPU 0 has MIG mode disabled"
        );
        assert_eq!(
            annotated("1:5").unwrap_err().to_string(),
            "annotation openshell.nvidia.com/gpus: GPU 1 has no MIG device 5 (it has 0,1)"
        );
        assert!(matches!(
            annotated(" "),
            Err(SelectionError::Malformed { .. })
        ));
    }

    #[test]
    fn annotation_wins_over_environment() {
        let input = SelectionInput {
            annotation: Some("2"),
            env: Some("0,1"),
            env_ceiling: DeviceRequest::All,
        };
        assert_eq!(names(&select(&sample_inventory(), &input).unwrap()), ["2"]);
        let input = SelectionInput {
            annotation: Some("none"),
            env: Some("all"),
            env_ceiling: DeviceRequest::All,
        };
        assert!(select(&sample_inventory(), &input).unwrap().is_empty());
    }

    #[test]
    fn environment_cannot_widen_the_default_ceiling() {
        // CUDA images bake NVIDIA_VISIBLE_DEVICES=all: by default that selects nothing.
        assert!(from_env("all", "none").unwrap().is_empty());
        let error = from_env("0", "none").unwrap_err();
        assert_eq!(
            error,
            SelectionError::OutsideCeiling {
                device: format!("0 ({GPU0})"),
                ceiling: "none".into()
            }
        );
        assert!(
            error.to_string().contains("openshell.nvidia.com/gpus"),
            "{error}"
        );
        assert!(
            select(&sample_inventory(), &SelectionInput::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn environment_narrows_within_the_ceiling() {
        assert_eq!(names(&from_env("all", "all").unwrap()), ["0", "1", "2"]);
        assert_eq!(names(&from_env("all", "1,2").unwrap()), ["1", "2"]);
        assert_eq!(names(&from_env("1:0", "1").unwrap()), ["1:0"]);
        assert_eq!(
            names(&from_env("void", "all").unwrap()),
            Vec::<String>::new()
        );
        assert!(matches!(
            from_env("0", "1"),
            Err(SelectionError::OutsideCeiling { .. })
        ));
        // A MIG slice as ceiling does not grant its whole GPU.
        assert!(matches!(
            from_env("1", "1:0"),
            Err(SelectionError::OutsideCeiling { .. })
        ));
        assert_eq!(names(&from_env(MIG_1_1, "1:1").unwrap()), ["1:1"]);
        assert!(matches!(
            from_env("7", "all"),
            Err(SelectionError::IndexOutOfRange {
                origin: Origin::Environment,
                ..
            })
        ));
        assert!(matches!(
            from_env("0", "9"),
            Err(SelectionError::IndexOutOfRange {
                origin: Origin::Ceiling,
                ..
            })
        ));
        // A container that asks for nothing is not failed by a misconfigured ceiling.
        assert!(from_env("void", "9").unwrap().is_empty());
    }

    #[test]
    fn oci_inputs_are_read_and_ambiguity_refused() {
        let annotations = HashMap::from([(GPUS_ANNOTATION.to_owned(), "0".to_owned())]);
        let env = vec![
            "PATH=/bin".to_owned(),
            "NVIDIA_VISIBLE_DEVICES=1".to_owned(),
        ];
        let input =
            SelectionInput::from_oci(Some(&annotations), Some(&env), DeviceRequest::All).unwrap();
        assert_eq!((input.annotation, input.env), (Some("0"), Some("1")));
        let repeated = vec![
            "NVIDIA_VISIBLE_DEVICES=1".to_owned(),
            "NVIDIA_VISIBLE_DEVICES=1".to_owned(),
        ];
        assert_eq!(
            SelectionInput::from_oci(None, Some(&repeated), DeviceRequest::All)
                .unwrap()
                .env,
            Some("1")
        );
        let conflicting = vec![
            "NVIDIA_VISIBLE_DEVICES=1".to_owned(),
            "NVIDIA_VISIBLE_DEVICES=all".to_owned(),
        ];
        assert_eq!(
            SelectionInput::from_oci(None, Some(&conflicting), DeviceRequest::All).unwrap_err(),
            SelectionError::AmbiguousEnvironment { count: 2 }
        );
        let none = SelectionInput::from_oci(None, None, DeviceRequest::NoGpus).unwrap();
        assert_eq!((none.annotation, none.env), (None, None));
    }
}
