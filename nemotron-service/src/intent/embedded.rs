//! The embedded intent engine: deterministic, explainable, microseconds per call.
//!
//! - Sensitivity: the highest of the content detectors over `data` (every field and field
//!   name), `resource` and `attributes`, and the resource taxonomy of the service and resource
//!   kind (unknown systems default to internal with low confidence).
//! - Reversibility: the verb taxonomy (`delete` irreversible, `update` partially, `read`
//!   fully); `dry_run=true` makes anything fully reversible.
//! - Scope: external when the destination is outside the organisation; organisation for
//!   infrastructure and identity systems, wildcard resources, all-hands addresses or counts of
//!   100+; team for team-like resources, team addresses or counts of 2–99; else single.
//! - The text of `data` ([`crate::content`]) then raises these axes ([`super::fusion`]):
//!   credentials and identity documents named, transfers, exfiltration, bulk deletion,
//!   publication, external recipients and `all`/`every` in the text.
//! - With the `embeddings` feature and a model loaded ([`EmbeddedEngine::with_semantic`]), the
//!   semantic verdict on the text of `data` ([`super::semantic`]) raises them too.
//! - The recipients' own addresses (the destination) in `data` are where data goes, not
//!   personal data sent: they are not scanned, nor is a single address of the organisation's
//!   own (its contact point), nor a phone number given as where to reach it or its staff,
//!   nor the address of the person the text greets (`Hi Mark, … your login mark.ellis@…`).
//! - Compliance: GDPR for personal data, HIPAA for health data, PCI-DSS for card data, SOC 2
//!   for credentials, security and infrastructure systems, access changes and destruction of
//!   confidential data.

use std::collections::BTreeMap;
#[cfg(feature = "embeddings")]
use std::sync::Arc;

use openshell_classifier::{Classifier, ContentClassification};
use openshell_policy::wire::{
    ActionRequest, Assessment, ComplianceAssessment, ComplianceFramework, DataType,
    DataTypeAssessment, Evidence, IntentClassification, Reversibility, Scope, Sensitivity,
};

use super::fusion::{Axes, fuse};
use crate::cedar::CONTEXT_DATA_TYPE_MIN_CONFIDENCE;
use crate::content::SignalKind;
use crate::destination::{DestinationAnalyzer, DestinationForm};
use crate::facts::ActionFacts;
use crate::taxonomy::{ResourceMeaning, VerbClass, resource_meaning};

/// The engine name reported in results.
pub const EMBEDDED_ENGINE: &str = "embedded";

/// Resource kinds that are groups of people or work.
const TEAM_KINDS: [&str; 8] = [
    "team",
    "group",
    "channel",
    "project",
    "department",
    "queue",
    "org-unit",
    "list",
];
/// Resource kinds that hold what many people put there, besides the groups of
/// [`TEAM_KINDS`]: deleting one deletes all of it.
const SHARED_SPACES: [&str; 7] = [
    "workspace",
    "space",
    "repository",
    "repo",
    "bucket",
    "backup",
    "database",
];
/// Mailbox names that reach everyone.
const ALL_HANDS: [&str; 6] = [
    "all",
    "everyone",
    "staff",
    "company",
    "allhands",
    "all-staff",
];

/// The embedded engine.
#[derive(Clone)]
pub struct EmbeddedEngine {
    classifier: Classifier,
    destinations: DestinationAnalyzer,
    region: Option<String>,
    #[cfg(feature = "embeddings")]
    semantic: Option<Arc<super::semantic::SemanticModel>>,
}

fn evidence(
    field: Option<&str>,
    detector: impl Into<String>,
    sample: Option<String>,
    confidence: f32,
) -> Evidence {
    Evidence {
        field: field.map(str::to_owned),
        detector: detector.into(),
        span: None,
        sample,
        confidence,
    }
}

impl EmbeddedEngine {
    /// An engine with the node's internal domains and region.
    pub fn new(
        classifier: Classifier,
        destinations: DestinationAnalyzer,
        region: Option<String>,
    ) -> EmbeddedEngine {
        EmbeddedEngine {
            classifier,
            destinations,
            region,
            #[cfg(feature = "embeddings")]
            semantic: None,
        }
    }

    /// The engine with the semantic signal of `model` fused with the detectors.
    #[cfg(feature = "embeddings")]
    pub fn with_semantic(mut self, model: Arc<super::semantic::SemanticModel>) -> EmbeddedEngine {
        self.semantic = Some(model);
        self
    }

    /// The destination analyzer (shared with the decision context).
    pub fn destinations(&self) -> &DestinationAnalyzer {
        &self.destinations
    }

    /// Classifies an action.
    pub fn classify(&self, request: &ActionRequest) -> IntentClassification {
        let facts = ActionFacts::derive(request, &self.destinations);
        self.classify_with_facts(request, &facts)
    }

    /// Classifies an action whose facts are already derived.
    pub fn classify_with_facts(
        &self,
        request: &ActionRequest,
        facts: &ActionFacts,
    ) -> IntentClassification {
        let content = self.content(request);
        let taxonomy = self.taxonomy(facts);
        let mut data_types = data_types(&content, &taxonomy);
        let mut sensitivity =
            protected_health(sensitivity(&content, &taxonomy), &content, &data_types);
        let mut reversibility = reversibility(facts, request.data.is_some());
        let mut scope = scope(facts, &taxonomy);
        let mut injected_instructions = Vec::new();
        let mut controls_off = Vec::new();
        fuse(
            facts,
            Axes {
                sensitivity: &mut sensitivity,
                data_types: &mut data_types,
                reversibility: &mut reversibility,
                scope: &mut scope,
                injected_instructions: &mut injected_instructions,
                controls_off: &mut controls_off,
            },
        );
        #[cfg(feature = "embeddings")]
        self.fuse_semantic(
            request,
            facts,
            Axes {
                sensitivity: &mut sensitivity,
                data_types: &mut data_types,
                reversibility: &mut reversibility,
                scope: &mut scope,
                injected_instructions: &mut injected_instructions,
                controls_off: &mut controls_off,
            },
        );
        let compliance = self.compliance(
            facts,
            &content,
            &taxonomy,
            &data_types,
            sensitivity.value,
            scope.value,
        );
        IntentClassification {
            sensitivity,
            data_types,
            reversibility,
            scope,
            compliance,
            injected_instructions,
            controls_off,
            engine: EMBEDDED_ENGINE.into(),
            fallback: None,
        }
    }

    /// Whether classifying `request` runs the embedding model: a model is loaded, `data` has
    /// text, and the axes the detectors decided are undecided
    /// (`fusion::semantic_can_raise`).
    #[cfg(feature = "embeddings")]
    pub fn runs_semantic(&self, request: &ActionRequest) -> bool {
        if self.semantic.is_none() || self.text_for_model(request).is_none() {
            return false;
        }
        let detectors = EmbeddedEngine {
            semantic: None,
            ..self.clone()
        }
        .classify(request);
        let facts = ActionFacts::derive(request, &self.destinations);
        super::fusion::semantic_can_raise(
            &facts,
            detectors.reversibility.value,
            detectors.scope.value,
        )
    }

    /// The text of `data` the model reads, when there is any.
    #[cfg(feature = "embeddings")]
    fn text_for_model(&self, request: &ActionRequest) -> Option<String> {
        let text = super::semantic::text_of(request.data.as_ref()?);
        (!text.trim().is_empty()).then_some(text)
    }

    /// Raises the axes by the semantic verdict on the text of `data`, when a model is loaded
    /// and the detectors leave the axes undecided ([`super::fusion::semantic_can_raise`]:
    /// otherwise no verdict could change them, and the model is not run). A text the model
    /// fails on is reported in the sensitivity's evidence (`semantic:unavailable`) and
    /// raises nothing.
    #[cfg(feature = "embeddings")]
    fn fuse_semantic(&self, request: &ActionRequest, facts: &ActionFacts, axes: Axes<'_>) {
        let Some(model) = &self.semantic else {
            return;
        };
        if !super::fusion::semantic_can_raise(facts, axes.reversibility.value, axes.scope.value) {
            return;
        }
        let Some(text) = self.text_for_model(request) else {
            return;
        };
        match model.assess(&text) {
            Ok(Some(verdict)) => super::fusion::fuse_semantic(facts, &verdict, axes),
            Ok(None) => {}
            Err(e) => axes.sensitivity.evidence.push(evidence(
                Some("data"),
                "semantic:unavailable",
                Some(e.to_string()),
                0.0,
            )),
        }
    }

    /// Content findings over `data`, `resource` and `attributes`, merged.
    pub fn content(&self, request: &ActionRequest) -> Vec<ContentClassification> {
        let mut parts = Vec::new();
        if let Some(data) = &request.data {
            // The recipients (one address, or a list: `a@x.com; b@y.com`) and whoever the
            // message copies (`cc our legal team at legal@company.com`) are where it goes.
            let recipients: Vec<&str> = request
                .destination
                .as_deref()
                .into_iter()
                .flat_map(|d| d.split([';', ',', ' ']))
                .map(|d| d.trim().trim_start_matches("mailto:"))
                .filter(|d| d.contains('@'))
                .collect();
            let mut addressed: Vec<String> = recipients
                .iter()
                .filter(|address| mentions(data, address))
                .map(|address| (*address).to_owned())
                .collect();
            if !recipients.is_empty() {
                copied_addresses(data, &mut addressed);
                listed_attendees(data, &mut addressed);
            }
            // Whoever a file is shared with (`share … view-only with Karen Holt, our DHL account
            // manager (karen.holt@dhl.com)`) is where it goes.
            shared_with(data, &mut addressed);
            // A number given as where to reach the organisation or its staff (`our 24-hour
            // emergency line is …`, `Ms Green can be reached on …`) is its contact point too.
            contact_numbers(data, &mut addressed);
            // The greeted person's own address (`Hi Mark, … your login mark.ellis@…`) is
            // who the message is for.
            greeted_addresses(data, &mut addressed);
            // One address of the organisation's own in the text is where it asks to be
            // reached (`invite her to email guestcare@company.com`, `agent contact: priya@…`),
            // not personal data; several are a directory. Its role mailboxes
            // (`events@company.com`, `accounts-payable@…`) are where it is reached however
            // many the text gives.
            addressed.extend(self.own_contact_points(data));
            let classified = if addressed.is_empty() {
                self.classifier.classify_json(data, "data")
            } else {
                let data = addressed
                    .iter()
                    .fold(data.clone(), |data, address| without(&data, address));
                self.classifier.classify_json(&data, "data")
            };
            parts.push(classified);
        }
        if let Some(resource) = &request.resource {
            let mut c = self.classifier.classify_text(resource);
            c.evidence
                .iter_mut()
                .for_each(|e| e.field = Some("resource".into()));
            c.data_types
                .iter_mut()
                .flat_map(|d| d.evidence.iter_mut())
                .for_each(|e| e.field = Some("resource".into()));
            parts.push(c);
        }
        if !request.attributes.is_empty() {
            let attributes = serde_json::to_value(&request.attributes).unwrap_or_default();
            parts.push(self.classifier.classify_json(&attributes, "attributes"));
        }
        parts
    }

    /// The addresses at an internal domain `data` names that are where the organisation is
    /// reached: every one whose mailbox is a function, not a person ([`is_role_mailbox`]), and
    /// the one it names if it names exactly one (however often).
    fn own_contact_points(&self, data: &serde_json::Value) -> Vec<String> {
        let mut all = Vec::new();
        addresses_in(data, &mut all);
        let own: Vec<String> = all
            .into_iter()
            .filter(|a| {
                a.rsplit_once('@')
                    .is_some_and(|(_, domain)| !self.destinations.external_domain(domain))
            })
            .collect();
        let mut points: Vec<String> = own
            .iter()
            .filter(|a| {
                a.rsplit_once('@')
                    .is_some_and(|(local, _)| is_role_mailbox(local))
            })
            .cloned()
            .collect();
        if let Some(first) = own.first()
            && own.iter().all(|a| a == first)
        {
            points.push(first.clone());
        }
        points
    }

    fn taxonomy(&self, facts: &ActionFacts) -> Vec<(String, String, ResourceMeaning)> {
        let mut found = Vec::new();
        if let Some(m) =
            resource_meaning(&facts.service).or_else(|| resource_meaning(&facts.service_kind))
        {
            found.push(("action".to_owned(), facts.service.clone(), m));
        }
        if !facts.resource_kind.is_empty()
            && facts.resource_kind != facts.service
            && let Some(m) = resource_meaning(&facts.resource_kind)
        {
            found.push(("resource".to_owned(), facts.resource_kind.clone(), m));
        }
        found
    }

    fn compliance(
        &self,
        facts: &ActionFacts,
        content: &[ContentClassification],
        taxonomy: &[(String, String, ResourceMeaning)],
        data_types: &[DataTypeAssessment],
        sensitivity: Sensitivity,
        scope: Scope,
    ) -> Vec<ComplianceAssessment> {
        let mut out: BTreeMap<ComplianceFramework, ComplianceAssessment> = BTreeMap::new();
        let mut add = |framework: ComplianceFramework, confidence: f32, ev: Vec<Evidence>| {
            let entry = out
                .entry(framework)
                .or_insert_with(|| ComplianceAssessment {
                    framework,
                    confidence: 0.0,
                    evidence: Vec::new(),
                });
            entry.confidence = entry.confidence.max(confidence);
            entry.evidence.extend(ev);
        };
        let of_type = |t: DataType| data_types.iter().find(|d| d.data_type == t);
        let personal = of_type(DataType::Personal);
        let iban: Vec<Evidence> = content
            .iter()
            .flat_map(|c| c.evidence.iter())
            .filter(|e| e.detector == "iban")
            .cloned()
            .collect();
        if personal.is_none() && !iban.is_empty() {
            add(ComplianceFramework::Gdpr, 0.8, iban);
        }
        if let Some(p) = personal {
            let eu = self
                .region
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("eu"));
            let mut ev = p.evidence.clone();
            if eu {
                ev.push(evidence(None, "region:EU", None, 0.95));
            }
            add(ComplianceFramework::Gdpr, if eu { 0.95 } else { 0.85 }, ev);
        }
        if let Some(h) = of_type(DataType::Health) {
            let phi = personal.is_some() && sensitivity == Sensitivity::Restricted;
            add(
                ComplianceFramework::Hipaa,
                if phi { 0.9 } else { 0.75 },
                h.evidence.clone(),
            );
        }
        let card_evidence: Vec<Evidence> = content
            .iter()
            .flat_map(|c| c.evidence.iter())
            .filter(|e| {
                e.detector == "payment-card"
                    || (e.detector == "field-name:financial"
                        && e.sample.as_deref().is_some_and(|s| {
                            let s = s.to_ascii_lowercase();
                            s.contains("card")
                                || s.contains("cvv")
                                || s.contains("cvc")
                                || s == "pan"
                        }))
            })
            .cloned()
            .collect();
        if !card_evidence.is_empty() {
            add(ComplianceFramework::PciDss, 0.95, card_evidence);
        }
        if let Some(c) = of_type(DataType::Credentials) {
            add(ComplianceFramework::Soc2, 0.85, c.evidence.clone());
        }
        for (field, name, meaning) in taxonomy {
            if let Some(framework) = meaning.compliance {
                add(
                    framework,
                    0.75,
                    vec![evidence(
                        Some(field),
                        format!("resource:{name}"),
                        None,
                        0.75,
                    )],
                );
            }
        }
        let verb_ev = || {
            vec![evidence(
                Some("action"),
                format!("verb:{}", facts.verb),
                None,
                0.7,
            )]
        };
        match facts.verb_class() {
            VerbClass::Admin => add(ComplianceFramework::Soc2, 0.75, verb_ev()),
            VerbClass::Delete if sensitivity >= Sensitivity::Confidential => {
                add(ComplianceFramework::Soc2, 0.7, verb_ev())
            }
            VerbClass::Execute if scope >= Scope::Organization => {
                add(ComplianceFramework::Soc2, 0.7, verb_ev())
            }
            _ => {}
        }
        out.into_values().collect()
    }
}

/// Whether a string value of `data` mentions `address` (ASCII case-insensitively).
fn mentions(data: &serde_json::Value, address: &str) -> bool {
    match data {
        serde_json::Value::String(s) => s
            .to_ascii_lowercase()
            .contains(&address.to_ascii_lowercase()),
        serde_json::Value::Array(items) => items.iter().any(|v| mentions(v, address)),
        serde_json::Value::Object(map) => map.values().any(|v| mentions(v, address)),
        _ => false,
    }
}

/// The addresses `data`'s text copies the message to (`cc legal@company.com`, `copy in
/// jo@x.com`), added to `out`.
fn copied_addresses(data: &serde_json::Value, out: &mut Vec<String>) {
    static COPIED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let copied = crate::content::regex(
        &COPIED,
        r"(?i)\b(?:b?cc|copy(?:ing)?(?: in)?|copied in)\b[^@\n]{0,40}?\b([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})",
    );
    first_groups(data, copied, out);
}

/// The addresses `data`'s text shares something with (`share the rates sheet view-only with
/// Karen Holt (karen.holt@dhl.com)`), added to `out`.
fn shared_with(data: &serde_json::Value, out: &mut Vec<String>) {
    static SHARED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let shared = crate::content::regex(
        &SHARED,
        r"(?i)\bshar(?:e|es|ed|ing)\b[^@\n]{0,120}?\bwith\b[^@\n.;]{0,60}?\b([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})",
    );
    first_groups(data, shared, out);
}

/// The addresses `data`'s text lists as the attendees of what it sets up (`Attendees:
/// l.fenwick@x.co.uk, practice.manager@x.co.uk`, `Set up a 45-minute review on Thursday with
/// priya.nair@company.com and joe@emberbikes.co.uk`) or invites (`invite h2-safety@company.com
/// and our consultant j.wright@ricardo.com`), added to `out`: they are who it goes to. An invitation
/// the text describes (`Invite: 'VPN renewal' from it@…`) names its sender, not its guests.
fn listed_attendees(data: &serde_json::Value, out: &mut Vec<String>) {
    static LIST: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let list = crate::content::regex(
        &LIST,
        r"(?i)\b(?:(?:attendees|participants|invitees|guests)\s*:\s*|invit(?:e|es|ing) +|(?:set up|schedule|book|arrange|organi[sz]e) (?:a |an |the )?[^\n@]{0,160}?\bwith +)([^\n:]*?)(?:\.(?:\s|$)|\n|$)",
    );
    let mut lists = Vec::new();
    first_groups(data, list, &mut lists);
    for listed in lists {
        addresses_in(&serde_json::Value::String(listed), out);
    }
}

/// Last words of a mailbox that names a function: `events@`, `accounts-payable@`, `h2-safety@`.
const ROLE_WORDS: &[&str] = &[
    "accounts",
    "admin",
    "ap",
    "ar",
    "billing",
    "bookings",
    "careers",
    "compliance",
    "contact",
    "customerservice",
    "dispatch",
    "enquiries",
    "events",
    "finance",
    "hello",
    "help",
    "helpdesk",
    "hr",
    "info",
    "inquiries",
    "invoices",
    "it",
    "jobs",
    "legal",
    "logistics",
    "marketing",
    "media",
    "noreply",
    "office",
    "ops",
    "orders",
    "payable",
    "payroll",
    "press",
    "procurement",
    "purchasing",
    "quality",
    "receivable",
    "reception",
    "recruitment",
    "returns",
    "safety",
    "sales",
    "security",
    "service",
    "servicedesk",
    "shipping",
    "support",
    "team",
];

/// Whether a mailbox's local part names a function rather than a person: no `.` (people's
/// are `first.last`), and its last word after `-` or `_` is a function (`events`,
/// `accounts-payable`, `h2-safety`, `no-reply`).
fn is_role_mailbox(local: &str) -> bool {
    let local = local.to_ascii_lowercase();
    !local.contains('.')
        && local
            .rsplit(['-', '_'])
            .next()
            .is_some_and(|last| last == "reply" || ROLE_WORDS.contains(&last))
}

/// The phone numbers `data`'s text gives as where to reach the organisation or someone at it
/// (`our 24-hour emergency line is +44 20 7946 0321`, `can be reached on 01632 960 118`, `call
/// our finance team on +44 1223 496 018`),
/// added to `out`.
fn contact_numbers(data: &serde_json::Value, out: &mut Vec<String>) {
    static CONTACT: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let contact = crate::content::regex(
        &CONTACT,
        r"(?i)\b(?:(?:our|the (?:office|school|practice|surgery|branch|team|clinic|agency)(?:'s)?) (?:[\w-]+ ){0,3}?(?:line|number|phone|helpline|hotline|switchboard|desk)|(?:call|ring|phone|contact) (?:our|the) (?:[\w-]+ ){0,3}?(?:team|office|desk|department|helpline|hotline|switchboard)|can be reached|call(?:ing)? us|ring(?:ing)? us|contact(?:ing)? us|reach(?:ing)? us|(?:conference |audio |meeting )?(?:bridge|dial-in))(?: is| on| at|:)?\s*(\+?\d[\d ()-]{7,18}\d)",
    );
    first_groups(data, contact, out);
}

/// The addresses in `data` of the person its text greets by first name (`Hi Mark, … your
/// login mark.ellis@example.co.uk`), added to `out`: an address whose local part is that name,
/// alone or before `.`, `_`, `-` or a digit.
fn greeted_addresses(data: &serde_json::Value, out: &mut Vec<String>) {
    static GREETING: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let greeting = crate::content::regex(
        &GREETING,
        r"(?i)^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)),?\s+([a-z]{3,})\b",
    );
    let mut names = Vec::new();
    first_groups(data, greeting, &mut names);
    if names.is_empty() {
        return;
    }
    names
        .iter_mut()
        .for_each(|name| name.make_ascii_lowercase());
    let mut addresses = Vec::new();
    addresses_in(data, &mut addresses);
    let greeted = |address: &str| {
        let local = address
            .split('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        names.iter().any(|name| {
            local.strip_prefix(name.as_str()).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with(['.', '_', '-'])
                    || rest.starts_with(|c: char| c.is_ascii_digit())
            })
        })
    };
    out.extend(addresses.into_iter().filter(|a| greeted(a)));
}

/// The first group of every match of `re` in `data`'s strings, added to `out`.
fn first_groups(data: &serde_json::Value, re: &regex::Regex, out: &mut Vec<String>) {
    match data {
        serde_json::Value::String(s) => {
            out.extend(re.captures_iter(s).map(|c| c[1].to_owned()));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| first_groups(v, re, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| first_groups(v, re, out)),
        _ => {}
    }
}

/// Every email address in `data`'s strings, lower-cased, in order of appearance.
fn addresses_in(data: &serde_json::Value, out: &mut Vec<String>) {
    match data {
        serde_json::Value::String(s) => {
            out.extend(
                crate::content::email_re()
                    .find_iter(s)
                    .map(|m| m.as_str().to_ascii_lowercase()),
            );
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| addresses_in(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| addresses_in(v, out)),
        _ => {}
    }
}

/// `data` with every mention of `address` blanked out (ASCII case-insensitively).
fn without(data: &serde_json::Value, address: &str) -> serde_json::Value {
    match data {
        serde_json::Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            let needle = address.to_ascii_lowercase();
            let mut out = String::with_capacity(s.len());
            let mut at = 0;
            while let Some(i) = lower[at..].find(&needle) {
                out.push_str(&s[at..at + i]);
                out.push_str("the recipient");
                at += i + needle.len();
            }
            out.push_str(&s[at..]);
            serde_json::Value::String(out)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(|v| without(v, address)).collect())
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), without(v, address)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The highest level among content and taxonomy, with the evidence at that level.
fn sensitivity(
    content: &[ContentClassification],
    taxonomy: &[(String, String, ResourceMeaning)],
) -> Assessment<Sensitivity> {
    let mut candidates: Vec<(Sensitivity, f32, Vec<Evidence>)> = Vec::new();
    for c in content {
        if c.fail_closed.is_some() || c.sensitivity > Sensitivity::Public {
            let at_level: Vec<Evidence> = c.evidence.clone();
            candidates.push((c.sensitivity, c.confidence, at_level));
        }
    }
    for (field, name, meaning) in taxonomy {
        candidates.push((
            meaning.sensitivity,
            meaning.confidence,
            vec![evidence(
                Some(field),
                format!("resource:{name}"),
                None,
                meaning.confidence,
            )],
        ));
    }
    if candidates.is_empty() {
        return Assessment {
            value: Sensitivity::Internal,
            confidence: 0.4,
            evidence: vec![evidence(
                Some("action"),
                "default:enterprise-system",
                None,
                0.4,
            )],
        };
    }
    let top = candidates
        .iter()
        .map(|c| c.0)
        .max()
        .unwrap_or(Sensitivity::Internal);
    let mut confidence: f32 = 0.0;
    let mut ev = Vec::new();
    for (level, conf, e) in candidates {
        if level == top {
            confidence = confidence.max(conf);
            ev.extend(e);
        }
    }
    Assessment {
        value: top,
        confidence,
        evidence: ev,
    }
}

/// Whether a chat channel (its name as the destination analysis gives it: lower case, without
/// the `#`) is one everyone in the organisation is in (`general`, `random`, `all-staff`,
/// `company-announcements`) or says it is public (`summer-volunteers-public`).
fn everyone_channel(name: &str) -> bool {
    matches!(
        name,
        "general" | "random" | "everyone" | "company" | "announcements" | "all" | "allstaff"
    ) || name.starts_with("all-")
        || name.ends_with("-all")
        || name.ends_with("-announcements")
        || name.split(['-', '_']).any(|part| part == "public")
}

/// Health data found in the content about an identifiable person (from the content or the
/// kind of record) is protected health information: restricted.
fn protected_health(
    sensitivity: Assessment<Sensitivity>,
    content: &[ContentClassification],
    data_types: &[DataTypeAssessment],
) -> Assessment<Sensitivity> {
    let health_in_content = content.iter().any(|c| c.has(DataType::Health));
    let person = data_types
        .iter()
        .find(|d| d.data_type == DataType::Personal);
    match person {
        Some(p) if health_in_content && sensitivity.value < Sensitivity::Restricted => {
            let mut ev = sensitivity.evidence;
            ev.push(evidence(
                None,
                "rule:health-with-identifier",
                None,
                p.confidence.min(0.9),
            ));
            Assessment {
                value: Sensitivity::Restricted,
                confidence: p.confidence.min(0.9),
                evidence: ev,
            }
        }
        _ => sensitivity,
    }
}

/// Data types from content and taxonomy, each with its evidence; only types asserted with at
/// least [`CONTEXT_DATA_TYPE_MIN_CONFIDENCE`] count (a passing mention of money is not
/// financial data).
fn data_types(
    content: &[ContentClassification],
    taxonomy: &[(String, String, ResourceMeaning)],
) -> Vec<DataTypeAssessment> {
    let mut by_type: BTreeMap<DataType, DataTypeAssessment> = BTreeMap::new();
    let mut merge = |t: DataType, confidence: f32, ev: Vec<Evidence>| {
        let entry = by_type.entry(t).or_insert_with(|| DataTypeAssessment {
            data_type: t,
            confidence: 0.0,
            evidence: Vec::new(),
        });
        entry.confidence = entry.confidence.max(confidence);
        entry.evidence.extend(ev);
    };
    for c in content {
        for d in &c.data_types {
            merge(d.data_type, d.confidence, d.evidence.clone());
        }
    }
    for (field, name, meaning) in taxonomy {
        if let Some(t) = meaning.data_type {
            merge(
                t,
                meaning.confidence,
                vec![evidence(
                    Some(field),
                    format!("resource:{name}"),
                    None,
                    meaning.confidence,
                )],
            );
        }
    }
    by_type
        .into_values()
        .filter(|d| d.confidence >= CONTEXT_DATA_TYPE_MIN_CONFIDENCE)
        .collect()
}

fn reversibility(facts: &ActionFacts, carries_data: bool) -> Assessment<Reversibility> {
    if facts.attributes.contains("dry_run=true") {
        return Assessment {
            value: Reversibility::FullyReversible,
            confidence: 0.9,
            evidence: vec![evidence(Some("attributes.dry_run"), "dry-run", None, 0.9)],
        };
    }
    if let Some(d) = facts
        .destination
        .as_ref()
        .filter(|d| d.external && carries_data)
    {
        return Assessment {
            value: Reversibility::Irreversible,
            confidence: 0.85,
            evidence: vec![evidence(
                Some("destination"),
                "destination:external-disclosure",
                Some(d.reason.clone()),
                0.85,
            )],
        };
    }
    match facts.verb_meaning {
        Some(m) => Assessment {
            value: m.reversibility,
            confidence: m.confidence,
            evidence: vec![evidence(
                Some("action"),
                format!("verb:{}", facts.verb),
                Some(m.class.as_str().into()),
                m.confidence,
            )],
        },
        None => Assessment {
            value: Reversibility::PartiallyReversible,
            confidence: 0.3,
            evidence: vec![evidence(
                Some("action"),
                format!("verb:{}", facts.verb),
                Some("unknown".into()),
                0.3,
            )],
        },
    }
}

fn scope(facts: &ActionFacts, taxonomy: &[(String, String, ResourceMeaning)]) -> Assessment<Scope> {
    let at = |value: Scope, confidence: f32, ev: Evidence| Assessment {
        value,
        confidence,
        evidence: vec![ev],
    };
    // What a deletion names is what it destroys, wherever that is kept (`github.com/org/repo`,
    // `s3://backups`): nothing goes there.
    let deletes = facts.verb_class() == VerbClass::Delete;
    if let Some(d) = facts
        .destination
        .as_ref()
        .filter(|d| d.external && !deletes)
    {
        return at(
            Scope::External,
            0.9,
            evidence(
                Some("destination"),
                "destination:external",
                Some(d.reason.clone()),
                0.9,
            ),
        );
    }
    // A payment of one unit or less carries its reference to the payee.
    if facts.pays_token_amount() {
        return at(
            Scope::External,
            0.8,
            evidence(
                Some("amount"),
                "amount:token",
                Some(format!("0.{:02}", facts.amount_cents)),
                0.8,
            ),
        );
    }
    if let Some(count) = facts.count {
        if count >= 100 {
            return at(
                Scope::Organization,
                0.8,
                evidence(
                    Some("attributes.count"),
                    "count:100+",
                    Some(count.to_string()),
                    0.8,
                ),
            );
        }
        if count >= 2 {
            return at(
                Scope::Team,
                0.7,
                evidence(
                    Some("attributes.count"),
                    "count:2-99",
                    Some(count.to_string()),
                    0.7,
                ),
            );
        }
    }
    if let Some(d) = facts.destination.as_ref().filter(|d| !d.mailbox.is_empty()) {
        let address = format!("{}@{}", d.mailbox, d.domain);
        if ALL_HANDS.contains(&d.mailbox.as_str()) {
            return at(
                Scope::Organization,
                0.8,
                evidence(
                    Some("destination"),
                    "destination:all-hands",
                    Some(address),
                    0.8,
                ),
            );
        }
        if d.mailbox.contains("team") || d.mailbox.ends_with("-list") {
            return at(
                Scope::Team,
                0.7,
                evidence(
                    Some("destination"),
                    "destination:team-address",
                    Some(address),
                    0.7,
                ),
            );
        }
    }
    // Deleting a channel, a project or a workspace deletes everything its members put there,
    // as `delete all messages in #engineering` would.
    let kind = facts.resource_kind.as_str();
    if deletes && (TEAM_KINDS.contains(&kind) || SHARED_SPACES.contains(&kind)) {
        return at(
            Scope::Organization,
            0.75,
            evidence(
                Some("resource"),
                format!("delete:{kind}"),
                Some("everything its members put there".to_owned()),
                0.75,
            ),
        );
    }
    // Deleting `main` or a release branch deletes history everyone builds on; one's own
    // feature branch is one's own.
    if deletes
        && kind == "branch"
        && let Some(s) = facts.content.of(|k| *k == SignalKind::SharedBranch).next()
    {
        return at(
            Scope::Organization,
            0.75,
            evidence(
                Some(s.field.as_str()),
                "delete:shared-branch",
                Some(s.sample.clone()),
                0.75,
            ),
        );
    }
    if let Some(d) = facts
        .destination
        .as_ref()
        .filter(|d| d.form == DestinationForm::Channel)
    {
        // A credential or an identity document posted where everyone in the organisation reads
        // it (`#general`, `#all-staff`) reaches all of it.
        if everyone_channel(&d.domain)
            && let Some(s) = facts
                .content
                .of(|k| matches!(k, SignalKind::Credential | SignalKind::IdentityDocument))
                .next()
        {
            return at(
                Scope::Organization,
                0.75,
                evidence(
                    Some(s.field.as_str()),
                    "destination:everyone-channel",
                    Some(format!("#{}", d.domain)),
                    0.75,
                ),
            );
        }
        return at(
            Scope::Team,
            0.75,
            evidence(
                Some("destination"),
                "destination:chat-channel",
                Some(format!("#{}", d.domain)),
                0.75,
            ),
        );
    }
    if facts.verb_class() == VerbClass::Send
        && let Some((field, name, _)) = taxonomy
            .iter()
            .find(|(_, _, m)| m.sensitivity == Sensitivity::Public)
    {
        let note = Some("published on a public channel".to_owned());
        return at(
            Scope::External,
            0.75,
            evidence(Some(field), format!("resource:{name}"), note, 0.75),
        );
    }
    // Reading changes nothing: only actions that change an organisation-wide system reach
    // the whole organisation, and a pull request's preview environment is not one.
    let mutates = facts.verb_class() != VerbClass::Read;
    if mutates
        && !facts.preview_environment
        && let Some((field, name, _)) = taxonomy.iter().find(|(_, _, m)| m.organization_wide)
    {
        let note = Some("organization-wide system".to_owned());
        return at(
            Scope::Organization,
            0.7,
            evidence(Some(field), format!("resource:{name}"), note, 0.7),
        );
    }
    if facts.resource_kind == "*"
        || facts.resource_kind == "all"
        || facts.bulk
        || facts.attributes.contains("bulk=true")
    {
        return at(
            Scope::Organization,
            0.75,
            evidence(Some("resource"), "resource:all", None, 0.75),
        );
    }
    if TEAM_KINDS.contains(&facts.resource_kind.as_str()) {
        return at(
            Scope::Team,
            0.7,
            evidence(
                Some("resource"),
                format!("resource:{}", facts.resource_kind),
                None,
                0.7,
            ),
        );
    }
    at(
        Scope::Single,
        0.6,
        evidence(Some("resource"), "default:single-target", None, 0.6),
    )
}
