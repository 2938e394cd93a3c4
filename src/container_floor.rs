//! What a policy-governed container's later paths are held to: every process `exec` starts in
//! it and every `update` of its limits.
//!
//! Recorded once at `create` (`floor.json` in the staged bundle, next to the hardened spec)
//! from the hardened init process and the policy's limits, and never rewritten: `update`
//! rewrites the staged spec's resources, not this. Clients such as Docker, Podman and
//! containerd always send `exec` a complete process spec of their own (Docker's default
//! capabilities, no `noNewPrivileges`); under a policy that spec is only a request:
//! - capabilities: each set is what was asked ∩ the init's set; an explicit `--cap` beyond the
//!   init's bounding set, or a privileged request (every capability), is refused;
//! - `noNewPrivileges` is forced on;
//! - rlimits: the init's, or lower where the request is lower;
//! - AppArmor profile and SELinux label: the init's;
//! - `oomScoreAdj` no lower than the init's; scheduler and I/O priority: the init's.
//!
//! The seccomp filter comes from the container's spec (libcontainer's tenant path, patched).
//! An `update` may only set limits at or below the policy's `maxMemory`, `maxCPU` and
//! `maxPids`; anything above (or unlimited) is refused naming the limit, before anything is
//! applied.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use oci_spec::runtime::{
    Capabilities, Capability, LinuxCapabilities, LinuxResources, PosixRlimit, PosixRlimitBuilder,
    Process, Spec,
};
use openshell_policy::PolicySet;
use serde::{Deserialize, Serialize};

/// The floor of one container.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFloor {
    /// The policy's name, for error messages.
    pub policy: String,
    /// The init process's capability sets.
    pub capabilities: LinuxCapabilities,
    /// The init process's rlimits.
    pub rlimits: Vec<PosixRlimit>,
    /// The init process's AppArmor profile.
    pub apparmor_profile: Option<String>,
    /// The init process's SELinux label.
    pub selinux_label: Option<String>,
    /// The init process's `oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// The policy's `maxMemory`, bytes.
    pub max_memory: Option<u64>,
    /// The policy's `maxCPU`, millicores.
    pub max_cpu_millicores: Option<u64>,
    /// The policy's `maxPids`.
    pub max_pids: Option<u64>,
}

impl ContainerFloor {
    /// The file in the staged bundle.
    pub const FILE: &'static str = "floor.json";

    /// The floor of a container hardened into `hardened` by `policy`.
    pub fn new(policy: &PolicySet, hardened: &Spec) -> Self {
        let process = hardened.process().clone().unwrap_or_default();
        let resources = policy.sandbox().map(|s| &s.spec.resources);
        ContainerFloor {
            policy: policy.name().to_owned(),
            capabilities: process
                .capabilities()
                .clone()
                .unwrap_or_else(no_capabilities),
            rlimits: process.rlimits().clone().unwrap_or_default(),
            apparmor_profile: process.apparmor_profile().clone(),
            selinux_label: process.selinux_label().clone(),
            oom_score_adj: process.oom_score_adj(),
            max_memory: resources.and_then(|r| r.max_memory.as_ref().map(|q| q.value.bytes())),
            max_cpu_millicores: resources
                .and_then(|r| r.max_cpu.as_ref().map(|q| q.value.millicores())),
            max_pids: resources.and_then(|r| r.max_pids.as_ref().map(|q| q.value)),
        }
    }

    /// The floor recorded in staged bundle `dir`; `None` for a container without a policy.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(Self::FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("invalid container floor {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// `process` as it may run in the container: see the module documentation. `explicit_caps`
    /// are the `--cap` flags, which are refused rather than dropped when beyond the floor.
    pub fn hold_process(&self, mut process: Process, explicit_caps: &[String]) -> Result<Process> {
        let bounding = self.capabilities.bounding().clone().unwrap_or_default();
        for name in explicit_caps {
            let cap = parse_capability(name)?;
            if !bounding.contains(&cap) {
                bail!(
                    "--cap {name} is refused: the container runs under policy {:?}, whose \
                     capabilities are {}",
                    self.policy,
                    describe(&bounding)
                );
            }
        }
        let requested = process
            .capabilities()
            .clone()
            .unwrap_or_else(no_capabilities);
        if is_privileged(requested.bounding().as_ref()) {
            bail!(
                "a privileged exec (every capability) is refused: the container runs under \
                 policy {:?}, whose capabilities are {}",
                self.policy,
                describe(&bounding)
            );
        }
        let rlimits = self.rlimits_for(process.rlimits().as_deref());
        let floor = &self.capabilities;
        let mut held = LinuxCapabilities::default();
        held.set_bounding(Some(meet(requested.bounding(), floor.bounding())))
            .set_effective(Some(meet(requested.effective(), floor.effective())))
            .set_permitted(Some(meet(requested.permitted(), floor.permitted())))
            .set_inheritable(Some(meet(requested.inheritable(), floor.inheritable())))
            .set_ambient(Some(meet(requested.ambient(), floor.ambient())));
        process
            .set_capabilities(Some(held))
            .set_no_new_privileges(Some(true))
            .set_rlimits(Some(rlimits))
            .set_apparmor_profile(self.apparmor_profile.clone())
            .set_selinux_label(self.selinux_label.clone())
            .set_scheduler(None)
            .set_io_priority(None);
        if let Some(floor_adj) = self.oom_score_adj {
            let adj = process
                .oom_score_adj()
                .map_or(floor_adj, |a| a.max(floor_adj));
            process.set_oom_score_adj(Some(adj));
        }
        Ok(process)
    }

    /// The init's rlimits, each lowered where `requested` is lower, plus requested ones the
    /// init does not set (they cannot exceed the hard limits the runtime itself runs under).
    fn rlimits_for(&self, requested: Option<&[PosixRlimit]>) -> Vec<PosixRlimit> {
        let requested = requested.unwrap_or_default();
        let mut held: Vec<PosixRlimit> = self
            .rlimits
            .iter()
            .map(
                |floor| match requested.iter().find(|r| r.typ() == floor.typ()) {
                    Some(asked) => {
                        let hard = asked.hard().min(floor.hard());
                        PosixRlimitBuilder::default()
                            .typ(floor.typ())
                            .hard(hard)
                            .soft(asked.soft().min(hard))
                            .build()
                            .unwrap_or(*floor)
                    }
                    None => *floor,
                },
            )
            .collect();
        held.extend(
            requested
                .iter()
                .filter(|r| !self.rlimits.iter().any(|f| f.typ() == r.typ()))
                .copied(),
        );
        held
    }

    /// Fails, naming the limit, unless `update` (merged over `current`) stays within the
    /// policy's limits; also refuses the fields an update could use to widen access.
    pub fn check_update(&self, update: &LinuxResources, current: &LinuxResources) -> Result<()> {
        let policy = &self.policy;
        if update.devices().as_ref().is_some_and(|d| !d.is_empty())
            || update.unified().as_ref().is_some_and(|u| !u.is_empty())
        {
            bail!(
                "devices and unified cgroup settings cannot be updated: the container runs under \
                 policy {policy:?}"
            );
        }
        if let Some(max) = self.max_memory {
            let memory = update.memory().as_ref();
            let current_memory = current.memory().as_ref();
            let limit = memory
                .and_then(|m| m.limit())
                .or_else(|| current_memory.and_then(|m| m.limit()));
            within("memory limit", limit, max, policy, "maxMemory")?;
            if let Some(swap) = memory.and_then(|m| m.swap()) {
                within("memory+swap limit", Some(swap), max, policy, "maxMemory")?;
            }
        }
        if let Some(millicores) = self.max_cpu_millicores {
            let cpu = update.cpu().as_ref();
            let current_cpu = current.cpu().as_ref();
            let quota = cpu
                .and_then(|c| c.quota())
                .or_else(|| current_cpu.and_then(|c| c.quota()));
            let period = cpu
                .and_then(|c| c.period())
                .or_else(|| current_cpu.and_then(|c| c.period()))
                .unwrap_or(100_000);
            let within_cpu = quota.is_some_and(|quota| {
                quota > 0
                    && u128::from(quota.unsigned_abs()) * 1000
                        <= u128::from(millicores) * u128::from(period)
            });
            if !within_cpu {
                bail!(
                    "CPU quota {} per {period} µs is refused: policy {policy:?} allows at most \
                     maxCPU {millicores}m ({} µs per {period} µs)",
                    quota
                        .filter(|q| *q > 0)
                        .map_or("unlimited".to_owned(), |q| q.to_string()),
                    u128::from(millicores) * u128::from(period) / 1000
                );
            }
            let raised_rt = cpu
                .and_then(|c| c.realtime_runtime())
                .is_some_and(|rt| rt > current_cpu.and_then(|c| c.realtime_runtime()).unwrap_or(0));
            if raised_rt {
                bail!("realtime CPU runtime cannot be raised under policy {policy:?}");
            }
        }
        if let Some(max) = self.max_pids
            && let Some(pids) = update.pids()
        {
            within("pids limit", Some(pids.limit()), max, policy, "maxPids")?;
        }
        Ok(())
    }
}

/// A positive limit at or below `max` (`None`, zero or negative mean unlimited).
fn within(what: &str, value: Option<i64>, max: u64, policy: &str, field: &str) -> Result<()> {
    match value {
        Some(value) if value > 0 && value.unsigned_abs() <= max => Ok(()),
        Some(value) if value > 0 => {
            bail!("{what} {value} is refused: policy {policy:?} allows at most {field} {max}")
        }
        _ => bail!("an unlimited {what} is refused: policy {policy:?} sets {field} {max}"),
    }
}

/// The last capability every kernel since Linux 3.16 has (`CAP_AUDIT_READ`, 37).
const LAST_COMMON_CAPABILITY: u8 = 37;

/// Whether a bounding set asks for everything, as `docker exec --privileged` and
/// `podman exec --privileged` do: every capability up to [`LAST_COMMON_CAPABILITY`] that the
/// runtime itself holds (clients disagree about the newest ones, and Podman offers only what
/// its own bounding set has).
fn is_privileged(bounding: Option<&Capabilities>) -> bool {
    let Some(bounding) = bounding else {
        return false;
    };
    let asked: HashSet<u8> = bounding
        .iter()
        .map(|cap| libcontainer::capabilities::CapabilityExt::to_cap(cap).index())
        .collect();
    let grantable = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
    grantable
        .iter()
        .map(caps::Capability::index)
        .filter(|index| *index <= LAST_COMMON_CAPABILITY)
        .all(|index| asked.contains(&index))
}

fn no_capabilities() -> LinuxCapabilities {
    let mut none = LinuxCapabilities::default();
    none.set_bounding(Some(Capabilities::new()))
        .set_effective(Some(Capabilities::new()))
        .set_permitted(Some(Capabilities::new()))
        .set_inheritable(Some(Capabilities::new()))
        .set_ambient(Some(Capabilities::new()));
    none
}

fn meet(requested: &Option<Capabilities>, floor: &Option<Capabilities>) -> Capabilities {
    let empty = HashSet::new();
    let floor = floor.as_ref().unwrap_or(&empty);
    requested
        .iter()
        .flatten()
        .filter(|cap| floor.contains(cap))
        .copied()
        .collect()
}

/// `CAP_SYS_ADMIN` or `SYS_ADMIN`, as runc accepts them.
fn parse_capability(name: &str) -> Result<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| anyhow::anyhow!("--cap {name}: unknown capability"))
}

fn describe(set: &Capabilities) -> String {
    if set.is_empty() {
        return "none".to_owned();
    }
    let mut names: Vec<String> = set.iter().map(|c| format!("CAP_{c}")).collect();
    names.sort();
    names.join(", ")
}

#[cfg(test)]
mod tests;
