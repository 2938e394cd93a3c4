//! `exec`: run an additional process inside a running container.

use anyhow::{Context as _, Result};
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use super::{Context, require_status};
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
    // exec'd processes get the container's filter: hand it over precompiled.
    if let Ok(spec) = Spec::load(container.bundle().join("config.json")) {
        seccomp_cache::prepare(
            &root,
            spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
        );
    }
    keyring::join_new_session_keyring(&args.container_id)?;

    let (user, group) = match args.user {
        Some((uid, gid)) => (Some(uid), gid),
        None => (None, None),
    };
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_root_path(&root)?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())?
        .with_preserved_fds(args.preserve_fds)
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(args.env.into_iter().collect())
        .with_process(args.process.as_ref())
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
    if args.detach {
        return Ok(0);
    }
    foreground::wait_forwarding_signals(pid)
}
