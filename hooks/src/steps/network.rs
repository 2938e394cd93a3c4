//! The sandbox-network step, between admission and registration: for
//! `isolation.network: restricted`, the container's network namespace is wired to the node's
//! egress engine (`openshell_egress::sandbox_net`), and the addresses go into the registration
//! record. Any failure fails the hook, so the container does not start; so does a node whose
//! configuration names no egress engine (`[services] egress`). `poststop` unwires whatever is
//! left and unregisters the container from the engine (a no-op for containers never wired).

use std::net::IpAddr;

use oci_spec::runtime::State;
use openshell_egress::sandbox_net;
use openshell_policy::PolicySet;
use openshell_policy::wire::SandboxAddresses;

use crate::steps::CreateContext;
use crate::{HookError, HookSettings};

/// `spec.isolation.network` values the step acts on.
const RESTRICTED: &str = "restricted";

/// Wires a restricted sandbox; leaves every other container alone.
pub fn run(ctx: &mut CreateContext) -> Result<(), HookError> {
    if ctx.policy.rules.network.as_deref() != Some(RESTRICTED) {
        return Ok(());
    }
    // The egress rules live in the policy documents; the runtime recorded which file and its
    // digest at `create`, so a file changed since then is refused rather than enforced.
    let file = ctx.policy.documents.first().ok_or_else(|| {
        HookError::Network(format!(
            "policy {:?} names no document to read its NetworkPolicy from",
            ctx.policy.name
        ))
    })?;
    let set = PolicySet::load(file).map_err(|e| HookError::Network(e.to_string()))?;
    if !ctx.policy.digest.is_empty() && set.digest() != ctx.policy.digest {
        return Err(HookError::Network(format!(
            "{} changed since the container was created ({} now, {} then)",
            file.display(),
            set.digest(),
            ctx.policy.digest
        )));
    }
    let report = sandbox_net::setup(&ctx.state, &set, &ctx.settings.node)
        .map_err(|e| HookError::Network(e.to_string()))?;
    let network = &report.network.network;
    let expected = &ctx.settings.node.egress;
    if network.gateway != expected.gateway || network.proxy_port != expected.proxy_port {
        // The runtime pointed the sandbox's proxy variables and resolver at the node
        // configuration's values; an engine serving others would leave it unreachable or, worse,
        // pointed at something else. Undo and refuse.
        let _ = sandbox_net::teardown(ctx.state.id(), &ctx.settings.node);
        return Err(HookError::Network(format!(
            "the egress engine serves {}:{} but the node configuration says {}:{} ([egress] gateway, proxy_port)",
            network.gateway, network.proxy_port, expected.gateway, expected.proxy_port
        )));
    }
    ctx.registration.sandbox = SandboxAddresses {
        sandbox_ip: Some(IpAddr::V4(report.network.sandbox_ip)),
        host_ip: Some(IpAddr::V4(network.gateway)),
        egress: Some(format!("{}:{}", network.gateway, network.proxy_port)),
        router: ctx.registration.sandbox.router.clone(),
    };
    Ok(())
}

/// Unwires and unregisters the container, if it was wired.
pub fn remove(state: &State, settings: &HookSettings) -> Result<(), HookError> {
    let report = sandbox_net::teardown(state.id(), &settings.node)
        .map_err(|e| HookError::Network(e.to_string()))?;
    if let Some(warning) = report.warning {
        eprintln!("openshell-hook: {warning}");
    }
    Ok(())
}
