//! The sandbox-network step, between admission and registration: for
//! `isolation.network: restricted`, the container's network namespace is wired to the node's
//! egress engine (`openshell_egress_client::sandbox_net`) under the egress part of its compiled
//! policy, and the addresses go into the registration record. Any failure fails the hook, so
//! the container does not start; so does a node whose configuration names no egress engine (`[services] egress`). `poststop` unwires whatever is
//! left and unregisters the container from the engine (a no-op for containers never wired).

use std::net::IpAddr;

use oci_spec::runtime::State;
use openshell_egress_client::sandbox_net;
use openshell_policy::wire::SandboxAddresses;

use crate::steps::CreateContext;
use crate::{HookError, HookSettings};

/// Wires a restricted sandbox (one whose compiled policy carries its network wiring); leaves
/// every other container alone.
pub fn run(ctx: &mut CreateContext) -> Result<(), HookError> {
    let Some(wired_to) = &ctx.policy.sandbox_network else {
        return Ok(());
    };
    let report = sandbox_net::setup(&ctx.state, &ctx.policy, &ctx.settings.node)
        .map_err(|e| HookError::Network(e.to_string()))?;
    let network = &report.network.network;
    if network.gateway != wired_to.gateway || network.proxy_port != wired_to.proxy_port {
        // The sandbox's proxy variables and resolver point where its compiled policy says; an
        // engine serving elsewhere (started with another node configuration) would leave it
        // unreachable or, worse, pointed at something else. Undo and refuse.
        let _ = sandbox_net::teardown(ctx.state.id(), &ctx.settings.node);
        return Err(HookError::Network(format!(
            "the egress engine serves {}:{} but the container was compiled for {}:{} (the node \
             configuration's [egress] pool and proxy_port when it was created)",
            network.gateway, network.proxy_port, wired_to.gateway, wired_to.proxy_port
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
