//! Admission allows kept across processes, for the OCI hook: it is a new process for every
//! sandbox, and building the Cedar policy set of a record (generating, parsing and validating
//! it) is most of what its admission costs. After the engine allows a start, the answer is
//! written to a file named by a key over everything the decision depends on; a later admission
//! with the same key reads the answer instead of compiling.
//!
//! The key is recomputed from each request, never read from a file: the engine (its build and
//! thresholds), the node configuration, what the engine compiles of the record — its name,
//! decision rules and audit settings, read from a record verified against its digest before
//! use, so that sandboxes of one policy share an entry although each record names the
//! container's own paths — and the request's facts — process arguments, image, annotations and
//! what the sandbox asks for. The container id and bundle are left out: every
//! generated Cedar policy has an unconstrained principal and resource scope and decides on the
//! request's context alone (only policies of which [`CompiledPolicy::decides_on_context_alone`]
//! holds are stored).
//!
//! An entry is used only if it is a regular file owned by this user and writable by no one
//! else, in a directory likewise, whose recorded key is the key asked for and whose content
//! digest matches: a tampered, truncated or stale entry is a miss (the engine decides, and the
//! entry is rewritten), never an answer. Only allows are stored; a denial is always decided
//! afresh.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{AdmissionRequest, Enforcement, Outcome};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::cedar::{CompiledPolicy, Thresholds};
use crate::service::rules_key;

/// Largest entry read.
const MAX_ENTRY: u64 = 64 << 10;

/// An allow as the engine gave it, with where its audit event goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAdmission {
    /// The outcome (an allow, or an escalation the approval default allows).
    pub outcome: Outcome,
    /// The deciding policy ids.
    pub policies: Vec<String>,
    /// Their reasons.
    pub reasons: Vec<String>,
    /// The policy's audit destination, if its events go to one besides the node trail.
    pub destination: Option<String>,
}

/// An entry file: the key it answers, the answer, and the digest of both.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    admission: CachedAdmission,
    digest: String,
}

/// The admission answers of one node and engine build, in a directory.
#[derive(Debug, Clone)]
pub struct AdmissionCache {
    dir: PathBuf,
    /// Digest of what the key shares across requests: engine build, thresholds, node.
    salt: String,
}

impl AdmissionCache {
    /// The cache in `dir` (created on first store) for an engine running with `node` and
    /// `thresholds`. The running executable's identity (device, inode, size, modification
    /// time) is part of every key, so an upgraded engine never reads an older one's answers.
    pub fn new(dir: &Path, node: &NodeConfig, thresholds: &Thresholds) -> AdmissionCache {
        let executable = std::env::current_exe()
            .and_then(fs::metadata)
            .map(|m| {
                format!(
                    "{}:{}:{}:{}.{}",
                    m.dev(),
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec()
                )
            })
            .unwrap_or_default();
        let node = serde_json::to_string(node).expect("a node configuration serializes");
        let salt = hex_sha256(&[
            concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).as_bytes(),
            executable.as_bytes(),
            format!("{thresholds:?}").as_bytes(),
            node.as_bytes(),
        ]);
        AdmissionCache {
            dir: dir.to_owned(),
            salt,
        }
    }

    /// The key of `request`: everything its admission depends on but the container's identity.
    pub fn key(&self, request: &AdmissionRequest) -> String {
        #[derive(Serialize)]
        struct Facts<'a> {
            rules: [u8; 32],
            args: &'a [String],
            image: &'a Option<String>,
            annotations: &'a std::collections::BTreeMap<String, String>,
            requested: &'a openshell_policy::wire::RequestedSandbox,
        }
        let facts = serde_json::to_string(&Facts {
            rules: rules_key(&request.policy),
            args: &request.args,
            image: &request.image,
            annotations: &request.annotations,
            requested: &request.requested,
        })
        .expect("admission facts serialize");
        hex_sha256(&[self.salt.as_bytes(), facts.as_bytes()])
    }

    /// The answer stored for `key`, if there is a trustworthy one.
    pub fn lookup(&self, key: &str) -> Option<CachedAdmission> {
        trusted(&self.dir).then_some(())?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.entry_path(key))
            .ok()?;
        trusted_file(&file).then_some(())?;
        let mut text = Vec::new();
        file.take(MAX_ENTRY + 1).read_to_end(&mut text).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        (entry.key == key && entry.digest == entry_digest(&entry.key, &entry.admission))
            .then_some(entry.admission)
    }

    /// Stores the engine's answer for `key` when it is an enforced allow of a policy that
    /// decides on the request's context alone (else stores nothing). A failure only means the
    /// next admission compiles.
    pub fn store(
        &self,
        key: &str,
        policy: &CompiledPolicy,
        enforced: Enforcement,
        admission: CachedAdmission,
    ) -> std::io::Result<()> {
        if enforced != Enforcement::Allow || !policy.decides_on_context_alone() {
            return Ok(());
        }
        let digest = entry_digest(key, &admission);
        let entry = Entry {
            key: key.to_owned(),
            admission,
            digest,
        };
        self.write(key, &entry)
    }

    fn write(&self, key: &str, entry: &Entry) -> std::io::Result<()> {
        match fs::create_dir(&self.dir) {
            Ok(()) => fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if !trusted(&self.dir) {
            return Err(std::io::Error::other(
                "not a directory owned by this user and writable by it alone",
            ));
        }
        // Written aside and renamed, so a reader sees a whole entry or none. Not synced: the
        // cache lives on a tmpfs, and a torn entry fails its digest.
        let temporary = self.dir.join(format!(".{key}.{}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temporary)?;
        let written = file
            .write_all(&serde_json::to_vec(entry).expect("an entry serializes"))
            .and_then(|()| fs::rename(&temporary, self.entry_path(key)));
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }
}

/// A directory (not a symlink) owned by this user and writable by no one else.
fn trusted(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && owned_and_private(&m))
}

/// A regular file owned by this user and writable by no one else.
fn trusted_file(file: &File) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_file() && owned_and_private(&m))
}

fn owned_and_private(metadata: &fs::Metadata) -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    metadata.uid() == unsafe { libc::geteuid() } && metadata.mode() & 0o022 == 0
}

fn entry_digest(key: &str, admission: &CachedAdmission) -> String {
    let admission = serde_json::to_string(admission).expect("an admission serializes");
    hex_sha256(&[key.as_bytes(), admission.as_bytes()])
}

/// Hex SHA-256 of `parts`, each length-prefixed so no two splits of the same bytes collide.
fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use openshell_policy::wire::RequestedSandbox;

    use super::*;

    fn record(denied: &str) -> openshell_policy::CompiledPolicy {
        let yaml = format!(
            "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {{name: agent}}\n\
             spec:\n  isolation: {{network: none}}\n  permissions:\n    deniedAPIs: [\"{denied}\"]\n"
        );
        openshell_policy::compile_default("agent.yaml", &yaml).unwrap()
    }

    fn request(id: &str, policy: openshell_policy::CompiledPolicy) -> AdmissionRequest {
        AdmissionRequest {
            container_id: id.into(),
            bundle: format!("/run/bundles/{id}").into(),
            args: vec!["/bin/agent".into()],
            image: None,
            annotations: Default::default(),
            requested: RequestedSandbox {
                network: "none".into(),
                ..Default::default()
            },
            policy,
        }
    }

    fn allow() -> CachedAdmission {
        CachedAdmission {
            outcome: Outcome::Allow,
            policies: vec!["admission.default".into()],
            reasons: vec!["sandboxes may start".into()],
            destination: None,
        }
    }

    /// A cache in a fresh private directory, with one entry for `key`.
    fn cache_with_entry(key: &str) -> (tempfile::TempDir, AdmissionCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = AdmissionCache::new(
            &dir.path().join("cache"),
            &NodeConfig::default(),
            &Thresholds::default(),
        );
        let entry = Entry {
            key: key.into(),
            admission: allow(),
            digest: entry_digest(key, &allow()),
        };
        cache.write(key, &entry).unwrap();
        (dir, cache)
    }

    #[test]
    fn the_key_is_the_request_and_rules_not_the_container() {
        let cache = AdmissionCache::new(
            Path::new("/nonexistent"),
            &NodeConfig::default(),
            &Thresholds::default(),
        );
        let a = cache.key(&request("a", record("admin.*")));
        assert_eq!(a, cache.key(&request("b", record("admin.*"))));
        assert_ne!(a, cache.key(&request("a", record("billing.*"))));
        // Each container's record names its own paths in the spec: the key does not read them.
        let mut own_paths = record("admin.*");
        own_paths.spec.set_hostname(Some("sandbox-b".into()));
        assert_eq!(a, cache.key(&request("b", own_paths.seal())));
        let mut annotated = request("a", record("admin.*"));
        annotated.annotations.insert("k".into(), "v".into());
        assert_ne!(a, cache.key(&annotated));
        let mut gpu = request("a", record("admin.*"));
        gpu.requested.gpus.push("/dev/nvidia0".into());
        assert_ne!(a, cache.key(&gpu));
        let other_node = NodeConfig {
            region: Some("EU".into()),
            ..NodeConfig::default()
        };
        let elsewhere = AdmissionCache::new(
            Path::new("/nonexistent"),
            &other_node,
            &Thresholds::default(),
        );
        assert_ne!(a, elsewhere.key(&request("a", record("admin.*"))));
    }

    #[test]
    fn an_intact_private_entry_answers() {
        let (_dir, cache) = cache_with_entry("k1");
        assert_eq!(cache.lookup("k1"), Some(allow()));
        assert_eq!(cache.lookup("k2"), None);
    }

    #[test]
    fn a_tampered_entry_is_a_miss() {
        let (_dir, cache) = cache_with_entry("k1");
        let path = cache.entry_path("k1");
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("sandboxes may start", "anything goes")).unwrap();
        assert_eq!(
            cache.lookup("k1"),
            None,
            "content no longer matches its digest"
        );
        fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert_eq!(cache.lookup("k1"), None, "a torn entry");
    }

    #[test]
    fn an_entry_moved_to_another_key_is_a_miss() {
        let (_dir, cache) = cache_with_entry("k1");
        fs::copy(cache.entry_path("k1"), cache.entry_path("k2")).unwrap();
        assert_eq!(cache.lookup("k2"), None);
    }

    #[test]
    fn an_entry_others_could_write_is_a_miss() {
        let (dir, cache) = cache_with_entry("k1");
        let path = cache.entry_path("k1");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(cache.lookup("k1"), None, "group-writable entry");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.path().join("cache"), fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(cache.lookup("k1"), None, "world-writable directory");
        fs::set_permissions(dir.path().join("cache"), fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(cache.lookup("k1"), Some(allow()));
    }

    #[test]
    fn a_symlinked_entry_is_a_miss() {
        let (dir, cache) = cache_with_entry("k1");
        let elsewhere = dir.path().join("elsewhere.json");
        fs::rename(cache.entry_path("k1"), &elsewhere).unwrap();
        symlink(&elsewhere, cache.entry_path("k1")).unwrap();
        assert_eq!(cache.lookup("k1"), None);
    }
}
