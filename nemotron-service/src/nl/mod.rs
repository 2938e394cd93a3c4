//! Natural-language policies: text → an inspectable intermediate form ([`NlPolicyIr`]) → Cedar.
//!
//! Two compilers behind [`NlCompiler`]: the deterministic [`GrammarCompiler`] (the default)
//! and the [`ModelNlCompiler`], which asks the model backend for the same intermediate JSON
//! under [`ir_schema`]. Either way the result is checked by [`validate_ir`] before Cedar is
//! generated from it; model output is data, never executed. A sentence a compiler does not
//! understand is reported in [`NlPolicyIr::unparsed`] with its position, never dropped.
//! [`NlReport`] is a policy file's documents compiled for a person (`compile-nl`).

mod grammar;
mod ir;
mod lexicon;
mod model;
mod report;

pub use grammar::{GrammarCompiler, sentences};
pub use ir::{
    Condition, Effect, NlPolicyIr, NlRule, RuleAction, SourceSpan, Target, Unparsed, ir_schema,
};
pub use model::ModelNlCompiler;
pub use report::{DocumentReport, NlReport};

use openshell_policy::ApiPattern;

use crate::model::ModelError;

/// Errors compiling natural-language policies (sentences not understood are not errors: they
/// are reported in the result).
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The model backend failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A compiled rule is malformed.
    #[error("invalid rule {rule}: {message}")]
    Invalid {
        /// The rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// A natural-language policy compiler.
pub trait NlCompiler: Send + Sync {
    /// `grammar` or `model`.
    fn name(&self) -> &'static str;

    /// Compiles the text of document number `document` (1-based; it prefixes rule ids).
    fn compile(&self, document: usize, text: &str) -> Result<NlPolicyIr, NlError>;
}

/// Compiles several documents into one IR (documents numbered from 1), validated.
pub fn compile_documents(
    compiler: &dyn NlCompiler,
    texts: &[String],
) -> Result<NlPolicyIr, NlError> {
    let mut all = NlPolicyIr::default();
    for (i, text) in texts.iter().enumerate() {
        let ir = compiler.compile(i + 1, text)?;
        all.rules.extend(ir.rules);
        all.unparsed.extend(ir.unparsed);
    }
    validate_ir(&all)?;
    Ok(all)
}

/// A name usable in a rule: lower-case letters, digits, `_`, `-`, `.`; 1 to 64 characters.
fn check_name(rule: &str, what: &str, value: &str) -> Result<(), NlError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NlError::Invalid {
            rule: rule.to_owned(),
            message: format!(
                "{what} {value:?} must be 1-64 lower-case letters, digits, '_', '-' or '.'"
            ),
        })
    }
}

/// Checks every rule: names and globs well-formed, amounts finite, redaction rules naming data
/// types, sandbox-start conditions only on sandbox-start rules.
pub fn validate_ir(ir: &NlPolicyIr) -> Result<(), NlError> {
    for rule in &ir.rules {
        let id = rule.id.as_str();
        let invalid = |message: String| NlError::Invalid {
            rule: id.to_owned(),
            message,
        };
        for target in &rule.targets {
            match target {
                Target::Service { name } | Target::ResourceKind { name } => {
                    check_name(id, "name", name)?
                }
                Target::Api { glob } => {
                    ApiPattern::parse(glob).map_err(|e| invalid(e.to_string()))?;
                }
                Target::DataType { .. } | Target::ExternalRecipient => {}
            }
        }
        for condition in &rule.conditions {
            match condition {
                Condition::Attribute { key, value, .. } => {
                    check_name(id, "attribute", key)?;
                    check_name(id, "value", value)?;
                }
                Condition::Channel { channel, .. } => check_name(id, "channel", channel)?,
                Condition::AmountAbove { amount, currency } => {
                    if !amount.is_finite() || *amount < 0.0 {
                        return Err(invalid(format!(
                            "amount {amount} is not a non-negative number"
                        )));
                    }
                    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
                        return Err(invalid(format!(
                            "currency {currency:?} is not an ISO 4217 code"
                        )));
                    }
                }
                _ => {}
            }
            let admit = rule.action == RuleAction::Admit;
            if condition.is_admission() != admit {
                return Err(invalid(format!(
                    "condition {condition:?} does not apply to a {:?} rule",
                    rule.action
                )));
            }
        }
        if rule.effect == Effect::Redact
            && (rule.targets.is_empty()
                || !rule
                    .targets
                    .iter()
                    .all(|t| matches!(t, Target::DataType { .. })))
        {
            return Err(invalid("a redaction rule must name data types".into()));
        }
    }
    Ok(())
}
