//! The deterministic compiler: a grammar of the common policy sentence shapes.
//!
//! Sentence shapes (case-insensitive; `SUBJECT` may be a pronoun referring to the previous one):
//! - `SUBJECT may|can|is allowed to VP` → permit (`only` in the sentence: the action is also
//!   forbidden when the conditions fail);
//! - `SUBJECT may not|must not|cannot|never|is prohibited from VP` → forbid (`… without
//!   approval` → escalate); `Never|Do not VP` → forbid;
//! - `SUBJECT must obtain approval before VP`, `VP requires approval`, `SUBJECT may VP only with
//!   approval` → escalate;
//! - `[All] DATA must be redacted|masked [from WHERE]` → redact.
//!
//! A verb phrase is a list (`A, B, or C`) of clauses `VERB OBJECT [CONDITIONS]`; a clause
//! without a verb reuses the previous one. Conditions: `for active tickets`, `when the ticket is
//! open`, `outside of the ticketing system`, `through the billing portal`, `to external
//! recipients`, `above $100`, `containing PII`, and for sandboxes `with GPU access`, `on the host
//! network`, `in privileged mode`. A sentence any part of which is not understood is reported
//! with its position and compiles to nothing.

use std::sync::OnceLock;

use regex::{Captures, Regex};

use super::ir::{Condition, Effect, NlPolicyIr, NlRule, RuleAction, SourceSpan, Target, Unparsed};
use super::lexicon::{action_noun, data_types_of, is_known_noun, object_targets, verb_at_start};
use super::{NlCompiler, NlError};
use crate::destination::channel_name;
use crate::taxonomy::{VerbClass, singular};

/// The grammar compiler.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrammarCompiler;

impl NlCompiler for GrammarCompiler {
    fn name(&self) -> &'static str {
        "grammar"
    }

    fn compile(&self, document: usize, text: &str) -> Result<NlPolicyIr, NlError> {
        let mut ir = NlPolicyIr::default();
        let mut subject: Option<String> = None;
        for (index, span) in sentences(text).into_iter().enumerate() {
            match parse_sentence(&span.text, &mut subject) {
                Ok(rules) => {
                    for (clause, rule) in rules.into_iter().enumerate() {
                        ir.rules.push(NlRule {
                            id: format!("nl:{document}.{}.{}", index + 1, clause + 1),
                            source: span.clone(),
                            ..rule
                        });
                    }
                }
                Err(reason) => ir.unparsed.push(Unparsed {
                    source: span,
                    reason,
                }),
            }
        }
        Ok(ir)
    }
}

/// Splits text into sentences with character spans; list bullets and numbering are skipped.
pub fn sentences(text: &str) -> Vec<SourceSpan> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut push = |from: usize, to: usize| {
        let mut a = from;
        while a < to && (chars[a].is_whitespace() || matches!(chars[a], '-' | '*' | '•')) {
            a += 1;
        }
        let mut b = to;
        while b > a && chars[b - 1].is_whitespace() {
            b -= 1;
        }
        let sentence: String = chars[a..b].iter().collect();
        if sentence.chars().any(char::is_alphabetic) {
            out.push(SourceSpan {
                start: a,
                end: b,
                text: sentence,
            });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let at_end = i + 1 == chars.len();
        let boundary =
            matches!(c, '.' | '!' | '?' | ';') && (at_end || chars[i + 1].is_whitespace());
        let paragraph = c == '\n' && chars.get(i + 1) == Some(&'\n');
        let bullet = c == '\n'
            && chars
                .get(i + 1)
                .is_some_and(|n| matches!(n, '-' | '*' | '•'));
        if boundary {
            push(start, i + 1);
            start = i + 1;
        } else if paragraph || bullet {
            push(start, i);
            start = i + 1;
        }
        i += 1;
    }
    if start < chars.len() {
        push(start, chars.len());
    }
    // A numbered list ("1.") leaves sentences that are only a number: dropped by `push`.
    out
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("grammar patterns are valid"))
}

const APPROVERS: &str = r"(?:(?:human|manager|managerial|operator|explicit|prior|supervisor|written|security|compliance) )*(?:approval|sign-off|sign off)";

fn redact_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?:all |any |every )?(?P<what>.+?) (?:must|should|shall|will|is to|are to) (?:always )?be (?:redacted|masked|removed|scrubbed|anonymi[sz]ed|hidden|obfuscated)(?: (?:from|in|within) (?P<where>.+))?$",
    )
}
fn approval_before_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        &format!(
            r"^(?P<subject>.+?) (?:must|should|shall|need to|needs to) (?:first )?(?:obtain|get|request|seek|have|ask for) {APPROVERS} (?:before|to|prior to) (?P<vp>.+)$"
        ),
    )
}
fn approval_required_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        &format!(
            r"^(?P<vp>.+?) (?:requires?|needs?|must have|must get|is subject to|are subject to) {APPROVERS}$"
        ),
    )
}
fn approval_with_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        &format!(
            r"^(?P<subject>.+?) (?:may|can) (?P<vp>.+?) (?:only )?(?:with|after|upon) {APPROVERS}$"
        ),
    )
}
fn prohibit_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?P<subject>.+?) (?:may not|must not|must never|cannot|can not|can't|should not|should never|shall not|will not|won't|may never|are not allowed to|is not allowed to|are not permitted to|is not permitted to|are prohibited from|is prohibited from|are forbidden (?:to|from)|is forbidden (?:to|from)|never) (?P<vp>.+)$",
    )
}
fn imperative_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^(?:never|do not|don't) (?P<vp>.+)$")
}
fn permit_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?P<only>only )?(?P<subject>.+?) (?:may|can|are allowed to|is allowed to|are permitted to|is permitted to) (?P<vp>.+)$",
    )
}
fn clause_split_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r",\s*(?:and/or|and|or)\s+|,\s+|\s+(?:and/or|and|or)\s+")
}
fn without_approval_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, &format!(r"\bwithout {APPROVERS}\b"))
}

/// Lower case, one space between words, no trailing punctuation or quotes.
fn normalise(sentence: &str) -> String {
    let lower = sentence
        .to_lowercase()
        .replace(['’', '‘'], "'")
        .replace(['“', '”', '"'], "");
    let words: Vec<&str> = lower.split_whitespace().collect();
    words
        .join(" ")
        .trim_end_matches(['.', '!', '?', ';', ':'])
        .trim()
        .to_owned()
}

const PRONOUNS: [&str; 7] = [
    "they",
    "it",
    "these agents",
    "such agents",
    "those agents",
    "the agent",
    "this agent",
];
const SANDBOX_WORDS: [&str; 6] = [
    "sandbox",
    "sandboxes",
    "container",
    "containers",
    "agent sandboxes",
    "workloads",
];

/// A rule without its id and source (filled in by the caller).
fn rule(subject: &str, effect: Effect, action: RuleAction, clause: Clause) -> NlRule {
    NlRule {
        id: String::new(),
        subject: subject.to_owned(),
        effect,
        action,
        verbs: clause.verbs,
        targets: clause.targets,
        conditions: clause.conditions,
        only: clause.only,
        location: None,
        source: SourceSpan {
            start: 0,
            end: 0,
            text: String::new(),
        },
    }
}

fn resolve_subject(raw: &str, previous: &mut Option<String>) -> String {
    let raw = raw.trim();
    if PRONOUNS.contains(&raw)
        && let Some(p) = previous.as_ref()
    {
        return p.clone();
    }
    *previous = Some(raw.to_owned());
    raw.to_owned()
}

fn parse_sentence(sentence: &str, previous: &mut Option<String>) -> Result<Vec<NlRule>, String> {
    let s = normalise(sentence);
    if let Some(c) = redact_re().captures(&s) {
        let what = &c["what"];
        let types =
            data_types_of(what).ok_or_else(|| format!("does not know which data {what:?} is"))?;
        let subject = previous.clone().unwrap_or_else(|| "agents".into());
        return Ok(vec![NlRule {
            targets: types
                .into_iter()
                .map(|data_type| Target::DataType { data_type })
                .collect(),
            location: c.name("where").map(|m| m.as_str().to_owned()),
            ..rule(
                &subject,
                Effect::Redact,
                RuleAction::Invoke,
                Clause::default(),
            )
        }]);
    }
    if let Some(c) = approval_before_re()
        .captures(&s)
        .or_else(|| approval_with_re().captures(&s))
    {
        let subject = resolve_subject(&c["subject"], previous);
        return rules_for(&subject, Effect::Escalate, &c["vp"]);
    }
    if let Some(c) = approval_required_re().captures(&s) {
        let subject = previous.clone().unwrap_or_else(|| "agents".into());
        return rules_for(&subject, Effect::Escalate, &c["vp"]);
    }
    if let Some(c) = prohibit_re().captures(&s) {
        let subject = resolve_subject(&c["subject"], previous);
        return prohibition(&subject, &c["vp"]);
    }
    if let Some(c) = imperative_re().captures(&s) {
        let subject = previous.clone().unwrap_or_else(|| "agents".into());
        return prohibition(&subject, &c["vp"]);
    }
    if let Some(c) = permit_re().captures(&s) {
        let subject = resolve_subject(&c["subject"], previous);
        return rules_for(&subject, Effect::Permit, &c["vp"]);
    }
    Err("no policy sentence shape matches (expected may / may not / requires approval / must be redacted)".into())
}

fn prohibition(subject: &str, vp: &str) -> Result<Vec<NlRule>, String> {
    let escalate = without_approval_re().is_match(vp);
    let vp = without_approval_re().replace_all(vp, "");
    let effect = if escalate {
        Effect::Escalate
    } else {
        Effect::Forbid
    };
    rules_for(subject, effect, vp.trim())
}

fn rules_for(subject: &str, effect: Effect, vp: &str) -> Result<Vec<NlRule>, String> {
    let admission_subject = SANDBOX_WORDS
        .iter()
        .any(|w| subject == *w || subject.ends_with(&format!(" {w}")));
    let clauses = parse_vp(vp)?;
    clauses
        .into_iter()
        .map(|clause| {
            let admit = clause.admission || (admission_subject && clause.verbs.contains(&VerbClass::Execute));
            let action = if admit { RuleAction::Admit } else { RuleAction::Invoke };
            if !admit && clause.conditions.iter().any(Condition::is_admission) {
                return Err("GPU, host network and privilege conditions apply to sandboxes starting, not to API calls".into());
            }
            if admit && clause.conditions.iter().any(|c| !c.is_admission()) {
                return Err("a sandbox-start rule can only test GPU access, host networking and privileges".into());
            }
            let mut r = rule(subject, effect, action, clause);
            if r.conditions.is_empty() {
                r.only = false;
            }
            Ok(r)
        })
        .collect()
}

/// One parsed clause of a verb phrase.
#[derive(Debug, Default)]
struct Clause {
    verbs: Vec<VerbClass>,
    targets: Vec<Target>,
    conditions: Vec<Condition>,
    only: bool,
    admission: bool,
}

fn parse_vp(vp: &str) -> Result<Vec<Clause>, String> {
    let mut clauses: Vec<Clause> = Vec::new();
    let mut previous_verbs: Option<Vec<VerbClass>> = None;
    // The first clause of the run that shares the last verb written.
    let mut group_start = 0;
    // Clauses whose verb was written without an object, waiting for the next object.
    let mut pending_bare: Vec<usize> = Vec::new();
    for raw in clause_split_re().split(vp) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let (conditions, rest, only) = extract_conditions(raw)?;
        // In a list after a verb, a word that is also a verb ("files", "emails") is an object
        // when nothing follows it: "read emails, calendar events and files".
        let noun_after_verb = previous_verbs.is_some()
            && verb_at_start(&rest).is_some_and(|(_, object)| object.is_empty())
            && is_known_noun(&rest);
        let verb_written = !noun_after_verb && verb_at_start(&rest).is_some();
        let (verbs, object) = match verb_at_start(&rest).filter(|_| !noun_after_verb) {
            Some((verbs, object)) => (verbs, object.to_owned()),
            None => {
                let (first, tail) = rest.split_once(' ').unwrap_or((rest.as_str(), ""));
                match (&previous_verbs, action_noun(first)) {
                    (Some(v), _) => (v.clone(), rest.clone()),
                    (None, Some((class, canonical))) => (
                        vec![class],
                        if tail.is_empty() { canonical } else { tail }.to_owned(),
                    ),
                    (None, None) => return Err(format!("no verb found in {raw:?}")),
                }
            }
        };
        if verb_written {
            group_start = clauses.len();
        }
        previous_verbs = Some(verbs.clone());
        let (object, recipient_conditions) = split_recipient(&object)?;
        let admission = verbs == [VerbClass::Execute]
            && SANDBOX_WORDS.contains(
                &object
                    .trim()
                    .trim_start_matches("the ")
                    .trim_start_matches("a "),
            );
        let targets = if admission {
            Vec::new()
        } else {
            object_targets(&object).map_err(|e| format!("in {raw:?}: {e}"))?
        };
        let recipient: Vec<Condition> = conditions
            .iter()
            .chain(&recipient_conditions)
            .filter(|c| matches!(c, Condition::DestinationExternal { .. }))
            .cloned()
            .collect();
        if !recipient.is_empty() {
            // "send credentials or personal data to external recipients": the recipient is
            // every object's of the same verb, not only the last one's.
            for earlier in clauses[group_start..].iter_mut() {
                let earlier: &mut Clause = earlier;
                if !earlier
                    .conditions
                    .iter()
                    .any(|c| matches!(c, Condition::DestinationExternal { .. }))
                {
                    earlier.conditions.extend(recipient.iter().cloned());
                }
            }
        }
        let mut all = conditions;
        all.extend(recipient_conditions);
        let bare = verb_written && object.trim().is_empty() && all.is_empty() && !admission;
        if !targets.is_empty() {
            // "view, edit or delete drafts": verbs written without an object share the next
            // object written.
            for i in pending_bare.drain(..) {
                let shared: &mut Clause = &mut clauses[i];
                shared.targets = targets.clone();
            }
        }
        if bare {
            pending_bare.push(clauses.len());
        }
        clauses.push(Clause {
            verbs,
            targets,
            conditions: all,
            only,
            admission,
        });
    }
    if clauses.is_empty() {
        return Err("no action named".into());
    }
    if clauses.len() > 1 && !pending_bare.is_empty() {
        // A bare verb in a list would allow or forbid that verb on everything: it is more
        // likely a noun the lexicon does not know ("tickets and posts").
        return Err(format!(
            "{:?} reads as an action on everything in a list of objects: name what it acts on",
            vp
        ));
    }
    Ok(clauses)
}

/// `data to third parties` → object `data`, condition: destination external; `to external
/// websites`, `to new recipients` or to a named outside service (`to Dropbox`) too.
fn split_recipient(object: &str) -> Result<(String, Vec<Condition>), String> {
    let padded = format!(" {object}");
    for sep in [" to ", " with "] {
        if let Some((main, recipient)) = padded.split_once(sep) {
            if !outside_recipient(recipient) {
                return Err(format!(
                    "does not know whether recipient {recipient:?} is inside or outside the organisation"
                ));
            }
            return Ok((
                main.trim().to_owned(),
                vec![Condition::DestinationExternal { external: true }],
            ));
        }
    }
    Ok((object.to_owned(), Vec::new()))
}

/// Services outside the organisation that policies name as recipients.
const OUTSIDE_SERVICES: [&str; 14] = [
    "dropbox",
    "google drive",
    "onedrive",
    "box",
    "wetransfer",
    "pastebin",
    "github gists",
    "gists",
    "personal email",
    "personal email accounts",
    "personal accounts",
    "social media",
    "chatgpt",
    "public repositories",
];

/// Whether a recipient phrase names someone or something outside the organisation.
fn outside_recipient(recipient: &str) -> bool {
    let phrase = recipient
        .trim()
        .trim_start_matches("the ")
        .trim_start_matches("any ")
        .trim_start_matches("their ")
        .trim_start_matches("unknown ");
    let people = [
        "customers",
        "clients",
        "third parties",
        "external parties",
        "outsiders",
        "the public",
        "public",
        "vendors",
        "partners",
        "competitors",
        "anyone",
        "external recipients",
        "recipients",
        "new recipients",
        "new contacts",
        "new payees",
        "payees",
        "external accounts",
        "new accounts",
        "external websites",
        "external sites",
        "websites",
        "external services",
        "outside services",
        "the internet",
        "external domains",
    ];
    people.contains(&phrase) || OUTSIDE_SERVICES.contains(&phrase)
}

type Extractor = fn(&Captures<'_>) -> Result<Option<Condition>, String>;

fn extractors() -> &'static [(Regex, Extractor)] {
    static E: OnceLock<Vec<(Regex, Extractor)>> = OnceLock::new();
    E.get_or_init(|| {
        let r = |p: &str| Regex::new(p).expect("condition patterns are valid");
        let list: Vec<(Regex, Extractor)> = vec![
            (
                r(r"\bfor (?P<state>active|open|closed|pending|assigned|resolved|escalated) (?P<noun>[a-z]+)\b"),
                |c| Ok(Some(Condition::Attribute { key: format!("{}.status", singular(&c["noun"])), value: c["state"].to_owned(), negated: false })),
            ),
            (
                r(r"\b(?:when|if|while) (?:the |a |an )?(?P<noun>[a-z]+) is (?P<neg>not )?(?P<state>[a-z]+)\b"),
                |c| Ok(Some(Condition::Attribute { key: format!("{}.status", singular(&c["noun"])), value: c["state"].to_owned(), negated: c.name("neg").is_some() })),
            ),
            (
                r(r"\b(?:(?:to|with) (?:anyone |people |parties |recipients |users |contacts |domains |addresses )?outside (?:of )?(?:the )?(?:company|organi[sz]ation|org)|outside (?:of )?(?:the )?(?:company|organi[sz]ation|org)|externally|(?:to|with) external (?:recipients|parties|domains|addresses|users|customers|contacts|people|partners|vendors))\b"),
                |_| Ok(Some(Condition::DestinationExternal { external: true })),
            ),
            (
                r(r"\boutside (?:of )?(?:the |their |our )?(?P<sys>[a-z][a-z -]*?)(?: system| platform| tool| channel| application| app)?$"),
                |c| Ok(Some(Condition::Channel { channel: channel_name(&c["sys"]), negated: true })),
            ),
            (
                r(r"\b(?:through|via|using|within|in) (?:the |their |our )?(?P<sys>[a-z][a-z -]*?) (?:system|platform|tool|channel|application|app)\b"),
                |c| Ok(Some(Condition::Channel { channel: channel_name(&c["sys"]), negated: false })),
            ),
            (
                r(r"\b(?:above|over|exceeding|in excess of|more than|greater than|larger than|of more than) (?P<cur1>\$|usd |eur |€|£|gbp )?(?P<n>[0-9][0-9,]*(?:\.[0-9]+)?)(?: ?(?P<cur2>usd|dollars|eur|euros|gbp|pounds))?"),
                |c| {
                    let amount: f64 = c["n"].replace(',', "").parse().map_err(|_| format!("bad amount {:?}", &c["n"]))?;
                    let currency = match c.name("cur1").or(c.name("cur2")).map(|m| m.as_str().trim()) {
                        Some("eur" | "€" | "euros") => "EUR",
                        Some("gbp" | "£" | "pounds") => "GBP",
                        _ => "USD",
                    };
                    Ok(Some(Condition::AmountAbove { amount, currency: currency.into() }))
                },
            ),
            (
                r(r"\b(?:containing|that contains?|that includes?|including|with) (?P<what>pii|personal data|personal information|health data|health information|medical data|medical information|financial data|payment data|card numbers|credentials|secrets|passwords)\b"),
                |c| {
                    let types = data_types_of(&c["what"]).ok_or_else(|| format!("unknown data {:?}", &c["what"]))?;
                    Ok(types.first().map(|&data_type| Condition::ContainsData { data_type }))
                },
            ),
            (
                r(r"\b(?:with|using|requesting) (?:a |any )?(?:gpus?|gpu access)\b"),
                |_| Ok(Some(Condition::GpuRequested { requested: true })),
            ),
            (
                r(r"\b(?:with|using|on|in) (?:the )?host network(?:ing| namespace)?\b"),
                |_| Ok(Some(Condition::HostNetwork { host: true })),
            ),
            (
                r(r"\b(?:in privileged mode|as privileged|with (?:elevated )?privileges|as root|privileged)\b"),
                |_| Ok(Some(Condition::Privileged { privileged: true })),
            ),
        ];
        list
    })
}

fn only_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"\bonly\b")
}

/// Conditions found in a clause, the clause without them, and whether it says "only".
fn extract_conditions(clause: &str) -> Result<(Vec<Condition>, String, bool), String> {
    let mut text = clause.to_owned();
    let mut conditions = Vec::new();
    for (pattern, build) in extractors() {
        while let Some(c) = pattern.captures(&text) {
            let range = c.get(0).expect("whole match").range();
            if let Some(condition) = build(&c)? {
                conditions.push(condition);
            }
            text.replace_range(range, " ");
        }
    }
    let only = only_re().is_match(&text);
    let text = only_re().replace_all(&text, " ");
    let rest = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((conditions, rest, only))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openshell_policy::wire::DataType;

    const SEED: &str = "Customer support agents may access customer records for active tickets only. \
They may not access financial data, modify account settings, or communicate \
with customers outside of the ticketing system. All PII must be redacted \
from internal logs.";

    #[test]
    fn sentences_have_character_spans() {
        let s = sentences(
            "Agents may read tickets. Ünïcode agents may not delete backups!\n\n- Never wire money",
        );
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].start, s[0].end), (0, 24));
        assert_eq!(s[1].text, "Ünïcode agents may not delete backups!");
        assert_eq!((s[1].start, s[1].end), (25, 63));
        assert_eq!(s[2].text, "Never wire money");
    }

    #[test]
    fn the_seed_paragraph_compiles() {
        let ir = GrammarCompiler.compile(1, SEED).unwrap();
        assert!(ir.unparsed.is_empty(), "{:?}", ir.unparsed);
        let r = &ir.rules;
        assert_eq!(r.len(), 5);
        assert_eq!(
            (r[0].id.as_str(), r[0].effect, r[0].only),
            ("nl:1.1.1", Effect::Permit, true)
        );
        assert_eq!(r[0].subject, "customer support agents");
        assert!(r[0].verbs.is_empty(), "access = any verb");
        assert_eq!(
            r[0].conditions,
            vec![Condition::Attribute {
                key: "ticket.status".into(),
                value: "active".into(),
                negated: false
            }]
        );
        assert!(r[0].targets.contains(&Target::ResourceKind {
            name: "customer".into()
        }));
        assert_eq!(
            (r[1].effect, r[1].subject.as_str()),
            (Effect::Forbid, "customer support agents")
        );
        assert!(r[1].targets.contains(&Target::DataType {
            data_type: DataType::Financial
        }));
        assert_eq!(r[2].verbs, vec![VerbClass::Modify]);
        assert!(r[2].targets.contains(&Target::Service {
            name: "settings".into()
        }));
        assert_eq!(r[3].verbs, vec![VerbClass::Send]);
        assert_eq!(
            r[3].conditions,
            vec![Condition::Channel {
                channel: "ticketing".into(),
                negated: true
            }]
        );
        assert!(r[3].targets.contains(&Target::ExternalRecipient));
        assert_eq!(r[4].effect, Effect::Redact);
        assert_eq!(
            r[4].targets,
            vec![Target::DataType {
                data_type: DataType::Personal
            }]
        );
        assert_eq!(r[4].location.as_deref(), Some("internal logs"));
        assert_eq!(r[1].source.start, SEED.find("They").unwrap());
        assert_eq!(
            &SEED[r[4].source.start..r[4].source.end],
            "All PII must be redacted from internal logs."
        );
    }

    #[test]
    fn common_phrasings() {
        let text = "Agents must obtain manager approval before deleting customer data. \
                    Refunds above $100 require approval. \
                    Agents may not share personal data with third parties. \
                    Agents must not send emails containing PII to external recipients without approval. \
                    Sandboxes may not start with GPU access. \
                    Agents may call crm.read and ticket.* only through the ticketing system.";
        let ir = GrammarCompiler.compile(2, text).unwrap();
        assert!(ir.unparsed.is_empty(), "{:?}", ir.unparsed);
        let r = &ir.rules;
        assert_eq!(
            (r[0].effect, r[0].verbs.clone()),
            (Effect::Escalate, vec![VerbClass::Delete])
        );
        assert_eq!(r[1].effect, Effect::Escalate);
        assert_eq!(
            r[1].conditions,
            vec![Condition::AmountAbove {
                amount: 100.0,
                currency: "USD".into()
            }]
        );
        assert_eq!(r[1].verbs, vec![VerbClass::Pay]);
        assert_eq!(
            r[2].conditions,
            vec![Condition::DestinationExternal { external: true }]
        );
        assert_eq!(r[3].effect, Effect::Escalate);
        assert!(r[3].conditions.contains(&Condition::ContainsData {
            data_type: DataType::Personal
        }));
        assert_eq!(
            (r[4].action, r[4].effect),
            (RuleAction::Admit, Effect::Forbid)
        );
        assert_eq!(
            r[4].conditions,
            vec![Condition::GpuRequested { requested: true }]
        );
        assert_eq!(
            r[5].targets,
            vec![Target::Api {
                glob: "crm.read".into()
            }]
        );
        assert_eq!(
            r[6].targets,
            vec![Target::Api {
                glob: "ticket.*".into()
            }]
        );
        assert!(r[6].only);
    }

    fn only_rule(text: &str) -> Vec<NlRule> {
        let ir = GrammarCompiler.compile(1, text).unwrap();
        assert!(ir.unparsed.is_empty(), "{:?}", ir.unparsed);
        ir.rules
    }

    #[test]
    fn external_websites_new_recipients_and_named_services_are_outside() {
        let r = only_rule(
            "Agents may not send data to external websites or new recipients without approval.",
        );
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.effect == Effect::Escalate));
        assert_eq!(
            r[0].conditions,
            vec![Condition::DestinationExternal { external: true }]
        );
        assert_eq!(r[1].targets, vec![Target::ExternalRecipient]);
        let r = only_rule("Agents may not upload files to Dropbox.");
        assert_eq!(
            r[0].conditions,
            vec![Condition::DestinationExternal { external: true }]
        );
        assert_eq!(r[0].verbs, vec![VerbClass::Send]);
    }

    #[test]
    fn a_listed_noun_that_is_also_a_verb_stays_an_object() {
        let r = only_rule("Agents may not delete files or emails without approval.");
        assert_eq!(r.len(), 2);
        assert!(
            r.iter().all(|r| r.verbs == vec![VerbClass::Delete]),
            "no rule about every send: {r:?}"
        );
        assert_eq!(
            r[1].targets,
            vec![Target::Service {
                name: "email".into()
            }]
        );
        let r = only_rule("Agents may read emails, calendar events and files.");
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|r| r.verbs == vec![VerbClass::Read]), "{r:?}");
        assert!(
            r.iter().all(|r| !r.targets.is_empty()),
            "nothing is permitted on everything"
        );
        assert!(r[2].targets.contains(&Target::Service {
            name: "file".into()
        }));
    }

    #[test]
    fn verbs_without_an_object_share_the_next_one_or_are_reported() {
        let r = only_rule("Agents may view, edit or delete drafts.");
        assert_eq!(r.len(), 3);
        assert!(
            r.iter()
                .all(|rule| rule.targets == r[2].targets && !rule.targets.is_empty()),
            "{r:?}"
        );
        let ir = GrammarCompiler
            .compile(1, "Agents may read tickets and posts.")
            .unwrap();
        assert!(ir.rules.is_empty(), "{:?}", ir.rules);
        assert!(ir.unparsed[0].reason.contains("name what it acts on"));
        let r = only_rule("Agents may not delete.");
        assert_eq!((r.len(), r[0].targets.is_empty()), (1, true));
    }

    #[test]
    fn the_recipient_applies_to_every_object_of_the_verb() {
        let r =
            only_rule("Agents may not send credentials or personal data to external recipients.");
        assert_eq!(r.len(), 2);
        for rule in &r {
            assert_eq!(
                rule.conditions,
                vec![Condition::DestinationExternal { external: true }],
                "{rule:?}"
            );
        }
    }

    #[test]
    fn payment_verbs_cover_banking() {
        for text in [
            "Payments above $100 require approval.",
            "Agents must obtain approval before sending money to new recipients.",
            "Agents may not transfer money to external accounts.",
        ] {
            let r = only_rule(text);
            assert_eq!(r[0].verbs, vec![VerbClass::Pay], "{text}");
            assert!(
                r[0].targets.is_empty()
                    || r[0].targets.contains(&Target::Service {
                        name: "banking".into()
                    }),
                "{text}: {:?}",
                r[0].targets
            );
        }
    }

    #[test]
    fn sentences_not_understood_are_reported_with_their_position() {
        let text = "Agents may read tickets. The quarterly review happens on Fridays. \
                    Agents may not archive the thing we discussed yesterday.";
        let ir = GrammarCompiler.compile(1, text).unwrap();
        assert_eq!(ir.rules.len(), 1);
        assert_eq!(ir.unparsed.len(), 2);
        assert_eq!(ir.unparsed[0].source.start, 25);
        assert_eq!(
            ir.unparsed[0].source.text,
            "The quarterly review happens on Fridays."
        );
        assert!(
            ir.unparsed[1].reason.contains("does not know what"),
            "{}",
            ir.unparsed[1].reason
        );
    }
}
