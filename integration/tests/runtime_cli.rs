//! The informational subcommands: version, features, spec, completion, checkpoint/restore.

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
fn help_names_the_runtime_itself() {
    let bin = binaries::openshell();
    let subcommands = [
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
    ];
    for args in
        std::iter::once(vec!["--help"]).chain(subcommands.iter().map(|sub| vec![*sub, "--help"]))
    {
        let out = Command::new(&bin).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.to_lowercase().contains("youki"), "{args:?}: {text}");
    }
    let out = Command::new(&bin).arg("--help").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("openshell logs"),
        "the --log flag says whose logs it takes"
    );
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
