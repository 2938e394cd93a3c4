//! The model-backed natural-language compiler: the model is asked for the intermediate form
//! under [`ir_schema`]; its answer is parsed strictly, every rule's source span must be one of
//! the text's sentences, ids are assigned here, and a sentence the answer does not account for
//! is reported as not understood.

use openshell_policy::node_config::NodeConfig;
use serde::Deserialize;

use super::grammar::sentences;
use super::ir::{
    Condition, Effect, NlPolicyIr, NlRule, RuleAction, SourceSpan, Target, Unparsed, ir_schema,
};
use super::{NlCompiler, NlError, validate_ir};
use crate::model::{ModelClient, ModelError};
use crate::taxonomy::VerbClass;

/// A rule as the model writes it (ids are assigned by the compiler).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelRule {
    subject: String,
    effect: Effect,
    action: RuleAction,
    verbs: Vec<VerbClass>,
    targets: Vec<Target>,
    conditions: Vec<Condition>,
    only: bool,
    #[serde(default)]
    location: Option<String>,
    source: SourceSpan,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelAnswer {
    rules: Vec<ModelRule>,
    unparsed: Vec<Unparsed>,
}

const SYSTEM_PROMPT: &str = "You translate natural-language security policies for AI agents into rules. \
Each rule has a subject, an effect (permit, forbid, escalate = needs human approval, redact), the \
action it governs (invoke = an API call, admit = a sandbox starting), verb classes, targets and \
conditions, and the source sentence with its exact character span as given. Report any sentence \
you cannot translate faithfully in unparsed with a reason. Answer only with JSON matching the schema.";

/// The model compiler.
pub struct ModelNlCompiler {
    client: ModelClient,
}

impl ModelNlCompiler {
    /// A compiler using `client`.
    pub fn new(client: ModelClient) -> ModelNlCompiler {
        ModelNlCompiler { client }
    }

    /// The model compiler when the node configures a model and asks it to compile
    /// natural-language policies (`[model] compile_natural_language`); else none (the grammar).
    pub fn for_node(node: &NodeConfig) -> Option<ModelNlCompiler> {
        node.model
            .as_ref()
            .filter(|model| model.compile_natural_language)
            .map(|model| ModelNlCompiler::new(ModelClient::new(model)))
    }
}

impl NlCompiler for ModelNlCompiler {
    fn name(&self) -> &'static str {
        "model"
    }

    fn compile(&self, document: usize, text: &str) -> Result<NlPolicyIr, NlError> {
        let spans = sentences(text);
        let listing: Vec<String> = spans
            .iter()
            .map(|s| format!("[{}, {}) {}", s.start, s.end, s.text))
            .collect();
        let user = format!(
            "Policy sentences, each with its character span:\n{}",
            listing.join("\n")
        );
        let answer = self
            .client
            .complete_json(SYSTEM_PROMPT, &user, "nl_policy", &ir_schema())?;
        let answer: ModelAnswer = serde_json::from_value(answer)
            .map_err(|e| NlError::Model(ModelError::Invalid(e.to_string())))?;
        Ok(assemble(document, &spans, answer))
    }
}

/// Turns a model answer into the IR: rules attached to the sentence they cite (by span and
/// text), ids assigned, invalid rules and unaccounted sentences reported.
fn assemble(document: usize, spans: &[SourceSpan], answer: ModelAnswer) -> NlPolicyIr {
    let mut per_sentence: Vec<Vec<NlRule>> = vec![Vec::new(); spans.len()];
    let mut problems: Vec<Option<String>> = vec![None; spans.len()];
    let mut ir = NlPolicyIr::default();
    for rule in answer.rules {
        let Some(index) = spans.iter().position(|s| *s == rule.source) else {
            ir.unparsed.push(Unparsed {
                reason: "the model cited a span that is not a sentence of the text".into(),
                source: rule.source,
            });
            continue;
        };
        let n = per_sentence[index].len() + 1;
        let candidate = NlRule {
            id: format!("nl:{document}.{}.{n}", index + 1),
            subject: rule.subject,
            effect: rule.effect,
            action: rule.action,
            verbs: rule.verbs,
            targets: rule.targets,
            conditions: rule.conditions,
            only: rule.only,
            location: rule.location,
            source: rule.source,
        };
        let single = NlPolicyIr {
            rules: vec![candidate.clone()],
            unparsed: Vec::new(),
        };
        match validate_ir(&single) {
            Ok(()) => per_sentence[index].push(candidate),
            Err(e) => problems[index] = Some(format!("the model's rule is invalid: {e}")),
        }
    }
    let reported: Vec<SourceSpan> = answer.unparsed.iter().map(|u| u.source.clone()).collect();
    for (index, span) in spans.iter().enumerate() {
        if let Some(reason) = problems[index].take() {
            ir.unparsed.push(Unparsed {
                source: span.clone(),
                reason,
            });
        } else if !per_sentence[index].is_empty() {
            ir.rules.append(&mut per_sentence[index]);
        } else if let Some(u) = answer.unparsed.iter().find(|u| u.source == *span) {
            ir.unparsed.push(u.clone());
        } else if !reported.contains(span) {
            ir.unparsed.push(Unparsed {
                source: span.clone(),
                reason: "the model did not account for this sentence".into(),
            });
        }
    }
    ir
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_attached_checked_and_complete() {
        let text = "Agents may read tickets. Agents may not delete backups. Be nice.";
        let spans = sentences(text);
        let answer: ModelAnswer = serde_json::from_value(json!({
            "rules": [
                {"subject": "agents", "effect": "permit", "action": "invoke", "verbs": ["read"],
                 "targets": [{"kind": "service", "name": "ticket"}], "conditions": [], "only": false,
                 "source": {"start": 0, "end": 24, "text": "Agents may read tickets."}},
                {"subject": "agents", "effect": "forbid", "action": "invoke", "verbs": ["delete"],
                 "targets": [{"kind": "service", "name": "Backups; DROP"}], "conditions": [], "only": false,
                 "source": {"start": 25, "end": 55, "text": "Agents may not delete backups."}},
                {"subject": "agents", "effect": "forbid", "action": "invoke", "verbs": [],
                 "targets": [], "conditions": [], "only": false,
                 "source": {"start": 0, "end": 5, "text": "Agent"}}
            ],
            "unparsed": []
        })).unwrap();
        let ir = assemble(3, &spans, answer);
        assert_eq!(ir.rules.len(), 1);
        assert_eq!(ir.rules[0].id, "nl:3.1.1");
        let reasons: Vec<&str> = ir.unparsed.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(ir.unparsed.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("not a sentence"));
        assert!(reasons[1].contains("invalid"));
        assert_eq!(ir.unparsed[2].source.text, "Be nice.");
        assert!(reasons[2].contains("did not account"));
    }
}
