use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, Hook, Hooks, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup,
    LinuxDeviceType, LinuxMemory, LinuxNamespaceType, LinuxPids, LinuxSeccompAction, Mount, Spec,
};

use super::*;
use crate::documents::SyscallProfile;
use crate::seccomp::filter::Treatment;

const CUSTOMER_SUPPORT: &str =
    include_str!("../../../bundles/customer-support/openshell-policy.yaml");
const SALES_OPS: &str = include_str!("../../../bundles/sales-ops/openshell-policy.yaml");

fn policy(spec: &str) -> PolicySet {
    let text = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: test\n\
         spec:\n{spec}"
    );
    PolicySet::parse("test.yaml", &text).unwrap()
}

/// `runc spec`'s configuration (oci-spec's default mirrors it).
fn runc_spec() -> Spec {
    Spec::default()
}

fn harden_default(caller: &Spec, set: &PolicySet) -> Spec {
    harden(caller, set, &HardenOptions::default()).unwrap().spec
}

fn linux(spec: &Spec) -> &Linux {
    spec.linux().as_ref().unwrap()
}

fn caps(set: &[Capability]) -> HashSet<Capability> {
    set.iter().copied().collect()
}

fn seccomp_filter(spec: &Spec) -> Filter {
    Filter::from_oci(linux(spec).seccomp().as_ref().unwrap())
}

fn namespace_path(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<PathBuf>> {
    linux(spec)
        .namespaces()
        .iter()
        .flatten()
        .find(|ns| ns.typ() == typ)
        .map(|ns| ns.path().clone())
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(destination.into());
    mount.set_typ(Some(typ.to_owned()));
    mount.set_source(Some(source.into()));
    mount.set_options(Some(options.iter().map(|o| (*o).to_owned()).collect()));
    mount
}

fn device(path: &str, major: i64, minor: i64) -> LinuxDevice {
    let mut device = LinuxDevice::default();
    device.set_path(path.into());
    device.set_typ(LinuxDeviceType::C);
    device.set_major(major);
    device.set_minor(minor);
    device
}

fn device_rule(allow: bool, major: Option<i64>, minor: Option<i64>) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow);
    rule.set_typ(Some(if major.is_some() {
        LinuxDeviceType::C
    } else {
        LinuxDeviceType::A
    }));
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some("rwm".into()));
    rule
}

fn env(spec: &Spec) -> Vec<String> {
    spec.process()
        .as_ref()
        .unwrap()
        .env()
        .clone()
        .unwrap_or_default()
}

#[test]
fn customer_support_policy_over_runc_spec() {
    let set = PolicySet::parse("cs.yaml", CUSTOMER_SUPPORT).unwrap();
    let hardened = harden_default(&runc_spec(), &set);

    for typ in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Network,
    ] {
        assert_eq!(namespace_path(&hardened, typ), Some(None), "{typ:?}");
    }

    let process = hardened.process().as_ref().unwrap();
    assert_eq!(process.no_new_privileges(), Some(true));
    let capabilities = process.capabilities().as_ref().unwrap();
    // runc's set (AUDIT_WRITE, KILL, NET_BIND_SERVICE) cut to the agent set.
    let expected = caps(&[Capability::Kill, Capability::NetBindService]);
    assert_eq!(capabilities.bounding().as_ref(), Some(&expected));
    assert_eq!(capabilities.effective().as_ref(), Some(&expected));
    assert_eq!(capabilities.permitted().as_ref(), Some(&expected));
    assert_eq!(capabilities.inheritable().as_ref(), Some(&expected));
    assert_eq!(capabilities.ambient().as_ref(), Some(&expected));

    assert_eq!(hardened.root().as_ref().unwrap().readonly(), Some(true));
    let mounts = hardened.mounts().as_ref().unwrap();
    let tmp = mounts
        .iter()
        .find(|m| m.destination() == Path::new("/tmp"))
        .unwrap();
    assert_eq!(tmp.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        tmp.options().as_ref().unwrap(),
        &["nosuid", "nodev", "mode=1777", "size=67108864"]
    );
    let run = mounts
        .iter()
        .find(|m| m.destination() == Path::new("/run"))
        .unwrap();
    assert!(
        run.options()
            .as_ref()
            .unwrap()
            .contains(&"size=16777216".to_owned())
    );

    let masked = linux(&hardened).masked_paths().as_ref().unwrap();
    for path in filesystem::DEFAULT_MASKED_PATHS {
        assert!(masked.contains(&path.to_owned()), "{path}");
    }
    let read_only = linux(&hardened).readonly_paths().as_ref().unwrap();
    assert!(read_only.contains(&"/proc/sys".to_owned()));

    let resources = linux(&hardened).resources().as_ref().unwrap();
    let memory = resources.memory().unwrap();
    assert_eq!(memory.limit(), Some(4 << 30));
    assert_eq!(memory.swap(), Some(4 << 30));
    let cpu = resources.cpu().as_ref().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(200_000), Some(100_000)));
    assert!(resources.pids().is_none());
    let rules = resources.devices().as_ref().unwrap();
    assert_eq!(rules[0], device_rule(false, None, None));
    assert!(rules.contains(&device_rule(true, Some(1), Some(3))));
    assert!(rules.contains(&device_rule(false, Some(195), None)));

    let seccomp = linux(&hardened).seccomp().as_ref().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(1));
    assert_eq!(
        seccomp.architectures().as_ref().unwrap(),
        &crate::seccomp::architectures(SyscallProfile::Minimal, std::env::consts::ARCH)
    );
    let filter = Filter::from_oci(seccomp);
    for name in [
        "mount",
        "unshare",
        "ptrace",
        "keyctl",
        "bpf",
        "kexec_load",
        "init_module",
    ] {
        assert_eq!(filter.treatment(name), Treatment::Denied, "{name}");
    }
    assert_eq!(filter.treatment("read"), Treatment::Allowed);
    assert_eq!(filter.treatment("socket"), Treatment::Conditional);
    assert_eq!(filter.syscalls["clone3"][0].errno, Some(38));
    let clone = &filter.syscalls["clone"][0].args[0];
    assert_eq!(
        (clone.value(), clone.value_two()),
        (0x7E02_0000, Some(0)),
        "OCI convention: mask in value, datum in valueTwo"
    );

    let annotations = hardened.annotations().as_ref().unwrap();
    assert_eq!(annotations[POLICY_ANNOTATION], "customer-support-agent");
    assert_eq!(annotations[DIGEST_ANNOTATION], set.digest());
}

#[test]
fn a_stricter_caller_stays_stricter() {
    let mut caller = runc_spec();
    let mut capabilities = LinuxCapabilities::default();
    let kill = caps(&[Capability::Kill]);
    capabilities.set_bounding(Some(kill.clone()));
    capabilities.set_effective(Some(kill.clone()));
    capabilities.set_permitted(Some(kill.clone()));
    caller
        .process_mut()
        .as_mut()
        .unwrap()
        .set_capabilities(Some(capabilities));
    let resources = caller
        .linux_mut()
        .as_mut()
        .unwrap()
        .resources_mut()
        .as_mut()
        .unwrap();
    let mut memory = LinuxMemory::default();
    memory.set_limit(Some(1 << 30));
    resources.set_memory(Some(memory));
    let mut cpu = LinuxCpu::default();
    cpu.set_quota(Some(25_000));
    cpu.set_period(Some(50_000));
    resources.set_cpu(Some(cpu));
    let mut pids = LinuxPids::default();
    pids.set_limit(100);
    resources.set_pids(Some(pids));

    let set = policy(
        "  isolation: {filesystem: read-write}\n  resources: {maxMemory: 4Gi, maxCPU: 2, \
         maxPids: 256}\n",
    );
    let hardened = harden_default(&caller, &set);
    let capabilities = hardened
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    assert_eq!(capabilities.bounding().as_ref(), Some(&kill));
    assert_eq!(capabilities.effective().as_ref(), Some(&kill));
    let resources = linux(&hardened).resources().clone().unwrap();
    assert_eq!(resources.memory().unwrap().limit(), Some(1 << 30));
    assert_eq!(resources.memory().unwrap().swap(), Some(1 << 30));
    let cpu = resources.cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (Some(25_000), Some(50_000)));
    assert_eq!(resources.pids().unwrap().limit(), 100);
    // read-write policy does not undo the caller's read-only root.
    assert_eq!(hardened.root().as_ref().unwrap().readonly(), Some(true));
}

#[test]
fn a_looser_caller_is_tightened() {
    let mut caller = runc_spec();
    let process = caller.process_mut().as_mut().unwrap();
    process.set_capabilities(None);
    process.set_no_new_privileges(None);
    process.set_env(Some(vec![
        "PATH=/bin".into(),
        "OPENSHELL_POLICY=customer-support-agent".into(),
        "NVIDIA_VISIBLE_DEVICES=all".into(),
    ]));
    caller
        .root_mut()
        .as_mut()
        .unwrap()
        .set_readonly(Some(false));
    let mounts = caller.mounts_mut().as_mut().unwrap();
    for mount in mounts.iter_mut() {
        if mount.destination() == Path::new("/sys") {
            mount.set_options(Some(vec!["nosuid".into(), "rw".into()]));
        }
    }
    mounts.push(mount("/dev/nvidia0", "bind", "/dev/nvidia0", &["bind"]));
    let mut nvidia_hook = Hook::default();
    nvidia_hook.set_path("/usr/bin/nvidia-container-runtime-hook".into());
    let mut hooks = Hooks::default();
    hooks.set_prestart(Some(vec![nvidia_hook]));
    caller.set_hooks(Some(hooks));
    let section = caller.linux_mut().as_mut().unwrap();
    let mut namespaces = section.namespaces().clone().unwrap();
    namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Uts);
    for ns in namespaces.iter_mut() {
        if matches!(
            ns.typ(),
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid
        ) {
            ns.set_path(Some(format!("/proc/42/ns/{:?}", ns.typ()).into()));
        }
    }
    section.set_namespaces(Some(namespaces));
    section.set_devices(Some(vec![
        device("/dev/null", 1, 3),
        device("/dev/fuse", 10, 229),
        device("/dev/nvidia0", 195, 0),
    ]));
    let resources = section.resources_mut().as_mut().unwrap();
    resources.set_devices(Some(vec![
        device_rule(false, None, None),
        device_rule(true, Some(10), Some(229)),
        device_rule(false, Some(1), Some(9)),
        device_rule(false, Some(1), Some(8)),
        device_rule(true, Some(1), Some(8)),
    ]));
    let mut memory = LinuxMemory::default();
    memory.set_limit(Some(8 << 30));
    memory.set_swap(Some(-1));
    resources.set_memory(Some(memory));
    let mut cpu = LinuxCpu::default();
    cpu.set_quota(Some(400_000));
    resources.set_cpu(Some(cpu));

    let set = policy("  isolation: {network: none}\n  resources: {maxMemory: 4Gi, maxCPU: 2}\n");
    let hardened = harden_default(&caller, &set);

    let process = hardened.process().as_ref().unwrap();
    let capabilities = process.capabilities().as_ref().unwrap();
    let agent: HashSet<Capability> = AGENT_CAPABILITIES.into_iter().collect();
    assert_eq!(capabilities.bounding().as_ref(), Some(&agent));
    assert_eq!(capabilities.ambient().as_ref(), Some(&HashSet::new()));
    assert_eq!(process.no_new_privileges(), Some(true));
    assert_eq!(env(&hardened), ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=void"]);
    assert_eq!(hardened.root().as_ref().unwrap().readonly(), Some(true));
    let mounts = hardened.mounts().as_ref().unwrap();
    let sys = mounts
        .iter()
        .find(|m| m.destination() == Path::new("/sys"))
        .unwrap();
    assert_eq!(sys.options().as_ref().unwrap(), &["nosuid", "ro"]);
    assert!(
        !mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/nvidia0"))
    );
    assert_eq!(
        hardened
            .hooks()
            .as_ref()
            .unwrap()
            .prestart()
            .as_ref()
            .unwrap()
            .len(),
        0
    );

    assert_eq!(
        namespace_path(&hardened, LinuxNamespaceType::Uts),
        Some(None)
    );
    assert_eq!(
        namespace_path(&hardened, LinuxNamespaceType::Network),
        Some(None)
    );
    assert_eq!(
        namespace_path(&hardened, LinuxNamespaceType::Pid),
        Some(Some("/proc/42/ns/Pid".into()))
    );

    let devices: Vec<&Path> = linux(&hardened)
        .devices()
        .iter()
        .flatten()
        .map(|d| d.path().as_path())
        .collect();
    assert_eq!(devices, [Path::new("/dev/null")]);
    let rules = linux(&hardened)
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert!(!rules.contains(&device_rule(true, Some(10), Some(229))));
    // The caller's denial of 1:8 was re-allowed by their own later rule; 1:9 was not.
    assert!(rules.contains(&device_rule(false, Some(1), Some(9))));
    assert!(!rules.contains(&device_rule(false, Some(1), Some(8))));
    assert_eq!(
        rules
            .iter()
            .filter(|r| r.major().is_none() && !r.allow())
            .count(),
        1
    );

    let resources = linux(&hardened).resources().clone().unwrap();
    assert_eq!(resources.memory().unwrap().limit(), Some(4 << 30));
    assert_eq!(resources.memory().unwrap().swap(), Some(4 << 30));
    assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(200_000));
    assert_eq!(resources.cpu().as_ref().unwrap().period(), Some(100_000));
}

#[test]
fn host_network_is_left_as_asked() {
    let mut caller = runc_spec();
    let linux_section = caller.linux_mut().as_mut().unwrap();
    let mut namespaces = linux_section.namespaces().clone().unwrap();
    namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
    linux_section.set_namespaces(Some(namespaces));
    let hardened = harden_default(&caller, &policy("  isolation: {network: host}\n"));
    assert_eq!(namespace_path(&hardened, LinuxNamespaceType::Network), None);
    let explanation = harden(
        &caller,
        &policy("  isolation: {network: host}\n"),
        &HardenOptions::default(),
    )
    .unwrap()
    .explanation;
    assert!(explanation.section("Namespaces").unwrap().lines.contains(
        &"network namespace left as the caller asked (isolation.network: host)".to_owned()
    ));
}

#[test]
fn read_write_filesystem_adds_only_the_tmpfs_the_policy_names() {
    let mut caller = runc_spec();
    caller
        .root_mut()
        .as_mut()
        .unwrap()
        .set_readonly(Some(false));
    let hardened = harden_default(&caller, &policy("  isolation: {filesystem: read-write}\n"));
    assert_eq!(hardened.root().as_ref().unwrap().readonly(), Some(false));
    assert_eq!(hardened.mounts(), &{
        let mut mounts = caller.mounts().clone().unwrap();
        for mount in mounts.iter_mut() {
            if mount.typ().as_deref() == Some("cgroup") || mount.typ().as_deref() == Some("sysfs") {
                let options = mount.options_mut().as_mut().unwrap();
                if !options.contains(&"ro".to_owned()) {
                    options.push("ro".into());
                }
            }
        }
        Some(mounts)
    });
    let hardened = harden_default(
        &caller,
        &policy(
            "  isolation:\n    filesystem: read-write\n    tmpfs: [{path: /scratch, size: 1Gi}]\n",
        ),
    );
    let scratch = hardened
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new("/scratch"))
        .unwrap();
    assert!(
        scratch
            .options()
            .as_ref()
            .unwrap()
            .contains(&"size=1073741824".to_owned())
    );
    assert!(
        !hardened
            .mounts()
            .iter()
            .flatten()
            .any(|m| m.destination() == Path::new("/tmp"))
    );
}

#[test]
fn a_callers_own_tmp_mount_is_kept_and_an_empty_tmpfs_list_adds_none() {
    let mut caller = runc_spec();
    let theirs = mount("/tmp", "bind", "/var/lib/agent/tmp", &["rbind", "rw"]);
    caller.mounts_mut().as_mut().unwrap().push(theirs.clone());
    let hardened = harden_default(&caller, &policy("  isolation: {filesystem: read-only}\n"));
    let tmps: Vec<&Mount> = hardened
        .mounts()
        .iter()
        .flatten()
        .filter(|m| m.destination() == Path::new("/tmp"))
        .collect();
    assert_eq!(tmps, [&theirs]);
    let hardened = harden_default(&runc_spec(), &policy("  isolation: {tmpfs: []}\n"));
    assert!(
        !hardened
            .mounts()
            .iter()
            .flatten()
            .any(|m| m.typ().as_deref() == Some("tmpfs")
                && [Path::new("/tmp"), Path::new("/run")].contains(&m.destination().as_path()))
    );
}

#[test]
fn unconfined_keeps_the_callers_seccomp_and_overrides_still_apply() {
    let caller = runc_spec();
    let hardened = harden_default(&caller, &policy("  isolation: {syscalls: unconfined}\n"));
    assert!(linux(&hardened).seccomp().is_none());

    let set =
        policy("  isolation:\n    syscalls: unconfined\n    syscallOverrides: {ptrace: deny}\n");
    let hardened = harden_default(&caller, &set);
    let filter = seccomp_filter(&hardened);
    assert_eq!(filter.default_action, LinuxSeccompAction::ScmpActAllow);
    assert_eq!(filter.treatment("ptrace"), Treatment::Denied);
    assert_eq!(filter.treatment("mount"), Treatment::Allowed);

    // Unconfined over a caller profile: the caller's profile, plus the override.
    let docker = harden_default(&caller, &policy("  isolation: {syscalls: default}\n"));
    let hardened = harden_default(&docker, &set);
    let result = seccomp_filter(&hardened);
    assert_eq!(result.treatment("mount"), Treatment::Denied);
    assert_eq!(result.treatment("ptrace"), Treatment::Denied);
    assert_eq!(result.treatment("read"), Treatment::Allowed);
}

#[test]
fn overrides_allow_deny_and_escalate() {
    let set = policy(
        "  isolation:\n    syscalls: minimal\n    syscallOverrides:\n      uname: deny\n      \
         personality: allow\n      ptrace: escalate\n",
    );
    let error = harden(&runc_spec(), &set, &HardenOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot apply policy 'test': test.yaml:11:7: syscall 'ptrace' is escalated but the \
         runtime gave no seccomp listener socket to hold it"
    );
    let options = HardenOptions {
        seccomp_listener: Some("/run/openshell/seccomp.sock".into()),
        ..HardenOptions::default()
    };
    let hardened = harden(&runc_spec(), &set, &options).unwrap().spec;
    let seccomp = linux(&hardened).seccomp().clone().unwrap();
    assert_eq!(
        seccomp.listener_path().as_deref(),
        Some(Path::new("/run/openshell/seccomp.sock"))
    );
    let filter = Filter::from_oci(&seccomp);
    assert_eq!(filter.treatment("uname"), Treatment::Denied);
    assert_eq!(filter.treatment("personality"), Treatment::Allowed);
    assert_eq!(filter.treatment("ptrace"), Treatment::Escalated);
    assert_eq!(
        filter.syscalls["ptrace"][0].action,
        LinuxSeccompAction::ScmpActNotify
    );
}

#[test]
fn hooks_are_injected_with_an_explicit_environment() {
    let mut caller = runc_spec();
    let mut theirs = Hook::default();
    theirs.set_path("/usr/local/bin/their-hook".into());
    let mut hooks = Hooks::default();
    hooks.set_create_runtime(Some(vec![theirs.clone()]));
    hooks.set_poststop(Some(vec![theirs.clone()]));
    caller.set_hooks(Some(hooks));
    let injection = HookInjection {
        path: "/usr/bin/openshell-hook".into(),
        create_runtime_args: vec!["openshell-hook".into(), "create-runtime".into()],
        poststop_args: vec!["openshell-hook".into(), "poststop".into()],
        env: vec![
            "PATH=/usr/bin".into(),
            "OPENSHELL_CONFIG=/etc/openshell/config.toml".into(),
        ],
        timeout_seconds: Some(10),
    };
    let options = HardenOptions {
        hooks: Some(injection.clone()),
        ..HardenOptions::default()
    };
    let hardened = harden(&caller, &policy("  {}\n"), &options).unwrap().spec;
    let hooks = hardened.hooks().as_ref().unwrap();
    let create = hooks.create_runtime().as_ref().unwrap();
    assert_eq!(create.len(), 2);
    assert_eq!(create[0].path(), Path::new("/usr/bin/openshell-hook"));
    assert_eq!(
        create[0].args().as_ref().unwrap(),
        &injection.create_runtime_args
    );
    assert_eq!(create[0].env().as_ref().unwrap(), &injection.env);
    assert_eq!(create[0].timeout(), Some(10));
    assert_eq!(create[1], theirs);
    let poststop = hooks.poststop().as_ref().unwrap();
    assert_eq!(poststop[0], theirs);
    assert_eq!(
        poststop[1].args().as_ref().unwrap(),
        &injection.poststop_args
    );

    let bare = HardenOptions {
        hooks: Some(HookInjection {
            env: Vec::new(),
            ..injection.clone()
        }),
        ..HardenOptions::default()
    };
    let hardened = harden(&runc_spec(), &policy("  {}\n"), &bare).unwrap().spec;
    let create = &hardened
        .hooks()
        .as_ref()
        .unwrap()
        .create_runtime()
        .clone()
        .unwrap()[0];
    assert_eq!(create.env().as_ref().unwrap().len(), 1);
    assert!(create.env().as_ref().unwrap()[0].starts_with("PATH="));

    let relative = HardenOptions {
        hooks: Some(HookInjection {
            path: "openshell-hook".into(),
            ..injection
        }),
        ..HardenOptions::default()
    };
    assert!(matches!(
        harden(&runc_spec(), &policy("  {}\n"), &relative),
        Err(PolicyError::Harden { .. })
    ));
}

#[test]
fn gpu_edits_are_merged_only_when_the_policy_grants_gpus() {
    let edits = GpuEdits {
        devices: vec![
            device("/dev/nvidiactl", 195, 255),
            device("/dev/nvidia0", 195, 0),
        ],
        device_rules: vec![
            device_rule(true, Some(195), Some(255)),
            device_rule(true, Some(195), Some(0)),
        ],
        mounts: vec![mount(
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "bind",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            &["ro", "nosuid", "nodev", "bind"],
        )],
        env: vec!["NVIDIA_VISIBLE_DEVICES=GPU-1234".into()],
        masked_paths: vec!["/proc/driver/nvidia/gpus/0000:02:00.0".into()],
    };
    let options = HardenOptions {
        gpu: Some(edits.clone()),
        ..HardenOptions::default()
    };
    let error = harden(
        &runc_spec(),
        &policy("  resources: {gpuAccess: none}\n"),
        &options,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("gpuAccess: none (line 6)"),
        "{error}"
    );

    let mut caller = runc_spec();
    caller
        .process_mut()
        .as_mut()
        .unwrap()
        .set_env(Some(vec!["NVIDIA_VISIBLE_DEVICES=all".into()]));
    let hardened = harden(
        &caller,
        &policy("  resources: {gpuAccess: inference-only}\n"),
        &options,
    )
    .unwrap()
    .spec;
    let devices = linux(&hardened).devices().clone().unwrap();
    assert_eq!(devices, edits.devices);
    assert!(
        linux(&hardened)
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&edits.masked_paths[0])
    );
    let rules = linux(&hardened)
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert!(rules.contains(&edits.device_rules[1]));
    assert!(!rules.contains(&device_rule(false, Some(195), None)));
    assert!(
        hardened
            .mounts()
            .as_ref()
            .unwrap()
            .contains(&edits.mounts[0])
    );
    assert_eq!(env(&hardened), ["NVIDIA_VISIBLE_DEVICES=GPU-1234"]);

    // GPU access granted but no edits supplied: no GPU reaches the container.
    let hardened = harden_default(
        &caller,
        &policy("  resources: {gpuAccess: inference-only}\n"),
    );
    assert_eq!(env(&hardened), ["NVIDIA_VISIBLE_DEVICES=void"]);
    assert!(linux(&hardened).devices().is_none());
}

#[test]
fn refuses_what_it_cannot_compile() {
    let catalog =
        PolicySet::parse("c.yaml", include_str!("../../../bundles/api-catalog.yaml")).unwrap();
    let error = harden(&runc_spec(), &catalog, &HardenOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot apply policy 'example-apis': c.yaml has no SandboxPolicy document to compile"
    );
    let mut no_process = runc_spec();
    no_process.set_process(None);
    assert!(harden(&no_process, &policy("  {}\n"), &HardenOptions::default()).is_err());
    let mut no_root = runc_spec();
    no_root.set_root(None);
    assert!(harden(&no_root, &policy("  {}\n"), &HardenOptions::default()).is_err());
}

#[test]
fn policy_env_is_read_and_never_reaches_the_agent() {
    let mut caller = runc_spec();
    caller.process_mut().as_mut().unwrap().set_env(Some(vec![
        "OPENSHELL_POLICY=first".into(),
        "A=1".into(),
        "OPENSHELL_POLICY=sales-ops-agent".into(),
        "OPENSHELL_POLICY_X=kept".into(),
    ]));
    assert_eq!(policy_from_env(&caller).as_deref(), Some("sales-ops-agent"));
    assert_eq!(policy_from_env(&runc_spec()), None);
    let set = PolicySet::parse("so.yaml", SALES_OPS).unwrap();
    let hardened = harden_default(&caller, &set);
    assert_eq!(env(&hardened), ["A=1", "OPENSHELL_POLICY_X=kept"]);
    assert_eq!(policy_from_env(&hardened), None);
}

#[test]
fn hardening_is_idempotent_and_explains_nothing_the_second_time() {
    let set = PolicySet::parse("cs.yaml", CUSTOMER_SUPPORT).unwrap();
    let once = harden_default(&runc_spec(), &set);
    let twice = harden(&once, &set, &HardenOptions::default()).unwrap();
    assert_eq!(twice.spec, once);
    assert!(
        twice.explanation.sections.is_empty(),
        "{}",
        twice.explanation
    );
}

#[test]
fn the_explanation_is_the_diff() {
    let set = PolicySet::parse("cs.yaml", CUSTOMER_SUPPORT).unwrap();
    let mut caller = runc_spec();
    caller
        .process_mut()
        .as_mut()
        .unwrap()
        .set_capabilities(None);
    let hardened = harden(&caller, &set, &HardenOptions::default()).unwrap();
    let explanation = &hardened.explanation;
    let text = explanation.to_string();
    assert!(
        text.starts_with("Policy 'customer-support-agent' (sha256:"),
        "{text}"
    );
    let lines = |title: &str| explanation.section(title).unwrap().lines.clone();
    let capabilities = lines("Capabilities");
    assert!(capabilities[0].starts_with("removed: CAP_AUDIT_CONTROL, CAP_AUDIT_READ"));
    assert!(capabilities[0].contains("CAP_SYS_ADMIN"));
    assert!(!capabilities[0].contains("CAP_KILL"));
    assert_eq!(
        capabilities[1],
        "kept: CAP_CHOWN, CAP_FOWNER, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SETGID, CAP_SETUID"
    );
    let filesystem = lines("Filesystem");
    assert!(filesystem.contains(&"writable tmpfs at /tmp (64 MiB, nosuid, nodev)".to_owned()));
    assert!(
        filesystem.contains(
            &"hidden (masked): /proc/interrupts, /sys/devices/virtual/powercap".to_owned()
        ),
        "{filesystem:#?}"
    );
    let limits = lines("Limits");
    assert_eq!(
        limits,
        [
            "memory: none → 4 GiB",
            "memory+swap: none → 4 GiB (no swap)",
            "CPU quota: none → 200000 µs per 100000 µs (2.00 CPUs)"
        ]
    );
    let syscalls = lines("System calls");
    assert!(
        syscalls.iter().any(|l| l.starts_with("denied: ")
            && l.contains("mount")
            && l.ends_with("filesystem view changes: the container's mounts are the runtime's")),
        "{syscalls:#?}"
    );
    assert!(
        syscalls
            .iter()
            .any(|l| l.starts_with("denied: clone3 (ENOSYS) — its flags live")),
        "{syscalls:#?}"
    );
    assert!(
        syscalls.iter().any(|l| l
            == "allowed: read, readv, pread64, preadv — read files, pipes and sockets"
            || (l.starts_with("allowed: ")
                && l.contains("preadv")
                && l.ends_with("read files, pipes and sockets"))),
        "{syscalls:#?}"
    );
    assert!(
        syscalls
            .iter()
            .any(|l| l.starts_with("allowed only with argument checks: clone (")),
        "{syscalls:#?}"
    );
    let annotations = lines("Annotations");
    assert_eq!(
        annotations[0],
        "openshell.nvidia.com/policy=customer-support-agent"
    );
    assert!(explanation.section("Namespaces").is_none());
}
