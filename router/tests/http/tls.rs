//! "Cloud with end-to-end encryption": TLS to the endpoint, pinned keys, CA trust.

use openshell_router::RouterConfig;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_endpoint_presenting_another_certificate_is_refused() {
    let expected = Identity::self_signed();
    let impostor = Identity::self_signed();
    let cloud = StandIn::tls("cloud", Answer::Json, &impostor).await;
    let honest = StandIn::tls("honest", Answer::Json, &expected).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    let policy = format!(
        "privacyRouter:
  endpoints:
    - {{name: cloud, url: '{}', spkiPins: ['{}']}}
    - {{name: honest, url: '{}', spkiPins: ['{}']}}
  routes:
    public: [cloud]
    internal: [honest]
  fallback: deny
",
        cloud.url(true),
        expected.pin,
        honest.url(true),
        expected.pin
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    let answer = client.chat(PUBLIC).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("is not pinned for this endpoint"),
        "{message}"
    );
    assert!(
        message.contains(&impostor.pin),
        "names the key it saw: {message}"
    );
    assert!(
        *cloud.connections.lock().unwrap() >= 1,
        "a handshake was attempted"
    );
    assert_eq!(cloud.count(), 0, "the request was not sent");
    // The same pin on the server that holds the key works.
    let answer = client.chat(INTERNAL).await;
    assert_eq!(
        (answer.status.as_u16(), answer.endpoint()),
        (200, Some("honest"))
    );
    assert_eq!(honest.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_endpoints_are_verified_against_the_ca_file() {
    let (ca, leaf) = Identity::ca_and_leaf();
    let trusted = StandIn::tls("trusted", Answer::Json, &leaf).await;
    let stranger = StandIn::tls("stranger", Answer::Json, &Identity::self_signed()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let mut config = RouterConfig::default();
    config.tls.ca_file = ca_file;
    let router = Router::start(config, &[]).await;
    let policy = format!(
        "privacyRouter:
  endpoints:
    - {{name: trusted, url: '{}'}}
    - {{name: stranger, url: '{}'}}
  routes:
    public: [trusted]
    internal: [stranger]
  fallback: deny
",
        trusted.url(true),
        stranger.url(true)
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    let answer = client.chat(PUBLIC).await;
    assert_eq!(
        (answer.status.as_u16(), answer.endpoint()),
        (200, Some("trusted"))
    );
    let answer = client.chat(INTERNAL).await;
    assert_eq!(answer.status, 503);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert_eq!(stranger.count(), 0);
}
