//! Real container clients (containerd + ctr, Docker, Podman) started on private paths by the
//! tests themselves, plus the busybox image they run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::bundle::write_rootfs;
use crate::wait_for;

/// Host paths a client creates on its own (sockets dirs, caches); any that did not exist before
/// the guard is made are removed when it drops, so tests leave the host as they found it.
pub struct HostPathGuard {
    created_by_us: Vec<PathBuf>,
}

impl HostPathGuard {
    /// Remembers which of `paths` are missing now.
    pub fn new(paths: &[&str]) -> Self {
        Self {
            created_by_us: paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        }
    }
}

impl Drop for HostPathGuard {
    fn drop(&mut self) {
        for path in &self.created_by_us {
            if path.is_dir() {
                let _ = fs::remove_dir_all(path);
            } else {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// A cgroup directory name (such as Podman's `libpod_parent`) a client creates in every
/// hierarchy; where it did not exist before the guard is made, it is removed (children first)
/// when the guard drops.
pub struct CgroupGuard {
    created_by_us: Vec<PathBuf>,
}

impl CgroupGuard {
    /// Remembers the hierarchies in which `/sys/fs/cgroup/<hierarchy>/<name>` is missing now.
    pub fn new(name: &str) -> Self {
        let hierarchies = fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten();
        Self {
            created_by_us: hierarchies
                .map(|h| h.path().join(name))
                .filter(|p| !p.exists())
                .collect(),
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = fs::remove_dir(dir);
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for dir in &self.created_by_us {
            remove_cgroup_tree(dir);
        }
    }
}

/// Writes a docker-archive (`docker save` layout) of the busybox rootfs tagged `tag`.
pub fn busybox_docker_archive(dir: &Path, tag: &str) -> PathBuf {
    busybox_docker_archive_running(dir, tag, &["sh"])
}

/// [`busybox_docker_archive`] with `cmd` as the image's command (a pod sandbox image, whose
/// command must keep running, is busybox running `sleep`).
pub fn busybox_docker_archive_running(dir: &Path, tag: &str, cmd: &[&str]) -> PathBuf {
    // Named by the tag, so one directory can hold several images.
    let name = hex(&Sha256::digest(tag.as_bytes()));
    let rootfs = dir.join(format!("rootfs-{name}"));
    write_rootfs(&rootfs);
    let mut layer = tar::Builder::new(Vec::new());
    layer.follow_symlinks(false);
    layer.append_dir_all(".", &rootfs).expect("tar rootfs");
    let layer = layer.into_inner().expect("finish layer");
    let layer_digest = hex(&Sha256::digest(&layer));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]}
    })
    .to_string();
    let config_name = format!("{}.json", hex(&Sha256::digest(config.as_bytes())));
    let layer_name = format!("{layer_digest}/layer.tar");
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": [layer_name]
    }])
    .to_string();
    let archive_path = dir.join(format!("{name}.tar"));
    let mut archive = tar::Builder::new(fs::File::create(&archive_path).expect("create archive"));
    for (name, bytes) in [
        (config_name.as_str(), config.as_bytes()),
        (layer_name.as_str(), layer.as_slice()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive
            .append_data(&mut header, name, bytes)
            .expect("append to archive");
    }
    archive.finish().expect("finish archive");
    archive_path
}

/// A plain tar of the busybox rootfs (for `podman import`).
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("import-rootfs");
    write_rootfs(&rootfs);
    let path = dir.join("rootfs.tar");
    let mut tar = tar::Builder::new(fs::File::create(&path).expect("create tar"));
    tar.follow_symlinks(false);
    tar.append_dir_all(".", &rootfs).expect("tar rootfs");
    tar.finish().expect("finish tar");
    path
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A daemon process, killed and reaped on drop.
struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if !wait_for(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_daemon(command: &mut Command, log: &Path, socket: &Path) -> Daemon {
    let log = fs::File::create(log).expect("daemon log");
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {command:?}: {err}"));
    let daemon = Daemon { child };
    assert!(
        wait_for(Duration::from_secs(30), || socket.exists()),
        "{command:?} did not create {}",
        socket.display()
    );
    daemon
}

/// containerd 1.6 on a private root, state and socket.
pub struct Containerd {
    dir: TempDir,
    _daemon: Daemon,
    _host_paths: HostPathGuard,
    /// ctr's containers get cgroupsPath `/default/<id>` (the containerd namespace).
    _cgroups: CgroupGuard,
}

/// What a test adds to its private containerd.
#[derive(Default)]
pub struct ContainerdSetup<'a> {
    /// TOML appended to the config, whose last table is the CRI plugin's
    /// (`[plugins."io.containerd.grpc.v1.cri"]`): keys first, then its subtables.
    pub cri: &'a str,
    /// A directory put first on containerd's PATH, where it looks up shim binaries
    /// (`io.containerd.NAME.v2` runs `containerd-shim-NAME-v2`).
    pub shim_dir: Option<&'a Path>,
    /// Environment for containerd, which its shims and their runtime inherit.
    pub env: &'a [(&'a str, &'a Path)],
}

impl Containerd {
    /// Starts containerd with its config, root, state and sockets in a temp dir.
    pub fn start() -> Self {
        Self::start_with(&ContainerdSetup::default())
    }

    /// Starts containerd as [`Containerd::start`] does, plus `setup`.
    pub fn start_with(setup: &ContainerdSetup) -> Self {
        // The runc v2 shim keeps its sockets under /run/containerd/s whatever the config says.
        let host_paths = HostPathGuard::new(&["/run/containerd"]);
        let cgroups = CgroupGuard::new("default");
        let dir = tempfile::Builder::new()
            .prefix("containerd-")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_cgroup = true\n{}",
            setup.cri
        );
        fs::write(dir.path().join("config.toml"), config).unwrap();
        let mut command = Command::new("containerd");
        command.arg("--config").arg(dir.path().join("config.toml"));
        if let Some(shim_dir) = setup.shim_dir {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![shim_dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            command.env("PATH", std::env::join_paths(dirs).expect("PATH"));
        }
        command.envs(setup.env.iter().copied());
        let daemon = spawn_daemon(
            &mut command,
            &dir.path().join("containerd.log"),
            &dir.path().join("containerd.sock"),
        );
        Self {
            dir,
            _daemon: daemon,
            _host_paths: host_paths,
            _cgroups: cgroups,
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// `ctr -a <socket>` ready for more arguments.
    pub fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command.arg("-a").arg(self.socket());
        command
    }

    /// The private directory holding containerd's config, root, state and sockets.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's own log (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// A private directory for ctr's fifos and the runtime's state root.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }
}

/// dockerd on private data/exec roots and socket, with `openshell` registered as a runtime,
/// talking to a private containerd.
pub struct Dockerd {
    dir: TempDir,
    _daemon: Daemon,
    _host_paths: HostPathGuard,
    /// Docker's containers get cgroupsPath `/docker/<id>`.
    _cgroups: CgroupGuard,
}

impl Dockerd {
    /// Starts dockerd with no networking (no iptables, no bridge) and runtime `openshell`.
    pub fn start(containerd: &Containerd, runtime: &Path) -> Self {
        Self::start_with_runtime_args(containerd, runtime, &[])
    }

    /// As [`Dockerd::start`], with the runtime registered in a `daemon.json` that gives it
    /// `runtime_args` (`runtimeArgs`, as an operator sets `--default-policy`).
    pub fn start_with_runtime_args(
        containerd: &Containerd,
        runtime: &Path,
        runtime_args: &[String],
    ) -> Self {
        let host_paths = HostPathGuard::new(&["/run/docker", "/etc/docker/key.json"]);
        let cgroups = CgroupGuard::new("docker");
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir()
            .unwrap();
        let p = |name: &str| dir.path().join(name);
        let daemon = spawn_daemon(
            Command::new("dockerd")
                .arg("--data-root")
                .arg(p("data"))
                .arg("--exec-root")
                .arg(p("exec"))
                .arg("--pidfile")
                .arg(p("docker.pid"))
                .arg("-H")
                .arg(format!("unix://{}", p("docker.sock").display()))
                .arg("--containerd")
                .arg(containerd.socket())
                .args([
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                    "--bridge=none",
                ])
                .arg("--config-file")
                .arg(daemon_json(&p("daemon.json"), runtime, runtime_args)),
            &p("dockerd.log"),
            &p("docker.sock"),
        );
        let docker = Self {
            dir,
            _daemon: daemon,
            _host_paths: host_paths,
            _cgroups: cgroups,
        };
        assert!(
            wait_for(Duration::from_secs(30), || docker
                .docker()
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())),
            "dockerd did not become ready"
        );
        docker
    }

    /// `docker -H <socket>` ready for more arguments.
    pub fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command.arg("-H").arg(format!(
            "unix://{}",
            self.dir.path().join("docker.sock").display()
        ));
        command
    }
}

/// Writes a `daemon.json` at `path` registering `runtime` as `openshell` with `args`.
fn daemon_json(path: &Path, runtime: &Path, args: &[String]) -> PathBuf {
    let config = serde_json::json!({
        "runtimes": {"openshell": {"path": runtime, "runtimeArgs": args}}
    });
    fs::write(path, config.to_string()).expect("write daemon.json");
    path.to_owned()
}

/// Podman with private storage, run root, temp dir and containers.conf.
pub struct Podman {
    dir: TempDir,
    runtime: PathBuf,
    _host_paths: HostPathGuard,
    _cgroups: CgroupGuard,
}

impl Podman {
    /// A private Podman setup that runs containers with `runtime`.
    pub fn new(runtime: &Path) -> Self {
        // Podman gives runtimes it does not know no --root (and its --rm cleanup drops any
        // --runtime-flag), so their state lands in the runtime's default root, /run/openshell.
        let host_paths =
            HostPathGuard::new(&["/run/containers", "/var/lib/containers", "/run/openshell"]);
        let dir = tempfile::Builder::new()
            .prefix("podman-")
            .tempdir()
            .unwrap();
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             events_logfile_path = \"{}/events.log\"\n",
            dir.path().display()
        );
        fs::write(dir.path().join("containers.conf"), conf).unwrap();
        Self {
            dir,
            runtime: runtime.to_path_buf(),
            _host_paths: host_paths,
            _cgroups: CgroupGuard::new("libpod_parent"),
        }
    }

    /// `podman` with the private paths and `--runtime` set.
    pub fn podman(&self) -> Command {
        let d = self.dir.path();
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--runtime"])
            .arg(&self.runtime);
        command
    }

    /// The private directory (for image tarballs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
