//! A local stand-in for a SIEM's HTTP collector: accepts `POST` of a JSON array of events,
//! answers with a configurable status, and can be stopped (port closed) and restarted on the
//! same port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use openshell_policy::wire::AuditEvent;

#[derive(Default)]
pub struct Received {
    pub events: Mutex<Vec<AuditEvent>>,
    pub requests: AtomicU64,
}

pub struct Siem {
    pub addr: SocketAddr,
    pub received: Arc<Received>,
    pub status: Arc<AtomicU16>,
    pub delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Siem {
    pub fn start(addr: &str) -> Siem {
        Siem::start_with(addr, Arc::new(Received::default()))
    }

    pub fn start_with(addr: &str, received: Arc<Received>) -> Siem {
        let listener = TcpListener::bind(addr).expect("bind SIEM stand-in");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, status, delay_ms, received) = (
                stop.clone(),
                status.clone(),
                delay_ms.clone(),
                received.clone(),
            );
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (stop, status, delay_ms, received) = (
                        stop.clone(),
                        status.clone(),
                        delay_ms.clone(),
                        received.clone(),
                    );
                    std::thread::spawn(move || serve(conn, &stop, &status, &delay_ms, &received));
                }
            })
        };
        Siem {
            addr,
            received,
            status,
            delay_ms,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Closes the port and ends every connection.
    pub fn stop(mut self) -> Arc<Received> {
        self.shutdown();
        self.received.clone()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        // Let connection threads notice the flag (they poll every 50 ms).
        std::thread::sleep(Duration::from_millis(120));
    }

    pub fn ids(&self) -> Vec<String> {
        self.received
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id.clone())
            .collect()
    }
}

impl Drop for Siem {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

fn serve(
    conn: TcpStream,
    stop: &AtomicBool,
    status: &AtomicU16,
    delay_ms: &AtomicU64,
    received: &Received,
) {
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut request_line = String::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match reader.read_line(&mut request_line) {
                Ok(0) => return,
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        let mut read = 0;
        while read < length {
            match reader.read(&mut body[read..]) {
                Ok(0) => return,
                Ok(n) => read += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => return,
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::SeqCst)));
        let code = status.load(Ordering::SeqCst);
        received.requests.fetch_add(1, Ordering::SeqCst);
        if code == 200 {
            let batch: Vec<AuditEvent> =
                serde_json::from_slice(&body).expect("a JSON array of events");
            received.events.lock().unwrap().extend(batch);
        }
        let response = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
