//! The on-disk spool of a destination: events waiting while it is down.
//!
//! A spool is a directory of segment files, each a batch of JSON lines written to a temporary
//! name, fsynced and renamed into place (so a segment is whole or absent, even after a crash).
//! Names sort by creation time: `<unix nanos>-<pid>-<seq>.jsonl`. Several processes may spool
//! into one directory (the service and in-process hooks); draining is exclusive, under an
//! `flock` on `.lock`. Batches a destination rejects for good move to `rejected/`.
//!
//! A spool holds at most `max_bytes` (`[audit] spool_max_bytes`). When a batch would pass the
//! cap it is dropped, not spooled: the newest events go, as Vector's `when_full: drop_newest`
//! buffers do. Dropping the oldest instead would let a flood push out the events that record
//! how it began, and would delete evidence nobody has received. The caller counts the drop.
//! The size is tracked in memory and measured again whenever the segments are listed (other
//! processes spool into the same directory).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) struct Spool {
    dir: PathBuf,
    seq: AtomicU64,
    max_bytes: u64,
    bytes: AtomicU64,
}

/// What became of a batch given to [`Spool::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spooled {
    /// Written durably.
    Written,
    /// Dropped: the spool is at its byte cap.
    Dropped,
}

/// Held while draining; other processes skip draining meanwhile.
pub(crate) struct DrainLock {
    _file: File,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, holding at most `max_bytes`.
    pub(crate) fn open(dir: PathBuf, max_bytes: u64) -> std::io::Result<Spool> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let spool = Spool {
            dir,
            seq: AtomicU64::new(0),
            max_bytes,
            bytes: AtomicU64::new(0),
        };
        spool.segments()?;
        Ok(spool)
    }

    /// Bytes the segments hold, as last measured or written.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The byte cap.
    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn shrink(&self, by: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(by))
            });
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

    /// Writes `lines` as a new segment, durably, unless that would pass the byte cap.
    pub(crate) fn append(&self, lines: &[String]) -> std::io::Result<Spooled> {
        let size = segment_size(lines);
        if self.bytes().saturating_add(size) > self.max_bytes {
            return Ok(Spooled::Dropped);
        }
        let name = self.unique_name();
        write_durably(&self.dir, &name, lines)?;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Ok(Spooled::Written)
    }

    /// Segments, oldest first; measures the spool's size again.
    pub(crate) fn segments(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut total = 0;
        let mut names: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|e| {
                let path = e.path();
                path.extension().is_some_and(|e| e == "jsonl")
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
            })
            .map(|e| {
                total += e.metadata().map_or(0, |m| m.len());
                e.path()
            })
            .collect();
        names.sort();
        self.bytes.store(total, Ordering::Relaxed);
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
        let before = fs::metadata(segment).map_or(0, |m| m.len());
        write_durably(&self.dir, name, remaining)?;
        self.shrink(before.saturating_sub(segment_size(remaining)));
        Ok(())
    }

    pub(crate) fn remove(&self, segment: &Path) -> std::io::Result<()> {
        let size = fs::metadata(segment).map_or(0, |m| m.len());
        fs::remove_file(segment)?;
        self.shrink(size);
        Ok(())
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

/// Bytes `lines` take as a segment.
fn segment_size(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64 + 1).sum()
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
        let spool = Spool::open(dir.path().join("s"), 1024).unwrap();
        spool.append(&["a".into(), "b".into()]).unwrap();
        spool.append(&["c".into()]).unwrap();
        let segs = spool.segments().unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(spool.bytes(), 6);
        assert_eq!(spool.read(&segs[0]).unwrap(), vec!["a", "b"]);
        spool.rewrite(&segs[0], &["b".into()]).unwrap();
        assert_eq!(spool.read(&segs[0]).unwrap(), vec!["b"]);
        assert_eq!(spool.bytes(), 4);
        spool.remove(&segs[0]).unwrap();
        assert_eq!(spool.segments().unwrap(), vec![segs[1].clone()]);
        assert_eq!(spool.bytes(), 2);
    }

    #[test]
    fn past_the_cap_new_batches_are_dropped_and_old_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().to_owned(), 10).unwrap();
        assert_eq!(spool.append(&["1234".into()]).unwrap(), Spooled::Written);
        assert_eq!(spool.append(&["5678".into()]).unwrap(), Spooled::Written);
        assert_eq!(spool.append(&["9".into()]).unwrap(), Spooled::Dropped);
        let segs = spool.segments().unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            spool.read(&segs[0]).unwrap(),
            vec!["1234"],
            "the oldest stay"
        );
        // Measured again from disk by a second opener (another process).
        let other = Spool::open(dir.path().to_owned(), 10).unwrap();
        assert_eq!(other.bytes(), 10);
        spool.remove(&segs[0]).unwrap();
        assert_eq!(spool.append(&["9".into()]).unwrap(), Spooled::Written);
    }

    #[test]
    fn drain_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let a = Spool::open(dir.path().to_owned(), 1024).unwrap();
        let b = Spool::open(dir.path().to_owned(), 1024).unwrap();
        let held = a.try_lock().unwrap();
        assert!(held.is_some());
        assert!(b.try_lock().unwrap().is_none());
        drop(held);
        assert!(b.try_lock().unwrap().is_some());
    }
}
