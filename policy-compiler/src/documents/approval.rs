//! `ApprovalPolicy`: which actions wait for a human, who is asked, and what happens on silence.
//!
//! The write-up gives it as a JavaScript object; its YAML form is:
//!
//! ```yaml
//! approvalPolicy:                 # or apiVersion/kind: ApprovalPolicy/metadata/spec
//!   triggers:
//!     - {action: data.delete, threshold: always}
//!     - {action: email.send, threshold: external-only}
//!     - {action: payment.process, threshold: above-100-usd}
//!   channels: [slack, teams, pagerduty]
//!   timeout: 15m
//!   defaultAction: deny           # on timeout; deny (default) | allow
//! ```
//!
//! Channel names are resolved by the node configuration (webhook URLs, credentials).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::Metadata;
use crate::located::Located;
use crate::patterns::ApiPattern;
use crate::quantity::Timeout;
use crate::yaml::HINT_SEPARATOR;

/// An `ApprovalPolicy` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalPolicy {
    /// Name and labels.
    pub metadata: Metadata,
    /// The workflow.
    pub spec: ApprovalSpec,
}

/// `spec` of an `ApprovalPolicy` (also the body of a bare `approvalPolicy:` block).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalSpec {
    /// The document name; only in the bare-block form.
    #[serde(default, skip_serializing)]
    pub name: Option<Located<String>>,
    /// Actions that need approval.
    #[serde(default)]
    pub triggers: Vec<ApprovalTrigger>,
    /// Where requests are posted.
    #[serde(default)]
    pub channels: Vec<Located<String>>,
    /// How long to wait for an answer.
    pub timeout: Located<Timeout>,
    /// The answer when nobody answers in time.
    #[serde(default)]
    pub default_action: Located<ApprovalDefault>,
}

/// One trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalTrigger {
    /// The action (`data.delete`, `infra.*`).
    pub action: Located<ApiPattern>,
    /// When it needs approval. An amount threshold also holds when the call names no amount
    /// (in its fields or its text) and is not an update: a payment of unknown size is not
    /// known to be below it.
    pub threshold: Located<Threshold>,
}

/// When a triggered action needs approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// `always`.
    Always,
    /// `external-only`: when it leaves the organisation (external recipients or hosts).
    ExternalOnly,
    /// `above-<N>-usd`: when the amount exceeds N US dollars (kept in cents).
    AboveUsdCents(u64),
}

impl Threshold {
    /// Parses `always`, `external-only` or `above-<N>-usd` (N may have two decimals).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "always" => return Ok(Threshold::Always),
            "external-only" => return Ok(Threshold::ExternalOnly),
            _ => {}
        }
        let amount = text
            .strip_prefix("above-")
            .and_then(|rest| rest.strip_suffix("-usd"))
            .ok_or_else(|| format!("'{text}' is not a threshold"))?;
        let (dollars, cents) = amount.split_once('.').unwrap_or((amount, "00"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(dollars) || !digits(cents) || cents.len() != 2 {
            return Err(format!(
                "'{text}' does not give an amount like above-100-usd"
            ));
        }
        let cents = dollars
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(100))
            .and_then(|d| d.checked_add(cents.parse().ok()?))
            .ok_or_else(|| format!("'{text}' is too large"))?;
        Ok(Threshold::AboveUsdCents(cents))
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Always => f.write_str("always"),
            Threshold::ExternalOnly => f.write_str("external-only"),
            Threshold::AboveUsdCents(cents) if cents % 100 == 0 => {
                write!(f, "above-{}-usd", cents / 100)
            }
            Threshold::AboveUsdCents(cents) => {
                write!(f, "above-{}.{:02}-usd", cents / 100, cents % 100)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Threshold::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}use always, external-only or above-<N>-usd \
                 (e.g. above-100-usd)"
            ))
        })
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `defaultAction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalDefault {
    /// Refuse the action.
    #[default]
    Deny,
    /// Let it happen.
    Allow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(Threshold::parse("always"), Ok(Threshold::Always));
        assert_eq!(
            Threshold::parse("external-only"),
            Ok(Threshold::ExternalOnly)
        );
        assert_eq!(
            Threshold::parse("above-100-usd"),
            Ok(Threshold::AboveUsdCents(10_000))
        );
        assert_eq!(
            Threshold::parse("above-99.50-usd"),
            Ok(Threshold::AboveUsdCents(9_950))
        );
        for bad in [
            "above--usd",
            "above-1.5-usd",
            "above-x-usd",
            "sometimes",
            "above-100",
        ] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Threshold::AboveUsdCents(9_950).to_string(),
            "above-99.50-usd"
        );
        assert_eq!(
            Threshold::AboveUsdCents(10_000).to_string(),
            "above-100-usd"
        );
    }
}
