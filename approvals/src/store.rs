//! The durable queue: approvals and undelivered notifications in one redb file
//! (`approvals.redb` in the state directory), each write committed (fsynced) before it is
//! answered, so a restart of the daemon loses nothing it acknowledged.

use std::path::{Path, PathBuf};

use openshell_policy::wire::Approval;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Approvals by id (JSON of [`Approval`]).
const APPROVALS: TableDefinition<&str, &str> = TableDefinition::new("approvals");
/// Notifications not yet delivered, by [`Pending::key`] (JSON of [`Pending`]).
const SPOOL: TableDefinition<&str, &str> = TableDefinition::new("notification_spool");

/// The database file's name in the state directory.
pub const DB_FILE: &str = "approvals.redb";

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A human is asked.
    Trigger,
    /// The approval is final (PagerDuty resolves its incident).
    Resolve,
}

/// One notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pending {
    /// The approval.
    pub approval_id: String,
    /// The channel (`slack`, `teams`, `pagerduty`).
    pub channel: String,
    /// What it says.
    pub event: Event,
}

impl Pending {
    /// Its key in the spool.
    pub fn key(&self) -> String {
        let event = match self.event {
            Event::Trigger => "trigger",
            Event::Resolve => "resolve",
        };
        format!("{}|{}|{event}", self.approval_id, self.channel)
    }
}

/// A store failure, naming the database file.
#[derive(Debug, thiserror::Error)]
#[error("approvals database {path}: {message}")]
pub struct StoreError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// The database.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the database in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join(DB_FILE);
        let fail = |e: &dyn std::fmt::Display| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let db = Database::create(&path).map_err(|e| fail(&e))?;
        let txn = db.begin_write().map_err(|e| fail(&e))?;
        txn.open_table(APPROVALS).map_err(|e| fail(&e))?;
        txn.open_table(SPOOL).map_err(|e| fail(&e))?;
        txn.commit().map_err(|e| fail(&e))?;
        Ok(Store { db, path })
    }

    fn fail(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Writes `approval` (insert or replace).
    pub fn put(&self, approval: &Approval) -> Result<(), StoreError> {
        let json = serde_json::to_string(approval).map_err(|e| self.fail(&e))?;
        self.write(APPROVALS, &approval.id, Some(&json))
    }

    /// Every approval.
    pub fn all(&self) -> Result<Vec<Approval>, StoreError> {
        self.read_all(APPROVALS)?
            .into_iter()
            .map(|json| serde_json::from_str(&json).map_err(|e| self.fail(&e)))
            .collect()
    }

    /// Spools a notification.
    pub fn spool(&self, pending: &Pending) -> Result<(), StoreError> {
        let json = serde_json::to_string(pending).map_err(|e| self.fail(&e))?;
        self.write(SPOOL, &pending.key(), Some(&json))
    }

    /// Removes a delivered notification.
    pub fn unspool(&self, pending: &Pending) -> Result<(), StoreError> {
        self.write(SPOOL, &pending.key(), None)
    }

    /// Every spooled notification.
    pub fn spooled(&self) -> Result<Vec<Pending>, StoreError> {
        self.read_all(SPOOL)?
            .into_iter()
            .map(|json| serde_json::from_str(&json).map_err(|e| self.fail(&e)))
            .collect()
    }

    fn write(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(&e))?;
        {
            let mut table = txn.open_table(table).map_err(|e| self.fail(&e))?;
            match value {
                Some(value) => table.insert(key, value).map(|_| ()),
                None => table.remove(key).map(|_| ()),
            }
            .map_err(|e| self.fail(&e))?;
        }
        txn.commit().map_err(|e| self.fail(&e))
    }

    fn read_all(&self, table: TableDefinition<&str, &str>) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(&e))?;
        let table = txn.open_table(table).map_err(|e| self.fail(&e))?;
        let mut values = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(&e))? {
            let (_, value) = entry.map_err(|e| self.fail(&e))?;
            values.push(value.value().to_owned());
        }
        Ok(values)
    }
}
