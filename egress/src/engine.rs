//! The engine: its shared state and the tasks that serve the gateway's listeners, the DNS
//! responder and the admin socket.
//!
//! At start it restores the saved registrations whose veth still exists, installs the node's
//! nftables table (unless `[network] firewall = false`), loads or creates the interception CA,
//! and binds the explicit proxy, the transparent listener and the DNS responder on the gateway
//! address with `IP_FREEBIND` (the address appears on the first sandbox's veth), and the
//! ingress listener when configured. Every 10 s it
//! checks the table is still there (registrations are refused while it is not) and drops
//! registrations whose veth vanished without a `poststop`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use openshell_audit::AuditHub;
use openshell_policy::PolicySet;
use openshell_policy::node_config::NodeConfig;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket, UnixListener};
use tokio::task::JoinHandle;

use crate::actions::Actions;
use crate::audit::EgressAudit;
use crate::body_scan::BodyScanner;
use crate::config::EngineConfig;
use crate::interception::{Interceptor, upstream_client_config};
use crate::metrics::Metrics;
use crate::rate_limit::{self, RateLimits};
use crate::registry::Registry;
use crate::resolver::Resolver;
use crate::sandbox::SandboxRecord;
use crate::state::EngineState;
use crate::synthetic::SyntheticNames;
use crate::{admin, dns, firewall, ingress, proxy};

/// Where the CA lives when neither the engine's nor the node's configuration names it.
pub const DEFAULT_CA_CERT: &str = openshell_policy::node_config::DEFAULT_EGRESS_CA;
/// Its key.
pub const DEFAULT_CA_KEY: &str = "/var/lib/openshell/egress/ca.key";

/// How often the table and the registrations are checked.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Registrations younger than this are never pruned (their veth may not exist yet).
const PRUNE_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A socket could not be bound.
    #[error("cannot listen on {what} {address}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// Where.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Anything else that stops the start: configuration, CA, state, firewall.
    #[error("{0}")]
    Start(String),
}

fn start_error(error: impl std::fmt::Display) -> EngineError {
    EngineError::Start(error.to_string())
}

/// How the engine records decisions.
pub enum AuditMode {
    /// Through the node's audit hub (trail and policy destinations).
    Node,
    /// Not at all (benchmarks of the proxy path alone).
    Off,
}

/// Whether the host-side veth of `record` exists in this network namespace.
pub fn veth_exists(record: &SandboxRecord) -> bool {
    nix::net::if_::if_nametoindex(record.interface.as_str()).is_ok()
}

fn bind_tcp(what: &'static str, address: SocketAddrV4) -> Result<TcpListener, EngineError> {
    let bind_error = |source| EngineError::Bind {
        what,
        address: address.to_string(),
        source,
    };
    let socket =
        Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(bind_error)?;
    socket.set_reuse_address(true).map_err(bind_error)?;
    socket.set_freebind_v4(true).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket
        .bind(&SocketAddr::V4(address).into())
        .map_err(bind_error)?;
    socket.listen(4096).map_err(bind_error)?;
    TcpListener::from_std(socket.into()).map_err(bind_error)
}

fn bind_udp(what: &'static str, address: SocketAddrV4) -> Result<UdpSocket, EngineError> {
    let bind_error = |source| EngineError::Bind {
        what,
        address: address.to_string(),
        source,
    };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(bind_error)?;
    socket.set_freebind_v4(true).map_err(bind_error)?;
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket
        .bind(&SocketAddr::V4(address).into())
        .map_err(bind_error)?;
    UdpSocket::from_std(socket.into()).map_err(bind_error)
}

/// A running engine; dropping it stops its tasks (the node's table stays).
pub struct Engine {
    state: Arc<EngineState>,
    tasks: Vec<JoinHandle<()>>,
    admin_socket: PathBuf,
}

impl Engine {
    /// Starts the engine in the current network namespace, serving the admin API on
    /// `admin_socket`. Needs a tokio runtime.
    pub async fn start(
        config: EngineConfig,
        node: &NodeConfig,
        admin_socket: &Path,
        audit: AuditMode,
    ) -> Result<Engine, EngineError> {
        let config = config.with_node_defaults(node).map_err(start_error)?;
        let default_catalog = match &config.catalog {
            Some(path) => {
                let set = PolicySet::load(path).map_err(start_error)?;
                let catalog = set.api_catalog().ok_or_else(|| {
                    EngineError::Start(format!("{} holds no ApiCatalog", path.display()))
                })?;
                Some(catalog.spec.clone())
            }
            None => None,
        };
        let registry = Registry::new(
            config.state_file.clone(),
            config.network.clone(),
            default_catalog,
            config.limits.max_connections_per_sandbox,
        );
        let (restored, dropped) = registry.restore(veth_exists).map_err(start_error)?;
        tracing::info!(?restored, ?dropped, "registrations restored");
        let resolver = Resolver::new(&config.resolver, config.addresses.internal_allow.clone())
            .map_err(start_error)?;
        let ca_cert = config
            .tls
            .ca_cert
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_CERT));
        let ca_key = config
            .tls
            .ca_key
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_KEY));
        let interceptor = Interceptor::load_or_create(
            &ca_cert,
            &ca_key,
            &config.tls.permitted_domains,
            config.tls.leaf_cache,
        )
        .map_err(start_error)?;
        let upstream_tls = upstream_client_config(&config.upstream.ca_file).map_err(start_error)?;
        let audit = match audit {
            AuditMode::Node => {
                EgressAudit::new(Arc::new(AuditHub::new(node).map_err(start_error)?))
            }
            AuditMode::Off => EgressAudit::disabled(),
        };
        if config.network.firewall {
            firewall::install(&config.network).map_err(start_error)?;
        }
        let body_scanner = BodyScanner {
            max_bytes: config.limits.body_scan_max_bytes,
            timeout: config.limits.scan_timeout(),
            block_at: config.inspection.block_at,
        };
        let gateway = config.network.gateway();
        let explicit = bind_tcp(
            "the explicit proxy",
            SocketAddrV4::new(gateway, config.network.proxy_port),
        )?;
        let transparent = bind_tcp(
            "the transparent listener",
            SocketAddrV4::new(gateway, config.network.transparent_port),
        )?;
        let dns_socket = bind_udp(
            "the DNS responder",
            SocketAddrV4::new(gateway, config.network.dns_port),
        )?;
        let ingress = match config.ingress.listen {
            Some(address) => {
                Some(
                    TcpListener::bind(address)
                        .await
                        .map_err(|source| EngineError::Bind {
                            what: "the ingress listener",
                            address: address.to_string(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let actions = Actions::for_node(node).map_err(EngineError::Start)?;
        let admin_listener = bind_admin(admin_socket)?;
        let rate_limits = Arc::new(RateLimits::new(&config.limits));
        let state = Arc::new(EngineState {
            synthetic: Mutex::new(SyntheticNames::new(config.network.synthetic)),
            rate_limits: Arc::clone(&rate_limits),
            config,
            registry,
            resolver,
            interceptor,
            upstream_tls,
            audit: audit.clone(),
            metrics: Metrics::new(),
            actions,
            body_scanner,
            firewall_ok: AtomicBool::new(true),
        });
        let mut tasks = vec![
            tokio::spawn(proxy::listener::serve_explicit(
                Arc::clone(&state),
                explicit,
            )),
            tokio::spawn(proxy::listener::serve_transparent(
                Arc::clone(&state),
                transparent,
            )),
            tokio::spawn(dns::serve(Arc::clone(&state), dns_socket)),
            tokio::spawn(serve_admin(Arc::clone(&state), admin_listener)),
            tokio::spawn(sweep(Arc::clone(&state))),
            tokio::spawn(rate_limit::report_every_second(rate_limits, audit)),
        ];
        if let Some(listener) = ingress {
            tasks.push(tokio::spawn(ingress::serve(Arc::clone(&state), listener)));
        }
        tracing::info!(%gateway, "egress engine started");
        Ok(Engine {
            state,
            tasks,
            admin_socket: admin_socket.to_owned(),
        })
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<EngineState> {
        &self.state
    }

    /// The gateway address the listeners are bound to.
    pub fn gateway(&self) -> Ipv4Addr {
        self.state.config.network.gateway()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.admin_socket);
    }
}

fn bind_admin(path: &Path) -> Result<UnixListener, EngineError> {
    let bind_error = |source| EngineError::Bind {
        what: "the admin socket",
        address: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(bind_error)?;
    }
    // A socket file left by a previous engine that is gone: nothing answers on it.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_error)?;
    Ok(listener)
}

async fn serve_admin(state: Arc<EngineState>, listener: UnixListener) {
    if let Err(error) = axum::serve(listener, admin::router(state)).await {
        tracing::error!("admin API stopped: {error}");
    }
}

async fn sweep(state: Arc<EngineState>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        interval.tick().await;
        if state.config.network.firewall {
            let installed = tokio::task::spawn_blocking(firewall::is_installed)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if !installed {
                tracing::error!("the node's nftables table is missing: reinstalling");
                let network = state.config.network.clone();
                let reinstalled = tokio::task::spawn_blocking(move || firewall::install(&network))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .is_some();
                state.firewall_ok.store(reinstalled, Ordering::Release);
            } else {
                state.firewall_ok.store(true, Ordering::Release);
            }
        }
        let now = Utc::now();
        let pruned = state
            .registry
            .prune(|record| now - record.registered_at > PRUNE_GRACE && !veth_exists(record));
        if !pruned.is_empty() {
            tracing::info!(?pruned, "dropped registrations whose sandbox is gone");
        }
        state.metrics.sandboxes.set(state.registry.len() as i64);
    }
}
