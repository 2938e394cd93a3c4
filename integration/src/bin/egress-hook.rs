//! Test stand-in for `openshell-hook`'s network step, until the hooks crate lands: an OCI hook
//! that calls `openshell_egress::sandbox_net` exactly as the real hook will.
//!
//! `egress-hook create-runtime --policy FILE` and `egress-hook poststop`, with the OCI state
//! on stdin and the node configuration from `OPENSHELL_CONFIG`. Failures exit non-zero, which
//! makes the runtime refuse to start the container.

use std::io::Read;

use anyhow::{Context, bail};
use openshell_egress::sandbox_net;
use openshell_policy::PolicySet;
use openshell_policy::node_config::NodeConfig;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("read the OCI state from stdin")?;
    let state: oci_spec::runtime::State =
        serde_json::from_str(&text).context("parse the OCI state")?;
    let node = NodeConfig::load()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create-runtime", "--policy", path] => {
            let policy = PolicySet::load(path)?;
            let report = sandbox_net::setup(&state, &policy, &node)?;
            eprintln!(
                "egress-hook: {} wired as {} in {:?}",
                state.id(),
                report.network.sandbox_ip,
                report.total()
            );
        }
        ["poststop"] => {
            let report = sandbox_net::teardown(state.id(), &node)?;
            if let Some(warning) = report.warning {
                eprintln!("egress-hook: {warning}");
            }
        }
        _ => bail!("usage: egress-hook create-runtime --policy FILE | poststop"),
    }
    Ok(())
}
