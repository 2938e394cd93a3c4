//! The daemon's secrets and what they protect: approval ids (random 128 bits), the node's link
//! key (HMAC-SHA256 over `"{id}|{verdict}|{expires}"` for signed chat links) and the operator
//! token a TCP client presents. Both secrets are generated at first start and kept 0600.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::hmac;
use subtle::ConstantTimeEq;

/// The link key's file name in the state directory.
pub const LINK_KEY_FILE: &str = "link.key";
/// The operator token's default file name in the state directory.
pub const OPERATOR_TOKEN_FILE: &str = "operator.token";

/// A secret that cannot be read or created.
#[derive(Debug, thiserror::Error)]
#[error("secret {path}: {message}")]
pub struct SecretError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

/// A new approval id: 128 random bits, hex.
pub fn new_id() -> String {
    hex(&random_bytes(16))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads the secret at `path`, or creates it (mode 0600) with `make` when missing; an existing
/// file readable by others is refused.
fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<String, SecretError> {
    let fail = |message: String| SecretError {
        path: path.to_owned(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)
                .map_err(|e| fail(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(fail(format!(
                    "mode {:o} lets others read it; chmod 600",
                    mode & 0o777
                )));
            }
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(fail("is empty".into()));
            }
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = make();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| fail(format!("cannot create: {e}")))?;
            file.write_all(format!("{secret}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| fail(format!("cannot write: {e}")))?;
            Ok(secret)
        }
        Err(e) => Err(fail(format!("cannot read: {e}"))),
    }
}

/// Signs and checks chat links.
pub struct LinkKey(hmac::Key);

impl LinkKey {
    /// The key at `state_dir/link.key`, created at first start.
    pub fn load(state_dir: &Path) -> Result<LinkKey, SecretError> {
        let path = state_dir.join(LINK_KEY_FILE);
        let text = load_or_create(&path, || hex(&random_bytes(32)))?;
        let bytes = unhex(&text).ok_or_else(|| SecretError {
            path: path.clone(),
            message: "is not hex".into(),
        })?;
        Ok(LinkKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// A key from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> LinkKey {
        LinkKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    fn message(id: &str, verdict: &str, expires: i64) -> String {
        format!("{id}|{verdict}|{expires}")
    }

    /// The signature (hex) of a link answering `id` with `verdict` until `expires` (unix s).
    pub fn sign(&self, id: &str, verdict: &str, expires: i64) -> String {
        hex(hmac::sign(&self.0, Self::message(id, verdict, expires).as_bytes()).as_ref())
    }

    /// Whether `sig` signs the link (constant time).
    pub fn verify(&self, id: &str, verdict: &str, expires: i64, sig: &str) -> bool {
        let Some(sig) = unhex(sig) else {
            return false;
        };
        hmac::verify(
            &self.0,
            Self::message(id, verdict, expires).as_bytes(),
            &sig,
        )
        .is_ok()
    }
}

/// The token TCP clients present as `Authorization: Bearer TOKEN`.
pub struct OperatorToken(String);

impl OperatorToken {
    /// The token at `path`, created at first start.
    pub fn load(path: &Path) -> Result<OperatorToken, SecretError> {
        load_or_create(path, || hex(&random_bytes(32))).map(OperatorToken)
    }

    /// Whether an `Authorization` header value carries the token (constant time).
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(presented) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        bool::from(presented.trim().as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_with_their_own_fields() {
        let key = LinkKey::from_bytes(b"k");
        let sig = key.sign("ab", "approve", 100);
        assert!(key.verify("ab", "approve", 100, &sig));
        assert!(!key.verify("ab", "deny", 100, &sig));
        assert!(!key.verify("ab", "approve", 101, &sig));
        assert!(!key.verify("ab", "approve", 100, "zz"));
        assert!(!LinkKey::from_bytes(b"other").verify("ab", "approve", 100, &sig));
    }

    #[test]
    fn secrets_are_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let token = OperatorToken::load(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(token.accepts(Some(&format!("Bearer {}", text.trim()))));
        assert!(!token.accepts(Some("Bearer nope")));
        assert!(!token.accepts(None));
        assert!(
            OperatorToken::load(&path)
                .unwrap()
                .accepts(Some(&format!("Bearer {}", text.trim())))
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(OperatorToken::load(&path).is_err());
        assert_eq!(new_id().len(), 32);
        assert_ne!(new_id(), new_id());
    }
}
