//! Namespaces: the container gets its own, except where sharing is harmless or asked for.

use oci_spec::runtime::{Linux, LinuxNamespace, LinuxNamespaceType};

use crate::documents::NetworkIsolation;

/// Namespaces every sandbox has, created fresh when the caller shares the host's.
///
/// A join by path (`"path": "/proc/123/ns/pid"`) is how pods share a pid, ipc or uts namespace
/// with their pause container; those joins are kept (a path cannot tell a pod's namespace from
/// the host's, and refusing them breaks every pod). A mount namespace join is replaced: the
/// sandbox's root filesystem must be its own. A network join is replaced unless the policy
/// says `network: host`, since `none` and `restricted` are about exactly that namespace.
const ALWAYS_OWN: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Cgroup,
];

fn fresh(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut namespace = LinuxNamespace::default();
    namespace.set_typ(typ);
    namespace
}

pub(super) fn apply(linux: &mut Linux, network: NetworkIsolation) {
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut required: Vec<LinuxNamespaceType> = ALWAYS_OWN.to_vec();
    if network != NetworkIsolation::Host {
        required.push(LinuxNamespaceType::Network);
    }
    for typ in required {
        match namespaces
            .iter_mut()
            .find(|namespace| namespace.typ() == typ)
        {
            None => namespaces.push(fresh(typ)),
            Some(joined) if joined.path().is_some() => {
                if matches!(typ, LinuxNamespaceType::Network | LinuxNamespaceType::Mount) {
                    joined.set_path(None);
                }
            }
            Some(_) => {}
        }
    }
    linux.set_namespaces(Some(namespaces));
}
