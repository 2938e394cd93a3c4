//! containerd's shim v2 for openshell (`containerd-shim-openshell-v2`, runtime type
//! `io.containerd.openshell.v2`), driven by real clients: `ctr run --runtime` and containerd's
//! CRI plugin with a runtime handler `openshell` (what a Kubernetes RuntimeClass with
//! `handler: openshell` selects), through a CRI client on its gRPC API. Every container runs
//! under a policy named by annotation, and nothing is left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ExecSyncRequest, ImageSpec, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, ListContainersRequest, ListPodSandboxRequest, NamespaceMode,
    NamespaceOption, PodSandboxConfig, PodSandboxMetadata, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use openshell_integration::clients::{
    Containerd, ContainerdSetup, busybox_docker_archive, busybox_docker_archive_running,
};
use openshell_integration::leftovers::{cgroup_dirs, mounts_under};
use openshell_integration::node::TestNode;
use openshell_integration::policies::sandbox_policy;
use openshell_integration::runtime::run_to_files;
use openshell_integration::{binaries, require_root, wait_for};
use tonic::transport::{Channel, Endpoint, Uri};

/// containerd and its shims share /run/containerd: one test at a time.
static CONTAINERD: Mutex<()> = Mutex::new(());

/// The annotation that names a container's policy.
const POLICY_ANNOTATION: &str = "openshell.nvidia.com/policy";
/// The test policy, installed in the node's policy directory (workloads name policies).
const POLICY_NAME: &str = "shim-agent";
/// Where the shim keeps the runtime's state: one root per containerd namespace.
const RUNTIME_ROOT: &str = "/run/containerd/openshell";
const IMAGE: &str = "docker.io/openshell/busybox:test";
const PAUSE_IMAGE: &str = "docker.io/openshell/pause:test";

/// A private containerd with the shim on its PATH, the CRI runtime handler `openshell`, and a
/// private node configuration whose policy directory holds [`POLICY_NAME`].
struct World {
    containerd: Containerd,
    node: TestNode,
    _images: tempfile::TempDir,
}

impl World {
    fn start() -> Self {
        let shim = binaries::path("containerd-shim-openshell-v2");
        // The runtime the shim runs (next to it) and the hook the policy's admission calls.
        binaries::openshell();
        binaries::path("openshell-hook");
        let node = TestNode::default();
        node.configure(&format!("policy_dir = \"{}\"\n", node.dir().display()));
        fs::write(
            node.path(&format!("{POLICY_NAME}.yaml")),
            sandbox_policy(POLICY_NAME, &["network: none", "syscalls: default"], &[]),
        )
        .unwrap();
        let cni = node.path("cni");
        // The CRI runtime handler `openshell`, as docs/kubernetes.md configures it: pod and
        // container annotations of openshell's prefix reach the runtime. The pause container's
        // oom_score_adj (-998) is kept no lower than ours: a test host without CAP_SYS_RESOURCE
        // cannot lower it, under runc either.
        let cri = format!(
            "  sandbox_image = \"{PAUSE_IMAGE}\"\n\
             \x20 restrict_oom_score_adj = true\n\
             [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"{0}/bin\"\n  conf_dir = \"{0}/conf\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"openshell\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.openshell]\n\
             \x20 runtime_type = \"io.containerd.openshell.v2\"\n\
             \x20 pod_annotations = [\"openshell.nvidia.com/*\"]\n\
             \x20 container_annotations = [\"openshell.nvidia.com/*\"]\n",
            cni.display()
        );
        let config = node.config();
        let containerd = Containerd::start_with(&ContainerdSetup {
            cri: &cri,
            shim_dir: shim.parent(),
            env: &[("OPENSHELL_CONFIG", config.as_path())],
        });
        let images = tempfile::tempdir().unwrap();
        let busybox = busybox_docker_archive(images.path(), "openshell/busybox:test");
        let pause = busybox_docker_archive_running(
            images.path(),
            "openshell/pause:test",
            &["sleep", "86400"],
        );
        for (namespace, archive) in [
            ("default", &busybox),
            ("k8s.io", &busybox),
            ("k8s.io", &pause),
        ] {
            ok(containerd
                .ctr()
                .args(["-n", namespace, "images", "import"])
                .arg(archive));
        }
        Self {
            containerd,
            node,
            _images: images,
        }
    }

    /// The policy registration records the hook keeps while containers run.
    fn registrations(&self) -> usize {
        fs::read_dir(self.node.path("registry"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }

    /// Shim processes serving this containerd.
    fn shims(&self) -> Vec<String> {
        let socket = self.containerd.socket();
        let socket = socket.to_string_lossy();
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| fs::read(entry.path().join("cmdline")).ok())
            .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
            .filter(|cmdline| {
                cmdline.contains("containerd-shim-openshell-v2") && cmdline.contains(&*socket)
            })
            .collect()
    }

    /// Asserts that nothing of the containers `ids` in containerd namespace `namespace` is
    /// left: runtime state, cgroups, shims, mounts, registrations.
    fn assert_clean(&self, namespace: &str, ids: &[&str]) {
        let root = Path::new(RUNTIME_ROOT).join(namespace);
        for id in ids {
            assert!(!root.join(id).exists(), "runtime state of {id} left behind");
            assert!(
                !root.join(".openshell").join(id).exists(),
                "staged bundle of {id} left behind"
            );
            let cgroups = cgroup_dirs(id);
            assert!(cgroups.is_empty(), "cgroups of {id} left: {cgroups:?}");
        }
        assert!(
            wait_for(Duration::from_secs(10), || self.shims().is_empty()),
            "shims left running: {:?}",
            self.shims()
        );
        let mounts = mounts_under(self.containerd.dir());
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        assert!(
            wait_for(Duration::from_secs(10), || self.registrations() == 0),
            "poststop left registration records"
        );
    }
}

fn ok(command: &mut Command) -> String {
    let out = run_to_files(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a process under the test policy reports about itself.
const PROBE: &str = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; touch /x 2>&1; true";

/// No new privileges, the policy's seccomp filter and read-only root, whatever the process spec
/// asked.
fn assert_confined(out: &str) {
    assert!(out.contains("NoNewPrivs:\t1"), "privileges may grow: {out}");
    assert!(
        out.contains("Seccomp:\t2"),
        "not under the policy's seccomp filter: {out}"
    );
    assert!(
        out.contains("Read-only file system"),
        "root is writable: {out}"
    );
}

#[test]
fn ctr_runs_execs_pauses_kills_and_deletes_through_the_shim() {
    require_root();
    let _one = CONTAINERD.lock().unwrap_or_else(|e| e.into_inner());
    let world = World::start();
    let fifo = world.containerd.scratch("fifo");
    let annotation = format!("{POLICY_ANNOTATION}={POLICY_NAME}");
    let run = |extra: &[&str]| {
        let mut command = world.containerd.ctr();
        command
            .args([
                "run",
                "--runtime",
                "io.containerd.openshell.v2",
                "--annotation",
            ])
            .arg(&annotation)
            .arg("--fifo-dir")
            .arg(&fifo)
            .args(extra);
        command
    };

    // A foreground run: output through the shim's IO, exit through its events.
    let out = ok(&mut run(&["--rm", IMAGE, "once", "sh", "-c", PROBE]));
    assert_confined(&out);

    ok(&mut run(&["-d", IMAGE, "agent", "sleep", "300"]));
    let exec = |id: &str, script: &str| {
        ok(world
            .containerd
            .ctr()
            .args(["task", "exec", "--fifo-dir"])
            .arg(&fifo)
            .args(["--exec-id", id, "agent", "sh", "-c", script]))
    };
    assert_eq!(
        exec("cmdline", "cat /proc/1/cmdline | tr '\\0' ' '"),
        "sleep 300 "
    );
    assert_confined(&exec("probe", PROBE));
    assert_eq!(world.registrations(), 1, "the hook did not register agent");
    // The runtime's own view agrees with containerd's.
    let listed = ok(Command::new(binaries::openshell())
        .arg("--root")
        .arg(Path::new(RUNTIME_ROOT).join("default"))
        .args(["list", "-q"]));
    assert_eq!(listed.trim(), "agent");

    let status = |world: &World| {
        ok(world.containerd.ctr().args(["task", "ls"]))
            .lines()
            .find(|line| line.starts_with("agent"))
            .map(|line| {
                line.split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    ok(world.containerd.ctr().args(["task", "pause", "agent"]));
    assert_eq!(status(&world), "PAUSED");
    ok(world.containerd.ctr().args(["task", "resume", "agent"]));
    assert_eq!(status(&world), "RUNNING");
    // Stats: the task's cgroup metrics.
    let metrics = ok(world
        .containerd
        .ctr()
        .args(["task", "metrics", "--format", "json", "agent"]));
    assert!(metrics.contains("memory"), "{metrics}");

    ok(world
        .containerd
        .ctr()
        .args(["task", "kill", "-s", "KILL", "agent"]));
    assert!(
        wait_for(Duration::from_secs(10), || status(&world) == "STOPPED"),
        "agent did not stop: {}",
        status(&world)
    );
    ok(world.containerd.ctr().args(["task", "delete", "agent"]));
    ok(world
        .containerd
        .ctr()
        .args(["container", "delete", "agent"]));
    world.assert_clean("default", &["once", "agent"]);
}

/// A CRI client on containerd's socket.
/// CRI ContainerStatus of `container`.
fn container_status(
    runtime: &tokio::runtime::Runtime,
    cri: &mut RuntimeServiceClient<Channel>,
    container: &str,
) -> k8s_cri::v1::ContainerStatus {
    runtime
        .block_on(cri.container_status(ContainerStatusRequest {
            container_id: container.to_owned(),
            verbose: false,
        }))
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a status")
}

async fn cri_client(socket: PathBuf) -> RuntimeServiceClient<Channel> {
    let channel = Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .expect("connect to containerd's CRI socket");
    RuntimeServiceClient::new(channel)
}

#[test]
fn cri_runtime_handler_runs_a_pod_under_its_policy_annotation() {
    require_root();
    let _one = CONTAINERD.lock().unwrap_or_else(|e| e.into_inner());
    let world = World::start();
    let logs = world.containerd.scratch("pod-logs");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut cri = runtime.block_on(cri_client(world.containerd.socket()));

    // Host network: no CNI, and nothing of the host's network configuration changes. The
    // policy's `network: none` still gives each container an empty network namespace.
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "agent-pod".into(),
            uid: "agent-pod-uid".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: logs.display().to_string(),
        annotations: [(POLICY_ANNOTATION.to_owned(), POLICY_NAME.to_owned())].into(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let log = |world: &World| world.containerd.log();
    let pod = runtime
        .block_on(cri.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: "openshell".into(),
        }))
        .unwrap_or_else(|status| panic!("RunPodSandbox: {status}\n{}", log(&world)))
        .into_inner()
        .pod_sandbox_id;

    let container = runtime
        .block_on(
            cri.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(ContainerConfig {
                    metadata: Some(ContainerMetadata {
                        name: "agent".into(),
                        attempt: 0,
                    }),
                    image: Some(ImageSpec {
                        image: IMAGE.into(),
                        ..Default::default()
                    }),
                    command: [
                        "sh",
                        "-c",
                        &format!("echo agent started; {PROBE}; exec sleep 300"),
                    ]
                    .map(String::from)
                    .to_vec(),
                    log_path: "agent.log".into(),
                    ..Default::default()
                }),
                sandbox_config: Some(sandbox_config),
            }),
        )
        .unwrap_or_else(|status| panic!("CreateContainer: {status}\n{}", log(&world)))
        .into_inner()
        .container_id;
    runtime
        .block_on(cri.start_container(StartContainerRequest {
            container_id: container.clone(),
        }))
        .unwrap_or_else(|status| panic!("StartContainer: {status}\n{}", log(&world)));

    let exec = runtime
        .block_on(cri.exec_sync(ExecSyncRequest {
            container_id: container.clone(),
            cmd: ["sh", "-c", PROBE].map(String::from).to_vec(),
            timeout: 10,
        }))
        .unwrap_or_else(|status| panic!("ExecSync: {status}\n{}", log(&world)))
        .into_inner();
    assert_eq!(exec.exit_code, 0);
    // containerd builds an exec's process spec from the container spec as the CRI wrote it
    // (`noNewPrivileges: false`); the runtime holds it to the container's floor all the same.
    assert_confined(&String::from_utf8_lossy(&exec.stdout));

    let status = container_status(&runtime, &mut cri, &container);
    assert_eq!(status.state, ContainerState::ContainerRunning as i32);
    let log_path = PathBuf::from(&status.log_path);
    assert!(
        wait_for(Duration::from_secs(10), || fs::read_to_string(&log_path)
            .is_ok_and(|text| text.contains(" stdout F agent started")
                && text.contains("Read-only file system"))),
        "the container's log {} lacks its output: {:?}",
        log_path.display(),
        fs::read_to_string(&log_path)
    );
    assert_confined(&fs::read_to_string(&log_path).unwrap());
    // The pod sandbox and its container are both under the policy, and registered.
    assert_eq!(world.registrations(), 2);
    // One shim serves the whole pod, as containerd-shim-runc-v2 does.
    assert_eq!(world.shims().len(), 1, "{:?}", world.shims());

    runtime
        .block_on(cri.stop_container(StopContainerRequest {
            container_id: container.clone(),
            timeout: 1,
        }))
        .expect("StopContainer");
    let status = container_status(&runtime, &mut cri, &container);
    assert_eq!(status.state, ContainerState::ContainerExited as i32);
    runtime
        .block_on(cri.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .expect("StopPodSandbox");
    runtime
        .block_on(cri.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }))
        .expect("RemovePodSandbox");
    let pods = runtime
        .block_on(cri.list_pod_sandbox(ListPodSandboxRequest { filter: None }))
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");
    let containers = runtime
        .block_on(cri.list_containers(ListContainersRequest { filter: None }))
        .expect("ListContainers")
        .into_inner()
        .containers;
    assert!(containers.is_empty(), "{containers:?}");
    world.assert_clean("k8s.io", &[&pod, &container]);
}
