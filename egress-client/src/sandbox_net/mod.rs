//! Sandbox network wiring for `isolation.network: restricted`, called by `openshell-hook`:
//! [`setup`] at `createRuntime`, [`teardown`] at `poststop`.
//!
//! `setup` registers the container with the egress engine (which allocates its address from
//! the node's pool and starts deciding its traffic), creates a veth pair into the container's
//! network namespace (`/proc/PID/ns/net` from the OCI state) over rtnetlink, and checks that
//! the engine's proxy answers from inside the namespace. Anything failing undoes what was done
//! and fails the hook, so the container does not start (fail closed); so does a node whose
//! configuration names no egress engine (`[services] egress`).
//!
//! No nftables change is made per sandbox: the engine's node table covers every `osh*`
//! interface. Nothing is written outside the container's namespace
//! but the veth's node side, its gateway address and one /32 route, all removed with the veth.
//! No sysctl is read or written: the engine listens on the gateway address itself, so no
//! forwarding is needed.
//!
//! `teardown` unregisters the container and deletes the veth if the namespace still holds it.
//! It succeeds even when the engine is down (a container must stay deletable); the engine then
//! drops the registration itself once the veth is gone.
//!
//! [`active_policy`] and [`replace_policy`] are `openshell policy get|set`: the hot reload of a
//! running sandbox's egress policy.

mod link;
mod netns;

use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openshell_policy::node_config::NodeConfig;
use openshell_policy::{CompiledPolicy, PolicySet};
use socket2::{Domain, Protocol, Socket, Type};

pub use link::{CONTAINER_INTERFACE, Wiring, unwire, wire};
pub use netns::NetNs;

use crate::client::{ClientError, EgressClient, block_on};
use crate::records::{RegisterRequest, SandboxNetwork, SandboxRecord, interface_name};
use openshell_policy::compiled::EgressPolicy;

/// The interface prefix used to find a veth when the engine cannot be asked.
pub const DEFAULT_INTERFACE_PREFIX: &str = "osh";

/// Why the network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node configuration names no egress engine, so nothing would confine the sandbox.
    #[error(
        "isolation.network is restricted but the node configuration names no egress engine \
         ([services] egress in {config})"
    )]
    NoEngine {
        /// The node configuration file.
        config: PathBuf,
    },
    /// The OCI state carries no pid.
    #[error("the OCI state of {0} has no pid: its network namespace cannot be found")]
    NoPid(String),
    /// The engine refused or is unreachable.
    #[error(transparent)]
    Engine(#[from] ClientError),
    /// A namespace could not be opened or entered.
    #[error("network namespace {path}: {source}")]
    Netns {
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A netlink request failed.
    #[error("cannot {step}: {message}")]
    Netlink {
        /// What was being done.
        step: &'static str,
        /// The kernel's answer.
        message: String,
    },
    /// The engine does not answer from inside the sandbox.
    #[error("the egress engine at {address} is not reachable from the sandbox: {message}")]
    Unreachable {
        /// The proxy address.
        address: SocketAddrV4,
        /// Why.
        message: String,
    },
    /// No runtime for the async steps.
    #[error("cannot start the hook's runtime: {0}")]
    Runtime(std::io::Error),
}

/// What [`setup`] did and how long each step took.
#[derive(Clone, Debug)]
pub struct SetupReport {
    /// The sandbox's addresses and the node network.
    pub network: SandboxNetwork,
    /// Registering with the engine.
    pub register: Duration,
    /// Creating the veth pair, addresses and routes.
    pub wire: Duration,
    /// Reaching the proxy from inside.
    pub verify: Duration,
}

impl SetupReport {
    /// The whole setup.
    pub fn total(&self) -> Duration {
        self.register + self.wire + self.verify
    }
}

/// What [`teardown`] did.
#[derive(Clone, Debug, Default)]
pub struct TeardownReport {
    /// Whether the engine dropped a registration.
    pub unregistered: bool,
    /// Whether a veth was deleted (false when the namespace had already taken it away).
    pub interface_removed: bool,
    /// What could not be done (the engine unreachable); the container stays deletable.
    pub warning: Option<String>,
}

fn client(node: &NodeConfig) -> Result<EgressClient, NetError> {
    let socket = node
        .services
        .egress
        .clone()
        .ok_or_else(|| NetError::NoEngine {
            config: NodeConfig::default_path(),
        })?;
    Ok(EgressClient::new(
        socket,
        Duration::from_millis(node.hooks.timeout_ms),
    ))
}

/// `openshell policy get`: the record (and so the active policy) of a registered sandbox.
pub fn active_policy(container_id: &str, node: &NodeConfig) -> Result<SandboxRecord, NetError> {
    let client = client(node)?;
    Ok(block_on(client.sandbox(container_id)).map_err(NetError::Runtime)??)
}

/// `openshell policy set`: replaces a running sandbox's egress policy with the one in `set`;
/// the engine applies it from the next request on, without restarting the sandbox.
pub fn replace_policy(
    container_id: &str,
    set: &PolicySet,
    node: &NodeConfig,
) -> Result<SandboxRecord, NetError> {
    let client = client(node)?;
    let policy = openshell_policy::egress_policy(set);
    Ok(block_on(client.replace_policy(container_id, &policy)).map_err(NetError::Runtime)??)
}

/// `createRuntime`: wires the container of `state` under its compiled policy `record` (the
/// egress part is enforced on every connection; the whole record decides each API call).
pub fn setup(
    state: &oci_spec::runtime::State,
    record: &CompiledPolicy,
    node: &NodeConfig,
) -> Result<SetupReport, NetError> {
    let client = client(node)?;
    let pid = state
        .pid()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| NetError::NoPid(state.id().to_owned()))?;
    let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    block_on(setup_sandbox(
        &client,
        state.id(),
        &netns,
        record.egress.clone(),
        Some(record.clone()),
    ))
    .map_err(NetError::Runtime)?
}

/// `poststop`: unwires and unregisters `container_id`.
pub fn teardown(container_id: &str, node: &NodeConfig) -> Result<TeardownReport, NetError> {
    let client = client(node).ok();
    block_on(teardown_sandbox(client.as_ref(), container_id)).map_err(NetError::Runtime)?
}

/// [`setup`] for a namespace path and an engine client (the hook's and the benchmark's core).
pub async fn setup_sandbox(
    client: &EgressClient,
    container_id: &str,
    netns_path: &Path,
    policy: EgressPolicy,
    record: Option<CompiledPolicy>,
) -> Result<SetupReport, NetError> {
    let netns = NetNs::open(netns_path)?;
    let started = Instant::now();
    let request = RegisterRequest {
        container_id: container_id.to_owned(),
        policy,
        record,
    };
    let network = client.register(&request).await?;
    let registered = Instant::now();
    let wiring = Wiring {
        interface: network.interface.clone(),
        sandbox_ip: network.sandbox_ip,
        gateway: network.network.gateway,
    };
    let proxy = SocketAddrV4::new(network.network.gateway, network.network.proxy_port);
    let wired = wire(&netns, &wiring).await;
    let wired_at = Instant::now();
    let verified = match wired {
        Ok(()) => verify(&netns, proxy).await,
        Err(error) => Err(error),
    };
    if let Err(error) = verified {
        let _ = unwire(&wiring.interface).await;
        let _ = client.unregister(container_id).await;
        return Err(error);
    }
    Ok(SetupReport {
        register: registered - started,
        wire: wired_at - registered,
        verify: wired_at.elapsed(),
        network,
    })
}

/// [`teardown`] with an optional engine client (`None`: the node names no engine).
pub async fn teardown_sandbox(
    client: Option<&EgressClient>,
    container_id: &str,
) -> Result<TeardownReport, NetError> {
    let mut report = TeardownReport::default();
    let mut interface = interface_name(DEFAULT_INTERFACE_PREFIX, container_id);
    if let Some(client) = client {
        match client.sandbox(container_id).await {
            Ok(record) => interface = record.interface,
            Err(error) if error.is_not_found() => {}
            Err(error) => report.warning = Some(error.to_string()),
        }
        match client.unregister(container_id).await {
            Ok(()) => report.unregistered = true,
            Err(error) if error.is_not_found() => {}
            Err(error) => report.warning = Some(error.to_string()),
        }
    }
    report.interface_removed = unwire(&interface).await?;
    Ok(report)
}

/// Connects to the proxy from inside the namespace.
async fn verify(netns: &NetNs, proxy: SocketAddrV4) -> Result<(), NetError> {
    let unreachable = |message: String| NetError::Unreachable {
        address: proxy,
        message,
    };
    let socket = netns
        .within(|| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)))?
        .map_err(|e| unreachable(e.to_string()))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| unreachable(e.to_string()))?;
    let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
    tokio::time::timeout(
        Duration::from_secs(2),
        socket.connect(SocketAddr::V4(proxy)),
    )
    .await
    .map_err(|_| unreachable("no answer within 2 s".to_owned()))?
    .map_err(|e| unreachable(e.to_string()))?;
    Ok(())
}
