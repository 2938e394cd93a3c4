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
//!     payment.process:
//!       - methods: [POST]
//!         host: payments.example.test
//!         path: /v1/charges
//!         fields:                 # where the decision service finds the action's facts
//!           amount: /amount       # a JSON pointer into the body, query:NAME or form:NAME
//!           currency: /currency
//!           destination: /recipient
//!           minorUnits: true      # the amount is in cents
//! ```
//!
//! API names are concrete dotted names (no wildcards); policies use `crm.*` to cover a family.

use std::collections::BTreeMap;

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::Metadata;
use crate::located::Located;
use crate::patterns::{DomainPattern, HttpMethod, PathPattern};
use crate::request_path::RequestPath;
use crate::yaml::HINT_SEPARATOR;

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
    /// Where the request carries the action's facts (amount, currency, recipient), for
    /// decisions on each call (approval thresholds, natural-language rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<ApiFields>,
}

/// Where a request carries an action's facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiFields {
    /// The amount of money the call moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Located<FieldSource>>,
    /// Its ISO 4217 currency (USD when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Located<FieldSource>>,
    /// Where the data or money goes (an email address, account, host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Located<FieldSource>>,
    /// What the call acts on (a record id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Located<FieldSource>>,
    /// Whether `amount` is in minor units (cents), as card processors write it.
    #[serde(default)]
    pub minor_units: bool,
}

/// Where one fact is read from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldSource {
    /// A JSON pointer into a JSON body (`/amount`, `/payment/amount`).
    Body(String),
    /// A query-string parameter (`query:amount`).
    Query(String),
    /// A form-encoded body parameter (`form:amount`).
    Form(String),
}

impl FieldSource {
    /// Parses `/pointer`, `query:NAME` or `form:NAME`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with('/') {
            return Ok(FieldSource::Body(text.to_owned()));
        }
        let named = |name: &str| !name.is_empty() && !name.contains(['&', '=', '#']);
        match text.split_once(':') {
            Some(("query", name)) if named(name) => Ok(FieldSource::Query(name.to_owned())),
            Some(("form", name)) if named(name) => Ok(FieldSource::Form(name.to_owned())),
            _ => Err(format!("'{text}' is not a field source")),
        }
    }

    /// The value in a request: its body (JSON or form-encoded) and query string.
    pub fn read(
        &self,
        body: Option<&serde_json::Value>,
        form: &[(String, String)],
        query: Option<&str>,
    ) -> Option<String> {
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            _ => None,
        };
        match self {
            FieldSource::Body(pointer) => body.and_then(|b| b.pointer(pointer)).and_then(text),
            FieldSource::Form(name) => form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            FieldSource::Query(name) => query.and_then(|q| {
                form_pairs(q)
                    .into_iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v)
            }),
        }
    }
}

/// The `name=value` pairs of a query string or form-encoded body, percent-decoded.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

impl fmt::Display for FieldSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldSource::Body(pointer) => f.write_str(pointer),
            FieldSource::Query(name) => write!(f, "query:{name}"),
            FieldSource::Form(name) => write!(f, "form:{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for FieldSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FieldSource::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}write a JSON pointer into the body (/amount), \
                 query:NAME or form:NAME"
            ))
        })
    }
}

impl Serialize for FieldSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
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

    /// Where the endpoint of `api` that a request matches carries the action's facts.
    pub fn fields_for(
        &self,
        api: &str,
        method: Option<HttpMethod>,
        host: &str,
        path: &RequestPath,
    ) -> Option<&ApiFields> {
        let (_, endpoints) = self.apis.iter().find(|(name, _)| name.value == api)?;
        endpoints
            .iter()
            .find(|endpoint| {
                method.is_none_or(|m| endpoint.methods.iter().any(|e| e.value == m))
                    && endpoint.host.matches(host)
                    && endpoint.path.matches(path)
            })
            .and_then(|endpoint| endpoint.fields.as_ref())
    }
}
