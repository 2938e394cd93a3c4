//! SandboxPolicy hardening proved from inside real containers.

use std::fs;
use std::path::Path;
use std::time::Duration;

use openshell_integration::bundle::Bundle;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::policies::sandbox_policy;
use openshell_integration::probe;
use openshell_integration::runtime::{Runtime, run_to_files};
use openshell_integration::{unique_id, wait_for};
use serde_json::{Value, json};

const ESCAPES: [&str; 9] = [
    "mount",
    "unshare",
    "ptrace",
    "keyctl",
    "bpf",
    "kexec_load",
    "init_module",
    "memfd_create",
    "io_uring_setup",
];

fn attach(bundle: &Bundle, policy: &str) {
    fs::write(bundle.path().join("openshell-policy.yaml"), policy).unwrap();
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn profile_policy(profile: &str) -> String {
    sandbox_policy(
        &format!("test-{profile}"),
        &[
            "network: none",
            "filesystem: read-only",
            &format!("syscalls: {profile}"),
        ],
        &[],
    )
}

#[test]
fn escape_syscalls_fail_under_minimal_and_default() {
    let rt = Runtime::new();
    // Control: the same probes in a plain container given the capabilities they need and no
    // seccomp filter, so a refusal below is the policy's doing.
    let mut control = Bundle::new(&[&["/bin/syscall-probe"][..], &ESCAPES[..]].concat());
    probe::install(&control.rootfs());
    control.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            for cap in [
                "CAP_SYS_ADMIN",
                "CAP_SYS_PTRACE",
                "CAP_SYS_BOOT",
                "CAP_SYS_MODULE",
                "CAP_BPF",
            ] {
                caps.push(json!(cap));
            }
        }
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    });
    let plain = probe::results(&rt.ok(&[
        "run",
        "--bundle",
        path_arg(control.path()),
        &unique_id("control"),
    ]));
    assert_eq!(plain.len(), ESCAPES.len());
    let reached_kernel: Vec<&str> = plain
        .iter()
        .filter(|(_, outcome)| outcome != "errno 1")
        .map(|(name, _)| name.as_str())
        .collect();
    // bpf is refused by this host's kernel to root too; every other probe must get through.
    for name in ESCAPES.iter().filter(|n| **n != "bpf") {
        assert!(
            reached_kernel.contains(name),
            "control: {name} should reach the kernel: {plain:?}"
        );
    }

    for profile in ["minimal", "default"] {
        let bundle = Bundle::new(&[&["/bin/syscall-probe"][..], &ESCAPES[..]].concat());
        probe::install(&bundle.rootfs());
        attach(&bundle, &profile_policy(profile));
        let id = unique_id(profile);
        let hardened = probe::results(&rt.ok(&["run", "--bundle", path_arg(bundle.path()), &id]));
        for (name, outcome) in &hardened {
            assert_eq!(
                outcome, "errno 1",
                "{profile}: {name} must fail with EPERM: {hardened:?}"
            );
        }
        assert_eq!(hardened.len(), ESCAPES.len());
        assert_clean(rt.root(), &id, bundle.path());
    }
}

#[test]
fn ordinary_work_still_runs_under_minimal() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "echo data > /tmp/f && cat /tmp/f && ls / >/dev/null && sort </tmp/f && wc -c </tmp/f && grep -c data /tmp/f && sleep 0.01 && ip -o link | wc -l && echo done",
    ]);
    attach(&bundle, &profile_policy("minimal"));
    let out = rt.ok(&[
        "run",
        "--bundle",
        path_arg(bundle.path()),
        &unique_id("work"),
    ]);
    assert_eq!(out, "data\ndata\n5\n1\n1\ndone\n");
}

#[test]
fn read_only_root_with_scratch_tmpfs_and_seccomp_in_force() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "touch /x 2>&1; touch /tmp/ok && echo tmp-writable; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
    ]);
    attach(&bundle, &profile_policy("default"));
    let out = rt.ok(&["run", "--bundle", path_arg(bundle.path()), &unique_id("ro")]);
    assert!(out.contains("touch: /x: Read-only file system"), "{out}");
    assert!(out.contains("tmp-writable"), "{out}");
    assert!(
        out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t1"),
        "{out}"
    );
}

#[test]
fn network_none_leaves_only_loopback() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["sh", "-c", "ip -o link | cut -d: -f2"]);
    // The caller asks to share a network namespace by path; the policy replaces it.
    bundle.edit(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "network");
        namespaces.push(json!({"type": "network", "path": "/proc/1/ns/net"}));
    });
    attach(&bundle, &profile_policy("default"));
    let out = rt.ok(&[
        "run",
        "--bundle",
        path_arg(bundle.path()),
        &unique_id("net"),
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        vec!["lo"],
        "{out}"
    );
}

fn cap_bit(name: &str) -> u64 {
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
    ];
    1 << caps
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("unknown cap {name}"))
}

#[test]
fn cap_eff_matches_the_compiled_set() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["sh", "-c", "grep ^CapEff: /proc/self/status | cut -f2"]);
    // The caller asks for more than the policy allows, including CAP_SYS_ADMIN.
    bundle.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            for cap in ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_SETUID", "CAP_NET_RAW"] {
                caps.push(json!(cap));
            }
        }
    });
    let policy = profile_policy("default");
    attach(&bundle, &policy);
    let compiled: Value = serde_json::from_str(&rt.ok(&[
        "policy",
        "compile",
        path_arg(&bundle.path().join("openshell-policy.yaml")),
        "--bundle",
        path_arg(bundle.path()),
    ]))
    .unwrap();
    let effective: Vec<&str> = compiled["process"]["capabilities"]["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(!effective.contains(&"CAP_SYS_ADMIN") && !effective.contains(&"CAP_NET_RAW"));
    assert!(
        effective.contains(&"CAP_CHOWN") && effective.contains(&"CAP_KILL"),
        "{effective:?}"
    );
    let expected: u64 = effective.iter().map(|c| cap_bit(c)).sum();
    let out = rt.ok(&[
        "run",
        "--bundle",
        path_arg(bundle.path()),
        &unique_id("caps"),
    ]);
    let actual = u64::from_str_radix(out.trim(), 16).unwrap();
    assert_eq!(actual, expected, "CapEff {out} vs compiled {effective:?}");
}

#[test]
fn memory_hog_is_oom_killed_at_max_memory() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&[
        "awk",
        "BEGIN { s = \"xxxxxxxxxxxxxxxx\"; while (1) s = s s }",
    ]);
    attach(
        &bundle,
        &sandbox_policy(
            "hog",
            &["network: none", "syscalls: default"],
            &["maxMemory: 32Mi"],
        ),
    );
    let id = unique_id("oom");
    rt.ok(&["create", "--bundle", path_arg(bundle.path()), &id]);
    let memory = rt.cgroup_dir(&id, "memory");
    assert_eq!(
        fs::read_to_string(memory.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "33554432"
    );
    rt.ok(&["start", &id]);
    assert!(
        wait_for(Duration::from_secs(20), || rt.status(&id) == "stopped"),
        "the hog kept running"
    );
    let oom_control = fs::read_to_string(memory.join("memory.oom_control")).unwrap();
    let kills: u64 = oom_control
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .map(|n| n.trim().parse().unwrap())
        .expect("oom_kill counter");
    assert!(kills >= 1, "{oom_control}");
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn fork_bomb_is_held_at_max_pids() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; sleep 300",
    ]);
    attach(
        &bundle,
        &sandbox_policy(
            "forks",
            &["network: none", "syscalls: default"],
            &["maxPids: 16"],
        ),
    );
    let id = unique_id("pids");
    rt.start_detached(&id, bundle.path());
    let pids = rt.cgroup_dir(&id, "pids");
    assert_eq!(
        fs::read_to_string(pids.join("pids.max")).unwrap().trim(),
        "16"
    );
    assert!(wait_for(Duration::from_secs(10), || {
        fs::read_to_string(pids.join("pids.events")).is_ok_and(|e| !e.contains("max 0"))
    }));
    let current: u64 = fs::read_to_string(pids.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 16, "pids.current {current} above the limit");
    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn cpu_quota_is_set_in_the_cgroup() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    attach(
        &bundle,
        &sandbox_policy("cpu", &["network: none"], &["maxCPU: 500m"]),
    );
    let id = unique_id("cpu");
    rt.start_detached(&id, bundle.path());
    let cpu = rt.cgroup_dir(&id, "cpu");
    assert_eq!(
        fs::read_to_string(cpu.join("cpu.cfs_period_us"))
            .unwrap()
            .trim(),
        "100000"
    );
    assert_eq!(
        fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
            .unwrap()
            .trim(),
        "50000"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn a_bad_policy_fails_create_with_its_position_and_leaves_nothing() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let policy = profile_policy("default").replace("network: none", "netwrk: none");
    attach(&bundle, &policy);
    let id = unique_id("badpolicy");
    let err = rt.fails(&["create", "--bundle", path_arg(bundle.path()), &id]);
    let file = fs::canonicalize(bundle.path())
        .unwrap()
        .join("openshell-policy.yaml");
    assert!(
        err.contains(&format!("{}:7:5: unknown field 'netwrk'", file.display())),
        "{err}"
    );
    assert!(err.contains("did you mean 'network'"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn the_callers_bundle_is_never_edited() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    attach(&bundle, &profile_policy("minimal"));
    let before = fs::read(bundle.path().join("config.json")).unwrap();
    let id = unique_id("pristine");
    rt.ok(&["create", "--bundle", path_arg(bundle.path()), &id]);
    assert_eq!(fs::read(bundle.path().join("config.json")).unwrap(), before);
    let staged: Value = serde_json::from_str(
        &fs::read_to_string(rt.root().join(".openshell").join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        staged["annotations"]["openshell.nvidia.com/policy"],
        "test-minimal"
    );
    assert!(
        staged["annotations"]["openshell.nvidia.com/policy-digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let state = rt.state(&id);
    assert_eq!(
        state["annotations"]["openshell.nvidia.com/policy"],
        "test-minimal"
    );
    rt.ok(&["delete", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn policies_attach_in_order_and_the_env_selector_is_removed() {
    let rt = Runtime::new();
    let policies = tempfile::tempdir().unwrap();
    for name in ["from-env", "from-flag", "from-node"] {
        fs::write(
            policies.path().join(format!("{name}.yaml")),
            sandbox_policy(name, &["network: none"], &[]),
        )
        .unwrap();
    }
    let config = policies.path().join("config.toml");
    fs::write(
        &config,
        // The registry and the audit trail stay in the test's directory, not the host's.
        format!(
            "policy_dir = \"{0}\"\ndefault_policy = \"from-node\"\nregistry_dir = \"{0}/registry\"\n\
             [audit]\nspool_dir = \"{0}/spool\"\ntrail = \"{0}/trail.jsonl\"\n",
            policies.path().display()
        ),
    )
    .unwrap();
    let staged_policy = |id: &str| -> String {
        let staged: Value = serde_json::from_str(
            &fs::read_to_string(rt.root().join(".openshell").join(id).join("config.json")).unwrap(),
        )
        .unwrap();
        staged["annotations"]["openshell.nvidia.com/policy"]
            .as_str()
            .unwrap_or("none")
            .to_owned()
    };
    let create = |bundle: &Bundle, extra: &[&str]| -> String {
        let id = unique_id("order");
        let out = run_to_files(
            rt.command()
                .env("OPENSHELL_CONFIG", &config)
                .args(extra)
                .args(["create", "--bundle", path_arg(bundle.path()), &id]),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let attached = staged_policy(&id);
        rt.ok(&["delete", "--force", &id]);
        attached
    };

    let mut bundle = Bundle::new(&["sh", "-c", "env"]);
    assert_eq!(create(&bundle, &[]), "from-node");
    assert_eq!(
        create(&bundle, &["--default-policy", "from-flag"]),
        "from-flag"
    );
    attach(
        &bundle,
        &sandbox_policy("from-bundle", &["network: none"], &[]),
    );
    assert_eq!(
        create(&bundle, &["--default-policy", "from-flag"]),
        "from-bundle"
    );
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("OPENSHELL_POLICY=from-env"))
    });
    assert_eq!(create(&bundle, &[]), "from-env");
    bundle.edit(|c| c["annotations"] = json!({"openshell.nvidia.com/policy": "from-node"}));
    assert_eq!(create(&bundle, &[]), "from-node");

    // The agent never sees the selector variable.
    let id = unique_id("env");
    let out = run_to_files(rt.command().env("OPENSHELL_CONFIG", &config).args([
        "run",
        "--bundle",
        path_arg(bundle.path()),
        &id,
    ]));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && env.contains("PATH=") && !env.contains("OPENSHELL_POLICY"),
        "{env}"
    );

    // Names must exist; the environment may not point at a file.
    let mut missing = Bundle::new(&["true"]);
    missing.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("OPENSHELL_POLICY=/etc/passwd"))
    });
    let id = unique_id("envpath");
    let out = run_to_files(rt.command().env("OPENSHELL_CONFIG", &config).args([
        "create",
        "--bundle",
        path_arg(missing.path()),
        &id,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a path"));
    assert_clean(rt.root(), &id, missing.path());
    let plain = Bundle::new(&["true"]);
    let out = run_to_files(rt.command().env("OPENSHELL_CONFIG", &config).args([
        "--default-policy",
        "nope",
        "create",
        "--bundle",
        path_arg(plain.path()),
        &id,
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = openshell_integration::runtime::error_text(&out.stderr);
    assert!(
        err.contains("policy \"nope\" (from --default-policy) not found"),
        "{err}"
    );
    assert_clean(rt.root(), &id, plain.path());
}

#[test]
fn policy_cli_validates_compiles_and_explains() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    fs::write(&good, profile_policy("minimal")).unwrap();
    let bad = dir.path().join("bad.yaml");
    fs::write(
        &bad,
        profile_policy("minimal").replace("syscalls: minimal", "syscalls: tiny"),
    )
    .unwrap();

    let out = rt.ok(&["policy", "validate", path_arg(&good)]);
    assert!(out.contains("ok (test-minimal sha256:"), "{out}");
    let err = rt.fails(&["policy", "validate", path_arg(&good), path_arg(&bad)]);
    assert!(err.contains(&format!("{}:9:15:", bad.display())), "{err}");
    assert!(err.contains("1 of 2 policy files are invalid"), "{err}");

    let explanation = rt.ok(&["policy", "explain", path_arg(&good)]);
    for expected in [
        "Capabilities",
        "removed: CAP_AUDIT_WRITE",
        "System calls",
        "denied:",
        "ptrace",
    ] {
        assert!(
            explanation.contains(expected),
            "missing {expected:?}:\n{explanation}"
        );
    }
}
