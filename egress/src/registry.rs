//! Registered sandboxes by container id and by source address, with their addresses allocated
//! from the pool and every change saved to the state file (restored when the engine starts).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use openshell_policy::{ApiCatalogSpec, CompiledPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::{NetworkSettings, nth_host};
use crate::rules::RulesError;
use crate::sandbox::{EgressPolicy, Sandbox, SandboxRecord, interface_name};

/// Registry errors.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The container id is empty or unusable.
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    /// The policy cannot be enforced.
    #[error("policy of {container}: {source}")]
    Rules {
        /// The container.
        container: String,
        /// Why.
        source: RulesError,
    },
    /// The pool has no free address.
    #[error("the sandbox address pool {0} is exhausted")]
    PoolExhausted(ipnet::Ipv4Net),
    /// No such sandbox.
    #[error("no sandbox {0} is registered")]
    NotFound(String),
    /// The state file cannot be written or read.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    sandboxes: Vec<SandboxRecord>,
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<String, Arc<Sandbox>>,
    by_ip: HashMap<Ipv4Addr, String>,
}

/// The registry.
pub struct Registry {
    maps: RwLock<Maps>,
    state_file: PathBuf,
    network: NetworkSettings,
    default_catalog: Option<ApiCatalogSpec>,
    max_connections: usize,
}

impl Registry {
    /// An empty registry saving to `state_file`.
    pub fn new(
        state_file: PathBuf,
        network: NetworkSettings,
        default_catalog: Option<ApiCatalogSpec>,
        max_connections: usize,
    ) -> Registry {
        Registry {
            maps: RwLock::new(Maps::default()),
            state_file,
            network,
            default_catalog,
            max_connections,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    fn compile(
        &self,
        record: SandboxRecord,
        connections: Arc<Semaphore>,
    ) -> Result<Sandbox, RegistryError> {
        let container = record.container_id.clone();
        Sandbox::compile(
            record,
            &self.network.http_ports,
            self.default_catalog.as_ref(),
            connections,
        )
        .map_err(|source| RegistryError::Rules { container, source })
    }

    fn allocate(&self, maps: &Maps) -> Result<Ipv4Addr, RegistryError> {
        let pool = self.network.pool;
        let used: HashSet<Ipv4Addr> = maps.by_ip.keys().copied().collect();
        let size = 1u64 << (32 - u32::from(pool.prefix_len()));
        // .0 is the network, .1 the gateway, the last the broadcast address.
        (2..size.saturating_sub(1))
            .map(|n| nth_host(pool, n as u32))
            .find(|address| !used.contains(address))
            .ok_or(RegistryError::PoolExhausted(pool))
    }

    /// Registers a sandbox, or replaces the policy of one already registered under that id
    /// (keeping its address). Saved before it returns.
    pub fn register(
        &self,
        container_id: &str,
        policy: EgressPolicy,
        record: Option<CompiledPolicy>,
    ) -> Result<Arc<Sandbox>, RegistryError> {
        check_id(container_id)?;
        let mut maps = self.write();
        let (sandbox_ip, connections) = match maps.by_id.get(container_id) {
            Some(existing) => (
                existing.record.sandbox_ip,
                Arc::clone(&existing.connections),
            ),
            None => (
                self.allocate(&maps)?,
                Arc::new(Semaphore::new(self.max_connections)),
            ),
        };
        let record = SandboxRecord {
            container_id: container_id.to_owned(),
            interface: interface_name(&self.network.interface_prefix, container_id),
            sandbox_ip,
            policy,
            record,
            registered_at: Utc::now(),
        };
        let sandbox = Arc::new(self.compile(record, connections)?);
        maps.by_ip.insert(sandbox_ip, container_id.to_owned());
        maps.by_id
            .insert(container_id.to_owned(), Arc::clone(&sandbox));
        self.save(&maps)?;
        Ok(sandbox)
    }

    /// Replaces the policy of a registered sandbox: the next request uses it.
    pub fn replace_policy(
        &self,
        container_id: &str,
        policy: EgressPolicy,
    ) -> Result<Arc<Sandbox>, RegistryError> {
        let mut maps = self.write();
        let existing = maps
            .by_id
            .get(container_id)
            .ok_or_else(|| RegistryError::NotFound(container_id.to_owned()))?;
        let mut record = existing.record.clone();
        record.policy = policy;
        let sandbox = Arc::new(self.compile(record, Arc::clone(&existing.connections))?);
        maps.by_id
            .insert(container_id.to_owned(), Arc::clone(&sandbox));
        self.save(&maps)?;
        Ok(sandbox)
    }

    /// Removes a sandbox and frees its address.
    pub fn unregister(&self, container_id: &str) -> Result<Arc<Sandbox>, RegistryError> {
        let mut maps = self.write();
        let removed = maps
            .by_id
            .remove(container_id)
            .ok_or_else(|| RegistryError::NotFound(container_id.to_owned()))?;
        maps.by_ip.remove(&removed.record.sandbox_ip);
        self.save(&maps)?;
        Ok(removed)
    }

    /// The sandbox whose traffic comes from `source`.
    pub fn by_source(&self, source: Ipv4Addr) -> Option<Arc<Sandbox>> {
        let maps = self.read();
        let id = maps.by_ip.get(&source)?;
        maps.by_id.get(id).cloned()
    }

    /// The sandbox registered as `container_id`.
    pub fn get(&self, container_id: &str) -> Option<Arc<Sandbox>> {
        self.read().by_id.get(container_id).cloned()
    }

    /// Every registered sandbox, by id.
    pub fn list(&self) -> Vec<Arc<Sandbox>> {
        let mut all: Vec<Arc<Sandbox>> = self.read().by_id.values().cloned().collect();
        all.sort_by(|a, b| a.id().cmp(b.id()));
        all
    }

    /// How many sandboxes are registered.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Restores the saved registrations whose sandbox still exists (`alive` is asked with the
    /// record); returns the ids restored and the ids dropped.
    pub fn restore(
        &self,
        alive: impl Fn(&SandboxRecord) -> bool,
    ) -> Result<(Vec<String>, Vec<String>), RegistryError> {
        let text = match std::fs::read_to_string(&self.state_file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(error) => return Err(self.state_error(error.to_string())),
        };
        let state: StateFile =
            serde_json::from_str(&text).map_err(|e| self.state_error(e.to_string()))?;
        let mut maps = self.write();
        let (mut restored, mut dropped) = (Vec::new(), Vec::new());
        for record in state.sandboxes {
            let id = record.container_id.clone();
            if !alive(&record) || maps.by_ip.contains_key(&record.sandbox_ip) {
                dropped.push(id);
                continue;
            }
            let connections = Arc::new(Semaphore::new(self.max_connections));
            match self.compile(record, connections) {
                Ok(sandbox) => {
                    maps.by_ip.insert(sandbox.record.sandbox_ip, id.clone());
                    maps.by_id.insert(id.clone(), Arc::new(sandbox));
                    restored.push(id);
                }
                Err(error) => {
                    tracing::warn!("dropping saved registration: {error}");
                    dropped.push(id);
                }
            }
        }
        self.save(&maps)?;
        Ok((restored, dropped))
    }

    /// Unregisters sandboxes for which `gone` holds (their veth vanished without a `poststop`).
    pub fn prune(&self, gone: impl Fn(&SandboxRecord) -> bool) -> Vec<String> {
        let stale: Vec<String> = self
            .read()
            .by_id
            .values()
            .filter(|s| gone(&s.record))
            .map(|s| s.id().to_owned())
            .collect();
        stale
            .into_iter()
            .filter(|id| self.unregister(id).is_ok())
            .collect()
    }

    fn state_error(&self, message: String) -> RegistryError {
        RegistryError::State {
            path: self.state_file.clone(),
            message,
        }
    }

    /// Writes the state file atomically (temporary file, rename). Not fsynced: registrations must
    /// survive an engine restart, which the page cache does; a machine restart takes the sandboxes
    /// with it (the default file is on /run, a tmpfs, for that reason).
    fn save(&self, maps: &Maps) -> Result<(), RegistryError> {
        let mut sandboxes: Vec<SandboxRecord> =
            maps.by_id.values().map(|s| s.record.clone()).collect();
        sandboxes.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        let json = serde_json::to_vec_pretty(&StateFile { sandboxes })
            .map_err(|e| self.state_error(e.to_string()))?;
        write_atomically(&self.state_file, &json).map_err(|e| self.state_error(e.to_string()))
    }
}

fn check_id(id: &str) -> Result<(), RegistryError> {
    let valid = !id.is_empty()
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidId(id.to_owned()))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domain: &str) -> EgressPolicy {
        let json = format!(
            r#"{{"name":"p","network":{{"egress":{{"allow":[{{"domain":"{domain}"}}]}}}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn new_registry(dir: &Path) -> Registry {
        let network = NetworkSettings {
            pool: "10.9.0.0/29".parse().unwrap(),
            ..NetworkSettings::default()
        };
        Registry::new(dir.join("state.json"), network, None, 8)
    }

    #[test]
    fn addresses_are_allocated_without_collisions_and_kept_on_reregistration() {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let a = registry
            .register("a", policy("a.example.test"), None)
            .unwrap();
        let b = registry
            .register("b", policy("b.example.test"), None)
            .unwrap();
        assert_eq!(a.record.sandbox_ip, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(b.record.sandbox_ip, Ipv4Addr::new(10, 9, 0, 3));
        let again = registry
            .register("a", policy("c.example.test"), None)
            .unwrap();
        assert_eq!(again.record.sandbox_ip, a.record.sandbox_ip);
        assert_eq!(
            registry
                .by_source(a.record.sandbox_ip)
                .unwrap()
                .record
                .policy,
            policy("c.example.test")
        );
        // A /29 holds .2 to .6.
        for id in ["c", "d", "e"] {
            registry
                .register(id, policy("x.example.test"), None)
                .unwrap();
        }
        assert!(matches!(
            registry.register("f", policy("x.example.test"), None),
            Err(RegistryError::PoolExhausted(_))
        ));
        registry.unregister("b").unwrap();
        let f = registry
            .register("f", policy("x.example.test"), None)
            .unwrap();
        assert_eq!(
            f.record.sandbox_ip, b.record.sandbox_ip,
            "freed address reused"
        );
    }

    #[test]
    fn hot_replacement_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let a = registry
            .register("a", policy("a.example.test"), None)
            .unwrap();
        registry
            .register("b", policy("b.example.test"), None)
            .unwrap();
        registry
            .replace_policy("a", policy("new.example.test"))
            .unwrap();
        assert!(matches!(
            registry.replace_policy("zz", policy("n.example.test")),
            Err(RegistryError::NotFound(_))
        ));

        let restarted = new_registry(dir.path());
        let (restored, dropped) = restarted
            .restore(|record| record.container_id != "b")
            .unwrap();
        assert_eq!(restored, vec!["a".to_owned()]);
        assert_eq!(dropped, vec!["b".to_owned()]);
        let a_again = restarted.get("a").unwrap();
        assert_eq!(a_again.record.sandbox_ip, a.record.sandbox_ip);
        assert_eq!(a_again.record.policy, policy("new.example.test"));
        assert!(restarted.get("b").is_none());
        assert_eq!(restarted.prune(|r| r.container_id == "a"), vec!["a"]);
        assert!(restarted.is_empty());
    }

    #[test]
    fn unenforceable_policies_and_bad_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let allow_all: EgressPolicy =
            serde_json::from_str(r#"{"name":"p","network":{"egress":{"allow":[{"domain":"*"}]}}}"#)
                .unwrap();
        let Err(err) = registry.register("a", allow_all, None) else {
            panic!("an allow-all policy must be refused");
        };
        assert!(err.to_string().contains("every host"), "{err}");
        assert!(registry.is_empty());
        assert!(matches!(
            registry.register("a/../b", policy("a.example.test"), None),
            Err(RegistryError::InvalidId(_))
        ));
    }
}
