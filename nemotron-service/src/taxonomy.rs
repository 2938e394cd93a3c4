//! Action-verb and resource taxonomies: what an API name (`crm.update`, `billing.refund`) says
//! about the intent of an action. Shared by the embedded intent engine and the natural-language
//! compiler so both speak the same words.

use std::collections::HashMap;
use std::sync::OnceLock;

use openshell_policy::wire::{ComplianceFramework, DataType, Reversibility, Sensitivity};
use serde::{Deserialize, Serialize};

/// The class of what an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerbClass {
    /// Reads, lists, searches.
    Read,
    /// Creates something new.
    Create,
    /// Changes something existing.
    Modify,
    /// Deletes.
    Delete,
    /// Sends data somewhere (messages, exports, shares).
    Send,
    /// Moves money.
    Pay,
    /// Runs or deploys something.
    Execute,
    /// Changes who may do what.
    Admin,
    /// Not in the taxonomy.
    Unknown,
}

impl VerbClass {
    /// All classes a policy can name.
    pub const ALL: [VerbClass; 9] = [
        VerbClass::Read,
        VerbClass::Create,
        VerbClass::Modify,
        VerbClass::Delete,
        VerbClass::Send,
        VerbClass::Pay,
        VerbClass::Execute,
        VerbClass::Admin,
        VerbClass::Unknown,
    ];

    /// The lower-case name used in Cedar contexts.
    pub fn as_str(self) -> &'static str {
        match self {
            VerbClass::Read => "read",
            VerbClass::Create => "create",
            VerbClass::Modify => "modify",
            VerbClass::Delete => "delete",
            VerbClass::Send => "send",
            VerbClass::Pay => "pay",
            VerbClass::Execute => "execute",
            VerbClass::Admin => "admin",
            VerbClass::Unknown => "unknown",
        }
    }
}

/// What one verb means: its class and how reversible its effect is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerbMeaning {
    /// The class.
    pub class: VerbClass,
    /// How reversible the effect is.
    pub reversibility: Reversibility,
    /// How sure the taxonomy is.
    pub confidence: f32,
}

use Reversibility::{FullyReversible as Fully, Irreversible, PartiallyReversible as Partially};

/// Verbs (as they appear in API names and in policy sentences) and what they mean.
const VERBS: &[(&str, VerbClass, Reversibility, f32)] = &[
    ("read", VerbClass::Read, Fully, 0.95),
    ("get", VerbClass::Read, Fully, 0.95),
    ("list", VerbClass::Read, Fully, 0.95),
    ("view", VerbClass::Read, Fully, 0.95),
    ("search", VerbClass::Read, Fully, 0.95),
    ("query", VerbClass::Read, Fully, 0.95),
    ("fetch", VerbClass::Read, Fully, 0.95),
    ("lookup", VerbClass::Read, Fully, 0.95),
    ("retrieve", VerbClass::Read, Fully, 0.95),
    ("describe", VerbClass::Read, Fully, 0.95),
    ("see", VerbClass::Read, Fully, 0.9),
    ("summarize", VerbClass::Read, Fully, 0.85),
    ("count", VerbClass::Read, Fully, 0.9),
    ("create", VerbClass::Create, Fully, 0.8),
    ("add", VerbClass::Create, Fully, 0.8),
    ("insert", VerbClass::Create, Fully, 0.8),
    ("open", VerbClass::Create, Fully, 0.8),
    ("submit", VerbClass::Create, Fully, 0.75),
    ("book", VerbClass::Create, Partially, 0.7),
    ("reserve", VerbClass::Create, Partially, 0.7),
    ("rent", VerbClass::Create, Partially, 0.7),
    ("schedule", VerbClass::Create, Fully, 0.75),
    ("update", VerbClass::Modify, Partially, 0.75),
    ("modify", VerbClass::Modify, Partially, 0.75),
    ("amend", VerbClass::Modify, Partially, 0.75),
    ("edit", VerbClass::Modify, Partially, 0.75),
    ("change", VerbClass::Modify, Partially, 0.75),
    ("alter", VerbClass::Modify, Partially, 0.75),
    ("patch", VerbClass::Modify, Partially, 0.75),
    ("set", VerbClass::Modify, Partially, 0.75),
    ("write", VerbClass::Modify, Partially, 0.7),
    ("configure", VerbClass::Modify, Partially, 0.7),
    ("resolve", VerbClass::Modify, Fully, 0.8),
    ("close", VerbClass::Modify, Fully, 0.8),
    ("reopen", VerbClass::Modify, Fully, 0.8),
    ("assign", VerbClass::Modify, Fully, 0.8),
    ("tag", VerbClass::Modify, Fully, 0.85),
    ("archive", VerbClass::Modify, Fully, 0.8),
    ("restore", VerbClass::Modify, Partially, 0.7),
    ("merge", VerbClass::Modify, Partially, 0.7),
    ("rotate", VerbClass::Modify, Partially, 0.75),
    ("reset", VerbClass::Modify, Partially, 0.75),
    ("rename", VerbClass::Modify, Fully, 0.8),
    ("move", VerbClass::Modify, Fully, 0.75),
    ("commit", VerbClass::Modify, Partially, 0.7),
    ("trigger", VerbClass::Execute, Partially, 0.65),
    ("provision", VerbClass::Create, Partially, 0.7),
    ("copy", VerbClass::Create, Fully, 0.7),
    ("delete", VerbClass::Delete, Irreversible, 0.8),
    ("remove", VerbClass::Delete, Irreversible, 0.75),
    ("erase", VerbClass::Delete, Irreversible, 0.9),
    ("purge", VerbClass::Delete, Irreversible, 0.95),
    ("destroy", VerbClass::Delete, Irreversible, 0.95),
    ("drop", VerbClass::Delete, Irreversible, 0.95),
    ("truncate", VerbClass::Delete, Irreversible, 0.95),
    ("wipe", VerbClass::Delete, Irreversible, 0.95),
    ("shred", VerbClass::Delete, Irreversible, 0.95),
    ("send", VerbClass::Send, Irreversible, 0.9),
    ("email", VerbClass::Send, Irreversible, 0.9),
    ("mail", VerbClass::Send, Irreversible, 0.9),
    ("message", VerbClass::Send, Irreversible, 0.9),
    ("reply", VerbClass::Send, Irreversible, 0.9),
    ("respond", VerbClass::Send, Irreversible, 0.9),
    ("notify", VerbClass::Send, Irreversible, 0.85),
    ("post", VerbClass::Send, Irreversible, 0.85),
    ("publish", VerbClass::Send, Irreversible, 0.9),
    ("broadcast", VerbClass::Send, Irreversible, 0.9),
    ("announce", VerbClass::Send, Irreversible, 0.85),
    ("share", VerbClass::Send, Irreversible, 0.85),
    // Uploading puts data where the destination names, as the policy grammar reads it; a
    // copy kept inside can be taken back.
    ("upload", VerbClass::Send, Fully, 0.8),
    ("forward", VerbClass::Send, Irreversible, 0.9),
    ("export", VerbClass::Send, Irreversible, 0.85),
    // Keeping a copy in step somewhere else sends every change there.
    ("sync", VerbClass::Send, Irreversible, 0.8),
    ("replicate", VerbClass::Send, Irreversible, 0.8),
    ("mirror", VerbClass::Send, Irreversible, 0.8),
    ("contact", VerbClass::Send, Irreversible, 0.85),
    ("communicate", VerbClass::Send, Irreversible, 0.85),
    ("disclose", VerbClass::Send, Irreversible, 0.9),
    ("transmit", VerbClass::Send, Irreversible, 0.9),
    ("call", VerbClass::Send, Irreversible, 0.7),
    ("text", VerbClass::Send, Irreversible, 0.8),
    ("sms", VerbClass::Send, Irreversible, 0.9),
    ("tweet", VerbClass::Send, Irreversible, 0.9),
    ("push", VerbClass::Send, Irreversible, 0.8),
    ("pay", VerbClass::Pay, Partially, 0.8),
    ("charge", VerbClass::Pay, Partially, 0.8),
    ("process", VerbClass::Pay, Partially, 0.6),
    ("refund", VerbClass::Pay, Partially, 0.8),
    ("capture", VerbClass::Pay, Partially, 0.75),
    ("invoice", VerbClass::Pay, Partially, 0.7),
    ("transfer", VerbClass::Pay, Irreversible, 0.85),
    ("wire", VerbClass::Pay, Irreversible, 0.9),
    ("payout", VerbClass::Pay, Irreversible, 0.9),
    ("withdraw", VerbClass::Pay, Irreversible, 0.85),
    ("buy", VerbClass::Pay, Partially, 0.8),
    ("purchase", VerbClass::Pay, Partially, 0.8),
    ("execute", VerbClass::Execute, Partially, 0.6),
    ("run", VerbClass::Execute, Partially, 0.6),
    ("deploy", VerbClass::Execute, Partially, 0.7),
    ("restart", VerbClass::Execute, Fully, 0.7),
    ("scale", VerbClass::Execute, Fully, 0.7),
    ("apply", VerbClass::Execute, Partially, 0.65),
    ("migrate", VerbClass::Execute, Partially, 0.6),
    ("rollback", VerbClass::Execute, Partially, 0.7),
    ("rollout", VerbClass::Execute, Partially, 0.7),
    ("install", VerbClass::Execute, Partially, 0.65),
    ("start", VerbClass::Execute, Fully, 0.7),
    ("launch", VerbClass::Execute, Fully, 0.7),
    ("stop", VerbClass::Execute, Fully, 0.7),
    ("shutdown", VerbClass::Execute, Partially, 0.7),
    ("grant", VerbClass::Admin, Partially, 0.75),
    ("delegate", VerbClass::Admin, Partially, 0.75),
    ("revoke", VerbClass::Admin, Partially, 0.75),
    ("invite", VerbClass::Admin, Partially, 0.7),
    ("disable", VerbClass::Admin, Partially, 0.7),
    ("enable", VerbClass::Admin, Partially, 0.7),
    ("suspend", VerbClass::Admin, Partially, 0.7),
    ("approve", VerbClass::Admin, Partially, 0.7),
    ("authorise", VerbClass::Admin, Partially, 0.7),
    ("authorize", VerbClass::Admin, Partially, 0.7),
    ("impersonate", VerbClass::Admin, Partially, 0.8),
];

/// The taxonomy's verbs by name (the first entry of a name, as a scan of [`VERBS`] finds it):
/// an API name's every word is looked up, on every decision.
fn verbs() -> &'static HashMap<&'static str, VerbMeaning> {
    static TABLE: OnceLock<HashMap<&'static str, VerbMeaning>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::with_capacity(VERBS.len());
        for &(name, class, reversibility, confidence) in VERBS {
            table.entry(name).or_insert(VerbMeaning {
                class,
                reversibility,
                confidence,
            });
        }
        table
    })
}

/// What `verb` means (lower-case, singular: `update`, `send`), if the taxonomy knows it.
pub fn verb_meaning(verb: &str) -> Option<VerbMeaning> {
    let table = verbs();
    verb.strip_suffix("es")
        .and_then(|v| table.get(v))
        .or_else(|| verb.strip_suffix('s').and_then(|v| table.get(v)))
        .or_else(|| table.get(verb))
        .copied()
}

/// Verbs whose object says what the action does (`issue_refund`, `make_payment`).
const LIGHT_VERBS: [&str; 5] = ["issue", "make", "initiate", "perform", "do"];

/// Object words that make an API's verb part of the payments family: `send_money`,
/// `update_scheduled_transaction`, `create_standing_order`, `issue_gift_cards`,
/// `send_crypto` and `pay` decide alike (a gift card, a voucher or a coin is money).
const PAYMENT_OBJECTS: [&str; 26] = [
    "money",
    "gift",
    "giftcard",
    "voucher",
    "crypto",
    "bitcoin",
    "btc",
    "eth",
    "usdt",
    "usdc",
    "stablecoin",
    "coin",
    "credit",
    "payout",
    "disbursement",
    "payroll",
    "salary",
    "standing",
    "funds",
    "payment",
    "transaction",
    "transfer",
    "payee",
    "beneficiary",
    "wire",
    "remittance",
];
/// Nouns that name a payment where a verb stands (`banking.bulk_payment`).
const PAYMENT_NOUNS: [&str; 6] = [
    "payment",
    "payments",
    "remittance",
    "disbursement",
    "payroll",
    "withdrawal",
];
/// Verbs that book something.
const BOOKING_VERBS: [&str; 3] = ["book", "reserve", "rent"];
/// Object words that make booking one a purchase (`reserve_hotel`, `book_flight`,
/// `rent_car`): the user pays for it, so payment rules and thresholds hold. A meeting room,
/// a desk or a support ticket is not one.
const BOOKING_OBJECTS: [&str; 10] = [
    "hotel",
    "suite",
    "accommodation",
    "flight",
    "fare",
    "ticket",
    "car",
    "vehicle",
    "rental",
    "cabin",
];
/// Object words that make an API's verb an access change (`update_user_role`,
/// `add_collaborator`, `add_deploy_key`).
const ACCESS_OBJECTS: [&str; 10] = [
    "key",
    "owner",
    "role",
    "collaborator",
    "member",
    "permission",
    "permissions",
    "admin",
    "access",
    "membership",
];

/// What an API's verb means, its object considered: a verb acting on money, a payment's noun,
/// or booking a hotel, a flight or a car, is a payment (`banking.send_money`,
/// `banking.update_scheduled_transaction`, `banking.bulk_payment`, `travel.reserve_hotel`); one
/// changing roles or members, or adding or removing a user, an access change; one creating a
/// forwarding rule or an automatic reply (`set_auto_reply`, `update_out_of_office`) a send;
/// else the verb's own meaning.
pub fn api_verb_meaning(api: &ApiName) -> Option<VerbMeaning> {
    let own = verb_meaning(&api.verb);
    let object = |words: &[&str]| {
        api.object
            .iter()
            .any(|w| words.contains(&singular(w).as_str()) || words.contains(&w.as_str()))
    };
    let family = |class: VerbClass, reversibility: Reversibility| {
        Some(VerbMeaning {
            class,
            reversibility,
            confidence: 0.8,
        })
    };
    // A verb that carries no meaning of its own (`issue_refund`, `make_payment`,
    // `initiate_transfer`) means what its object names.
    if LIGHT_VERBS.contains(&api.verb.as_str()) {
        if let Some(m) = api.object.first().and_then(|w| verb_meaning(w)) {
            return Some(m);
        }
        if object(&PAYMENT_OBJECTS) {
            return family(VerbClass::Pay, Reversibility::Irreversible);
        }
    }
    // A payment named by its nouns (`bulk_payment`, `payment_run`, `crypto_withdrawal`) is
    // one; its status or history (`payment_status`, `transaction_history`) is not.
    let money_noun =
        |w: &str| PAYMENT_NOUNS.contains(&w) || PAYMENT_OBJECTS.contains(&singular(w).as_str());
    // Words that name a batch of payments rather than what is paid (`bulk`, `run`).
    let batch_word = |w: &str| BULK_PREFIXES.contains(&w) || w == "run";
    // A payment named after what pays it (`card_payment`) is one too.
    let paid_by = || {
        api.object
            .last()
            .is_some_and(|w| PAYMENT_NOUNS.contains(&w.as_str()))
    };
    if own.is_none()
        && (money_noun(&api.verb) || paid_by())
        && api.object.iter().all(|w| batch_word(w) || money_noun(w))
    {
        return family(VerbClass::Pay, Reversibility::Irreversible);
    }
    let class = own.map(|m| m.class);
    // A bank's batch or run submitted (`banking.submit_batch`) pays everyone on it.
    if matches!(
        class,
        Some(VerbClass::Create | VerbClass::Send | VerbClass::Execute)
    ) && matches!(service_kind(&api.service), "banking" | "payment")
        && !api.object.is_empty()
        && api.object.iter().all(|w| batch_word(w) || w == "file")
    {
        return family(VerbClass::Pay, Reversibility::Irreversible);
    }
    match class {
        Some(VerbClass::Send | VerbClass::Create | VerbClass::Modify)
            if object(&PAYMENT_OBJECTS) =>
        {
            family(VerbClass::Pay, Reversibility::Irreversible)
        }
        // A travel service's own booking (`travel.book`) books a journey or a stay.
        Some(VerbClass::Create)
            if BOOKING_VERBS.contains(&api.verb.as_str())
                && (object(&BOOKING_OBJECTS)
                    || (api.object.is_empty() && service_kind(&api.service) == "travel")) =>
        {
            family(VerbClass::Pay, Reversibility::PartiallyReversible)
        }
        Some(VerbClass::Create | VerbClass::Modify) if object(&ACCESS_OBJECTS) => {
            family(VerbClass::Admin, Reversibility::PartiallyReversible)
        }
        // Removing a user, a member or a guest takes their access away.
        Some(VerbClass::Delete) if object(&["user", "guest", "member", "collaborator"]) => {
            family(VerbClass::Admin, Reversibility::Irreversible)
        }
        // Adding a user or a guest (to a workspace, a channel, a drive) lets them in; updating
        // one (`update_user_info`) is a change to a record.
        Some(VerbClass::Create) if object(&["user", "guest"]) => {
            family(VerbClass::Admin, Reversibility::PartiallyReversible)
        }
        // Adding someone to an event shares it with them.
        Some(VerbClass::Create | VerbClass::Modify)
            if object(&["attendee", "participant", "invitee"]) =>
        {
            family(VerbClass::Send, Reversibility::Irreversible)
        }
        // A public comment or reply on a ticket goes to whoever raised it.
        Some(VerbClass::Create)
            if object(&["public"]) && object(&["comment", "reply", "note", "response"]) =>
        {
            family(VerbClass::Send, Reversibility::Irreversible)
        }
        Some(VerbClass::Create | VerbClass::Modify)
            if object(&[
                "forwarding",
                "forward",
                "redirect",
                "webhook",
                "autoreply",
                "responder",
            ]) || (object(&["auto"]) && object(&["reply"]))
                || (object(&["out"]) && object(&["office"])) =>
        {
            family(VerbClass::Send, Reversibility::Irreversible)
        }
        _ => own,
    }
}

/// What a service or resource kind (`crm`, `billing`, `patient`) holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceMeaning {
    /// The sensitivity of data kept there.
    pub sensitivity: Sensitivity,
    /// The data type kept there, if regulated or personal.
    pub data_type: Option<DataType>,
    /// A framework touching it regardless of content.
    pub compliance: Option<ComplianceFramework>,
    /// Whether acting on it affects the whole organisation (infrastructure, identity).
    pub organization_wide: bool,
    /// How sure the taxonomy is.
    pub confidence: f32,
}

use ComplianceFramework::{Hipaa, PciDss, Soc2};
use DataType::{Credentials, Financial, Health, Personal};
use Sensitivity::{Confidential, Internal, Public, Restricted};

/// Services and resource kinds and what they hold.
#[allow(clippy::type_complexity)]
const RESOURCES: &[(
    &str,
    Sensitivity,
    Option<DataType>,
    Option<ComplianceFramework>,
    bool,
)] = &[
    ("crm", Confidential, Some(Personal), None, false),
    ("customer", Confidential, Some(Personal), None, false),
    ("contact", Confidential, Some(Personal), None, false),
    ("lead", Confidential, Some(Personal), None, false),
    ("user", Confidential, Some(Personal), None, false),
    ("profile", Confidential, Some(Personal), None, false),
    ("employee", Confidential, Some(Personal), None, false),
    ("hr", Confidential, Some(Personal), None, false),
    ("ticket", Internal, None, None, false),
    ("helpdesk", Internal, None, None, false),
    ("email", Internal, None, None, false),
    ("chat", Internal, None, None, false),
    ("slack", Internal, None, None, false),
    ("billing", Confidential, Some(Financial), None, false),
    ("invoice", Confidential, Some(Financial), None, false),
    ("payment", Confidential, Some(Financial), None, false),
    ("finance", Confidential, Some(Financial), None, false),
    ("accounting", Confidential, Some(Financial), None, false),
    ("payroll", Restricted, Some(Financial), None, false),
    ("bank", Confidential, Some(Financial), None, false),
    ("banking", Confidential, Some(Financial), None, false),
    ("card", Restricted, Some(Financial), Some(PciDss), false),
    (
        "cardholder",
        Restricted,
        Some(Financial),
        Some(PciDss),
        false,
    ),
    ("pci", Restricted, Some(Financial), Some(PciDss), false),
    ("ehr", Restricted, Some(Health), Some(Hipaa), false),
    ("emr", Restricted, Some(Health), Some(Hipaa), false),
    ("patient", Restricted, Some(Health), Some(Hipaa), false),
    ("health", Restricted, Some(Health), Some(Hipaa), false),
    ("medical", Restricted, Some(Health), Some(Hipaa), false),
    ("clinical", Restricted, Some(Health), Some(Hipaa), false),
    ("pharmacy", Restricted, Some(Health), Some(Hipaa), false),
    ("lab", Restricted, Some(Health), Some(Hipaa), false),
    ("prescription", Restricted, Some(Health), Some(Hipaa), false),
    ("secrets", Restricted, Some(Credentials), Some(Soc2), true),
    ("secret", Restricted, Some(Credentials), Some(Soc2), true),
    ("vault", Restricted, Some(Credentials), Some(Soc2), true),
    (
        "credentials",
        Restricted,
        Some(Credentials),
        Some(Soc2),
        true,
    ),
    ("keys", Restricted, Some(Credentials), Some(Soc2), true),
    ("iam", Confidential, None, Some(Soc2), true),
    ("auth", Confidential, None, Some(Soc2), true),
    ("admin", Confidential, None, Some(Soc2), true),
    ("account", Confidential, Some(Personal), None, false),
    ("settings", Internal, None, None, false),
    ("setting", Internal, None, None, false),
    ("config", Internal, None, Some(Soc2), false),
    ("configuration", Internal, None, Some(Soc2), false),
    ("infra", Internal, None, Some(Soc2), true),
    ("deploy", Internal, None, Some(Soc2), true),
    ("k8s", Internal, None, Some(Soc2), true),
    ("cluster", Internal, None, Some(Soc2), true),
    ("db", Confidential, None, Some(Soc2), true),
    ("database", Confidential, None, Some(Soc2), true),
    ("dns", Internal, None, Some(Soc2), true),
    ("firewall", Internal, None, Some(Soc2), true),
    ("backup", Confidential, None, Some(Soc2), true),
    ("audit", Confidential, None, Some(Soc2), true),
    ("logs", Internal, None, Some(Soc2), false),
    ("data", Internal, None, None, false),
    ("analytics", Internal, None, None, false),
    ("report", Internal, None, None, false),
    ("wiki", Internal, None, None, false),
    ("docs", Internal, None, None, false),
    ("kb", Internal, None, None, false),
    ("calendar", Internal, None, None, false),
    ("file", Internal, None, None, false),
    ("storage", Internal, None, None, false),
    ("weather", Public, None, None, false),
    ("news", Public, None, None, false),
    ("website", Public, None, None, false),
    ("blog", Public, None, None, false),
    ("web", Public, None, None, false),
    ("public", Public, None, None, false),
    ("catalog", Public, None, None, false),
];

/// Products and tools by the kind of service each is (`gmail` is `email`, `jira` is `ticket`):
/// an integration names its tools after the product, a policy after what it does.
const SERVICE_KINDS: &[(&str, &str)] = &[
    ("gmail", "email"),
    ("outlook", "email"),
    ("mail", "email"),
    ("exchange", "email"),
    ("slack", "chat"),
    ("teams", "chat"),
    ("discord", "chat"),
    ("mattermost", "chat"),
    ("webex", "chat"),
    ("drive", "files"),
    ("gdrive", "files"),
    ("google_drive", "files"),
    ("dropbox", "files"),
    ("onedrive", "files"),
    ("box", "files"),
    ("sharepoint", "files"),
    ("gcal", "calendar"),
    ("google_calendar", "calendar"),
    ("calendly", "calendar"),
    ("jira", "ticket"),
    ("zendesk", "ticket"),
    ("freshdesk", "ticket"),
    ("servicenow", "ticket"),
    ("linear", "ticket"),
    ("helpdesk", "ticket"),
    ("salesforce", "crm"),
    ("hubspot", "crm"),
    ("dynamics", "crm"),
    ("pipedrive", "crm"),
    ("zoho", "crm"),
    ("github", "code"),
    ("gitlab", "code"),
    ("bitbucket", "code"),
    ("git", "code"),
    ("github_actions", "ci"),
    ("gitlab_ci", "ci"),
    ("jenkins", "ci"),
    ("circleci", "ci"),
    ("buildkite", "ci"),
    ("k8s", "deploy"),
    ("kubernetes", "deploy"),
    ("kubectl", "deploy"),
    ("helm", "deploy"),
    ("argocd", "deploy"),
    ("terraform", "deploy"),
    ("payments", "payment"),
    ("stripe", "payment"),
    ("paypal", "payment"),
    ("adyen", "payment"),
    ("payroll", "payment"),
    ("bank", "banking"),
    ("hotels", "travel"),
    ("hotel", "travel"),
    ("flights", "travel"),
    ("airline", "travel"),
    ("trainline", "travel"),
    ("expedia", "travel"),
    ("browser", "web"),
];

/// The kind of service `service` is (`gmail` → `email`); a name the table does not know is
/// its own kind.
pub fn service_kind(service: &str) -> &str {
    SERVICE_KINDS
        .iter()
        .find(|(name, _)| *name == service)
        .map_or(service, |&(_, kind)| kind)
}

/// What a service or resource kind holds, if the taxonomy knows it (singular or plural).
pub fn resource_meaning(kind: &str) -> Option<ResourceMeaning> {
    let lookup = |k: &str| {
        RESOURCES.iter().find(|(name, ..)| *name == k).map(
            |&(_, sensitivity, data_type, compliance, organization_wide)| ResourceMeaning {
                sensitivity,
                data_type,
                compliance,
                organization_wide,
                confidence: 0.7,
            },
        )
    };
    lookup(kind).or_else(|| lookup(&singular(kind)))
}

/// A naive English singular (`tickets` → `ticket`, `policies` → `policy`).
pub fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies")
        && stem.len() > 1
    {
        return format!("{stem}y");
    }
    if word.ends_with("sses") || word.ends_with("shes") || word.ends_with("ches") {
        return word[..word.len() - 2].to_owned();
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// An API name split into its parts: `crm.update_settings` → service `crm`, verb `update`,
/// object words `settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiName {
    /// The service (first dotted segment).
    pub service: String,
    /// The verb (first word of the last segment).
    pub verb: String,
    /// Further words naming what is acted on.
    pub object: Vec<String>,
}

/// Words before a verb that make it act on many things (`bulk_update`).
pub const BULK_PREFIXES: [&str; 3] = ["bulk", "mass", "batch"];

/// Splits an API name (`service.verb`, `service.sub.verb_object`).
pub fn split_api(api: &str) -> ApiName {
    let lower = api.to_ascii_lowercase();
    let mut segments: Vec<&str> = lower.split('.').filter(|s| !s.is_empty()).collect();
    let last = segments.pop().unwrap_or("");
    let service = segments.first().copied().unwrap_or(last).to_owned();
    let mut words = last.split(['_', '-']).filter(|w| !w.is_empty()).peekable();
    let mut verb = words.next().unwrap_or("").to_owned();
    let mut bulk = Vec::new();
    if BULK_PREFIXES.contains(&verb.as_str()) && words.peek().is_some() {
        bulk.push(std::mem::take(&mut verb));
        verb = words.next().unwrap_or("").to_owned();
    }
    let mut object: Vec<String> = segments.iter().skip(1).map(|s| (*s).to_owned()).collect();
    object.extend(words.map(str::to_owned));
    object.extend(bulk);
    ApiName {
        service,
        verb,
        object,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_resources() {
        assert_eq!(verb_meaning("update").unwrap().class, VerbClass::Modify);
        assert_eq!(verb_meaning("sends").unwrap().class, VerbClass::Send);
        assert_eq!(
            verb_meaning("purge").unwrap().reversibility,
            Reversibility::Irreversible
        );
        assert!(verb_meaning("frobnicate").is_none());
        assert_eq!(
            resource_meaning("patients").unwrap().data_type,
            Some(Health)
        );
        assert_eq!(singular("policies"), "policy");
        assert_eq!(singular("tickets"), "ticket");
        assert_eq!(singular("status"), "status");
    }

    #[test]
    fn api_names_split() {
        assert_eq!(
            split_api("crm.update_settings"),
            ApiName {
                service: "crm".into(),
                verb: "update".into(),
                object: vec!["settings".into()]
            }
        );
        let a = split_api("payment.process");
        assert_eq!(
            (a.service.as_str(), a.verb.as_str()),
            ("payment", "process")
        );
        let a = split_api("crm.bulk_update");
        assert_eq!(
            (a.verb.as_str(), a.object.clone()),
            ("update", vec!["bulk".to_owned()])
        );
        let a = split_api("delete");
        assert_eq!((a.service.as_str(), a.verb.as_str()), ("delete", "delete"));
    }

    #[test]
    fn products_are_the_kind_of_service_they_are() {
        for (product, kind) in [
            ("gmail", "email"),
            ("slack", "chat"),
            ("dropbox", "files"),
            ("jira", "ticket"),
            ("salesforce", "crm"),
            ("github", "code"),
            ("k8s", "deploy"),
            ("payments", "payment"),
            ("browser", "web"),
        ] {
            assert_eq!(service_kind(product), kind);
        }
        assert_eq!(service_kind("crm"), "crm");
        assert_eq!(service_kind("acme-internal"), "acme-internal");
    }

    #[test]
    fn verbs_of_a_family_mean_the_same() {
        let class = |api: &str| api_verb_meaning(&split_api(api)).map(|m| m.class);
        for api in [
            "banking.send_money",
            "banking.transfer",
            "banking.pay",
            "banking.update_scheduled_transaction",
            "payment.process",
            "travel.reserve_hotel",
            "travel.book_flight",
            "travel.reserve_car_rental",
            "shop.purchase",
            "banking.create_standing_order",
            "banking.update_standing_order",
            "payment.issue_refund",
            "banking.make_payment",
            "banking.initiate_transfer",
            "banking.update_payroll_account",
            "payment.create_payout",
            "payment.update_payout_account",
            "banking.create_disbursement",
            "payment.issue_credit",
            "banking.bulk_payment",
            "payroll.payment_run",
            "travel.book",
            "flights.reserve",
            "payment.crypto_withdrawal",
            "banking.submit_batch",
            "payment.card_payment",
        ] {
            assert_eq!(class(api), Some(VerbClass::Pay), "{api}");
        }
        assert_eq!(class("travel.reserve_restaurant"), Some(VerbClass::Create));
        assert_eq!(class("calendar.book_room"), Some(VerbClass::Create));
        assert_eq!(class("calendar.book"), Some(VerbClass::Create));
        assert_eq!(class("banking.payment_status"), None);
        assert_eq!(class("banking.transaction_history"), None);
        assert_eq!(class("banking.account_transactions"), None);
        assert_eq!(class("code.update_org_membership"), Some(VerbClass::Admin));
        assert_eq!(class("crm.submit_batch"), Some(VerbClass::Create));
        assert_eq!(class("support.create_ticket"), Some(VerbClass::Create));
        assert_eq!(class("chat.remove_user_from_slack"), Some(VerbClass::Admin));
        assert_eq!(
            class("chat.remove_user_from_workspace"),
            Some(VerbClass::Admin)
        );
        assert_eq!(class("files.delete_file"), Some(VerbClass::Delete));
        assert_eq!(class("crm.update_user_role"), Some(VerbClass::Admin));
        assert_eq!(class("code.add_collaborator"), Some(VerbClass::Admin));
        assert_eq!(class("chat.add_user_to_channel"), Some(VerbClass::Admin));
        assert_eq!(class("drive.add_guests"), Some(VerbClass::Admin));
        assert_eq!(class("banking.update_user_info"), Some(VerbClass::Modify));
        assert_eq!(class("email.create_forwarding_rule"), Some(VerbClass::Send));
        assert_eq!(class("email.send"), Some(VerbClass::Send));
        assert_eq!(class("files.upload_folder"), Some(VerbClass::Send));
        assert_eq!(class("crm.update"), Some(VerbClass::Modify));
        assert_eq!(class("code.add_deploy_key"), Some(VerbClass::Admin));
        assert_eq!(class("ci.add_webhook"), Some(VerbClass::Send));
        assert_eq!(class("files.make_thumbnail"), None);
        assert_eq!(class("email.set_auto_reply"), Some(VerbClass::Send));
        assert_eq!(class("email.update_out_of_office"), Some(VerbClass::Send));
        assert_eq!(class("files.move_file"), Some(VerbClass::Modify));
        assert_eq!(class("files.copy_file"), Some(VerbClass::Create));
        assert_eq!(class("zendesk.add_public_comment"), Some(VerbClass::Send));
        assert_eq!(class("files.sync_folder"), Some(VerbClass::Send));
        assert_eq!(class("calendar.update_attendees"), Some(VerbClass::Send));
        assert_eq!(class("calendar.update_event"), Some(VerbClass::Modify));
        assert_eq!(class("zendesk.add_internal_note"), Some(VerbClass::Create));
        assert_eq!(class("github.commit_file"), Some(VerbClass::Modify));
        assert_eq!(class("ci.trigger_pipeline"), Some(VerbClass::Execute));
        assert_eq!(class("ticket.issue_comment"), None);
    }
}
