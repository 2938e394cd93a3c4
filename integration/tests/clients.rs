//! Docker, Podman and containerd use openshell as a drop-in for runc: each runs a container,
//! execs into it, stops it and removes it.

use std::process::{Command, Output};
use std::sync::Mutex;

use openshell_integration::clients::{
    Containerd, Dockerd, Podman, busybox_docker_archive, busybox_rootfs_tar,
};
use openshell_integration::leftovers::cgroup_dirs;
use openshell_integration::runtime::run_to_files;
use openshell_integration::{binaries, require_root};

/// The clients share host-global socket directories: one client test at a time.
static CLIENTS: Mutex<()> = Mutex::new(());

fn ok(command: &mut Command) -> String {
    let out: Output = run_to_files(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn podman_runs_execs_stops_and_removes() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let podman = Podman::new(&binaries::openshell());
    let tar = busybox_rootfs_tar(podman.dir());
    ok(podman
        .podman()
        .arg("import")
        .arg(&tar)
        .arg("localhost/openshell-busybox"));

    let out = ok(podman.podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/openshell-busybox",
        "sh",
        "-c",
        "echo hello from podman",
    ]));
    assert_eq!(out, "hello from podman\n");

    ok(podman.podman().args([
        "run",
        "-d",
        "--name",
        "agent",
        "--network",
        "none",
        "localhost/openshell-busybox",
        "sleep",
        "300",
    ]));
    let out = ok(podman.podman().args([
        "exec",
        "agent",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]));
    assert_eq!(out, "sleep 300 ");
    let id = ok(podman
        .podman()
        .args(["inspect", "--format", "{{.Id}}", "agent"]))
    .trim()
    .to_owned();
    assert!(!cgroup_dirs(&id).is_empty() || !cgroup_dirs(&format!("libpod-{id}")).is_empty());
    ok(podman.podman().args(["stop", "-t", "1", "agent"]));
    ok(podman.podman().args(["rm", "agent"]));
    assert_eq!(ok(podman.podman().args(["ps", "-aq"])), "");
    let left: Vec<_> = [cgroup_dirs(&id), cgroup_dirs(&format!("libpod-{id}"))].concat();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

#[test]
fn podman_applies_a_policy_named_by_annotation() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let podman = Podman::new(&binaries::openshell());
    let tar = busybox_rootfs_tar(podman.dir());
    ok(podman
        .podman()
        .arg("import")
        .arg(&tar)
        .arg("localhost/openshell-busybox"));
    let dir = tempfile::tempdir().unwrap();
    // Workloads name a policy installed in the node's policy directory.
    let policy = dir.path().join("podman-agent.yaml");
    std::fs::write(
        &policy,
        openshell_integration::policies::sandbox_policy(
            "podman-agent",
            &["network: none", "syscalls: default"],
            &[],
        ),
    )
    .unwrap();
    let registry = dir.path().join("registry");
    let node_config = dir.path().join("node.toml");
    std::fs::write(
        &node_config,
        format!(
            "policy_dir = \"{}\"\nregistry_dir = \"{}\"\n[audit]\ntrail = \"{}\"\nspool_dir = \"{}\"\n",
            dir.path().display(),
            registry.display(),
            dir.path().join("trail.jsonl").display(),
            dir.path().join("spool").display()
        ),
    )
    .unwrap();
    let out = ok(podman
        .podman()
        .arg("--runtime-flag")
        .arg(format!("node-config={}", node_config.display()))
        .args(["run", "--rm", "--network", "none", "--annotation"])
        .arg("openshell.nvidia.com/policy=podman-agent")
        .args([
            "localhost/openshell-busybox",
            "sh",
            "-c",
            "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; touch /x 2>&1; true",
        ]));
    assert!(
        out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t1"),
        "{out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    // The hook registered the container and poststop removed the record again.
    assert!(registry.is_dir(), "the hook never ran");
    assert!(
        openshell_integration::wait_for(std::time::Duration::from_secs(10), || std::fs::read_dir(
            &registry
        )
        .unwrap()
        .count()
            == 0),
        "poststop left a registration record"
    );

    // Without the annotation the same image runs as under runc: its root is writable.
    let out = ok(podman.podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/openshell-busybox",
        "sh",
        "-c",
        "touch /x && echo writable",
    ]));
    assert_eq!(out, "writable\n");
}

#[test]
fn containerd_ctr_runs_execs_kills_and_deletes() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let containerd = Containerd::start();
    let image_dir = tempfile::tempdir().unwrap();
    let archive = busybox_docker_archive(image_dir.path(), "openshell/busybox:test");
    ok(containerd.ctr().args(["images", "import"]).arg(&archive));
    let runtime_root = containerd.scratch("runtime-root");
    let fifo = containerd.scratch("fifo");
    let run = |extra: &[&str]| {
        let mut command = containerd.ctr();
        command
            .arg("run")
            .arg("--runc-binary")
            .arg(binaries::openshell())
            .arg("--runc-root")
            .arg(&runtime_root)
            .arg("--fifo-dir")
            .arg(&fifo)
            .args(extra);
        command
    };
    let out = ok(&mut run(&[
        "--rm",
        "docker.io/openshell/busybox:test",
        "once",
        "sh",
        "-c",
        "echo hello from ctr",
    ]));
    assert_eq!(out, "hello from ctr\n");

    ok(&mut run(&[
        "-d",
        "docker.io/openshell/busybox:test",
        "agent",
        "sleep",
        "300",
    ]));
    let out = ok(containerd
        .ctr()
        .args(["task", "exec", "--fifo-dir"])
        .arg(&fifo)
        .args([
            "--exec-id",
            "probe",
            "agent",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '",
        ]));
    assert_eq!(out, "sleep 300 ");
    // The runtime's own view agrees with containerd's.
    let listed = ok(Command::new(binaries::openshell())
        .arg("--root")
        .arg(runtime_root.join("default"))
        .args(["list", "-q"]));
    assert_eq!(listed.trim(), "agent");

    ok(containerd
        .ctr()
        .args(["task", "kill", "-s", "KILL", "agent"]));
    assert!(openshell_integration::wait_for(
        std::time::Duration::from_secs(10),
        || {
            ok(containerd.ctr().args(["task", "ls"]))
                .lines()
                .all(|l| !l.starts_with("agent") || l.contains("STOPPED"))
        }
    ));
    ok(containerd.ctr().args(["task", "delete", "agent"]));
    ok(containerd.ctr().args(["container", "delete", "agent"]));
    let listed = ok(Command::new(binaries::openshell())
        .arg("--root")
        .arg(runtime_root.join("default"))
        .args(["list", "-q"]));
    assert_eq!(listed, "");
    assert!(cgroup_dirs("agent").is_empty());
}

#[test]
fn docker_runs_execs_stops_and_removes() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let containerd = Containerd::start();
    let docker = Dockerd::start(&containerd, &binaries::openshell());
    let image_dir = tempfile::tempdir().unwrap();
    let archive = busybox_docker_archive(image_dir.path(), "openshell/busybox:test");
    ok(docker.docker().arg("load").arg("-i").arg(&archive));

    let out = ok(docker.docker().args([
        "run",
        "--rm",
        "--runtime",
        "openshell",
        "--network",
        "none",
        "openshell/busybox:test",
        "sh",
        "-c",
        "echo hello from docker",
    ]));
    assert_eq!(out, "hello from docker\n");

    let id = ok(docker.docker().args([
        "run",
        "-d",
        "--name",
        "agent",
        "--runtime",
        "openshell",
        "--network",
        "none",
        "openshell/busybox:test",
        "sleep",
        "300",
    ]))
    .trim()
    .to_owned();
    let out = ok(docker.docker().args([
        "exec",
        "agent",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]));
    assert_eq!(out, "sleep 300 ");
    let runtime =
        ok(docker
            .docker()
            .args(["inspect", "--format", "{{.HostConfig.Runtime}}", "agent"]));
    assert_eq!(runtime.trim(), "openshell");
    ok(docker.docker().args(["stop", "-t", "1", "agent"]));
    ok(docker.docker().args(["rm", "agent"]));
    assert_eq!(ok(docker.docker().args(["ps", "-aq"])), "");
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left behind");
}
