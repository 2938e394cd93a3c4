//! A local stand-in for a SIEM's HTTP collector (what `siem://NAME` resolves to in the node
//! configuration): accepts `POST`s of a JSON array of audit events on 127.0.0.1, answers 200
//! and closes the connection, keeps what it received, and can be stopped (port closed) and
//! started again on the same port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// The collector.
pub struct SiemStandIn {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Value>>>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl SiemStandIn {
    /// A collector on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SIEM stand-in");
        let addr = listener.local_addr().expect("local addr");
        let mut siem = Self {
            addr,
            received: Arc::new(Mutex::new(Vec::new())),
            running: None,
        };
        siem.serve(listener);
        siem
    }

    /// The endpoint to put in `[siem]`.
    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// The events received so far, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.received.lock().expect("received").clone()
    }

    /// Closes the port: deliveries fail with "connection refused" until [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            thread.join().expect("SIEM stand-in thread");
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let listener = TcpListener::bind(self.addr).expect("rebind SIEM stand-in");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::clone(&self.received);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn
                    && let Some(batch) = read_post(&conn)
                {
                    received.lock().expect("received").extend(batch);
                    let _ = (&conn).write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            }
        });
        self.running = Some((stop, thread));
    }
}

impl Drop for SiemStandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request; its body must be a JSON array of events (or one JSON object, as a
/// chat webhook posts).
fn read_post(conn: &TcpStream) -> Option<Vec<Value>> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn);
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    match serde_json::from_slice(&body).ok()? {
        Value::Array(batch) => Some(batch),
        object @ Value::Object(_) => Some(vec![object]),
        _ => None,
    }
}
