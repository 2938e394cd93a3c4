//! Shared by the integration tests: stand-in channel servers that record what they receive,
//! an in-process daemon on temp dirs, and raw HTTP calls over TCP.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use openshell_approvals::config::Config;
use openshell_approvals::daemon::{Daemon, Settings};
use openshell_approvals::notify::RetryPolicy;
use openshell_approvals::queue::Queue;
use openshell_policy::wire::{ApprovalOrigin, ApprovalRequest, Enforcement};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A test CA (its certificate, PEM) and a TLS acceptor holding a certificate for 127.0.0.1
/// that the CA issued.
pub fn ca_and_acceptor() -> (String, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "openshell approvals test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// A stand-in webhook: answers each POST with the next scripted status (then 200) and records
/// the JSON bodies; over HTTPS when started with a TLS acceptor.
#[derive(Clone)]
pub struct StandIn {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    scheme: &'static str,
}

impl StandIn {
    pub async fn start(script: &[u16]) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        StandIn::serve(listener, script, None)
    }

    /// A stand-in on a given address (one that was free).
    pub async fn start_at(addr: SocketAddr) -> StandIn {
        let listener = TcpListener::bind(addr).await.unwrap();
        StandIn::serve(listener, &[], None)
    }

    /// A stand-in speaking HTTPS with `acceptor`'s certificate.
    pub async fn start_tls(acceptor: TlsAcceptor) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        StandIn::serve(listener, &[], Some(acceptor))
    }

    fn serve(listener: TcpListener, script: &[u16], tls: Option<TlsAcceptor>) -> StandIn {
        let stand_in = StandIn {
            addr: listener.local_addr().unwrap(),
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            scheme: if tls.is_some() { "https" } else { "http" },
        };
        let shared = stand_in.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        // A client that refuses the certificate ends the handshake: nothing to serve.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                shared.answer(stream).await;
                            }
                        }
                        None => shared.answer(stream).await,
                    }
                });
            }
        });
        stand_in
    }

    /// Serves one connection: records each body, answers the next scripted status.
    async fn answer<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |request: Request<Incoming>| {
            let shared = self.clone();
            async move {
                let body = request.into_body().collect().await?.to_bytes();
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                shared.received.lock().unwrap().push(value);
                let status = shared.script.lock().unwrap().pop_front().unwrap_or(200);
                Ok::<_, hyper::Error>(
                    Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(b"ok")))
                        .unwrap(),
                )
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` bodies arrived (at most `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let bodies = self.bodies();
            if bodies.len() >= n || start.elapsed() > within {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// An address nothing listens on (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// An in-process daemon.
pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub tcp: SocketAddr,
    pub trail: PathBuf,
    pub queue: Arc<Queue>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl TestDaemon {
    /// Starts a daemon on temp dirs with the `[channels]` etc. of `config_toml` and a TCP
    /// listener on a free port.
    pub async fn start(config_toml: &str) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::parse(config_toml, Path::new("test.toml")).unwrap();
        let socket = dir.path().join("approvals.sock");
        let trail = dir.path().join("audit.jsonl");
        config.state_dir = Some(dir.path().join("state"));
        config.socket = Some(socket.clone());
        config.listen = Some("127.0.0.1:0".parse().unwrap());
        config.audit_trail = Some(trail.clone());
        let daemon = Daemon::start(Settings {
            config,
            retry: RetryPolicy::default(),
        })
        .await
        .unwrap();
        let tcp = daemon.bound.tcp_addr().unwrap();
        let queue = Arc::clone(&daemon.queue);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(daemon.bound.serve(daemon.app, stopped));
        TestDaemon {
            dir,
            socket,
            tcp,
            trail,
            queue,
            stop,
        }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/operator.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The audit events written so far (after a flush).
    pub fn audit(&self) -> Vec<Value> {
        self.queue.flush_audit(Duration::from_secs(5)).unwrap();
        read_trail(&self.trail)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The events of a trail file.
pub fn read_trail(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `decision` words of the events about approval `id`, in order.
pub fn steps(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["resource"] == format!("approval:{id}"))
        .map(|e| e["decision"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Polls `f` until it is true (at most `within`).
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// A request for `channels`, `timeout_ms`, defaulting to `default_action`.
pub fn request(channels: &[&str], timeout_ms: u64, default_action: Enforcement) -> ApprovalRequest {
    ApprovalRequest {
        container_id: "agent-7".into(),
        policy: "payments".into(),
        policy_digest: "sha256:abc".into(),
        origin: ApprovalOrigin::Egress,
        action: "payment.process".into(),
        resource: Some("invoice/42".into()),
        destination: Some("api.stripe.com".into()),
        amount: Some(1250.0),
        currency: Some("EUR".into()),
        reason: "payments over 1000 EUR need a human".into(),
        rules: vec!["escalate-large-payments".into()],
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        timeout_ms,
        default_action,
    }
}

/// One HTTP/1 call over TCP with extra headers; the status and body.
pub async fn tcp_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "test");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The path and query of a URL (`http://host/p?q` → `/p?q`).
pub fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/')
        .map(|i| rest[i..].to_owned())
        .unwrap_or_default()
}
