//! `ApiCatalog`: what an API name means on the wire, so `allowedAPIs`/`deniedAPIs` can be
//! enforced on real HTTP traffic by the egress engine.
//!
//! ```yaml
//! apiVersion: openshell.nvidia.com/v1
//! kind: ApiCatalog
//! metadata:
//!   name: example-apis
//! spec:
//!   apis:
//!     crm.read:
//!       - methods: [GET]
//!         host: crm.example.test
//!         path: /api/v1/customers/**
//! ```
//!
//! API names are concrete dotted names (no wildcards); policies use `crm.*` to cover a family.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::located::Located;
use crate::patterns::{DomainPattern, HttpMethod, PathPattern};
use crate::request_path::RequestPath;

/// An `ApiCatalog` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiCatalog {
    /// Name and labels.
    pub metadata: Metadata,
    /// The catalog.
    pub spec: ApiCatalogSpec,
}

/// `spec` of an `ApiCatalog`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiCatalogSpec {
    /// API name → the requests that make it up.
    pub apis: BTreeMap<Located<String>, Vec<ApiEndpoint>>,
}

/// Requests that belong to an API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiEndpoint {
    /// HTTP methods (at least one).
    pub methods: Vec<Located<HttpMethod>>,
    /// Host pattern.
    pub host: Located<DomainPattern>,
    /// Path pattern.
    pub path: Located<PathPattern>,
}

impl ApiCatalog {
    /// The names of the APIs a request (method, host, normalised path) belongs to.
    pub fn apis_for(&self, method: HttpMethod, host: &str, path: &RequestPath) -> Vec<&str> {
        self.spec.apis_for(Some(method), host, path)
    }
}

impl ApiCatalogSpec {
    /// The names of the APIs a request belongs to: the one matcher every component that
    /// enforces API permissions uses. A method the policy language cannot name (`None`)
    /// matches on host and path alone, so an unusual method cannot slip past a denial.
    pub fn apis_for(
        &self,
        method: Option<HttpMethod>,
        host: &str,
        path: &RequestPath,
    ) -> Vec<&str> {
        self.apis
            .iter()
            .filter(|(_, endpoints)| {
                endpoints.iter().any(|endpoint| {
                    method.is_none_or(|m| endpoint.methods.iter().any(|e| e.value == m))
                        && endpoint.host.matches(host)
                        && endpoint.path.matches(path)
                })
            })
            .map(|(name, _)| name.value.as_str())
            .collect()
    }
}
