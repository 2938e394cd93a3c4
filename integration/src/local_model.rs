//! The node's local model for tests and the demo: llama.cpp's OpenAI-compatible server
//! (llama-cpp-python) serving SmolLM2-135M-Instruct, as `scripts/local-model.sh` installs it.
//!
//! `OPENSHELL_LOCAL_MODEL_PYTHON` names the virtual environment's python and
//! `OPENSHELL_LOCAL_MODEL_GGUF` the model file (`scripts/test.sh` and `scripts/demo.sh` set
//! both). A test that needs the model panics when they are missing: it does not skip.
//!
//! Only the standard library and `tempfile` are used, so other test crates can include the file.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The model name the server answers to (and reports in `/v1/models`).
pub const MODEL_ALIAS: &str = "smollm2-135m-instruct";

/// A running llama.cpp server on a free loopback port, killed on drop.
pub struct LocalModel {
    child: Child,
    port: u16,
    /// The server's output (stdout and stderr), for failure messages.
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn required(var: &str) -> PathBuf {
    let value = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run scripts/local-model.sh (scripts/test.sh does) and export it")
    });
    let path = PathBuf::from(value);
    assert!(path.is_file(), "{var}={} is not a file", path.display());
    path
}

impl LocalModel {
    /// Starts the server and waits (up to two minutes) until `GET /v1/models` answers 200.
    pub fn start() -> LocalModel {
        let python = required("OPENSHELL_LOCAL_MODEL_PYTHON");
        let gguf = required("OPENSHELL_LOCAL_MODEL_GGUF");
        let port = free_port();
        let dir = tempfile::tempdir().expect("the local model's directory");
        let log = dir.path().join("llama-server.log");
        let out = std::fs::File::create(&log).expect("create the server log");
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&gguf)
            .args([
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .args(["--n_ctx", "2048", "--verbose", "false"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup the log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {} -m llama_cpp.server: {e}", python.display()));
        let mut model = LocalModel {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = model.child.try_wait().expect("poll the server") {
                panic!(
                    "the llama.cpp server exited ({status}):\n{}",
                    model.log_text()
                );
            }
            if model.get("/v1/models").0 == 200 {
                return model;
            }
            assert!(
                Instant::now() < deadline,
                "the llama.cpp server did not answer on port {port}:\n{}",
                model.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The base URL, up to and including `/v1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// What the server wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the server: status (0 when nothing answered) and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        if write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .is_err()
        {
            return (0, String::new());
        }
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
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}
