//! Helpers for tests that run the real `nemotron-service` binary on a temporary unix socket.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running service, killed on drop.
pub struct Service {
    pub child: Child,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Service {
    /// Starts the daemon with `extra_config` appended to a node configuration whose spool,
    /// trail and registry live in a temporary directory.
    pub fn start(extra_config: &str, args: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nemotron.sock");
        let config = dir.path().join("config.toml");
        let base = format!(
            "registry_dir = \"{0}/registry\"\n[audit]\nspool_dir = \"{0}/spool\"\ntrail = \"{0}/trail.jsonl\"\n[classifier]\ninternal_domains = [\"company.com\"]\n",
            dir.path().display()
        );
        std::fs::write(&config, format!("{base}{extra_config}")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_nemotron-service"))
            .arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nemotron-service");
        let service = Service { child, socket, dir };
        service.wait_ready();
        service
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nemotron-service did not start");
    }

    /// One request (`Connection: close`), raw; returns status and body.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        if let Some(b) = body {
            raw.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        raw.push_str("\r\n");
        if let Some(b) = body {
            raw.push_str(b);
        }
        self.raw(raw.as_bytes())
    }

    /// Sends raw bytes and reads the whole answer (the server closes the connection). A server
    /// may answer and close before it has read everything (a body over the limit): the write
    /// then fails with a broken pipe and the answer is still read.
    pub fn raw(&self, bytes: &[u8]) -> (u16, String) {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        // Long enough for a real local model on a slow CPU (model_backend's last test).
        stream
            .set_read_timeout(Some(Duration::from_secs(180)))
            .unwrap();
        if let Err(e) = stream.write_all(bytes) {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "sending the request: {e}"
            );
        }
        read_response(&mut stream)
    }

    pub fn json(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.request(method, path, Some(&body.to_string()));
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub fn healthy(&self) -> bool {
        self.request("GET", "/healthz", None).0 == 200
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads an HTTP/1.1 response until the connection closes; returns status and body.
pub fn read_response(stream: &mut impl Read) -> (u16, String) {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, dechunk(&body))
}

/// Joins a chunked body (the server streams some responses).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_owned();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}

/// What the model stand-in answers.
#[derive(Clone)]
pub enum ModelMode {
    /// A chat completion whose message content is this JSON.
    Answer(serde_json::Value),
    /// A chat completion whose content is not JSON.
    Garbage,
    /// Never answers.
    Hang,
}

/// A local stand-in for an OpenAI-compatible chat-completions server.
pub struct ModelStandIn {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    pub mode: Arc<Mutex<ModelMode>>,
}

impl ModelStandIn {
    pub fn start(mode: ModelMode) -> ModelStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let (r, b, m) = (requests.clone(), bodies.clone(), mode.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (r, b, m) = (r.clone(), b.clone(), m.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut length = 0;
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 0 {
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                        line.clear();
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    r.fetch_add(1, Ordering::SeqCst);
                    b.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let mode = m.lock().unwrap().clone();
                    let content = match mode {
                        ModelMode::Answer(v) => v.to_string(),
                        ModelMode::Garbage => "I think this is probably fine!".to_owned(),
                        ModelMode::Hang => {
                            std::thread::sleep(Duration::from_secs(30));
                            return;
                        }
                    };
                    let completion = serde_json::json!({
                        "id": "cmpl-1", "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
                    })
                    .to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{completion}",
                        completion.len()
                    );
                    let _ = conn.write_all(response.as_bytes());
                });
            }
        });
        ModelStandIn {
            url,
            requests,
            bodies,
            mode,
        }
    }
}

pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
