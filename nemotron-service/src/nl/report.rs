//! The natural-language policies of a policy file compiled for a person to read
//! (`nemotron-service compile-nl FILE`, which `openshell policy compile-nl` runs): per
//! `NaturalLanguagePolicy` document, the rules with the sentences they came from and the
//! sentences not understood, with their positions; then the Cedar policies generated.

use std::fmt::Write as _;

use openshell_policy::PolicySet;
use serde::Serialize;

use super::ir::{Condition, Effect, NlPolicyIr, NlRule, RuleAction, Target, Unparsed};
use super::{NlCompiler, validate_ir};
use crate::service::{CedarPolicyText, ServiceError, nl_policies};

/// One `NaturalLanguagePolicy` document, compiled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentReport {
    /// The document's `metadata.name`.
    pub name: String,
    /// 1-based line of the document's `spec.text` in the file.
    pub line: u32,
    /// 1-based column of `spec.text`.
    pub column: u32,
    /// The rules, in text order (ids `nl:<document>.<sentence>.<clause>`).
    pub rules: Vec<NlRule>,
    /// The sentences not understood (character spans within the text).
    pub unparsed: Vec<Unparsed>,
}

/// A policy file's natural-language documents, compiled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NlReport {
    /// The policy file.
    pub file: String,
    /// The policy's name.
    pub policy: String,
    /// Which compiler ran (`grammar` or `model`).
    pub compiler: String,
    /// The documents, in file order.
    pub documents: Vec<DocumentReport>,
    /// The Cedar policies generated from the understood rules (strictly validated), in order.
    pub cedar: Vec<CedarPolicyText>,
}

impl NlReport {
    /// Compiles every `NaturalLanguagePolicy` document of `policy` with `compiler`, numbering
    /// documents as a container's policy numbers them (so the ids match its decisions). Fails
    /// when the compiler fails or a compiled rule is malformed; sentences not understood are
    /// reported, not errors.
    pub fn compile(
        policy: &PolicySet,
        compiler: &dyn NlCompiler,
    ) -> Result<NlReport, ServiceError> {
        let mut documents = Vec::new();
        let mut all = NlPolicyIr::default();
        for (index, document) in policy.natural_language().iter().enumerate() {
            let ir = compiler.compile(index + 1, &document.spec.text.value)?;
            all.rules.extend(ir.rules.iter().cloned());
            all.unparsed.extend(ir.unparsed.iter().cloned());
            documents.push(DocumentReport {
                name: document.metadata.name.value.clone(),
                line: document.spec.text.position.line,
                column: document.spec.text.position.column,
                rules: ir.rules,
                unparsed: ir.unparsed,
            });
        }
        validate_ir(&all)?;
        Ok(NlReport {
            file: policy.file().to_owned(),
            policy: policy.name().to_owned(),
            compiler: compiler.name().to_owned(),
            documents,
            cedar: nl_policies(&all)?,
        })
    }

    /// One line per sentence not understood:
    /// `FILE:LINE:COLUMN: NaturalLanguagePolicy NAME, sentence at characters S..E not
    /// understood (REASON): "SENTENCE"`, where LINE:COLUMN is where the document's text starts.
    pub fn problems(&self) -> Vec<String> {
        self.documents
            .iter()
            .flat_map(|d| {
                d.unparsed.iter().map(move |u| {
                    format!(
                        "{}:{}:{}: NaturalLanguagePolicy {:?}, sentence at characters {}..{} not understood ({}): {:?}",
                        self.file, d.line, d.column, d.name, u.source.start, u.source.end, u.reason, u.source.text
                    )
                })
            })
            .collect()
    }

    /// The report as text: documents, their rules under the sentences they came from, then the
    /// Cedar policies.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: policy {:?}, {} natural-language document(s), compiled by the {} compiler",
            self.file,
            self.policy,
            self.documents.len(),
            self.compiler
        );
        for d in &self.documents {
            let _ = writeln!(
                out,
                "\nNaturalLanguagePolicy {} ({}:{}:{})",
                d.name, self.file, d.line, d.column
            );
            let mut last_sentence = None;
            for rule in &d.rules {
                let span = (rule.source.start, rule.source.end);
                if last_sentence != Some(span) {
                    let _ = writeln!(out, "  [{}..{}] {:?}", span.0, span.1, rule.source.text);
                    last_sentence = Some(span);
                }
                let _ = writeln!(out, "    {}", rule_line(rule));
            }
            for u in &d.unparsed {
                let _ = writeln!(
                    out,
                    "  [{}..{}] {:?}\n    NOT UNDERSTOOD: {}",
                    u.source.start, u.source.end, u.source.text, u.reason
                );
            }
        }
        let _ = writeln!(out, "\nCedar policies ({}):", self.cedar.len());
        for policy in &self.cedar {
            let _ = writeln!(out, "{}\n", policy.text.trim_end());
        }
        out
    }
}

/// A rule on one line: id, effect, decision, subject, then verbs, targets and conditions.
fn rule_line(rule: &NlRule) -> String {
    let effect = match rule.effect {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
        Effect::Escalate => "escalate",
        Effect::Redact => "redact",
    };
    let action = match rule.action {
        RuleAction::Invoke => "api-call",
        RuleAction::Admit => "sandbox-start",
    };
    let mut line = format!("{} {effect} {action} subject={:?}", rule.id, rule.subject);
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "any".to_owned()
        } else {
            items.join(", ")
        }
    };
    let verbs = rule.verbs.iter().map(|v| v.as_str().to_owned()).collect();
    let _ = write!(line, " verbs=[{}]", list(verbs));
    let targets = rule.targets.iter().map(target_text).collect();
    let _ = write!(line, " targets=[{}]", list(targets));
    if !rule.conditions.is_empty() {
        let conditions: Vec<String> = rule.conditions.iter().map(condition_text).collect();
        let _ = write!(line, " when=[{}]", conditions.join(" and "));
    }
    if rule.only {
        line.push_str(" only");
    }
    if let Some(location) = &rule.location {
        let _ = write!(line, " in={location:?}");
    }
    line
}

fn target_text(target: &Target) -> String {
    match target {
        Target::Service { name } => format!("service {name}"),
        Target::Api { glob } => format!("api {glob}"),
        Target::ResourceKind { name } => format!("resource {name}"),
        Target::DataType { data_type } => format!("data {}", data_type.as_str()),
        Target::ExternalRecipient => "external recipients".to_owned(),
    }
}

fn condition_text(condition: &Condition) -> String {
    let not = |negated: bool| if negated { "!=" } else { "=" };
    match condition {
        Condition::Attribute {
            key,
            value,
            negated,
        } => format!("{key} {} {value}", not(*negated)),
        Condition::Channel { channel, negated } => format!("channel {} {channel}", not(*negated)),
        Condition::DestinationExternal { external } => {
            format!(
                "destination {}",
                if *external { "external" } else { "internal" }
            )
        }
        Condition::AmountAbove { amount, currency } => format!("amount > {amount} {currency}"),
        Condition::ContainsData { data_type } => format!("contains {}", data_type.as_str()),
        Condition::SensitivityAtLeast { level } => format!("sensitivity >= {}", level.as_str()),
        Condition::GpuRequested { requested } => format!("gpu requested = {requested}"),
        Condition::Privileged { privileged } => format!("privileged = {privileged}"),
        Condition::HostNetwork { host } => format!("host network = {host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::GrammarCompiler;

    const FILE: &str = "\
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata:
  name: first
spec:
  text: Agents may not access financial data. Sandboxes may not start with GPU access.
---
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata:
  name: second
spec:
  text: >-
    Agents may read CRM records.
    Be nice to everybody.
";

    #[test]
    fn documents_rules_positions_and_cedar() {
        let policy = PolicySet::parse("rules.yaml", FILE).unwrap();
        let report = NlReport::compile(&policy, &GrammarCompiler).unwrap();
        assert_eq!(report.compiler, "grammar");
        let names: Vec<&str> = report.documents.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["first", "second"]);
        assert_eq!(
            (report.documents[0].line, report.documents[0].column),
            (6, 9)
        );
        let ids: Vec<&str> = report.documents[0]
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, vec!["nl:1.1.1", "nl:1.2.1"]);
        assert_eq!(report.documents[1].rules[0].id, "nl:2.1.1");
        assert!(report.documents[0].unparsed.is_empty());
        assert_eq!(report.documents[1].unparsed.len(), 1);

        let problems = report.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with(
                "rules.yaml:14:5: NaturalLanguagePolicy \"second\", sentence at characters 29..50 not understood"
            ),
            "{}",
            problems[0]
        );
        assert!(
            problems[0].ends_with("\"Be nice to everybody.\""),
            "{}",
            problems[0]
        );

        let cedar_ids: Vec<&str> = report.cedar.iter().map(|c| c.id.as_str()).collect();
        assert!(
            cedar_ids.iter().any(|id| id.starts_with("nl:1.1.1")),
            "{cedar_ids:?}"
        );
        assert!(
            cedar_ids.iter().any(|id| id.starts_with("nl:1.2.1")),
            "{cedar_ids:?}"
        );
        assert!(
            cedar_ids.iter().any(|id| id.starts_with("nl:2.1.1")),
            "{cedar_ids:?}"
        );

        let text = report.to_text();
        assert!(
            text.contains("nl:1.2.1 forbid sandbox-start subject=\"sandboxes\""),
            "{text}"
        );
        assert!(text.contains("when=[gpu requested = true]"), "{text}");
        assert!(text.contains("NOT UNDERSTOOD"), "{text}");
        assert!(text.contains("forbid"), "{text}");
    }
}
