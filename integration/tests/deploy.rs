//! The deployment files under `deploy/` parse and name what the workspace builds: the
//! Kubernetes RuntimeClass and example pod, and the node services' systemd units, whose
//! `ExecStart` runs a built binary with flags it accepts.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use openshell_integration::binaries;
use openshell_policy::POLICY_ANNOTATION;
use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn yaml(path: &str) -> Value {
    let path = deploy(path);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn runtime_class_selects_the_openshell_handler() {
    let class = yaml("kubernetes/runtimeclass.yaml");
    assert_eq!(class["apiVersion"], "node.k8s.io/v1");
    assert_eq!(class["kind"], "RuntimeClass");
    assert_eq!(class["handler"], "openshell");
    let name = class["metadata"]["name"].as_str().expect("a name");

    let pod = yaml("kubernetes/agent-pod.yaml");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["spec"]["runtimeClassName"], name);
    let policy = pod["metadata"]["annotations"][POLICY_ANNOTATION]
        .as_str()
        .expect("the pod names its policy by the runtime's annotation");
    // The example names one of the repository's example policies.
    let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles");
    let named = fs::read_dir(&bundles)
        .unwrap()
        .flatten()
        .filter_map(|entry| fs::read_to_string(entry.path().join("openshell-policy.yaml")).ok())
        .any(|text| text.contains(&format!("name: {policy}")));
    assert!(named, "no example policy is named {policy}");
}

/// A unit file's sections, each a map of key to its (last) value.
fn unit(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}:{}: not key=value", path.display(), number + 1));
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("{}:{}: outside a section", path.display(), number + 1));
        sections
            .entry(section)
            .or_default()
            .insert(key.trim().to_owned(), value.trim().to_owned());
    }
    sections
}

#[test]
fn node_service_units_run_built_binaries_with_flags_they_accept() {
    let dir = deploy("systemd");
    let mut services = Vec::new();
    for entry in fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let sections = unit(&path);
        for section in ["Unit", "Service", "Install"] {
            assert!(
                sections.contains_key(section),
                "{}: no [{section}]",
                path.display()
            );
        }
        assert_eq!(sections["Install"]["WantedBy"], "multi-user.target");
        // The runtime's hooks reach the services at create: they start before the runtimes.
        assert!(
            sections["Unit"]["Before"].contains("containerd.service"),
            "{}",
            path.display()
        );
        let exec = &sections["Service"]["ExecStart"];
        let mut words = exec.split_whitespace();
        let program = Path::new(words.next().expect("a program"));
        assert_eq!(
            program.parent(),
            Some(Path::new("/usr/local/bin")),
            "{exec}"
        );
        let name = program.file_name().unwrap().to_str().unwrap();
        let help = Command::new(binaries::path(name))
            .arg("--help")
            .output()
            .unwrap();
        assert!(help.status.success(), "{name} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words.filter(|w| w.starts_with("--")) {
            assert!(help.contains(flag), "{name} does not accept {flag}");
        }
        services.push(name.to_owned());
    }
    services.sort();
    assert_eq!(
        services,
        [
            "nemotron-service",
            "openshell-approvals",
            "openshell-egress",
            "openshell-router",
            "openshell-supervisor"
        ]
    );
}
