//! The one normal form of an HTTP request path that every API permission and path rule is
//! decided on, so a path cannot be spelled past a pattern.
//!
//! [`RequestPath::parse`] takes a request target's path and query (`/a/b?x=1`) and:
//! 1. refuses what different servers read differently (ambiguity is refused, not guessed):
//!    an encoded separator (`%2F`, `%5C`), a backslash, NUL (raw or `%00`), any other control
//!    character (raw or encoded), a malformed escape, a fragment, and dot segments that climb
//!    above the root (`/../admin`);
//! 2. normalises as RFC 3986 §6.2.2: escapes of unreserved characters are decoded
//!    (`%75sers` → `users`), other escapes are upper-cased (`%c3%a9` → `%C3%A9`), dot segments
//!    are removed (§5.2.4: `/customers/../users/42` → `/users/42`);
//! 3. merges repeated slashes (`//api//x` → `/api/x`) and drops a trailing slash (`/users/` →
//!    `/users`; the root stays `/`).
//!
//! This is Envoy's `normalize_path: true` with `merge_slashes: true` and
//! `path_with_escaped_slashes_action: REJECT_REQUEST`, plus refusing what climbs above the root
//! (Envoy clamps it to `/`, which would decide a request the client did not mean) and dropping
//! a trailing slash (most API routers serve `/users/` as `/users`). The query is kept as sent.

use std::fmt;

/// A request path in normal form, with the query string as sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestPath {
    path: String,
    query: Option<String>,
}

/// Why a request path was refused; the message names what and where (byte offset in the
/// path as sent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// The target is not an absolute path (`*`, `a/b`, empty).
    #[error("the request target {0:?} is not an absolute path")]
    NotAbsolute(String),
    /// `%2F` or `%5C`: a separator some servers decode and others do not.
    #[error("encoded path separator {escape} at byte {at} of the path")]
    EncodedSeparator {
        /// The escape as sent.
        escape: String,
        /// Its byte offset.
        at: usize,
    },
    /// A raw backslash, which some servers read as `/`.
    #[error("backslash at byte {at} of the path")]
    Backslash {
        /// Its byte offset.
        at: usize,
    },
    /// NUL, raw or `%00`, which ends the path early in C-based servers.
    #[error("NUL at byte {at} of the path")]
    Nul {
        /// Its byte offset.
        at: usize,
    },
    /// Another control character (or a space or a non-ASCII byte), raw or encoded.
    #[error("control character {code:#04x} at byte {at} of the path")]
    Control {
        /// The character's code.
        code: u8,
        /// Its byte offset.
        at: usize,
    },
    /// `%` not followed by two hex digits.
    #[error("malformed percent-escape at byte {at} of the path")]
    MalformedEscape {
        /// Its byte offset.
        at: usize,
    },
    /// A `#` fragment, which a client never sends.
    #[error("fragment in the request target")]
    Fragment,
    /// More `..` segments than there are segments before them.
    #[error("the path climbs above the root ('..' at byte {at})")]
    AboveRoot {
        /// The offending segment's byte offset.
        at: usize,
    },
}

fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Checks one raw byte of the path.
fn check_raw(byte: u8, at: usize) -> Result<(), PathRefusal> {
    match byte {
        0 => Err(PathRefusal::Nul { at }),
        b'\\' => Err(PathRefusal::Backslash { at }),
        b'#' => Err(PathRefusal::Fragment),
        0x01..=0x20 | 0x7f..=0xff => Err(PathRefusal::Control { code: byte, at }),
        _ => Ok(()),
    }
}

/// One segment with escapes normalised; `at` is its offset in the raw path.
fn normalise_segment(raw: &str, at: usize) -> Result<String, PathRefusal> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let offset = at + i;
        let byte = bytes[i];
        if byte != b'%' {
            check_raw(byte, offset)?;
            out.push(byte as char);
            i += 1;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathRefusal::MalformedEscape { at: offset });
        };
        let decoded = high * 16 + low;
        match decoded {
            b'/' | b'\\' => {
                return Err(PathRefusal::EncodedSeparator {
                    escape: raw[i..i + 3].to_owned(),
                    at: offset,
                });
            }
            0 => return Err(PathRefusal::Nul { at: offset }),
            0x01..=0x1f | 0x7f => {
                return Err(PathRefusal::Control {
                    code: decoded,
                    at: offset,
                });
            }
            byte if unreserved(byte) => out.push(byte as char),
            byte => out.push_str(&format!("%{byte:02X}")),
        }
        i += 3;
    }
    Ok(out)
}

impl RequestPath {
    /// Normalises a request target's path and query (see the module documentation).
    pub fn parse(target: &str) -> Result<RequestPath, PathRefusal> {
        let (raw, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        if query.is_some_and(|q| q.contains('#')) {
            return Err(PathRefusal::Fragment);
        }
        if !raw.starts_with('/') {
            return Err(PathRefusal::NotAbsolute(target.to_owned()));
        }
        let mut segments: Vec<String> = Vec::new();
        let mut at = 0;
        for raw_segment in raw.split('/') {
            let segment = normalise_segment(raw_segment, at)?;
            match segment.as_str() {
                // Repeated and trailing slashes, and `.`, name no segment.
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(PathRefusal::AboveRoot { at });
                    }
                }
                _ => segments.push(segment),
            }
            at += raw_segment.len() + 1;
        }
        Ok(RequestPath {
            path: format!("/{}", segments.join("/")),
            query: query.map(str::to_owned),
        })
    }

    /// The normalised path (`/users/42`), without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string as sent, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The path's segments (none for the root).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path[1..].split('/').filter(|s| !s.is_empty())
    }

    /// The request target to forward: the normalised path and the query as sent.
    pub fn origin_form(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for RequestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// Spellings of `/admin/users` and what each becomes (`None`: refused): the table the tests
/// of every component that decides on request paths run through its own matcher.
pub const BYPASS_SPELLINGS: [(&str, Option<&str>); 18] = [
    ("/admin/users", Some("/admin/users")),
    ("/admin/users/", Some("/admin/users")),
    ("//admin/users", Some("/admin/users")),
    ("/admin//users", Some("/admin/users")),
    ("/%61dmin/%75sers", Some("/admin/users")),
    ("/admin/%75%73%65%72%73", Some("/admin/users")),
    ("/api/../admin/users", Some("/admin/users")),
    ("/api/%2e%2e/admin/users", Some("/admin/users")),
    ("/./admin/./users", Some("/admin/users")),
    ("/admin/users/.", Some("/admin/users")),
    ("/admin/x/%2E%2E/users", Some("/admin/users")),
    ("/admin/users?x=1", Some("/admin/users")),
    ("/admin%2Fusers", None),
    ("/admin%2fusers", None),
    ("/admin%5Cusers", None),
    ("/admin\\users", None),
    ("/admin/users%00.json", None),
    ("/../admin/users", None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bypass_spelling_is_normalised_or_refused() {
        for (spelling, expected) in BYPASS_SPELLINGS {
            let parsed = RequestPath::parse(spelling).map(|p| p.path().to_owned());
            assert_eq!(parsed.ok().as_deref(), expected, "{spelling}");
        }
    }

    #[test]
    fn escapes_are_normalised_as_rfc_3986() {
        let parsed = RequestPath::parse("/caf%c3%a9/%7euser/a%20b?q=%2F").unwrap();
        assert_eq!(parsed.path(), "/caf%C3%A9/~user/a%20b");
        assert_eq!(parsed.query(), Some("q=%2F"), "the query is kept as sent");
        assert_eq!(parsed.origin_form(), "/caf%C3%A9/~user/a%20b?q=%2F");
        assert_eq!(RequestPath::parse("/").unwrap().path(), "/");
        assert_eq!(RequestPath::parse("//").unwrap().path(), "/");
        assert_eq!(RequestPath::parse("/a/b/..").unwrap().path(), "/a");
        assert_eq!(RequestPath::parse("/a/..").unwrap().path(), "/");
        let segments: Vec<String> = RequestPath::parse("/a//b/")
            .unwrap()
            .segments()
            .map(str::to_owned)
            .collect();
        assert_eq!(segments, ["a", "b"]);
        assert_eq!(RequestPath::parse("/").unwrap().segments().count(), 0);
    }

    #[test]
    fn refusals_name_what_and_where() {
        let cases = [
            (
                "/admin%2Fusers",
                "encoded path separator %2F at byte 6 of the path",
            ),
            ("/a\\b", "backslash at byte 2 of the path"),
            ("/a%00", "NUL at byte 2 of the path"),
            (
                "/a%0d%0aX: y",
                "control character 0x0d at byte 2 of the path",
            ),
            ("/a\tb", "control character 0x09 at byte 2 of the path"),
            ("/a%zz", "malformed percent-escape at byte 2 of the path"),
            ("/a%2", "malformed percent-escape at byte 2 of the path"),
            ("/a#frag", "fragment in the request target"),
            ("/a?b#frag", "fragment in the request target"),
            (
                "/a/../../etc",
                "the path climbs above the root ('..' at byte 6)",
            ),
            ("*", "the request target \"*\" is not an absolute path"),
            ("", "the request target \"\" is not an absolute path"),
        ];
        for (path, message) in cases {
            let refusal = RequestPath::parse(path).unwrap_err();
            assert_eq!(refusal.to_string(), message, "{path:?}");
        }
    }
}
