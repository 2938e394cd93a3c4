//! Records exchanged between the runtime, its hooks and the node services.
//!
//! Everything here is plain serde data so that any component (the runtime binary included) can
//! read and write these records without linking a daemon, a regex engine or an async runtime.
//! JSON field names are `snake_case`; enum values are the lower-case words of the policy language
//! (`confidential`, `irreversible`, `PCI-DSS`, ...). Requests reject unknown fields so a typo in a
//! client is an error, not a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::compiled::CompiledPolicy;

// ---------------------------------------------------------------------------------------------
// Classification vocabulary (four classification axes plus the data types found)
// ---------------------------------------------------------------------------------------------

/// How sensitive the data an action touches is. Ordered: `Public < Internal < Confidential <
/// Restricted`, so "at least confidential" is a comparison.
///
/// The one sensitivity vocabulary: the classifier's verdicts, the decision service's contexts,
/// the router's routes (`PrivacyRouterPolicy.routes` keys) and the egress engine's
/// `[inspection] block_at` all use it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    /// May be published.
    Public,
    /// Inside the organisation only.
    Internal,
    /// Personal or business data whose disclosure harms someone (PII, account data); routed to
    /// local endpoints only.
    Confidential,
    /// Regulated or secret data (card numbers, national ids, health records, credentials);
    /// routed to local endpoints only.
    Restricted,
}

impl Sensitivity {
    /// All levels, lowest first.
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Public,
        Sensitivity::Internal,
        Sensitivity::Confidential,
        Sensitivity::Restricted,
    ];

    /// The level's rank, 0 (public) to 3 (restricted), as used in Cedar contexts.
    pub fn rank(self) -> i64 {
        self as i64
    }

    /// The lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category of regulated or personal data found in content: the one data-type vocabulary of
/// the classifier, the decision service, the router and the policy documents.
///
/// On the wire a type is a lower-case word (`personal`, `payment-card`); a policy document
/// writes the same type in its residency rules' spelling (`personalData`, `paymentCardData`),
/// see [`DataType::policy_name`]. Payment cards are financial data too: content with a card
/// number is tagged with both types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataType {
    /// Data about an identifiable person (contact details, national ids).
    Personal,
    /// Accounts, payment cards, money movements.
    Financial,
    /// Payment card numbers (a kind of financial data).
    PaymentCard,
    /// Diagnoses, medications, medical codes.
    Health,
    /// Secrets that grant access (API keys, tokens, private keys, passwords).
    Credentials,
}

impl DataType {
    /// All data types.
    pub const ALL: [DataType; 5] = [
        DataType::Personal,
        DataType::Financial,
        DataType::PaymentCard,
        DataType::Health,
        DataType::Credentials,
    ];

    /// The lower-case name used on the wire and in Cedar contexts.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Personal => "personal",
            DataType::Financial => "financial",
            DataType::PaymentCard => "payment-card",
            DataType::Health => "health",
            DataType::Credentials => "credentials",
        }
    }

    /// The name a policy document uses (`personalData`).
    pub fn policy_name(self) -> &'static str {
        match self {
            DataType::Personal => "personalData",
            DataType::Financial => "financialData",
            DataType::PaymentCard => "paymentCardData",
            DataType::Health => "healthData",
            DataType::Credentials => "credentials",
        }
    }

    /// What the type covers, for the policy reference.
    pub fn description(self) -> &'static str {
        match self {
            DataType::Personal => "Personal data (names, contact details, national ids).",
            DataType::Financial => "Financial data (IBANs, account numbers, payment cards).",
            DataType::PaymentCard => "Payment card numbers.",
            DataType::Health => "Health data (diagnoses, medications, medical codes).",
            DataType::Credentials => "Secrets and credentials (API keys, tokens, passwords).",
        }
    }

    /// The type a policy document names, if any.
    pub fn from_policy_name(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.policy_name() == name)
    }

    /// The broader type this one is a kind of (payment cards are financial data).
    pub fn broader(self) -> Option<DataType> {
        match self {
            DataType::PaymentCard => Some(DataType::Financial),
            _ => None,
        }
    }

    /// The type as a one-element set.
    pub fn set(self) -> DataTypeSet {
        DataTypeSet(1 << self as u8)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`DataType`]s, copied by value (routing decides on it per request). Serialized as
/// the list of its types' wire names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DataTypeSet(u8);

impl DataTypeSet {
    /// No data type.
    pub const NONE: DataTypeSet = DataTypeSet(0);
    /// Every data type.
    pub const ALL: DataTypeSet = DataTypeSet((1 << DataType::ALL.len()) - 1);

    /// The union.
    pub fn with(self, other: DataTypeSet) -> DataTypeSet {
        DataTypeSet(self.0 | other.0)
    }

    /// Whether `data_type` is in the set.
    pub fn contains(self, data_type: DataType) -> bool {
        self.intersects(data_type.set())
    }

    /// Whether the sets share a type.
    pub fn intersects(self, other: DataTypeSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The types in the set, in [`DataType::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = DataType> {
        DataType::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

impl FromIterator<DataType> for DataTypeSet {
    fn from_iter<I: IntoIterator<Item = DataType>>(types: I) -> Self {
        types
            .into_iter()
            .fold(DataTypeSet::NONE, |set, t| set.with(t.set()))
    }
}

impl Serialize for DataTypeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Whether an action can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reversibility {
    /// Undone completely (reads, creations that can be deleted).
    FullyReversible,
    /// Undone with loss or effort (updates without history, refundable payments).
    PartiallyReversible,
    /// Cannot be undone (deletions, messages sent, money wired).
    Irreversible,
}

impl Reversibility {
    /// The level's rank, 0 (fully reversible) to 2 (irreversible), as used in Cedar contexts.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// How far an action's effects reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One record, one user, one system.
    Single,
    /// A team, a group, a channel.
    Team,
    /// The whole organisation or shared infrastructure.
    Organization,
    /// Leaves the organisation (external recipients, third-party services).
    External,
}

impl Scope {
    /// The level's rank, 0 (single) to 3 (external), as used in Cedar contexts.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// A regulatory or audit framework an action falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ComplianceFramework {
    /// EU General Data Protection Regulation: personal data.
    #[serde(rename = "GDPR")]
    Gdpr,
    /// US Health Insurance Portability and Accountability Act: health data.
    #[serde(rename = "HIPAA")]
    Hipaa,
    /// SOC 2 trust services: security, availability, confidentiality of systems.
    #[serde(rename = "SOC2")]
    Soc2,
    /// Payment Card Industry Data Security Standard: card numbers.
    #[serde(rename = "PCI-DSS")]
    PciDss,
}

impl ComplianceFramework {
    /// All frameworks.
    pub const ALL: [ComplianceFramework; 4] = [
        ComplianceFramework::Gdpr,
        ComplianceFramework::Hipaa,
        ComplianceFramework::Soc2,
        ComplianceFramework::PciDss,
    ];

    /// The name used on the wire and in Cedar contexts.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceFramework::Gdpr => "GDPR",
            ComplianceFramework::Hipaa => "HIPAA",
            ComplianceFramework::Soc2 => "SOC2",
            ComplianceFramework::PciDss => "PCI-DSS",
        }
    }
}

impl fmt::Display for ComplianceFramework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range `[start, end)` in a scanned string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Why a classification result is what it is: which field, which detector, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The request field the evidence comes from (`data.customer.email`, `action`,
    /// `destination`), absent for bare content scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The detector or rule that fired (`email`, `payment-card`, `verb:delete`,
    /// `resource:billing`, `model:<name>`).
    pub detector: String,
    /// Where in the field's text the detector matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// The match with its identifying part masked (`****1111`, `j***@example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// How sure the detector is, 0.0 to 1.0.
    pub confidence: f32,
}

/// One axis of a classification: the value, how sure, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assessment<T> {
    /// The value on this axis.
    pub value: T,
    /// 0.0 to 1.0.
    pub confidence: f32,
    /// What produced the value.
    pub evidence: Vec<Evidence>,
}

/// One compliance framework an action falls under, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceAssessment {
    /// The framework.
    pub framework: ComplianceFramework,
    /// 0.0 to 1.0.
    pub confidence: f32,
    /// What put the action under the framework.
    pub evidence: Vec<Evidence>,
}

/// The intent classification of one agent action along four axes: sensitivity, reversibility, scope, compliance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentClassification {
    /// How sensitive the data involved is.
    pub sensitivity: Assessment<Sensitivity>,
    /// The data types found, with evidence.
    pub data_types: Vec<DataTypeAssessment>,
    /// Whether the action can be undone.
    pub reversibility: Assessment<Reversibility>,
    /// How far its effects reach.
    pub scope: Assessment<Scope>,
    /// The frameworks it falls under (empty when none).
    pub compliance: Vec<ComplianceAssessment>,
    /// Instructions in the action's text that its user did not give the agent (prompt
    /// injection: `ignore previous instructions`, `without telling the user`), with the spans
    /// that show them; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injected_instructions: Vec<Evidence>,
    /// Security controls the action switches off or goes around (required reviews removed,
    /// MFA set to optional, alerts suppressed, a security header dropped), with the spans that
    /// show them; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls_off: Vec<Evidence>,
    /// Which engine produced the result: `embedded` or `model:<model name>`.
    pub engine: String,
    /// Set when the configured model backend failed and the embedded engine answered instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// One data type present in an action, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTypeAssessment {
    /// The data type.
    pub data_type: DataType,
    /// 0.0 to 1.0.
    pub confidence: f32,
    /// What revealed it.
    pub evidence: Vec<Evidence>,
}

impl IntentClassification {
    /// The compact form carried by decisions and audit events.
    pub fn summary(&self) -> ClassificationSummary {
        ClassificationSummary {
            sensitivity: self.sensitivity.value,
            data_types: self.data_types.iter().map(|d| d.data_type).collect(),
            reversibility: Some(self.reversibility.value),
            scope: Some(self.scope.value),
            compliance: self.compliance.iter().map(|c| c.framework).collect(),
            injected_instructions: !self.injected_instructions.is_empty(),
            controls_off: !self.controls_off.is_empty(),
        }
    }
}

/// The classification reduced to its values, for decisions and audit events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationSummary {
    /// Sensitivity level.
    pub sensitivity: Sensitivity,
    /// Data types present.
    #[serde(default)]
    pub data_types: Vec<DataType>,
    /// Reversibility, when an action (not bare content) was classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversibility: Option<Reversibility>,
    /// Scope, when an action was classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Compliance frameworks.
    #[serde(default)]
    pub compliance: Vec<ComplianceFramework>,
    /// The action's text carries instructions its user did not give the agent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub injected_instructions: bool,
    /// The action switches a security control off or goes around it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controls_off: bool,
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// An action an agent asks to perform, as sent to the policy service.
///
/// `action` is an API name from the catalog (`crm.update`, `email.send`); `data` is a sample of
/// the payload or its fields (any JSON: string, object, array), scanned by the content detectors
/// along with field names; `attributes` carries facts the caller knows (`ticket.status` →
/// `active`, `count` → `250`) that natural-language conditions can test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// API name, `service.verb` (`crm.update`).
    pub action: String,
    /// What the action acts on (`customer:4411`, `s3://bucket/key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// A sample of the data or its fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Where data goes: an email address, URL, host name or internal system name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// A money amount the action moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217 currency of `amount` (default USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The agent (role or name) acting, when the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Caller-known facts, `key` → `value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Ask the service to evaluate an action of a registered container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The registered container the agent runs in.
    pub container_id: String,
    /// The action.
    pub action: ActionRequest,
}

/// The isolation and resources a container asks for, as read from its OCI spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedSandbox {
    /// `none` (own empty netns), `private` (own netns with interfaces) or `host`.
    #[serde(default)]
    pub network: String,
    /// Root filesystem mounted read-only.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// GPU devices requested (device nodes, CDI names or `NVIDIA_VISIBLE_DEVICES`).
    #[serde(default)]
    pub gpus: Vec<String>,
    /// Runs with CAP_SYS_ADMIN or equivalent.
    #[serde(default)]
    pub privileged: bool,
    /// Memory limit in bytes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU limit in millicores, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<u64>,
    /// Pids limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// Ask whether a sandbox may start (the `createRuntime` hook's question).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// The container id from the OCI state.
    pub container_id: String,
    /// The bundle directory from the OCI state.
    pub bundle: PathBuf,
    /// The container's process arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The image reference, when an annotation names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The OCI annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// What the container asks for.
    #[serde(default)]
    pub requested: RequestedSandbox,
    /// The container's compiled policy.
    pub policy: CompiledPolicy,
}

/// Checks a container id the way OCI runtimes do: 1 to 128 characters of letters, digits,
/// `_`, `-` and `.`, not starting with `.` (ids name files in state directories).
pub fn check_container_id(id: &str) -> Result<(), InvalidContainerId> {
    let ok = (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(InvalidContainerId(id.to_owned()))
    }
}

/// A container id [`check_container_id`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container id {0:?} must be 1-128 letters, digits, '_', '-' or '.', not starting with '.'")]
pub struct InvalidContainerId(pub String);

/// The API name an admission is evaluated as: `deniedAPIs: [sandbox.start]` (or `sandbox.*`)
/// denies every sandbox of that policy.
pub const ADMISSION_API: &str = "sandbox.start";

// ---------------------------------------------------------------------------------------------
// Audit settings
// ---------------------------------------------------------------------------------------------

/// SandboxPolicy `spec.auditLog`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Whether decisions are audited to `destination`.
    #[serde(default)]
    pub enabled: bool,
    /// `file://PATH`, `syslog://…` or `siem://NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/// What the policies say about an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A permit matched and no forbid did.
    Allow,
    /// A forbid matched, or no permit did.
    Deny,
    /// Only forbids marked `@decision("escalate")` matched: a human decides.
    Escalate,
}

/// What is enforced: allow or deny, escalations resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// The action goes ahead.
    Allow,
    /// The action is refused.
    #[default]
    Deny,
}

// ---------------------------------------------------------------------------------------------
// Approvals (the node's approval queue: `openshell-approvals`)
// ---------------------------------------------------------------------------------------------

/// Where the approvals daemon listens by default.
pub const APPROVALS_SOCKET: &str = "/run/openshell/approvals.sock";

/// Where the seccomp supervisor (`openshell-supervisor`) listens by default: the
/// `listenerPath` of every filter that escalates a system call.
pub const SECCOMP_SUPERVISOR_SOCKET: &str = "/run/openshell/seccomp.sock";

/// What holds an escalated action while a human is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalOrigin {
    /// The egress engine holds an API call.
    Egress,
    /// The seccomp supervisor holds a system call.
    Syscall,
}

/// `POST /v1/approvals`: an escalated action waiting for a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The container that asked.
    pub container_id: String,
    /// Its policy's name.
    pub policy: String,
    /// Its compiled policy record's digest.
    pub policy_digest: String,
    /// What holds the action.
    pub origin: ApprovalOrigin,
    /// The action (`payment.process`, `syscall.mount`).
    pub action: String,
    /// What it acts on, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Where it goes, if anywhere (`api.stripe.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The amount it moves, if it moves money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// The amount's currency (ISO 4217).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Why it escalated (the trigger or rule, in words).
    pub reason: String,
    /// Ids of the rules that escalated it.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The ApprovalPolicy's channels to notify (`slack`, `teams`, `pagerduty`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// How long to wait for a human, milliseconds.
    pub timeout_ms: u64,
    /// What is enforced when nobody answers in time.
    pub default_action: Enforcement,
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalState {
    /// Waiting for a human.
    Pending,
    /// A human approved it.
    Approved,
    /// A human denied it.
    Denied,
    /// Nobody answered in time: the default action was enforced.
    TimedOut,
}

impl ApprovalState {
    /// Whether the approval is answered (or timed out) for good.
    pub fn is_final(self) -> bool {
        self != ApprovalState::Pending
    }
}

/// An approval as the daemon keeps and answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Its id (random, unguessable).
    pub id: String,
    /// What was asked.
    pub request: ApprovalRequest,
    /// Where it stands.
    pub state: ApprovalState,
    /// What is enforced: set once it is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced: Option<Enforcement>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// When it times out.
    pub expires_at: DateTime<Utc>,
    /// When it was answered or timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Who answered (`timeout` when nobody did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Through which channel (`cli`, `api`, `slack`, `teams`, `pagerduty`, `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The answer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/approvals/{id}/approve` and `/deny`: an operator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAnswer {
    /// Who answers.
    pub by: String,
    /// Why, optionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The policy service's answer to an action or an admission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// What the policies say.
    pub outcome: Outcome,
    /// What is enforced now (an escalation resolved by the approval default).
    pub enforced: Enforcement,
    /// Human-readable reasons, one per policy that decided (or why none did).
    pub reasons: Vec<String>,
    /// Ids of the Cedar policies that produced the outcome (`@id` annotations).
    pub policies: Vec<String>,
    /// The classification the decision was taken on, if the action was classified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<ClassificationSummary>,
    /// Time taken to decide, microseconds.
    pub latency_us: u64,
}

impl Decision {
    /// Whether the action may go ahead.
    pub fn is_allowed(&self) -> bool {
        self.enforced == Enforcement::Allow
    }
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

/// A running sandbox, as registered by the `createRuntime` hook with the policy service (and,
/// later, the egress engine and the privacy router, which read the same record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRegistration {
    /// The container id.
    pub container_id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The container's init process on the host, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The container's compiled policy.
    pub policy: CompiledPolicy,
    /// Data-residency region (from the policy, else the node's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The container's network namespace (`/proc/PID/ns/net` or a bind mount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_path: Option<PathBuf>,
    /// Addresses of the sandbox's network, once set up.
    #[serde(default)]
    pub sandbox: SandboxAddresses,
    /// When the hook registered it.
    pub registered_at: DateTime<Utc>,
    /// The digest of the sandbox's router caller token (`OPENAI_API_KEY`), which the router
    /// accepts only from this registration ([`crate::caller_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_token: Option<String>,
}

impl ContainerRegistration {
    /// A registration of `container_id` from `bundle` under `policy`, registered now, with
    /// nothing else known yet (no pid, region, namespace, addresses or caller token).
    pub fn new(container_id: &str, bundle: PathBuf, policy: CompiledPolicy) -> Self {
        ContainerRegistration {
            container_id: container_id.to_owned(),
            bundle,
            pid: None,
            policy,
            region: None,
            netns_path: None,
            sandbox: SandboxAddresses::default(),
            registered_at: Utc::now(),
            caller_token: None,
        }
    }
}

/// Network addresses of a sandbox (filled in by the network step of the hook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxAddresses {
    /// The sandbox's own address inside its netns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_ip: Option<IpAddr>,
    /// The host-side address of the veth pair (the sandbox's gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// Where the egress engine listens for this sandbox (`ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    /// Where the privacy router listens for this sandbox (`ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// One audited decision. Written as one JSON line; string fields are PII-redacted by the audit
/// library before they leave the process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Unique id (UUID v7, time-ordered) so a SIEM can drop duplicates of a retried batch.
    pub id: String,
    /// When the decision was taken.
    pub timestamp: DateTime<Utc>,
    /// Which component decided: `nemotron`, `hook`, `egress`, `router`, `approvals`.
    pub component: String,
    /// The container, when the decision concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The policy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The agent or role acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What was attempted (`crm.update`, `sandbox.start`, `egress.connect`).
    pub action: String,
    /// What it was attempted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The classification the decision used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<ClassificationSummary>,
    /// Ids of the rules or policies that produced the decision.
    #[serde(default)]
    pub policies: Vec<String>,
    /// `allow`, `deny`, `escalate` (or a component's own word, e.g. `route:local`).
    pub decision: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// Time taken to decide, microseconds.
    #[serde(default)]
    pub latency_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_seed_vocabulary_on_the_wire() {
        let words = serde_json::to_string(&(
            Sensitivity::Confidential,
            Reversibility::PartiallyReversible,
            Scope::Organization,
            ComplianceFramework::PciDss,
            DataType::Health,
            DataType::PaymentCard,
            Outcome::Escalate,
        ))
        .unwrap();
        assert_eq!(
            words,
            r#"["confidential","partially-reversible","organization","PCI-DSS","health","payment-card","escalate"]"#
        );
        assert!(Sensitivity::Restricted > Sensitivity::Confidential);
        assert_eq!(Scope::External.rank(), 3);
    }

    #[test]
    fn data_types_have_one_vocabulary_in_two_spellings() {
        for t in DataType::ALL {
            assert_eq!(DataType::from_policy_name(t.policy_name()), Some(t));
            let wire: DataType = serde_json::from_value(serde_json::json!(t.as_str())).unwrap();
            assert_eq!(wire, t);
        }
        assert_eq!(DataType::from_policy_name("personal"), None);
        let set: DataTypeSet = [DataType::Health, DataType::Personal].into_iter().collect();
        assert!(set.contains(DataType::Personal) && !set.contains(DataType::Financial));
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["personal","health"]"#
        );
        assert_eq!(DataTypeSet::ALL.iter().count(), DataType::ALL.len());
        assert!(DataTypeSet::NONE.is_empty());
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<ActionRequest>(r#"{"action":"crm.read","colour":"red"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn container_ids_are_checked() {
        assert!(check_container_id("abc-123_x.y").is_ok());
        assert!(check_container_id("../etc").is_err());
        assert!(check_container_id("").is_err());
        assert!(check_container_id("a/b").is_err());
    }
}
