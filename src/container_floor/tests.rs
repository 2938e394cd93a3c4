use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};
use serde_json::json;

use super::*;

fn floor() -> ContainerFloor {
    serde_json::from_value(json!({
        "policy": "agent",
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": [],
            "ambient": []
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "apparmor_profile": null,
        "selinux_label": null,
        "oom_score_adj": 100,
        "max_memory": 268435456u64,
        "max_cpu_millicores": 1000,
        "max_pids": 64
    }))
    .unwrap()
}

/// Docker's exec process spec: its 14 default capabilities, no noNewPrivileges.
fn docker_process() -> Process {
    let docker_caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    serde_json::from_value(json!({
        "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": docker_caps, "effective": docker_caps,
                         "permitted": docker_caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}],
        "oomScoreAdj": -999,
        "apparmorProfile": "unconfined",
        "noNewPrivileges": false
    }))
    .unwrap()
}

fn names(set: &Option<Capabilities>) -> Vec<String> {
    let mut names: Vec<String> = set.iter().flatten().map(|c| c.to_string()).collect();
    names.sort();
    names
}

#[test]
fn a_client_process_is_held_to_the_init() {
    let held = floor().hold_process(docker_process(), &[]).unwrap();
    let caps = held.capabilities().as_ref().unwrap();
    for set in [caps.bounding(), caps.effective(), caps.permitted()] {
        assert_eq!(names(set), ["CHOWN", "KILL"]);
    }
    assert!(names(caps.inheritable()).is_empty() && names(caps.ambient()).is_empty());
    assert_eq!(held.no_new_privileges(), Some(true));
    let rlimits = held.rlimits().as_ref().unwrap();
    let nofile = rlimits
        .iter()
        .find(|r| r.hard() == 1024)
        .expect("nofile held");
    assert_eq!(nofile.soft(), 1024);
    assert_eq!(
        rlimits.len(),
        2,
        "the lower RLIMIT_CORE request is kept: {rlimits:?}"
    );
    assert_eq!(held.oom_score_adj(), Some(100));
    assert_eq!(held.apparmor_profile(), &None);
}

#[test]
fn explicit_and_privileged_requests_beyond_the_floor_are_refused() {
    let err = floor()
        .hold_process(docker_process(), &["CAP_SYS_ADMIN".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--cap CAP_SYS_ADMIN is refused") && err.contains("\"agent\""),
        "{err}"
    );
    assert!(
        floor()
            .hold_process(docker_process(), &["CAP_KILL".into()])
            .is_ok()
    );
    let mut privileged = docker_process();
    let every: Capabilities = caps::all()
        .iter()
        .map(|c| parse_capability(&c.to_string()).unwrap())
        .collect();
    let mut all = LinuxCapabilities::default();
    all.set_bounding(Some(every.clone()))
        .set_effective(Some(every));
    privileged.set_capabilities(Some(all));
    let err = floor()
        .hold_process(privileged, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("privileged exec"), "{err}");
}

fn resources(
    memory: Option<(i64, Option<i64>)>,
    quota: Option<i64>,
    pids: Option<i64>,
) -> LinuxResources {
    let mut builder = LinuxResourcesBuilder::default();
    if let Some((limit, swap)) = memory {
        let mut m = LinuxMemoryBuilder::default().limit(limit);
        if let Some(swap) = swap {
            m = m.swap(swap);
        }
        builder = builder.memory(m.build().unwrap());
    }
    if let Some(quota) = quota {
        builder = builder.cpu(
            LinuxCpuBuilder::default()
                .quota(quota)
                .period(100_000u64)
                .build()
                .unwrap(),
        );
    }
    if let Some(pids) = pids {
        builder = builder.pids(LinuxPidsBuilder::default().limit(pids).build().unwrap());
    }
    builder.build().unwrap()
}

#[test]
fn updates_may_only_tighten() {
    let current = resources(Some((256 << 20, Some(256 << 20))), Some(100_000), Some(64));
    let f = floor();
    assert!(
        f.check_update(
            &resources(Some((128 << 20, None)), None, Some(32)),
            &current
        )
        .is_ok()
    );
    for (update, needle) in [
        (
            resources(Some((2 << 30, Some(2 << 30))), None, None),
            "maxMemory",
        ),
        (
            resources(Some((128 << 20, Some(2 << 30))), None, None),
            "memory+swap",
        ),
        (
            resources(Some((-1, None)), None, None),
            "unlimited memory limit",
        ),
        (resources(None, None, Some(100_000)), "maxPids 64"),
        (resources(None, None, Some(-1)), "unlimited pids"),
        (resources(None, Some(150_000), None), "maxCPU 1000m"),
        (resources(None, Some(-1), None), "CPU quota unlimited"),
    ] {
        let err = f.check_update(&update, &current).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
