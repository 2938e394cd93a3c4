//! `spec`: write a starter `config.json`, as `runc spec` does.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use oci_spec::runtime::{
    LinuxBuilder, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, Spec,
    get_default_mounts, get_default_namespaces,
};

pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let bundle = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let spec = if args.rootless {
        rootless()?
    } else {
        starter()
    };
    write_new(&bundle.join("config.json"), &spec)
}

/// The hostname of a generated spec: the runtime's own name, as `runc spec` writes "runc"
/// (oci-spec's default, youki's, is "youki").
const HOSTNAME: &str = "openshell";

/// oci-spec's default spec under openshell's name.
fn starter() -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some(HOSTNAME.to_owned()));
    spec
}

/// Writes `spec` to `path`, refusing to overwrite an existing file (runc's behaviour).
fn write_new(path: &Path, spec: &Spec) -> Result<()> {
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            bail!("{} exists: remove it first", path.display())
        }
        Err(err) => return Err(err).context(format!("cannot create {}", path.display())),
    };
    serde_json::to_writer_pretty(&mut file, spec)?;
    file.write_all(b"\n")?;
    Ok(())
}

/// The default spec adapted for an unprivileged user: a user namespace mapping the caller to root,
/// no network namespace, and /sys bind-mounted read-only.
fn rootless() -> Result<Spec> {
    let mut namespaces: Vec<_> = get_default_namespaces()
        .into_iter()
        .filter(|ns| {
            !matches!(
                ns.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::User
            )
        })
        .collect();
    namespaces.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()?,
    );
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let mapping = |host: u32| {
        LinuxIdMappingBuilder::default()
            .host_id(host)
            .container_id(0u32)
            .size(1u32)
            .build()
    };
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .uid_mappings(vec![mapping(uid)?])
        .gid_mappings(vec![mapping(gid)?])
        .build()?;
    let mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        .map(|mut mount| {
            if mount.destination() == Path::new("/sys") {
                mount
                    .set_source(Some(PathBuf::from("/sys")))
                    .set_typ(Some("none".to_owned()))
                    .set_options(Some(
                        ["rbind", "nosuid", "noexec", "nodev", "ro"]
                            .map(String::from)
                            .to_vec(),
                    ));
            } else if let Some(options) = mount.options().clone() {
                let kept = options
                    .into_iter()
                    .filter(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                    .collect();
                mount.set_options(Some(kept));
            }
            mount
        })
        .collect();
    let mut spec = starter();
    spec.set_linux(Some(linux)).set_mounts(Some(mounts));
    Ok(spec)
}
