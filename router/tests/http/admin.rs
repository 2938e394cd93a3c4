//! The admin API over its unix socket, and both APIs against their OpenAPI documents.

use openshell_router::RouterConfig;
use serde_json::{Value, json};

use crate::support::*;

fn documented(file: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(format!("{}/openapi/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let spec: Value = serde_saphyr::from_str(&text).unwrap();
    let mut routes = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

fn served(routes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = routes
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routes.sort();
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_routes_match_the_openapi_documents() {
    assert_eq!(
        documented("front.yaml"),
        served(openshell_router::proxy::ROUTES)
    );
    assert_eq!(
        documented("admin.yaml"),
        served(openshell_router::admin::ROUTES)
    );
    // Every admin route exists (neither 405 nor the fallback), an undocumented one is 404.
    let router = Router::start(RouterConfig::default(), &[]).await;
    for (method, path) in served(openshell_router::admin::ROUTES) {
        let path = path.replace("{id}", "some-id");
        let (status, text) = router
            .admin(&method.to_uppercase(), &path, Some("{}"))
            .await;
        assert_ne!(status, 405, "{method} {path}");
        assert!(!text.contains("no such route"), "{method} {path}: {text}");
    }
    let (status, _) = router.admin("GET", "/v1/nothing", None).await;
    assert_eq!(status, 404);
    let client = router.client("127.0.0.1");
    for (method, path) in served(openshell_router::proxy::ROUTES) {
        let answer = if method == "get" {
            client.get(&path, &[]).await
        } else {
            client.post_with(&path, b"{}", &[]).await
        };
        assert_ne!(answer.status, 405, "{method} {path}");
        assert_ne!(answer.status, 404, "{method} {path}");
    }
    assert_eq!(client.get("/v1/files", &[]).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_registers_reports_and_reloads() {
    let local = StandIn::plain("local", Answer::Json).await;
    let config = RouterConfig {
        base_url: Some("http://10.200.0.1:4000/v1".into()),
        ..RouterConfig::default()
    };
    let router = Router::start(config, &[]).await;
    let (status, text) = router.admin("GET", "/v1/info", None).await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(info["base_url"], "http://10.200.0.1:4000/v1");
    assert_eq!(info["caller_tokens"], false);
    let (status, _) = router.admin("POST", "/v1/tokens/x", None).await;
    assert_eq!(status, 409);

    // Register through the API (a policy file, as the hook's record would name it).
    let policy = compiled_policy(
        "api-agent",
        &router.audit_file("api-agent"),
        &format!(
            "privacyRouter:\n  endpoints:\n    - {{name: local, url: '{}', local: true}}\n",
            local.url(false)
        ),
    );
    let registration = json!({
        "container_id": "api-agent",
        "bundle": "/b",
        "policy": policy,
        "sandbox": {"sandbox_ip": "127.0.0.4"},
        "registered_at": "2026-11-24T10:00:00Z"
    });
    let (status, text) = router
        .admin(
            "PUT",
            "/v1/callers/api-agent",
            Some(&registration.to_string()),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let (status, _) = router
        .admin(
            "PUT",
            "/v1/callers/other-id",
            Some(&registration.to_string()),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = router.admin("PUT", "/v1/callers/bad", Some("{")).await;
    assert_eq!(status, 400);
    let (_, text) = router.admin("GET", "/v1/callers", None).await;
    let callers: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(callers[0]["container_id"], "api-agent");
    assert_eq!(callers[0]["origin"], "admin-api");
    assert_eq!(callers[0]["router_policy"], "api-agent-policy");
    let client = router.client("127.0.0.4");
    assert_eq!(client.chat(PUBLIC).await.status, 200);
    assert_eq!(router.cache_figure("entries").await, 1);

    // Metrics: decisions by level and endpoint, cache figures, added latency.
    let (_, metrics) = router.admin("GET", "/metrics", None).await;
    for line in [
        "openshell_router_decisions_total{sensitivity=\"public\",endpoint=\"local\",outcome=\"routed\"} 1",
        "openshell_router_classification_cache_misses_total 1",
        "openshell_router_added_seconds_count 1",
        "openshell_router_callers 1",
        "openshell_router_endpoint_up{endpoint=\"local\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    let (_, health) = router.admin("GET", "/healthz", None).await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["callers"].as_u64(), health["endpoints"].as_u64()),
        (Some(1), Some(1))
    );

    // Reload: a broken file is refused and the configuration in force stays; a good one
    // clears the cache and keeps API registrations.
    std::fs::write(router.config_path(), "[limits]\nmax_body = 1\n").unwrap();
    let (status, text) = router.admin("POST", "/v1/reload", None).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("router.toml") && text.contains("2:1"),
        "{text}"
    );
    assert_eq!(client.chat(PUBLIC).await.status, 200);
    std::fs::write(
        router.config_path(),
        format!(
            "registry_dir = {:?}\nbase_url = \"http://10.200.0.1:4001/v1\"\n",
            router.dir.path().join("registry")
        ),
    )
    .unwrap();
    let (status, text) = router.admin("POST", "/v1/reload", None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(router.cache_figure("entries").await, 0);
    let (_, text) = router.admin("GET", "/v1/info", None).await;
    assert!(text.contains("4001"), "{text}");
    assert_eq!(client.chat(PUBLIC).await.status, 200);

    let (status, _) = router.admin("DELETE", "/v1/callers/api-agent", None).await;
    assert_eq!(status, 204);
    let (status, _) = router.admin("DELETE", "/v1/callers/api-agent", None).await;
    assert_eq!(status, 404);
    assert_eq!(client.chat(PUBLIC).await.status, 403);
}
