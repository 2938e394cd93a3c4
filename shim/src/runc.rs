/*
   Copyright The containerd Authors.

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
*/

#[cfg(target_os = "linux")]
use std::sync::RwLock;
use std::{
    convert::TryFrom,
    os::{
        fd::OwnedFd,
        unix::{io::AsRawFd, prelude::ExitStatusExt},
    },
    path::{Path, PathBuf},
    process::ExitStatus,
    sync::Arc,
};

use async_trait::async_trait;
#[cfg(target_os = "linux")]
use cgroups_rs::fs::Cgroup;
use containerd_shim::{
    Error, Result,
    api::{CreateTaskRequest, Options, Status},
    asynchronous::monitor::{Subscription, monitor_subscribe, monitor_unsubscribe},
    monitor::{ExitEvent, Subject, Topic},
    mount::umount_recursive,
    other, other_error,
    protos::{
        api::ProcessInfo,
        protobuf::{CodedInputStream, Message, MessageDyn},
    },
    util::{asyncify, mkdir, mount_rootfs, read_file_to_str, write_options, write_runtime},
};
use log::{debug, error};

use crate::common::{any_is, to_shim_spec};
use crate::stdio::{IoTasks, Pty, Stdio};
use nix::{sys::signal::kill, unistd::Pid};
use oci_spec::runtime::{LinuxResources, Process};
use runc::{Command, Runc, Spawner};
use tokio::{
    fs::{File, remove_file},
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader},
};

use super::{
    console::ConsoleSocket,
    processes::{ProcessLifecycle, ProcessTemplate},
};
use crate::common::{
    INIT_PID_FILE, LOG_JSON_FILE, Log, ProcessIO, ShimExecutor, check_kill_error, create_io,
    create_runc, receive_socket,
};

pub type ExecProcess = ProcessTemplate<RuncExecLifecycle>;
pub type InitProcess = ProcessTemplate<RuncInitLifecycle>;

/// Prepares the bundle for a new container: decodes the runtime options,
/// records them and the runtime name in the bundle, and mounts the rootfs.
///
/// Returns the OCI runtime, launched via `spawner`, and the decoded options.
pub async fn prepare_bundle(
    ns: &str,
    req: &CreateTaskRequest,
    spawner: Arc<dyn Spawner + Send + Sync>,
) -> Result<(Runc, Options)> {
    let bundle = req.bundle();
    let mut opts = Options::new();
    // Options of another type (CRI's runtimeoptions.v1.Options for a runtime with an options
    // table) are not ours to read, as in containerd's own shim.
    if let Some(any) = req.options.as_ref().filter(|any| any_is::<Options>(any)) {
        let mut input = CodedInputStream::from_bytes(any.value.as_ref());
        opts.merge_from(&mut input)?;
    }
    if opts.compute_size() > 0 {
        debug!("create options: {:?}", &opts);
    }
    let runtime = opts.binary_name.as_str();
    write_options(bundle, &opts).await?;
    write_runtime(bundle, runtime).await?;

    let rootfs_vec = req.rootfs().to_vec();
    let rootfs = if !rootfs_vec.is_empty() {
        let tmp_rootfs = Path::new(bundle).join("rootfs");
        mkdir(&tmp_rootfs, 0o711).await?;
        tmp_rootfs
    } else {
        PathBuf::new()
    };

    for m in rootfs_vec {
        mount_rootfs(&m, rootfs.as_path()).await?
    }

    let runc = create_runc(runtime, ns, bundle, &opts, spawner)?;
    Ok((runc, opts))
}

impl InitProcess {
    /// Creates a container's init process through the OCI runtime.
    pub async fn create(id: &str, stdio: Stdio, lifecycle: RuncInitLifecycle) -> Result<Self> {
        let mut init = Self::new(id, stdio, lifecycle);
        if let Err(e) = init.create_container().await {
            init.io_tasks.abort().await;
            return Err(e);
        }
        Ok(init)
    }

    async fn create_container(&mut self) -> Result<()> {
        let opts = &self.lifecycle.opts;
        let bundle = self.lifecycle.bundle.clone();
        let pid_path = Path::new(&bundle).join(INIT_PID_FILE);
        let mut create_opts = runc::options::CreateOpts::new()
            .pid_file(&pid_path)
            .no_pivot(opts.no_pivot_root)
            .no_new_keyring(opts.no_new_keyring)
            .detach(false);
        let socket = if self.stdio.terminal {
            let s = ConsoleSocket::new().await?;
            create_opts.console_socket = Some(s.path.to_owned());
            Some(s)
        } else {
            let pio = create_io(&self.id, opts.io_uid, opts.io_gid, &self.stdio)?;
            create_opts.io = pio.io.as_ref().cloned();
            // Open the fifos before creating the container, so a bad fifo
            // fails without leaving a container behind.
            copy_io(&pio, &self.stdio, &self.io_tasks).await?;
            None
        };

        let resp = self
            .lifecycle
            .runtime
            .create(&self.id, &bundle, Some(&create_opts))
            .await;
        if let Err(e) = resp {
            if let Some(s) = socket {
                s.clean().await;
            }
            return Err(runtime_error(&bundle, e, "OCI runtime create failed").await);
        }
        if let Some(socket) = socket {
            attach_console(self, socket).await?;
        }
        self.pid = read_file_to_str(pid_path).await?.parse::<i32>()?;

        #[cfg(target_os = "linux")]
        {
            *self.lifecycle.cgroup_cache.write().unwrap() =
                containerd_shim::cgroup::get_cgroup(self.pid as u32).ok();
        }

        Ok(())
    }
}

// runtime_error will read the OCI runtime logfile retrieving OCI runtime error
pub async fn runtime_error(bundle: &str, e: runc::error::Error, msg: &str) -> Error {
    let mut rt_msg = String::new();
    match File::open(Path::new(bundle).join(LOG_JSON_FILE)).await {
        Err(err) => other!("{}: unable to open OCI runtime log file){}", msg, err),
        Ok(file) => {
            let mut lines = BufReader::new(file).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Retrieve the last runtime error
                match serde_json::from_str::<Log>(&line) {
                    Err(err) => return other!("{}: unable to parse log msg: {}", msg, err),
                    Ok(log) => {
                        if log.level == "error" {
                            rt_msg = log.msg.trim().to_string();
                        }
                    }
                }
            }
            if !rt_msg.is_empty() {
                other!("{}: {}", msg, rt_msg)
            } else {
                other!("{}: (no OCI runtime error in logfile) {}", msg, e)
            }
        }
    }
}

pub struct RuncInitLifecycle {
    runtime: Runc,
    opts: Options,
    bundle: String,
    /// Cache for cgroup paths to avoid repeated `/proc/<pid>/cgroup` parsing
    #[cfg(target_os = "linux")]
    cgroup_cache: RwLock<Option<Cgroup>>,
}

#[async_trait]
impl ProcessLifecycle<InitProcess> for RuncInitLifecycle {
    async fn start(&self, p: &mut InitProcess) -> containerd_shim::Result<()> {
        if let Err(e) = self.runtime.start(p.id.as_str()).await {
            return Err(runtime_error(&p.lifecycle.bundle, e, "OCI runtime start failed").await);
        }
        p.state = Status::RUNNING;
        Ok(())
    }

    async fn kill(
        &self,
        p: &mut InitProcess,
        signal: u32,
        all: bool,
    ) -> containerd_shim::Result<()> {
        self.runtime
            .kill(
                p.id.as_str(),
                signal,
                Some(&runc::options::KillOpts { all }),
            )
            .await
            .map_err(|e| check_kill_error(e.to_string()))
    }

    async fn delete(&self, p: &mut InitProcess) -> containerd_shim::Result<()> {
        if let Err(e) = self
            .runtime
            .delete(
                p.id.as_str(),
                Some(&runc::options::DeleteOpts { force: true }),
            )
            .await
            && !e.to_string().to_lowercase().contains("does not exist")
        {
            return Err(runtime_error(&p.lifecycle.bundle, e, "OCI runtime delete failed").await);
        }
        umount_recursive(Path::new(&self.bundle).join("rootfs").to_str(), 0)?;
        Ok(())
    }

    #[cfg(target_os = "linux")]
    async fn update(&self, p: &mut InitProcess, resources: &LinuxResources) -> Result<()> {
        if p.pid <= 0 {
            return Err(other!(
                "failed to update resources because init process is {}",
                p.pid
            ));
        }

        // Check if cgroup still exists before attempting update
        if !self.ensure_init_cgroup_exists().await {
            return Err(other!(
                "failed to update resources because cgroup for process {} has been released",
                p.pid
            ));
        }
        let cgroup_guard = p.lifecycle.cgroup_cache.read().unwrap();
        let cgroup = cgroup_guard
            .as_ref()
            .ok_or_else(|| other!("cgroup cache is empty for process {}", p.pid))?;
        containerd_shim::cgroup::update_resources(cgroup, &to_shim_spec(resources)?)
    }

    #[cfg(not(target_os = "linux"))]
    async fn update(&self, _p: &mut InitProcess, _resources: &LinuxResources) -> Result<()> {
        Err(Error::Unimplemented("update resource".to_string()))
    }

    #[cfg(target_os = "linux")]
    async fn stats(&self, p: &InitProcess) -> Result<Box<dyn MessageDyn>> {
        if p.pid <= 0 {
            return Err(other!(
                "failed to collect metrics because init process is {}",
                p.pid
            ));
        }

        // Check if cgroup still exists before attempting to collect stats
        if !self.ensure_init_cgroup_exists().await {
            return Err(other!(
                "failed to collect metrics because cgroup for process {} has been released",
                p.pid
            ));
        }
        let cgroup_guard = p.lifecycle.cgroup_cache.read().unwrap();
        let cgroup = cgroup_guard
            .as_ref()
            .ok_or_else(|| other!("cgroup cache is empty for process {}", p.pid))?;
        // containerd reads each metrics type with its own meanings; containerd-shim 0.11
        // (the task v2 API containerd 1.6 and 1.7 speak) collects only cgroup v1's.
        if cgroup.v2() {
            return Err(Error::Unimplemented(
                "task stats on a cgroup v2 host".to_string(),
            ));
        }
        Ok(Box::new(containerd_shim::cgroup::collect_metrics(cgroup)?))
    }

    #[cfg(not(target_os = "linux"))]
    async fn stats(&self, _p: &InitProcess) -> Result<Box<dyn MessageDyn>> {
        Err(Error::Unimplemented("process stats".to_string()))
    }

    async fn ps(&self, p: &InitProcess) -> Result<Vec<ProcessInfo>> {
        let pids = self
            .runtime
            .ps(&p.id)
            .await
            .map_err(other_error!("failed to execute runc ps"))?;
        Ok(pids
            .iter()
            .map(|&x| ProcessInfo {
                pid: x as u32,
                ..Default::default()
            })
            .collect())
    }

    #[cfg(target_os = "linux")]
    async fn pause(&self, p: &mut InitProcess) -> Result<()> {
        match p.state {
            Status::RUNNING => {
                p.state = Status::PAUSING;
                if let Err(e) = self.runtime.pause(p.id.as_str()).await {
                    p.state = Status::RUNNING;
                    return Err(runtime_error(&self.bundle, e, "OCI runtime pause failed").await);
                }
                p.state = Status::PAUSED;
                Ok(())
            }
            _ => Err(other!("cannot pause when in {:?} state", p.state)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    async fn pause(&self, _p: &mut InitProcess) -> Result<()> {
        Err(Error::Unimplemented("pause".to_string()))
    }

    #[cfg(target_os = "linux")]
    async fn resume(&self, p: &mut InitProcess) -> Result<()> {
        match p.state {
            Status::PAUSED => {
                if let Err(e) = self.runtime.resume(p.id.as_str()).await {
                    return Err(runtime_error(&self.bundle, e, "OCI runtime pause failed").await);
                }
                p.state = Status::RUNNING;
                Ok(())
            }
            _ => Err(other!("cannot resume when in {:?} state", p.state)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    async fn resume(&self, _p: &mut InitProcess) -> Result<()> {
        Err(Error::Unimplemented("resume".to_string()))
    }
}

impl RuncInitLifecycle {
    pub fn new(runtime: Runc, opts: Options, bundle: &str) -> Self {
        Self {
            runtime,
            opts,
            bundle: bundle.to_string(),
            #[cfg(target_os = "linux")]
            cgroup_cache: RwLock::new(None),
        }
    }

    pub fn bundle(&self) -> &str {
        &self.bundle
    }

    /// Lifecycle for a process exec'd into this container, sharing the init
    /// process's runtime, bundle and IO ownership settings.
    pub fn exec_lifecycle(&self, container_id: &str, spec: Process) -> RuncExecLifecycle {
        RuncExecLifecycle {
            runtime: self.runtime.clone(),
            bundle: self.bundle.clone(),
            container_id: container_id.to_string(),
            io_uid: self.opts.io_uid,
            io_gid: self.opts.io_gid,
            spec,
        }
    }

    /// Ensure cgroup exists and cache the path information
    /// Returns true if cgroup exists, false if released
    #[cfg(target_os = "linux")]
    async fn ensure_init_cgroup_exists(&self) -> bool {
        let cache = self.cgroup_cache.read().unwrap();
        if let Some(ref cached) = *cache {
            cached.exists()
        } else {
            false
        }
    }
}

pub struct RuncExecLifecycle {
    runtime: Runc,
    bundle: String,
    container_id: String,
    io_uid: u32,
    io_gid: u32,
    spec: Process,
}

impl RuncExecLifecycle {
    async fn start_exec(&self, p: &mut ExecProcess) -> containerd_shim::Result<()> {
        let bundle = self.bundle.to_string();
        let pid_path = Path::new(&bundle).join(format!("{}.pid", &p.id));
        let mut exec_opts = runc::options::ExecOpts {
            io: None,
            pid_file: Some(pid_path.to_owned()),
            console_socket: None,
            detach: true,
        };
        let socket = if p.stdio.terminal {
            let s = ConsoleSocket::new().await?;
            exec_opts.console_socket = Some(s.path.to_owned());
            Some(s)
        } else {
            let pio = create_io(&p.id, self.io_uid, self.io_gid, &p.stdio)?;
            exec_opts.io = pio.io.as_ref().cloned();
            // Open the fifos before starting the process, so a bad fifo fails
            // without leaving a process behind.
            copy_io(&pio, &p.stdio, &p.io_tasks).await?;
            None
        };
        let exec_result = self
            .runtime
            .exec(&self.container_id, &self.spec, Some(&exec_opts))
            .await;
        if let Err(e) = exec_result {
            if let Some(s) = socket {
                s.clean().await;
            }
            return Err(runtime_error(&bundle, e, "OCI runtime exec failed").await);
        }
        if let Some(socket) = socket {
            attach_console(p, socket).await?;
        }
        p.pid = read_file_to_str(pid_path).await?.parse::<i32>()?;
        p.state = Status::RUNNING;
        Ok(())
    }
}

#[async_trait]
impl ProcessLifecycle<ExecProcess> for RuncExecLifecycle {
    async fn start(&self, p: &mut ExecProcess) -> containerd_shim::Result<()> {
        if let Err(e) = self.start_exec(p).await {
            // Fresh io tasks, as the exec stays registered and may be started again.
            let fresh = p.io_tasks.renew();
            std::mem::replace(&mut p.io_tasks, fresh).abort().await;
            return Err(e);
        }
        Ok(())
    }

    async fn kill(
        &self,
        p: &mut ExecProcess,
        signal: u32,
        _all: bool,
    ) -> containerd_shim::Result<()> {
        if p.pid <= 0 {
            Err(Error::FailedPreconditionError(
                "process not created".to_string(),
            ))
        } else if p.exited_at.is_some() {
            Err(Error::NotFoundError("process already finished".to_string()))
        } else {
            let pid = p.pid;
            let kill_future = tokio::task::spawn_blocking(move || {
                kill(
                    Pid::from_raw(pid),
                    nix::sys::signal::Signal::try_from(signal as i32).unwrap(),
                )
            });

            match tokio::time::timeout(std::time::Duration::from_secs(3), kill_future).await {
                Ok(Ok(result)) => result.map_err(Into::into),
                Ok(Err(e)) => Err(Error::Other(format!("kill task error: {}", e))),
                Err(_) => {
                    debug!(
                        "kill operation timed out for pid {}, signal {}",
                        pid, signal
                    );
                    // timeout also return ok
                    // For termination signals, it may have taken effect even if it timed out
                    if signal == 9 || signal == 15 {
                        Ok(())
                    } else {
                        Err(Error::DeadlineExceeded(
                            "kill operation timed out".to_string(),
                        ))
                    }
                }
            }
        }
    }

    async fn delete(&self, p: &mut ExecProcess) -> Result<()> {
        let exec_pid_path = Path::new(self.bundle.as_str()).join(format!("{}.pid", p.id));
        remove_file(exec_pid_path).await.unwrap_or_default();
        Ok(())
    }

    async fn update(&self, _p: &mut ExecProcess, _resources: &LinuxResources) -> Result<()> {
        Err(Error::Unimplemented("exec update".to_string()))
    }

    async fn stats(&self, _p: &ExecProcess) -> Result<Box<dyn MessageDyn>> {
        Err(Error::Unimplemented("exec stats".to_string()))
    }

    async fn ps(&self, _p: &ExecProcess) -> Result<Vec<ProcessInfo>> {
        Err(Error::Unimplemented("exec ps".to_string()))
    }

    async fn pause(&self, _p: &mut ExecProcess) -> Result<()> {
        Err(Error::Unimplemented("exec pause".to_string()))
    }

    async fn resume(&self, _p: &mut ExecProcess) -> Result<()> {
        Err(Error::Unimplemented("exec resume".to_string()))
    }
}

async fn copy_console(
    console_socket: &ConsoleSocket,
    stdio: &Stdio,
    io_tasks: &IoTasks,
) -> Result<Pty> {
    debug!("copy_console: waiting for runtime to send console fd");
    let stream = console_socket.accept().await?;
    let fd = asyncify(move || -> Result<OwnedFd> { receive_socket(stream.as_raw_fd()) }).await?;
    // The copies and the resize handle share the one descriptor.
    let console = Pty::new(std::fs::File::from(fd))?;
    if !stdio.stdin.is_empty() {
        debug!("copy_console: pipe stdin to console");
        io_tasks.copy_from_fifo(&stdio.stdin, console.clone())?;
    }

    if !stdio.stdout.is_empty() {
        debug!("copy_console: pipe stdout from console");
        io_tasks.copy_to_fifo(console.clone(), &stdio.stdout)?;
    }
    Ok(console)
}

pub async fn copy_io(pio: &ProcessIO, stdio: &Stdio, io_tasks: &IoTasks) -> Result<()> {
    let Some(io) = &pio.io else {
        return Ok(());
    };
    if !stdio.stdin.is_empty() {
        debug!("copy_io: pipe stdin from {}", stdio.stdin.as_str());
        let w = io.stdin().ok_or_else(|| other!("no pipe for stdin"))?;
        io_tasks.copy_from_fifo(&stdio.stdin, w)?;
    }

    if !stdio.stdout.is_empty() {
        debug!("copy_io: pipe stdout to {}", stdio.stdout.as_str());
        let r = io.stdout().ok_or_else(|| other!("no pipe for stdout"))?;
        io_tasks.copy_to_fifo(r, &stdio.stdout)?;
    }

    if !stdio.stderr.is_empty() {
        debug!("copy_io: pipe stderr to {}", stdio.stderr.as_str());
        let r = io.stderr().ok_or_else(|| other!("no pipe for stderr"))?;
        io_tasks.copy_to_fifo(r, &stdio.stderr)?;
    }

    Ok(())
}

/// Receives the process's console from the runtime and copies it to and from
/// containerd's fifos.
async fn attach_console<P>(p: &mut ProcessTemplate<P>, socket: ConsoleSocket) -> Result<()> {
    let console = copy_console(&socket, &p.stdio, &p.io_tasks).await;
    socket.clean().await;
    p.console = Some(console?);
    Ok(())
}

#[async_trait]
impl Spawner for ShimExecutor {
    async fn execute(&self, cmd: Command) -> runc::Result<(ExitStatus, u32, String, String)> {
        let mut cmd = cmd;
        let subscription = monitor_subscribe(Topic::Pid)
            .await
            .map_err(|e| runc::error::Error::Other(Box::new(e)))?;
        let sid = subscription.id;
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                monitor_unsubscribe(sid).await.unwrap_or_default();
                return Err(runc::error::Error::ProcessSpawnFailed(e));
            }
        };
        let pid = child.id().unwrap();
        let (stdout, stderr, exit_code) = tokio::join!(
            read_std(child.stdout),
            read_std(child.stderr),
            wait_pid(pid as i32, subscription)
        );
        let status = ExitStatus::from_raw(exit_code);
        monitor_unsubscribe(sid).await.unwrap_or_default();
        Ok((status, pid, stdout, stderr))
    }
}

async fn read_std<T>(std: Option<T>) -> String
where
    T: AsyncRead + Unpin,
{
    let mut std = std;
    if let Some(mut std) = std.take() {
        let mut out = String::new();
        std.read_to_string(&mut out).await.unwrap_or_else(|e| {
            error!("failed to read stdout {}", e);
            0
        });
        return out;
    }
    "".to_string()
}

async fn wait_pid(pid: i32, s: Subscription) -> i32 {
    let mut s = s;
    loop {
        if let Some(ExitEvent {
            subject: Subject::Pid(epid),
            exit_code: code,
        }) = s.rx.recv().await
            && pid == epid
        {
            monitor_unsubscribe(s.id).await.unwrap_or_default();
            return code;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{os::unix::process::ExitStatusExt, process::ExitStatus};

    use super::runtime_error;
    use crate::common::LOG_JSON_FILE;

    fn command_failed() -> ::runc::error::Error {
        ::runc::error::Error::CommandFailed {
            // Raw wait(2) status: the exit code lives in bits 8-15, so a bare
            // `1` would render as "killed by SIGHUP" rather than "exit code 1".
            status: ExitStatus::from_raw(1 << 8),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    #[tokio::test]
    async fn runtime_error_from_log() {
        let bundle = tempfile::tempdir().expect("create bundle");
        std::fs::write(
            bundle.path().join(LOG_JSON_FILE),
            "{\"level\":\"info\",\"msg\":\"hello world\",\"time\":\"2022-11-25\"}\n\
             {\"level\":\"error\",\"msg\":\"failed error\",\"time\":\"2022-11-26\"}\n\
             {\"level\":\"error\",\"msg\":\"panic\",\"time\":\"2022-11-27\"}\n",
        )
        .expect("write runtime log");

        let err = runtime_error(
            bundle.path().to_str().unwrap(),
            command_failed(),
            "OCI runtime create failed",
        )
        .await;
        let msg = err.to_string();
        assert!(
            msg.contains("OCI runtime create failed"),
            "the caller context is kept: {:?}",
            msg
        );
        assert!(
            msg.contains("panic"),
            "the last error line wins, got {:?}",
            msg
        );
    }

    #[tokio::test]
    async fn runtime_error_no_error_line() {
        let bundle = tempfile::tempdir().expect("create bundle");
        std::fs::write(
            bundle.path().join(LOG_JSON_FILE),
            "{\"level\":\"info\",\"msg\":\"nothing went wrong\",\"time\":\"2022-11-25\"}\n",
        )
        .expect("write runtime log");

        let err = runtime_error(
            bundle.path().to_str().unwrap(),
            command_failed(),
            "OCI runtime start failed",
        )
        .await;
        assert!(err.to_string().contains("no OCI runtime error in logfile"));
    }

    #[tokio::test]
    async fn runtime_error_no_log() {
        let bundle = tempfile::tempdir().expect("create bundle");

        let err = runtime_error(
            bundle.path().to_str().unwrap(),
            command_failed(),
            "OCI runtime delete failed",
        )
        .await;
        let msg = err.to_string();
        assert!(msg.contains("OCI runtime delete failed"), "got {:?}", msg);
        assert!(
            msg.contains("unable to open OCI runtime log file"),
            "got {:?}",
            msg
        );
    }
}
