//! Fusing what an action's text says ([`ContentSignals`]) into the axes the name, destination
//! and content detectors decided: the text can only raise an axis, and each raise carries
//! the span that decided it.
//!
//! - Sensitivity: a credential or secret named is restricted credentials; an identity
//!   document or account number named is restricted personal data.
//! - Reversibility: a transfer, forwarding everything, exfiltration, bulk deletion,
//!   publication or filling an outside URL with data is irreversible.
//! - Injected instructions: phrases addressed to the agent that its user would not write
//!   (`ignore previous instructions`, `without telling the user`), whatever the action.
//! - Scope (actions that change or send something, not reads): an external address, URL or
//!   foreign account in the text of an action that sends, pays or discloses, or publication,
//!   is external; `all`, `every`, an unbounded
//!   amount, forwarding everything or bulk deletion is the whole organisation.
//!
//! With the `embeddings` feature, the semantic verdict on the whole text ([`fuse_semantic`])
//! raises the axes its class implies, the same way: never lowering one.

use openshell_policy::wire::{
    Assessment, DataType, DataTypeAssessment, Evidence, Reversibility, Scope, Sensitivity,
};

use crate::content::{ContentSignals, Intent, Signal, SignalKind};
use crate::facts::ActionFacts;
use crate::taxonomy::VerbClass;

/// How sure a raise from the text is.
const TEXT_CONFIDENCE: f32 = 0.8;

fn evidence(signal: &Signal) -> Evidence {
    Evidence {
        field: Some(signal.field.clone()),
        detector: signal.kind.detector(),
        span: Some(signal.span),
        sample: Some(signal.sample.clone()),
        confidence: TEXT_CONFIDENCE,
    }
}

/// Raises `axis` to `value` with the evidence of `signals`, when any and when higher.
fn raise<T: PartialOrd + Copy>(axis: &mut Assessment<T>, value: T, signals: &[&Signal]) {
    if signals.is_empty() || axis.value >= value {
        return;
    }
    *axis = Assessment {
        value,
        confidence: TEXT_CONFIDENCE,
        evidence: signals.iter().map(|s| evidence(s)).collect(),
    };
}

fn add_type(types: &mut Vec<DataTypeAssessment>, data_type: DataType, signals: &[&Signal]) {
    if signals.is_empty() {
        return;
    }
    let ev = signals.iter().map(|s| evidence(s));
    match types.iter_mut().find(|d| d.data_type == data_type) {
        Some(d) => {
            d.confidence = d.confidence.max(TEXT_CONFIDENCE);
            d.evidence.extend(ev);
        }
        None => {
            types.push(DataTypeAssessment {
                data_type,
                confidence: TEXT_CONFIDENCE,
                evidence: ev.collect(),
            });
            types.sort_by_key(|d| d.data_type);
        }
    }
}

fn intents<'a>(content: &'a ContentSignals, wanted: &'a [Intent]) -> Vec<&'a Signal> {
    content
        .of(|k| matches!(k, SignalKind::Intent(i) if wanted.contains(i)))
        .collect()
}

/// The axes after the text is considered.
pub struct Axes<'a> {
    /// Sensitivity.
    pub sensitivity: &'a mut Assessment<Sensitivity>,
    /// Data types.
    pub data_types: &'a mut Vec<DataTypeAssessment>,
    /// Reversibility.
    pub reversibility: &'a mut Assessment<Reversibility>,
    /// Scope.
    pub scope: &'a mut Assessment<Scope>,
    /// Instructions the agent's user did not give, found in the text.
    pub injected_instructions: &'a mut Vec<Evidence>,
    /// Security controls the action switches off, found in the text.
    pub controls_off: &'a mut Vec<Evidence>,
}

/// Raises the axes by what the text of the action says.
pub fn fuse(facts: &ActionFacts, axes: Axes<'_>) {
    let content = &facts.content;
    let credentials: Vec<&Signal> = content
        .of(|k| {
            matches!(
                k,
                SignalKind::Credential | SignalKind::Intent(Intent::ChangeCredentials)
            )
        })
        .collect();
    let identity: Vec<&Signal> = content.of(|k| *k == SignalKind::IdentityDocument).collect();
    add_type(axes.data_types, DataType::Credentials, &credentials);
    add_type(axes.data_types, DataType::Personal, &identity);
    let restricted: Vec<&Signal> = credentials.iter().chain(&identity).copied().collect();
    raise(axes.sensitivity, Sensitivity::Restricted, &restricted);

    let disclosing = intents(
        content,
        &[
            Intent::Transfer,
            Intent::ForwardAll,
            Intent::Exfiltrate,
            Intent::DeleteAll,
            Intent::SharePublicly,
            Intent::UrlForData,
        ],
    );
    raise(axes.reversibility, Reversibility::Irreversible, &disclosing);
    // A control switched off is off for everyone who relies on it.
    let bypass = intents(content, &[Intent::BypassControls]);
    raise(axes.reversibility, Reversibility::Irreversible, &bypass);
    raise(axes.scope, Scope::Organization, &bypass);
    // Named on its own as well: an outside URL or destination widens the scope past the
    // organisation, and the control is off all the same.
    axes.controls_off
        .extend(bypass.iter().copied().map(evidence));
    axes.injected_instructions.extend(
        intents(content, &[Intent::Injected])
            .into_iter()
            .map(evidence),
    );

    if facts.verb_class() == VerbClass::Read {
        return;
    }
    // An outside address in a record being updated stays in the record; one in a message,
    // a payment or a text that sends data out is where the action reaches, as is an account a
    // payment's text calls new.
    // Deleting everything sends nothing: an outside address in the text of a purge is who
    // asked, not where the records go.
    let sends = matches!(facts.verb_class(), VerbClass::Send | VerbClass::Pay)
        || disclosing
            .iter()
            .any(|s| s.kind != SignalKind::Intent(Intent::DeleteAll));
    let pays = facts.verb_class() == VerbClass::Pay;
    let outside: Vec<&Signal> = content
        .of(|k| {
            (sends && k.external())
                || *k == SignalKind::Intent(Intent::SharePublicly)
                || (pays && *k == SignalKind::Intent(Intent::NewPayee))
        })
        .collect();
    raise(axes.scope, Scope::External, &outside);
    let everything: Vec<&Signal> = content
        .of(|k| {
            matches!(
                k,
                SignalKind::Quantity
                    | SignalKind::UnboundedAmount
                    | SignalKind::Intent(Intent::ForwardAll | Intent::DeleteAll)
            )
        })
        .collect();
    raise(axes.scope, Scope::Organization, &everything);
}

/// What the semantic verdict of `class` raises the axes to: exfiltration is irreversible and
/// external (for actions that change or send something), fraud and injected instructions
/// irreversible, destruction irreversible across the organisation, a privilege change
/// partially reversible.
#[cfg(feature = "embeddings")]
fn semantic_raises(
    facts: &ActionFacts,
    class: super::semantic::SemanticClass,
) -> (Option<Reversibility>, Option<Scope>) {
    use super::semantic::SemanticClass;

    let reversibility = match class {
        SemanticClass::PrivilegeChange => Some(Reversibility::PartiallyReversible),
        SemanticClass::Benign => None,
        _ => Some(Reversibility::Irreversible),
    };
    let scope = match class {
        SemanticClass::Exfiltration if facts.verb_class() != VerbClass::Read => {
            Some(Scope::External)
        }
        SemanticClass::Destruction => Some(Scope::Organization),
        _ => None,
    };
    (reversibility, scope)
}

/// Whether some semantic verdict could still raise the axes the detectors decided
/// (`reversibility`, `scope`): the verdict is undecided only then, so only then is the model
/// run. Where no class could raise either axis, every verdict leaves the classification as
/// it is, and skipping the model changes nothing.
#[cfg(feature = "embeddings")]
pub fn semantic_can_raise(facts: &ActionFacts, reversibility: Reversibility, scope: Scope) -> bool {
    super::semantic::PROTOTYPES.iter().any(|(class, _)| {
        let (r, s) = semantic_raises(facts, *class);
        r.is_some_and(|r| r > reversibility) || s.is_some_and(|s| s > scope)
    })
}

/// Raises the axes by the semantic verdict on the whole text of `data`
/// ([`semantic_raises`]). The evidence is `semantic:<class> <similarity>` with the field
/// `data` and no span: the span is the whole text.
#[cfg(feature = "embeddings")]
pub fn fuse_semantic(
    facts: &ActionFacts,
    verdict: &super::semantic::SemanticVerdict,
    axes: Axes<'_>,
) {
    let evidence = Evidence {
        field: Some("data".into()),
        detector: format!(
            "semantic:{} {:.2} (ordinary {:.2})",
            verdict.class.as_str(),
            verdict.similarity,
            verdict.benign
        ),
        span: None,
        sample: None,
        confidence: verdict.similarity,
    };
    let (reversibility, scope) = semantic_raises(facts, verdict.class);
    if let Some(value) = reversibility {
        raise_with(axes.reversibility, value, verdict.similarity, &evidence);
    }
    if let Some(value) = scope {
        raise_with(axes.scope, value, verdict.similarity, &evidence);
    }
}

/// Raises `axis` to `value` with `evidence`, when higher.
#[cfg(feature = "embeddings")]
fn raise_with<T: PartialOrd + Copy>(
    axis: &mut Assessment<T>,
    value: T,
    confidence: f32,
    evidence: &Evidence,
) {
    if axis.value >= value {
        return;
    }
    *axis = Assessment {
        value,
        confidence,
        evidence: vec![evidence.clone()],
    };
}
