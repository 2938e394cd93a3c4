//! TLS interception for `tlsDecrypt: true`: a per-node CA and leaf certificates minted from it
//! for the hosts a sandbox is allowed to reach, cached.
//!
//! The CA is read from `[tls] ca_cert`/`ca_key` (default: the node configuration's `[egress]`)
//! or created there on first start (ECDSA P-256, ten years, `keyCertSign`; the key file is mode
//! 0600). Its certificate is what the policy compiler mounts into sandbox trust stores. When
//! `[tls] permitted_domains` lists domains, a CA created here carries X.509 name constraints
//! limiting it to them, and the engine refuses to mint for other hosts. (Policies change at
//! run time, so the constraints cannot follow them: they are the operator's outer bound.)
//!
//! Leaves share one key generated at start, are valid for seven days from a day ago, name
//! exactly the host, and are re-minted after a day in the cache.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long a minted leaf is served before it is minted again.
const LEAF_REFRESH: Duration = Duration::from_secs(24 * 3600);

/// Interception errors.
#[derive(Debug, thiserror::Error)]
pub enum InterceptionError {
    /// A CA file cannot be read or written.
    #[error("interception CA {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Certificate or key generation or parsing failed.
    #[error("interception CA: {0}")]
    Certificate(String),
    /// The host is outside the CA's permitted domains.
    #[error("{0} is outside the interception CA's permitted domains")]
    NotPermitted(String),
    /// rustls refused the configuration.
    #[error("TLS configuration for {host}: {message}")]
    Tls {
        /// The host.
        host: String,
        /// rustls's error.
        message: String,
    },
}

fn cert_error(error: rcgen::Error) -> InterceptionError {
    InterceptionError::Certificate(error.to_string())
}

/// The node's interception CA and leaf cache.
pub struct Interceptor {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    ca_cert_path: PathBuf,
    permitted: Vec<String>,
    leaf_key: KeyPair,
    cache: Mutex<LruCache<String, (Instant, Arc<ServerConfig>)>>,
}

impl Interceptor {
    /// Loads the CA from `cert`/`key`, or creates both files when neither exists.
    pub fn load_or_create(
        cert: &Path,
        key: &Path,
        permitted: &[String],
        cache: usize,
    ) -> Result<Interceptor, InterceptionError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| InterceptionError::Io { path, source }
        };
        let (cert_pem, key_pair) = if !cert.exists() && !key.exists() {
            create_ca(cert, key, permitted)?
        } else {
            let cert_pem = fs::read_to_string(cert).map_err(io(cert))?;
            let key_pem = fs::read_to_string(key).map_err(io(key))?;
            (cert_pem, KeyPair::from_pem(&key_pem).map_err(cert_error)?)
        };
        let ca_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| InterceptionError::Certificate(format!("{}: {e}", cert.display())))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key_pair).map_err(cert_error)?;
        let capacity = std::num::NonZeroUsize::new(cache.max(1)).expect("at least one");
        Ok(Interceptor {
            issuer,
            ca_der,
            ca_cert_path: cert.to_owned(),
            permitted: permitted.iter().map(|d| d.to_ascii_lowercase()).collect(),
            leaf_key: KeyPair::generate().map_err(cert_error)?,
            cache: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// The CA certificate file (PEM) sandboxes must trust.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert_path
    }

    fn permits(&self, host: &str) -> bool {
        self.permitted.is_empty()
            || self
                .permitted
                .iter()
                .any(|d| host == d || host.ends_with(&format!(".{d}")))
    }

    /// A server configuration presenting a leaf for `host`, from the cache or minted now.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, InterceptionError> {
        if !self.permits(host) {
            return Err(InterceptionError::NotPermitted(host.to_owned()));
        }
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((minted, config)) = cache.get(host)
                && minted.elapsed() < LEAF_REFRESH
            {
                return Ok(Arc::clone(config));
            }
        }
        let config = Arc::new(self.mint(host)?);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.put(host.to_owned(), (Instant::now(), Arc::clone(&config)));
        Ok(config)
    }

    fn mint(&self, host: &str) -> Result<ServerConfig, InterceptionError> {
        let mut params = CertificateParams::new(vec![host.to_owned()]).map_err(cert_error)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(7);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(cert_error)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let chain = vec![leaf.der().clone(), self.ca_der.clone()];
        let tls_error = |e: rustls::Error| InterceptionError::Tls {
            host: host.to_owned(),
            message: e.to_string(),
        };
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(tls_error)?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(tls_error)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn create_ca(
    cert: &Path,
    key: &Path,
    permitted: &[String],
) -> Result<(String, KeyPair), InterceptionError> {
    let key_pair = KeyPair::generate().map_err(cert_error)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "openshell");
    name.push(DnType::CommonName, "openshell egress interception CA");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    if !permitted.is_empty() {
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted
                .iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
    }
    let certificate = params.self_signed(&key_pair).map_err(cert_error)?;
    let cert_pem = certificate.pem();
    write_file(cert, cert_pem.as_bytes(), 0o644)?;
    write_file(key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    Ok((cert_pem, key_pair))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InterceptionError> {
    let io = |source| InterceptionError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// A rustls client configuration trusting the PEM certificates in `ca_file`, for upstream
/// connections.
pub fn upstream_client_config(
    ca_file: &Path,
) -> Result<Arc<rustls::ClientConfig>, InterceptionError> {
    let io = |source| InterceptionError::Io {
        path: ca_file.to_owned(),
        source,
    };
    let bytes = fs::read(ca_file).map_err(io)?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate
            .map_err(|e| InterceptionError::Certificate(format!("{}: {e}", ca_file.display())))?;
        // Trust stores carry certificates rustls cannot use (old or odd ones): skip those.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err(InterceptionError::Certificate(format!(
            "{} holds no usable CA certificate",
            ca_file.display()
        )));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| InterceptionError::Certificate(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_mints_leaves_a_client_trusts() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        let first = Interceptor::load_or_create(&cert, &key, &[], 4).unwrap();
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&key).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let pem = fs::read_to_string(&cert).unwrap();
        // A restart loads the same CA rather than replacing it.
        let second = Interceptor::load_or_create(&cert, &key, &[], 4).unwrap();
        assert_eq!(fs::read_to_string(&cert).unwrap(), pem);
        assert_eq!(first.ca_der, second.ca_der);

        let config = second.server_config("api.hubspot.com").unwrap();
        let again = second.server_config("api.hubspot.com").unwrap();
        assert!(Arc::ptr_eq(&config, &again), "cached");

        // Complete a handshake in memory with a client trusting only this CA.
        let client_config = upstream_client_config(&cert).unwrap();
        let name = rustls::pki_types::ServerName::try_from("api.hubspot.com").unwrap();
        let mut client = rustls::ClientConnection::new(client_config, name).unwrap();
        let mut server = rustls::ServerConnection::new(config).unwrap();
        for _ in 0..10 {
            let mut buffer = Vec::new();
            client.write_tls(&mut buffer).unwrap();
            server.read_tls(&mut buffer.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut buffer = Vec::new();
            server.write_tls(&mut buffer).unwrap();
            client.read_tls(&mut buffer.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
    }

    #[test]
    fn permitted_domains_bound_what_is_minted() {
        let dir = tempfile::tempdir().unwrap();
        let interceptor = Interceptor::load_or_create(
            &dir.path().join("ca.pem"),
            &dir.path().join("ca.key"),
            &["example.test".to_owned()],
            4,
        )
        .unwrap();
        assert!(interceptor.server_config("crm.example.test").is_ok());
        assert!(matches!(
            interceptor.server_config("api.hubspot.com"),
            Err(InterceptionError::NotPermitted(_))
        ));
    }
}
