//! Intent classification by the model backend, cached, validated, with the embedded engine as
//! floor and fallback.
//!
//! The model sees the action with its data redacted (`[REDACTED:payment-card]` keeps the type,
//! drops the value) and must answer with JSON under [`verdict_schema`]. Its answer is parsed
//! into typed values (unknown fields and values rejected) and merged with the embedded
//! detectors: the model may raise sensitivity, add data types and frameworks, and decide
//! reversibility and scope, but never lowers sensitivity below what the content detectors found
//! nor drops a data type or framework they found; the injected instructions are the detectors'.
//! Any failure — transport, timeout, invalid
//! output — yields the embedded engine's answer with `fallback` set, which the service audits.

use std::time::Duration;

use openshell_classifier::redact_json;
use openshell_policy::node_config::ModelSettings;
use openshell_policy::wire::{
    ActionRequest, Assessment, ComplianceAssessment, ComplianceFramework, DataType,
    DataTypeAssessment, Evidence, IntentClassification, Reversibility, Scope, Sensitivity,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cache::TtlCache;
use super::client::{ModelClient, ModelError};
use crate::intent::EmbeddedEngine;

/// The answer the model must give.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelVerdict {
    /// Sensitivity of the data involved.
    pub sensitivity: Sensitivity,
    /// Whether the action can be undone.
    pub reversibility: Reversibility,
    /// How far its effects reach.
    pub scope: Scope,
    /// Frameworks it falls under.
    pub compliance: Vec<ComplianceFramework>,
    /// Data types involved.
    pub data_types: Vec<DataType>,
    /// The model's confidence, 0 to 1.
    pub confidence: f32,
    /// One or two sentences of why.
    pub rationale: String,
}

/// Longest rationale accepted.
pub const MAX_RATIONALE: usize = 400;

/// The JSON schema the model's output is constrained to.
pub fn verdict_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["sensitivity", "reversibility", "scope", "compliance", "data_types", "confidence", "rationale"],
        "properties": {
            "sensitivity": {"type": "string", "enum": ["public", "internal", "confidential", "restricted"]},
            "reversibility": {"type": "string", "enum": ["fully-reversible", "partially-reversible", "irreversible"]},
            "scope": {"type": "string", "enum": ["single", "team", "organization", "external"]},
            "compliance": {"type": "array", "uniqueItems": true, "items": {"type": "string", "enum": ["GDPR", "HIPAA", "SOC2", "PCI-DSS"]}},
            "data_types": {"type": "array", "uniqueItems": true, "items": {"type": "string", "enum": DataType::ALL.map(DataType::as_str)}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE}
        }
    })
}

const SYSTEM_PROMPT: &str = "You classify actions that AI agents ask to perform, for an enterprise security policy engine. \
Judge the data sensitivity (public, internal, confidential, restricted), reversibility, scope \
(single, team, organization, external) and the compliance frameworks (GDPR, HIPAA, SOC2, PCI-DSS) \
that apply. Values shown as [REDACTED:kind] were removed by a detector of that kind. Answer only \
with JSON matching the schema.";

/// Parses and checks a model answer.
pub fn parse_verdict(value: Value) -> Result<ModelVerdict, ModelError> {
    let verdict: ModelVerdict =
        serde_json::from_value(value).map_err(|e| ModelError::Invalid(e.to_string()))?;
    if !(0.0..=1.0).contains(&verdict.confidence) {
        return Err(ModelError::Invalid(format!(
            "confidence {} is outside 0..1",
            verdict.confidence
        )));
    }
    if verdict.rationale.chars().count() > MAX_RATIONALE {
        return Err(ModelError::Invalid(format!(
            "rationale longer than {MAX_RATIONALE} characters"
        )));
    }
    Ok(verdict)
}

/// The model-backed engine.
pub struct ModelEngine {
    client: ModelClient,
    cache: TtlCache<IntentClassification>,
    embedded: EmbeddedEngine,
}

impl ModelEngine {
    /// An engine for the configured model server, falling back to `embedded`.
    pub fn new(settings: &ModelSettings, embedded: EmbeddedEngine) -> ModelEngine {
        ModelEngine {
            client: ModelClient::new(settings),
            cache: TtlCache::new(
                settings.cache_entries,
                Duration::from_secs(settings.cache_ttl_s),
            ),
            embedded,
        }
    }

    /// The embedded engine used as floor and fallback.
    pub fn embedded(&self) -> &EmbeddedEngine {
        &self.embedded
    }

    /// The engine name reported in results: `model:<name>`.
    pub fn engine_name(&self) -> String {
        format!("model:{}", self.client.model())
    }

    /// The cache key of a request: its canonical JSON.
    fn key(request: &ActionRequest) -> String {
        serde_json::to_string(request).unwrap_or_default()
    }

    /// A cached answer, without blocking.
    pub fn cached(&self, request: &ActionRequest) -> Option<IntentClassification> {
        self.cache.get(&ModelEngine::key(request))
    }

    /// Classifies by the model (blocking), falling back to the embedded engine.
    pub fn classify(&self, request: &ActionRequest) -> IntentClassification {
        let key = ModelEngine::key(request);
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let embedded = self.embedded.classify(request);
        match self.ask(request) {
            Ok(verdict) => {
                let merged = merge(
                    &self.engine_name(),
                    verdict,
                    &embedded,
                    &self.embedded,
                    request,
                );
                self.cache.put(key, merged.clone());
                merged
            }
            Err(e) => IntentClassification {
                fallback: Some(format!("{e}; the embedded engine answered")),
                ..embedded
            },
        }
    }

    fn ask(&self, request: &ActionRequest) -> Result<ModelVerdict, ModelError> {
        let mut shown =
            serde_json::to_value(request).map_err(|e| ModelError::Invalid(e.to_string()))?;
        redact_json(&mut shown);
        let user = format!("Classify this action:\n{shown}");
        let answer = self.client.complete_json(
            SYSTEM_PROMPT,
            &user,
            "intent_classification",
            &verdict_schema(),
        )?;
        parse_verdict(answer)
    }
}

/// Merges a model verdict with the detectors' findings (see the module docs).
fn merge(
    engine: &str,
    verdict: ModelVerdict,
    embedded: &IntentClassification,
    embedded_engine: &EmbeddedEngine,
    request: &ActionRequest,
) -> IntentClassification {
    let model_evidence = Evidence {
        field: None,
        detector: engine.to_owned(),
        span: None,
        sample: Some(verdict.rationale.clone()),
        confidence: verdict.confidence,
    };
    let assessed = |confidence: f32| {
        vec![Evidence {
            confidence,
            ..model_evidence.clone()
        }]
    };
    let content_floor = embedded_engine
        .content(request)
        .into_iter()
        .max_by_key(|c| c.sensitivity);
    let sensitivity = match content_floor {
        Some(floor) if floor.sensitivity > verdict.sensitivity => Assessment {
            value: floor.sensitivity,
            confidence: floor.confidence,
            evidence: floor.evidence,
        },
        _ => Assessment {
            value: verdict.sensitivity,
            confidence: verdict.confidence,
            evidence: assessed(verdict.confidence),
        },
    };
    let mut data_types: Vec<DataTypeAssessment> = embedded.data_types.clone();
    for t in verdict.data_types {
        match data_types.iter_mut().find(|d| d.data_type == t) {
            Some(d) => d.evidence.push(model_evidence.clone()),
            None => data_types.push(DataTypeAssessment {
                data_type: t,
                confidence: verdict.confidence,
                evidence: assessed(verdict.confidence),
            }),
        }
    }
    data_types.sort_by_key(|d| d.data_type);
    let mut compliance: Vec<ComplianceAssessment> = embedded.compliance.clone();
    for f in verdict.compliance {
        match compliance.iter_mut().find(|c| c.framework == f) {
            Some(c) => c.evidence.push(model_evidence.clone()),
            None => compliance.push(ComplianceAssessment {
                framework: f,
                confidence: verdict.confidence,
                evidence: assessed(verdict.confidence),
            }),
        }
    }
    compliance.sort_by_key(|c| c.framework);
    IntentClassification {
        sensitivity,
        data_types,
        reversibility: Assessment {
            value: verdict.reversibility,
            confidence: verdict.confidence,
            evidence: assessed(verdict.confidence),
        },
        scope: Assessment {
            value: verdict.scope,
            confidence: verdict.confidence,
            evidence: assessed(verdict.confidence),
        },
        compliance,
        injected_instructions: embedded.injected_instructions.clone(),
        controls_off: embedded.controls_off.clone(),
        engine: engine.to_owned(),
        fallback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_validated() {
        let good = json!({"sensitivity": "internal", "reversibility": "irreversible", "scope": "team",
            "compliance": ["SOC2"], "data_types": [], "confidence": 0.8, "rationale": "r"});
        assert_eq!(parse_verdict(good.clone()).unwrap().scope, Scope::Team);
        let mut extra = good.clone();
        extra["run"] = json!("rm -rf /");
        assert!(parse_verdict(extra).is_err(), "unknown fields are rejected");
        let mut bad = good.clone();
        bad["sensitivity"] = json!("top-secret");
        assert!(parse_verdict(bad).is_err());
        let mut bad = good;
        bad["confidence"] = json!(7);
        assert!(parse_verdict(bad).is_err());
    }

    #[test]
    fn schema_enums_match_the_wire_types() {
        let schema = verdict_schema();
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let wire = |v: Vec<Value>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let p = &schema["properties"];
        assert_eq!(
            names(&p["sensitivity"]["enum"]),
            wire(
                Sensitivity::ALL
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap())
                    .collect()
            )
        );
        assert_eq!(
            names(&p["compliance"]["items"]["enum"]),
            wire(
                ComplianceFramework::ALL
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap())
                    .collect()
            )
        );
        assert_eq!(
            names(&p["data_types"]["items"]["enum"]),
            wire(
                DataType::ALL
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap())
                    .collect()
            )
        );
        for r in [
            Reversibility::FullyReversible,
            Reversibility::PartiallyReversible,
            Reversibility::Irreversible,
        ] {
            assert!(
                names(&p["reversibility"]["enum"]).contains(
                    &serde_json::to_value(r)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                )
            );
        }
        for s in [
            Scope::Single,
            Scope::Team,
            Scope::Organization,
            Scope::External,
        ] {
            assert!(
                names(&p["scope"]["enum"]).contains(
                    &serde_json::to_value(s)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned()
                )
            );
        }
    }
}
