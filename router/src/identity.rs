//! Who is calling. Requests come from sandboxes; the router serves a request only for a
//! registered container, found by one of:
//!
//! 1. **Source address** (the primary way). The egress engine's network step gives each
//!    restricted sandbox its own address on a veth pair and records it in the registration
//!    (`sandbox.sandbox_ip`). A sandbox cannot use another's address: the host routes the
//!    answer to a forged source down the real owner's veth, so the TCP handshake never
//!    completes. (On loopback, as in the tests, any local process can pick a 127/8 source:
//!    the guarantee comes from the veth, not from the router.)
//! 2. **Caller token**, for containers whose traffic does not arrive from an address of their
//!    own (host network). With `[identity] token_key_file` set, a container's token is
//!    `osr1.<container id>.<expiry, Unix seconds>.<HMAC-SHA256(key, "id.expiry") in hex>`;
//!    it is minted with [`TokenKey::mint`] and put in the container's environment as
//!    `OPENAI_API_KEY`, so every OpenAI SDK sends it as `Authorization: Bearer …`. The router
//!    checks it in constant time, refuses it once expired (`[identity] token_ttl_s`, so a
//!    leaked token, or one of a deleted container whose id is reused, does not live on), and
//!    strips it before forwarding. Tokens need no state shared with the router beyond the key
//!    file, so they can be minted before the container is registered.
//!
//! A request from a registered sandbox address is that sandbox's, whatever token it carries;
//! a token naming another container is refused (a leaked token cannot move a sandbox under a
//! more permissive policy). Anything else gets 403.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use openshell_policy::caller_token;

use crate::error::RouterError;

/// The prefix of caller tokens (version 1).
pub const TOKEN_PREFIX: &str = "osr1.";

/// A token key too short to be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token key is at least 32 bytes, this one is {len}")]
pub struct ShortTokenKey {
    /// Its length in bytes.
    pub len: usize,
}

/// The key caller tokens are minted and checked with.
pub struct TokenKey(hmac::Key);

impl TokenKey {
    /// A key from its bytes (at least 32).
    pub fn from_bytes(bytes: &[u8]) -> Result<TokenKey, ShortTokenKey> {
        if bytes.len() < 32 {
            return Err(ShortTokenKey { len: bytes.len() });
        }
        Ok(TokenKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// Reads the key file, creating it (32 random bytes, mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<TokenKey, RouterError> {
        let io = |what: &str, source| RouterError::Io {
            what: format!("{what} token key {}", path.display()),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => TokenKey::from_bytes(&bytes).map_err(|short| RouterError::Config {
                path: path.to_owned(),
                message: short.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| io("drawing", std::io::Error::other("no randomness")))?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| io("creating the directory of", e))?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| io("creating", e))?;
                file.write_all(&bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io("writing", e))?;
                TokenKey::from_bytes(&bytes).map_err(|short| RouterError::Config {
                    path: path.to_owned(),
                    message: short.to_string(),
                })
            }
            Err(e) => Err(io("reading", e)),
        }
    }

    /// The token of `container_id`, valid until `expires` (Unix seconds).
    pub fn mint(&self, container_id: &str, expires: u64) -> String {
        let tag = hmac::sign(&self.0, signed_text(container_id, expires).as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{TOKEN_PREFIX}{container_id}.{expires}.{hex}")
    }

    /// The container a token was minted for, if it was minted with this key and has not
    /// expired at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Option<String> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (signed, hex) = rest.rsplit_once('.')?;
        let (id, expires) = signed.rsplit_once('.')?;
        if hex.len() != 64 || expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let expires: u64 = expires.parse().ok()?;
        let mut tag = [0u8; 32];
        for (i, byte) in tag.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        hmac::verify(&self.0, signed_text(id, expires).as_bytes(), &tag).ok()?;
        (now < expires).then(|| id.to_owned())
    }
}

/// What a token's tag covers: the container id and the expiry.
fn signed_text(container_id: &str, expires: u64) -> String {
    format!("{container_id}.{expires}")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The bearer token of an `Authorization` header value, if it is a caller token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(TOKEN_PREFIX)).then_some(token)
}

/// A caller token an `Authorization` header presents.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// A node token (`osr1.`), checked under the router's key.
    Node(&'a str),
    /// A restricted sandbox's token (`oss1.`, drawn at `create`): the container it names and
    /// its digest, which that container's registration must hold.
    Sandbox {
        /// The container id in the token.
        container: &'a str,
        /// The token's digest.
        digest: String,
    },
}

/// The caller token an `Authorization` header value presents, if any: any other bearer value
/// (an SDK's placeholder key) is no token.
pub fn presented_token(authorization: &str) -> Option<Presented<'_>> {
    if let Some(token) = bearer_token(authorization) {
        return Some(Presented::Node(token));
    }
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let container = caller_token::container_of(token)?;
    Some(Presented::Sandbox {
        container,
        digest: caller_token::digest(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_their_key_and_until_they_expire() {
        let key = TokenKey::from_bytes(&[7; 32]).unwrap();
        let token = key.mint("agent.v2-1", 2000);
        assert!(token.starts_with("osr1.agent.v2-1.2000."));
        assert_eq!(key.verify(&token, 1000).as_deref(), Some("agent.v2-1"));
        assert_eq!(key.verify(&token, 2000), None, "expired");
        let other = TokenKey::from_bytes(&[8; 32]).unwrap();
        assert_eq!(other.verify(&token, 1000), None);
        let forged = token.replace("agent.v2-1", "agent.v2-2");
        assert_eq!(key.verify(&forged, 1000), None);
        let extended = token.replace(".2000.", ".9999.");
        assert_eq!(key.verify(&extended, 1000), None, "the expiry is signed");
        let mut flipped = token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(key.verify(&flipped, 1000), None);
        assert_eq!(key.verify("osr1.x.zz", 1000), None);
        assert_eq!(key.verify("osr1.x..zz", 1000), None);
        assert_eq!(key.verify("sk-live-123", 1000), None);
        assert!(TokenKey::from_bytes(&[1; 16]).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/router.key");
        let first = TokenKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = TokenKey::load_or_create(&path).unwrap();
        assert_eq!(second.verify(&first.mint("c", 10), 5).as_deref(), Some("c"));
        std::fs::write(&path, b"short").unwrap();
        assert!(TokenKey::load_or_create(&path).is_err());
    }

    #[test]
    fn bearer_tokens_are_recognised() {
        assert_eq!(bearer_token("Bearer osr1.a.b"), Some("osr1.a.b"));
        assert_eq!(bearer_token("bearer  osr1.a.b "), Some("osr1.a.b"));
        assert_eq!(bearer_token("Bearer sk-123"), None);
        assert_eq!(bearer_token("Basic osr1.a.b"), None);
        let sandbox = format!("oss1.c-1.{}", "ab".repeat(32));
        assert_eq!(
            presented_token(&format!("Bearer {sandbox}")),
            Some(Presented::Sandbox {
                container: "c-1",
                digest: caller_token::digest(&sandbox),
            })
        );
        assert_eq!(
            presented_token("Bearer osr1.a.b"),
            Some(Presented::Node("osr1.a.b"))
        );
        assert_eq!(presented_token("Bearer sk-placeholder"), None);
        assert_eq!(presented_token(&format!("Basic {sandbox}")), None);
    }
}
