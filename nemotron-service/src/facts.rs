//! Facts derived from an action request that both the intent engines and the Cedar context
//! use: the API's service and verb, the resource kind, the destination and channel, the amount.

use std::collections::BTreeSet;

use openshell_policy::normalize_api_name;
use openshell_policy::wire::ActionRequest;

use crate::destination::{DestinationAnalyzer, DestinationInfo, channel_name};
use crate::taxonomy::{VerbClass, VerbMeaning, singular, split_api, verb_meaning};

/// Services that are themselves a communication channel.
const CHANNEL_SERVICES: [&str; 7] = [
    "ticket", "helpdesk", "email", "mail", "chat", "slack", "sms",
];

/// What an action request says, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionFacts {
    /// The API name in its normal form ([`normalize_api_name`]; as written, lower-cased, when
    /// it has none: such requests are refused).
    pub api: String,
    /// Its service (`crm`).
    pub service: String,
    /// Its verb as written (`update`).
    pub verb: String,
    /// The verb's meaning, if the taxonomy knows it.
    pub verb_meaning: Option<VerbMeaning>,
    /// What kind of thing is acted on (`customer` from `customer:4411`), or empty.
    pub resource_kind: String,
    /// Where the data goes, if anywhere.
    pub destination: Option<DestinationInfo>,
    /// The channel the action communicates through (`ticketing`, `email`), or empty.
    pub channel: String,
    /// The amount in hundredths of the currency unit (0 when none).
    pub amount_cents: i64,
    /// The currency of the amount (upper case, default USD).
    pub currency: String,
    /// `key=value` facts from the request's attributes, lower case.
    pub attributes: BTreeSet<String>,
    /// How many records or recipients the action touches, when the caller says.
    pub count: Option<u64>,
    /// The API acts in bulk (`bulk_update`, `mass_delete`).
    pub bulk: bool,
}

impl ActionFacts {
    /// Derives the facts of `request`.
    pub fn derive(request: &ActionRequest, destinations: &DestinationAnalyzer) -> ActionFacts {
        // Everything below reads the normalised name: the service that picks which policies
        // apply must be the one the name's patterns see (`" admin.users"` is `admin`).
        let name = normalize_api_name(&request.action)
            .unwrap_or_else(|_| request.action.trim().to_ascii_lowercase());
        let api = split_api(&name);
        let resource_kind = request
            .resource
            .as_deref()
            .and_then(|r| {
                let r = r.trim().to_ascii_lowercase();
                let r = r
                    .split_once("://")
                    .map_or(r.as_str(), |(scheme, _)| scheme)
                    .to_owned();
                r.split([':', '/']).next().map(str::to_owned)
            })
            .filter(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .or_else(|| {
                api.object
                    .iter()
                    .find(|w| !crate::taxonomy::BULK_PREFIXES.contains(&w.as_str()))
                    .cloned()
            })
            .map(|k| singular(&k))
            .unwrap_or_default();
        let destination = request
            .destination
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(|d| destinations.analyze(d));
        let channel = if CHANNEL_SERVICES.contains(&api.service.as_str()) {
            channel_name(&api.service)
        } else {
            destination
                .as_ref()
                .map(|d| d.channel.clone())
                .unwrap_or_default()
        };
        let amount_cents = request
            .amount
            .filter(|a| a.is_finite())
            .map(|a| (a.abs() * 100.0).round().min(1e15) as i64)
            .unwrap_or(0);
        let currency = request
            .currency
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "USD".into());
        let attributes = request
            .attributes
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    k.trim().to_ascii_lowercase(),
                    v.trim().to_ascii_lowercase()
                )
            })
            .collect();
        let count = ["count", "records", "recipients", "affected"]
            .iter()
            .find_map(|k| request.attributes.get(*k))
            .and_then(|v| v.trim().parse().ok());
        let bulk = api
            .object
            .iter()
            .any(|w| crate::taxonomy::BULK_PREFIXES.contains(&w.as_str()));
        ActionFacts {
            bulk,
            verb_meaning: verb_meaning(&api.verb),
            api: name,
            service: api.service,
            verb: api.verb,
            resource_kind,
            destination,
            channel,
            amount_cents,
            currency,
            attributes,
            count,
        }
    }

    /// The verb's class (`Unknown` when the taxonomy does not know the verb).
    pub fn verb_class(&self) -> VerbClass {
        self.verb_meaning.map_or(VerbClass::Unknown, |m| m.class)
    }

    /// Whether the destination is outside the organisation.
    pub fn external(&self) -> bool {
        self.destination.as_ref().is_some_and(|d| d.external)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_a_ticket_reply() {
        let request = ActionRequest {
            action: "ticket.reply".into(),
            resource: Some("tickets:881".into()),
            destination: Some("jane@gmail.com".into()),
            amount: Some(12.345),
            attributes: [("Ticket.Status".to_owned(), "Active".to_owned())].into(),
            ..ActionRequest::default()
        };
        let f = ActionFacts::derive(&request, &DestinationAnalyzer::new(&[]));
        assert_eq!(f.service, "ticket");
        assert_eq!(f.verb_class(), VerbClass::Send);
        assert_eq!(f.resource_kind, "ticket");
        assert_eq!(f.channel, "ticketing");
        assert!(f.external());
        assert_eq!(f.amount_cents, 1235);
        assert_eq!(f.currency, "USD");
        assert!(f.attributes.contains("ticket.status=active"));
    }
}
