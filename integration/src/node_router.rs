//! The node's privacy router (`openshell-router`) in an egress world's node namespace, named
//! by the node configuration (`[services] router`) so that the hooks register restricted
//! sandboxes with it; killed on drop.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::egress_world::EgressWorld;
use crate::service::unix_get;

/// A running router on the world's node, listening on the sandboxes' gateway
/// (`GATEWAY:4000`, from the node configuration).
pub struct NodeRouter {
    child: Child,
    socket: PathBuf,
}

impl NodeRouter {
    /// Writes `config` (the router's own TOML: endpoints, timing) to `router.toml` in the
    /// world's directory, names the router's admin socket in the node configuration, starts
    /// the router in the node's namespace (its log: `router.log`) and waits for its socket.
    pub fn start(world: &EgressWorld, config: &str) -> NodeRouter {
        let socket = world.dir().join("router.sock");
        let node_config = std::fs::read_to_string(world.node_config()).expect("node config");
        std::fs::write(
            world.node_config(),
            node_config.replacen(
                "[services]\n",
                &format!("[services]\nrouter = \"{}\"\n", socket.display()),
                1,
            ),
        )
        .expect("name the router in the node config");
        let router_config = world.dir().join("router.toml");
        std::fs::write(&router_config, config).expect("write the router's config");
        let log = std::fs::File::create(world.dir().join("router.log")).expect("router log");
        let child = world
            .node
            .command(crate::binaries::path("openshell-router"))
            .arg("--admin-socket")
            .arg(&socket)
            .arg("--config")
            .arg(&router_config)
            .env("OPENSHELL_CONFIG", world.node_config())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the log"))
            .stderr(log)
            .spawn()
            .expect("start openshell-router");
        let mut router = NodeRouter { child, socket };
        let up = crate::wait_for(Duration::from_secs(10), || {
            router.socket.exists() || matches!(router.child.try_wait(), Ok(Some(_)))
        });
        assert!(
            up && router.socket.exists(),
            "openshell-router did not start:\n{}",
            std::fs::read_to_string(world.dir().join("router.log")).unwrap_or_default()
        );
        router
    }

    /// `GET path` on the router's admin API: status and body.
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        unix_get(&self.socket, path)
    }

    /// The router's Prometheus metrics (`GET /metrics` on its admin socket).
    pub fn metrics(&self) -> String {
        let (status, text) = self.admin_get("/metrics");
        assert_eq!(status, 200, "GET /metrics on the router: {text}");
        text
    }
}

impl Drop for NodeRouter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
