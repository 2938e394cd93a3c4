//! Test support: stand-in model servers (plain and TLS, with rcgen certificates), the router
//! started in-process on loopback, and an HTTP client that can pick its source address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use openshell_policy::node_config::NodeConfig;
use openshell_router::{Bound, PrivacyRouter, RouterConfig, RouterSettings};
use rcgen::{CertificateParams, KeyPair, PublicKeyData};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};

/// A request a stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A certificate and its key, for a TLS stand-in.
pub struct Identity {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    /// `sha256:<hex>` of the key's SubjectPublicKeyInfo, computed from rcgen's key.
    pub pin: String,
    /// PEM of the certificate (for a CA file).
    pub pem: String,
}

fn pin_of(spki: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Identity {
    /// A self-signed certificate for 127.0.0.1.
    pub fn self_signed() -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        Identity {
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            pin: pin_of(&key.subject_public_key_info()),
            pem: cert.pem(),
        }
    }

    /// A CA and a certificate for 127.0.0.1 it issued; returns (ca, leaf).
    pub fn ca_and_leaf() -> (Identity, Identity) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "openshell test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_identity = Identity {
            cert_der: ca.der().to_vec(),
            key_der: Vec::new(),
            pin: String::new(),
            pem: ca.pem(),
        };
        let leaf_identity = Identity {
            cert_der: leaf.der().to_vec(),
            key_der: leaf_key.serialize_der(),
            pin: pin_of(&leaf_key.subject_public_key_info()),
            pem: leaf.pem(),
        };
        (ca_identity, leaf_identity)
    }
}

/// How a stand-in answers.
#[derive(Clone)]
pub enum Answer {
    /// A JSON completion naming the stand-in and echoing the model it was asked for.
    Json,
    /// Server-sent events: each chunk is sent once the gate gives a permit.
    Stream {
        chunks: Vec<String>,
        gate: Arc<Semaphore>,
    },
    /// Repeats the last message's content, as a model quoting its prompt would: a JSON
    /// completion, or with `stream: true` events of [`ECHO_PIECE`] bytes each, every event
    /// sent in two frames.
    Echo,
    /// A JSON error with this status.
    Status(u16),
    /// A JSON completion after this delay.
    Slow(Duration),
}

/// The size of the content pieces an echoing stand-in streams.
pub const ECHO_PIECE: usize = 3;

/// A stand-in model server on loopback.
pub struct StandIn {
    pub name: String,
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted (for TLS: handshakes started).
    pub connections: Arc<Mutex<usize>>,
    /// The listener and open connections still running.
    alive: Arc<std::sync::atomic::AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl StandIn {
    /// A plain-HTTP stand-in.
    pub async fn plain(name: &str, answer: Answer) -> StandIn {
        StandIn::start(name, answer, None).await
    }

    /// A TLS stand-in presenting `identity`.
    pub async fn tls(name: &str, answer: Answer, identity: &Identity) -> StandIn {
        StandIn::start(name, answer, Some(identity)).await
    }

    async fn start(name: &str, answer: Answer, identity: Option<&Identity>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0usize));
        let (stop, mut stopped) = watch::channel(false);
        let acceptor = identity.map(|id| {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![id.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(id.key_der.clone().into()),
            )
            .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let state = (name.to_owned(), answer, Arc::clone(&received));
        let counter = Arc::clone(&connections);
        let alive = Arc::new(std::sync::atomic::AtomicUsize::new(1));
        let listening = Alive(Arc::clone(&alive));
        tokio::spawn(async move {
            let _listening = listening;
            loop {
                let stream = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    _ = stopped.wait_for(|s| *s) => return,
                };
                *counter.lock().unwrap() += 1;
                let state = state.clone();
                let acceptor = acceptor.clone();
                let mut stopped = stopped.clone();
                _listening
                    .0
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let connection_alive = Alive(Arc::clone(&_listening.0));
                tokio::spawn(async move {
                    let _connection_alive = connection_alive;
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, hyper::Error>(answer_request(&state, request).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    // Stopping drops kept-alive connections too: the endpoint is gone.
                    let serve = async {
                        match acceptor {
                            Some(acceptor) => {
                                if let Ok(tls) = acceptor.accept(stream).await {
                                    let _ =
                                        builder.serve_connection(TokioIo::new(tls), service).await;
                                }
                            }
                            None => {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    };
                    tokio::select! {
                        _ = serve => {}
                        _ = stopped.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        StandIn {
            name: name.to_owned(),
            addr,
            received,
            connections,
            alive,
            stop,
        }
    }

    /// The base URL (`http://127.0.0.1:PORT/v1` or https).
    pub fn url(&self, https: bool) -> String {
        format!(
            "{}://{}/v1",
            if https { "https" } else { "http" },
            self.addr
        )
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many requests it received.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Stops: the listener closes and open connections (kept-alive ones included) are
    /// dropped, as when an endpoint dies. Returns once all of them are gone.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let gone = eventually(Duration::from_secs(5), || {
            self.alive.load(std::sync::atomic::Ordering::SeqCst) == 0
        })
        .await;
        assert!(gone, "stand-in {} did not stop", self.name);
    }
}

type StandInState = (String, Answer, Arc<Mutex<Vec<Received>>>);

/// Counts a running task of a stand-in until dropped.
struct Alive(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The exact body a JSON stand-in answers.
pub fn json_answer(name: &str, model: &Value) -> Value {
    json!({
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": model,
        "served_by": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]
    })
}

async fn answer_request(
    state: &StandInState,
    request: Request<Incoming>,
) -> Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>> {
    let (name, answer, received) = state;
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    received.lock().unwrap().push(Received {
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    match answer {
        Answer::Echo => echo(name, &body),
        Answer::Status(status) => Response::builder()
            .status(*status)
            .header("content-type", "application/json")
            .body(
                Full::new(Bytes::from(
                    json!({"error": {"message": "stand-in failure", "served_by": name}})
                        .to_string(),
                ))
                .map_err(|e| match e {})
                .boxed(),
            )
            .unwrap(),
        Answer::Slow(delay) => {
            tokio::time::sleep(*delay).await;
            let text = serde_json::to_vec(&json_answer(name, &body["model"])).unwrap();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(text)).map_err(|e| match e {}).boxed())
                .unwrap()
        }
        Answer::Json => {
            let text = serde_json::to_vec(&json_answer(name, &body["model"])).unwrap();
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("x-request-id", "req-1")
                .header("set-cookie", "session=secret")
                .body(Full::new(Bytes::from(text)).map_err(|e| match e {}).boxed())
                .unwrap()
        }
        Answer::Stream { chunks, gate } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(1);
            let chunks = chunks.clone();
            let gate = Arc::clone(gate);
            tokio::spawn(async move {
                for chunk in chunks {
                    gate.acquire().await.unwrap().forget();
                    if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                        return;
                    }
                }
            });
            let stream = http_body_util::StreamBody::new(ReceiverStream(rx));
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(stream))
                .unwrap()
        }
    }
}

/// [`Answer::Echo`].
fn echo(
    name: &str,
    body: &Value,
) -> Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>> {
    let content = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    if body["stream"] != true {
        let answer = json!({
            "id": "cmpl-echo", "object": "chat.completion", "model": body["model"],
            "served_by": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}]
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(
                Full::new(Bytes::from(answer.to_string()))
                    .map_err(|e| match e {})
                    .boxed(),
            )
            .unwrap();
    }
    let mut frames = Vec::new();
    let mut event = |delta: Value, finish: Value| {
        let chunk = json!({"id": "cmpl-echo", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        let text = format!("data: {chunk}\n\n");
        let (a, b) = text.split_at(text.len() / 2);
        frames.push(Bytes::from(a.to_owned()));
        frames.push(Bytes::from(b.to_owned()));
    };
    let mut rest = content.as_str();
    while !rest.is_empty() {
        let mut cut = ECHO_PIECE.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        event(json!({"content": &rest[..cut]}), Value::Null);
        rest = &rest[cut..];
    }
    event(json!({}), json!("stop"));
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(1);
    tokio::spawn(async move {
        for frame in frames {
            if tx.send(Ok(Frame::data(frame))).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(
            ReceiverStream(rx),
        )))
        .unwrap()
}

/// An mpsc receiver as a stream of frames.
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// The router, running in-process on loopback.
pub struct Router {
    pub dir: tempfile::TempDir,
    pub core: Arc<PrivacyRouter>,
    pub front: SocketAddr,
    pub admin_socket: PathBuf,
    pub trail: PathBuf,
    stop: watch::Sender<bool>,
}

impl Router {
    /// Starts the router with `config` (its registry directory is set to a temporary one) and
    /// environment `env` for credentials.
    pub async fn start(mut config: RouterConfig, env: &[(&str, &str)]) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry");
        std::fs::create_dir_all(&registry).unwrap();
        config.registry_dir = Some(registry.clone());
        let mut node = NodeConfig {
            registry_dir: registry,
            ..NodeConfig::default()
        };
        node.audit.spool_dir = dir.path().join("spool");
        let trail = dir.path().join("trail.jsonl");
        node.audit.trail = Some(trail.clone());
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let config_path = dir.path().join("router.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let core = PrivacyRouter::new(RouterSettings {
            config,
            config_path: Some(config_path),
            node,
            env: Arc::new(move |name| env.get(name).cloned()),
        })
        .unwrap();
        let admin_socket = dir.path().join("router.sock");
        let bound = Bound::bind(&admin_socket, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let front = bound.front_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(bound.serve(Arc::clone(&core), stopped));
        Router {
            dir,
            core,
            front,
            admin_socket,
            trail,
            stop,
        }
    }

    /// The configuration file the router reloads from.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("router.toml")
    }

    /// Writes a registration record for container `id` sending from `source` (None: no sandbox
    /// address) in `region`, whose compiled policy holds `policy` (YAML documents) and a
    /// SandboxPolicy auditing to [`Router::audit_file`].
    pub fn register(&self, id: &str, source: Option<&str>, region: Option<&str>, policy: &str) {
        let record = json!({
            "container_id": id,
            "bundle": "/tmp/bundle",
            "policy": compiled_policy(id, &self.audit_file(id), policy),
            "region": region,
            "sandbox": {"sandbox_ip": source},
            "registered_at": "2026-11-24T10:00:00Z",
        });
        let registry = self.dir.path().join("registry");
        let tmp = registry.join(format!(".{id}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
        std::fs::rename(&tmp, registry.join(format!("{id}.json"))).unwrap();
    }

    /// Removes container `id`'s registration record.
    pub fn unregister(&self, id: &str) {
        std::fs::remove_file(self.dir.path().join(format!("registry/{id}.json"))).unwrap();
    }

    /// The audit file of container `id`'s policy.
    pub fn audit_file(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("audit-{id}.jsonl"))
    }

    /// The audit events written to container `id`'s policy destination (flushed first).
    pub fn audit_events(&self, id: &str) -> Vec<Value> {
        self.core.flush_audit(Duration::from_secs(5)).unwrap();
        read_lines(&self.audit_file(id))
    }

    /// The audit events of the node trail (flushed first).
    pub fn trail_events(&self) -> Vec<Value> {
        self.core.flush_audit(Duration::from_secs(5)).unwrap();
        read_lines(&self.trail)
    }

    /// A client sending from `source` (127.0.0.x).
    pub fn client(&self, source: &str) -> Client {
        Client {
            source: source.parse().unwrap(),
            target: self.front,
        }
    }

    /// A request on the admin socket.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, String) {
        let stream = tokio::net::UnixStream::connect(&self.admin_socket)
            .await
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(format!("http://router{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A number from `GET /v1/cache`.
    pub async fn cache_figure(&self, name: &str) -> u64 {
        let (_, text) = self.admin("GET", "/v1/cache", None).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        v[name].as_u64().unwrap()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // Queued audit events are written before the directory goes: a writer that ran after
        // it would create it again, and leave it in /tmp.
        let _ = self.core.flush_audit(Duration::from_secs(5));
    }
}

/// JSON lines of a file (empty if it does not exist).
pub fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A client of the front with a chosen source address.
#[derive(Clone, Copy)]
pub struct Client {
    pub source: IpAddr,
    pub target: SocketAddr,
}

/// A response read whole.
pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answered {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The endpoint that answered (`x-openshell-endpoint`).
    pub fn endpoint(&self) -> Option<&str> {
        self.headers
            .get("x-openshell-endpoint")
            .and_then(|v| v.to_str().ok())
    }

    /// The OpenAI error code of a refusal.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl Client {
    /// A TCP connection from the source address.
    pub async fn connect(&self) -> tokio::net::TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(self.source, 0)).unwrap();
        socket.connect(self.target).await.unwrap()
    }

    /// Sends a request and returns the response head with its streaming body.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Response<Incoming> {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.connect().await))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    }

    /// POSTs `body` to `path` with extra headers and reads the whole answer.
    pub async fn post_with(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Answered {
        let mut request = Request::post(format!("http://{}{path}", self.target))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .send(
                request
                    .body(Full::new(Bytes::copy_from_slice(body)))
                    .unwrap(),
            )
            .await;
        read(response).await
    }

    /// POSTs a chat completion whose one user message is `text`.
    pub async fn chat(&self, text: &str) -> Answered {
        let body = json!({"model": "agent-model", "messages": [{"role": "user", "content": text}]});
        self.post_with("/v1/chat/completions", body.to_string().as_bytes(), &[])
            .await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answered {
        let mut request = Request::get(format!("http://{}{path}", self.target));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(
            self.send(request.body(Full::new(Bytes::new())).unwrap())
                .await,
        )
        .await
    }
}

/// Reads a response whole.
pub async fn read(response: Response<Incoming>) -> Answered {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answered {
        status,
        headers,
        body,
    }
}

/// A port on loopback where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Content at each level, as the shared classifier sees it.
pub const PUBLIC: &str = "What is the capital of France?";
pub const INTERNAL: &str = "Please check the invoice before the quarterly close.";
pub const CONFIDENTIAL: &str = "Draft a reply to jane.doe@example.com about her order.";
pub const RESTRICTED: &str = "Refund card 4111 1111 1111 1111 for the customer.";

/// Waits up to `limit` for `check` to hold.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The compiled policy record of container `id`: `policy` (YAML documents) with a SandboxPolicy
/// auditing to `audit_file`, compiled as `create` compiles it.
pub fn compiled_policy(id: &str, audit_file: &Path, policy: &str) -> Value {
    let yaml = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {{name: {id}-policy}}\n\
         spec:\n  auditLog: {{enabled: true, destination: \"file://{}\"}}\n---\n{policy}",
        audit_file.display()
    );
    let record = openshell_policy::compile_default(&format!("{id}-policy.yaml"), &yaml).unwrap();
    serde_json::to_value(record).unwrap()
}
