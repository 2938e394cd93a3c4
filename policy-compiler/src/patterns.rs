//! The pattern languages of the policy documents, shared by validation here and enforcement in
//! the egress engine and the policy service, so all of them read a pattern the same way.
//!
//! - [`DomainPattern`]: `api.hubspot.com` (exactly that host) or `*.salesforce.com` (any host
//!   below it, at any depth; not `salesforce.com` itself). `*` alone matches every host and is
//!   accepted only where it narrows (a deny rule). Wildcards covering a public suffix (`*.com`,
//!   `*.co.uk`, per the Public Suffix List) are refused.
//! - [`ApiPattern`]: `crm.read` or `admin.*` (every API below `admin`), or `*`.
//! - [`PathPattern`]: `/api/v1/events`, `/api/v1/customers/*` (`*` = one segment), or
//!   `/api/v1/**` (`**` as the last segment = any rest, including nothing).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::request_path::RequestPath;
use crate::yaml::HINT_SEPARATOR;

/// Why a pattern was refused, with how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} — {}", self.message, self.hint)
    }
}

impl std::error::Error for PatternError {}

fn refuse(message: impl Into<String>, hint: impl Into<String>) -> PatternError {
    PatternError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// A host-name pattern (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainPattern {
    text: String,
    shape: DomainShape,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum DomainShape {
    Any,
    Exact,
    /// Any host ending in `.` + the stored suffix.
    Below(String),
}

impl DomainPattern {
    /// Parses and checks a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text == "*" {
            return Ok(DomainPattern {
                text: text.to_owned(),
                shape: DomainShape::Any,
            });
        }
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        check_host_name(name, text)?;
        if !wildcard {
            return Ok(DomainPattern {
                text: text.to_owned(),
                shape: DomainShape::Exact,
            });
        }
        let is_public_suffix = psl::suffix(name.as_bytes())
            .map(|suffix| suffix.as_bytes() == name.as_bytes())
            .unwrap_or(true);
        if !name.contains('.') || is_public_suffix {
            return Err(refuse(
                format!("'{text}' covers a whole public suffix ('{name}')"),
                format!("name the organisation's domain, e.g. '*.example.{name}'"),
            ));
        }
        Ok(DomainPattern {
            text: text.to_owned(),
            shape: DomainShape::Below(name.to_owned()),
        })
    }

    /// Whether the pattern is `*` (every host).
    pub fn is_any(&self) -> bool {
        self.shape == DomainShape::Any
    }

    /// Whether `host` matches (case-insensitive, one trailing dot ignored).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        match &self.shape {
            DomainShape::Any => true,
            DomainShape::Exact => host == self.text,
            DomainShape::Below(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// Whether every host matched by `other` is also matched by `self`.
    pub fn covers(&self, other: &DomainPattern) -> bool {
        match (&self.shape, &other.shape) {
            (DomainShape::Any, _) => true,
            (_, DomainShape::Any) => false,
            (_, DomainShape::Exact) => self.matches(&other.text),
            (DomainShape::Below(mine), DomainShape::Below(theirs)) => {
                mine == theirs || self.matches(theirs)
            }
            (DomainShape::Exact, DomainShape::Below(_)) => false,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn check_host_name(name: &str, text: &str) -> Result<(), PatternError> {
    let hint = "write a lower-case host name such as 'api.example.com' or '*.example.com' \
                (a single leading '*.' is the only wildcard)";
    if name.is_empty() || name.len() > 253 {
        return Err(refuse(format!("'{text}' is not a host name"), hint));
    }
    if name.contains('*') {
        return Err(refuse(
            format!("'{text}' has a wildcard that is not a leading '*.'"),
            hint,
        ));
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(refuse(
                format!("'{text}' is not a host name (bad label '{label}')"),
                hint,
            ));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(refuse(
            format!("'{text}' is an IP address, not a host name"),
            "name the host; addresses are resolved and checked by the egress engine",
        ));
    }
    Ok(())
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A pattern over dotted API or action names (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiPattern {
    text: String,
    /// Segments before a trailing `*`; all segments when there is none.
    prefix: Vec<String>,
    wildcard: bool,
}

impl ApiPattern {
    /// Parses `crm.read`, `admin.*` or `*`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let hint = "write dotted lower-case names such as 'crm.read' or 'admin.*' \
                    ('*' only as the last segment)";
        let mut segments: Vec<&str> = text.split('.').collect();
        let wildcard = segments.last() == Some(&"*");
        if wildcard {
            segments.pop();
        }
        if !segments.iter().all(|s| is_api_segment(s)) {
            return Err(refuse(format!("'{text}' is not an API name"), hint));
        }
        if segments.is_empty() && !wildcard {
            return Err(refuse(format!("'{text}' is not an API name"), hint));
        }
        Ok(ApiPattern {
            text: text.to_owned(),
            prefix: segments.into_iter().map(str::to_owned).collect(),
            wildcard,
        })
    }

    /// Whether the pattern has a trailing `*`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// Whether the pattern is `*` (every name).
    pub fn is_any(&self) -> bool {
        self.wildcard && self.prefix.is_empty()
    }

    /// The literal segments: all of them, or those before a trailing `*` (none for `*`).
    pub fn literal_segments(&self) -> &[String] {
        &self.prefix
    }

    /// Whether the concrete name `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let segments: Vec<&str> = name.split('.').collect();
        if self.wildcard {
            segments.len() > self.prefix.len()
                && self.prefix.iter().zip(&segments).all(|(a, b)| a == b)
        } else {
            segments.len() == self.prefix.len()
                && self.prefix.iter().zip(&segments).all(|(a, b)| a == b)
        }
    }

    /// Whether every name matched by `other` is matched by `self`.
    pub fn covers(&self, other: &ApiPattern) -> bool {
        if !self.wildcard {
            return self == other;
        }
        other.prefix.len() >= self.prefix.len()
            && (other.prefix.len() > self.prefix.len() || other.wildcard)
            && self.prefix.iter().zip(&other.prefix).all(|(a, b)| a == b)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A segment of an API name: a lower-case letter, then letters, digits, `_` or `-`.
fn is_api_segment(segment: &str) -> bool {
    segment
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An API name as a caller wrote it (`" CRM.Read"`), in the one form [`ApiPattern::matches`]
/// and every other API matcher decide on (`crm.read`): trimmed and ASCII lower-cased. A name
/// no pattern could be written for (`admin..users`, `admin.users\0`, `аdmin.users` with a
/// Cyrillic `а`) is refused, so it cannot slip past a denial that its spelling dodges.
pub fn normalize_api_name(text: &str) -> Result<String, PatternError> {
    let name = text.trim().to_ascii_lowercase();
    if name.split('.').all(is_api_segment) {
        Ok(name)
    } else {
        Err(refuse(
            format!("{text:?} is not an API name"),
            "API names are dotted lower-case names such as 'crm.read'",
        ))
    }
}

/// API names and patterns with whether each pattern matches each name (after
/// [`normalize_api_name`]; `None`: the name is refused): the table the tests of every
/// component that decides on API names run through its own matcher.
pub const API_MATCH_CASES: [(&str, &str, Option<bool>); 34] = [
    ("admin.*", "admin.users.list", Some(true)),
    ("admin.*", "Admin.Users", Some(true)),
    ("admin.*", " admin.users ", Some(true)),
    ("admin.*", "admin", Some(false)),
    ("admin.*", "administrator.users", Some(false)),
    ("admin.*", "admin..users", None),
    ("admin.*", "admin.users\0", None),
    ("admin.*", "\u{430}dmin.users", None),
    ("admin.*", "admin.", None),
    ("admin.*", "admin.*", None),
    ("admin.*", "admin.\\*", None),
    ("admin.*", "admin.\\u{2a}", None),
    ("admin.*", "admin.\"x\"", None),
    ("admin.*", ".admin.users", None),
    ("admin.*", "admin users", None),
    ("admin.users.*", "admin.users", Some(false)),
    ("admin.users.*", "admin.users.delete", Some(true)),
    ("admin.users.*", "admin.usersx.delete", Some(false)),
    ("svc.*", "svc.read", Some(true)),
    ("svc.*", "svc.a.b.c", Some(true)),
    ("svc.*", "svcx.read", Some(false)),
    ("svc.*", "other.svc.read", Some(false)),
    ("crm.read", "CRM.READ", Some(true)),
    ("crm.read", "crm.read", Some(true)),
    ("crm.read", "crm.read.all", Some(false)),
    ("crm.read", "crm.reader", Some(false)),
    ("crm.read", "crm.rea*", None),
    ("crm.read", "crm.r\u{435}ad", None),
    ("crm.read", "\u{ff43}rm.read", None),
    ("a-b_c.d1", "A-B_C.D1", Some(true)),
    ("*", "anything.at.all", Some(true)),
    ("*", "one", Some(true)),
    ("*", "", None),
    ("billing.refund.*", "billing.refund.partial", Some(true)),
];

/// Patterns [`ApiPattern::parse`] refuses, which every component that reads API patterns must
/// refuse too: upper case, empty or misplaced segments, wildcards other than a final `*`,
/// quotes and escapes, non-ASCII look-alikes.
pub const API_PATTERN_REFUSALS: [&str; 18] = [
    "",
    "Crm.read",
    "CRM.*",
    "crm..read",
    "crm.read.",
    ".crm",
    "crm.*.read",
    "*.*",
    "**",
    "*crm",
    "crm*",
    "1crm",
    " crm.read",
    "x\" || true || \"",
    "admin.\\*",
    "admin.\\u{2a}",
    "crm.r\u{435}ad",
    "crm.read\0",
];

impl fmt::Display for ApiPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A URL path pattern (see the module documentation), matched against request paths in
/// [`RequestPath`]'s normal form; the pattern itself is read in that form too (`/api/v1/` is
/// `/api/v1`, `%75sers` is `users`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathPattern {
    text: String,
    /// The normalised segments; `*` and `**` are wildcards.
    segments: Vec<String>,
}

impl PathPattern {
    /// Parses `/api/v1/events`, `/customers/*/notes` or `/api/**`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let hint = "write an absolute path such as '/api/v1/events'; '*' matches one segment, \
                    a final '**' the rest";
        if !text.starts_with('/') {
            return Err(refuse(
                format!("path '{text}' does not start with '/'"),
                hint,
            ));
        }
        if text.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
            return Err(refuse(
                format!("path '{text}' has whitespace, a query or a fragment"),
                hint,
            ));
        }
        let written: Vec<&str> = text[1..].split('/').collect();
        if let Some(bad) = written.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(refuse(
                format!("path '{text}' has a bad segment '{bad}'"),
                hint,
            ));
        }
        let normal = RequestPath::parse(text)
            .map_err(|refusal| refuse(format!("path '{text}': {refusal}"), hint))?;
        let segments: Vec<String> = normal.segments().map(str::to_owned).collect();
        for (index, segment) in segments.iter().enumerate() {
            let last = index + 1 == segments.len();
            let bad_wildcard = segment.contains('*') && segment != "*" && segment != "**";
            if bad_wildcard || (segment == "**" && !last) {
                return Err(refuse(
                    format!("path '{text}' has a bad segment '{segment}'"),
                    hint,
                ));
            }
        }
        Ok(PathPattern {
            text: text.to_owned(),
            segments,
        })
    }

    /// Whether the normalised request path `path` matches (the query plays no part).
    pub fn matches(&self, path: &RequestPath) -> bool {
        let actual: Vec<&str> = path.segments().collect();
        let pattern: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        if pattern.last() == Some(&"**") {
            let fixed = &pattern[..pattern.len() - 1];
            return actual.len() >= fixed.len() && segments_match(fixed, &actual[..fixed.len()]);
        }
        pattern.len() == actual.len() && segments_match(&pattern, &actual)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn segments_match(pattern: &[&str], actual: &[&str]) -> bool {
    pattern
        .iter()
        .zip(actual)
        .all(|(p, a)| *p == *a || *p == "*")
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An HTTP request method.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
}

impl HttpMethod {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Connect => "CONNECT",
            HttpMethod::Trace => "TRACE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Patterns are written as YAML strings; a bad one is reported with its fix hint.
macro_rules! string_pattern_serde {
    ($($pattern:ty),*) => {$(
        impl<'de> Deserialize<'de> for $pattern {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$pattern>::parse(&text).map_err(|error| {
                    de::Error::custom(format!("{}{HINT_SEPARATOR}{}", error.message, error.hint))
                })
            }
        }

        impl Serialize for $pattern {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}

string_pattern_serde!(DomainPattern, ApiPattern, PathPattern);

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(text: &str) -> DomainPattern {
        DomainPattern::parse(text).unwrap()
    }

    #[test]
    fn domain_patterns_match_whole_labels() {
        let salesforce = domain("*.salesforce.com");
        assert!(salesforce.matches("na1.salesforce.com"));
        assert!(salesforce.matches("a.b.SALESFORCE.com."));
        assert!(!salesforce.matches("salesforce.com"));
        assert!(!salesforce.matches("evilsalesforce.com"));
        let hubspot = domain("api.hubspot.com");
        assert!(hubspot.matches("api.hubspot.com"));
        assert!(!hubspot.matches("x.api.hubspot.com"));
        assert!(domain("*").matches("anything.example"));
    }

    #[test]
    fn too_broad_or_malformed_domains_are_refused() {
        for text in [
            "*.com",
            "*.co.uk",
            "*.test",
            "**.com",
            "a.*.com",
            "*example.com",
        ] {
            assert!(DomainPattern::parse(text).is_err(), "{text}");
        }
        for text in [
            "Api.example.com",
            "-a.example.com",
            "a..b",
            "10.0.0.1",
            "",
            "a b.com",
        ] {
            assert!(DomainPattern::parse(text).is_err(), "{text}");
        }
        assert!(DomainPattern::parse("*.example.co.uk").is_ok());
        assert!(DomainPattern::parse("*.crm.example.test").is_ok());
        let error = DomainPattern::parse("*.com").unwrap_err();
        assert_eq!(
            error.message,
            "'*.com' covers a whole public suffix ('com')"
        );
    }

    #[test]
    fn domain_coverage() {
        assert!(domain("*").covers(&domain("*.a.com")));
        assert!(domain("*.a.com").covers(&domain("x.a.com")));
        assert!(domain("*.a.com").covers(&domain("*.b.a.com")));
        assert!(domain("*.a.com").covers(&domain("*.a.com")));
        assert!(!domain("*.b.a.com").covers(&domain("*.a.com")));
        assert!(!domain("x.a.com").covers(&domain("*.a.com")));
        assert!(!domain("*.a.com").covers(&domain("*")));
    }

    #[test]
    fn api_patterns() {
        let admin = ApiPattern::parse("admin.*").unwrap();
        assert!(admin.matches("admin.users"));
        assert!(admin.matches("admin.users.delete"));
        assert!(!admin.matches("admin"));
        assert!(!admin.matches("administrator.x"));
        let read = ApiPattern::parse("crm.read").unwrap();
        assert!(read.matches("crm.read") && !read.matches("crm.read.all"));
        assert!(admin.covers(&ApiPattern::parse("admin.users.*").unwrap()));
        assert!(admin.covers(&ApiPattern::parse("admin.x").unwrap()));
        assert!(!read.covers(&ApiPattern::parse("crm.*").unwrap()));
        assert!(ApiPattern::parse("*").unwrap().is_any());
        for text in API_PATTERN_REFUSALS {
            assert!(ApiPattern::parse(text).is_err(), "{text:?}");
        }
    }

    fn path(text: &str) -> RequestPath {
        RequestPath::parse(text).unwrap()
    }

    #[test]
    fn api_names_are_normalised_or_refused_before_matching() {
        for (pattern, name, expected) in API_MATCH_CASES {
            let pattern = ApiPattern::parse(pattern).unwrap();
            let matched = normalize_api_name(name).ok().map(|n| pattern.matches(&n));
            assert_eq!(matched, expected, "{pattern} ~ {name:?}");
        }
        let refused = normalize_api_name("admin..users").unwrap_err();
        assert_eq!(refused.message, "\"admin..users\" is not an API name");
    }

    #[test]
    fn path_patterns() {
        let events = PathPattern::parse("/api/v1/events").unwrap();
        assert!(events.matches(&path("/api/v1/events?x=1")));
        assert!(!events.matches(&path("/api/v1/events/1")));
        let one = PathPattern::parse("/customers/*/notes").unwrap();
        assert!(one.matches(&path("/customers/42/notes")));
        assert!(!one.matches(&path("/customers//notes")));
        let rest = PathPattern::parse("/api/**").unwrap();
        assert!(rest.matches(&path("/api")) && rest.matches(&path("/api/a/b")));
        assert!(!rest.matches(&path("/apix")));
        assert!(PathPattern::parse("/").unwrap().matches(&path("/")));
        for text in [
            "api", "/a/**/b", "/a*b", "/a b", "/a/../b", "/a?x", "/a%2Fb", "/a\\b", "/a/./b",
        ] {
            assert!(PathPattern::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn patterns_are_read_in_normal_form_too() {
        let trailing = PathPattern::parse("/admin/users/").unwrap();
        assert_eq!(trailing.as_str(), "/admin/users/");
        assert!(trailing.matches(&path("/admin/users")));
        let encoded = PathPattern::parse("/admin/%75sers").unwrap();
        assert!(encoded.matches(&path("/admin/users")));
    }

    #[test]
    fn a_rest_pattern_never_matches_a_path_that_climbs_out_of_it() {
        // Ingress `**` rules: dot segments are resolved before matching, or refused.
        let events = PathPattern::parse("/api/v1/**").unwrap();
        for spelling in [
            "/api/v1/../../admin",
            "/api/v1/%2e%2e/admin",
            "/api/v1/./../secret",
            "/api/v1/x/../../../etc/passwd",
        ] {
            if let Ok(parsed) = RequestPath::parse(spelling) {
                assert!(!events.matches(&parsed), "{spelling} is {}", parsed.path());
            }
        }
        assert!(events.matches(&path("/api/v1/a/../b")));
    }

    #[test]
    fn every_bypass_spelling_matches_the_pattern_or_is_refused() {
        let admin = PathPattern::parse("/admin/users").unwrap();
        let below = PathPattern::parse("/admin/**").unwrap();
        for (spelling, expected) in crate::request_path::BYPASS_SPELLINGS {
            match RequestPath::parse(spelling) {
                Ok(parsed) => {
                    assert!(expected.is_some(), "{spelling} must be refused");
                    assert!(admin.matches(&parsed), "{spelling}");
                    assert!(below.matches(&parsed), "{spelling}");
                }
                Err(_) => assert!(expected.is_none(), "{spelling} must be accepted"),
            }
        }
    }
}
