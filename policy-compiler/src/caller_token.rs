//! A restricted sandbox's caller token for the privacy router: `OPENAI_API_KEY` in its
//! process, drawn at `create` (`oss1.<container id>.<64 hex digits of randomness>`).
//!
//! The token is a credential, so it is never in the compiled record every node component
//! reads: only the process has it, and the staged bundle keeps its digest
//! ([`DIGEST_FILE`]), which the hook copies into the container's registration. The router
//! accepts a token only when its digest is the registration's, so a token dies with its
//! container's registration at delete, also when a new container later reuses the id.

use sha2::{Digest as _, Sha256};

/// The prefix of sandbox caller tokens (version 1).
pub const PREFIX: &str = "oss1.";

/// The file in a container's staged bundle holding its token's digest.
pub const DIGEST_FILE: &str = "caller-token.sha256";

/// The environment variable the token is given to the sandbox as.
pub const ENV: &str = "OPENAI_API_KEY";

/// A freshly drawn token.
pub struct CallerToken(String);

impl CallerToken {
    /// Draws container `container_id`'s token from the kernel's random source.
    pub fn draw(container_id: &str) -> std::io::Result<CallerToken> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| std::io::Error::other(e.to_string()))?;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        Ok(CallerToken(format!("{PREFIX}{container_id}.{hex}")))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its digest, as the registration carries it.
    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

/// `sha256:<hex>` of a token.
pub fn digest(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The container a sandbox token names, if `token` has the shape of one.
pub fn container_of(token: &str) -> Option<&str> {
    let (id, secret) = token.strip_prefix(PREFIX)?.rsplit_once('.')?;
    (!id.is_empty() && secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_container_and_differ_every_draw() {
        let first = CallerToken::draw("agent.v2-1").unwrap();
        let second = CallerToken::draw("agent.v2-1").unwrap();
        assert_ne!(first.as_str(), second.as_str());
        assert_ne!(first.digest(), second.digest());
        assert_eq!(container_of(first.as_str()), Some("agent.v2-1"));
        assert_eq!(first.digest(), digest(first.as_str()));
        assert!(first.digest().starts_with("sha256:"));
        assert_eq!(first.digest().len(), 7 + 64);
        assert_eq!(container_of("oss1.x.zz"), None);
        assert_eq!(container_of(&format!("oss1..{}", "a".repeat(64))), None);
        assert_eq!(container_of(&format!("osr1.x.{}", "a".repeat(64))), None);
        assert_eq!(container_of("sk-live-123"), None);
    }
}
