//! Upstream TLS: rustls with the `ring` provider, and per-endpoint key pinning.
//!
//! - An endpoint **with** `spkiPins` is trusted by its key alone: the certificate the server
//!   presents must carry a SubjectPublicKeyInfo whose SHA-256 is one of the pins, and must
//!   name the host the URL names. The handshake signature proves the server holds that key, so
//!   no CA is involved — an on-premises endpoint with a self-signed certificate can be pinned,
//!   and a CA that issues a certificate for the name to someone else cannot intercept.
//! - An endpoint **without** pins is verified by the Web PKI against `[tls] ca_file`.
//!
//! A handshake that fails either check fails the connection before a byte of the request is
//! written: the request is not sent to that endpoint.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use openshell_policy::SpkiPin;
use ring::digest::{SHA256, digest};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use openshell_service_http::{RootsError, load_roots};

use crate::error::RouterError;

/// Why TLS to an endpoint cannot be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    /// A certificate that is not X.509.
    #[error("not an X.509 certificate: {0:?}")]
    NotCertificate(webpki::Error),
    /// The CA file gives no trust roots.
    #[error(transparent)]
    Roots(#[from] RootsError),
    /// No Web PKI verifier can be built on the CA roots.
    #[error("CA roots {}: {message}", path.display())]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The provider offers no safe protocol version.
    #[error("TLS versions: {0}")]
    Versions(rustls::Error),
}

/// The SHA-256 pin of a DER certificate's SubjectPublicKeyInfo (what `openssl x509 -pubkey
/// -noout | openssl pkey -pubin -outform der | sha256sum` prints).
pub fn spki_pin(certificate_der: &[u8]) -> Result<SpkiPin, TlsError> {
    let der = CertificateDer::from(certificate_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(TlsError::NotCertificate)?;
    Ok(pin_of(&cert))
}

fn pin_of(cert: &webpki::EndEntityCert<'_>) -> SpkiPin {
    let spki = cert.subject_public_key_info();
    let mut pin = [0u8; 32];
    pin.copy_from_slice(digest(&SHA256, spki.as_ref()).as_ref());
    SpkiPin(pin)
}

/// Builds the rustls client configuration of each endpoint; the CA roots are read once, when
/// the first endpoint without pins needs them.
pub struct TlsContext {
    provider: Arc<CryptoProvider>,
    ca_file: PathBuf,
    roots: OnceLock<Result<Arc<RootCertStore>, TlsError>>,
}

impl TlsContext {
    /// A context trusting `ca_file` for endpoints without pins.
    pub fn new(ca_file: &Path) -> TlsContext {
        TlsContext {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            ca_file: ca_file.to_owned(),
            roots: OnceLock::new(),
        }
    }

    /// The client configuration for an endpoint with these pins (empty = Web PKI); the
    /// connector adds ALPN for HTTP/1.1.
    pub fn client_config(&self, pins: &[SpkiPin]) -> Result<ClientConfig, TlsError> {
        let verifier: Arc<dyn ServerCertVerifier> = if pins.is_empty() {
            let roots = self.roots()?;
            WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&self.provider))
                .build()
                .map_err(|e| TlsError::Verifier {
                    path: self.ca_file.clone(),
                    message: e.to_string(),
                })?
        } else {
            Arc::new(PinnedKeys {
                pins: pins.to_vec(),
                algorithms: self.provider.signature_verification_algorithms,
            })
        };
        Ok(
            ClientConfig::builder_with_provider(Arc::clone(&self.provider))
                .with_safe_default_protocol_versions()
                .map_err(TlsError::Versions)?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        )
    }

    /// A configuration that accepts no server at all (for plain-http endpoints, whose
    /// connector must still be given one).
    pub fn refusing_config(&self) -> Result<ClientConfig, TlsError> {
        let verifier = Arc::new(PinnedKeys {
            pins: Vec::new(),
            algorithms: self.provider.signature_verification_algorithms,
        });
        Ok(
            ClientConfig::builder_with_provider(Arc::clone(&self.provider))
                .with_safe_default_protocol_versions()
                .map_err(TlsError::Versions)?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        )
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        self.roots
            .get_or_init(|| Ok(Arc::new(load_roots(&self.ca_file)?)))
            .clone()
    }
}

/// Loads the TLS context for the configuration's CA file, failing early only on an unreadable
/// file that an endpoint needs.
pub fn context_for(config: &crate::config::RouterConfig) -> Result<TlsContext, RouterError> {
    let context = TlsContext::new(&config.tls.ca_file);
    if let Some(endpoint) = config
        .endpoints
        .iter()
        .find(|e| e.url.starts_with("https:") && e.spki_pins.is_empty())
    {
        context.roots().map_err(|e| RouterError::Endpoint {
            endpoint: endpoint.name.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(context)
}

/// The server's key must be pinned and its certificate must name the host.
struct PinnedKeys {
    pins: Vec<SpkiPin>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for PinnedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedKeys")
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

/// The certificate's key is not among the endpoint's pins. (Its `Debug` is its message:
/// rustls shows a certificate error's cause with `Debug`.)
struct KeyNotPinned(SpkiPin);

impl fmt::Debug for KeyNotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KeyNotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's key {} is not pinned for this endpoint",
            self.0
        )
    }
}

impl std::error::Error for KeyNotPinned {}

impl ServerCertVerifier for PinnedKeys {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let pin = pin_of(&cert);
        if !self.pins.contains(&pin) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(KeyNotPinned(pin))),
            )));
        }
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
