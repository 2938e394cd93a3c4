//! `PrivacyRouterPolicy`: which model endpoint may see a request, by data sensitivity and
//! residency.
//!
//! ```yaml
//! privacyRouter:                  # or apiVersion/kind: PrivacyRouterPolicy/metadata/spec
//!   endpoints:                    # optional: without it, names are resolved by node config
//!     - name: local-nemotron
//!       url: http://nemotron.internal:8000/v1
//!       local: true               # on-premises: may receive confidential/restricted data
//!       region: EU
//!     - name: cloud-eu
//!       url: https://api.cloud.example/v1
//!       region: EU
//!       spkiPins: ["sha256:<64 hex digits of the SHA-256 of the server's SubjectPublicKeyInfo>"]
//!       cost: 2.5                 # price per million tokens, to compare endpoints (optional)
//!   routes:                       # endpoints per sensitivity, in order of preference
//!     restricted: [local-nemotron]
//!     confidential: [local-nemotron]
//!     internal: [cloud-eu]
//!     public: [cloud-eu, local-nemotron]
//!   residencyRules:
//!     - region: EU
//!       dataTypes: [personalData, financialData]
//!       allowedEndpoints: [eu-west-1-local, eu-central-1-local]
//!   fallback: local-only          # local-only (default) | deny
//!   redaction:                    # optional: replace data before it leaves
//!     dataTypes: [personalData]   # or [all]
//!     endpoints: non-local        # non-local (default) | all
//!   preference: balanced          # balanced (default) | latency | cost
//! ```
//!
//! **Redaction.** With `redaction`, every value of the listed data types that the detectors
//! find in a request bound for an endpoint `endpoints` covers (`non-local`: every endpoint that
//! is not `local`; `all`: every endpoint) is replaced by a typed placeholder (`[EMAIL_1]`, the
//! same value giving the same placeholder throughout the request) and restored in the answer,
//! streamed answers included. Such an endpoint is checked — sensitivity, residency — against
//! what it receives: a request whose only sensitive content is redacted personal data may go
//! to a cloud endpoint the route for the redacted content's level names. Content that cannot
//! be redacted (unscannable parts, data the detectors find only across values) keeps those
//! endpoints out.
//!
//! **Preference.** Among the compliant endpoints that are up, the router ranks by what it has
//! observed (latency of the answer's head, error rate) and by `cost`, weighted by `preference`;
//! endpoints scoring within a margin of the best count as equal and the route's order decides
//! between them, so with nothing measured and no costs the first allowed endpoint is chosen.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::Metadata;
use crate::located::Located;
pub use crate::wire::{DataType, DataTypeSet, Sensitivity};
use crate::yaml::HINT_SEPARATOR;

/// A `PrivacyRouterPolicy` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrivacyRouterPolicy {
    /// Name and labels.
    pub metadata: Metadata,
    /// The routing rules.
    pub spec: PrivacyRouterSpec,
}

/// `spec` of a `PrivacyRouterPolicy` (also the body of a bare `privacyRouter:` block).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrivacyRouterSpec {
    /// The document name; only in the bare-block form.
    #[serde(default, skip_serializing)]
    pub name: Option<Located<String>>,
    /// Model endpoints this policy names; empty = names resolved by the node configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<ModelEndpoint>,
    /// Endpoints allowed per sensitivity, in order of preference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<Located<Sensitivity>, Vec<Located<String>>>,
    /// Where data of given types may be processed.
    #[serde(default)]
    pub residency_rules: Vec<ResidencyRule>,
    /// What to do when no allowed endpoint is available.
    #[serde(default)]
    pub fallback: Located<Fallback>,
    /// Data replaced by placeholders before a request leaves for some endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
    /// How allowed endpoints are ranked (default `balanced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preference: Option<Located<Preference>>,
}

/// `redaction`: which data is replaced by placeholders, for which endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Redaction {
    /// The data replaced: `[all]` or data types (`personalData`, `credentials`, …).
    pub data_types: Located<Vec<Located<DataSelector>>>,
    /// The endpoints that receive the redacted request.
    #[serde(default)]
    pub endpoints: Located<RedactionEndpoints>,
}

impl Redaction {
    /// The data types replaced.
    pub fn types(&self) -> DataTypeSet {
        self.data_types
            .value
            .iter()
            .fold(DataTypeSet::NONE, |set, t| set.with(t.value.types()))
    }
}

/// `redaction.endpoints`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RedactionEndpoints {
    /// Endpoints that are not `local`.
    #[default]
    NonLocal,
    /// Every endpoint, local ones included.
    All,
}

/// `preference`: what ranks the allowed endpoints that are up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Preference {
    /// Observed latency and errors and `cost`, weighted equally.
    #[default]
    Balanced,
    /// Observed latency and errors only.
    Latency,
    /// `cost` first; latency and errors weigh a quarter.
    Cost,
}

/// A model endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelEndpoint {
    /// Name used in routes and residency rules.
    pub name: Located<String>,
    /// OpenAI-compatible base URL.
    pub url: Located<String>,
    /// Runs on premises (eligible for confidential and restricted data).
    #[serde(default)]
    pub local: Located<bool>,
    /// Region it processes data in (`EU`, `US`, `CN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Located<String>>,
    /// Accepted server keys (`sha256:<hex>` of the SubjectPublicKeyInfo); empty = CA trust only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spki_pins: Vec<Located<SpkiPin>>,
    /// Price per million tokens (any one currency across the policy), to rank endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Located<f64>>,
}

/// One residency rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResidencyRule {
    /// The jurisdiction (`EU`, `CN`).
    pub region: Located<String>,
    /// Data the rule applies to.
    pub data_types: Vec<Located<DataSelector>>,
    /// The only endpoints such data may go to.
    pub allowed_endpoints: Vec<Located<String>>,
}

/// The data a residency rule covers: every type (`all`), or one [`DataType`] in its policy
/// spelling (`personalData`, `financialData`, `paymentCardData`, `healthData`, `credentials`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataSelector {
    /// Every type.
    All,
    /// One type (for `financialData`, payment cards included: they are tagged financial too).
    Only(DataType),
}

impl DataSelector {
    /// The types selected.
    pub fn types(self) -> DataTypeSet {
        match self {
            DataSelector::All => DataTypeSet::ALL,
            DataSelector::Only(data_type) => data_type.set(),
        }
    }
}

impl fmt::Display for DataSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSelector::All => f.write_str("all"),
            DataSelector::Only(data_type) => f.write_str(data_type.policy_name()),
        }
    }
}

impl<'de> Deserialize<'de> for DataSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "all" {
            return Ok(DataSelector::All);
        }
        DataType::from_policy_name(&text)
            .map(DataSelector::Only)
            .ok_or_else(|| {
                let names: Vec<&str> = DataType::ALL.iter().map(|t| t.policy_name()).collect();
                de::Error::custom(format!(
                    "unknown data type '{text}'{HINT_SEPARATOR}write all or one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl Serialize for DataSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `fallback`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Use a local endpoint.
    #[default]
    LocalOnly,
    /// Refuse the request.
    Deny,
}

/// A SHA-256 pin of a server's SubjectPublicKeyInfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpkiPin(pub [u8; 32]);

impl SpkiPin {
    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<Self, PinError> {
        let hex = text
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64 && hex.is_ascii())
            .ok_or_else(|| PinError::Shape(text.to_owned()))?;
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16)
                .map_err(|_| PinError::NotHex(text.to_owned()))?;
        }
        Ok(SpkiPin(bytes))
    }
}

/// A pin [`SpkiPin::parse`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not `sha256:` and 64 characters.
    #[error("'{0}' is not sha256:<64 hex digits>")]
    Shape(String),
    /// A character that is not a hex digit.
    #[error("'{0}' has a non-hex digit")]
    NotHex(String),
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl<'de> Deserialize<'de> for SpkiPin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SpkiPin::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}pin the SHA-256 of the key, e.g. from `openssl x509 \
                 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`"
            ))
        })
    }
}

impl Serialize for SpkiPin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip() {
        let text = format!("sha256:{}", "0a".repeat(32));
        let pin = SpkiPin::parse(&text).unwrap();
        assert_eq!(pin.0, [10; 32]);
        assert_eq!(pin.to_string(), text);
        assert!(SpkiPin::parse("sha256:00").is_err());
        assert!(SpkiPin::parse(&format!("sha1:{}", "0a".repeat(32))).is_err());
        assert!(SpkiPin::parse(&format!("sha256:{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn data_selectors_use_the_policy_spelling() {
        let read = |text: &str| serde_json::from_value::<DataSelector>(serde_json::json!(text));
        assert_eq!(read("all").unwrap(), DataSelector::All);
        assert_eq!(
            read("paymentCardData").unwrap(),
            DataSelector::Only(DataType::PaymentCard)
        );
        let error = read("personal").unwrap_err().to_string();
        assert!(error.contains("unknown data type 'personal'"), "{error}");
        assert!(error.contains("personalData, financialData"), "{error}");
        assert_eq!(
            DataSelector::Only(DataType::Health).to_string(),
            "healthData"
        );
        assert!(DataSelector::All.types().contains(DataType::Credentials));
    }
}
