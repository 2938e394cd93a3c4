//! The one compiled policy record: `create` writes exactly the record `openshell policy compile
//! --format json` prints for that container, the record's digest holds, and `policy explain`
//! shows every part of it.

use std::fs;
use std::path::Path;

use openshell_integration::bundle::Bundle;
use openshell_integration::policies::api_policy;
use openshell_integration::runtime::Runtime;
use openshell_integration::unique_id;
use serde_json::Value;

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `spec` with its capability sets sorted: they are sets (the digest sorts them too), and each
/// serialization may list them in another order.
fn sets_sorted(mut spec: Value) -> Value {
    if let Some(sets) = spec
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    {
        for set in sets.values_mut() {
            if let Some(names) = set.as_array_mut() {
                names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    spec
}

/// A compiled record with its spec's capability sets sorted.
fn record_sorted(mut record: Value) -> Value {
    record["spec"] = sets_sorted(record["spec"].take());
    record
}

/// A policy with API permissions and an approval workflow, needing no node service.
fn write_policy(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("agent.yaml");
    let yaml = format!(
        "{}---\n{}",
        api_policy(
            "compiled-agent",
            &["network: none", "syscalls: minimal"],
            &["crm.read", "ticket.*"],
            &["admin.*"],
            None,
        ),
        "apiVersion: openshell.nvidia.com/v1\nkind: ApprovalPolicy\nmetadata:\n  name: approvals\n\
         spec:\n  triggers:\n    - {action: payment.process, threshold: above-100-usd}\n  \
         channels: [slack]\n  timeout: 5m\n  defaultAction: deny\n"
    );
    fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn create_writes_the_record_policy_compile_prints() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let bundle = Bundle::new(&["true"]);
    let id = unique_id("compiled");

    let printed: Value = serde_json::from_str(&rt.ok(&[
        "policy",
        "compile",
        "--format",
        "json",
        path_arg(&policy),
        "--bundle",
        path_arg(bundle.path()),
        "--id",
        &id,
    ]))
    .unwrap();
    rt.ok(&[
        "--default-policy",
        path_arg(&policy),
        "create",
        "--bundle",
        path_arg(bundle.path()),
        &id,
    ]);
    let staged = rt.root().join(".openshell").join(&id);
    let written: Value =
        serde_json::from_str(&fs::read_to_string(staged.join("policy.json")).unwrap()).unwrap();
    let config: Value =
        serde_json::from_str(&fs::read_to_string(staged.join("config.json")).unwrap()).unwrap();
    rt.ok(&["delete", "--force", &id]);

    // What the command prints is what `create` wrote, digest included, and the container runs
    // with the record's spec.
    assert_eq!(written["digest"], printed["digest"]);
    assert_eq!(record_sorted(written.clone()), record_sorted(printed));
    assert_eq!(sets_sorted(config), sets_sorted(written["spec"].clone()));
    let digest = written["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(written["name"], "compiled-agent");
    assert_eq!(
        written["decisions"]["permissions"]["allowedAPIs"],
        serde_json::json!(["crm.read", "ticket.*"])
    );
    let trigger = &written["decisions"]["approval"]["triggers"][0];
    assert_eq!(
        (trigger["action"].as_str(), trigger["threshold"].as_str()),
        (Some("payment.process"), Some("above-100-usd"))
    );
    assert_eq!(written["decisions"]["approval"]["channels"][0], "slack");
    assert!(written.get("sandbox_network").is_none());
    // The hook the spec runs is given this record.
    let hook_args = written["spec"]["hooks"]["createRuntime"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let record_path = staged.join("policy.json");
    assert!(
        hook_args.contains(&record_path.display().to_string()),
        "{hook_args:?}"
    );
}

#[test]
fn explain_shows_every_part_of_the_record() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let bundle = Bundle::new(&["true"]);
    let text = rt.ok(&[
        "policy",
        "explain",
        path_arg(&policy),
        "--bundle",
        path_arg(bundle.path()),
    ]);
    for expected in [
        "Capabilities",
        "Hooks",
        "Egress\n  - not enforced: network is none",
        "allowed APIs: crm.read, ticket.* (anything else is denied)",
        "denied APIs: admin.* (deny wins)",
        "admission refuses a sandbox that requests GPUs",
        "payment.process needs approval (above-100-usd)",
        "notified through slack",
        "unanswered after 5m: deny",
        "no PrivacyRouterPolicy",
        "Audit\n  - off",
        "Compiled record\n  - sha256:",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
