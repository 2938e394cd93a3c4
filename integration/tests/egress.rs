//! The egress engine with real restricted containers: busybox bundles run by the built
//! `openshell`, wired at `createRuntime` by the network step, their traffic decided by the
//! `openshell-egress` process in a node namespace, the internet in another namespace.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use openshell_egress::client::block_on;
use openshell_egress::sandbox::EgressPolicy;
use openshell_egress::sandbox_net::{setup_sandbox, teardown_sandbox};
use openshell_integration::egress_world::{
    EgressWorld, GATEWAY, INGRESS_PORT, NAMELESS, NODE_SIDE, STREAM_ECHO_PORT, WorldOptions,
};
use openshell_integration::leftovers::assert_clean;
use openshell_integration::netns::TestNetns;
use openshell_integration::node_router::NodeRouter;
use openshell_integration::operator;
use openshell_integration::runtime::Runtime;
use openshell_integration::siem::SiemStandIn;
use openshell_integration::{unique_id, wait_for};
use serde_json::Value;

const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: egress-test
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [crm.read, crm.update]
    deniedAPIs: [admin.*]
  auditLog:
    destination: file://@TRAIL@
---
apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: egress-test
spec:
  egress:
    allow:
      - domain: api.hubspot.com
        methods: [GET]
      - domain: \"*.example.test\"
    deny:
      - domain: evil.example.test
      - domain: \"*\"
  inspection:
    tlsDecrypt: true
    logPayloads: false
    scanForPII: true
---
apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: test-apis
spec:
  apis:
    crm.read:
      - methods: [GET]
        host: crm.example.test
        path: /api/v1/customers/**
    crm.update:
      - methods: [PATCH]
        host: crm.example.test
        path: /api/v1/customers/*
    admin.users.list:
      - methods: [GET]
        host: crm.example.test
        path: /admin/users
";

/// A policy allowing only `domain`, with GET only, no interception.
fn narrow_policy(name: &str, domain: &str) -> String {
    format!(
        "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: {name}
spec:
  isolation:
    network: restricted
  auditLog:
    destination: file://@TRAIL@
---
apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  egress:
    allow:
      - domain: {domain}
  inspection:
    scanForPII: false
"
    )
}

/// Runs a command in the container; returns its exit code and stdout.
fn exec(rt: &Runtime, id: &str, args: &[&str]) -> (i32, String) {
    let mut full = vec!["exec", id];
    full.extend_from_slice(args);
    let out = rt.output(&full);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `egress-probe get …` in the container: (status, body JSON) or the error text.
fn get(rt: &Runtime, id: &str, args: &[&str]) -> Result<(u16, Value), String> {
    let mut full = vec!["egress-probe", "get"];
    full.extend_from_slice(args);
    let (code, out) = exec(rt, id, &full);
    let mut lines = out.lines();
    let first = lines.next().unwrap_or_default();
    match first.strip_prefix("status: ") {
        Some(status) if code == 0 => {
            let body: String = lines.collect::<Vec<_>>().join("\n");
            Ok((
                status.parse().unwrap(),
                serde_json::from_str(&body).unwrap_or(Value::String(body)),
            ))
        }
        _ => Err(out),
    }
}

/// The status a `get` ended with: the HTTP status, 403 for a refused CONNECT, 0 for no answer.
fn status_of(rt: &Runtime, id: &str, url: &str) -> u16 {
    match get(rt, id, &[url]) {
        Ok((status, _)) => status,
        Err(error) if error.contains("responded 403") => 403,
        Err(_) => 0,
    }
}

fn netns_of(rt: &Runtime, id: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/ns/net", rt.pid(id)))
}

fn events_for<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["container_id"] == id && e["component"] == "egress")
        .collect()
}

/// Whether the trail holds an egress event of sandbox `id` with this action and decision.
fn audited(events: &[Value], id: &str, action: &str, decision: &str) -> bool {
    events_for(events, id)
        .iter()
        .any(|e| e["action"] == action && e["decision"] == decision)
}

#[test]
fn a_restricted_container_reaches_exactly_what_its_policy_allows() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("policy", POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress");
    rt.start_detached(&id, bundle.path());

    // The hook's registration record carries the sandbox's addresses.
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(world.dir().join("registry").join(format!("{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["sandbox"]["egress"], format!("{GATEWAY}:3128"));
    assert_eq!(record["sandbox"]["host_ip"], GATEWAY);
    assert!(
        record["sandbox"]["sandbox_ip"]
            .as_str()
            .unwrap()
            .starts_with("10.200.0.")
    );

    // Allowed: GET through the explicit proxy, plain and intercepted TLS (the probe trusts
    // only the mounted engine CA; the engine verifies the internet with the test CA).
    let (status, body) = get(&rt, &id, &["http://api.hubspot.com/contacts"]).unwrap();
    assert_eq!(
        (status, body["host"].as_str()),
        (200, Some("api.hubspot.com")),
        "{body}"
    );
    assert_eq!(body["tls"], false);
    let (status, body) = get(&rt, &id, &["https://api.hubspot.com/contacts?limit=1"]).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tls"], true, "re-encrypted to the real server: {body}");
    assert_eq!(body["path"], "/contacts?limit=1");
    // busybox wget honours http_proxy too.
    let (code, out) = exec(
        &rt,
        &id,
        &["wget", "-q", "-O", "-", "http://api.hubspot.com/busybox"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"path\":\"/busybox\""), "{out}");

    // A method the rule does not allow.
    let (status, body) = get(
        &rt,
        &id,
        &["https://api.hubspot.com/contacts", "POST", "{}"],
    )
    .unwrap();
    assert_eq!(status, 403);
    assert_eq!(body["error"], "egress_denied");
    assert_eq!(body["rule"], "egress.allow[0] (api.hubspot.com)");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("method not allowed"),
        "{body}"
    );
    // A port it does not allow: the probe tunnels (CONNECT, refused with 403); a plain proxy
    // request shows the JSON body.
    let refused = get(&rt, &id, &["http://api.hubspot.com:8080/"]).unwrap_err();
    assert!(refused.contains("403"), "{refused}");
    let (status, body) = proxy_get(&netns_of(&rt, &id), "http://api.hubspot.com:8080/");
    assert_eq!(status, 403);
    assert_eq!(body["error"], "egress_denied");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("port not allowed"),
        "{body}"
    );
    // A domain carved out of the wildcard, as a CONNECT and as a plain proxy request.
    let netns = netns_of(&rt, &id);
    let refused = get(&rt, &id, &["https://evil.example.test/steal"]).unwrap_err();
    assert!(
        refused.contains("403"),
        "CONNECT refused with 403: {refused}"
    );
    let (status, body) = proxy_get(&netns, "http://evil.example.test/steal");
    assert_eq!(status, 403);
    assert_eq!(body["rule"], "egress.deny[0] (evil.example.test)");
    // A domain nothing allows.
    assert!(
        get(&rt, &id, &["http://example.com/"])
            .unwrap_err()
            .contains("403")
    );
    let (status, body) = proxy_get(&netns, "http://example.com/");
    assert_eq!((status, body["rule"].as_str()), (403, Some("default deny")));
    // Allowed names that resolve to internal addresses are refused.
    assert!(
        get(&rt, &id, &["https://internal.example.test/"])
            .unwrap_err()
            .contains("403")
    );
    let (status, body) = proxy_get(&netns, "http://internal.example.test/");
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("address_refused")),
        "{body}"
    );
    let (status, body) = proxy_get(&netns, "http://loopback.example.test/");
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("address_refused")),
        "{body}"
    );
    // An address instead of a name.
    assert!(
        get(&rt, &id, &[&format!("http://{NAMELESS}/")])
            .unwrap_err()
            .contains("403")
    );
    let (status, body) = proxy_get(&netns, &format!("http://{NAMELESS}/"));
    assert_eq!(status, 403, "{body}");

    // API permissions under interception: allowed API passes, admin.* gets the JSON 403.
    let (status, body) = get(&rt, &id, &["https://crm.example.test/api/v1/customers/42"]).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&rt, &id, &["https://crm.example.test/admin/users"]).unwrap();
    assert_eq!(status, 403);
    assert_eq!(body["error"], "api_denied");
    assert_eq!(body["api"], "admin.users.list");
    assert_eq!(body["rule"], "deniedAPIs: admin.*");

    // scanForPII: a card number in a body is blocked; a clean body passes.
    let card = r#"{"note":"refund card 4111 1111 1111 1111"}"#;
    let (status, body) = get(
        &rt,
        &id,
        &[
            "https://crm.example.test/api/v1/customers/42",
            "PATCH",
            card,
        ],
    )
    .unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("pii_blocked")),
        "{body}"
    );
    assert_eq!(body["rule"], "inspection.scanForPII");
    let (status, body) = get(
        &rt,
        &id,
        &[
            "https://crm.example.test/api/v1/customers/42",
            "PATCH",
            r#"{"tier":"gold"}"#,
        ],
    )
    .unwrap();
    assert_eq!(
        (status, body["method"].as_str()),
        (200, Some("PATCH")),
        "{body}"
    );

    // What reached the internet, and what did not.
    let seen = world.recorded.requests();
    assert!(
        seen.iter().all(|r| r.host != "evil.example.test"),
        "{seen:?}"
    );
    assert!(seen.iter().all(|r| !r.body.contains("4111")), "{seen:?}");
    assert!(seen.iter().all(|r| r.path != "/admin/users"), "{seen:?}");
    assert!(
        seen.iter()
            .any(|r| r.host == "crm.example.test" && r.body.contains("gold"))
    );

    // Every decision was audited, without the body.
    let expected = [
        ("egress.http", "allow"),
        ("egress.http", "deny"),
        ("egress.connect", "deny"),
        ("crm.read", "allow"),
        ("admin.users.list", "deny"),
    ];
    let events = world.audit_events_until(|events| {
        expected
            .iter()
            .all(|(action, decision)| audited(events, &id, action, decision))
    });
    let mine = events_for(&events, &id);
    for (action, decision) in expected {
        assert!(
            audited(&events, &id, action, decision),
            "{action} {decision} in {mine:#?}"
        );
    }
    assert!(mine.iter().all(|e| e["policy"] == "egress-test"));
    let metrics = block_on(world.client().metrics()).unwrap().unwrap();
    for line in [
        r#"openshell_egress_decisions_total{kind="https",decision="allow"}"#,
        r#"openshell_egress_decisions_total{kind="https",decision="deny"}"#,
        r#"openshell_egress_decisions_total{kind="connect",decision="deny"}"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // Every field but the generated ones (ids, timestamps, latencies: digits in which "4111"
    // can turn up by chance).
    let trail: String = std::fs::read_to_string(world.trail())
        .unwrap()
        .lines()
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
            for generated in ["id", "timestamp", "latency_us"] {
                event.as_object_mut().unwrap().remove(generated);
            }
            event.to_string()
        })
        .collect();
    assert!(!trail.contains("4111"), "no payload in the audit trail");
    assert!(
        !trail.contains("gold"),
        "logPayloads: false keeps bodies out"
    );

    rt.ok(&["delete", "--force", &id]);
    assert_clean(rt.root(), &id, bundle.path());
    assert!(
        !world
            .dir()
            .join("registry")
            .join(format!("{id}.json"))
            .exists()
    );
    assert!(world.sandbox_interfaces().is_empty(), "veth left behind");
    assert!(
        !world.node_routes().contains("10.200.0."),
        "{}",
        world.node_routes()
    );
    assert!(
        block_on(world.client().sandbox(&id)).unwrap().is_err(),
        "registration left"
    );
}

#[test]
fn dns_transparent_redirection_and_everything_else_is_contained() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("policy", POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-dns");
    rt.start_detached(&id, bundle.path());

    // Allowed names resolve (to synthetic addresses); denied ones are NXDOMAIN.
    let (code, out) = exec(&rt, &id, &["nslookup", "api.hubspot.com"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10.201."), "synthetic answer: {out}");
    let (code, out) = exec(&rt, &id, &["nslookup", "evil.example.test"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("NXDOMAIN"), "{out}");
    let (code, _) = exec(&rt, &id, &["nslookup", "example.com", "8.8.8.8"]);
    assert_ne!(code, 0, "another resolver is the same responder");

    // Without proxy variables, connections to resolved names are redirected and decided.
    let unproxied = |url: &str| {
        exec(
            &rt,
            &id,
            &[
                "env",
                "-u",
                "HTTP_PROXY",
                "-u",
                "http_proxy",
                "-u",
                "HTTPS_PROXY",
                "-u",
                "https_proxy",
                "egress-probe",
                "get",
                url,
            ],
        )
    };
    let (code, out) = unproxied("http://api.hubspot.com/transparent");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("status: 200") && out.contains("/transparent"),
        "{out}"
    );
    let (code, out) = unproxied("https://crm.example.test/api/v1/customers/7");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("status: 200") && out.contains("\"tls\":true"),
        "{out}"
    );
    let (code, out) = unproxied("https://crm.example.test/admin/users");
    assert!(code == 0 && out.contains("api_denied"), "{out}");

    // By address: TCP to the internet never arrives, nor does UDP.
    let (code, out) = exec(&rt, &id, &["egress-probe", "tcp", &format!("{NAMELESS}:7")]);
    assert_ne!(
        code, 0,
        "a raw-IP connection must not reach the echo server: {out}"
    );
    let (code, out) = unproxied(&format!("http://{NAMELESS}/"));
    assert_ne!(code, 0, "{out}");
    let (code, _) = exec(
        &rt,
        &id,
        &["egress-probe", "udp", &format!("{NAMELESS}:9999"), "leak"],
    );
    assert_eq!(code, 0);
    // Nor the node itself on other ports.
    let (code, _) = exec(&rt, &id, &["egress-probe", "tcp", &format!("{GATEWAY}:22")]);
    assert_ne!(code, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        world.recorded.datagrams().is_empty(),
        "UDP left the sandbox"
    );
    assert!(
        world
            .recorded
            .requests()
            .iter()
            .all(|r| !r.host.starts_with("203.")),
        "{:?}",
        world.recorded.requests()
    );

    let events = world.audit_events_until(|events| {
        audited(events, &id, "egress.dns", "deny") && audited(events, &id, "egress.tcp", "deny")
    });
    let mine = events_for(&events, &id);
    assert!(mine.iter().any(|e| e["action"] == "egress.dns"
        && e["decision"] == "deny"
        && e["resource"] == "evil.example.test"));
    assert!(
        mine.iter()
            .any(|e| e["action"] == "egress.tcp" && e["decision"] == "deny")
    );
    rt.ok(&["delete", "--force", &id]);
    assert!(world.sandbox_interfaces().is_empty());
}

#[test]
fn policies_are_per_sandbox_and_replaced_without_a_restart() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let hubspot = world.policy("hubspot", &narrow_policy("hubspot-only", "api.hubspot.com"));
    let crm = world.policy("crm", &narrow_policy("crm-only", "crm.example.test"));
    let (bundle_a, bundle_b) = (world.sandbox_bundle(&hubspot), world.sandbox_bundle(&crm));
    let (a, b) = (unique_id("egress-a"), unique_id("egress-b"));
    rt.start_detached(&a, bundle_a.path());
    rt.start_detached(&b, bundle_b.path());

    let status = |id: &str, url: &str| status_of(&rt, id, url);
    assert_eq!(status(&a, "http://api.hubspot.com/"), 200);
    assert_eq!(status(&a, "http://crm.example.test/"), 403);
    assert_eq!(status(&b, "http://crm.example.test/"), 200);
    assert_eq!(status(&b, "http://api.hubspot.com/"), 403);

    // The sandboxes cannot reach each other.
    let b_address = block_on(world.client().sandbox(&b))
        .unwrap()
        .unwrap()
        .sandbox_ip;
    let (code, _) = exec(
        &rt,
        &a,
        &["egress-probe", "tcp", &format!("{b_address}:80")],
    );
    assert_ne!(code, 0);
    let peer = EgressWorld::connect_from(&netns_of(&rt, &a), SocketAddr::new(b_address.into(), 80));
    assert!(
        peer.is_err() || {
            // Redirected to the engine, which refuses a destination no DNS answer named.
            let mut stream = peer.unwrap();
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply);
            reply.is_empty()
        }
    );

    // Hot reload through the CLI: A's policy now allows crm instead of hubspot; the running
    // container, on the next request, follows it.
    let replacement = world.policy(
        "replacement",
        &narrow_policy("hubspot-now-crm", "crm.example.test"),
    );
    let said = rt.ok(&["policy", "set", &a, replacement.to_str().unwrap()]);
    assert!(
        said.contains("\"hubspot-now-crm\"") && said.contains(&a),
        "{said}"
    );
    assert_eq!(status(&a, "http://crm.example.test/"), 200);
    assert_eq!(status(&a, "http://api.hubspot.com/"), 403);
    // `openshell policy get` shows the active one, as the engine holds it.
    let active: serde_json::Value = serde_json::from_str(&rt.ok(&["policy", "get", &a])).unwrap();
    assert_eq!(active["name"], "hubspot-now-crm");
    assert_eq!(
        active["network"]["egress"]["allow"][0]["domain"],
        "crm.example.test"
    );
    let engine_side = block_on(world.client().sandbox(&a)).unwrap().unwrap();
    assert_eq!(engine_side.policy.name, "hubspot-now-crm");
    // Bad input: an unknown container, a container that is not a restricted sandbox, a
    // malformed file; none changes anything.
    let err = rt.fails(&["policy", "get", "no-such-container"]);
    assert!(
        err.contains("\"no-such-container\" does not exist"),
        "{err}"
    );
    let broken = world.dir().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: openshell.nvidia.com/v1\nkind: NetworkPolicy\nspec: [\n",
    )
    .unwrap();
    let err = rt.fails(&["policy", "set", &a, broken.to_str().unwrap()]);
    assert!(err.contains("broken.yaml:"), "{err}");
    let plain = unique_id("egress-plain");
    let plain_bundle = openshell_integration::bundle::Bundle::new(&["sleep", "600"]);
    rt.start_detached(&plain, plain_bundle.path());
    let err = rt.fails(&["policy", "get", &plain]);
    assert!(
        err.contains("not registered with the egress engine"),
        "{err}"
    );
    rt.ok(&["delete", "--force", &plain]);
    assert_eq!(status(&a, "http://crm.example.test/"), 200);
    // B is untouched.
    assert_eq!(status(&b, "http://crm.example.test/"), 200);
    assert_eq!(status(&b, "http://api.hubspot.com/"), 403);

    rt.ok(&["delete", "--force", &a]);
    rt.ok(&["delete", "--force", &b]);
    assert!(world.sandbox_interfaces().is_empty());
    assert!(block_on(world.client().sandbox(&a)).unwrap().is_err());
}

#[test]
fn without_the_engine_sandboxes_reach_nothing_and_do_not_start() {
    let mut world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("hubspot", &narrow_policy("hubspot-only", "api.hubspot.com"));
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-fault");
    rt.start_detached(&id, bundle.path());
    assert_eq!(get(&rt, &id, &["http://api.hubspot.com/"]).unwrap().0, 200);

    world.kill_engine();
    // Fail closed: nothing answers and nothing leaks, by proxy, by address or by DNS.
    assert!(get(&rt, &id, &["http://api.hubspot.com/"]).is_err());
    let (code, _) = exec(&rt, &id, &["egress-probe", "tcp", &format!("{NAMELESS}:7")]);
    assert_ne!(code, 0);
    let (code, _) = exec(&rt, &id, &["nslookup", "api.hubspot.com"]);
    assert_ne!(code, 0);
    // A new restricted sandbox is refused.
    let refused = unique_id("egress-refused");
    let bundle_refused = world.sandbox_bundle(&policy);
    let out = rt.output(&[
        "run",
        "--detach",
        "--bundle",
        bundle_refused.path().to_str().unwrap(),
        &refused,
    ]);
    assert!(
        !out.status.success(),
        "a restricted sandbox must not start without the engine"
    );
    assert!(
        world.sandbox_interfaces().len() == 1,
        "{:?}",
        world.sandbox_interfaces()
    );

    // Restarted, the engine restores the registration and the sandbox works again.
    world.start_engine();
    let restored = block_on(world.client().sandbox(&id)).unwrap().unwrap();
    assert_eq!(restored.policy.name, "hubspot-only");
    assert!(wait_for(Duration::from_secs(5), || get(
        &rt,
        &id,
        &["http://api.hubspot.com/"]
    )
    .is_ok_and(|(s, _)| s == 200)));
    assert_eq!(status_of(&rt, &id, "http://crm.example.test/"), 403);

    rt.ok(&["delete", "--force", &id]);
    let _ = rt.output(&["delete", "--force", &refused]);
    assert!(world.sandbox_interfaces().is_empty());
    assert!(block_on(world.client().sandbox(&id)).unwrap().is_err());
    assert!(
        world.node_tables().contains("openshell_egress"),
        "the node table stays"
    );
}

/// The head and the JSON body of a raw HTTP response.
fn split_response(reply: &[u8]) -> (String, Value) {
    let text = String::from_utf8_lossy(reply);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A plain (absolute-form) proxy GET from inside `netns`: status and JSON body.
fn proxy_get(netns: &std::path::Path, url: &str) -> (u16, Value) {
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    let request = format!("GET {url} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let reply = raw_exchange(netns, request.as_bytes(), Duration::from_secs(3));
    let (head, body) = split_response(&reply);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {url}: {head}"));
    if status == 403 {
        assert!(head.contains("x-openshell-egress: denied"), "{head}");
    }
    (status, body)
}

/// Sends `request` from inside `netns` to the explicit proxy; returns what came back within
/// `wait`.
fn raw_exchange(netns: &std::path::Path, request: &[u8], wait: Duration) -> Vec<u8> {
    let proxy: SocketAddr = format!("{GATEWAY}:3128").parse().unwrap();
    let mut stream = EgressWorld::connect_from(netns, proxy).expect("connect to the proxy");
    stream.set_read_timeout(Some(wait)).unwrap();
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

#[test]
fn hostile_clients_do_not_take_the_engine_down() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let hostile_policy = world.policy("hubspot", &narrow_policy("hostile", "api.hubspot.com"));
    let (hostile_bundle, calm_bundle) = (
        world.sandbox_bundle(&hostile_policy),
        world.sandbox_bundle(&hostile_policy),
    );
    let (hostile, calm) = (unique_id("egress-hostile"), unique_id("egress-calm"));
    rt.start_detached(&hostile, hostile_bundle.path());
    rt.start_detached(&calm, calm_bundle.path());
    let netns = netns_of(&rt, &hostile);

    // Request smuggling: both Content-Length and Transfer-Encoding.
    let reply = raw_exchange(
        &netns,
        b"POST http://api.hubspot.com/ HTTP/1.1\r\nHost: api.hubspot.com\r\nContent-Length: 4\r\n\
          Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://evil.example.test/ HTTP/1.1\r\n\
          Host: evil.example.test\r\n\r\n",
        Duration::from_secs(3),
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "the smuggled request is never read: {text}"
    );
    // Two different Content-Length values.
    let reply = raw_exchange(
        &netns,
        b"POST http://api.hubspot.com/ HTTP/1.1\r\nHost: api.hubspot.com\r\nContent-Length: 1\r\n\
          Content-Length: 2\r\n\r\nab",
        Duration::from_secs(3),
    );
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400"));
    // Oversized headers.
    let mut huge = b"GET http://api.hubspot.com/ HTTP/1.1\r\nHost: api.hubspot.com\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(64)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let reply = raw_exchange(&netns, &huge, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    // A Host header that names another host than the request target.
    let reply = raw_exchange(
        &netns,
        b"GET http://api.hubspot.com/ HTTP/1.1\r\nHost: evil.example.test\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400"));
    // Slowloris: head bytes trickled in; the engine closes at its header timeout (2 s here).
    let proxy: SocketAddr = format!("{GATEWAY}:3128").parse().unwrap();
    let mut slow: Vec<_> = (0..20)
        .map(|_| EgressWorld::connect_from(&netns, proxy).expect("connect"))
        .collect();
    let started = Instant::now();
    for stream in &mut slow {
        let _ = stream.write_all(b"GET http://api.hubspot.com/ HTTP/1.1\r\n");
    }
    // Meanwhile the other sandbox is served, and so is the hostile one's honest request.
    assert_eq!(
        get(&rt, &calm, &["http://api.hubspot.com/calm"]).unwrap().0,
        200
    );
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let _ = stream.write_all(b"X-Slow: 1\r\n");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "slow clients were cut off at the header timeout, not left hanging"
    );
    // Over the per-sandbox connection limit (64 here), further connections are closed while
    // the other sandbox is still served.
    let mut held: Vec<_> = (0..80)
        .filter_map(|_| EgressWorld::connect_from(&netns, proxy).ok())
        .collect();
    assert_eq!(
        get(&rt, &calm, &["http://api.hubspot.com/calm2"])
            .unwrap()
            .0,
        200
    );
    held.clear();
    assert!(wait_for(Duration::from_secs(5), || get(
        &rt,
        &hostile,
        &["http://api.hubspot.com/ok"]
    )
    .is_ok_and(|(s, _)| s == 200)));

    let health = block_on(world.client().healthy()).unwrap();
    assert!(health.is_ok());
    rt.ok(&["delete", "--force", &hostile]);
    rt.ok(&["delete", "--force", &calm]);
    assert!(world.sandbox_interfaces().is_empty());
}

#[test]
fn the_admin_api_refuses_unenforceable_policies_and_reports() {
    let world = EgressWorld::new();
    let client = world.client();
    let network = block_on(client.network()).unwrap().unwrap();
    assert_eq!(network.gateway.to_string(), GATEWAY);
    assert_eq!(network.proxy_url, format!("http://{GATEWAY}:3128"));
    assert_eq!(network.ca_cert, world.egress_ca());
    let ca = std::fs::read_to_string(&network.ca_cert).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    let allow_all: EgressPolicy =
        serde_json::from_str(r#"{"name":"p","network":{"egress":{"allow":[{"domain":"*"}]}}}"#)
            .unwrap();
    let request = openshell_egress::sandbox::RegisterRequest {
        container_id: "c1".to_owned(),
        policy: allow_all,
        record: None,
    };
    let error = block_on(client.register(&request)).unwrap().unwrap_err();
    assert!(error.to_string().contains("every host"), "{error}");
    // A TLD-wide wildcard never gets that far: the pattern language refuses it.
    let tld: Result<EgressPolicy, _> =
        serde_json::from_str(r#"{"name":"p","network":{"egress":{"allow":[{"domain":"*.com"}]}}}"#);
    assert!(tld.unwrap_err().to_string().contains("public suffix"));
    let missing = block_on(client.sandbox("nobody")).unwrap().unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let missing = block_on(client.unregister("nobody")).unwrap().unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    let metrics = block_on(client.metrics()).unwrap().unwrap();
    assert!(
        metrics.contains("openshell_egress_sandboxes 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("openshell_egress_open_connections 0"),
        "{metrics}"
    );
    // A node that names no egress engine refuses to start a restricted sandbox.
    let config = std::fs::read_to_string(world.node_config()).unwrap();
    let unconfigured = world.dir().join("no-egress.toml");
    std::fs::write(
        &unconfigured,
        config.replace(
            &format!("egress = \"{}\"", world.admin_socket().display()),
            "",
        ),
    )
    .unwrap();
    let rt = Runtime::in_netns(world.node.path()).with_node_config(&unconfigured);
    let bundle = world.sandbox_bundle(&world.policy("p", &narrow_policy("p", "api.hubspot.com")));
    let id = unique_id("egress-unconfigured");
    let out = rt.output(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("names no egress engine"), "{stderr}");
    assert!(world.sandbox_interfaces().is_empty());

    // The node's table is in place and nothing else was added to the node namespace.
    let tables = world.node_tables();
    assert_eq!(tables.trim(), "table inet openshell_egress", "{tables}");
}

/// `curl` from a namespace: the status code, then the body.
fn curl(netns: &openshell_integration::netns::TestNetns, url: &str) -> (String, String) {
    let out = netns
        .command("curl")
        .args(["-s", "-m", "5", "-w", "\n%{http_code}", url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

#[test]
fn webhooks_reach_a_sandbox_only_from_their_source_and_path() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy(
        "webhooks",
        "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: webhooks
spec:
  isolation:
    network: restricted
  auditLog:
    destination: file://@TRAIL@
---
networkPolicy:
  name: webhooks
  egress:
    allow:
      - domain: api.hubspot.com
  ingress:
    allow:
      - source: webhook.salesforce.com
        path: /api/v1/events
",
    );
    let bundle = world.sandbox_bundle(&policy);
    for (path, text) in [
        ("www/api/v1/events", "event received\n"),
        ("www/admin", "secret\n"),
    ] {
        let file = bundle.rootfs().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let id = unique_id("egress-ingress");
    rt.start_detached(&id, bundle.path());
    rt.ok(&[
        "exec", "--detach", &id, "httpd", "-f", "-p", "8080", "-h", "/www",
    ]);
    let base = format!("http://{NODE_SIDE}:{INGRESS_PORT}/sandboxes/{id}");

    // From the rule's source, on the rule's path: delivered.
    let delivered = wait_for(Duration::from_secs(5), || {
        curl(&world.internet, &format!("{base}/api/v1/events"))
            == ("200".into(), "event received\n".into())
    });
    assert!(
        delivered,
        "{:?}\n{}",
        curl(&world.internet, &format!("{base}/api/v1/events")),
        world.engine_log()
    );
    // Another path, another source, another sandbox: refused.
    let (code, body) = curl(&world.internet, &format!("{base}/admin"));
    assert_eq!(code, "403", "{body}");
    assert!(body.contains("ingress_denied"), "{body}");
    let (code, _) = curl(&world.node, &format!("{base}/api/v1/events"));
    assert_eq!(code, "403", "the node itself is not webhook.salesforce.com");
    let (code, _) = curl(
        &world.internet,
        &format!("http://{NODE_SIDE}:{INGRESS_PORT}/sandboxes/nobody/api/v1/events"),
    );
    assert_eq!(code, "404");
    // Straight to the sandbox, around the engine: no way in.
    let address = block_on(world.client().sandbox(&id))
        .unwrap()
        .unwrap()
        .sandbox_ip;
    let (code, _) = curl(&world.node, &format!("http://{address}:8080/api/v1/events"));
    assert_eq!(
        code, "000",
        "the node cannot open connections into a sandbox"
    );
    let (code, _) = curl(
        &world.internet,
        &format!("http://{address}:8080/api/v1/events"),
    );
    assert_eq!(code, "000");

    let events = world.audit_events_until(|events| {
        audited(events, &id, "ingress.http", "allow")
            && audited(events, &id, "ingress.http", "deny")
    });
    let mine = events_for(&events, &id);
    assert!(
        mine.iter()
            .any(|e| e["action"] == "ingress.http" && e["decision"] == "allow")
    );
    assert!(mine.iter().any(|e| e["action"] == "ingress.http"
        && e["decision"] == "deny"
        && e["resource"] == "GET /admin"));
    rt.ok(&["delete", "--force", &id]);
    assert!(world.sandbox_interfaces().is_empty());
}

/// Sends `request` from inside `netns` to `address` and returns what came back within `wait`.
fn raw_exchange_to(
    netns: &std::path::Path,
    address: SocketAddr,
    request: &[u8],
    wait: Duration,
) -> Vec<u8> {
    let mut stream = EgressWorld::connect_from(netns, address).expect("connect");
    stream.set_read_timeout(Some(wait)).unwrap();
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// A proxy request for `target` (absolute-form, sent as written) with extra header lines.
fn proxy_request(netns: &std::path::Path, target: &str, extra: &str) -> (u16, String, Value) {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: crm.example.test\r\n{extra}Connection: close\r\n\r\n"
    );
    answered(netns, &request, Duration::from_secs(3))
}

/// Sends `request` through the proxy and waits up to `wait`: the status, head and JSON body.
fn answered(netns: &std::path::Path, request: &str, wait: Duration) -> (u16, String, Value) {
    let reply = raw_exchange(netns, request.as_bytes(), wait);
    let (head, body) = split_response(&reply);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer to {}: {head}",
                request.lines().next().unwrap_or("")
            )
        });
    (status, head, body)
}

#[test]
fn api_permissions_hold_against_every_spelling_of_a_path() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("policy", POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-paths");
    rt.start_detached(&id, bundle.path());
    let netns = netns_of(&rt, &id);

    // Every spelling of the denied /admin/users (deniedAPIs: admin.*) is refused: normalised
    // and denied as admin.users.list, or refused as ambiguous.
    let mut spellings: Vec<(&str, Option<&str>)> = openshell_policy::BYPASS_SPELLINGS.to_vec();
    // The issue's spelling: under crm.read's /api/v1/customers/**, climbing back out.
    spellings.push((
        "/api/v1/customers/../../../admin/users",
        Some("/admin/users"),
    ));
    let mut denied_as_api = 0;
    let mut refused_paths = 0;
    for (spelling, normal) in &spellings {
        let target = format!("http://crm.example.test{spelling}");
        let (status, head, body) = proxy_request(&netns, &target, "");
        match normal {
            Some(_) => {
                assert_eq!(status, 403, "{spelling}: {head} {body}");
                assert_eq!(body["error"], "api_denied", "{spelling}: {body}");
                assert_eq!(body["api"], "admin.users.list", "{spelling}: {body}");
                denied_as_api += 1;
            }
            None => {
                // hyper refuses a request target it cannot parse (a raw backslash) with a bare
                // 400; the engine refuses the rest with 403 path_refused, naming the reason.
                assert!(status == 400 || status == 403, "{spelling}: {head}");
                if status == 403 {
                    assert_eq!(body["error"], "path_refused", "{spelling}: {body}");
                    assert!(body["reason"].as_str().unwrap().contains("byte"), "{body}");
                    refused_paths += 1;
                }
            }
        }
    }
    assert!(
        world
            .recorded
            .requests()
            .iter()
            .all(|seen| !seen.path.contains("admin")),
        "nothing under /admin reached the server: {:?}",
        world.recorded.requests()
    );

    // An allowed API spelled oddly is decided and forwarded in its normal form.
    let (status, _, body) = proxy_request(
        &netns,
        "http://crm.example.test/api/v1//customers/%34%32/",
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/api/v1/customers/42");

    // The trail names the normalised path that was decided, as the API it is.
    let resource = "GET http://crm.example.test:80/admin/users";
    let events = world.audit_events_until(|events| {
        events_for(events, &id)
            .iter()
            .filter(|e| e["action"] == "admin.users.list" && e["decision"] == "deny")
            .count()
            >= denied_as_api
            && audited(events, &id, "crm.read", "allow")
    });
    let api_denials: Vec<&Value> = events_for(&events, &id)
        .into_iter()
        .filter(|e| e["action"] == "admin.users.list")
        .collect();
    assert_eq!(api_denials.len(), denied_as_api, "{events:?}");
    assert!(
        api_denials
            .iter()
            .all(|e| e["resource"] == resource && e["decision"] == "deny"),
        "{api_denials:?}"
    );
    let path_refusals = events_for(&events, &id)
        .iter()
        .filter(|e| e["policies"][0] == "request path" && e["decision"] == "deny")
        .count();
    assert_eq!(path_refusals, refused_paths, "{events:?}");
    assert!(audited(&events, &id, "crm.read", "allow"));
    let allowed = events_for(&events, &id)
        .into_iter()
        .find(|e| e["action"] == "crm.read")
        .unwrap();
    assert_eq!(
        allowed["resource"],
        "GET http://crm.example.test:80/api/v1/customers/42"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// The synthetic address the sandbox's DNS answers for `name`.
fn synthetic_address(rt: &Runtime, id: &str, name: &str) -> String {
    let (code, out) = exec(rt, id, &["nslookup", name]);
    assert_eq!(code, 0, "{out}");
    out.split_whitespace()
        .filter_map(|word| word.parse::<std::net::Ipv4Addr>().ok())
        .find(|address| address.octets()[..2] == [10, 201])
        .unwrap_or_else(|| panic!("no synthetic answer for {name}: {out}"))
        .to_string()
}

#[test]
fn requests_are_parsed_strictly_and_pii_in_queries_and_headers_is_refused() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("policy", POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-strict");
    rt.start_detached(&id, bundle.path());
    let netns = netns_of(&rt, &id);

    // A request behind an empty line: refused on the proxy, and on a redirected connection to
    // a host whose rule would relay an opaque stream (it was relayed raw, uninspected).
    let smuggled = b"\r\nGET /admin/users HTTP/1.1\r\nHost: tickets.example.test\r\n\r\n";
    let reply = raw_exchange(&netns, smuggled, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains("empty lines before the request line"),
        "{text}"
    );
    let tickets: SocketAddr = format!("{}:80", synthetic_address(&rt, &id, "tickets.example.test"))
        .parse()
        .unwrap();
    let reply = raw_exchange_to(&netns, tickets, smuggled, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    // The same request without the empty line is inspected and served.
    let reply = raw_exchange_to(
        &netns,
        tickets,
        b"GET /queue HTTP/1.1\r\nHost: tickets.example.test\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));

    // Two Host headers, even naming the same host.
    for second in ["evil.example.test", "crm.example.test"] {
        let (status, head, _) = proxy_request(
            &netns,
            "http://crm.example.test/api/v1/customers/1",
            &format!("Host: {second}\r\n"),
        );
        assert_eq!(status, 400, "{second}: {head}");
    }

    // PII in a query string or a header value (scanForPII: true), encoded or not.
    for (target, extra, location) in [
        (
            "http://crm.example.test/api/v1/customers?ssn=536-22-8726",
            "",
            "query string",
        ),
        (
            "http://crm.example.test/api/v1/customers?ssn=536%2D22%2D8726",
            "",
            "query string",
        ),
        (
            "http://crm.example.test/api/v1/customers/1",
            "X-Note: card 4111 1111 1111 1111\r\n",
            "header x-note",
        ),
    ] {
        let (status, _, body) = proxy_request(&netns, target, extra);
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("pii_blocked")),
            "{body}"
        );
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.starts_with(location), "{reason}");
        assert!(
            !reason.contains("8726") && !reason.contains("4111"),
            "{reason}"
        );
    }
    // A bearer token where it belongs is not PII leaving the sandbox.
    let (status, _, body) = proxy_request(
        &netns,
        "http://crm.example.test/api/v1/customers/1?expand=notes",
        "Authorization: Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789\r\n",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        world
            .recorded
            .requests()
            .iter()
            .all(|seen| !seen.path.contains("ssn") && !seen.path.contains("admin")),
        "{:?}",
        world.recorded.requests()
    );
    let events = world.audit_events_until(|events| {
        events_for(events, &id)
            .iter()
            .filter(|e| e["policies"][0] == "inspection.scanForPII")
            .count()
            >= 3
    });
    let pii: Vec<&Value> = events_for(&events, &id)
        .into_iter()
        .filter(|e| e["policies"][0] == "inspection.scanForPII")
        .collect();
    assert_eq!(pii.len(), 3, "{events:?}");
    assert!(pii.iter().all(|e| e["decision"] == "deny"));
    let trail = std::fs::read_to_string(world.trail()).unwrap();
    assert!(!trail.contains("536-22-8726") && !trail.contains("4111 1111"));
    assert!(
        events_for(&events, &id)
            .iter()
            .filter(|e| e["policies"][0] == "framing")
            .count()
            >= 4,
        "refused heads are audited: {events:?}"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// A DNS query for `name` (type A) with `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = id.to_be_bytes().to_vec();
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// Sends `count` queries for `name` as fast as they are answered from inside `netns`;
/// (answered, refused).
fn dns_flood(netns: &std::path::Path, name: &str, count: u16) -> (usize, usize) {
    let netns = openshell_egress::sandbox_net::NetNs::open(netns).unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                netns
                    .within(|| {
                        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
                        socket.connect((GATEWAY, 53)).unwrap();
                        socket
                            .set_read_timeout(Some(Duration::from_millis(700)))
                            .unwrap();
                        // In rounds of 50, so no socket buffer on the way drops any.
                        let (mut answered, mut refused) = (0, 0);
                        let mut buffer = [0u8; 512];
                        for round in (0..count).step_by(50) {
                            let end = (round + 50).min(count);
                            for id in round..end {
                                socket.send(&dns_query(id, name)).unwrap();
                            }
                            for _ in round..end {
                                let Ok(n) = socket.recv(&mut buffer) else {
                                    break;
                                };
                                match (n >= 4).then(|| buffer[3] & 0x0f) {
                                    Some(0) => answered += 1,
                                    Some(5) => refused += 1,
                                    _ => {}
                                }
                            }
                        }
                        (answered, refused)
                    })
                    .unwrap()
            })
            .join()
            .unwrap()
    })
}

#[test]
fn a_dns_flood_from_one_sandbox_is_limited_while_another_still_resolves() {
    let world = EgressWorld::with_options(WorldOptions {
        engine_limits: "dns_queries_per_second = 20\ndns_burst = 20\n\
                        requests_per_second = 5\nrequest_burst = 5\n",
        ..WorldOptions::default()
    });
    let rt = world.runtime();
    let policy = world.policy("hubspot", &narrow_policy("dns-flood", "api.hubspot.com"));
    let (noisy_bundle, quiet_bundle) =
        (world.sandbox_bundle(&policy), world.sandbox_bundle(&policy));
    let (noisy, quiet) = (unique_id("egress-noisy"), unique_id("egress-quiet"));
    rt.start_detached(&noisy, noisy_bundle.path());
    rt.start_detached(&quiet, quiet_bundle.path());

    let started = Instant::now();
    let (answered, refused) = dns_flood(&netns_of(&rt, &noisy), "api.hubspot.com", 400);
    assert_eq!(answered + refused, 400, "every query is answered");
    assert!(
        (20..=60).contains(&answered),
        "the burst and the rate: {answered} answered"
    );
    // The other sandbox resolves meanwhile.
    let (code, out) = exec(&rt, &quiet, &["nslookup", "api.hubspot.com"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10.201."), "{out}");
    // And the noisy one again once its bucket refills.
    std::thread::sleep(Duration::from_millis(500));
    let (code, out) = exec(&rt, &noisy, &["nslookup", "api.hubspot.com"]);
    assert_eq!(code, 0, "{out}");

    // The refusals are audited in aggregate: a few events with their counts, not 380.
    let limited = |events: &[Value]| -> Vec<Value> {
        events_for(events, &noisy)
            .into_iter()
            .filter(|e| {
                e["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("rate limited: ")
            })
            .cloned()
            .collect()
    };
    let count_of = |event: &Value| -> usize {
        event["reason"].as_str().unwrap()["rate limited: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let events = world.audit_events_until(|events| {
        limited(events).iter().map(count_of).sum::<usize>() >= refused
    });
    let reports = limited(&events);
    assert_eq!(
        reports.iter().map(count_of).sum::<usize>(),
        refused,
        "{reports:?}"
    );
    assert!(
        reports.len() as u64 <= started.elapsed().as_secs() + 2,
        "at most one event a second: {reports:?}"
    );
    assert!(reports.iter().all(|e| e["action"] == "egress.dns"
        && e["decision"] == "deny"
        && e["policies"][0] == "limits.dns_queries_per_second (20/s, burst 20)"));
    assert!(
        events_for(&events, &quiet)
            .iter()
            .all(|e| e["decision"] == "allow")
    );

    // Requests too: over 5 a second the noisy sandbox gets 429, the quiet one is served.
    let statuses: Vec<u16> = (0..20)
        .map(|_| proxy_get(&netns_of(&rt, &noisy), "http://api.hubspot.com/flood").0)
        .collect();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited >= 10, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        get(&rt, &quiet, &["http://api.hubspot.com/calm"])
            .unwrap()
            .0,
        200
    );
    let metrics = block_on(world.client().metrics()).unwrap().unwrap();
    assert!(
        metrics.contains(&format!(
            "openshell_egress_rate_limited_total{{kind=\"dns\"}} {refused}"
        )),
        "{metrics}"
    );
    rt.ok(&["delete", "--force", &noisy]);
    rt.ok(&["delete", "--force", &quiet]);
}

/// Runs `f` on a thread inside the node's namespace (where the engine reaches 127.0.0.1).
fn in_node<T: Send>(world: &EgressWorld, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                world.node.enter_current_thread();
                f()
            })
            .join()
            .unwrap()
    })
}

/// The soft and hard limits on open descriptors of process `pid`.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("Max open files");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// An opaque tunnel through CONNECT relays 16 MiB both ways byte for byte, the bytes sent with
/// the CONNECT head first, and each side's end reaches the other (the echo server ends its side
/// only once it has read the sandbox's end). The engine, started with the usual soft limit of
/// open descriptors, runs with its hard limit.
#[test]
fn a_relayed_tunnel_carries_every_byte_both_ways_in_order_and_each_end() {
    let world = EgressWorld::new();
    let sandbox = TestNetns::create("osh-relay");
    let id = unique_id("relay");
    let policy = openshell_policy::egress_policy(
        &openshell_policy::PolicySet::parse(
            "relay.yaml",
            &format!(
                "apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: relay
spec:
  egress:
    allow:
      - domain: api.hubspot.com
        ports: [{STREAM_ECHO_PORT}]
"
            ),
        )
        .unwrap(),
    );
    in_node(&world, || {
        block_on(setup_sandbox(
            &world.client(),
            &id,
            sandbox.path(),
            policy,
            None,
        ))
        .unwrap()
        .expect("wire the sandbox")
    });
    // Started with a soft limit of 1,024 descriptors, the engine raised it to the hard limit.
    let (soft, hard) = open_files_limits(world.engine_pid().unwrap());
    assert_eq!(
        soft, hard,
        "the engine's soft open-files limit is its hard one"
    );

    // 16 MiB that no sniff takes for TLS or HTTP (it starts with a zero byte); its first KiB
    // goes in the same write as the CONNECT head, so the engine reads it ahead of the tunnel.
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let proxy: SocketAddr = format!("{GATEWAY}:3128").parse().unwrap();
    let mut client = EgressWorld::connect_from(sandbox.path(), proxy).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let authority = format!("api.hubspot.com:{STREAM_ECHO_PORT}");
    let mut first =
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
    first.extend_from_slice(&data[..1024]);
    client.write_all(&first).unwrap();
    let mut writer = client.try_clone().unwrap();
    let rest = data[1024..].to_vec();
    let sending = std::thread::spawn(move || {
        writer.write_all(&rest).unwrap();
        // The sandbox's end of the stream: the echo server sees it and ends its own.
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });

    let mut received = Vec::with_capacity(data.len() + 256);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = client.read(&mut chunk).expect("read the echo");
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
    }
    sending.join().unwrap();
    let end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer to the CONNECT");
    let head = String::from_utf8_lossy(&received[..end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "CONNECT answered: {head}");
    let echoed = &received[end + 4..];
    assert_eq!(
        echoed.len(),
        data.len(),
        "every byte came back, and no more"
    );
    let first_difference = echoed.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "the bytes came back in order");
    in_node(&world, || {
        block_on(teardown_sandbox(Some(&world.client()), &id))
            .unwrap()
            .expect("teardown")
    });
}

#[test]
fn a_full_audit_spool_holds_its_cap_and_reports_what_it_dropped() {
    const CAP: u64 = 8192;
    let mut world = EgressWorld::with_options(WorldOptions {
        engine_limits: "dns_queries_per_second = 1000\ndns_burst = 1000\n",
        node_audit: &format!(
            "spool_max_bytes = {CAP}\ninitial_backoff_ms = 50\nmax_backoff_ms = 200\n"
        ),
        ..WorldOptions::default()
    });
    // A SIEM on the node's loopback, down while the sandbox works.
    let mut siem = in_node(&world, SiemStandIn::start);
    in_node(&world, || siem.stop());
    world.extend_node_config(&format!("[siem]\ndown = \"{}\"\n", siem.url()));
    world.kill_engine();
    world.start_engine();
    let rt = world.runtime();
    let yaml = narrow_policy("spooled", "api.hubspot.com").replace("file://@TRAIL@", "siem://down");
    let policy = world.policy("spooled", &yaml);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-spool");
    rt.start_detached(&id, bundle.path());

    // Every answered query is an event for the SIEM: 300 of them do not fit in 8 KiB.
    let (answered, _) = dns_flood(&netns_of(&rt, &id), "api.hubspot.com", 300);
    assert_eq!(answered, 300);
    let client = world.client();
    let dropped_metric = || -> u64 {
        let metrics = block_on(client.metrics()).unwrap().unwrap();
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("openshell_egress_audit_dropped_events "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    // Settled: the writer has handled every event (spooled or dropped).
    assert!(wait_for(Duration::from_secs(10), || {
        let before = dropped_metric();
        std::thread::sleep(Duration::from_millis(300));
        before > 0 && before == dropped_metric()
    }));
    let spool = world.dir().join("spool").join("siem-down");
    let spooled: u64 = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(spooled > 0 && spooled <= CAP, "{spooled} bytes spooled");
    // The trail, a separate destination, kept everything.
    let events = world.audit_events_until(|events| {
        events_for(events, &id)
            .iter()
            .filter(|e| e["action"] == "egress.dns")
            .count()
            >= 300
    });
    assert!(
        events_for(&events, &id)
            .iter()
            .filter(|e| e["action"] == "egress.dns")
            .count()
            >= 300
    );

    // Back: the spool drains and one event reports the drops.
    let dropped = dropped_metric();
    in_node(&world, || siem.restart());
    assert!(
        wait_for(Duration::from_secs(15), || siem
            .events()
            .iter()
            .any(|e| e["action"] == "audit.dropped")),
        "no drop report: {} events received",
        siem.events().len()
    );
    let received = siem.events();
    let report = received
        .iter()
        .find(|e| e["action"] == "audit.dropped")
        .unwrap();
    assert_eq!(report["decision"], "dropped");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{dropped} audit events dropped")),
        "{report}"
    );
    let delivered = received
        .iter()
        .filter(|e| e["container_id"] == id.as_str())
        .count() as u64;
    assert!(
        delivered > 0 && delivered + dropped >= 300,
        "{delivered} + {dropped}"
    );
    rt.ok(&["delete", "--force", &id]);
    in_node(&world, || siem.stop());
}

const INLINE_POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: inline-test
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [crm.read, payment.process]
  auditLog:
    destination: file://@TRAIL@
---
apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: inline-test
spec:
  egress:
    allow:
      - domain: crm.example.test
---
apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: inline-apis
spec:
  apis:
    crm.read:
      - methods: [GET]
        host: crm.example.test
        path: /api/v1/customers/**
    payment.process:
      - methods: [POST]
        host: crm.example.test
        path: /api/v1/payments
        fields:
          amount: /amount
          currency: /currency
          destination: /recipient
---
approvalPolicy:
  triggers:
    - {action: payment.process, threshold: above-100-usd}
  channels: [slack]
  timeout: 3s
  defaultAction: deny
";

/// `openshell approvals ARGS` against the world's queue: whether it succeeded, and what it said.
fn approvals(world: &EgressWorld, args: &[&str]) -> (bool, String) {
    let output = operator::approvals(&world.dir().join("approvals.sock"), args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// A payment through the sandbox's proxy: the status and the JSON answer.
fn pay(netns: &std::path::Path, amount: u32, wait: Duration) -> (u16, Value) {
    let body = format!(r#"{{"amount": {amount}, "currency": "usd", "recipient": "acct-77"}}"#);
    let request = format!(
        "POST http://crm.example.test/api/v1/payments HTTP/1.1\r\nHost: crm.example.test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = answered(netns, &request, wait);
    (status, body)
}

#[test]
fn api_calls_are_decided_in_line_and_escalations_wait_for_a_human() {
    let world = EgressWorld::new();
    let rt = world.runtime();
    let policy = world.policy("inline", INLINE_POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-inline");
    rt.start_detached(&id, bundle.path());
    let netns = netns_of(&rt, &id);
    let slack = SiemStandIn::start();
    let mut queue = world.start_approvals(&slack.url());

    // Under the threshold: decided in process and forwarded at once.
    let (status, body) = pay(&netns, 45, Duration::from_secs(5));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/api/v1/payments");

    // Above it: held while a human is asked; approved from the CLI, it goes on.
    let held = {
        let netns = netns.clone();
        std::thread::spawn(move || pay(&netns, 250, Duration::from_secs(10)))
    };
    let mut ids = Vec::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            ids = operator::pending(&world.dir().join("approvals.sock"));
            !ids.is_empty()
        }),
        "no pending approval"
    );
    let (ok, shown) = approvals(&world, &["show", &ids[0]]);
    assert!(ok, "{shown}");
    let shown: Value = serde_json::from_str(&shown).expect("show prints JSON");
    assert_eq!(shown["request"]["action"], "payment.process");
    assert_eq!(shown["request"]["amount"], 250.0);
    assert_eq!(shown["request"]["currency"], "USD");
    assert_eq!(shown["request"]["destination"], "acct-77");
    assert_eq!(shown["request"]["container_id"], id.as_str());
    assert!(
        wait_for(Duration::from_secs(5), || !slack.events().is_empty()),
        "Slack was not notified"
    );
    let slack_message = slack.events()[0].to_string();
    assert!(slack_message.contains("payment.process"), "{slack_message}");
    assert!(slack_message.contains("blocks"), "{slack_message}");
    let (ok, out) = approvals(&world, &["approve", &ids[0], "--note", "known vendor"]);
    assert!(ok, "{out}");
    let (status, body) = held.join().unwrap();
    assert_eq!(status, 200, "approved payment: {body}");
    let forwarded = world
        .recorded
        .requests()
        .iter()
        .filter(|seen| seen.path == "/api/v1/payments")
        .count();
    assert_eq!(forwarded, 2, "{:?}", world.recorded.requests());

    // Nobody answers: the default action (deny) after the 3 s timeout.
    let (status, body) = pay(&netns, 300, Duration::from_secs(12));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "approval_denied", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("nobody answered"),
        "{body}"
    );

    // The queue is killed while a request is held: the request fails closed at once, not at
    // its timeout; the queue, restarted, still has the approval pending.
    let held = {
        let netns = netns.clone();
        std::thread::spawn(move || pay(&netns, 500, Duration::from_secs(10)))
    };
    let socket = world.dir().join("approvals.sock");
    let mut before_kill = Vec::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            before_kill = operator::pending(&socket);
            !before_kill.is_empty()
        }),
        "the 500 USD payment was not held"
    );
    let _ = queue.kill();
    let _ = queue.wait();
    let killed = std::time::Instant::now();
    let (status, body) = held.join().unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "approval_unavailable", "{body}");
    assert!(
        killed.elapsed() < Duration::from_millis(2500),
        "the held request waited {:?} after the queue died",
        killed.elapsed()
    );
    queue = world.start_approvals(&slack.url());
    // Pending still, or timed out by now if the restart took longer than the 3 s timeout.
    let mut kept = Value::Null;
    assert!(
        wait_for(Duration::from_secs(5), || {
            kept = operator::show(&socket, &before_kill[0]);
            !kept.is_null()
        }),
        "the restarted queue lost the approval held when it was killed"
    );
    assert_eq!(kept["request"]["amount"], 500.0, "{kept}");
    assert!(
        kept["state"] == "pending" || kept["state"] == "timed-out",
        "{kept}"
    );
    let _ = queue.kill();
    let _ = queue.wait();
    // The queue is gone: a request that needs a human fails closed at once...
    let (status, body) = pay(&netns, 500, Duration::from_secs(5));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "approval_unavailable", "{body}");
    // ... and a payment under the threshold still needs no one.
    assert_eq!(pay(&netns, 20, Duration::from_secs(5)).0, 200);

    // The trail has each decision: the engine's, the decision engine's, the queue's.
    let events = world.audit_events_until(|events| {
        events
            .iter()
            .any(|e| e["component"] == "approvals" && e["decision"] == "approved")
            && events_for(events, &id)
                .iter()
                .filter(|e| e["action"] == "payment.process" && e["decision"] == "deny")
                .count()
                >= 2
    });
    let approved = events
        .iter()
        .find(|e| e["component"] == "approvals" && e["decision"] == "approved")
        .unwrap();
    assert!(approved.to_string().contains("cli"), "{approved}");
    assert_eq!(
        world.recorded.requests().len(),
        3,
        "only the allowed and the approved payments reached the server"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// A restricted sandbox that may reach api.openai.com by its NetworkPolicy, but without
/// `directModelAccess`: its model traffic must take the privacy router.
const ROUTED_POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: routed
spec:
  isolation:
    network: restricted
---
networkPolicy:
  egress:
    allow:
      - domain: api.openai.com
      - domain: crm.example.test
";

/// A stand-in local model server in the node namespace on 127.0.0.1: every request gets one
/// chat completion saying `answer`. Returns its port.
fn serve_local_model(world: &EgressWorld, answer: &'static str) -> u16 {
    let node = world.node.path().to_owned();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&node).expect("node netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind model");
        port_tx.send(listener.local_addr().unwrap().port()).unwrap();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut seen = Vec::new();
            let mut buffer = [0u8; 4096];
            // The head, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let body = format!(
                r#"{{"id":"local-1","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"{answer}"}},"finish_reason":"stop"}}]}}"#
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("model port")
}

/// The environment of a process, as `NAME=VALUE` entries.
fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .expect("read environ")
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect()
}

fn env_value<'a>(env: &'a [String], name: &str) -> &'a str {
    env.iter()
        .find_map(|entry| entry.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not in {env:?}"))
}

/// A chat completion from inside `netns` to the router on the gateway, with `token`.
fn chat(netns: &std::path::Path, token: &str) -> (u16, String, Value) {
    let body = r#"{"model":"any","messages":[{"role":"user","content":"Summarise our Q3 plan."}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {GATEWAY}:4000\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let router: SocketAddr = format!("{GATEWAY}:4000").parse().unwrap();
    let reply = raw_exchange_to(netns, router, request.as_bytes(), Duration::from_secs(10));
    let (head, body) = split_response(&reply);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer from the router: {head}"));
    (status, head, body)
}

#[test]
fn model_traffic_goes_through_the_router_with_the_sandbox_token() {
    let world = EgressWorld::new();
    let model_port = serve_local_model(&world, "local model says hi");
    let router = NodeRouter::start(
        &world,
        &format!(
            "registry_poll_ms = 60000\n[[endpoints]]\nname = \"local\"\n\
             url = \"http://127.0.0.1:{model_port}/v1\"\nlocal = true\n"
        ),
    );
    let rt = world.runtime();
    let policy = world.policy("routed", ROUTED_POLICY);
    let bundle = world.sandbox_bundle(&policy);
    let id = unique_id("egress-routed");
    rt.start_detached(&id, bundle.path());
    let netns = netns_of(&rt, &id);

    // The runtime points the sandbox at the router, past the proxy, with a token of its own.
    let env = environ(rt.pid(&id));
    let base = format!("http://{GATEWAY}:4000/v1");
    assert_eq!(env_value(&env, "OPENAI_BASE_URL"), base);
    assert_eq!(env_value(&env, "OPENAI_API_BASE"), base);
    assert!(env_value(&env, "NO_PROXY").split(',').any(|h| h == GATEWAY));
    let token = env_value(&env, "OPENAI_API_KEY").to_owned();
    assert!(token.starts_with(&format!("oss1.{id}.")), "{token}");
    // The token is a credential: the registration every service reads holds only its digest.
    let registration = std::fs::read_to_string(world.dir().join(format!("registry/{id}.json")))
        .expect("registration record");
    assert!(!registration.contains(&token));
    let record: Value = serde_json::from_str(&registration).unwrap();
    assert_eq!(
        record["caller_token"],
        openshell_policy::caller_token::digest(&token).as_str()
    );

    // From the sandbox, with its token: the local model answers through the router.
    let (status, head, body) = chat(&netns, &token);
    assert_eq!(status, 200, "{head}\n{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "local model says hi"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-openshell-endpoint: local"),
        "{head}"
    );
    // A forged token of the same container is refused, as is another container's.
    let forged = format!("oss1.{id}.{}", "0".repeat(64));
    let (status, _, body) = chat(&netns, &forged);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "invalid_caller_token", "{body}");
    let (status, _, body) = chat(&netns, &format!("oss1.someone-else.{}", "0".repeat(64)));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "caller_token_mismatch", "{body}");

    // A direct call to a model API, though the NetworkPolicy names the host, is refused and
    // points to the router.
    let body = r#"{"model":"gpt-4o","messages":[]}"#;
    let (status, _, answer) = answered(
        &netns,
        &format!(
            "POST http://api.openai.com/v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Duration::from_secs(5),
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "model_api_direct", "{answer}");
    assert!(answer.to_string().contains("privacy router"), "{answer}");
    // ... while the sandbox's other destinations are as before.
    let (status, _, _) = answered(
        &netns,
        "GET http://crm.example.test/ HTTP/1.1\r\nHost: crm.example.test\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status, 200);

    // Deleted: the token dies with the sandbox at once (the router rescans its registry only
    // every minute here). Presented from the node (no sandbox address of its own; another
    // sandbox keeps the gateway address up), it is refused.
    let other = unique_id("egress-routed-other");
    let other_bundle = world.sandbox_bundle(&policy);
    rt.start_detached(&other, other_bundle.path());
    let (status, _, _) = chat(world.node.path(), &token);
    assert_eq!(
        status, 200,
        "the token works from anywhere while its sandbox lives"
    );
    rt.ok(&["delete", "--force", &id]);
    let (status, _, body) = chat(world.node.path(), &token);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "caller_not_registered", "{body}");
    rt.ok(&["delete", "--force", &other]);
    drop(router);
}
