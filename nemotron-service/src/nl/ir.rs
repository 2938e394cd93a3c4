//! The inspectable intermediate form of natural-language policies: rules with subject, effect,
//! actions, conditions and the sentence they came from; and the sentences not understood.
//! Both compilers (grammar, model) produce it; Cedar is generated from it and nothing else.

use openshell_policy::wire::{DataType, Sensitivity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::taxonomy::VerbClass;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allows the action.
    Permit,
    /// Refuses the action.
    Forbid,
    /// Hands the action to a human (a forbid annotated `@decision("escalate")`).
    Escalate,
    /// Data must be redacted (an obligation on logs, not a decision).
    Redact,
}

/// Which decision a rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// An API call by the agent (`OpenShell::Action::"invoke"`).
    Invoke,
    /// The sandbox starting (`OpenShell::Action::"admit"`).
    Admit,
}

/// What a rule acts on (any one matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// The API's service (`crm`).
    Service {
        /// Service name.
        name: String,
    },
    /// API names matching a glob (`billing.*`).
    Api {
        /// The glob.
        glob: String,
    },
    /// The kind of resource acted on (`customer`).
    ResourceKind {
        /// Kind name.
        name: String,
    },
    /// Data of a type, as classified.
    DataType {
        /// The data type.
        data_type: DataType,
    },
    /// Recipients outside the organisation.
    ExternalRecipient,
}

/// A condition on the action (all must hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A fact the caller supplies: `attributes[key] == value` (or not).
    Attribute {
        /// Attribute name (`ticket.status`).
        key: String,
        /// Expected value (`active`).
        value: String,
        /// True for "is not".
        negated: bool,
    },
    /// The channel the action goes through (`ticketing`), or any other channel when negated.
    Channel {
        /// Channel name.
        channel: String,
        /// True for "outside of".
        negated: bool,
    },
    /// The destination is (or is not) outside the organisation.
    DestinationExternal {
        /// Required value.
        external: bool,
    },
    /// The amount exceeds a threshold (in the given currency).
    AmountAbove {
        /// Threshold in currency units.
        amount: f64,
        /// ISO 4217 code.
        currency: String,
    },
    /// The action's data contains a data type.
    ContainsData {
        /// The data type.
        data_type: DataType,
    },
    /// The data is at least this sensitive.
    SensitivityAtLeast {
        /// The level.
        level: Sensitivity,
    },
    /// Admission: the sandbox requests GPUs (or not).
    GpuRequested {
        /// Required value.
        requested: bool,
    },
    /// Admission: the sandbox is privileged (or not).
    Privileged {
        /// Required value.
        privileged: bool,
    },
    /// Admission: the sandbox uses the host's network (or not).
    HostNetwork {
        /// Required value.
        host: bool,
    },
}

impl Condition {
    /// Whether the condition tests an admission (sandbox start) rather than an API call.
    pub fn is_admission(&self) -> bool {
        matches!(
            self,
            Condition::GpuRequested { .. }
                | Condition::Privileged { .. }
                | Condition::HostNetwork { .. }
        )
    }
}

/// Where a rule came from: a span of the policy text, in characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpan {
    /// First character (0-based, Unicode scalar values).
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// The sentence.
    pub text: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlRule {
    /// Stable id: `nl:<document>.<sentence>.<clause>`; the Cedar policy ids derive from it.
    pub id: String,
    /// Who the sentence is about (`customer support agents`).
    pub subject: String,
    /// What the rule does.
    pub effect: Effect,
    /// Which decision it governs.
    pub action: RuleAction,
    /// Verb classes matched (empty: any verb).
    pub verbs: Vec<VerbClass>,
    /// What is acted on (any one; empty: anything).
    pub targets: Vec<Target>,
    /// Conditions (all).
    pub conditions: Vec<Condition>,
    /// "only": the action is also forbidden when the conditions do not hold.
    pub only: bool,
    /// For redaction rules: where the data must be redacted (`internal logs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The sentence it came from.
    pub source: SourceSpan,
}

/// A sentence the compiler did not understand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unparsed {
    /// The sentence.
    pub source: SourceSpan,
    /// Why it was not understood.
    pub reason: String,
}

/// The compiled form of one or more policy texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlPolicyIr {
    /// Rules, in text order.
    pub rules: Vec<NlRule>,
    /// Sentences not understood, in text order.
    pub unparsed: Vec<Unparsed>,
}

/// The JSON schema of a model's answer: the IR's rules and unparsed sentences (ids are
/// assigned by the service, so rules carry none).
pub fn ir_schema() -> Value {
    let string = json!({"type": "string"});
    let boolean = json!({"type": "boolean"});
    let data_type = json!({"type": "string", "enum": DataType::ALL.map(DataType::as_str)});
    let span = json!({
        "type": "object", "additionalProperties": false, "required": ["start", "end", "text"],
        "properties": {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0}, "text": string}
    });
    let variant = |kind: &str, fields: Value| {
        let mut properties = fields.as_object().cloned().unwrap_or_default();
        let mut required: Vec<String> = properties.keys().cloned().collect();
        properties.insert("kind".into(), json!({"const": kind}));
        required.insert(0, "kind".into());
        json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties})
    };
    let target = json!({"anyOf": [
        variant("service", json!({"name": string})),
        variant("api", json!({"glob": string})),
        variant("resource_kind", json!({"name": string})),
        variant("data_type", json!({"data_type": data_type})),
        variant("external_recipient", json!({})),
    ]});
    let condition = json!({"anyOf": [
        variant("attribute", json!({"key": string, "value": string, "negated": boolean})),
        variant("channel", json!({"channel": string, "negated": boolean})),
        variant("destination_external", json!({"external": boolean})),
        variant("amount_above", json!({"amount": {"type": "number", "minimum": 0}, "currency": string})),
        variant("contains_data", json!({"data_type": data_type})),
        variant("sensitivity_at_least", json!({"level": {"type": "string", "enum": ["public", "internal", "confidential", "restricted"]}})),
        variant("gpu_requested", json!({"requested": boolean})),
        variant("privileged", json!({"privileged": boolean})),
        variant("host_network", json!({"host": boolean})),
    ]});
    let verbs: Vec<&str> = VerbClass::ALL.iter().map(|v| v.as_str()).collect();
    json!({
        "type": "object", "additionalProperties": false, "required": ["rules", "unparsed"],
        "properties": {
            "rules": {"type": "array", "items": {
                "type": "object", "additionalProperties": false,
                "required": ["subject", "effect", "action", "verbs", "targets", "conditions", "only", "source"],
                "properties": {
                    "subject": string,
                    "effect": {"type": "string", "enum": ["permit", "forbid", "escalate", "redact"]},
                    "action": {"type": "string", "enum": ["invoke", "admit"]},
                    "verbs": {"type": "array", "items": {"type": "string", "enum": verbs}},
                    "targets": {"type": "array", "items": target},
                    "conditions": {"type": "array", "items": condition},
                    "only": boolean,
                    "location": string,
                    "source": span
                }
            }},
            "unparsed": {"type": "array", "items": {
                "type": "object", "additionalProperties": false, "required": ["source", "reason"],
                "properties": {"source": span, "reason": string}
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_targets_are_tagged_and_strict() {
        let c: Condition = serde_json::from_value(
            json!({"kind": "channel", "channel": "ticketing", "negated": true}),
        )
        .unwrap();
        assert_eq!(
            c,
            Condition::Channel {
                channel: "ticketing".into(),
                negated: true
            }
        );
        assert!(
            serde_json::from_value::<Condition>(
                json!({"kind": "channel", "channel": "x", "negated": true, "exec": 1})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<Target>(json!({"kind": "shell", "cmd": "x"})).is_err());
        let t = serde_json::to_value(Target::ExternalRecipient).unwrap();
        assert_eq!(t, json!({"kind": "external_recipient"}));
    }

    #[test]
    fn schema_variants_match_the_types() {
        let schema = ir_schema();
        let rule = &schema["properties"]["rules"]["items"]["properties"];
        let kinds = |v: &Value| -> Vec<String> {
            v["items"]["anyOf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    x["properties"]["kind"]["const"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let samples_t = [
            Target::Service { name: "x".into() },
            Target::Api { glob: "x".into() },
            Target::ResourceKind { name: "x".into() },
            Target::DataType {
                data_type: DataType::Health,
            },
            Target::ExternalRecipient,
        ];
        let wire_t: Vec<String> = samples_t
            .iter()
            .map(|t| {
                serde_json::to_value(t).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(kinds(&rule["targets"]), wire_t);
        let samples_c = [
            Condition::Attribute {
                key: "k".into(),
                value: "v".into(),
                negated: false,
            },
            Condition::Channel {
                channel: "c".into(),
                negated: false,
            },
            Condition::DestinationExternal { external: true },
            Condition::AmountAbove {
                amount: 1.0,
                currency: "USD".into(),
            },
            Condition::ContainsData {
                data_type: DataType::Personal,
            },
            Condition::SensitivityAtLeast {
                level: Sensitivity::Internal,
            },
            Condition::GpuRequested { requested: true },
            Condition::Privileged { privileged: true },
            Condition::HostNetwork { host: true },
        ];
        let wire_c: Vec<String> = samples_c
            .iter()
            .map(|c| {
                serde_json::to_value(c).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(kinds(&rule["conditions"]), wire_c);
        // Every variant's fields are exactly the schema's properties.
        for (sample, variant) in samples_c
            .iter()
            .zip(rule["conditions"]["items"]["anyOf"].as_array().unwrap())
        {
            let mut fields: Vec<String> = serde_json::to_value(sample)
                .unwrap()
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let mut props: Vec<String> = variant["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            fields.sort();
            props.sort();
            assert_eq!(fields, props);
        }
    }
}
