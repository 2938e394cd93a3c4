//! `update`: change a running container's resource limits in its cgroup, and record them in the
//! staged spec so later commands see the limits in force.

use std::fs;
use std::io;

use anyhow::{Context as _, Result, bail};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpu, LinuxCpuBuilder, LinuxMemory, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::{Context, cgroup_manager};
use crate::bundle::StagedBundle;
use crate::container_floor::ContainerFloor;

pub fn update(ctx: &Context, args: liboci_cli::Update) -> Result<()> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("updating Intel RDT schemas is not supported by openshell");
    }
    let id = &args.container_id;
    let container = ctx.load(id)?;
    let resources = unset_zeros(match &args.resources {
        Some(path) => read_resources(path)?,
        None => resources_from_flags(&args)?,
    });
    let root = ctx.root()?;
    let current = StagedBundle::load_spec(&root, id)?
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    // Checked before anything is applied, so a refused update changes nothing.
    if let Some(floor) = ContainerFloor::load(container.bundle())? {
        floor
            .check_update(&resources, &current)
            .with_context(|| format!("cannot update container {id:?}"))?;
    }
    let manager = cgroup_manager(&container)?;
    let apply = |resources: &LinuxResources| {
        manager.apply(&ControllerOpt {
            resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
    };
    if let Err(err) = apply(&resources) {
        // A controller may have taken its part before another refused (a memory limit below
        // current usage): put back the limits in force, so the update is all or nothing.
        if let Err(undo) = apply(&current) {
            tracing::warn!("cannot restore the limits of {id:?} after a failed update: {undo}");
        }
        return Err(err).with_context(|| format!("cannot update the cgroup of {id:?}"));
    }
    record(ctx, id, &resources)
}

/// Zero means "leave as it is" for the limits runc's `update` takes from a resources object:
/// Docker and containerd send every field, zero where the user changed nothing.
fn unset_zeros(mut resources: LinuxResources) -> LinuxResources {
    let zero_i64 = |v: Option<i64>| v.filter(|v| *v != 0);
    let zero_u64 = |v: Option<u64>| v.filter(|v| *v != 0);
    if let Some(from) = *resources.memory() {
        let mut memory = from;
        memory
            .set_limit(zero_i64(from.limit()))
            .set_reservation(zero_i64(from.reservation()))
            .set_swap(zero_i64(from.swap()))
            .set_kernel(zero_i64(from.kernel()))
            .set_kernel_tcp(zero_i64(from.kernel_tcp()));
        resources.set_memory(Some(memory));
    }
    if let Some(from) = resources.cpu().clone() {
        let mut cpu = from.clone();
        cpu.set_shares(zero_u64(from.shares()))
            .set_quota(zero_i64(from.quota()))
            .set_period(zero_u64(from.period()))
            .set_realtime_runtime(zero_i64(from.realtime_runtime()))
            .set_realtime_period(zero_u64(from.realtime_period()))
            .set_cpus(from.cpus().clone().filter(|c| !c.is_empty()))
            .set_mems(from.mems().clone().filter(|m| !m.is_empty()));
        resources.set_cpu(Some(cpu));
    }
    if resources.pids().is_some_and(|p| p.limit() == 0) {
        resources.set_pids(None);
    }
    resources
}

/// `--resources FILE` or `--resources -` (stdin): an OCI `linux.resources` object.
fn read_resources(path: &std::path::Path) -> Result<LinuxResources> {
    let parse = |text: &str, origin: &str| {
        serde_json::from_str::<LinuxResources>(text).map_err(|err| {
            anyhow::anyhow!(
                "{origin}:{}:{}: invalid resources: {err}",
                err.line(),
                err.column()
            )
        })
    };
    if path.as_os_str() == "-" {
        let text = io::read_to_string(io::stdin()).context("cannot read resources from stdin")?;
        parse(&text, "<stdin>")
    } else {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read resources file {}", path.display()))?;
        parse(&text, &path.display().to_string())
    }
}

fn resources_from_flags(args: &liboci_cli::Update) -> Result<LinuxResources> {
    let mut builder = LinuxResourcesBuilder::default();
    let mut memory = LinuxMemoryBuilder::default();
    let mut any_memory = false;
    if let Some(limit) = args.memory {
        memory = memory.limit(i64::try_from(limit).context("--memory is too large")?);
        any_memory = true;
    }
    if let Some(reservation) = args.memory_reservation {
        memory = memory
            .reservation(i64::try_from(reservation).context("--memory-reservation is too large")?);
        any_memory = true;
    }
    if let Some(swap) = args.memory_swap {
        memory = memory.swap(swap);
        any_memory = true;
    }
    if any_memory {
        builder = builder.memory(memory.build()?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if let Some(shares) = args.cpu_share {
        cpu = cpu.shares(shares);
        any_cpu = true;
    }
    if let Some(quota) = args.cpu_quota {
        cpu = cpu.quota(i64::try_from(quota).context("--cpu-quota is too large")?);
        any_cpu = true;
    }
    if let Some(period) = args.cpu_period {
        cpu = cpu.period(period);
        any_cpu = true;
    }
    if let Some(runtime) = args.cpu_rt_runtime {
        cpu =
            cpu.realtime_runtime(i64::try_from(runtime).context("--cpu-rt-runtime is too large")?);
        any_cpu = true;
    }
    if let Some(period) = args.cpu_rt_period {
        cpu = cpu.realtime_period(period);
        any_cpu = true;
    }
    if let Some(cpus) = &args.cpuset_cpus {
        cpu = cpu.cpus(cpus.clone());
        any_cpu = true;
    }
    if let Some(mems) = &args.cpuset_mems {
        cpu = cpu.mems(mems.clone());
        any_cpu = true;
    }
    if any_cpu {
        builder = builder.cpu(cpu.build()?);
    }
    if let Some(limit) = args.pids_limit {
        builder = builder.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    if let Some(weight) = args.blkio_weight {
        let weight = u16::try_from(weight).context("--blkio-weight must be 10..1000")?;
        builder = builder.block_io(LinuxBlockIoBuilder::default().weight(weight).build()?);
    }
    Ok(builder.build()?)
}

/// Merges the applied resources into the staged spec (field by field, as runc merges its config).
fn record(ctx: &Context, id: &str, update: &LinuxResources) -> Result<()> {
    let root = ctx.root()?;
    let mut spec = StagedBundle::load_spec(&root, id)?;
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    if let Some(memory) = update.memory() {
        let merged = merge_memory((*resources.memory()).unwrap_or_default(), memory);
        resources.set_memory(Some(merged));
    }
    if let Some(cpu) = update.cpu() {
        let merged = merge_cpu(resources.cpu().clone().unwrap_or_default(), cpu);
        resources.set_cpu(Some(merged));
    }
    if update.pids().is_some() {
        resources.set_pids(*update.pids());
    }
    if update.block_io().is_some() {
        resources.set_block_io(update.block_io().clone());
    }
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    StagedBundle::rewrite_spec(&root, id, &spec)
}

fn merge_memory(mut into: LinuxMemory, from: &LinuxMemory) -> LinuxMemory {
    if from.limit().is_some() {
        into.set_limit(from.limit());
    }
    if from.reservation().is_some() {
        into.set_reservation(from.reservation());
    }
    if from.swap().is_some() {
        into.set_swap(from.swap());
    }
    into
}

fn merge_cpu(mut into: LinuxCpu, from: &LinuxCpu) -> LinuxCpu {
    if from.shares().is_some() {
        into.set_shares(from.shares());
    }
    if from.quota().is_some() {
        into.set_quota(from.quota());
    }
    if from.period().is_some() {
        into.set_period(from.period());
    }
    if from.realtime_runtime().is_some() {
        into.set_realtime_runtime(from.realtime_runtime());
    }
    if from.realtime_period().is_some() {
        into.set_realtime_period(from.realtime_period());
    }
    if from.cpus().is_some() {
        into.set_cpus(from.cpus().clone());
    }
    if from.mems().is_some() {
        into.set_mems(from.mems().clone());
    }
    into
}
