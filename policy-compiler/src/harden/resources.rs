//! Memory, CPU and process limits: the lower of the caller's and the policy's.

use oci_spec::runtime::{Linux, LinuxCpu, LinuxPids, LinuxResources};

use crate::documents::Resources;

/// CFS period used for `maxCPU`, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// A limit the caller set, if it limits anything (0 and negative values mean "none").
fn set_limit(value: Option<i64>) -> Option<i64> {
    value.filter(|limit| *limit > 0)
}

pub(super) fn apply(linux: &mut Linux, policy: &Resources) {
    let resources = linux
        .resources_mut()
        .get_or_insert_with(LinuxResources::default);
    if let Some(max) = &policy.max_memory {
        let wanted = i64::try_from(max.bytes()).unwrap_or(i64::MAX);
        let mut memory = (*resources.memory()).unwrap_or_default();
        let limit = set_limit(memory.limit()).map_or(wanted, |caller| caller.min(wanted));
        memory.set_limit(Some(limit));
        // memory+swap equal to memory: no swap.
        memory.set_swap(Some(limit));
        resources.set_memory(Some(memory));
    }
    if let Some(max) = &policy.max_cpu {
        let quota = i64::try_from(max.millicores() * CPU_PERIOD_US / 1000).unwrap_or(i64::MAX);
        let mut cpu: LinuxCpu = resources.cpu().clone().unwrap_or_default();
        let caller_is_lower = match (set_limit(cpu.quota()), cpu.period().filter(|p| *p > 0)) {
            (Some(caller_quota), period) => {
                let period = i128::from(period.unwrap_or(CPU_PERIOD_US));
                // caller_quota / period <= quota / CPU_PERIOD_US, without division.
                i128::from(caller_quota) * i128::from(CPU_PERIOD_US) <= i128::from(quota) * period
            }
            (None, _) => false,
        };
        if !caller_is_lower {
            cpu.set_quota(Some(quota));
            cpu.set_period(Some(CPU_PERIOD_US));
        }
        resources.set_cpu(Some(cpu));
    }
    if let Some(max) = &policy.max_pids {
        let wanted = i64::try_from(max.value).unwrap_or(i64::MAX);
        let caller = resources.pids().as_ref().map(|pids| pids.limit());
        let limit = set_limit(caller).map_or(wanted, |caller| caller.min(wanted));
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        resources.set_pids(Some(pids));
    }
}
