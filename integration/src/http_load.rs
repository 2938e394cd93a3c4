//! A closed-loop HTTP/1.1 load generator for what `wrk` cannot drive: requests inside a
//! CONNECT tunnel, and TLS with a chosen server name, from a given network namespace.
//!
//! Each connection is opened (the CONNECT answered, the TLS handshake done) before the clock
//! starts, then sends one request, reads the whole response (`Content-Length` framing), and
//! sends the next, until the duration is over; every request's latency is kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a connection reaches the server.
#[derive(Clone, Debug)]
pub enum Route {
    /// A TCP connection straight to the address.
    Direct(SocketAddr),
    /// A CONNECT to `authority` through the proxy at `proxy`.
    Connect {
        /// The proxy.
        proxy: SocketAddr,
        /// `host:port` asked for.
        authority: String,
    },
}

/// TLS spoken over the route.
#[derive(Clone)]
pub struct Tls {
    /// The client configuration (its roots decide what the server may present).
    pub config: Arc<rustls::ClientConfig>,
    /// The server name sent and checked.
    pub server_name: ServerName<'static>,
}

/// One load run.
#[derive(Clone)]
pub struct Load {
    /// The network namespace the connections are made from.
    pub netns: PathBuf,
    /// How they reach the server.
    pub route: Route,
    /// TLS over the route, if any.
    pub tls: Option<Tls>,
    /// The request sent, head and body, as bytes on the wire.
    pub request: Vec<u8>,
    /// Concurrent connections.
    pub connections: usize,
    /// How long requests are sent.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Completed requests per second.
    pub requests_per_second: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs `load` on a thread of its own in `load.netns` (one thread, as `wrk -t 1`).
pub fn run(load: &Load) -> Measured {
    let load = load.clone();
    std::thread::spawn(move || {
        let netns = std::fs::File::open(&load.netns).expect("open the load's netns");
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("load runtime")
            .block_on(drive(load))
    })
    .join()
    .expect("load thread")
}

async fn drive(load: Load) -> Measured {
    let load = Arc::new(load);
    let start = Arc::new(tokio::sync::Barrier::new(load.connections + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.connections {
        let (load, start) = (Arc::clone(&load), Arc::clone(&start));
        tasks.spawn(async move {
            let mut io = open(&load).await;
            start.wait().await;
            let deadline = Instant::now() + load.duration;
            let mut latencies = Vec::new();
            let mut buffer = BytesMut::with_capacity(16 * 1024);
            while Instant::now() < deadline {
                let sent = Instant::now();
                io.write_all(&load.request).await.expect("send request");
                read_response(&mut io, &mut buffer).await;
                latencies.push(sent.elapsed());
            }
            latencies
        });
    }
    start.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("load connection"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Measured {
        requests_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.5).as_secs_f64() * 1e3,
        p99: at(0.99).as_secs_f64() * 1e3,
    }
}

async fn open(load: &Load) -> Box<dyn Io> {
    let stream = match &load.route {
        Route::Direct(address) => TcpStream::connect(address).await.expect("connect"),
        Route::Connect { proxy, authority } => {
            let mut stream = TcpStream::connect(proxy)
                .await
                .expect("connect to the proxy");
            let connect = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
            stream
                .write_all(connect.as_bytes())
                .await
                .expect("send CONNECT");
            let mut buffer = BytesMut::new();
            let head = read_head(&mut stream, &mut buffer).await;
            assert!(
                head.starts_with("HTTP/1.1 200"),
                "CONNECT {authority} refused: {head}"
            );
            assert!(buffer.is_empty(), "bytes after the CONNECT answer");
            stream
        }
    };
    stream.set_nodelay(true).expect("nodelay");
    match &load.tls {
        None => Box::new(stream),
        Some(tls) => Box::new(
            tokio_rustls::TlsConnector::from(Arc::clone(&tls.config))
                .connect(tls.server_name.clone(), stream)
                .await
                .expect("TLS handshake"),
        ),
    }
}

/// Reads a response head into `buffer` and returns it, leaving what follows in `buffer`.
async fn read_head<S: AsyncRead + Unpin>(io: &mut S, buffer: &mut BytesMut) -> String {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.advance(end + 4);
            return head;
        }
        let n = io.read_buf(buffer).await.expect("read response");
        assert!(n > 0, "connection closed before a response head");
    }
}

/// Reads one `200` response with a `Content-Length` body.
async fn read_response<S: AsyncRead + Unpin>(io: &mut S, buffer: &mut BytesMut) {
    let head = read_head(io, buffer).await;
    assert!(head.starts_with("HTTP/1.1 200"), "response: {head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().expect("Content-Length"))
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    while buffer.len() < length {
        let n = io.read_buf(buffer).await.expect("read body");
        assert!(n > 0, "connection closed in a body");
    }
    buffer.advance(length);
}

/// A TLS client configuration trusting the certificates in `ca_files` (PEM).
pub fn tls_trusting(ca_files: &[&Path]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for file in ca_files {
        for cert in CertificateDer::pem_file_iter(file).expect("read CA file") {
            roots.add(cert.expect("CA certificate")).expect("add root");
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}
