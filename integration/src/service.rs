//! The `nemotron-service` daemon on a private unix socket, stopped (SIGKILL) on drop, with a
//! plain HTTP/1.1 client for the node services' unix-socket APIs.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running policy service.
pub struct PolicyService {
    child: Option<Child>,
    socket: PathBuf,
}

impl PolicyService {
    /// Starts `nemotron-service --socket SOCKET --config CONFIG` (its output goes to
    /// `SOCKET.log`) and waits until it answers `/healthz`.
    pub fn start(config: &Path, socket: &Path) -> Self {
        let log = File::create(socket.with_extension("log")).expect("service log");
        let child = Command::new(crate::binaries::path("nemotron-service"))
            .arg("--socket")
            .arg(socket)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start nemotron-service");
        let service = Self {
            child: Some(child),
            socket: socket.to_owned(),
        };
        let up = crate::wait_for(Duration::from_secs(20), || {
            UnixStream::connect(socket).is_ok() && service.get("/healthz").0 == 200
        });
        assert!(
            up,
            "nemotron-service did not come up on {}",
            socket.display()
        );
        service
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path`: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        unix_get(&self.socket, path)
    }

    /// The value of a Prometheus sample whose name and labels start as `series` (for example
    /// `nemotron_decisions_total{kind="admission",outcome="deny"`); 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (status, text) = self.get("/metrics");
        assert_eq!(status, 200, "{text}");
        text.lines()
            .filter(|line| line.starts_with(series))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Kills the daemon with SIGKILL: its socket file stays behind, nobody listens on it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for `condition` on the service (e.g. a metric to reach a value).
    pub fn wait_until(&self, timeout: Duration, mut condition: impl FnMut(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `GET path` on the HTTP API of a node service's unix socket: status and body.
pub fn unix_get(socket: &Path, path: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect to {}: {e}", socket.display()));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Drop for PolicyService {
    fn drop(&mut self) {
        self.kill();
    }
}
