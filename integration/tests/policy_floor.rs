//! The policy is a floor: no path into a policy-governed container lowers it — `exec` (plain,
//! with a client's process spec, with `--cap`), `update`, the workload's own choice of policy
//! (annotation, environment, bundle file), the policy's audit destination — and failures
//! leave nothing behind.

use std::fs;
use std::path::Path;
use std::time::Duration;

use openshell_integration::bundle::Bundle;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::node::TestNode;
use openshell_integration::policies::sandbox_policy;
use openshell_integration::runtime::{Runtime, error_text, run_to_files};
use openshell_integration::{proc_status_field, unique_id, wait_for};
use serde_json::{Value, json};

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn hex(value: &str) -> u64 {
    u64::from_str_radix(value, 16).unwrap()
}

/// Docker's exec process spec for `args`: its 14 default capabilities plus CAP_SYS_ADMIN, no
/// noNewPrivileges, a generous nofile rlimit.
fn client_process(args: &[&str]) -> Value {
    let caps = json!([
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
        "CAP_AUDIT_WRITE",
        "CAP_SYS_ADMIN"
    ]);
    json!({
        "args": args, "cwd": "/", "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
        "env": ["PATH=/bin:/sbin:/usr/bin"],
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}],
        "noNewPrivileges": false
    })
}

const STATUS: &str = "cat /proc/self/status";

#[test]
fn exec_is_held_to_the_policy_under_every_syscall_profile() {
    let rt = Runtime::new();
    for profile in ["minimal", "default", "unconfined"] {
        let mut bundle = Bundle::new(&["sleep", "300"]);
        fs::write(
            bundle.path().join("openshell-policy.yaml"),
            sandbox_policy(
                &format!("exec-{profile}"),
                &["network: none", &format!("syscalls: {profile}")],
                &[],
            ),
        )
        .unwrap();
        bundle.edit(|c| {
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        });
        let id = unique_id(profile);
        rt.start_detached(&id, bundle.path());
        let init = fs::read_to_string(format!("/proc/{}/status", rt.pid(&id))).unwrap();
        let init_eff = hex(&proc_status_field(&init, "CapEff"));
        let init_bnd = hex(&proc_status_field(&init, "CapBnd"));
        assert_eq!(proc_status_field(&init, "NoNewPrivs"), "1");

        // A plain exec runs with the init's capabilities, filter and no-new-privileges.
        let plain = rt.ok(&["exec", &id, "sh", "-c", STATUS]);
        assert_eq!(
            hex(&proc_status_field(&plain, "CapEff")),
            init_eff,
            "{profile}"
        );
        assert_eq!(proc_status_field(&plain, "NoNewPrivs"), "1", "{profile}");
        assert_eq!(
            proc_status_field(&plain, "Seccomp"),
            proc_status_field(&init, "Seccomp"),
            "{profile}"
        );

        // A client's process spec (Docker's capabilities + SYS_ADMIN, no NNP) is only a request.
        let process = bundle.path().join("process.json");
        fs::write(
            &process,
            client_process(&["sh", "-c", &format!("{STATUS}; ulimit -n")]).to_string(),
        )
        .unwrap();
        let held = rt.ok(&["exec", "--process", path_arg(&process), &id]);
        let eff = hex(&proc_status_field(&held, "CapEff"));
        let bnd = hex(&proc_status_field(&held, "CapBnd"));
        assert_eq!(
            eff & !init_eff,
            0,
            "{profile}: CapEff {eff:x} beyond the init's {init_eff:x}"
        );
        assert_eq!(
            bnd & !init_bnd,
            0,
            "{profile}: CapBnd {bnd:x} beyond {init_bnd:x}"
        );
        assert_eq!(eff & (1 << 21), 0, "{profile}: CAP_SYS_ADMIN granted");
        assert_eq!(proc_status_field(&held, "NoNewPrivs"), "1", "{profile}");
        assert_eq!(
            held.trim_end().lines().last(),
            Some("1024"),
            "{profile}: {held}"
        );

        // Asking explicitly for more is refused, with the policy named.
        let err = rt.fails(&["exec", "--cap", "CAP_SYS_ADMIN", &id, "true"]);
        assert!(
            err.contains("--cap CAP_SYS_ADMIN is refused")
                && err.contains(&format!("exec-{profile}")),
            "{err}"
        );
        let mut privileged = client_process(&["true"]);
        let every: Vec<Value> = (0..41).map(|bit| json!(cap_name(bit))).collect();
        privileged["capabilities"] =
            json!({"bounding": every, "effective": every, "permitted": every});
        fs::write(&process, privileged.to_string()).unwrap();
        let err = rt.fails(&["exec", "--process", path_arg(&process), &id]);
        assert!(err.contains("privileged exec"), "{err}");
        // No process spec was left in the container's state.
        let staged = rt.root().join(".openshell").join(&id);
        let left: Vec<_> = fs::read_dir(&staged)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("exec-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        rt.ok(&["delete", "--force", &id]);
        assert_clean(rt.root(), &id, bundle.path());
    }
}

/// The kernel's name of capability `bit` (0..=40).
fn cap_name(bit: u32) -> String {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    format!("CAP_{}", NAMES[bit as usize])
}

/// A file of container `id`'s cgroup in the v1 `controller` hierarchy, trimmed.
fn cgroup_file(rt: &Runtime, id: &str, controller: &str, file: &str) -> String {
    fs::read_to_string(rt.cgroup_dir(id, controller).join(file))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn update_only_tightens_and_is_all_or_nothing() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    fs::write(
        bundle.path().join("openshell-policy.yaml"),
        sandbox_policy(
            "limits",
            &["network: none"],
            &["maxMemory: 256Mi", "maxCPU: 1", "maxPids: 64"],
        ),
    )
    .unwrap();
    let id = unique_id("update");
    rt.start_detached(&id, bundle.path());
    let memory = || cgroup_file(&rt, &id, "memory", "memory.limit_in_bytes");
    let pids = || cgroup_file(&rt, &id, "pids", "pids.max");
    let quota = || cgroup_file(&rt, &id, "cpu", "cpu.cfs_quota_us");
    assert_eq!((memory().as_str(), pids().as_str()), ("268435456", "64"));

    for (args, needle) in [
        (
            &["--memory", "2147483648", "--memory-swap", "2147483648"][..],
            "maxMemory 268435456",
        ),
        (&["--pids-limit", "100000"][..], "maxPids 64"),
        (&["--pids-limit=-1"][..], "unlimited pids limit"),
        // pids alone would be fine: the memory above the limit refuses the whole update.
        (
            &["--pids-limit", "32", "--memory", "2147483648"][..],
            "maxMemory",
        ),
        (&["--cpu-quota", "200000"][..], "maxCPU 1000m"),
    ] {
        let err = rt.fails(&[&["update"][..], args, &[id.as_str()][..]].concat());
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            (memory().as_str(), pids().as_str(), quota().as_str()),
            ("268435456", "64", "100000"),
            "{args:?} changed a limit"
        );
    }
    // --resources JSON: devices cannot be opened by an update.
    let resources = bundle.path().join("resources.json");
    fs::write(
        &resources,
        json!({"devices": [{"allow": true, "access": "rwm"}], "pids": {"limit": 32}}).to_string(),
    )
    .unwrap();
    let err = rt.fails(&["update", "--resources", path_arg(&resources), &id]);
    assert!(err.contains("devices"), "{err}");
    assert_eq!(pids(), "64");

    // The kernel refusing one controller (a memory limit far below usage) undoes the others.
    let err = rt.fails(&["update", "--pids-limit", "16", "--memory", "4096", &id]);
    assert!(err.contains("cannot update the cgroup"), "{err}");
    assert_eq!((memory().as_str(), pids().as_str()), ("268435456", "64"));

    // Tightening works and is recorded.
    rt.ok(&["update", "--pids-limit", "32", "--memory", "134217728", &id]);
    assert_eq!((memory().as_str(), pids().as_str()), ("134217728", "32"));
    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

/// A node whose policy directory holds `strict`, `stricter` and `loose`, with `extra` added to
/// its configuration.
fn node_with_policies(extra: &str) -> TestNode {
    let node = TestNode::default();
    let dir = node.path("policies");
    fs::create_dir_all(&dir).unwrap();
    let strict = [
        "network: none",
        "filesystem: read-only",
        "syscalls: default",
    ];
    for (name, isolation, resources) in [
        ("strict", &strict[..], &["maxPids: 64"][..]),
        (
            "stricter",
            &[
                "network: none",
                "filesystem: read-only",
                "syscalls: minimal",
            ][..],
            &["maxPids: 32"][..],
        ),
        (
            "loose",
            &[
                "network: none",
                "filesystem: read-write",
                "syscalls: unconfined",
            ][..],
            &["maxPids: 100000"][..],
        ),
    ] {
        fs::write(
            dir.join(format!("{name}.yaml")),
            sandbox_policy(name, isolation, resources),
        )
        .unwrap();
    }
    node.configure(&format!("policy_dir = \"{}\"\n{extra}", dir.display()));
    node
}

/// Creates `bundle` as a new container under `node` with the runtime's `flags`; returns the
/// attached policy's name (deleting the container) or the error.
fn attach(
    rt: &Runtime,
    node: &TestNode,
    bundle: &Bundle,
    flags: &[&str],
) -> Result<String, String> {
    let id = unique_id("attach");
    let out = run_to_files(
        rt.command()
            .env("OPENSHELL_CONFIG", node.config())
            .args(flags)
            .args(["create", "--bundle", path_arg(bundle.path()), &id]),
    );
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1));
        assert_clean(rt.root(), &id, bundle.path());
        return Err(error_text(&out.stderr));
    }
    let floor: Value = serde_json::from_str(
        &fs::read_to_string(rt.root().join(".openshell").join(&id).join("floor.json")).unwrap(),
    )
    .unwrap();
    rt.ok(&["delete", "--force", &id]);
    Ok(floor["policy"].as_str().unwrap().to_owned())
}

fn with_env(bundle: &mut Bundle, value: &str) {
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("OPENSHELL_POLICY={value}")))
    });
}

fn with_annotation(bundle: &mut Bundle, value: &str) {
    bundle.edit(|c| c["annotations"] = json!({"openshell.nvidia.com/policy": value}));
}

#[test]
fn workloads_pick_only_installed_names_no_looser_than_the_floor() {
    let rt = Runtime::new();
    let node = node_with_policies("");
    let strict = ["--default-policy", "strict"];

    // An image's ENV cannot loosen the operator's policy: every looser axis is named.
    let mut image = Bundle::new(&["true"]);
    with_env(&mut image, "loose");
    let err = attach(&rt, &node, &image, &strict).unwrap_err();
    for needle in [
        "policy \"loose\" from process environment OPENSHELL_POLICY is looser than the floor \"strict\" from --default-policy",
        "isolation.filesystem: read-write is looser than the floor's read-only",
        "isolation.syscalls: unconfined",
        "resources.maxPids: 100000 is above the floor's 64",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    // A stricter pick is taken; with none, the operator's policy applies.
    let mut stricter = Bundle::new(&["true"]);
    with_env(&mut stricter, "stricter");
    assert_eq!(attach(&rt, &node, &stricter, &strict).unwrap(), "stricter");
    assert_eq!(
        attach(&rt, &node, &Bundle::new(&["true"]), &strict).unwrap(),
        "strict"
    );
    // Without any floor the workload's pick stands (plain runc otherwise).
    assert_eq!(attach(&rt, &node, &image, &[]).unwrap(), "loose");

    // Names only: never a host path, a bundle-relative path or a file inside the image.
    fs::write(
        image.rootfs().join("evil.yaml"),
        sandbox_policy("evil", &["network: host"], &[]),
    )
    .unwrap();
    for reference in [
        node.path("policies/loose.yaml").display().to_string(),
        "rootfs/evil.yaml".to_owned(),
        "../policies/loose".to_owned(),
    ] {
        let mut bundle = Bundle::new(&["true"]);
        with_annotation(&mut bundle, &reference);
        let err = attach(&rt, &node, &bundle, &[]).unwrap_err();
        assert!(err.contains("not a path"), "{reference}: {err}");
    }

    // The node floor binds the operator's default as well as the workload.
    let floored = node_with_policies("[policy]\nfloor = \"strict\"\n");
    let err = attach(
        &rt,
        &floored,
        &Bundle::new(&["true"]),
        &["--default-policy", "loose"],
    )
    .unwrap_err();
    assert!(
        err.contains("looser than the floor \"strict\" from node configuration [policy] floor"),
        "{err}"
    );
    assert_eq!(
        attach(&rt, &floored, &Bundle::new(&["true"]), &[]).unwrap(),
        "strict"
    );

    // The node may forbid the choice, or limit it to listed names.
    let closed = node_with_policies("[policy]\nworkload_choice = \"none\"\n");
    let mut annotated = Bundle::new(&["true"]);
    with_annotation(&mut annotated, "stricter");
    let err = attach(&rt, &closed, &annotated, &strict).unwrap_err();
    assert!(err.contains("does not let workloads pick"), "{err}");
    let listed = node_with_policies("[policy]\nworkload_policies = [\"stricter\"]\n");
    assert_eq!(attach(&rt, &listed, &annotated, &[]).unwrap(), "stricter");
    let err = attach(&rt, &listed, &image, &[]).unwrap_err();
    assert!(err.contains("not one workloads may pick"), "{err}");
}

/// A SandboxPolicy with audit on, to `destination` (the node trail alone when `None`).
fn audited_policy(name: &str, destination: Option<&str>) -> String {
    let audit = match destination {
        Some(destination) => {
            format!("  auditLog:\n    enabled: true\n    destination: {destination}\n")
        }
        None => String::new(),
    };
    sandbox_policy(name, &["network: none"], &[])
        .replace("  auditLog:\n    enabled: false\n", &audit)
}

#[test]
fn a_workload_policy_audits_only_where_the_node_allows() {
    let rt = Runtime::new();
    let node = TestNode::default();
    let allowed = node.path("agents.jsonl");
    node.configure(&format!(
        "[siem]\nsecurity-events = \"http://127.0.0.1:9/ingest\"\n\
         [policy]\nworkload_audit_destinations = [\"file://{}\"]\n",
        allowed.display()
    ));
    // A host file a workload would like root to append to.
    let victim = node.path("victim.txt");
    fs::write(&victim, "untouched\n").unwrap();
    let victim_uri = format!("file://{}", victim.display());
    let allowed_uri = format!("file://{}", allowed.display());
    for (destination, accepted) in [
        (victim_uri.as_str(), false),
        ("syslog://192.0.2.1:514", false),
        ("siem://elsewhere", false),
        ("siem://security-events", true),
        (allowed_uri.as_str(), true),
    ] {
        let bundle = Bundle::new(&["true"]);
        fs::write(
            bundle.path().join("openshell-policy.yaml"),
            audited_policy("audited", Some(destination)),
        )
        .unwrap();
        match attach(&rt, &node, &bundle, &[]) {
            Ok(_) => assert!(accepted, "{destination} was accepted"),
            Err(err) => {
                assert!(!accepted, "{destination}: {err}");
                assert!(
                    err.contains("openshell-policy.yaml:")
                        && err.contains("is not a destination this node lets workloads use"),
                    "{err}"
                );
            }
        }
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
}

#[test]
fn a_policy_without_an_audit_log_starts_and_audits_to_the_node_trail() {
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    let bundle = Bundle::new(&["sh", "-c", "echo ran"]);
    let policy = audited_policy("no-audit-block", None);
    assert!(!policy.contains("auditLog"));
    fs::write(bundle.path().join("openshell-policy.yaml"), policy).unwrap();
    let id = unique_id("trail");
    assert_eq!(
        rt.ok(&["run", "--bundle", path_arg(bundle.path()), &id]),
        "ran\n"
    );
    assert!(
        wait_for(Duration::from_secs(10), || !node
            .trail_events(&id)
            .is_empty()),
        "no admission event in the node trail"
    );
    let events = node.trail_events(&id);
    assert!(
        events
            .iter()
            .any(|e| e.to_string().contains("sandbox.start")),
        "{events:?}"
    );
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn failed_creates_relative_configs_and_reserved_ids_leave_nothing() {
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    // The program does not exist: create fails after the createRuntime hook registered the
    // sandbox, and the registration goes again.
    let bundle = Bundle::new(&["/no/such/program"]);
    fs::write(
        bundle.path().join("openshell-policy.yaml"),
        sandbox_policy("missing-program", &["network: none"], &[]),
    )
    .unwrap();
    let id = unique_id("noprog");
    let err = rt.fails(&["create", "--bundle", path_arg(bundle.path()), &id]);
    assert!(err.contains("no/such/program"), "{err}");
    assert!(
        node.trail_events(&id)
            .iter()
            .any(|e| e.to_string().contains("sandbox.start")),
        "the createRuntime hook never ran, so this proves nothing"
    );
    assert!(
        !node.record(&id).exists(),
        "registration record left behind"
    );
    assert_clean(rt.root(), &id, bundle.path());

    // A relative --node-config works for the hooks too (they run from the bundle).
    let good = Bundle::new(&["true"]);
    fs::write(
        good.path().join("openshell-policy.yaml"),
        sandbox_policy("relative", &["network: none"], &[]),
    )
    .unwrap();
    let id = unique_id("relcfg");
    let out = run_to_files(
        rt.command()
            .env_remove("OPENSHELL_CONFIG")
            .current_dir(node.dir())
            .args([
                "--node-config",
                "config.toml",
                "run",
                "--bundle",
                path_arg(good.path()),
                &id,
            ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        node.trail_events(&id)
            .iter()
            .any(|e| e.to_string().contains("sandbox.start")),
        "the hook did not read the relative node configuration"
    );
    assert_clean(rt.root(), &id, good.path());

    // Ids that would collide with the runtime's own directories are refused.
    for reserved in [".openshell", ".seccomp", ".x"] {
        let err = rt.fails(&["create", "--bundle", path_arg(good.path()), reserved]);
        assert!(
            err.contains("reserved for the runtime"),
            "{reserved}: {err}"
        );
    }
}
