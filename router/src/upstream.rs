//! Connections to model endpoints: one pooled hyper client per endpoint, TLS by the endpoint's
//! own rustls configuration (pins or Web PKI), a connect timeout that covers the TLS handshake,
//! and the endpoint's health.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openshell_service_http::error_chain;

use crate::config::HealthSettings;
use crate::endpoint::EndpointSpec;
use crate::health::Health;
use crate::selection::Observed;
use crate::tls::{TlsContext, TlsError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an upstream request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// No connection (refused, unreachable, TLS refused or pin mismatch, connect timeout): the
    /// request was not sent, and another allowed endpoint may be tried.
    Connect(String),
    /// The endpoint did not answer with a response head in time.
    Timeout(Duration),
    /// The exchange failed after the request was sent.
    Exchange(String),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(m) => write!(f, "cannot connect: {m}"),
            UpstreamError::Timeout(d) => write!(f, "no response within {d:?}"),
            UpstreamError::Exchange(m) => write!(f, "exchange failed: {m}"),
        }
    }
}

/// One endpoint: its definition, connection pool and health.
pub struct Upstream {
    /// The definition.
    pub spec: EndpointSpec,
    /// Its health.
    pub health: Health,
    /// Its observed latency and errors.
    pub observed: Observed,
    client: Client<TimeoutConnector<HttpsConnector<HttpConnector>>, Full<Bytes>>,
}

/// An endpoint URL that is not a valid URI.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {source}")]
pub struct InvalidTarget {
    /// The URL.
    pub url: String,
    /// Why it is not a URI.
    pub source: hyper::http::uri::InvalidUri,
}

impl Upstream {
    /// Sets up the endpoint's client: https endpoints only ever speak TLS with their own
    /// verifier; http (local) endpoints never do.
    pub fn new(
        spec: EndpointSpec,
        tls: &TlsContext,
        connect_timeout: Duration,
    ) -> Result<Upstream, TlsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = if spec.is_https() {
            HttpsConnectorBuilder::new()
                .with_tls_config(tls.client_config(&spec.pins)?)
                .https_only()
                .enable_http1()
                .wrap_connector(http)
        } else {
            // The builder wants a TLS configuration even for plain http; this one is never
            // used, and refuses every server if it were.
            HttpsConnectorBuilder::new()
                .with_tls_config(tls.refusing_config()?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(TimeoutConnector {
                inner: connector,
                timeout: connect_timeout,
            });
        Ok(Upstream {
            spec,
            health: Health::default(),
            observed: Observed::default(),
            client,
        })
    }

    /// The endpoint's URL for an API path below `/v1` (`/chat/completions`).
    pub fn target(&self, api_path: &str) -> Result<Uri, InvalidTarget> {
        let url = format!("{}{api_path}", self.spec.base);
        url.parse().map_err(|source| InvalidTarget { url, source })
    }

    /// Sends `request`, waiting at most `timeout` for the response head.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout(timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Connect(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Exchange(error_chain(&e))),
        }
    }

    /// Probes a down endpoint with `GET <base>/models`: any HTTP answer means it is reachable
    /// (and, for https, that it presented an acceptable key).
    pub async fn probe(&self, timeout: Duration, health: &HealthSettings) {
        let Ok(uri) = self.target("/models") else {
            return;
        };
        let mut request = Request::get(uri);
        if let Some(credential) = &self.spec.credential {
            request = request.header(hyper::header::AUTHORIZATION, credential.header_value());
        }
        let Ok(request) = request.body(Full::new(Bytes::new())) else {
            return;
        };
        match self.send(request, timeout).await {
            Ok(_) => self.health.succeeded(),
            Err(e) => self.health.failed(e.to_string(), health),
        }
    }
}

/// Applies one timeout to a whole connection attempt, TCP connect and TLS handshake together.
#[derive(Clone)]
struct TimeoutConnector<C> {
    inner: C,
    timeout: Duration,
}

impl<C> tower_service::Service<Uri> for TimeoutConnector<C>
where
    C: tower_service::Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
    C::Response: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.timeout;
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(format!("connection not established within {timeout:?}").into()),
            }
        })
    }
}

/// Every endpoint in use, shared by the policies that name the same definition.
#[derive(Default)]
pub struct UpstreamPool {
    upstreams: Mutex<HashMap<EndpointSpec, Arc<Upstream>>>,
}

impl UpstreamPool {
    /// The endpoint for `spec`, set up on first use.
    pub fn get(
        &self,
        spec: &EndpointSpec,
        tls: &TlsContext,
        connect_timeout: Duration,
    ) -> Result<Arc<Upstream>, TlsError> {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(upstream) = upstreams.get(spec) {
            return Ok(Arc::clone(upstream));
        }
        let upstream = Arc::new(Upstream::new(spec.clone(), tls, connect_timeout)?);
        upstreams.insert(spec.clone(), Arc::clone(&upstream));
        Ok(upstream)
    }

    /// Every endpoint, sorted by name.
    pub fn all(&self) -> Vec<Arc<Upstream>> {
        let upstreams = self.upstreams.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Arc<Upstream>> = upstreams.values().cloned().collect();
        all.sort_by(|a, b| {
            a.spec
                .name
                .cmp(&b.spec.name)
                .then(a.spec.base.cmp(&b.spec.base))
        });
        all
    }

    /// Forgets endpoints no policy uses any more.
    pub fn prune(&self) {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|p| p.into_inner());
        upstreams.retain(|_, upstream| Arc::strong_count(upstream) > 1);
    }

    /// Forgets every endpoint (configuration reload: TLS trust or credentials may differ).
    pub fn clear(&self) {
        self.upstreams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
