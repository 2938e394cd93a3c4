//! Replaying a recorded audit trail under a candidate policy: every action the policy service
//! decided is decided again, and what would change (allow → deny, deny → escalate …) is
//! reported with the rules responsible, so a policy can be rolled out without guessing.
//!
//! The trail keeps an action's name, agent, resource or destination and the classification
//! it was decided on, not its data or amount (audit events carry no content): the replay
//! decides on the recorded classification, and a destination the trail redacted is outside
//! the organisation when the recorded scope says so. Rules about amounts and caller
//! attributes see none.

use openshell_policy::CompiledPolicy as PolicyRecord;
use openshell_policy::wire::{
    ActionRequest, Assessment, AuditEvent, ClassificationSummary, ComplianceAssessment,
    DataTypeAssessment, Evidence, IntentClassification, Outcome, Reversibility, Scope,
};
use serde::Serialize;

use crate::cedar::{CompileError, CompiledPolicy, Thresholds};
use crate::destination::{DestinationAnalyzer, DestinationForm, DestinationInfo};
use crate::facts::ActionFacts;
use crate::nl::{GrammarCompiler, NlError, compile_documents};

/// The component whose decisions are replayed.
const COMPONENT: &str = "nemotron";

/// Why a candidate policy cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Its natural-language documents do not compile.
    #[error(transparent)]
    NaturalLanguage(#[from] NlError),
    /// A sentence is not understood.
    #[error("natural-language sentence not understood ({reason}): {text:?}")]
    NotUnderstood {
        /// Why.
        reason: String,
        /// The sentence.
        text: String,
    },
    /// Its rules do not compile to Cedar.
    #[error(transparent)]
    Cedar(#[from] CompileError),
}

/// One action whose decision would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The audit event's id.
    pub event: String,
    /// When it was decided.
    pub timestamp: String,
    /// The container, if recorded.
    pub container_id: Option<String>,
    /// The API.
    pub action: String,
    /// The recorded decision.
    pub before: String,
    /// The candidate policy's decision.
    pub after: Outcome,
    /// The rules that decide under the candidate policy.
    pub policies: Vec<String>,
    /// Their reasons.
    pub reasons: Vec<String>,
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The candidate policy's name.
    pub policy: String,
    /// Actions decided again.
    pub replayed: usize,
    /// Events that are not action decisions of the policy service (admissions, other
    /// components) or carry no classification.
    pub skipped: usize,
    /// Actions whose decision would change, in trail order.
    pub changes: Vec<Change>,
}

impl ReplayReport {
    /// The report as text: one line per change, then the totals.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            out.push_str(&format!(
                "{} {} {}{}: {} -> {} by {} ({})\n",
                c.timestamp,
                c.event,
                c.action,
                c.container_id
                    .as_deref()
                    .map(|id| format!(" [{id}]"))
                    .unwrap_or_default(),
                c.before,
                outcome_word(c.after),
                if c.policies.is_empty() {
                    "no rule".to_owned()
                } else {
                    c.policies.join(", ")
                },
                c.reasons.join("; ")
            ));
        }
        out.push_str(&format!(
            "policy {}: {} actions replayed, {} would change, {} events skipped\n",
            self.policy,
            self.replayed,
            self.changes.len(),
            self.skipped
        ));
        out
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Escalate => "escalate",
    }
}

/// Compiles a candidate policy record as the service would (the grammar for its
/// natural-language documents, the default thresholds).
pub fn compile_candidate(record: &PolicyRecord) -> Result<CompiledPolicy, ReplayError> {
    let nl = compile_documents(&GrammarCompiler, &record.decisions.natural_language)?;
    if let Some(u) = nl.unparsed.first() {
        return Err(ReplayError::NotUnderstood {
            reason: u.reason.clone(),
            text: u.source.text.clone(),
        });
    }
    Ok(CompiledPolicy::build(
        &record.name,
        &record.decisions,
        &record.audit,
        nl,
        &Thresholds::default(),
    )?)
}

/// Decides the action of every evaluate event of `events` again under `policy`.
pub fn replay(
    policy: &CompiledPolicy,
    events: &[AuditEvent],
    destinations: &DestinationAnalyzer,
) -> ReplayReport {
    let mut report = ReplayReport {
        policy: policy.name().to_owned(),
        ..ReplayReport::default()
    };
    for event in events {
        let Some(summary) = event.classification.as_ref().filter(|_| {
            event.component == COMPONENT
                && event.action != "sandbox.start"
                && matches!(event.decision.as_str(), "allow" | "deny" | "escalate")
        }) else {
            report.skipped += 1;
            continue;
        };
        report.replayed += 1;
        let request = request_of(event, destinations);
        let mut facts = ActionFacts::derive(&request, destinations);
        // The trail keeps no amount: amount rules see none rather than failing closed on
        // every payment the trail recorded.
        facts.amount_known = true;
        if facts.destination.is_none() && summary.scope == Some(Scope::External) {
            facts.destination = Some(DestinationInfo {
                form: DestinationForm::Host,
                domain: String::new(),
                mailbox: String::new(),
                external: true,
                channel: String::new(),
                reason: "the recorded classification reached outside the organisation".into(),
            });
        }
        let principal = event.container_id.as_deref().unwrap_or("replay");
        let verdict = policy.decide_action(principal, &request, &facts, &recorded(summary));
        if outcome_word(verdict.outcome) != event.decision {
            report.changes.push(Change {
                event: event.id.clone(),
                timestamp: event.timestamp.to_rfc3339(),
                container_id: event.container_id.clone(),
                action: event.action.clone(),
                before: event.decision.clone(),
                after: verdict.outcome,
                policies: verdict.policies,
                reasons: verdict.reasons,
            });
        }
    }
    report
}

/// The request an event records: its recorded resource is a destination when it reads as
/// one (an address, URL, account, channel or host) and not redacted.
fn request_of(event: &AuditEvent, destinations: &DestinationAnalyzer) -> ActionRequest {
    let recorded = event
        .resource
        .as_deref()
        .filter(|r| !r.contains("[REDACTED"));
    let is_destination = recorded
        .is_some_and(|r| !r.contains(':') || r.contains("://") || r.contains('@'))
        && recorded.is_some_and(|r| destinations.analyze(r).form != DestinationForm::System);
    ActionRequest {
        action: event.action.clone(),
        resource: recorded.filter(|_| !is_destination).map(str::to_owned),
        destination: recorded.filter(|_| is_destination).map(str::to_owned),
        agent: event.actor.clone(),
        ..ActionRequest::default()
    }
}

/// A classification with the recorded values, fully confident, without evidence.
fn sure<T>(value: T) -> Assessment<T> {
    Assessment {
        value,
        confidence: 1.0,
        evidence: Vec::new(),
    }
}

fn recorded(summary: &ClassificationSummary) -> IntentClassification {
    IntentClassification {
        sensitivity: sure(summary.sensitivity),
        data_types: summary
            .data_types
            .iter()
            .map(|&data_type| DataTypeAssessment {
                data_type,
                confidence: 1.0,
                evidence: Vec::new(),
            })
            .collect(),
        reversibility: sure(
            summary
                .reversibility
                .unwrap_or(Reversibility::PartiallyReversible),
        ),
        scope: sure(summary.scope.unwrap_or(Scope::Single)),
        compliance: summary
            .compliance
            .iter()
            .map(|&framework| ComplianceAssessment {
                framework,
                confidence: 1.0,
                evidence: Vec::new(),
            })
            .collect(),
        injected_instructions: recorded_flag(summary.injected_instructions),
        controls_off: recorded_flag(summary.controls_off),
        engine: "replay".into(),
        fallback: None,
    }
}

/// One piece of evidence standing for a flag the trail recorded, none when it was not set.
fn recorded_flag(set: bool) -> Vec<Evidence> {
    set.then(|| Evidence {
        field: None,
        detector: "recorded".into(),
        span: None,
        sample: None,
        confidence: 1.0,
    })
    .into_iter()
    .collect()
}
