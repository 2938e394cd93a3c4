//! Model endpoints as the router uses them: a policy's `endpoints` (or the configuration's
//! node-wide ones) resolved with the credential and model name the configuration gives.

use std::fmt;

use hyper::header::HeaderValue;
use openshell_policy::{ModelEndpoint, SpkiPin};

use crate::config::EndpointConfig;
use crate::error::RouterError;

/// Looks up an environment variable (the binary passes `std::env::var`; tests pass a map).
pub type EnvLookup = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// An endpoint's credential: the `Authorization` value injected upstream (marked sensitive, so
/// it never prints).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credential(HeaderValue);

/// An API key that cannot be sent in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API key holds characters a header cannot carry")]
pub struct UnsendableKey;

impl Credential {
    /// `Bearer <key>`.
    pub fn bearer(key: &str) -> Result<Credential, UnsendableKey> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| UnsendableKey)?;
        value.set_sensitive(true);
        Ok(Credential(value))
    }

    /// The header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(***)")
    }
}

/// A resolved endpoint definition. Two policies naming an endpoint with the same definition
/// share its connection pool and health.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointSpec {
    /// The name routes and residency rules use.
    pub name: String,
    /// The base URL without a trailing slash (`https://api.example.com/v1`).
    pub base: String,
    /// On premises: eligible for confidential and restricted data.
    pub local: bool,
    /// Region it processes data in.
    pub region: Option<String>,
    /// Accepted server keys; empty = Web PKI.
    pub pins: Vec<SpkiPin>,
    /// The model name requests carry to this endpoint, replacing the caller's.
    pub model: Option<String>,
    /// The credential injected upstream.
    pub credential: Option<Credential>,
}

impl EndpointSpec {
    /// Whether the endpoint is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// A node-wide endpoint from the configuration; its `api_key_env` must be set.
    pub fn from_config(config: &EndpointConfig, env: &EnvLookup) -> Result<Self, RouterError> {
        let credential = match &config.api_key_env {
            Some(var) => {
                let key =
                    env(var)
                        .filter(|k| !k.is_empty())
                        .ok_or_else(|| RouterError::Endpoint {
                            endpoint: config.name.clone(),
                            message: format!("api_key_env {var} is not set"),
                        })?;
                Some(
                    Credential::bearer(&key).map_err(|message| RouterError::Endpoint {
                        endpoint: config.name.clone(),
                        message: format!("{var}: {message}"),
                    })?,
                )
            }
            None => None,
        };
        Ok(EndpointSpec {
            name: config.name.clone(),
            base: config.url.trim_end_matches('/').to_owned(),
            local: config.local,
            region: config.region.clone(),
            pins: config.spki_pins.clone(),
            model: config.model.clone(),
            credential,
        })
    }

    /// An endpoint a policy defines. The policy decides where data may go (URL, `local`,
    /// region, pins); the configuration's endpoint of the same name lends its credential and
    /// model name only when it points at the same URL, so a policy cannot send the node's
    /// credentials elsewhere.
    pub fn from_policy(endpoint: &ModelEndpoint, node_wide: &[EndpointSpec]) -> EndpointSpec {
        let base = endpoint.url.value.trim_end_matches('/').to_owned();
        let lent = node_wide
            .iter()
            .find(|e| e.name == endpoint.name.value && e.base == base);
        EndpointSpec {
            name: endpoint.name.value.clone(),
            base,
            local: endpoint.local.value,
            region: endpoint.region.as_ref().map(|r| r.value.clone()),
            pins: endpoint.spki_pins.iter().map(|p| p.value).collect(),
            model: lent.and_then(|e| e.model.clone()),
            credential: lent.and_then(|e| e.credential.clone()),
        }
    }
}
