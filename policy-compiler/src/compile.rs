//! [`compile`]: a policy and what the node contributes, turned into the container's one
//! [`CompiledPolicy`] record and an [`Explanation`] of every effect, part by part.
//!
//! Pure: the caller (the runtime) gathers the node's facts — GPU edits from its inventory, the
//! hook it injects, the egress engine's wiring, the region — and this function does no I/O.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use crate::compiled::{
    CompiledPolicy, DecisionRules, EgressPolicy, PolicySource, RoutingRules, SandboxNetwork,
};
use crate::documents::NetworkIsolation;
use crate::error::PolicyError;
use crate::explain::{Explanation, Section};
use crate::harden::{GpuEdits, HardenOptions, HookInjection, harden};
use crate::policy_set::PolicySet;
use crate::wire::AuditSettings;

/// What the node contributes to a container's compiled policy.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    /// GPU edits computed from the node's inventory (only with `gpuAccess` other than `none`).
    pub gpu: Option<GpuEdits>,
    /// The openshell hook to inject, if any.
    pub hooks: Option<HookInjection>,
    /// Socket of the seccomp supervisor; required when the policy escalates a syscall.
    pub seccomp_listener: Option<PathBuf>,
    /// The egress engine a restricted sandbox is wired to.
    pub egress: EgressWiring,
    /// The container's data-residency region, if any.
    pub region: Option<String>,
}

/// Where a restricted sandbox's traffic goes (the node configuration's `[egress]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressWiring {
    /// The engine's address on every sandbox link.
    pub gateway: Ipv4Addr,
    /// The engine's explicit proxy port.
    pub proxy_port: u16,
    /// The privacy router's port on the gateway.
    pub router_port: u16,
    /// The interception CA certificate on the host.
    pub ca_cert: PathBuf,
    /// Where the runtime writes the sandbox's resolver configuration (bind-mounted read-only
    /// as `/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
}

impl Default for EgressWiring {
    fn default() -> Self {
        let egress = crate::node_config::EgressSettings::default();
        EgressWiring {
            gateway: egress.gateway(),
            proxy_port: egress.proxy_port,
            router_port: egress.router_port,
            ca_cert: egress.ca_cert_path(),
            resolv_conf: PathBuf::from("resolv.conf"),
        }
    }
}

/// Where a restricted sandbox finds the egress engine's interception CA.
pub const EGRESS_CA_IN_SANDBOX: &str = "/etc/ssl/certs/openshell-egress-ca.pem";

/// A compiled policy and the explanation of what it does.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The record every component reads.
    pub policy: CompiledPolicy,
    /// Every effect, part by part: the spec's changes, the sandbox's network wiring, egress,
    /// decisions, approvals, routing and audit.
    pub explanation: Explanation,
}

/// Compiles `set` for a container whose caller spec is `caller`, on a node with `node`'s facts.
pub fn compile(set: &PolicySet, caller: &Spec, node: &NodeFacts) -> Result<Compiled, PolicyError> {
    let options = HardenOptions {
        hooks: node.hooks.clone(),
        seccomp_listener: node.seccomp_listener.clone(),
        gpu: node.gpu.clone(),
    };
    let hardened = harden(caller, set, &options)?;
    let mut spec = hardened.spec;
    let mut explanation = hardened.explanation;
    let sandbox = set.sandbox();
    let network = sandbox
        .map(|s| s.spec.isolation.network.value)
        .unwrap_or_default();
    let sandbox_network = (network == NetworkIsolation::Restricted).then(|| {
        let wiring = wire_restricted_network(&mut spec, &node.egress);
        explanation.sections.push(Section {
            title: "Sandbox network",
            lines: wiring_lines(&wiring, &node.egress),
        });
        wiring
    });
    let egress = egress_policy(set);
    let policy = CompiledPolicy {
        name: set.name().to_owned(),
        source: PolicySource {
            file: PathBuf::from(set.file()),
            digest: set.digest().to_owned(),
        },
        region: node.region.clone(),
        spec,
        sandbox_network,
        audit: egress.audit.clone(),
        egress,
        decisions: DecisionRules {
            network,
            gpu_access: sandbox
                .map(|s| s.spec.resources.gpu_access.value)
                .unwrap_or_default(),
            permissions: sandbox
                .map(|s| s.spec.permissions.clone())
                .unwrap_or_default(),
            natural_language: set
                .natural_language()
                .iter()
                .map(|nl| nl.spec.text.value.clone())
                .collect(),
            approval: set.approval().map(|a| a.spec.clone()),
        },
        routing: set.privacy_router().map(|router| RoutingRules {
            name: router.metadata.name.value.clone(),
            spec: router.spec.clone(),
        }),
        digest: String::new(),
    }
    .seal();
    explanation
        .sections
        .extend(crate::explain_record::services(&policy));
    Ok(Compiled {
        policy,
        explanation,
    })
}

/// Compiles the policy text of `file` for a container from the runc default spec on a node
/// with default facts (no hooks, no GPUs, the default egress wiring): the record that tools,
/// benchmarks and tests of the node services work with.
pub fn compile_default(file: &str, text: &str) -> Result<CompiledPolicy, PolicyError> {
    let set = PolicySet::parse(file, text)?;
    Ok(compile(&set, &Spec::default(), &NodeFacts::default())?.policy)
}

/// The egress part of a policy file: what `create` compiles for the egress engine, and what
/// `openshell policy set` replaces a running sandbox's with.
pub fn egress_policy(set: &PolicySet) -> EgressPolicy {
    let sandbox = set.sandbox();
    EgressPolicy {
        name: set.name().to_owned(),
        network: set.network().map(|n| n.spec.clone()).unwrap_or_default(),
        permissions: sandbox
            .map(|s| s.spec.permissions.clone())
            .unwrap_or_default(),
        catalog: set.api_catalog().map(|c| c.spec.clone()),
        audit: sandbox
            .map(|s| AuditSettings {
                enabled: s.spec.audit_log.enabled.value,
                destination: s
                    .spec
                    .audit_log
                    .destination
                    .as_ref()
                    .map(|d| d.value.to_string()),
            })
            .unwrap_or(AuditSettings {
                enabled: true,
                destination: None,
            }),
    }
}

/// The variables a restricted sandbox gets (replacing the caller's of the same name): the
/// proxy, which the gateway itself bypasses, and the privacy router as the OpenAI base URL
/// (`OPENAI_API_BASE` is the spelling older SDKs read). The caller token (`OPENAI_API_KEY`)
/// is not here: it is a credential, added by `create` to the process alone.
fn proxy_env(wiring: &SandboxNetwork) -> Vec<(&'static str, String)> {
    let proxy = wiring.proxy_url();
    let bypass = format!("localhost,127.0.0.1,{}", wiring.gateway);
    let router = wiring.router_url();
    vec![
        ("HTTP_PROXY", proxy.clone()),
        ("HTTPS_PROXY", proxy.clone()),
        ("http_proxy", proxy.clone()),
        ("https_proxy", proxy),
        ("NO_PROXY", bypass.clone()),
        ("no_proxy", bypass),
        ("SSL_CERT_FILE", EGRESS_CA_IN_SANDBOX.to_owned()),
        ("OPENAI_BASE_URL", router.clone()),
        ("OPENAI_API_BASE", router),
    ]
}

/// For `network: restricted`: everything the sandbox needs to reach the egress engine — the
/// proxy variables, a resolver pointing at the engine's DNS responder and the interception CA
/// as a trusted certificate, each replacing what the caller set for the same name or path.
fn wire_restricted_network(spec: &mut Spec, egress: &EgressWiring) -> SandboxNetwork {
    let wiring = SandboxNetwork {
        gateway: egress.gateway,
        proxy_port: egress.proxy_port,
        router_port: egress.router_port,
        resolv_conf: format!("nameserver {}\n", egress.gateway),
        ca_cert: egress.ca_cert.clone(),
    };
    let settings = proxy_env(&wiring);
    if let Some(process) = spec.process_mut() {
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        env.retain(|entry| {
            let name = entry.split('=').next().unwrap_or_default();
            !settings.iter().any(|(key, _)| *key == name)
        });
        env.extend(settings.iter().map(|(key, value)| format!("{key}={value}")));
        process.set_env(Some(env));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.retain(|m| {
        m.destination() != Path::new("/etc/resolv.conf")
            && m.destination() != Path::new(EGRESS_CA_IN_SANDBOX)
    });
    mounts.push(read_only_bind(&egress.resolv_conf, "/etc/resolv.conf"));
    mounts.push(read_only_bind(&egress.ca_cert, EGRESS_CA_IN_SANDBOX));
    spec.set_mounts(Some(mounts));
    wiring
}

fn wiring_lines(wiring: &SandboxNetwork, egress: &EgressWiring) -> Vec<String> {
    let mut lines: Vec<String> = proxy_env(wiring)
        .into_iter()
        .map(|(key, value)| format!("env {key}={value}"))
        .collect();
    lines.push(format!(
        "/etc/resolv.conf: read-only bind of {} (nameserver {})",
        egress.resolv_conf.display(),
        wiring.gateway
    ));
    lines.push(format!(
        "{EGRESS_CA_IN_SANDBOX}: read-only bind of the egress interception CA {}",
        wiring.ca_cert.display()
    ));
    lines
}

fn read_only_bind(source: &Path, destination: &str) -> Mount {
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(vec![
            "rbind".to_owned(),
            "ro".to_owned(),
            "nosuid".to_owned(),
            "nodev".to_owned(),
            "noexec".to_owned(),
        ])
        .build()
        .expect("a bind mount with every field set builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer_support() -> PolicySet {
        let dir = env!("CARGO_MANIFEST_DIR");
        PolicySet::load(format!(
            "{dir}/../bundles/customer-support/openshell-policy.yaml"
        ))
        .unwrap()
    }

    fn caller() -> Spec {
        let mut spec = Spec::default();
        let mut process = spec.process().clone().unwrap();
        process.set_env(Some(vec![
            "PATH=/bin".to_owned(),
            "HTTP_PROXY=http://attacker.example:8080".to_owned(),
        ]));
        spec.set_process(Some(process));
        spec
    }

    fn env_of(spec: &Spec) -> Vec<String> {
        spec.process().as_ref().unwrap().env().clone().unwrap()
    }

    fn facts() -> NodeFacts {
        NodeFacts {
            egress: EgressWiring {
                gateway: Ipv4Addr::new(10, 9, 0, 1),
                proxy_port: 3200,
                router_port: 4100,
                ca_cert: PathBuf::from("/etc/openshell/ca.pem"),
                resolv_conf: PathBuf::from("/run/openshell/c1/resolv.conf"),
            },
            region: Some("EU".to_owned()),
            ..NodeFacts::default()
        }
    }

    #[test]
    fn one_record_holds_every_part_of_the_policy() {
        let set = customer_support();
        let compiled = compile(&set, &caller(), &facts()).unwrap();
        let record = &compiled.policy;
        assert_eq!(record.name, "customer-support-agent");
        assert_eq!(record.source.digest, set.digest());
        assert_eq!(record.region.as_deref(), Some("EU"));
        let rules = &record.decisions;
        assert_eq!(rules.network, NetworkIsolation::Restricted);
        assert_eq!(rules.gpu_access, crate::GpuAccess::InferenceOnly);
        let allowed: Vec<String> = rules
            .permissions
            .allowed_apis
            .iter()
            .map(|p| p.value.to_string())
            .collect();
        assert_eq!(
            allowed,
            ["crm.read", "crm.update", "ticket.create", "ticket.resolve"]
        );
        assert_eq!(rules.natural_language.len(), 1);
        let approval = rules.approval.as_ref().unwrap();
        assert!(approval.triggers.iter().any(|t| {
            t.action.value.to_string() == "payment.process"
                && t.threshold.value == crate::Threshold::AboveUsdCents(10_000)
        }));
        assert_eq!(rules.approval_default(), crate::wire::Enforcement::Deny);
        assert!(!record.egress.network.egress.allow.is_empty());
        assert_eq!(
            record.audit.destination.as_deref(),
            Some("siem://security-events")
        );
        record.verify().unwrap();
    }

    #[test]
    fn a_restricted_sandbox_is_wired_to_the_egress_engine_in_the_spec() {
        let compiled = compile(&customer_support(), &caller(), &facts()).unwrap();
        let record = &compiled.policy;
        let wiring = record.sandbox_network.as_ref().unwrap();
        assert_eq!(wiring.resolv_conf, "nameserver 10.9.0.1\n");
        let env = env_of(&record.spec);
        assert!(env.contains(&"HTTP_PROXY=http://10.9.0.1:3200".to_owned()));
        assert!(
            !env.iter().any(|e| e.contains("attacker")),
            "the caller's proxy is replaced: {env:?}"
        );
        let mounts = record.spec.mounts().clone().unwrap();
        let resolv = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/etc/resolv.conf"))
            .unwrap();
        assert_eq!(
            resolv.source().as_deref(),
            Some(Path::new("/run/openshell/c1/resolv.conf"))
        );
        assert!(
            resolv
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_owned())
        );
        assert!(
            mounts
                .iter()
                .any(|m| m.destination() == Path::new(EGRESS_CA_IN_SANDBOX))
        );
        let text = compiled.explanation.to_string();
        for expected in [
            "Sandbox network",
            "env HTTP_PROXY=http://10.9.0.1:3200",
            "Egress",
            "allowed APIs: crm.read",
            "payment.process needs approval (above-100-usd)",
            "Routing",
            "siem://security-events",
            &record.digest,
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn an_unrestricted_sandbox_gets_no_wiring() {
        let set = PolicySet::parse(
            "p.yaml",
            "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {name: p}\nspec:\n  isolation: {network: none}\n",
        )
        .unwrap();
        let compiled = compile(&set, &caller(), &facts()).unwrap();
        assert!(compiled.policy.sandbox_network.is_none());
        let env = env_of(&compiled.policy.spec);
        assert!(env.contains(&"HTTP_PROXY=http://attacker.example:8080".to_owned()));
        assert!(compiled.explanation.section("Sandbox network").is_none());
    }

    #[test]
    fn the_record_survives_json_and_a_changed_record_is_refused() {
        let record = compile(&customer_support(), &caller(), &facts())
            .unwrap()
            .policy;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CompiledPolicy::FILE);
        std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
        assert_eq!(CompiledPolicy::read(&path).unwrap(), record);

        let mut widened = record.clone();
        widened.decisions.permissions.denied_apis.clear();
        std::fs::write(&path, serde_json::to_vec(&widened).unwrap()).unwrap();
        let err = CompiledPolicy::read(&path).unwrap_err().to_string();
        assert!(err.contains("changed after it was compiled"), "{err}");

        std::fs::write(&path, b"{\"name\": 1}").unwrap();
        let err = CompiledPolicy::read(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");

        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(
            CompiledPolicy::read(&link).is_err(),
            "a symlink is not followed"
        );
    }
}
