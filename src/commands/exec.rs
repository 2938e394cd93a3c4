//! `exec`: run an additional process inside a running container.
//!
//! Under a policy the process is built here, as runc builds it (the container's process with
//! the command line's changes, or the client's `--process` spec), held to the container's
//! floor ([`ContainerFloor::hold_process`]) and handed to libcontainer as a process spec.
//! Without a policy libcontainer builds it, as before.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{Process, Spec};

use super::{Context, require_status};
use crate::container_floor::ContainerFloor;
use crate::{exe_seal, foreground, keyring, seccomp_cache};

/// Returns the process's exit status (0 when detached).
pub fn exec(ctx: &Context, args: liboci_cli::Exec) -> Result<i32> {
    let container = ctx.load(&args.container_id)?;
    let mut allowed = vec![ContainerStatus::Running, ContainerStatus::Created];
    if args.ignore_paused {
        allowed.push(ContainerStatus::Paused);
    }
    require_status(&container, &allowed, "exec into")?;
    let root = ctx.root()?;
    exe_seal::ensure_sealed(&root)?;
    let staged = container.bundle().to_path_buf();
    let spec = Spec::load(staged.join("config.json"));
    // exec'd processes get the container's filter: hand it over precompiled.
    if let Ok(spec) = &spec {
        seccomp_cache::prepare(
            &root,
            spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
        );
    }
    let held = match ContainerFloor::load(&staged)? {
        Some(floor) => {
            let spec = spec.with_context(|| {
                format!("cannot read the spec of container {:?}", args.container_id)
            })?;
            let process = floor.hold_process(requested_process(&spec, &args)?, &args.cap)?;
            Some(HeldProcessFile::write(&staged, &process)?)
        }
        None => None,
    };
    keyring::join_new_session_keyring(&args.container_id)?;

    let (user, group) = match args.user {
        Some((uid, gid)) => (Some(uid), gid),
        None => (None, None),
    };
    let process_file = held.as_ref().map(|f| f.path.clone()).or(args.process);
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_root_path(&root)?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())?
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(args.env.into_iter().collect())
        .with_process(process_file.as_ref())
        .with_no_new_privs(args.no_new_privs)
        .with_container_args(args.command)
        .with_additional_gids(args.additional_gids)
        .with_user(user)
        .with_group(group)
        .with_capabilities(args.cap)
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup)
        .with_apparmor(args.apparmor)
        .build()
        .with_context(|| format!("cannot exec in container {:?}", args.container_id))?;
    drop(held);
    if args.detach {
        return Ok(0);
    }
    foreground::wait_forwarding_signals(pid)
}

/// The process the caller asked for, as runc reads it: `--process FILE`, else the container's
/// process with the command line's arguments, environment, working directory, user, terminal,
/// `--no-new-privs`, AppArmor profile and SELinux label.
fn requested_process(spec: &Spec, args: &liboci_cli::Exec) -> Result<Process> {
    if let Some(path) = &args.process {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read process spec {}", path.display()))?;
        return serde_json::from_str(&text).map_err(|err| {
            anyhow!(
                "{}:{}:{}: invalid process spec: {err}",
                path.display(),
                err.line(),
                err.column()
            )
        });
    }
    if args.command.is_empty() {
        bail!("exec needs a command to run (or --process FILE)");
    }
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args.command.clone()));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    let mut env = process.env().clone().unwrap_or_default();
    for (key, value) in &args.env {
        env.retain(|entry| entry.split('=').next() != Some(key.as_str()));
        env.push(format!("{key}={value}"));
    }
    process.set_env(Some(env));
    process.set_terminal(Some(args.tty));
    let mut user = process.user().clone();
    if let Some((uid, gid)) = args.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !args.additional_gids.is_empty() {
        user.set_additional_gids(Some(args.additional_gids.clone()));
    }
    process.set_user(user);
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &args.process_label {
        process.set_selinux_label(Some(label.clone()));
    }
    Ok(process)
}

/// The held process spec, in the container's staged bundle for libcontainer to read; removed
/// when dropped.
struct HeldProcessFile {
    path: PathBuf,
}

impl HeldProcessFile {
    fn write(staged: &Path, process: &Process) -> Result<Self> {
        let path = staged.join(format!("exec-{}.json", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let held = Self { path };
        file.write_all(&serde_json::to_vec(process)?)
            .with_context(|| format!("cannot write {}", held.path.display()))?;
        Ok(held)
    }
}

impl Drop for HeldProcessFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
