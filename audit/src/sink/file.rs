//! `file://PATH`: JSON lines appended to a file.
//!
//! Fsync policy: each batch is written with a single `write` on an `O_APPEND` descriptor (so
//! concurrent writers — the service and in-process hooks — never interleave inside a line) and
//! then `fdatasync`ed. A batch is everything queued when the writer wakes, up to the batch
//! size, so under load one fsync covers many events; an event is durable once
//! [`crate::AuditLogger::flush`] returns.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::{DeliveryError, Sink};

pub(crate) struct FileSink {
    path: PathBuf,
    file: Option<File>,
}

impl FileSink {
    pub(crate) fn new(path: PathBuf) -> FileSink {
        FileSink { path, file: None }
    }

    fn file(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.path)?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, lines: &[String]) -> Result<(), DeliveryError> {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buf.push_str(line);
            buf.push('\n');
        }
        let path = self.path.display().to_string();
        let result = self.file().and_then(|f| {
            f.write_all(buf.as_bytes())?;
            f.sync_data()
        });
        result.map_err(|e| {
            self.file = None;
            DeliveryError::Transient(format!("cannot append to {path}: {e}"))
        })
    }
}
