//! `events`: resource statistics (`--stats` once, else every `--interval` seconds) and OOM
//! notices, one JSON object per line in runc's event shape `{"type","id","data"}`.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use libcgroups::common::CgroupManager;
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use libcontainer::container::ContainerStatus;
use serde::Serialize;

use super::{Context, cgroup_manager};

pub fn events(ctx: &Context, args: liboci_cli::Events) -> Result<()> {
    let mut container = ctx.load(&args.container_id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container {:?} is not running", args.container_id);
    }
    let cgroup = cgroup_manager(&container)?;
    if args.stats {
        let stats = cgroup
            .stats()
            .context("cannot read the container's cgroup statistics")?;
        println!(
            "{}",
            serde_json::to_string(&Event::stats(&args.container_id, &stats))?
        );
        return Ok(());
    }
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let mut oom_kills = None;
    loop {
        let stats = cgroup
            .stats()
            .context("cannot read the container's cgroup statistics")?;
        let kills = stats.memory.stats.get("oom_kill").copied();
        if let (Some(before), Some(now)) = (oom_kills, kills)
            && now > before
        {
            println!(
                "{}",
                serde_json::to_string(&Event::oom(&args.container_id))?
            );
        }
        oom_kills = kills;
        println!(
            "{}",
            serde_json::to_string(&Event::stats(&args.container_id, &stats))?
        );
        thread::sleep(Duration::from_secs(args.interval.into()));
        container.refresh_status()?;
        if container.status() == ContainerStatus::Stopped {
            return Ok(());
        }
    }
}

/// runc's `types.Event`.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<RuncStats>,
}

impl<'a> Event<'a> {
    fn stats(id: &'a str, stats: &Stats) -> Self {
        Self {
            kind: "stats",
            id,
            data: Some(RuncStats::from(stats)),
        }
    }

    fn oom(id: &'a str) -> Self {
        Self {
            kind: "oom",
            id,
            data: None,
        }
    }
}

/// runc's `types.Stats` (the fields cgroups provide here).
#[derive(Serialize)]
struct RuncStats {
    cpu: Cpu,
    memory: Memory,
    pids: Pids,
    blkio: Blkio,
    hugetlb: HashMap<String, Hugetlb>,
}

#[derive(Serialize)]
struct Cpu {
    usage: CpuUsage,
    throttling: Throttling,
}

#[derive(Serialize)]
struct CpuUsage {
    total: u64,
    percpu: Vec<u64>,
    percpu_kernel: Vec<u64>,
    percpu_user: Vec<u64>,
    kernel: u64,
    user: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Throttling {
    periods: u64,
    throttled_periods: u64,
    throttled_time: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Memory {
    cache: u64,
    usage: MemoryEntry,
    swap: MemoryEntry,
    kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    kernel_tcp: MemoryEntry,
    raw: HashMap<String, u64>,
}

#[derive(Serialize)]
struct MemoryEntry {
    limit: u64,
    usage: u64,
    max: u64,
    failcnt: u64,
}

impl From<&MemoryData> for MemoryEntry {
    fn from(data: &MemoryData) -> Self {
        Self {
            limit: data.limit,
            usage: data.usage,
            max: data.max_usage,
            failcnt: data.fail_count,
        }
    }
}

#[derive(Serialize)]
struct Pids {
    current: u64,
    limit: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blkio {
    io_service_bytes_recursive: Vec<BlkioEntry>,
    io_serviced_recursive: Vec<BlkioEntry>,
    io_queued_recursive: Vec<BlkioEntry>,
    io_service_time_recursive: Vec<BlkioEntry>,
    io_wait_time_recursive: Vec<BlkioEntry>,
    io_merged_recursive: Vec<BlkioEntry>,
    io_time_recursive: Vec<BlkioEntry>,
    sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Serialize)]
struct BlkioEntry {
    major: u64,
    minor: u64,
    op: String,
    value: u64,
}

fn blkio_entries(stats: &[BlkioDeviceStat]) -> Vec<BlkioEntry> {
    stats
        .iter()
        .map(|s| BlkioEntry {
            major: s.major,
            minor: s.minor,
            op: s.op_type.clone().unwrap_or_default(),
            value: s.value,
        })
        .collect()
}

#[derive(Serialize)]
struct Hugetlb {
    usage: u64,
    max: u64,
    failcnt: u64,
}

impl From<&Stats> for RuncStats {
    fn from(s: &Stats) -> Self {
        let usage = &s.cpu.usage;
        Self {
            cpu: Cpu {
                usage: CpuUsage {
                    total: usage.usage_total,
                    percpu: usage.per_core_usage_total.clone(),
                    percpu_kernel: usage.per_core_usage_kernel.clone(),
                    percpu_user: usage.per_core_usage_user.clone(),
                    kernel: usage.usage_kernel,
                    user: usage.usage_user,
                },
                throttling: Throttling {
                    periods: s.cpu.throttling.periods,
                    throttled_periods: s.cpu.throttling.throttled_periods,
                    throttled_time: s.cpu.throttling.throttled_time,
                },
            },
            memory: Memory {
                cache: s.memory.cache,
                usage: (&s.memory.memory).into(),
                swap: (&s.memory.memswap).into(),
                kernel: (&s.memory.kernel).into(),
                kernel_tcp: (&s.memory.kernel_tcp).into(),
                raw: s.memory.stats.clone(),
            },
            pids: Pids {
                current: s.pids.current,
                limit: s.pids.limit,
            },
            blkio: Blkio {
                io_service_bytes_recursive: blkio_entries(&s.blkio.service_bytes),
                io_serviced_recursive: blkio_entries(&s.blkio.serviced),
                io_queued_recursive: blkio_entries(&s.blkio.queued),
                io_service_time_recursive: blkio_entries(&s.blkio.service_time),
                io_wait_time_recursive: blkio_entries(&s.blkio.wait_time),
                io_merged_recursive: blkio_entries(&s.blkio.merged),
                io_time_recursive: blkio_entries(&s.blkio.time),
                sectors_recursive: blkio_entries(&s.blkio.sectors),
            },
            hugetlb: s
                .hugetlb
                .iter()
                .map(|(size, h)| {
                    let entry = Hugetlb {
                        usage: h.usage,
                        max: h.max_usage,
                        failcnt: h.fail_count,
                    };
                    (size.clone(), entry)
                })
                .collect(),
        }
    }
}
