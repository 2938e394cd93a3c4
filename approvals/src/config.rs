//! The daemon's configuration file (TOML, `--config`): where it keeps its state, where it
//! listens, its audit trail, the public address of its signed links, and the node's
//! notification channels. Command-line flags override the file.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use openshell_policy::wire::APPROVALS_SOCKET;
use serde::Deserialize;

/// Where the queue, the link key and the operator token live by default.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/openshell/approvals";

/// The configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The state directory (default [`DEFAULT_STATE_DIR`]).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// The local API socket (default `APPROVALS_SOCKET`).
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// A TCP address for consoles and chat-link callbacks (`127.0.0.1:9447`); none by default.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The operator token file (default `operator.token` in the state directory).
    #[serde(default)]
    pub operator_token_file: Option<PathBuf>,
    /// The node's audit trail (JSON lines); none by default.
    #[serde(default)]
    pub audit_trail: Option<PathBuf>,
    /// The address operators reach the TCP listener at (`https://node7.example:9447`): signed
    /// links are built on it. Required when a channel is configured.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The notification channels.
    #[serde(default)]
    pub channels: Channels,
}

/// The node's notification channels; a request names the ones it wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// The CAs (PEM) that `https://` webhooks are verified against, instead of the bundled
    /// Web PKI roots: a node behind a TLS-inspecting proxy, or channels on a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A Slack incoming webhook.
    #[serde(default)]
    pub slack: Option<Webhook>,
    /// A Microsoft Teams incoming webhook.
    #[serde(default)]
    pub teams: Option<Webhook>,
    /// A PagerDuty Events API v2 integration.
    #[serde(default)]
    pub pagerduty: Option<PagerDuty>,
}

/// An incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where messages are posted (`http://` or `https://`).
    pub webhook_url: String,
}

/// A PagerDuty Events API v2 integration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDuty {
    /// The events endpoint.
    #[serde(default = "default_events_url")]
    pub events_url: String,
    /// The service's integration (routing) key.
    pub routing_key: String,
}

fn default_events_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_owned()
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read approvals config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`] (the message names the field and line).
    #[error("approvals config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("approvals config {path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field (`channels.slack.webhook_url`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks `text`, read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Checks the URLs: http(s) only, and a `public_url` when any channel is configured.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let urls = [
            ("public_url", self.public_url.as_deref()),
            (
                "channels.slack.webhook_url",
                self.channels.slack.as_ref().map(|w| w.webhook_url.as_str()),
            ),
            (
                "channels.teams.webhook_url",
                self.channels.teams.as_ref().map(|w| w.webhook_url.as_str()),
            ),
            (
                "channels.pagerduty.events_url",
                self.channels
                    .pagerduty
                    .as_ref()
                    .map(|p| p.events_url.as_str()),
            ),
        ];
        for (field, url) in urls {
            if let Some(url) = url {
                check_url(url).map_err(|m| invalid(field, m))?;
            }
        }
        if let Some(pd) = &self.channels.pagerduty
            && pd.routing_key.trim().is_empty()
        {
            return Err(invalid(
                "channels.pagerduty.routing_key",
                "must not be empty".into(),
            ));
        }
        if !self.channels.names().is_empty() && self.public_url.is_none() {
            return Err(invalid(
                "public_url",
                "required when a channel is configured (the signed links are built on it)".into(),
            ));
        }
        Ok(())
    }

    /// The state directory in use.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }

    /// The socket in use.
    pub fn socket(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(APPROVALS_SOCKET))
    }
}

impl Channels {
    /// The names of the configured channels.
    pub fn names(&self) -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        if self.slack.is_some() {
            names.insert("slack");
        }
        if self.teams.is_some() {
            names.insert("teams");
        }
        if self.pagerduty.is_some() {
            names.insert("pagerduty");
        }
        names
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} has no host"));
    }
    url.parse::<hyper::Uri>()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let config = Config::parse(
            r#"
            state_dir = "/tmp/a"
            listen = "127.0.0.1:9447"
            public_url = "https://node.example:9447"
            [channels.slack]
            webhook_url = "https://hooks.slack.com/services/T/B/X"
            [channels.teams]
            webhook_url = "https://example.webhook.office.com/x"
            [channels.pagerduty]
            routing_key = "R0UT1NG"
            "#,
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(
            config.channels.names().into_iter().collect::<Vec<_>>(),
            ["pagerduty", "slack", "teams"]
        );
        assert_eq!(
            config.channels.pagerduty.as_ref().unwrap().events_url,
            "https://events.pagerduty.com/v2/enqueue"
        );
        assert_eq!(config.state_dir(), PathBuf::from("/tmp/a"));
    }

    #[test]
    fn bad_configs_name_the_file_and_field() {
        let err = Config::parse("[channels.slak]\nwebhook_url = \"x\"", Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("n.toml") && err.contains("slak"), "{err}");
        let err = Config::parse(
            "public_url = \"https://n\"\n[channels.teams]\nwebhook_url = \"ftp://x\"",
            Path::new("n.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("channels.teams.webhook_url"), "{err}");
        let err = Config::parse(
            "[channels.slack]\nwebhook_url = \"https://x\"",
            Path::new("n.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("public_url"), "{err}");
    }
}
