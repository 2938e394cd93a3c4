//! Starting the daemon: the state directory (0700), the queue reloaded from it, the link key
//! and operator token, the audit trail, and the listeners.

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use openshell_audit::AuditHub;
use openshell_policy::node_config::NodeConfig;

use crate::config::Config;
use crate::http::{Bound, app};
use crate::notify::{Links, RetryPolicy, Sender};
use crate::queue::{Queue, QueueOptions};
use crate::secrets::{LinkKey, OPERATOR_TOKEN_FILE, OperatorToken};

/// Everything the daemon runs with (the configuration file with the flags applied).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration.
    pub config: Config,
    /// How notifications are retried.
    pub retry: RetryPolicy,
}

/// A started daemon, ready to serve.
pub struct Daemon {
    /// The queue.
    pub queue: Arc<Queue>,
    /// The bound listeners.
    pub bound: Bound,
    /// The routes.
    pub app: axum::Router,
}

impl Daemon {
    /// Creates the state directory, reloads the queue and binds the listeners. Must run inside
    /// a tokio runtime.
    pub async fn start(settings: Settings) -> anyhow::Result<Daemon> {
        let config = settings.config;
        // Before anything is created: a CA file that gives no roots stops the start.
        let sender = Sender::new(config.channels.ca_file.as_deref())
            .context("cannot set up TLS for notifications")?;
        let state_dir = config.state_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&state_dir)
            .with_context(|| format!("cannot create state directory {}", state_dir.display()))?;
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict state directory {}", state_dir.display()))?;
        let key = LinkKey::load(&state_dir)?;
        let token_path = config
            .operator_token_file
            .clone()
            .unwrap_or_else(|| state_dir.join(OPERATOR_TOKEN_FILE));
        let token = Arc::new(OperatorToken::load(&token_path)?);
        let audit = match &config.audit_trail {
            Some(trail) => {
                let mut node = NodeConfig::default();
                node.audit.trail = Some(trail.clone());
                node.audit.spool_dir = state_dir.join("audit-spool");
                Some(
                    AuditHub::new(&node)
                        .with_context(|| format!("cannot open audit trail {}", trail.display()))?,
                )
            }
            None => None,
        };
        let links = config.public_url.as_deref().map(|url| Links::new(url, key));
        let queue = Queue::open(QueueOptions {
            state_dir: state_dir.clone(),
            channels: config.channels.clone(),
            links,
            audit,
            retry: settings.retry,
            sender,
        })?;
        let socket: PathBuf = config.socket();
        let listen: Option<SocketAddr> = config.listen;
        let bound = Bound::bind(&socket, listen)
            .await
            .with_context(|| match listen {
                Some(addr) => format!("cannot listen on {} and {addr}", socket.display()),
                None => format!("cannot listen on {}", socket.display()),
            })?;
        let app = app(Arc::clone(&queue), token);
        Ok(Daemon { queue, bound, app })
    }
}
