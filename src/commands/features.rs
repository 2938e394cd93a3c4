//! `features`: what this runtime supports, in the runtime-spec "features" document.

use std::collections::HashMap;

use anyhow::Result;
use libcontainer::syscall::linux::MountOption;
use oci_spec::runtime::{
    ApparmorBuilder, Arch, CgroupBuilder, FeaturesBuilder, IntelRdtBuilder, LinuxFeatureBuilder,
    LinuxNamespaceType, LinuxSeccompAction, SeccompBuilder, SelinuxBuilder, VERSION,
};

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

pub fn features() -> Result<()> {
    let seccomp_version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let linux = LinuxFeatureBuilder::default()
        .namespaces(vec![
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::User,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Time,
        ])
        .capabilities(
            caps::all()
                .iter()
                .map(|cap| cap.to_string())
                .collect::<Vec<_>>(),
        )
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(true)
                .systemd_user(true)
                .rdma(false)
                .build()?,
        )
        .seccomp(
            SeccompBuilder::default()
                .enabled(true)
                .actions(vec![
                    LinuxSeccompAction::ScmpActAllow,
                    LinuxSeccompAction::ScmpActErrno,
                    LinuxSeccompAction::ScmpActKill,
                    LinuxSeccompAction::ScmpActKillProcess,
                    LinuxSeccompAction::ScmpActKillThread,
                    LinuxSeccompAction::ScmpActLog,
                    LinuxSeccompAction::ScmpActNotify,
                    LinuxSeccompAction::ScmpActTrace,
                    LinuxSeccompAction::ScmpActTrap,
                ])
                .operators(
                    [
                        "SCMP_CMP_NE",
                        "SCMP_CMP_LT",
                        "SCMP_CMP_LE",
                        "SCMP_CMP_EQ",
                        "SCMP_CMP_GE",
                        "SCMP_CMP_GT",
                        "SCMP_CMP_MASKED_EQ",
                    ]
                    .map(String::from)
                    .to_vec(),
                )
                .archs(vec![
                    Arch::ScmpArchX86_64,
                    Arch::ScmpArchX86,
                    Arch::ScmpArchX32,
                    Arch::ScmpArchAarch64,
                ])
                .build()?,
        )
        .apparmor(ApparmorBuilder::default().enabled(true).build()?)
        .selinux(SelinuxBuilder::default().enabled(false).build()?)
        .intel_rdt(IntelRdtBuilder::default().enabled(true).build()?)
        .build()?;
    let annotations = HashMap::from([
        (
            "io.github.seccomp.libseccomp.version".to_owned(),
            seccomp_version,
        ),
        (
            "org.opencontainers.runc.checkpoint.enabled".to_owned(),
            "false".to_owned(),
        ),
        (
            "nvidia.com/openshell.policy.annotation".to_owned(),
            "openshell.nvidia.com/policy".to_owned(),
        ),
    ]);
    let features = FeaturesBuilder::default()
        .oci_version_min("1.0.0".to_owned())
        .oci_version_max(VERSION.to_owned())
        .hooks(HOOKS.map(String::from).to_vec())
        .mount_options(MountOption::known_options())
        .linux(linux)
        .annotations(annotations)
        .build()?;
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}
