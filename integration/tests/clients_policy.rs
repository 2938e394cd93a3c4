//! Docker, Podman and containerd under a policy: the processes their `exec` starts and the
//! limits their `update` sets are held to it, under the tightest syscall profile.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use openshell_integration::clients::{
    Containerd, Dockerd, Podman, busybox_docker_archive, busybox_rootfs_tar,
};
use openshell_integration::leftovers::cgroup_dirs;
use openshell_integration::policies::sandbox_policy;
use openshell_integration::runtime::run_to_files;
use openshell_integration::{binaries, proc_status_field, require_root, wait_for};

/// The clients share host-global socket directories: one client test at a time.
static CLIENTS: Mutex<()> = Mutex::new(());

const POLICY: &str = "client-agent";

fn run(command: &mut Command) -> Output {
    run_to_files(command)
}

fn ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(command: &mut Command) -> String {
    let out = run(command);
    assert!(!out.status.success(), "{command:?} should have failed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A node configuration in `dir` whose policy directory holds [`POLICY`]: no network, read-only
/// root, the minimal syscall profile, 256 MiB, 64 tasks; registry and trail stay in `dir`.
fn policy_node(dir: &Path) -> PathBuf {
    fs::write(
        dir.join(format!("{POLICY}.yaml")),
        sandbox_policy(
            POLICY,
            &[
                "network: none",
                "filesystem: read-only",
                "syscalls: minimal",
            ],
            &["maxMemory: 256Mi", "maxPids: 64"],
        ),
    )
    .unwrap();
    let config = dir.join("node.toml");
    fs::write(
        &config,
        format!(
            "policy_dir = \"{0}\"\nregistry_dir = \"{0}/registry\"\n\
             [audit]\ntrail = \"{0}/trail.jsonl\"\nspool_dir = \"{0}/spool\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

/// Asserts the exec'd process's status matches the init's capabilities with no new privileges.
fn assert_held(init: &str, exec: &str, client: &str) {
    assert_eq!(
        proc_status_field(exec, "CapEff"),
        proc_status_field(init, "CapEff"),
        "{client}: CapEff"
    );
    assert_eq!(
        proc_status_field(exec, "CapBnd"),
        proc_status_field(init, "CapBnd"),
        "{client}: CapBnd"
    );
    assert_eq!(
        proc_status_field(exec, "NoNewPrivs"),
        "1",
        "{client}: NoNewPrivs"
    );
    assert_eq!(proc_status_field(exec, "Seccomp"), "2", "{client}: Seccomp");
}

fn registry_is_empty(dir: &Path) -> bool {
    fs::read_dir(dir.join("registry")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn docker_exec_and_update_are_held_to_the_default_policy() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let node = tempfile::tempdir().unwrap();
    let config = policy_node(node.path());
    let containerd = Containerd::start();
    let docker = Dockerd::start_with_runtime_args(
        &containerd,
        &binaries::openshell(),
        &[
            "--default-policy".to_owned(),
            POLICY.to_owned(),
            "--node-config".to_owned(),
            config.display().to_string(),
        ],
    );
    let image_dir = tempfile::tempdir().unwrap();
    let archive = busybox_docker_archive(image_dir.path(), "openshell/busybox:test");
    ok(docker.docker().arg("load").arg("-i").arg(&archive));
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
    let init = ok(docker
        .docker()
        .args(["exec", "agent", "cat", "/proc/1/status"]));
    assert_eq!(proc_status_field(&init, "NoNewPrivs"), "1");
    let exec = ok(docker
        .docker()
        .args(["exec", "agent", "cat", "/proc/self/status"]));
    assert_held(&init, &exec, "docker exec");
    let err = fails(
        docker
            .docker()
            .args(["exec", "--privileged", "agent", "true"]),
    );
    assert!(err.contains("privileged exec"), "{err}");

    let cgroup = |controller: &str, file: &str| {
        fs::read_to_string(format!("/sys/fs/cgroup/{controller}/docker/{id}/{file}"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let err =
        fails(
            docker
                .docker()
                .args(["update", "--memory", "2g", "--memory-swap", "2g", "agent"]),
        );
    assert!(err.contains("maxMemory"), "{err}");
    let err = fails(
        docker
            .docker()
            .args(["update", "--pids-limit", "100000", "agent"]),
    );
    assert!(err.contains("maxPids"), "{err}");
    assert_eq!(cgroup("memory", "memory.limit_in_bytes"), "268435456");
    assert_eq!(cgroup("pids", "pids.max"), "64");
    ok(docker
        .docker()
        .args(["update", "--pids-limit", "32", "agent"]));
    assert_eq!(cgroup("pids", "pids.max"), "32");

    ok(docker.docker().args(["rm", "-f", "agent"]));
    assert!(cgroup_dirs(&id).is_empty(), "cgroups of {id} left behind");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || registry_is_empty(
            node.path()
        )),
        "registration left behind"
    );
}

#[test]
fn podman_exec_is_held_to_the_annotated_policy() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let node = tempfile::tempdir().unwrap();
    let config = policy_node(node.path());
    let podman = Podman::new(&binaries::openshell());
    let tar = busybox_rootfs_tar(podman.dir());
    ok(podman
        .podman()
        .arg("import")
        .arg(&tar)
        .arg("localhost/openshell-busybox"));
    let flagged = || {
        let mut command = podman.podman();
        command
            .arg("--runtime-flag")
            .arg(format!("node-config={}", config.display()));
        command
    };
    ok(flagged()
        .args([
            "run",
            "-d",
            "--name",
            "agent",
            "--network",
            "none",
            "--annotation",
        ])
        .arg(format!("openshell.nvidia.com/policy={POLICY}"))
        .args(["localhost/openshell-busybox", "sleep", "300"]));
    let init = ok(flagged().args(["exec", "agent", "cat", "/proc/1/status"]));
    let exec = ok(flagged().args(["exec", "agent", "cat", "/proc/self/status"]));
    assert_held(&init, &exec, "podman exec");
    let err = fails(flagged().args(["exec", "--privileged", "agent", "true"]));
    assert!(err.contains("privileged exec"), "{err}");
    ok(flagged().args(["rm", "-f", "-t", "0", "agent"]));
    assert_eq!(ok(podman.podman().args(["ps", "-aq"])), "");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || registry_is_empty(
            node.path()
        )),
        "registration left behind"
    );
}

#[test]
fn containerd_task_exec_is_held_to_the_operator_policy() {
    require_root();
    let _one = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let node = tempfile::tempdir().unwrap();
    let config = policy_node(node.path());
    // containerd's runc shim passes no runtime flags of its own: an operator wraps the binary.
    let wrapper = node.path().join("openshell-with-policy");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --default-policy {POLICY} --node-config {} \"$@\"\n",
            binaries::openshell().display(),
            config.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let containerd = Containerd::start();
    let image_dir = tempfile::tempdir().unwrap();
    let archive = busybox_docker_archive(image_dir.path(), "openshell/busybox:test");
    ok(containerd.ctr().args(["images", "import"]).arg(&archive));
    let runtime_root = containerd.scratch("runtime-root");
    let fifo = containerd.scratch("fifo");
    ok(containerd
        .ctr()
        .arg("run")
        .arg("--runc-binary")
        .arg(&wrapper)
        .arg("--runc-root")
        .arg(&runtime_root)
        .arg("--fifo-dir")
        .arg(&fifo)
        .args([
            "-d",
            "docker.io/openshell/busybox:test",
            "agent",
            "sleep",
            "300",
        ]));
    let exec = |exec_id: &str, file: &str| {
        ok(containerd
            .ctr()
            .args(["task", "exec", "--fifo-dir"])
            .arg(&fifo)
            .args(["--exec-id", exec_id, "agent", "cat", file]))
    };
    let init = exec("init", "/proc/1/status");
    assert_held(&init, &exec("self", "/proc/self/status"), "ctr task exec");
    ok(containerd
        .ctr()
        .args(["task", "kill", "-s", "KILL", "agent"]));
    assert!(wait_for(std::time::Duration::from_secs(10), || {
        ok(containerd.ctr().args(["task", "ls"]))
            .lines()
            .all(|l| !l.starts_with("agent") || l.contains("STOPPED"))
    }));
    ok(containerd.ctr().args(["task", "delete", "agent"]));
    ok(containerd.ctr().args(["container", "delete", "agent"]));
    assert!(cgroup_dirs("agent").is_empty());
    assert!(
        wait_for(std::time::Duration::from_secs(10), || registry_is_empty(
            node.path()
        )),
        "registration left behind"
    );
}
