//! The registered callers: containers known from the registry directory (`<id>.json` records
//! written by `openshell-hook` at `createRuntime`, removed at `poststop`) and from the admin
//! API, by container id and by sandbox address.
//!
//! The directory is re-read every `registry_poll_ms` and whenever a request arrives from an
//! address no caller has (a container that just started); a record whose file did not change
//! (inode, size, modification time) is not parsed again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use openshell_policy::wire::{ContainerRegistration, check_container_id};
use serde::Serialize;

use crate::error::Unroutable;
use crate::policy::RoutingPolicy;

/// Where a registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A record in the registry directory.
    RegistryDir,
    /// `PUT /v1/callers/{id}` on the admin socket.
    AdminApi,
}

/// A registered container as the router uses it.
pub struct Caller {
    /// The container id.
    pub container_id: String,
    /// Its policy's name.
    pub policy: String,
    /// Its data-residency region.
    pub region: Option<String>,
    /// The address its requests come from.
    pub sandbox_ip: Option<IpAddr>,
    /// Its policy's audit destination, when auditing is enabled.
    pub audit_destination: Option<String>,
    /// Its compiled routing policy, or why there is none (its requests are then refused).
    pub routing: Result<Arc<RoutingPolicy>, Unroutable>,
    /// Where the registration came from.
    pub origin: Origin,
    /// The digest of the sandbox caller token its registration accepts, if any.
    pub caller_token: Option<String>,
}

/// A caller as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerView {
    /// The container id.
    pub container_id: String,
    /// Its policy's name.
    pub policy: String,
    /// The `PrivacyRouterPolicy` in force (`default` when the policy has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_policy: Option<String>,
    /// Why its policy cannot be used, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its sandbox address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_ip: Option<IpAddr>,
    /// Where the registration came from.
    pub origin: Origin,
}

impl Caller {
    /// The admin API's view.
    pub fn view(&self) -> CallerView {
        CallerView {
            container_id: self.container_id.clone(),
            policy: self.policy.clone(),
            router_policy: self.routing.as_ref().ok().map(|r| r.name.clone()),
            error: self.routing.as_ref().err().map(ToString::to_string),
            region: self.region.clone(),
            sandbox_ip: self.sandbox_ip,
            origin: self.origin,
        }
    }
}

/// What a directory scan found wrong (records it could not use).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Callers registered after the scan.
    pub callers: usize,
    /// Records that were skipped, with why.
    pub problems: Vec<String>,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Arc<Caller>>,
    /// `None`: two registrations claim the address, so neither is served by it.
    by_ip: HashMap<IpAddr, Option<Arc<Caller>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// How close to a directory change a scan may start and still have missed it: file times come
/// from the kernel's coarse clock, so a change in the same tick as the scan leaves the
/// directory's modification time as the scan saw it.
const SAME_TICK: Duration = Duration::from_millis(50);

/// The registered callers.
#[derive(Default)]
pub struct Callers {
    table: RwLock<Table>,
    from_dir: Mutex<HashMap<PathBuf, (Stamp, Arc<Caller>)>>,
    from_api: Mutex<HashMap<String, Arc<Caller>>>,
    /// The directory's modification time seen by the last scan, and when that scan began.
    last_scan: Mutex<Option<(Option<SystemTime>, SystemTime)>>,
}

impl Callers {
    /// The caller whose sandbox has `ip`.
    pub fn by_ip(&self, ip: IpAddr) -> Option<Arc<Caller>> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table.by_ip.get(&ip).cloned().flatten()
    }

    /// The caller with this container id.
    pub fn by_id(&self, id: &str) -> Option<Arc<Caller>> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table.by_id.get(id).cloned()
    }

    /// Every caller, sorted by id.
    pub fn all(&self) -> Vec<Arc<Caller>> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Arc<Caller>> = table.by_id.values().cloned().collect();
        all.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        all
    }

    /// Registers (or replaces) a caller from the admin API.
    pub fn register(&self, caller: Caller) {
        self.from_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(caller.container_id.clone(), Arc::new(caller));
        self.rebuild();
    }

    /// Removes an admin-API registration, and a directory record of the same id whose file
    /// is already gone (the hook removes the file first, so the caller and its token stop at
    /// once rather than at the next scan); whether there was either.
    pub fn unregister(&self, id: &str) -> bool {
        let from_api = self
            .from_api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some();
        let from_dir = {
            let mut dir = self.from_dir.lock().unwrap_or_else(|p| p.into_inner());
            let before = dir.len();
            dir.retain(|path, (_, caller)| caller.container_id != id || path.exists());
            dir.len() != before
        };
        self.rebuild();
        from_api || from_dir
    }

    /// Whether `dir` may hold records the last scan did not see: entries were added, renamed
    /// or removed since (its modification time moved), or it changed so shortly before the
    /// last scan that a later change could hide in the same clock tick. Cheap (one `stat`), so
    /// unknown callers cannot make the router re-read the directory at will.
    pub fn may_have_changed(&self, dir: &Path) -> bool {
        let Some((seen, started)) = *self.last_scan.lock().unwrap_or_else(|p| p.into_inner())
        else {
            return true;
        };
        let now = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        if now != seen {
            return true;
        }
        now.is_some_and(|modified| {
            started
                .duration_since(modified)
                .map_or(true, |gap| gap < SAME_TICK)
        })
    }

    /// Re-reads `dir`: new and changed records are parsed and turned into callers by `build`,
    /// removed ones are dropped. With `force`, every record is rebuilt (after a reload).
    pub fn scan(
        &self,
        dir: &Path,
        force: bool,
        build: &dyn Fn(&ContainerRegistration) -> Caller,
    ) -> ScanReport {
        let mut report = ScanReport::default();
        let started = SystemTime::now();
        let dir_modified = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
        let mut known = self.from_dir.lock().unwrap_or_else(|p| p.into_inner());
        if force {
            known.clear();
        }
        let mut seen: HashMap<PathBuf, (Stamp, Arc<Caller>)> = HashMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries.flatten().collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                report
                    .problems
                    .push(format!("cannot read {}: {e}", dir.display()));
                return report;
            }
        };
        for entry in entries {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| !n.starts_with('.'))
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_owned)
            else {
                continue;
            };
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                report
                    .problems
                    .push(format!("{}: not a regular file", path.display()));
                continue;
            }
            let stamp = Stamp {
                inode: meta.ino(),
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            if let Some((old, caller)) = known.get(&path)
                && *old == stamp
            {
                seen.insert(path, (stamp, Arc::clone(caller)));
                continue;
            }
            match read_record(&path, &id) {
                Ok(registration) => {
                    seen.insert(path, (stamp, Arc::new(build(&registration))));
                }
                Err(problem) => report.problems.push(problem),
            }
        }
        *known = seen;
        drop(known);
        *self.last_scan.lock().unwrap_or_else(|p| p.into_inner()) = Some((dir_modified, started));
        self.rebuild();
        report.callers = self
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .len();
        report
    }

    fn rebuild(&self) {
        let mut table = Table::default();
        let api = self.from_api.lock().unwrap_or_else(|p| p.into_inner());
        for caller in api.values() {
            table
                .by_id
                .insert(caller.container_id.clone(), Arc::clone(caller));
        }
        drop(api);
        // A record in the directory wins over an admin-API registration of the same id.
        let dir = self.from_dir.lock().unwrap_or_else(|p| p.into_inner());
        for (_, caller) in dir.values() {
            table
                .by_id
                .insert(caller.container_id.clone(), Arc::clone(caller));
        }
        drop(dir);
        for caller in table.by_id.values() {
            if let Some(ip) = caller.sandbox_ip {
                table
                    .by_ip
                    .entry(ip)
                    .and_modify(|claim| *claim = None)
                    .or_insert_with(|| Some(Arc::clone(caller)));
            }
        }
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
    }
}

fn read_record(path: &Path, id: &str) -> Result<ContainerRegistration, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let registration: ContainerRegistration =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    check_container_id(&registration.container_id)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if registration.container_id != id {
        return Err(format!(
            "{}: the record is for container {:?}",
            path.display(),
            registration.container_id
        ));
    }
    Ok(registration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openshell_policy::compiled::RecordError;

    fn record(id: &str, ip: &str) -> String {
        let policy = openshell_policy::compile_default(
            "p.yaml",
            "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {name: p}\nspec: {}\n",
        )
        .unwrap();
        serde_json::json!({
            "container_id": id,
            "bundle": "/b",
            "policy": policy,
            "sandbox": {"sandbox_ip": ip},
            "registered_at": "2026-11-24T10:00:00Z"
        })
        .to_string()
    }

    fn build(r: &ContainerRegistration) -> Caller {
        Caller {
            container_id: r.container_id.clone(),
            policy: r.policy.name.clone(),
            region: r.region.clone(),
            sandbox_ip: r.sandbox.sandbox_ip,
            audit_destination: None,
            routing: Err(Unroutable::Record(RecordError::Invalid {
                path: "test".into(),
                message: "not compiled in this test".into(),
            })),
            origin: Origin::RegistryDir,
            caller_token: r.caller_token.clone(),
        }
    }

    #[test]
    fn directory_records_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let callers = Callers::default();
        std::fs::write(dir.path().join("a.json"), record("a", "10.200.0.2")).unwrap();
        std::fs::write(dir.path().join(".a.json.tmp"), "partial").unwrap();
        std::fs::write(dir.path().join("wrong.json"), record("b", "10.200.0.3")).unwrap();
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let report = callers.scan(dir.path(), false, &build);
        assert_eq!(report.callers, 1);
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        let a = callers.by_ip("10.200.0.2".parse().unwrap()).unwrap();
        assert_eq!(a.container_id, "a");
        // Unchanged records are reused, not rebuilt.
        callers.scan(dir.path(), false, &build);
        assert!(Arc::ptr_eq(&a, &callers.by_id("a").unwrap()));
        callers.scan(dir.path(), true, &build);
        assert!(!Arc::ptr_eq(&a, &callers.by_id("a").unwrap()));
        std::fs::remove_file(dir.path().join("a.json")).unwrap();
        callers.scan(dir.path(), false, &build);
        assert!(callers.by_id("a").is_none());
        assert!(callers.by_ip("10.200.0.2".parse().unwrap()).is_none());
    }

    #[test]
    fn changes_to_the_directory_are_noticed_cheaply() {
        let dir = tempfile::tempdir().unwrap();
        let callers = Callers::default();
        assert!(callers.may_have_changed(dir.path()), "never scanned");
        callers.scan(dir.path(), false, &build);
        std::thread::sleep(SAME_TICK * 2);
        callers.scan(dir.path(), false, &build);
        assert!(!callers.may_have_changed(dir.path()), "nothing new since");
        std::fs::write(dir.path().join("a.json"), record("a", "10.200.0.2")).unwrap();
        assert!(callers.may_have_changed(dir.path()));
        callers.scan(dir.path(), false, &build);
        assert!(callers.by_id("a").is_some());
    }

    #[test]
    fn a_contested_address_identifies_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let callers = Callers::default();
        std::fs::write(dir.path().join("a.json"), record("a", "10.200.0.2")).unwrap();
        callers.scan(dir.path(), false, &build);
        let mut impostor = build(
            &serde_json::from_str::<ContainerRegistration>(&record("z", "10.200.0.2")).unwrap(),
        );
        impostor.origin = Origin::AdminApi;
        callers.register(impostor);
        assert!(callers.by_ip("10.200.0.2".parse().unwrap()).is_none());
        assert!(callers.unregister("z"));
        assert_eq!(
            callers
                .by_ip("10.200.0.2".parse().unwrap())
                .unwrap()
                .container_id,
            "a"
        );
        assert!(!callers.unregister("z"));
    }
}
