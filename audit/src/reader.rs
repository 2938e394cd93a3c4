//! Reading a trail back: the events of one container from a JSON-lines audit file (the node's
//! local trail, or a `file://` destination). Used by `openshell audit CONTAINER` and the
//! service's audit endpoint.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};
use openshell_policy::wire::AuditEvent;

use crate::AuditError;

/// Which events to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailQuery {
    /// Only this container's events.
    pub container_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only the last N matching events.
    pub limit: Option<usize>,
}

/// The events found, oldest first, and the lines that were not events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    /// Matching events, in file order.
    pub events: Vec<AuditEvent>,
    /// 1-based numbers of lines that did not parse as events.
    pub malformed_lines: Vec<usize>,
}

/// Reads the events of `path` that match `query`. A missing file is an empty trail.
pub fn read_trail(path: &Path, query: &TrailQuery) -> Result<Trail, AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Trail::default()),
        Err(source) => {
            return Err(AuditError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut events = VecDeque::new();
    let mut malformed_lines = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| AuditError::Read {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let event: AuditEvent = match serde_json::from_str(&line) {
            Ok(e) => e,
            Err(_) => {
                malformed_lines.push(index + 1);
                continue;
            }
        };
        if query
            .container_id
            .as_deref()
            .is_some_and(|id| event.container_id.as_deref() != Some(id))
        {
            continue;
        }
        if query.since.is_some_and(|since| event.timestamp < since) {
            continue;
        }
        events.push_back(event);
        if query.limit.is_some_and(|limit| events.len() > limit) {
            events.pop_front();
        }
    }
    Ok(Trail {
        events: events.into(),
        malformed_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::new_event;
    use std::io::Write;

    #[test]
    fn filters_by_container_and_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.jsonl");
        let mut f = File::create(&path).unwrap();
        for i in 0..5 {
            let mut e = new_event("nemotron", &format!("crm.read{i}"), "allow");
            e.container_id = Some(if i % 2 == 0 { "a" } else { "b" }.into());
            writeln!(f, "{}", serde_json::to_string(&e).unwrap()).unwrap();
        }
        writeln!(f, "not json").unwrap();
        let q = TrailQuery {
            container_id: Some("a".into()),
            limit: Some(2),
            ..TrailQuery::default()
        };
        let trail = read_trail(&path, &q).unwrap();
        let actions: Vec<_> = trail.events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec!["crm.read2", "crm.read4"]);
        assert_eq!(trail.malformed_lines, vec![6]);
        assert!(
            read_trail(&dir.path().join("none"), &q)
                .unwrap()
                .events
                .is_empty()
        );
    }
}
