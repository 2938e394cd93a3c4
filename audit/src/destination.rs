//! Audit destinations: the SandboxPolicy's `auditLog.destination`, resolved against the node
//! configuration.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use openshell_policy::node_config::NodeConfig;

use crate::AuditError;

/// Where a syslog message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A local unix socket (`syslog:///dev/log`): datagram, or stream if the socket is one.
    Unix(PathBuf),
    /// A remote collector over UDP (`syslog://host:514`).
    Udp(SocketAddr),
}

/// A resolved audit destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// JSON lines appended to a file (`file:///var/log/openshell/audit.jsonl`).
    File(PathBuf),
    /// RFC 5424 messages (`syslog:///dev/log`, `syslog://collector:514`).
    Syslog(SyslogTarget),
    /// Batches POSTed as a JSON array to an HTTP endpoint (`siem://NAME` → `http://…`).
    Http {
        /// The SIEM's name in the node configuration.
        name: String,
        /// The endpoint.
        url: String,
    },
}

impl Destination {
    /// Parses `file://PATH`, `syslog://…` or `siem://NAME` (resolved through `node.siem`).
    pub fn resolve(destination: &str, node: &NodeConfig) -> Result<Destination, AuditError> {
        let bad = |why: String| AuditError::Destination {
            destination: destination.to_owned(),
            why,
        };
        if let Some(path) = destination.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("a file:// destination needs an absolute path".into()));
            }
            return Ok(Destination::File(PathBuf::from(path)));
        }
        if destination.starts_with("syslog://") {
            return parse_syslog(destination)
                .map(Destination::Syslog)
                .map_err(bad);
        }
        if let Some(name) = destination.strip_prefix("siem://") {
            let target = node.siem_endpoint(name).ok_or_else(|| {
                bad(format!(
                    "no [siem] entry named {name:?} in the node configuration"
                ))
            })?;
            if target.starts_with("syslog://") {
                return parse_syslog(target).map(Destination::Syslog).map_err(bad);
            }
            return Ok(Destination::Http {
                name: name.to_owned(),
                url: target.to_owned(),
            });
        }
        Err(bad(
            "expected file://PATH, syslog://TARGET or siem://NAME".into()
        ))
    }

    /// A file-system-safe name for this destination's spool directory.
    pub fn spool_key(&self) -> String {
        let raw = match self {
            Destination::File(path) => format!("file-{}", path.display()),
            Destination::Syslog(SyslogTarget::Unix(path)) => format!("syslog-{}", path.display()),
            Destination::Syslog(SyslogTarget::Udp(addr)) => format!("syslog-{addr}"),
            Destination::Http { name, .. } => format!("siem-{name}"),
        };
        let safe: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.len() <= 120 {
            return safe;
        }
        let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{}-{hash:016x}", &safe[..100])
    }
}

fn parse_syslog(target: &str) -> Result<SyslogTarget, String> {
    let rest = &target["syslog://".len()..];
    if rest.starts_with('/') {
        return Ok(SyslogTarget::Unix(PathBuf::from(rest)));
    }
    if rest.is_empty() {
        return Err("syslog:// needs a socket path (syslog:///dev/log) or host:port".into());
    }
    let with_port = if rest.contains(':') && !rest.ends_with(']') {
        rest.to_owned()
    } else {
        format!("{rest}:514")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .next()
        .map(SyslogTarget::Udp)
        .ok_or_else(|| format!("{with_port} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeConfig {
        let mut node = NodeConfig::default();
        node.siem
            .insert("security-events".into(), "http://127.0.0.1:9/in".into());
        node.siem
            .insert("local".into(), "syslog:///run/syslog.sock".into());
        node
    }

    #[test]
    fn destinations_resolve() {
        let n = node();
        assert_eq!(
            Destination::resolve("file:///var/log/a.jsonl", &n).unwrap(),
            Destination::File("/var/log/a.jsonl".into())
        );
        assert_eq!(
            Destination::resolve("syslog://127.0.0.1:5514", &n).unwrap(),
            Destination::Syslog(SyslogTarget::Udp("127.0.0.1:5514".parse().unwrap()))
        );
        assert_eq!(
            Destination::resolve("syslog://127.0.0.1", &n).unwrap(),
            Destination::Syslog(SyslogTarget::Udp("127.0.0.1:514".parse().unwrap()))
        );
        assert_eq!(
            Destination::resolve("siem://security-events", &n).unwrap(),
            Destination::Http {
                name: "security-events".into(),
                url: "http://127.0.0.1:9/in".into()
            }
        );
        assert_eq!(
            Destination::resolve("siem://local", &n).unwrap(),
            Destination::Syslog(SyslogTarget::Unix("/run/syslog.sock".into()))
        );
    }

    #[test]
    fn bad_destinations_say_why() {
        let n = node();
        let e = Destination::resolve("siem://nope", &n).unwrap_err();
        assert!(
            e.to_string().contains("no [siem] entry named \"nope\""),
            "{e}"
        );
        let e = Destination::resolve("file://relative.log", &n).unwrap_err();
        assert!(e.to_string().contains("absolute path"), "{e}");
        assert!(Destination::resolve("kafka://x", &n).is_err());
    }

    #[test]
    fn spool_keys_are_safe_names() {
        let d = Destination::File("/var/log/openshell/audit.jsonl".into());
        assert_eq!(d.spool_key(), "file-_var_log_openshell_audit.jsonl");
        let long = Destination::File(PathBuf::from(format!("/{}", "x".repeat(300))));
        assert_eq!(long.spool_key().len(), 117);
    }
}
