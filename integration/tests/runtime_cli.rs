//! The informational subcommands: version, features, spec, completion, checkpoint/restore; and
//! the conventions runc's clients (and youki's conformance suite) rely on.

use std::fs;
use std::process::Command;

use openshell_integration::binaries;
use openshell_integration::runtime::Runtime;
use serde_json::Value;

#[test]
fn version_names_runtime_spec_and_libseccomp() {
    for flag in ["--version", "-v"] {
        let out = Command::new(binaries::openshell())
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("openshell version "), "{text}");
        assert!(text.lines().any(|l| l.starts_with("spec: 1.")), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("libseccomp: 2.")),
            "{text}"
        );
    }
}

#[test]
fn features_describes_hooks_cgroups_and_seccomp() {
    let out = Command::new(binaries::openshell())
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert!(
        features["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "createRuntime")
    );
    assert_eq!(features["linux"]["cgroup"]["v1"], true);
    assert_eq!(features["linux"]["cgroup"]["v2"], true);
    assert_eq!(features["linux"]["seccomp"]["enabled"], true);
    let actions = features["linux"]["seccomp"]["actions"].as_array().unwrap();
    assert!(
        actions.iter().any(|a| a == "SCMP_ACT_NOTIFY"),
        "{actions:?}"
    );
    assert!(
        features["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN")
    );
}

#[test]
fn spec_writes_a_runnable_config_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let bin = binaries::openshell();
    let out = Command::new(&bin)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let config: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["root"]["path"], "rootfs");
    assert_eq!(config["process"]["args"][0], "sh");
    assert_eq!(config["hostname"], "openshell");

    let out = Command::new(&bin)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));

    let rootless = tempfile::tempdir().unwrap();
    let out = Command::new(&bin)
        .args(["spec", "--rootless", "--bundle"])
        .arg(rootless.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let config: Value =
        serde_json::from_str(&fs::read_to_string(rootless.path().join("config.json")).unwrap())
            .unwrap();
    let namespaces = config["linux"]["namespaces"].as_array().unwrap();
    assert!(namespaces.iter().any(|n| n["type"] == "user"));
    assert!(!namespaces.iter().any(|n| n["type"] == "network"));
    assert_eq!(config["linux"]["uidMappings"][0]["containerID"], 0);
    assert_eq!(config["hostname"], "openshell");
}

#[test]
fn completion_scripts_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(binaries::openshell())
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("openshell") && text.contains("checkpoint"),
            "{shell}: {text}"
        );
    }
}

#[test]
fn checkpoint_and_restore_are_clearly_unsupported() {
    let rt = Runtime::new();
    for args in [vec!["checkpoint", "c1"], vec!["restore", "c1"]] {
        let err = rt.fails(&args);
        assert!(err.contains("not supported"), "{args:?}: {err}");
    }
}

/// The repository root (this crate lives one level below it).
fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn policy_validate_reports_every_problem_a_summary_and_json() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    fs::copy(repository().join("bundles/bench-hardened.yaml"), &good).unwrap();
    let bad = dir.path().join("bad.yaml");
    fs::write(
        &bad,
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: bad\nspec:\n  \
         isolation:\n    netwrk: none\n  resources:\n    maxPids: -3\n---\nnetworkPolicy:\n  \
         egress:\n    allow:\n      - domain: '*.com'\n",
    )
    .unwrap();
    let (good_arg, bad_arg) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let out = rt.output(&["policy", "validate", good_arg, bad_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(&format!("{good_arg}: ok (sales-ops-agent sha256:")),
        "{stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].starts_with(&format!("{bad_arg}:7:5: unknown field 'netwrk'")));
    assert!(lines[0].contains("— did you mean 'network'? (see docs/policy-reference.md#"));
    assert!(lines[1].starts_with(&format!(
        "{bad_arg}:9:14: spec.resources.maxPids must be a whole number, 0 or more, got '-3'"
    )));
    assert!(lines[2].starts_with(&format!("{bad_arg}:14:17: networkPolicy.egress.allow[0]")));
    assert_eq!(lines[3], "1 of 2 policy files are invalid, 3 problems");

    let out = rt.output(&["policy", "validate", "--format", "json", good_arg, bad_arg]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["files"], 2);
    assert_eq!(report["summary"]["invalid"], 1);
    assert_eq!(report["summary"]["problems"], 3);
    assert_eq!(report["files"][0]["valid"], true);
    assert_eq!(report["files"][0]["name"], "sales-ops-agent");
    let problems = report["files"][1]["problems"].as_array().unwrap();
    assert_eq!(problems[0]["line"], 7);
    assert_eq!(problems[0]["column"], 5);
    assert_eq!(
        problems[0]["message"].as_str().unwrap().split(" (").next(),
        Some("unknown field 'netwrk' in spec.isolation")
    );

    let out = rt.ok(&["policy", "validate", good_arg]);
    assert!(
        out.ends_with("0 of 1 policy files are invalid, 0 problems\n"),
        "{out}"
    );
    // A missing file is a problem of its own, reported with the others.
    let missing = dir.path().join("absent.yaml");
    let err = rt.fails(&["policy", "validate", missing.to_str().unwrap(), bad_arg]);
    assert!(
        err.contains("absent.yaml: cannot read policy file"),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("2 of 2 policy files are invalid, 4 problems"),
        "{err}"
    );
}

#[test]
fn policy_schema_and_reference_print_what_the_repository_ships() {
    for (command, shipped) in [
        ("schema", "docs/openshell-policy.schema.json"),
        ("reference", "docs/policy-reference.md"),
    ] {
        let out = Command::new(binaries::openshell())
            .args(["policy", command])
            .output()
            .unwrap();
        assert!(out.status.success());
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            printed,
            fs::read_to_string(repository().join(shipped)).unwrap()
        );
    }
}

#[test]
fn help_speaks_of_openshell_with_examples() {
    let help = |args: &[&str]| {
        let out = Command::new(binaries::openshell())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert!(
        top.contains("Examples:") && top.contains("openshell policy validate"),
        "{top}"
    );
    assert!(top.contains("Write openshell's log to this file"), "{top}");
    assert!(!top.to_lowercase().contains("youki"), "{top}");
    for command in [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "ps",
        "pause",
        "resume",
        "events",
        "update",
        "features",
        "spec",
        "list",
        "checkpoint",
        "restore",
        "policy",
        "gpu",
        "audit",
        "approvals",
    ] {
        let text = help(&[command, "--help"]);
        assert!(!text.to_lowercase().contains("youki"), "{command}: {text}");
        assert!(!text.contains("Reference: https://"), "{command}: {text}");
    }
    assert!(help(&["policy", "validate", "--help"]).contains("--format json"));
    assert!(help(&["audit", "--help"]).contains("Examples:"));
    assert!(help(&["approvals", "--help"]).contains("Examples:"));
}

#[test]
fn container_commands_accept_a_unique_id_prefix() {
    let rt = Runtime::new();
    let bundle = openshell_integration::bundle::Bundle::new(&["sleep", "30"]);
    let nonce = format!("{:08x}", std::process::id());
    let first = format!("{nonce}a1{}", "0".repeat(54));
    let second = format!("{nonce}b2{}", "0".repeat(54));
    let bundle_arg = bundle.path().to_str().unwrap();
    for id in [&first, &second] {
        rt.ok(&["create", "--bundle", bundle_arg, id]);
    }
    let state: Value = serde_json::from_str(&rt.ok(&["state", &first[..10]])).unwrap();
    assert_eq!(state["id"], first.as_str());
    let err = rt.fails(&["state", &nonce]);
    assert!(
        err.contains(&format!(
            "container id prefix \"{nonce}\" is ambiguous: it begins {first}, {second}"
        )),
        "{err}"
    );
    rt.ok(&["delete", "--force", &second[..10]]);
    assert!(!rt.root().join(&second).exists());
    // With the other gone the short prefix is unique.
    rt.ok(&["delete", "--force", &nonce]);
    assert!(!rt.root().join(&first).exists());
}

/// `kill ID KILL` followed at once by `delete ID` (no `--force`) is how containerd's runc shim
/// and youki's conformance suite end a container. The init here holds 256 MiB, so the kernel
/// takes a while to tear it down after SIGKILL: `kill` must return only once it has died, or the
/// `delete` finds it still running, fails, and leaves the container's cgroups behind.
#[test]
fn delete_right_after_kill_finds_the_container_stopped() {
    let rt = Runtime::new();
    let bundle = openshell_integration::bundle::Bundle::new(&[
        "sh",
        "-c",
        "mkfifo /dev/shm/f; sleep 1000 < /dev/shm/f & \
         exec dd if=/dev/zero of=/dev/shm/f bs=256M count=1",
    ]);
    for round in 0..3 {
        let id = openshell_integration::unique_id("killdel");
        rt.start_detached(&id, bundle.path());
        let pid = rt.pid(&id);
        // dd has filled its buffer and blocks writing to a fifo nobody reads.
        let resident_kib = || {
            fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                })
                .unwrap_or(0)
        };
        assert!(
            openshell_integration::wait_for(std::time::Duration::from_secs(10), || {
                resident_kib() > 200 * 1024
            }),
            "round {round}: the init never held its buffer ({} KiB)",
            resident_kib()
        );
        let memory_cgroup = rt.cgroup_dir(&id, "memory");
        assert!(memory_cgroup.is_dir());
        rt.ok(&["kill", &id, "KILL"]);
        rt.ok(&["delete", &id]);
        openshell_integration::leftovers::assert_clean(rt.root(), &id, bundle.path());
        assert!(!memory_cgroup.exists(), "{} left", memory_cgroup.display());
    }
}
