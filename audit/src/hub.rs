//! The audit hub of a process: one logger per destination in use, plus the node's local trail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::AuditEvent;

use crate::AuditError;
use crate::destination::Destination;
use crate::logger::{AuditLogger, LoggerOptions, SharedEvent};

/// Routes events to their policy's destination and to the node's local trail, opening each
/// destination's logger once.
pub struct AuditHub {
    node: NodeConfig,
    options: LoggerOptions,
    trail: Option<(PathBuf, Arc<AuditLogger>)>,
    loggers: Mutex<HashMap<String, Arc<AuditLogger>>>,
}

impl AuditHub {
    /// A hub for the node: opens the local trail (`[audit] trail`) if one is configured.
    pub fn new(node: &NodeConfig) -> Result<AuditHub, AuditError> {
        AuditHub::with_options(node, LoggerOptions::from_node(node))
    }

    /// A hub with explicit logger options.
    pub fn with_options(node: &NodeConfig, options: LoggerOptions) -> Result<AuditHub, AuditError> {
        let trail = match &node.audit.trail {
            Some(path) => {
                let logger = AuditLogger::start(Destination::File(path.clone()), options.clone())?;
                Some((path.clone(), Arc::new(logger)))
            }
            None => None,
        };
        Ok(AuditHub {
            node: node.clone(),
            options,
            trail,
            loggers: Mutex::new(HashMap::new()),
        })
    }

    /// The node's local trail file, if any.
    pub fn trail_path(&self) -> Option<&Path> {
        self.trail.as_ref().map(|(path, _)| path.as_path())
    }

    /// The logger of `destination`, opened on first use.
    pub fn logger(&self, destination: &str) -> Result<Arc<AuditLogger>, AuditError> {
        let mut loggers = self.loggers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(logger) = loggers.get(destination) {
            return Ok(Arc::clone(logger));
        }
        let resolved = Destination::resolve(destination, &self.node)?;
        if let Some((path, trail)) = &self.trail
            && resolved == Destination::File(path.clone())
        {
            return Ok(Arc::clone(trail));
        }
        let logger = Arc::new(AuditLogger::start(resolved, self.options.clone())?);
        loggers.insert(destination.to_owned(), Arc::clone(&logger));
        Ok(logger)
    }

    /// Records `event` in the local trail and, when given, at `destination` (once if the
    /// destination is the trail file itself).
    pub fn record(&self, destination: Option<&str>, event: AuditEvent) -> Result<(), AuditError> {
        let target = destination.map(|d| self.logger(d));
        match (target, &self.trail) {
            (Some(Ok(target)), Some((_, trail))) if !Arc::ptr_eq(&target, trail) => {
                let shared = SharedEvent::new(event);
                trail.log_shared(Arc::clone(&shared))?;
                target.log_shared(shared)
            }
            (Some(Ok(target)), _) => target.log(event),
            // A destination that cannot be opened (an unknown `siem://NAME`) loses the event
            // for that destination only: the node's trail still keeps it.
            (Some(Err(error)), Some((_, trail))) => {
                trail.log(event)?;
                Err(error)
            }
            (Some(Err(error)), None) => Err(error),
            (None, Some((_, trail))) => trail.log(event),
            (None, None) => Ok(()),
        }
    }

    /// Events dropped so far because a destination's spool was at its byte cap, over every
    /// logger of this hub.
    pub fn dropped_events(&self) -> u64 {
        let loggers = self.loggers.lock().unwrap_or_else(|p| p.into_inner());
        loggers
            .values()
            .chain(self.trail.iter().map(|(_, l)| l))
            .map(|logger| {
                logger
                    .stats()
                    .dropped
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum()
    }

    /// Flushes every logger at once (a process waits for its slowest destination, not for the
    /// sum of them all), within `timeout` in all; the first error wins.
    pub fn flush(&self, timeout: Duration) -> Result<(), AuditError> {
        let deadline = Instant::now() + timeout;
        let loggers: Vec<Arc<AuditLogger>> = {
            let map = self.loggers.lock().unwrap_or_else(|p| p.into_inner());
            map.values().cloned().collect()
        };
        let pending: Vec<_> = loggers
            .iter()
            .chain(self.trail.iter().map(|(_, l)| l))
            .map(|logger| logger.start_flush())
            .collect();
        for flush in pending {
            flush.wait_until(deadline, timeout)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::new_event;
    use crate::reader::{TrailQuery, read_trail};

    #[test]
    fn an_unusable_destination_still_reaches_the_trail_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("trail.jsonl");
        let mut node = NodeConfig::default();
        node.audit.trail = Some(trail.clone());
        node.audit.spool_dir = dir.path().join("spool");
        let hub = AuditHub::new(&node).unwrap();
        let mut event = new_event("egress", "egress.http", "deny");
        event.container_id = Some("c1".into());
        let error = hub
            .record(Some("siem://nowhere"), event)
            .expect_err("no [siem] entry named nowhere");
        assert!(error.to_string().contains("nowhere"), "{error}");
        hub.flush(Duration::from_secs(5)).unwrap();
        let events = read_trail(&trail, &TrailQuery::default()).unwrap().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].container_id.as_deref(), Some("c1"));
    }
}
