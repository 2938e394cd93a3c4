//! The on-disk spool of a destination: events waiting while it is down.
//!
//! A spool is a directory of segment files, each a batch of JSON lines written to a temporary
//! name, fsynced and renamed into place (so a segment is whole or absent, even after a crash).
//! Names sort by creation time: `<unix nanos>-<pid>-<seq>.jsonl`. Several processes may spool
//! into one directory (the service and in-process hooks); draining is exclusive, under an
//! `flock` on `.lock`. Batches a destination rejects for good move to `rejected/`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
}

/// Held while draining; other processes skip draining meanwhile.
pub(crate) struct DrainLock {
    _file: File,
}

impl Spool {
    pub(crate) fn open(dir: PathBuf) -> std::io::Result<Spool> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Spool {
            dir,
            seq: AtomicU64::new(0),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn unique_name(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{nanos:024}-{:010}-{seq:010}.jsonl", std::process::id())
    }

    /// Writes `lines` as a new segment, durably.
    pub(crate) fn append(&self, lines: &[String]) -> std::io::Result<()> {
        let name = self.unique_name();
        write_durably(&self.dir, &name, lines)
    }

    /// Segments, oldest first.
    pub(crate) fn segments(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut names: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "jsonl")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
            })
            .collect();
        names.sort();
        Ok(names)
    }

    pub(crate) fn read(&self, segment: &Path) -> std::io::Result<Vec<String>> {
        let reader = BufReader::new(File::open(segment)?);
        let mut lines = Vec::new();
        for line in reader.lines() {
            let line = line?;
            if !line.is_empty() {
                lines.push(line);
            }
        }
        Ok(lines)
    }

    /// Replaces `segment` with only `remaining` (after part of it was delivered).
    pub(crate) fn rewrite(&self, segment: &Path, remaining: &[String]) -> std::io::Result<()> {
        let name = segment
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| std::io::Error::other("segment without a name"))?;
        write_durably(&self.dir, name, remaining)
    }

    pub(crate) fn remove(&self, segment: &Path) -> std::io::Result<()> {
        fs::remove_file(segment)
    }

    /// Keeps a batch the destination rejected, out of the retry path.
    pub(crate) fn reject(&self, lines: &[String]) -> std::io::Result<()> {
        let rejected = self.dir.join("rejected");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&rejected)?;
        write_durably(&rejected, &self.unique_name(), lines)
    }

    /// The drain lock, unless another process holds it.
    pub(crate) fn try_lock(&self) -> std::io::Result<Option<DrainLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.dir.join(".lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DrainLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Writes `dir/name` through a temporary file, fsync and rename, then fsyncs the directory.
fn write_durably(dir: &Path, name: &str, lines: &[String]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".tmp-{name}"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        buf.push_str(line);
        buf.push('\n');
    }
    file.write_all(buf.as_bytes())?;
    file.sync_data()?;
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("s")).unwrap();
        spool.append(&["a".into(), "b".into()]).unwrap();
        spool.append(&["c".into()]).unwrap();
        let segs = spool.segments().unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(spool.read(&segs[0]).unwrap(), vec!["a", "b"]);
        spool.rewrite(&segs[0], &["b".into()]).unwrap();
        assert_eq!(spool.read(&segs[0]).unwrap(), vec!["b"]);
        spool.remove(&segs[0]).unwrap();
        assert_eq!(spool.segments().unwrap(), vec![segs[1].clone()]);
    }

    #[test]
    fn drain_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let a = Spool::open(dir.path().to_owned()).unwrap();
        let b = Spool::open(dir.path().to_owned()).unwrap();
        let held = a.try_lock().unwrap();
        assert!(held.is_some());
        assert!(b.try_lock().unwrap().is_none());
        drop(held);
        assert!(b.try_lock().unwrap().is_some());
    }
}
