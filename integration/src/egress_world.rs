//! A world for the egress engine's tests, all in namespaces the test creates:
//!
//! ```text
//!  container netns ──veth──  node netns (engine, runtime, hooks) ──veth── internet netns
//!  eth0 10.200.0.N/32        osh… 10.200.0.1/32   up0 192.0.2.1/30   192.0.2.2/30 down0
//!                                                                    203.0.113.10 api.hubspot.com
//!                                                                    203.0.113.11 crm.example.test
//!                                                                    203.0.113.12 evil.example.test
//!                                                                    203.0.113.13 tickets.example.test
//!                                                                    203.0.113.20 (no name)
//!                                                                    203.0.113.30 cloud model API
//!                                                                    10.77.0.5    internal.example.test
//! ```
//!
//! The internet answers HTTP on port 80 and HTTPS on 443 (a certificate for every name from a
//! test CA the engine trusts), answers OpenAI chat completions over HTTPS on 203.0.113.30 (a
//! stand-in cloud model API for the node's privacy router, its certificate naming that
//! address), echoes TCP on 203.0.113.20:7 (one line) and on every address's port 7007 (all
//! it reads, until the client's end, then its own) and records UDP datagrams on
//! 203.0.113.20:9999. Names resolve through the engine's resolver configuration only;
//! `webhook.salesforce.com` is the internet's side of the link, for ingress from it to the
//! engine's ingress listener on the node's side (192.0.2.1:8443).

use std::collections::HashSet;
use std::convert::Infallible;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use openshell_egress::client::{EgressClient, block_on};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::{TcpListener, UdpSocket};

use crate::bundle::Bundle;
use crate::netns::TestNetns;
use crate::runtime::Runtime;

/// The names the test internet answers for, and their addresses.
pub const HOSTS: [(&str, &str); 5] = [
    ("api.hubspot.com", "203.0.113.10"),
    ("crm.example.test", "203.0.113.11"),
    ("evil.example.test", "203.0.113.12"),
    ("tickets.example.test", "203.0.113.13"),
    ("internal.example.test", "10.77.0.5"),
];
/// An internet address no name resolves to (for raw-IP attempts).
pub const NAMELESS: &str = "203.0.113.20";
/// The port on which every internet address echoes all it reads, then ends its side.
pub const STREAM_ECHO_PORT: u16 = 7007;
/// A stand-in cloud model API: `https://CLOUD_MODEL/v1/chat/completions` answers every request
/// with one chat completion (the certificate, from the test CA, names this address).
pub const CLOUD_MODEL: &str = "203.0.113.30";
/// What the stand-in cloud model answers.
pub const CLOUD_MODEL_ANSWER: &str = "answer from the stand-in cloud model";
/// The node's address on its link to the internet (the ingress listener is here).
pub const NODE_SIDE: &str = "192.0.2.1";
/// The internet's address on that link (webhook.salesforce.com resolves to it).
pub const INTERNET_SIDE: &str = "192.0.2.2";
/// The ingress listener's port.
pub const INGRESS_PORT: u16 = 8443;
/// Every sandbox's gateway with the default engine configuration.
pub const GATEWAY: &str = "10.200.0.1";

/// A request the test internet received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The `Host` header.
    pub host: String,
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The body.
    pub body: String,
}

/// What the test internet recorded.
#[derive(Clone, Default)]
pub struct Recorded {
    requests: Arc<Mutex<Vec<Seen>>>,
    datagrams: Arc<Mutex<Vec<String>>>,
}

impl Recorded {
    /// Requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.requests.lock().unwrap().clone()
    }

    /// UDP datagrams received so far.
    pub fn datagrams(&self) -> Vec<String> {
        self.datagrams.lock().unwrap().clone()
    }
}

struct TestCa {
    cert_pem: String,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn test_ca() -> TestCa {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "test internet CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let names: Vec<String> = HOSTS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .chain([CLOUD_MODEL.to_owned()])
        .collect();
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(names)
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    TestCa {
        cert_pem: ca_cert.pem(),
        server_chain: vec![server.der().clone(), ca_cert.der().clone()],
        server_key: server_key.serialize_der(),
    }
}

async fn answer(
    request: Request<Incoming>,
    tls: bool,
    recorded: Recorded,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    recorded.requests.lock().unwrap().push(Seen {
        host: host.clone(),
        method: method.clone(),
        path: path.clone(),
        tls,
        body: body.clone(),
    });
    let text = if host == CLOUD_MODEL && path.ends_with("/chat/completions") {
        json!({"id": "cloud-1", "object": "chat.completion", "model": "cloud-stand-in",
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": CLOUD_MODEL_ANSWER}}]})
    } else {
        json!({"server": "test-internet", "host": host, "method": method, "path": path,
               "tls": tls, "body_len": body.len()})
    };
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn serve_http<S>(io: S, tls: bool, recorded: Recorded)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| answer(request, tls, recorded.clone()));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The test internet's TLS server configuration: one certificate from the test CA for every
/// name in [`HOSTS`] and [`CLOUD_MODEL`].
fn internet_tls(ca: &TestCa) -> Arc<rustls::ServerConfig> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ca.server_key.clone().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(ca.server_chain.clone(), key)
    .expect("server config");
    Arc::new(config)
}

async fn serve_internet(
    tls: Arc<rustls::ServerConfig>,
    recorded: Recorded,
    ready: std::sync::mpsc::Sender<()>,
) {
    let http = TcpListener::bind("0.0.0.0:80").await.expect("bind :80");
    let https = TcpListener::bind("0.0.0.0:443").await.expect("bind :443");
    let echo = TcpListener::bind((NAMELESS, 7)).await.expect("bind echo");
    let stream_echo = TcpListener::bind(("0.0.0.0", STREAM_ECHO_PORT))
        .await
        .expect("bind stream echo");
    let sink = UdpSocket::bind((NAMELESS, 9999))
        .await
        .expect("bind udp sink");
    let _ = ready.send(());
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let recorded_udp = recorded.clone();
    tokio::spawn(async move {
        let mut buffer = [0u8; 2048];
        while let Ok((n, _)) = sink.recv_from(&mut buffer).await {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            recorded_udp.datagrams.lock().unwrap().push(text);
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = echo.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut line = [0u8; 256];
                if let Ok(n) = stream.read(&mut line).await {
                    let _ = stream.write_all(b"echo: ").await;
                    let _ = stream.write_all(&line[..n]).await;
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = stream_echo.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer).await;
                }
            });
        }
    });
    let recorded_https = recorded.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = https.accept().await {
            let acceptor = acceptor.clone();
            let recorded = recorded_https.clone();
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    serve_http(stream, true, recorded).await;
                }
            });
        }
    });
    while let Ok((stream, _)) = http.accept().await {
        tokio::spawn(serve_http(stream, false, recorded.clone()));
    }
}

/// What a test changes in the world's configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorldOptions<'a> {
    /// Where the node's audit trail goes (e.g. a tmpfs, where the audit library's per-batch
    /// fdatasync costs nothing); `None`: [`EgressWorld::dir`].
    pub trail_dir: Option<&'a Path>,
    /// More `[limits]` keys for the engine (`"dns_burst = 5\n"`).
    pub engine_limits: &'a str,
    /// More `[audit]` keys for the node (`"spool_max_bytes = 8192\n"`).
    pub node_audit: &'a str,
}

/// The engine process, the namespaces and the test internet.
pub struct EgressWorld {
    dir: TempDir,
    /// The node's namespace (engine, runtime and hooks run here).
    pub node: TestNetns,
    /// The internet's namespace.
    pub internet: TestNetns,
    /// What the internet received.
    pub recorded: Recorded,
    /// The TLS server configuration the test internet serves HTTPS with (its certificate is
    /// from the CA the engine's `[upstream] ca_file` trusts), for benchmark servers of its own.
    pub internet_tls: Arc<rustls::ServerConfig>,
    engine: Option<Child>,
    trail: PathBuf,
    /// Serves the internet; its worker threads live in the internet's namespace.
    _internet_runtime: tokio::runtime::Runtime,
}

impl EgressWorld {
    /// Builds the namespaces, the internet and the configuration, and starts the engine; its
    /// decisions are audited to the node's trail (`audit.jsonl` in [`EgressWorld::dir`]).
    pub fn new() -> EgressWorld {
        EgressWorld::with_options(WorldOptions::default())
    }

    /// The same world with `options` applied.
    pub fn with_options(options: WorldOptions<'_>) -> EgressWorld {
        let WorldOptions {
            trail_dir,
            engine_limits,
            node_audit,
        } = options;
        crate::require_root();
        let dir = tempfile::Builder::new()
            .prefix("openshell-egress-world-")
            .tempdir()
            .expect("world dir");
        let node = TestNetns::create("osh-node");
        let internet = TestNetns::create("osh-inet");
        node.ip(&[
            "link",
            "add",
            "up0",
            "type",
            "veth",
            "peer",
            "name",
            "down0",
            "netns",
            internet.name(),
        ]);
        node.ip(&["addr", "add", &format!("{NODE_SIDE}/30"), "dev", "up0"]);
        node.ip(&["link", "set", "up0", "up"]);
        internet.ip(&[
            "addr",
            "add",
            &format!("{INTERNET_SIDE}/30"),
            "dev",
            "down0",
        ]);
        internet.ip(&["link", "set", "down0", "up"]);
        for net in ["203.0.113.0/24", "10.77.0.0/16"] {
            node.ip(&["route", "add", net, "via", INTERNET_SIDE]);
        }
        for (_, address) in HOSTS {
            internet.ip(&["addr", "add", &format!("{address}/32"), "dev", "lo"]);
        }
        for address in [NAMELESS, CLOUD_MODEL] {
            internet.ip(&["addr", "add", &format!("{address}/32"), "dev", "lo"]);
        }

        let ca = test_ca();
        fs::write(dir.path().join("test-ca.pem"), &ca.cert_pem).expect("write test CA");
        let recorded = Recorded::default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start({
                let path = internet.path().to_owned();
                move || {
                    let file = fs::File::open(&path).expect("open internet netns");
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("enter internet netns");
                }
            })
            .build()
            .expect("internet runtime");
        let (ready, bound) = std::sync::mpsc::channel();
        let tls = internet_tls(&ca);
        runtime.spawn(serve_internet(Arc::clone(&tls), recorded.clone(), ready));
        bound
            .recv_timeout(Duration::from_secs(10))
            .expect("the test internet did not start");

        let hosts: String = HOSTS
            .iter()
            .map(|(name, address)| format!("\"{name}\" = [\"{address}\"]\n"))
            .collect();
        let d = dir.path().display();
        fs::write(
            dir.path().join("egress.toml"),
            format!(
                "state_file = \"{d}/state.json\"\n\
                 [resolver]\nsystem = false\n[resolver.hosts]\n{hosts}\
                 \"loopback.example.test\" = [\"127.0.0.1\"]\n\
                 \"webhook.salesforce.com\" = [\"{INTERNET_SIDE}\"]\n\
                 [upstream]\nca_file = \"{d}/test-ca.pem\"\n\
                 [ingress]\nlisten = \"{NODE_SIDE}:{INGRESS_PORT}\"\nsandbox_port = 8080\n\
                 [limits]\nheader_timeout_ms = 2000\nmax_connections_per_sandbox = 64\n{engine_limits}"
            ),
        )
        .expect("write engine config");
        let trail = trail_dir.unwrap_or(dir.path()).join("audit.jsonl");
        fs::write(
            dir.path().join("node.toml"),
            format!(
                "registry_dir = \"{d}/registry\"\n\
                 [services]\negress = \"{d}/egress.sock\"\napprovals = \"{d}/approvals.sock\"\n\
                 [hooks]\ntimeout_ms = 5000\n\
                 [egress]\nca_cert = \"{d}/egress-ca.pem\"\nca_key = \"{d}/egress-ca.key\"\n\
                 [policy]\nworkload_audit_destinations = [\"file://{0}\"]\n\
                 [audit]\nspool_dir = \"{d}/spool\"\ntrail = \"{0}\"\n{node_audit}",
                trail.display()
            ),
        )
        .expect("write node config");
        let mut world = EgressWorld {
            dir,
            node,
            internet,
            recorded,
            internet_tls: tls,
            engine: None,
            trail,
            _internet_runtime: runtime,
        };
        world.start_engine();
        world
    }

    /// The world's directory (configs, CA, state, audit trail, sockets).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the node's approval queue (`openshell-approvals`) on the socket the node
    /// configuration names (`approvals.sock` in [`EgressWorld::dir`]), notifying the Slack
    /// incoming webhook at `slack_webhook` and auditing to the node's trail; waits until its
    /// socket exists. The caller kills it.
    pub fn start_approvals(&self, slack_webhook: &str) -> Child {
        let dir = self.dir();
        let config = dir.join("approvals.toml");
        fs::write(
            &config,
            format!(
                "socket = \"{0}/approvals.sock\"\nstate_dir = \"{0}/approvals\"\n\
                 public_url = \"http://127.0.0.1:9447\"\n[channels.slack]\nwebhook_url = \"{1}\"\n",
                dir.display(),
                slack_webhook
            ),
        )
        .expect("write the approval queue's configuration");
        let child = Command::new(crate::binaries::path("openshell-approvals"))
            .arg("--config")
            .arg(&config)
            .arg("--audit-trail")
            .arg(self.trail())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start openshell-approvals");
        let socket = dir.join("approvals.sock");
        assert!(
            crate::wait_for(Duration::from_secs(10), || socket.exists()),
            "the approval queue did not start"
        );
        child
    }

    /// The node configuration (`OPENSHELL_CONFIG`).
    pub fn node_config(&self) -> PathBuf {
        self.dir.path().join("node.toml")
    }

    /// Appends `toml` (tables such as `[siem]`) to the node configuration.
    pub fn extend_node_config(&self, toml: &str) {
        let mut config = fs::read_to_string(self.node_config()).expect("read node config");
        config.push_str(toml);
        fs::write(self.node_config(), config).expect("write node config");
    }

    /// The engine's admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("egress.sock")
    }

    /// The interception CA certificate the engine publishes.
    pub fn egress_ca(&self) -> PathBuf {
        self.dir.path().join("egress-ca.pem")
    }

    /// A client of the admin API.
    pub fn client(&self) -> EgressClient {
        EgressClient::new(self.admin_socket(), Duration::from_secs(5))
    }

    /// Starts the engine (again) and waits until it is healthy.
    pub fn start_engine(&mut self) {
        assert!(self.engine.is_none(), "the engine is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("engine.log"))
            .expect("engine log");
        let mut command = self.node.command(crate::binaries::path("openshell-egress"));
        // Started with a soft limit of 1,024 open descriptors, what a shell or systemd gives a
        // process that asks for no more, which the engine raises itself.
        // SAFETY: the closure only makes two system calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                use nix::sys::resource::{Resource, getrlimit, setrlimit};
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                setrlimit(Resource::RLIMIT_NOFILE, hard.min(1024), hard)?;
                Ok(())
            });
        }
        let child = command
            .arg("--admin-socket")
            .arg(self.admin_socket())
            .arg("--config")
            .arg(self.dir.path().join("egress.toml"))
            .env("OPENSHELL_CONFIG", self.node_config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start openshell-egress");
        self.engine = Some(child);
        let client = self.client();
        let healthy = crate::wait_for(Duration::from_secs(20), || {
            block_on(client.healthy()).is_ok_and(|r| r.is_ok())
        });
        assert!(
            healthy,
            "the engine did not become healthy: {}",
            self.engine_log()
        );
    }

    /// The engine's process id, while it runs.
    pub fn engine_pid(&self) -> Option<u32> {
        Some(self.engine.as_ref()?.id())
    }

    /// The engine's resident memory in KiB (`VmRSS`), while it runs.
    pub fn engine_rss_kib(&self) -> Option<u64> {
        let pid = self.engine_pid()?;
        crate::proc_kib(format!("/proc/{pid}/status"), "VmRSS")
    }

    /// Kills the engine (SIGKILL: no chance to clean up).
    pub fn kill_engine(&mut self) {
        if let Some(mut child) = self.engine.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the engine logged.
    pub fn engine_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    /// A runtime in the node's namespace with the world's node configuration: containers with
    /// a restricted policy are wired by `openshell-hook`'s network step to this world's engine.
    pub fn runtime(&self) -> Runtime {
        Runtime::in_netns(self.node.path()).with_node_config(&self.node_config())
    }

    /// The node's audit trail.
    pub fn trail(&self) -> &Path {
        &self.trail
    }

    /// The audit events in the node's trail once `complete` holds for them. The trail is
    /// written asynchronously, so this waits up to ten seconds; after that it returns what is
    /// there, for the caller's assertions to show.
    pub fn audit_events_until(&self, complete: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let read = || -> Vec<Value> {
            fs::read_to_string(&self.trail)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        };
        let mut events = Vec::new();
        crate::wait_for(Duration::from_secs(10), || {
            events = read();
            complete(&events)
        });
        events
    }

    /// Writes a policy file and returns its path; `@TRAIL@` in `yaml` becomes the node's trail
    /// (for `auditLog.destination: file://@TRAIL@`).
    pub fn policy(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        let yaml = yaml.replace("@TRAIL@", &self.trail.display().to_string());
        fs::write(&path, yaml).expect("write policy");
        path
    }

    /// A busybox bundle running `sleep 600` with `policy` attached (the bundle's
    /// `openshell-policy.yaml`): the runtime hardens it — proxy variables, the engine's resolver
    /// as `/etc/resolv.conf`, the interception CA as a trusted certificate — and injects
    /// `openshell-hook`, whose network step wires it at `createRuntime` and unwires it at
    /// `poststop`. The probe is copied in with the libraries it needs.
    pub fn sandbox_bundle(&self, policy: &Path) -> Bundle {
        let bundle = Bundle::new(&["sleep", "600"]);
        fs::copy(policy, bundle.path().join("openshell-policy.yaml")).expect("attach policy");
        install_probe(&bundle.rootfs());
        bundle
    }

    /// Host-side interfaces in the node namespace whose name starts with `osh`.
    pub fn sandbox_interfaces(&self) -> Vec<String> {
        let output = self
            .node
            .command("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("ip link");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.split(": ").nth(1))
            .map(|name| name.split('@').next().unwrap_or(name).to_owned())
            .filter(|name| name.starts_with("osh"))
            .collect()
    }

    /// Routes in the node namespace's main table.
    pub fn node_routes(&self) -> String {
        let output = self
            .node
            .command("ip")
            .args(["route", "show"])
            .output()
            .expect("ip route");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `nft list tables` in the node namespace.
    pub fn node_tables(&self) -> String {
        let output = self
            .node
            .command("nft")
            .args(["list", "tables"])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Opens a TCP connection from inside the network namespace at `netns` (a container's
    /// `/proc/PID/ns/net`), as a process in the sandbox would.
    pub fn connect_from(netns: &Path, address: SocketAddr) -> std::io::Result<std::net::TcpStream> {
        let netns = openshell_egress::sandbox_net::NetNs::open(netns)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    netns
                        .within(|| {
                            std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3))
                        })
                        .map_err(|e| std::io::Error::other(e.to_string()))?
                })
                .join()
                .expect("connect thread")
        })
    }
}

impl Default for EgressWorld {
    fn default() -> Self {
        EgressWorld::new()
    }
}

impl Drop for EgressWorld {
    fn drop(&mut self) {
        self.kill_engine();
    }
}

/// Copies `egress-probe` and the shared libraries it links into `rootfs`.
pub fn install_probe(rootfs: &Path) {
    let probe = crate::binaries::path("egress-probe");
    fs::copy(&probe, rootfs.join("bin/egress-probe")).expect("copy probe");
    let output = Command::new("ldd").arg(&probe).output().expect("ldd");
    let mut copied = HashSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|word| word.starts_with('/'))
            .map(PathBuf::from);
        let Some(path) = path else { continue };
        if !copied.insert(path.clone()) {
            continue;
        }
        let target = rootfs.join(path.strip_prefix("/").expect("absolute"));
        fs::create_dir_all(target.parent().expect("parent")).expect("lib dir");
        fs::copy(&path, &target).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
    }
}
