//! Hostile input gets a 4xx and the router keeps serving everyone else; content the
//! classifier cannot vouch for is routed as restricted.

use std::time::{Duration, Instant};

use openshell_router::RouterConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// Sends raw bytes on a fresh connection from `client`'s address and returns what comes back
/// until the router closes the connection or `wait` passes.
async fn raw(client: &Client, bytes: &[u8], wait: Duration) -> String {
    let mut stream = client.connect().await;
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream, wait).await
}

async fn read_until_closed(stream: &mut tokio::net::TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn head(content_length: Option<usize>, extra: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: router\r\ncontent-type: application/json\r\n{}{extra}connection: close\r\n\r\n",
        content_length
            .map(|n| format!("content-length: {n}\r\n"))
            .unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_4xx_and_the_router_keeps_serving() {
    let local = StandIn::plain("local", Answer::Json).await;
    let mut config = RouterConfig::default();
    config.limits.max_body_bytes = 64 << 10;
    config.limits.body_timeout_ms = 400;
    config.limits.header_timeout_ms = 1000;
    config.limits.max_connections_per_source = 4;
    let router = Router::start(config, &[]).await;
    let policy = format!(
        "privacyRouter:\n  endpoints:\n    - {{name: local, url: '{}', local: true}}\n",
        local.url(false)
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    let wait = Duration::from_secs(3);

    // A declared size over the limit: refused before the body is read.
    let reply = raw(&client, head(Some(10_000_000), "").as_bytes(), wait).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // A chunked body that grows over the limit.
    let mut chunked = head(None, "transfer-encoding: chunked\r\n").into_bytes();
    for _ in 0..80 {
        chunked.extend_from_slice(format!("400\r\n{}\r\n", "a".repeat(0x400)).as_bytes());
    }
    let reply = raw(&client, &chunked, wait).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // Malformed JSON, invalid UTF-8, a lone surrogate, JSON that is not an object.
    for body in [
        &b"{\"messages\": ["[..],
        b"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
        br#"{"messages":[{"role":"user","content":"\ud800"}]}"#,
        b"[1, 2, 3]",
    ] {
        let answer = client.post_with("/v1/chat/completions", body, &[]).await;
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(answer.code(), "invalid_request_body");
    }
    // Not JSON at all.
    let reply = raw(
        &client,
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: r\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
        wait,
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 415"), "{reply}");
    // A body that trickles in: 408 once the body timeout passes.
    let started = Instant::now();
    let mut slow = client.connect().await;
    slow.write_all(head(Some(100), "").as_bytes())
        .await
        .unwrap();
    slow.write_all(b"{\"messages\":").await.unwrap();
    let reply = read_until_closed(&mut slow, wait).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A head that never completes is cut off, while others are served meanwhile.
    let mut stalled = client.connect().await;
    stalled
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: r\r\n")
        .await
        .unwrap();
    let served = client.chat(PUBLIC).await;
    assert_eq!(served.status, 200);
    let started = Instant::now();
    let reply = read_until_closed(&mut stalled, wait).await;
    assert!(!reply.starts_with("HTTP/1.1 2"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "closed by the header timeout"
    );
    // Too many connections from one address: 429 for the extra one; others unaffected.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(client.connect().await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reply = raw(&client, head(Some(2), "").as_bytes(), wait).await;
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    let other = StandIn::plain("other", Answer::Json).await;
    let other_policy = format!(
        "privacyRouter:\n  endpoints:\n    - {{name: other, url: '{}', local: true}}\n",
        other.url(false)
    );
    router.register("neighbour", Some("127.0.0.3"), None, &other_policy);
    assert_eq!(router.client("127.0.0.3").chat(PUBLIC).await.status, 200);
    drop(held);
    // And after all of it, the same sandbox is served again once its connections are gone.
    let body = json!({"model": "m", "messages": [{"role": "user", "content": PUBLIC}]}).to_string();
    let request = head(Some(body.len()), "") + &body;
    let mut reply = String::new();
    for _ in 0..30 {
        reply = raw(&client, request.as_bytes(), wait).await;
        if !reply.starts_with("HTTP/1.1 429") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(local.count(), 2, "no hostile request reached the endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_the_classifier_cannot_vouch_for_is_restricted() {
    let cloud_id = Identity::self_signed();
    let cloud = StandIn::tls("cloud", Answer::Json, &cloud_id).await;
    let local = StandIn::plain("local", Answer::Json).await;
    let mut config = RouterConfig::default();
    config.limits.scan_max_bytes = 1024;
    let router = Router::start(config, &[]).await;
    let policy = format!(
        "privacyRouter:
  endpoints:
    - {{name: local, url: '{}', local: true}}
    - {{name: cloud, url: '{}', spkiPins: ['{}']}}
  routes:
    public: [cloud]
    restricted: [local]
",
        local.url(false),
        cloud.url(true),
        cloud_id.pin
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    assert_eq!(client.chat(PUBLIC).await.endpoint(), Some("cloud"));
    // Public text, but more than the classifier scans.
    let long = PUBLIC.repeat(100);
    assert_eq!(client.chat(&long).await.endpoint(), Some("local"));
    // An image the detectors cannot read; token ids for an embedding.
    let image = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": PUBLIC},
        {"type": "image_url", "image_url": {"url": "https://example.com/scan.png"}}
    ]}]});
    let answer = client
        .post_with("/v1/chat/completions", image.to_string().as_bytes(), &[])
        .await;
    assert_eq!(answer.endpoint(), Some("local"));
    let tokens = json!({"model": "m", "input": [[9906, 1917]]});
    let answer = client
        .post_with("/v1/embeddings", tokens.to_string().as_bytes(), &[])
        .await;
    assert_eq!(answer.endpoint(), Some("local"));
    assert_eq!(local.received()[2].path, "/v1/embeddings");
    assert_eq!(cloud.count(), 1);
    let reasons: Vec<String> = router
        .trail_events()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons[1].contains("fail-closed") && reasons[1].contains("exceeds"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("image_url"), "{}", reasons[2]);
    assert!(reasons[3].contains("token ids"), "{}", reasons[3]);
}
