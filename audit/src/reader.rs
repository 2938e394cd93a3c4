//! Reading a trail back: the events of one container from a JSON-lines audit file (the node's
//! local trail, or a `file://` destination), at once ([`read_trail`]: the service's audit
//! endpoint) or as the file grows ([`TrailCursor`]: `openshell audit CONTAINER [--follow]`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

impl TrailQuery {
    fn matches(&self, event: &AuditEvent) -> bool {
        let container = self
            .container_id
            .as_deref()
            .is_none_or(|id| event.container_id.as_deref() == Some(id));
        container && self.since.is_none_or(|since| event.timestamp >= since)
    }
}

/// The events found, oldest first, and the lines that were not events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    /// Matching events, in file order.
    pub events: Vec<AuditEvent>,
    /// 1-based numbers of lines that did not parse as events.
    pub malformed_lines: Vec<usize>,
}

/// One line of a trail: `None` for a blank line, `Some(Err(()))` for one that is not an event.
fn parse_line(line: &[u8]) -> Option<Result<AuditEvent, ()>> {
    if line.trim_ascii().is_empty() {
        return None;
    }
    Some(serde_json::from_slice(line).map_err(drop))
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Read {
        path: path.to_owned(),
        source,
    }
}

/// Reads the events of `path` that match `query`. A missing file is an empty trail.
pub fn read_trail(path: &Path, query: &TrailQuery) -> Result<Trail, AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Trail::default()),
        Err(source) => return Err(read_error(path)(source)),
    };
    let mut events = VecDeque::new();
    let mut malformed_lines = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(read_error(path))?
            == 0
        {
            break;
        }
        number += 1;
        match parse_line(&line) {
            None => {}
            Some(Err(())) => malformed_lines.push(number),
            Some(Ok(event)) if query.matches(&event) => {
                events.push_back(event);
                if query.limit.is_some_and(|limit| events.len() > limit) {
                    events.pop_front();
                }
            }
            Some(Ok(_)) => {}
        }
    }
    Ok(Trail {
        events: events.into(),
        malformed_lines,
    })
}

/// An open trail file and which file it is (device, inode).
struct OpenTrail {
    file: File,
    identity: (u64, u64),
}

/// Follows a trail file as it grows: each [`TrailCursor::poll`] returns the matching events
/// appended since the previous one (the first returns all of them). A line still being
/// written is held back until it is complete. A trail that is replaced (rotated) is read to its
/// end, then the new file from its start; one that is truncated is read again from its start;
/// one that does not exist yet has no events.
pub struct TrailCursor {
    path: PathBuf,
    query: TrailQuery,
    open: Option<OpenTrail>,
    offset: u64,
    lines: usize,
    partial: Vec<u8>,
}

impl TrailCursor {
    /// A cursor at the start of `path`, returning the events that match `query` (its `limit`
    /// applies to each poll).
    pub fn new(path: impl Into<PathBuf>, query: TrailQuery) -> TrailCursor {
        TrailCursor {
            path: path.into(),
            query,
            open: None,
            offset: 0,
            lines: 0,
            partial: Vec::new(),
        }
    }

    /// The trail file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The matching events appended since the last poll, and the lines among them that were
    /// not events (numbered from the start of the current file).
    pub fn poll(&mut self) -> Result<Trail, AuditError> {
        let mut trail = Trail::default();
        let current = match std::fs::metadata(&self.path) {
            Ok(meta) => Some(((meta.dev(), meta.ino()), meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(read_error(&self.path)(source)),
        };
        let replaced = match (&self.open, current) {
            (Some(open), Some((identity, _))) => open.identity != identity,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if replaced {
            self.read_new(&mut trail)?;
            self.open = None;
        }
        let Some((identity, len)) = current else {
            return Ok(self.limited(trail));
        };
        if self.open.is_some() && len < self.offset {
            self.open = None;
        }
        if self.open.is_none() {
            let file = match File::open(&self.path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(self.limited(trail));
                }
                Err(source) => return Err(read_error(&self.path)(source)),
            };
            self.open = Some(OpenTrail { file, identity });
            self.offset = 0;
            self.lines = 0;
            self.partial.clear();
        }
        self.read_new(&mut trail)?;
        Ok(self.limited(trail))
    }

    /// Reads the open file from the offset to its end into `trail`.
    fn read_new(&mut self, trail: &mut Trail) -> Result<(), AuditError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let fail = read_error(&self.path);
        let mut bytes = std::mem::take(&mut self.partial);
        let before = bytes.len();
        open.file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| open.file.read_to_end(&mut bytes))
            .map_err(fail)?;
        self.offset += (bytes.len() - before) as u64;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        if complete == 0 {
            return Ok(());
        }
        for line in bytes[..complete - 1].split(|b| *b == b'\n') {
            self.lines += 1;
            match parse_line(line) {
                None => {}
                Some(Err(())) => trail.malformed_lines.push(self.lines),
                Some(Ok(event)) if self.query.matches(&event) => trail.events.push(event),
                Some(Ok(_)) => {}
            }
        }
        Ok(())
    }

    fn limited(&self, mut trail: Trail) -> Trail {
        if let Some(limit) = self.query.limit
            && trail.events.len() > limit
        {
            trail.events.drain(..trail.events.len() - limit);
        }
        trail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn event(container: &str, action: &str) -> AuditEvent {
        AuditEvent {
            id: format!("{container}-{action}"),
            timestamp: Utc::now(),
            component: "nemotron".into(),
            container_id: Some(container.into()),
            policy: None,
            actor: None,
            action: action.into(),
            resource: None,
            classification: None,
            policies: Vec::new(),
            decision: "allow".into(),
            reason: String::new(),
            latency_us: 0,
        }
    }

    fn line(e: &AuditEvent) -> String {
        format!("{}\n", serde_json::to_string(e).unwrap())
    }

    fn actions(trail: &Trail) -> Vec<&str> {
        trail.events.iter().map(|e| e.action.as_str()).collect()
    }

    fn only(container: &str) -> TrailQuery {
        TrailQuery {
            container_id: Some(container.into()),
            ..TrailQuery::default()
        }
    }

    #[test]
    fn filters_by_container_and_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.jsonl");
        let mut f = File::create(&path).unwrap();
        for i in 0..5 {
            let container = if i % 2 == 0 { "a" } else { "b" };
            f.write_all(line(&event(container, &format!("crm.read{i}"))).as_bytes())
                .unwrap();
        }
        writeln!(f, "not json").unwrap();
        let q = TrailQuery {
            limit: Some(2),
            ..only("a")
        };
        let trail = read_trail(&path, &q).unwrap();
        assert_eq!(actions(&trail), vec!["crm.read2", "crm.read4"]);
        assert_eq!(trail.malformed_lines, vec![6]);
        assert!(
            read_trail(&dir.path().join("none"), &q)
                .unwrap()
                .events
                .is_empty()
        );
    }

    #[test]
    fn cursor_returns_what_was_appended_and_holds_back_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.jsonl");
        let mut cursor = TrailCursor::new(&path, only("a"));
        assert_eq!(cursor.poll().unwrap(), Trail::default());

        let mut f = File::create(&path).unwrap();
        f.write_all(line(&event("a", "one")).as_bytes()).unwrap();
        f.write_all(line(&event("b", "other")).as_bytes()).unwrap();
        assert_eq!(actions(&cursor.poll().unwrap()), vec!["one"]);
        assert!(cursor.poll().unwrap().events.is_empty());

        let two = line(&event("a", "two"));
        let (head, tail) = two.split_at(10);
        f.write_all(head.as_bytes()).unwrap();
        assert!(cursor.poll().unwrap().events.is_empty());
        f.write_all(tail.as_bytes()).unwrap();
        f.write_all(b"garbage\n").unwrap();
        let trail = cursor.poll().unwrap();
        assert_eq!(actions(&trail), vec!["two"]);
        assert_eq!(trail.malformed_lines, vec![4]);
    }

    #[test]
    fn cursor_follows_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.jsonl");
        let mut f = File::create(&path).unwrap();
        f.write_all(line(&event("a", "one")).as_bytes()).unwrap();
        let mut cursor = TrailCursor::new(&path, only("a"));
        assert_eq!(actions(&cursor.poll().unwrap()), vec!["one"]);

        // Written just before the rotation: still reported, then the new file.
        f.write_all(line(&event("a", "late")).as_bytes()).unwrap();
        std::fs::rename(&path, dir.path().join("trail.jsonl.1")).unwrap();
        std::fs::write(&path, line(&event("a", "fresh"))).unwrap();
        assert_eq!(actions(&cursor.poll().unwrap()), vec!["late", "fresh"]);

        // Truncated in place and written again: read from the start.
        std::fs::write(&path, "").unwrap();
        assert!(cursor.poll().unwrap().events.is_empty());
        std::fs::write(&path, line(&event("a", "again"))).unwrap();
        assert_eq!(actions(&cursor.poll().unwrap()), vec!["again"]);

        std::fs::remove_file(&path).unwrap();
        assert!(cursor.poll().unwrap().events.is_empty());
    }
}
