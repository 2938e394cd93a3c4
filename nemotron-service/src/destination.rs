//! Destination analysis: where an action sends data, and whether that leaves the organisation.

use std::net::IpAddr;

/// The form a destination was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationForm {
    /// `jane@example.com`.
    Email,
    /// `https://host/path`.
    Url,
    /// `api.example.com`, `10.0.0.4:8080`.
    Host,
    /// An internal system's or a member's name (`ticketing`, `zendesk`, `alex.m`): no `@`, no
    /// scheme or port, and no dot that ends in a public suffix or makes an IP address.
    System,
    /// A bank account (`GB29NWBK60161331926819`): its country against the home countries; or
    /// a crypto wallet (`bc1q…`, `0x…`), whose owner nothing in the address tells.
    Account,
    /// A chat channel (`#engineering`): inside the organisation, reaching a group.
    Channel,
}

/// What a destination is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationInfo {
    /// How it was written.
    pub form: DestinationForm,
    /// The domain or host (lower case), or the system name.
    pub domain: String,
    /// The local part of an email address (lower case), else empty.
    pub mailbox: String,
    /// Whether it is outside the organisation.
    pub external: bool,
    /// The channel data goes through (`ticketing`, `email`, `chat`, a system name), if known.
    pub channel: String,
    /// Why it was judged internal or external.
    pub reason: String,
}

/// Classifies destinations against the organisation's internal domains.
#[derive(Debug, Clone, Default)]
pub struct DestinationAnalyzer {
    internal_domains: Vec<String>,
    home_countries: Vec<String>,
}

/// Software-as-a-service hosts that give each customer a tenant named by the first label
/// (`company.sharepoint.com`, OneDrive's `company-my.sharepoint.com`).
const TENANT_SUFFIXES: [&str; 6] = [
    "sharepoint.com",
    "onmicrosoft.com",
    "atlassian.net",
    "slack.com",
    "zendesk.com",
    "my.salesforce.com",
];

/// Domain suffixes that never leave the organisation's network.
const PRIVATE_SUFFIXES: [&str; 6] = [
    "localhost",
    ".local",
    ".internal",
    ".svc",
    ".cluster.local",
    ".lan",
];

impl DestinationAnalyzer {
    /// An analyzer for the given internal domains (`company.com` covers its subdomains).
    pub fn new(internal_domains: &[String]) -> DestinationAnalyzer {
        DestinationAnalyzer {
            internal_domains: internal_domains
                .iter()
                .map(|d| d.trim().trim_start_matches("*.").to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            home_countries: Vec::new(),
        }
    }

    /// The same analyzer, with the countries of the organisation's bank accounts (ISO 3166
    /// codes); without them every IBAN is outside the organisation.
    pub fn with_home_countries(mut self, countries: &[String]) -> DestinationAnalyzer {
        self.home_countries = countries
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect();
        self
    }

    /// Whether an email or URL domain is outside the organisation.
    pub fn external_domain(&self, domain: &str) -> bool {
        self.judge(DestinationForm::Host, &domain.to_ascii_lowercase())
            .0
    }

    /// The internal domain whose name a software-as-a-service tenant carries
    /// (`company.sharepoint.com` for `company.com`): a tenant's name is the customer's to
    /// hold, so that tenant is the organisation's own.
    fn own_tenant(&self, domain: &str) -> Option<&str> {
        let (label, suffix) = domain.split_once('.')?;
        if !TENANT_SUFFIXES.contains(&suffix) {
            return None;
        }
        let label = label.strip_suffix("-my").unwrap_or(label);
        self.internal_domains
            .iter()
            .find(|d| d.split('.').next() == Some(label))
            .map(String::as_str)
    }

    /// Whether an account of `country` (ISO 3166, upper case) is outside the organisation,
    /// and why.
    pub fn external_account(&self, country: &str) -> (bool, String) {
        if self.home_countries.iter().any(|c| c == country) {
            (false, format!("a {country} account is in a home country"))
        } else if self.home_countries.is_empty() {
            (true, "no home countries are configured".to_owned())
        } else {
            (
                true,
                format!("a {country} account is not in a home country"),
            )
        }
    }

    /// Analyzes a destination string. One the caller marks as outside (`@ryan (Slack Connect,
    /// external)`, `SUP-88412 (public reply)`, `#acme (guest)`) is outside whatever it names.
    pub fn analyze(&self, destination: &str) -> DestinationInfo {
        let mut info = self.analyze_name(destination);
        if !info.external && marked_outside(destination) {
            info.external = true;
            info.reason = format!(
                "{:?} is marked as outside the organisation",
                destination.trim()
            );
        }
        info
    }

    fn analyze_name(&self, destination: &str) -> DestinationInfo {
        let trimmed = destination.trim();
        let lower = trimmed.to_ascii_lowercase();
        let mut mailbox = String::new();
        if let Some(country) = iban_country(trimmed) {
            let (external, reason) = self.external_account(&country);
            return DestinationInfo {
                form: DestinationForm::Account,
                domain: country,
                mailbox,
                external,
                channel: "bank-transfer".to_owned(),
                reason,
            };
        }
        // A wallet alone, or named among words (`BTC wallet bc1q…`): one starting `bc1` or
        // `0x`, or any form where the words say it is a wallet.
        let says_wallet = lower.contains("wallet");
        let wallet = trimmed
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
            .find(|w| {
                crypto_wallet(w)
                    && (w.len() == trimmed.len()
                        || w.starts_with("bc1")
                        || w.starts_with("0x")
                        || says_wallet)
            });
        if let Some(wallet) = wallet {
            return DestinationInfo {
                form: DestinationForm::Account,
                domain: CRYPTO_WALLET.to_owned(),
                mailbox,
                external: true,
                channel: "crypto-transfer".to_owned(),
                reason: format!(
                    "{wallet} is a crypto wallet: nothing in its address says the organisation holds it"
                ),
            };
        }
        // `#ext-acme`, `#partners-external`, `#kinetic-cloud-shared`, `#ext-vendor-connect`: by
        // convention a channel shared with another organisation.
        if let Some(name) = lower
            .strip_prefix('#')
            .filter(|n| names_a_shared_channel(n))
        {
            return DestinationInfo {
                form: DestinationForm::Channel,
                domain: name.to_owned(),
                mailbox,
                external: true,
                channel: "chat".to_owned(),
                reason: format!("#{name} is named as a channel shared with another organisation"),
            };
        }
        if let Some(name) = lower.strip_prefix('#').filter(|n| !n.is_empty()) {
            return DestinationInfo {
                form: DestinationForm::Channel,
                domain: name.to_owned(),
                mailbox,
                external: false,
                channel: "chat".to_owned(),
                reason: format!("#{name} is a chat channel of the organisation"),
            };
        }
        // `@rachel`, `@alex.m`: a member's handle in chat, not an address without its mailbox.
        let handle = lower
            .strip_prefix('@')
            .filter(|handle| !handle.is_empty() && !handle.contains('@'))
            .map(str::to_owned);
        // `@sarah.hughes`, `@mark.black`: a first and a last name, though `.hughes` and `.black`
        // are top-level domains; a handle names a host only with a classic suffix (`@evil.io`).
        let names_a_person = handle.as_deref().is_some_and(first_and_last_name);
        let lower = handle.unwrap_or(lower);
        // A repository at a ref (`company/api@v4.2.0`) names no mailbox, nor does a handle
        // after words (`Slack DM @jon.reyes`).
        let (form, domain) = if let Some((local, domain)) = lower
            .strip_prefix("mailto:")
            .unwrap_or(&lower)
            .rsplit_once('@')
            .filter(|(local, _)| !local.contains('/') && !local.ends_with(char::is_whitespace))
        {
            mailbox = local.trim_start_matches('<').to_owned();
            // The address ends where its domain does (`h.price@company.com mailbox`).
            let domain = domain
                .split(|c: char| {
                    c.is_whitespace() || matches!(c, '>' | ')' | ',' | ';' | ':' | '/')
                })
                .next()
                .unwrap_or("");
            (DestinationForm::Email, domain.to_owned())
        } else if lower.starts_with("dropbox:") {
            // A path in Dropbox (`dropbox:/Apps/…`) is on Dropbox's hosts, as its web links are.
            (DestinationForm::Url, "dropbox.com".to_owned())
        } else if let Some((scheme, rest)) = lower.split_once("://") {
            let host = rest
                .split(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
                .next()
                .unwrap_or("");
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            // A host that is a single name resolves only inside a network: a path in the
            // organisation's own file store (`files://Marketing/…`, `smb://fileserver/…`), one
            // of its database servers (`postgres://lims-db/…`) or a record in one of its
            // applications (`crm://customers/C-20931`) names no host outside. A bucket
            // (`s3://name`) still does: its name does not say whose it is.
            if !host.contains('.') && !host.contains(':') && !BUCKET_SCHEMES.contains(&scheme) {
                (DestinationForm::System, host.to_owned())
            } else {
                (DestinationForm::Url, strip_port(host))
            }
        } else if names_a_host_and_port(&lower)
            || (!names_a_person
                && lower.split('/').next().is_some_and(|h| h.contains('.'))
                && names_a_host(&lower))
        {
            (
                DestinationForm::Host,
                strip_port(lower.split('/').next().unwrap_or("")),
            )
        } else if let Some((local, domain)) = mailbox_named_in(&lower) {
            // A place described in words that names who it is shared with (`OneDrive folder
            // /Backup shared with dan@outlook.com`) goes to that mailbox.
            mailbox = local.to_owned();
            (DestinationForm::Email, domain.to_owned())
        } else if let Some(host) = host_in_brackets(&lower) {
            // A record named with the host it lives on (`VEND-2231 (support.vendor.io)`) is on
            // that host.
            (DestinationForm::Host, host.to_owned())
        } else if let Some(host) = host_before_brackets(&lower) {
            // So is a host named with a note on whose place there it is (`mega.nz (user
            // dh.research88)`).
            (DestinationForm::Host, strip_port(host))
        } else {
            (DestinationForm::System, lower.clone())
        };
        let (external, reason) = self.judge(form, &domain);
        let channel = match form {
            DestinationForm::Email => "email".to_owned(),
            DestinationForm::System => channel_name(&domain),
            DestinationForm::Url
            | DestinationForm::Host
            | DestinationForm::Account
            | DestinationForm::Channel => String::new(),
        };
        DestinationInfo {
            form,
            domain,
            mailbox,
            external,
            channel,
            reason,
        }
    }

    fn judge(&self, form: DestinationForm, domain: &str) -> (bool, String) {
        if form == DestinationForm::System {
            return (false, format!("{domain:?} names an internal system"));
        }
        if let Ok(ip) = domain.trim_matches(['[', ']']).parse::<IpAddr>() {
            let private = match ip {
                IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
                IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local(),
            };
            return if private {
                (false, format!("{ip} is a private address"))
            } else {
                (true, format!("{ip} is a public address"))
            };
        }
        if let Some(internal) = self
            .internal_domains
            .iter()
            .find(|d| domain == d.as_str() || domain.ends_with(&format!(".{d}")))
        {
            return (
                false,
                format!("{domain} is under internal domain {internal}"),
            );
        }
        if let Some(internal) = self.own_tenant(domain) {
            return (
                false,
                format!("{domain} is the organisation's own tenant (named as {internal})"),
            );
        }
        if PRIVATE_SUFFIXES
            .iter()
            .any(|s| domain == s.trim_start_matches('.') || domain.ends_with(s))
        {
            return (false, format!("{domain} is a private name"));
        }
        (true, format!("{domain} is not an internal domain"))
    }
}

/// The first address (`local`, `domain`) among the words of a destination described in words.
fn mailbox_named_in(destination: &str) -> Option<(&str, &str)> {
    destination
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>'))
        .filter_map(|word| word.split_once('@'))
        .map(|(local, domain)| (local, domain.trim_end_matches(['.', ':'])))
        .find(|(local, domain)| {
            !local.is_empty()
                && !local.contains('/')
                && domain.contains('.')
                && names_a_host(domain)
        })
}

/// Whether a destination carries a mark that it leaves the organisation: `(external)`, `(guest)`,
/// `(public reply)`, `(…, external)`, `(Guest - Ridgeway Scaffolding)`, `(external shared
/// channel)`, `(external Teams guest)`, `(external guest account, …)` or `(…, including external
/// volunteers)` after it, a Slack or Teams Connect channel, a community's workspace (`#general
/// (Oakfield Juniors community Slack, 640 members)`) or a Discord server (`discord:devs/#general`),
/// someone's handle or number on a personal messenger (`telegram: @ops_desk`, `WhatsApp +44 7700
/// 914382`), or someone's personal cloud store (`rclone remote gdrive-personal:archive`, `my
/// personal OneDrive`, `dropbox://personal/…`, `dropbox:/sam.keller-personal/…`), a ticket or case
/// at a vendor (`vendor ticket #8812`), or a chat handle marked as an outsider's
/// (`@ext-support-marco`, `@guest.lena`, `@james.ext-consultant`).
pub(crate) fn marked_outside(destination: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)^\s*(?:vendor|supplier)(?:'s)? (?:support )?(?:ticket|case)\b|^\s*@(?:(?:ext|external|guest|vendor|contractor)[-_.]|\w+[._-](?:ext|external|guest|vendor|contractor)(?:[-_.]|\s*$))|\((?:[^()]{0,40}(?:[,;:]| [-–—]) ?)?(?:including |incl\.? |with |plus )?(?:external|guest|outside|public(?: reply| comment)?)(?: (?:volunteers|members|users|guests|contractors|partners|people|parties|discord|slack|telegram|channel|server|forum|community|group|page|repo|repository|issue|project))?(?:(?:[,;:]| [-–—] )[^()]{0,40})?\)|\((?:external|guest|shared external|outside) (?:shared )?(?:(?:teams|slack|google|zoom|webex) )?(?:guest |user )?(?:channel|workspace|user|account|contact|dm|guest|org(?:anization)?)(?:[,;][^()]{0,40})?\)|\b(?:whatsapp|telegram|signal|wechat|viber)\b\s*:?\s*[@+]|\+?\d[\d ]{8,}\d\s*\((?:whatsapp|telegram|signal|wechat|viber)\)|\b(?:slack|teams) connect\b|\bcommunity (?:slack|discord|server|workspace|forum)\b|\bdiscord (?:server|channel)\b|^\s*discord\s*:|\b(?:personal|private|home)[\s_-]*(?:g?drive|google[\s_-]?drive|dropbox|onedrive|icloud|mega|box)\b|\b(?:g?drive|google[\s_-]?drive|dropbox|onedrive|icloud|mega)(?:[\s_-]*|:/*(?:[\w.-]*?[._-])?)(?:personal|private|home)\b",
        )
        .expect("outside-mark pattern")
    })
    .is_match(destination)
}

/// The host a destination names in brackets after a record's id (`vend-2231
/// (support.vendor.io)`), if any. An account or a workspace described in words before its host
/// (`our dotdigital account (r1-app.dotdigital.com)`) is left to the rest of the analysis.
fn host_in_brackets(destination: &str) -> Option<&str> {
    let (record, rest) = destination.split_once('(')?;
    let record_id = record.trim().split_once('-').is_some_and(|(kind, number)| {
        !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_alphanumeric())
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
    });
    let inner = rest.split_once(')')?.0.trim();
    (record_id && !inner.contains(char::is_whitespace) && names_a_host(inner)).then_some(inner)
}

/// Whether a channel's name marks it as shared with another organisation: `ext` or `external`
/// first or last (`ext-acme`, `partners-external`), a `shared` or `connect` part
/// (`kinetic-cloud-shared`, `vendor-connect-tracksure`), not the organisation's own shared
/// services or drives (`finance-shared-services`), or a bridge to another platform
/// (`community-discord-bridge`), not a bridge that is built (`bridge-inspections`).
fn names_a_shared_channel(name: &str) -> bool {
    let parts: Vec<&str> = name.split(['-', '_']).collect();
    let outside = |part: Option<&&str>| matches!(part, Some(&"ext" | &"external"));
    let bridged = parts.contains(&"bridge")
        && parts.iter().any(|part| {
            matches!(
                *part,
                "discord" | "whatsapp" | "telegram" | "irc" | "matrix" | "signal" | "community"
            )
        });
    bridged
        || (parts.len() > 1 && (outside(parts.first()) || outside(parts.last())))
        || parts.iter().enumerate().any(|(i, part)| {
            *part == "connect"
                || (*part == "shared"
                    && !matches!(
                        parts.get(i + 1),
                        Some(
                            &"services" | &"service" | &"drive" | &"drives" | &"inbox" | &"mailbox"
                        )
                    ))
        })
}

/// The host a destination names first, with a note in brackets after it (`mega.nz (user
/// dh.research88)`), if any.
fn host_before_brackets(destination: &str) -> Option<&str> {
    let (host, rest) = destination.split_once(" (")?;
    let host = host.trim();
    (rest.contains(')')
        && host.contains('.')
        && !host.contains(|c: char| c.is_whitespace() || c == '@')
        && names_a_host(host))
    .then(|| host.split('/').next().unwrap_or(host))
}

/// Whether a chat handle reads as a person's names (`sarah.hughes`): two words of letters, the
/// second longer than the classic three-letter suffixes.
fn first_and_last_name(handle: &str) -> bool {
    handle.split_once('.').is_some_and(|(first, last)| {
        !first.is_empty()
            && last.len() > 3
            && first.chars().all(|c| c.is_ascii_alphabetic())
            && last.chars().all(|c| c.is_ascii_alphabetic())
    })
}

/// Whether `name` (lower case, no scheme or port) is a host: an IP address or a name under a
/// known public suffix (`api.example.com`, `evil.xyz/path`), not a user handle (`alex.m`).
fn names_a_host(name: &str) -> bool {
    let host = name.split('/').next().unwrap_or("").trim_end_matches('.');
    host.parse::<IpAddr>().is_ok() || psl::suffix(host.as_bytes()).is_some_and(|s| s.is_known())
}

/// The country of an IBAN written with or without spaces (two letters, two check digits, 10 to
/// 30 letters and digits), upper case; `None` when `text` is not one.
pub fn iban_country(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    let b = compact.as_bytes();
    let shaped = (14..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphanumeric)
        && b[4..].iter().any(u8::is_ascii_digit);
    shaped.then(|| compact[..2].to_ascii_uppercase())
}

/// Schemes of a cloud object store (`s3://name`): a bucket's name is a single word wherever it
/// lives, and does not say whose it is.
pub(crate) const BUCKET_SCHEMES: [&str; 12] = [
    "s3", "s3a", "s3n", "gs", "gcs", "az", "abfs", "abfss", "wasb", "wasbs", "r2", "b2",
];

/// The `domain` of a crypto wallet destination.
pub const CRYPTO_WALLET: &str = "crypto-wallet";

/// Whether `text` is a crypto wallet address: Bitcoin (`bc1…`, or base58 from `1` or `3`),
/// Ethereum and its kin (`0x` and 40 hex digits) or Tron (`T` and 33 base58 characters).
pub fn crypto_wallet(text: &str) -> bool {
    let base58 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
    };
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("bc1").or_else(|| t.strip_prefix("BC1")) {
        return (11..=71).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    match t.as_bytes().first() {
        Some(b'1' | b'3') => (26..=35).contains(&t.len()) && base58(t),
        Some(b'T') => t.len() == 34 && base58(t),
        _ => false,
    }
}

/// Whether `text` with a colon is a dotted host with a port (`10.1.2.3:8443`,
/// `api.example.com:443`) or an IPv6 address, rather than a reference of the form `kind:id`
/// (`tag:Enterprise`, `customer:4411`) or a single-label name with a port, which name
/// something inside the organisation.
fn names_a_host_and_port(text: &str) -> bool {
    let Some((host, port)) = text.split('/').next().unwrap_or("").rsplit_once(':') else {
        return false;
    };
    (!port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && host.contains('.'))
        || host.starts_with('[')
        || text.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
}

fn strip_port(host: &str) -> String {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
            .to_owned();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
        _ => host.to_owned(),
    }
}

/// The canonical name of a channel (`ticketing system`, `helpdesk`, `tickets` → `ticketing`).
pub fn channel_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let base = lower
        .trim_end_matches(" system")
        .trim_end_matches(" platform")
        .trim_end_matches(" tool")
        .trim_end_matches(" channel")
        .trim();
    match base {
        "ticket" | "tickets" | "ticketing" | "helpdesk" | "help desk" | "support ticket"
        | "support tickets" | "support" | "zendesk" | "servicenow" | "jira service desk" => {
            "ticketing".into()
        }
        "mail" | "e-mail" | "email" | "smtp" => "email".into(),
        "slack" | "teams" | "chat" | "messaging" => "chat".into(),
        "sms" | "text" | "phone" => "sms".into(),
        other => other.replace(' ', "-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_judged() {
        let a = DestinationAnalyzer::new(&["company.com".into()]);
        let d = a.analyze("jane@gmail.com");
        assert_eq!(
            (d.form, d.domain.as_str(), d.external),
            (DestinationForm::Email, "gmail.com", true)
        );
        assert_eq!(d.channel, "email");
        assert!(!a.analyze("ops@mail.company.com").external);
        assert!(!a.analyze("h.price@company.com mailbox").external);
        assert!(
            !a.analyze("git@git.company.com:airport/parking-web.git (main via MR !77)")
                .external
        );
        assert!(
            !a.analyze("files://Marketing/BetaInvites/optin.csv")
                .external
        );
        assert!(a.analyze("smb://files.example.net/share").external);
        assert!(
            a.analyze("VEND-2231 (support.telemetrix-tools.io)")
                .external
        );
        assert!(!a.analyze("SUP-88 (help.company.com)").external);
        assert!(
            !a.analyze("Dotdigital account company-mobile (r1-app.dotdigital.com)")
                .external
        );
        assert_eq!(
            a.analyze("https://company.my.salesforce.com (Data Import Wizard)")
                .domain,
            "company.my.salesforce.com"
        );
        for dropbox in [
            "dropbox:/Apps/sync-tool-7731/HR",
            "dropbox://personal/m.harlow/backup/",
            "dropbox:/sam.keller-personal/backup/Finance",
        ] {
            let d = a.analyze(dropbox);
            assert_eq!((d.domain.as_str(), d.external), ("dropbox.com", true));
        }
        assert!(
            a.analyze("s3://company-analytics-internal/crm-exports")
                .external
        );
        assert_eq!(a.analyze("<jo@gmail.com> (client)").domain, "gmail.com");
        assert!(!a.analyze("https://wiki.company.com/x").external);
        assert!(a.analyze("https://api.hubspot.com/v1").external);
        assert!(!a.analyze("10.1.2.3:8443").external);
        assert!(a.analyze("collector.example.net:8443").external);
        assert!(a.analyze("2001:4860:4860::8888").external);
        for reference in [
            "tag:Enterprise",
            "customer:4411",
            "company/web-app:src/bootstrap.ts",
            "company/checkout-service@v4.2.0",
        ] {
            let r = a.analyze(reference);
            assert_eq!(
                (r.form, r.external),
                (DestinationForm::System, false),
                "{reference}"
            );
        }
        assert!(a.analyze("8.8.8.8").external);
        assert!(!a.analyze("db.internal").external);
        let handle = a.analyze("alex.m");
        assert_eq!(
            (handle.form, handle.external),
            (DestinationForm::System, false)
        );
        // `.hughes` and `.finance` are top-level domains, but after `@` they are surnames
        // and teams.
        for member in [
            "@rachel",
            "@alex.m",
            "Slack DM @jon.reyes",
            "@sarah.hughes",
            "@sarah.finance",
        ] {
            let m = a.analyze(member);
            assert_eq!(
                (m.form, m.external),
                (DestinationForm::System, false),
                "{member}"
            );
        }
        assert!(a.analyze("@evil.com").external);
        assert!(a.analyze("@collect.io").external);
        assert!(a.analyze("sarah.hughes/upload").external);
        let bare = a.analyze("evil.xyz/collect");
        assert_eq!((bare.form, bare.external), (DestinationForm::Host, true));
        assert!(a.analyze("files.example.com.").external);
        let shared = a.analyze("OneDrive folder /Backup/work shared with dan.mercer83@outlook.com");
        assert_eq!(
            (shared.form, shared.domain.as_str(), shared.external),
            (DestinationForm::Email, "outlook.com", true)
        );
        assert!(
            !a.analyze("Finance shared drive (owner: j.smith@company.com)")
                .external
        );
        let t = a.analyze("ticketing");
        assert_eq!(
            (t.form, t.external, t.channel.as_str()),
            (DestinationForm::System, false, "ticketing")
        );
    }

    #[test]
    fn the_organisations_own_tenant_and_servers_are_inside() {
        let a = DestinationAnalyzer::new(&["company.com".into()]);
        for own in [
            "https://company.sharepoint.com/sites/risk/Shared Documents/",
            "https://company-my.sharepoint.com/personal/j_doe",
            "company.atlassian.net",
            "postgres://lims-prod-db-01/lims",
            "crm://customers/C-20931",
            "http://intranet/hr/policies",
        ] {
            assert!(!a.analyze(own).external, "{own}");
        }
        for other in [
            "https://company-files.sharepoint.com/sites/x",
            "https://evil.sharepoint.com/sites/x",
            "company.example.net",
            "https://company.sharepoint.com.evil.io/x",
            "postgres://db.evil.io/lims",
            "s3://company-ngs-raw-data",
            "gs://company-exports",
            "http://[2001:4860:4860::8888]/x",
        ] {
            assert!(a.analyze(other).external, "{other}");
        }
    }

    #[test]
    fn a_host_with_a_note_in_brackets_is_that_host() {
        let a = DestinationAnalyzer::new(&["company.com".into()]);
        for (destination, host, external) in [
            ("mega.nz (user dh.research88)", "mega.nz", true),
            ("wetransfer.com/abc (link for Dan)", "wetransfer.com", true),
            (
                "files.company.com (Finance share)",
                "files.company.com",
                false,
            ),
        ] {
            let info = a.analyze(destination);
            assert_eq!(
                (info.form, info.domain.as_str(), info.external),
                (DestinationForm::Host, host, external),
                "{destination}"
            );
        }
        for not_a_host in ["St. Mary's ward (level 2)", "README.md on main (docs)"] {
            assert!(!a.analyze(not_a_host).external, "{not_a_host}");
        }
    }

    #[test]
    fn a_destination_marked_as_outside_is_outside() {
        let a = DestinationAnalyzer::new(&["company.com".into()]);
        for marked in [
            "@ryan.contractor (Slack Connect, external)",
            "SUP-88412 (public reply)",
            "#acme-project (guest)",
            "@kelly.dpd (external shared channel)",
            "Discord: Rift Runners > #tester-lounge (public, 31,000 members)",
            "rclone remote gdrive-personal:nx2-archive",
            "my personal OneDrive /Work",
            "#general (Oakfield Juniors community Slack, 640 members)",
            "Discord server 'UK Club Coaches', #general",
            "telegram: @gymops_support_desk",
            "WhatsApp +44 7700 914382",
            "+44 7723 918405 (WhatsApp)",
            "Slack DM @rob.contractor (external guest)",
            "@it-servicedesk-support (external Teams guest)",
            "Slack DM @it-helpdesk-support (external guest account, joined today)",
            "#volunteers-all (1,240 members, including external volunteers)",
            "@ext-support-marco",
            "@guest.lena",
            "@james.ext-consultant",
            "@jake.ext",
            "@tom.h (Guest - Ridgeway Scaffolding)",
            "@sam.w (Ridgeway Scaffolding – guest)",
            "vendor ticket #8812",
            "#arena-community (public Discord)",
            "discord:semicon-devs/#general",
        ] {
            let info = a.analyze(marked);
            assert!(
                info.external && info.reason.contains("marked"),
                "{marked}: {info:?}"
            );
        }
        for internal in [
            "@ryan",
            "SUP-88412 (internal note)",
            "#eng (private)",
            "#partners (external partners discussed here)",
            "OneDrive /Finance/Private/2024",
            "rclone remote gdrive-company:shared",
            "signal-team@company.com",
            "DM: @sophie.li (internal)",
            "@extended-hours-rota",
            "@vendor",
            "#events (guest-list planning)",
            "ticket #8812 (vendor: Agfa)",
        ] {
            assert!(!a.analyze(internal).external, "{internal}");
        }
    }

    #[test]
    fn a_channel_named_as_shared_is_outside() {
        let a = DestinationAnalyzer::new(&["company.com".into()]);
        for name in [
            "#ext-vendor-brightline",
            "#partners-external",
            "#kinetic-cloud-shared",
            "#shared-clientco-facilities",
            "#vendor-connect-tracksure",
            "#community-discord-bridge",
        ] {
            let shared = a.analyze(name);
            assert_eq!(
                (shared.form, shared.external),
                (DestinationForm::Channel, true),
                "{name}"
            );
        }
        assert!(!a.analyze("#extras").external);
        assert!(!a.analyze("#eng-external-comms").external);
        assert!(!a.analyze("#finance-shared-services").external);
        assert!(!a.analyze("#sharepoint-migration").external);
        assert!(!a.analyze("#bridge-inspections").external);
    }

    #[test]
    fn accounts_and_chat_channels_are_judged() {
        let a = DestinationAnalyzer::new(&[]).with_home_countries(&["GB".into()]);
        let home = a.analyze("GB29 NWBK 6016 1331 9268 19");
        assert_eq!(
            (home.form, home.domain.as_str(), home.external),
            (DestinationForm::Account, "GB", false)
        );
        assert!(a.analyze("US133000000121212121212").external);
        assert!(
            DestinationAnalyzer::new(&[])
                .analyze("GB29NWBK60161331926819")
                .external
        );
        let c = a.analyze("#engineering");
        assert_eq!(
            (c.form, c.external, c.channel.as_str()),
            (DestinationForm::Channel, false, "chat")
        );
        assert_eq!(a.analyze("zendesk").form, DestinationForm::System);
        for wallet in [
            "bc1q9x7lm2ahz0ep4k3tq8yd5wv6rfgj0n2c8ue4sp",
            "0x7aE3c41B92d0F5e86A1c0d4B3f92E1a57C68D2b9",
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL",
            "BTC wallet bc1q4m8rz7y2kx0v9tjw3hn5qf6l8dcs2ae7p0gu3z",
            "USDT (TRC20) wallet TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL",
        ] {
            let w = a.analyze(wallet);
            assert_eq!(
                (w.form, w.domain.as_str(), w.external),
                (DestinationForm::Account, CRYPTO_WALLET, true),
                "{wallet}"
            );
        }
        for not_wallet in [
            "0x1f",
            "1234567",
            "TICKET-88213",
            "customer account CUST-88213",
        ] {
            assert!(!crypto_wallet(not_wallet), "{not_wallet}");
        }
    }

    #[test]
    fn channels_are_canonical() {
        assert_eq!(channel_name("ticketing system"), "ticketing");
        assert_eq!(channel_name("Slack"), "chat");
        assert_eq!(channel_name("billing portal"), "billing-portal");
    }
}
