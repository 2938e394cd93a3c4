//! Bad input: each case fails with a clear message, exit status 1, and leaves nothing behind.

use std::fs;

use openshell_integration::bundle::Bundle;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::runtime::{Runtime, logrus_message};
use openshell_integration::unique_id;
use serde_json::{Value, json};

#[test]
fn unknown_container_is_named_by_every_command() {
    let rt = Runtime::new();
    let id = unique_id("ghost");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
        vec!["pause", &id],
        vec!["resume", &id],
        vec!["ps", &id],
        vec!["events", "--stats", &id],
        vec!["update", "--pids-limit", "5", &id],
        vec!["exec", &id, "true"],
    ] {
        let err = rt.fails(&args);
        assert!(
            err.contains(&format!("container \"{id}\" does not exist")),
            "{args:?}: {err}"
        );
        // As runc prints it: one logrus text line at level error, which tools look for.
        let out = rt.output(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert_eq!(
            logrus_message(last, "error"),
            Some(format!("container \"{id}\" does not exist")),
            "{args:?}: {stderr}"
        );
    }
    // --force deletes of a missing container succeed, as with runc.
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn invalid_ids_are_rejected_before_anything_is_made() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    for bad in ["../escape", "a b", "semi;colon"] {
        let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), bad]);
        assert!(err.contains("invalid container id"), "{bad}: {err}");
    }
    assert_eq!(
        fs::read_dir(rt.root()).unwrap().count(),
        0,
        "nothing may be created for a bad id"
    );
}

#[test]
fn duplicate_id_is_refused_and_the_first_container_survives() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = unique_id("dup");
    rt.start_detached(&id, bundle.path());
    let pid = rt.pid(&id);
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(rt.status(&id), "running");
    assert_eq!(rt.pid(&id), pid);
    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn malformed_config_reports_file_line_and_column() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    let config = fs::canonicalize(bundle.path()).unwrap().join("config.json");
    fs::write(
        &config,
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {\"args\": [\"sh\"], \"cwd\": 5}\n}\n",
    )
    .unwrap();
    let id = unique_id("badjson");
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains(&format!("{}:3:", config.display())), "{err}");
    assert_clean(rt.root(), &id, bundle.path());

    fs::write(&config, "{ not json").unwrap();
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains(&format!("{}:1:", config.display())), "{err}");
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn missing_config_and_missing_bundle_are_named() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    fs::remove_file(bundle.path().join("config.json")).unwrap();
    let id = unique_id("noconf");
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains("config.json not found"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());

    let err = rt.fails(&["create", "--bundle", "/nonexistent/bundle", &id]);
    assert!(err.contains("/nonexistent/bundle"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn missing_rootfs_is_named() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["true"]);
    fs::remove_dir_all(bundle.rootfs()).unwrap();
    let id = unique_id("noroot");
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(
        err.contains("rootfs") && err.contains("does not exist"),
        "{err}"
    );
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn missing_executable_is_named_and_cleaned_up() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/bin/definitely-not-here", "arg"]);
    let id = unique_id("noexe");
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains("definitely-not-here"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());

    let err = rt.fails(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains("definitely-not-here"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn unsupported_oci_version_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["true"]);
    bundle.edit(|c| c["ociVersion"] = json!("2.0.0"));
    let id = unique_id("ver");
    let err = rt.fails(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(err.contains("2.0.0"), "{err}");
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn errors_reach_the_json_log_file() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let id = unique_id("log");
    let out = rt
        .command()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            &id,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("does not exist"),
        "{last}"
    );
    assert!(last["time"].as_str().is_some());
    // Every line of the log is one JSON object with exactly level, msg and time.
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{line}");
    }
}

#[test]
fn an_invalid_log_format_is_refused() {
    let rt = Runtime::new();
    let err = rt.fails(&["--log-format", "xml", "list"]);
    assert!(err.contains("xml"), "{err}");
}
