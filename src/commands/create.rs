//! `create`: set up a container from a bundle and leave its init waiting for `start`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus, State};
use libcontainer::hooks;
use libcontainer::syscall::syscall::SyscallType;

use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};
use openshell_policy::caller_token::{self, CallerToken};
use openshell_policy::node_config::NodeConfig;

use super::{Context, validate_id};
use crate::bundle::{CallerBundle, PolicyFiles, StagedBundle};
use crate::container_floor::ContainerFloor;
use crate::{cgroup_path, exe_seal, hardening, keyring, loopback, policy_attach, seccomp_cache};

/// What `create` and `run` need to build a container's init.
pub struct InitRequest<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub console_socket: Option<&'a PathBuf>,
    pub pid_file: Option<&'a PathBuf>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub detach: bool,
}

pub fn create(ctx: &Context, args: liboci_cli::Create) -> Result<()> {
    create_container(
        ctx,
        &InitRequest {
            id: &args.container_id,
            bundle: &args.bundle,
            console_socket: args.console_socket.as_ref(),
            pid_file: args.pid_file.as_ref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            no_new_keyring: args.no_new_keyring,
            detach: true,
        },
    )
    .map(drop)
}

/// Builds the container: stages the spec the runtime will run, then asks libcontainer to create
/// it. On failure nothing is left behind: no state directory, staged bundle or cgroup.
pub fn create_container(ctx: &Context, req: &InitRequest<'_>) -> Result<Container> {
    validate_id(req.id)?;
    let root = ctx.create_root()?;
    if root.join(req.id).exists() {
        bail!("container {:?} already exists", req.id);
    }
    // Re-executes from the sealed binary before any real work, which would otherwise be done
    // twice (loading and hardening the spec costs about a millisecond).
    exe_seal::ensure_sealed(&root)?;
    let caller = CallerBundle::load(req.bundle)?;
    let node = NodeConfig::load()?;
    let staged_dir = StagedBundle::path(&root, req.id);
    let mut caller_spec = caller.spec;
    // Before the policy is compiled, so the compiled record's spec is the staged config.json.
    cgroup_path::ensure_cgroups_path(&mut caller_spec, req.id, ctx.systemd_cgroup)?;
    let (spec, policy) = apply_policy(ctx, req.id, caller_spec, &caller.dir, &node, &staged_dir)?;

    let staged = StagedBundle::write(&root, req.id, &caller.dir, &spec, &policy)?;
    seccomp_cache::prepare(
        &root,
        spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
    );
    let new_netns = has_new_network_namespace(&spec);
    let built = build_init(ctx, &root, staged.dir(), req).and_then(|container| {
        if new_netns {
            let pid = container
                .pid()
                .context("created container has no init pid")?;
            loopback::bring_up(pid.as_raw()).context("cannot bring up lo in the container")?;
        }
        Ok(container)
    });
    if built.is_err() {
        remove_partial_container(&root, req.id);
        undo_injected_hooks(&spec, req.id, staged.dir());
        staged.remove();
    }
    built
}

/// A create that fails after the createRuntime hook ran (the program does not exist, say) may
/// leave what the hook set up: the registration record, the sandbox's network. The injected
/// poststop hook removes it, as it does after a normal stop; it is idempotent, so running it
/// after a cleanup that already did is harmless. The caller's own hooks are not run twice.
fn undo_injected_hooks(spec: &Spec, id: &str, bundle: &Path) {
    let injected: Vec<Hook> = spec
        .hooks()
        .as_ref()
        .and_then(|hooks| hooks.poststop().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|hook| {
            hardening::is_injected_hook(
                hook.args()
                    .as_ref()
                    .and_then(|args| args.first())
                    .map(String::as_str),
            )
        })
        .collect();
    if injected.is_empty() {
        return;
    }
    let mut state = State::new(id, ContainerStatus::Stopped, None, bundle.to_path_buf());
    state.annotations = spec.annotations().clone();
    if let Err(err) = hooks::run_hooks(Some(&injected), Some(&state), None, None, None) {
        tracing::warn!("poststop after the failed create of {id:?}: {err}");
    }
}

/// Hardens the caller's spec by the container's policy, if it has one (else returns it as is),
/// with the files the policy adds to the staged bundle in `staged_dir`. A restricted sandbox
/// also gets its router caller token, in its process alone (not in the compiled record).
fn apply_policy(
    ctx: &Context,
    id: &str,
    spec: Spec,
    bundle: &Path,
    node: &NodeConfig,
    staged_dir: &Path,
) -> Result<(Spec, PolicyFiles)> {
    let Some(attached) =
        policy_attach::resolve(&spec, bundle, ctx.default_policy.as_deref(), node)?
    else {
        return Ok((spec, PolicyFiles::default()));
    };
    let policy = &attached.policy;
    let context = || format!("policy {:?} from {}", policy.name(), attached.origin);
    let hooks =
        hardening::hook_injection(node, policy, &staged_dir.join(StagedBundle::POLICY_FILE))
            .with_context(context)?;
    let compiled = hardening::compile(&spec, policy, node, staged_dir, Some(hooks))
        .with_context(context)?
        .policy;
    hardening::check_egress_ca(&compiled).with_context(context)?;
    hardening::check_seccomp_supervisor(&compiled).with_context(context)?;
    tracing::info!("{}", attached.derivation.trim_end());
    let mut spec = compiled.spec.clone();
    let caller_token = match compiled.sandbox_network {
        Some(_) => {
            let token = CallerToken::draw(id).context("cannot draw the router caller token")?;
            hardening::set_env(&mut spec, caller_token::ENV, token.as_str());
            Some(token.digest())
        }
        None => None,
    };
    let files = PolicyFiles {
        floor: Some(ContainerFloor::new(policy, &spec)),
        compiled: Some(compiled),
        caller_token,
    };
    Ok((spec, files))
}

/// True when the container gets a network namespace of its own (not joined by path).
fn has_new_network_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|linux| linux.namespaces().as_ref())
        .is_some_and(|namespaces| {
            namespaces
                .iter()
                .any(|ns| ns.typ() == LinuxNamespaceType::Network && ns.path().is_none())
        })
}

fn build_init(
    ctx: &Context,
    root: &Path,
    bundle: &Path,
    req: &InitRequest<'_>,
) -> Result<Container> {
    if !req.no_new_keyring {
        keyring::join_new_session_keyring(req.id)?;
    }
    let container = ContainerBuilder::new(req.id.to_owned(), SyscallType::default())
        .with_root_path(root)?
        .with_pid_file(req.pid_file)?
        .with_console_socket(req.console_socket)
        .with_preserved_fds(req.preserve_fds)
        .as_init(bundle)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(req.detach)
        .with_no_pivot(req.no_pivot)
        .build()
        .with_context(|| format!("cannot create container {:?}", req.id))?;
    Ok(container)
}

/// Removes whatever a failed create left: the init (if it was started), the cgroup, the state.
fn remove_partial_container(root: &Path, id: &str) {
    let dir = root.join(id);
    if !dir.exists() {
        return;
    }
    let deleted = Container::load(dir.clone()).and_then(|mut container| container.delete(true));
    if let Err(err) = deleted {
        tracing::warn!("cleanup of container {id:?} after a failed create: {err}");
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            tracing::warn!("cannot remove {}: {err}", dir.display());
        }
    }
}
