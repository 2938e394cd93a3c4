//! The words of natural-language policies: verb phrases → verb classes, object phrases →
//! targets.

use openshell_policy::ApiPattern;
use openshell_policy::wire::DataType;

use super::ir::Target;
use crate::taxonomy::{VerbClass, resource_meaning, singular, verb_meaning};

use VerbClass::{Admin, Create, Delete, Execute, Modify, Pay, Read, Send};

/// Multi-word and policy-specific verb phrases, longest first where they share a prefix. An
/// empty class list means any verb ("access", "use").
const VERB_PHRASES: &[(&str, &[VerbClass])] = &[
    ("communicate with", &[Send]),
    ("get in touch with", &[Send]),
    ("reach out to", &[Send]),
    ("talk to", &[Send]),
    ("reply to", &[Send]),
    ("respond to", &[Send]),
    ("send messages to", &[Send]),
    ("send emails to", &[Send]),
    ("look up", &[Read]),
    ("look at", &[Read]),
    ("make changes to", &[Modify]),
    ("make payments", &[Pay]),
    ("send money", &[Pay]),
    ("sending money", &[Pay]),
    ("transfer money", &[Pay]),
    ("transferring money", &[Pay]),
    ("move money", &[Pay]),
    ("moving money", &[Pay]),
    ("wire money", &[Pay]),
    ("wiring money", &[Pay]),
    ("issue refunds", &[Pay]),
    ("process payments", &[Pay]),
    ("process refunds", &[Pay]),
    ("grant access to", &[Admin]),
    ("work with", &[]),
    ("call", &[]),
    ("invoke", &[]),
    ("access", &[]),
    ("use", &[]),
    ("handle", &[]),
    ("touch", &[]),
    ("process", &[]),
    ("browse", &[Read]),
    ("download", &[Read]),
    ("change", &[Modify]),
    ("overwrite", &[Modify]),
    ("reconfigure", &[Modify]),
    ("adjust", &[Modify]),
    ("reset", &[Modify]),
    ("file", &[Create]),
    ("register", &[Create]),
    ("leak", &[Send]),
    ("upload", &[Send]),
    ("issue", &[Pay]),
];

/// The verb classes of the verb phrase at the start of `clause`, and the rest of the clause.
pub fn verb_at_start(clause: &str) -> Option<(Vec<VerbClass>, &str)> {
    for (phrase, classes) in VERB_PHRASES {
        if let Some(rest) = clause.strip_prefix(phrase)
            && (rest.is_empty() || rest.starts_with(' '))
        {
            return Some((classes.to_vec(), rest.trim_start()));
        }
    }
    let (word, rest) = clause.split_once(' ').unwrap_or((clause, ""));
    let base = base_verb(word)?;
    let classes = match VERB_PHRASES.iter().find(|(p, _)| *p == base) {
        Some((_, classes)) => classes.to_vec(),
        None => vec![verb_meaning(&base)?.class],
    };
    Some((classes, rest.trim_start()))
}

/// The base form of a verb written as a gerund or third person (`deleting` → `delete`).
pub fn base_verb(word: &str) -> Option<String> {
    let known = |w: &str| verb_meaning(w).is_some() || VERB_PHRASES.iter().any(|(p, _)| *p == w);
    if known(word) {
        return Some(word.to_owned());
    }
    if let Some(stem) = word.strip_suffix("ing") {
        let doubled = stem
            .len()
            .checked_sub(1)
            .filter(|&i| i > 0 && stem.as_bytes()[i] == stem.as_bytes()[i - 1])
            .map(|i| stem[..i].to_owned());
        for candidate in [Some(stem.to_owned()), Some(format!("{stem}e")), doubled]
            .into_iter()
            .flatten()
        {
            if known(&candidate) {
                return Some(candidate);
            }
        }
    }
    if let Some(stem) = word.strip_suffix("ies") {
        let candidate = format!("{stem}y");
        if known(&candidate) {
            return Some(candidate);
        }
    }
    word.strip_suffix("es")
        .filter(|w| known(w))
        .or_else(|| word.strip_suffix('s').filter(|w| known(w)))
        .map(str::to_owned)
}

/// Action nouns that stand for a verb (`refunds require approval`).
pub fn action_noun(word: &str) -> Option<(VerbClass, &'static str)> {
    Some(match word {
        "refund" | "refunds" => (Pay, "refunds"),
        // Every payment, whatever the service: as "make payments" says.
        "payment" | "payments" => (Pay, ""),
        "transfer" | "transfers" | "wire transfers" => (Pay, ""),
        "deletion" | "deletions" => (Delete, ""),
        "export" | "exports" => (Send, ""),
        "deployment" | "deployments" => (Execute, "production systems"),
        "email" | "emails" => (Send, "emails"),
        "message" | "messages" => (Send, "messages"),
        _ => return None,
    })
}

fn service(name: &str) -> Target {
    Target::Service { name: name.into() }
}
fn kind(name: &str) -> Target {
    Target::ResourceKind { name: name.into() }
}
fn data(data_type: DataType) -> Target {
    Target::DataType { data_type }
}

/// Object phrases (singular or plural, after determiners are dropped) and their targets.
fn known_object(phrase: &str) -> Option<Vec<Target>> {
    Some(match phrase {
        "customer records"
        | "customer record"
        | "customer data"
        | "customer information"
        | "customer accounts"
        | "customer profiles"
        | "customer details"
        | "customer contacts"
        | "customers' records"
        | "crm records"
        | "crm data" => vec![kind("customer"), service("crm")],
        "financial data"
        | "financial information"
        | "financial records"
        | "financial details"
        | "billing data"
        | "billing information"
        | "billing records"
        | "billing details"
        | "payment data"
        | "payment information"
        | "payment details"
        | "bank details"
        | "banking information"
        | "bank accounts"
        | "card numbers"
        | "credit card numbers"
        | "cardholder data" => vec![
            data(DataType::Financial),
            service("billing"),
            service("payment"),
            service("finance"),
        ],
        "account settings"
        | "account configuration"
        | "account preferences"
        | "settings"
        | "account details" => vec![service("account"), service("settings"), kind("setting")],
        "customers"
        | "clients"
        | "the public"
        | "external parties"
        | "third parties"
        | "anyone outside the company"
        | "external contacts"
        | "external recipients" => {
            vec![Target::ExternalRecipient, kind("customer")]
        }
        "pii"
        | "personal data"
        | "personal information"
        | "personally identifiable information"
        | "personal details" => vec![data(DataType::Personal)],
        "health data"
        | "health records"
        | "health information"
        | "medical records"
        | "medical data"
        | "medical information"
        | "patient data"
        | "patient records"
        | "phi"
        | "protected health information" => {
            vec![
                data(DataType::Health),
                service("ehr"),
                service("health"),
                kind("patient"),
            ]
        }
        "credentials" | "secrets" | "passwords" | "api keys" | "tokens" | "access keys" => {
            vec![
                data(DataType::Credentials),
                service("secrets"),
                service("vault"),
            ]
        }
        "tickets" | "support tickets" | "ticket" => vec![service("ticket")],
        "emails" | "email" | "messages" => vec![service("email")],
        "production systems" | "production" | "infrastructure" | "servers"
        | "production servers" => {
            vec![service("infra"), service("deploy")]
        }
        "user accounts" | "users" => vec![service("user"), kind("user")],
        "internal logs" | "logs" | "audit logs" => vec![service("logs"), service("audit")],
        "payments" | "refunds" | "transactions" | "money" | "transfers" | "bank transfers" => {
            vec![
                service("payment"),
                service("billing"),
                service("banking"),
                service("bank"),
            ]
        }
        "access" | "permissions" | "privileges" | "roles" | "admin rights" | "admin access" => {
            vec![]
        }
        "new recipients" | "new payees" | "external accounts" | "external websites" => {
            vec![Target::ExternalRecipient]
        }
        "data" | "anything" | "any data" => vec![],
        _ => return None,
    })
}

/// Whether `phrase` is a noun the lexicon or the resource taxonomy knows (`emails`, `files`),
/// so a list may name it as an object even when it is also a verb.
pub fn is_known_noun(phrase: &str) -> bool {
    known_object(phrase).is_some_and(|t| !t.is_empty()) || resource_meaning(phrase).is_some()
}

/// Words dropped from the front of an object phrase.
const DETERMINERS: [&str; 14] = [
    "the", "a", "an", "any", "all", "their", "its", "our", "your", "his", "her", "other", "some",
    "such",
];

/// An object phrase that names nothing the lexicon knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("does not know what {phrase:?} refers to")]
pub struct UnknownObject {
    /// The phrase, without its determiners.
    pub phrase: String,
}

/// The targets an object phrase names, or why it names none.
pub fn object_targets(object: &str) -> Result<Vec<Target>, UnknownObject> {
    let mut words: Vec<&str> = object.split_whitespace().collect();
    while words.first().is_some_and(|w| DETERMINERS.contains(w)) {
        words.remove(0);
    }
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let phrase = words.join(" ");
    if let Some(targets) = known_object(&phrase) {
        return Ok(targets);
    }
    if words.iter().all(|w| is_api_glob(w)) {
        return Ok(words
            .iter()
            .map(|w| Target::Api {
                glob: (*w).to_owned(),
            })
            .collect());
    }
    let last = singular(words[words.len() - 1]);
    if words.len() <= 2
        && words
            .iter()
            .all(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    {
        // A plain noun phrase naming a system or kind of record ("backups", "vendor contracts").
        let written = words[words.len() - 1];
        let mut targets = vec![service(&last), kind(&last)];
        if written != last {
            targets.insert(1, service(written));
        }
        if words.len() == 2 && resource_meaning(words[0]).is_some() {
            targets.push(kind(&singular(words[0])));
        }
        return Ok(targets);
    }
    Err(UnknownObject { phrase })
}

/// An API name or glob written in a sentence (`billing.*`, `crm.read`): a dotted pattern the
/// policy crate's [`ApiPattern`] accepts.
pub fn is_api_glob(word: &str) -> bool {
    word.contains('.') && ApiPattern::parse(word).is_ok()
}

/// Data types an object phrase names (for redaction and "containing" conditions).
pub fn data_types_of(phrase: &str) -> Option<Vec<DataType>> {
    let targets = object_targets(phrase).ok()?;
    let types: Vec<DataType> = targets
        .iter()
        .filter_map(|t| match t {
            Target::DataType { data_type } => Some(*data_type),
            _ => None,
        })
        .collect();
    (!types.is_empty()).then_some(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_found_with_their_rest() {
        assert_eq!(
            verb_at_start("communicate with customers"),
            Some((vec![Send], "customers"))
        );
        assert_eq!(
            verb_at_start("access financial data"),
            Some((vec![], "financial data"))
        );
        assert_eq!(
            verb_at_start("deleting backups"),
            Some((vec![Delete], "backups"))
        );
        assert_eq!(
            verb_at_start("modifies settings"),
            Some((vec![Modify], "settings"))
        );
        assert!(verb_at_start("financial data").is_none());
        assert_eq!(base_verb("running").as_deref(), Some("run"));
        assert_eq!(verb_at_start("accessing logs"), Some((vec![], "logs")));
    }

    #[test]
    fn objects_resolve() {
        assert!(
            object_targets("the customer records")
                .unwrap()
                .contains(&kind("customer"))
        );
        assert_eq!(object_targets("billing.* admin.*").unwrap().len(), 2);
        assert_eq!(
            object_targets("backups").unwrap(),
            vec![service("backup"), service("backups"), kind("backup")]
        );
        assert!(object_targets("the thing we discussed yesterday").is_err());
        assert_eq!(data_types_of("all pii"), Some(vec![DataType::Personal]));
    }
}
