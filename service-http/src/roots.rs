//! Trust roots from an operator's CA file (PEM): what a node service verifies its outbound TLS
//! peers against when the operator names the CAs instead of the bundled Web PKI roots.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a CA file gives no trust roots.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RootsError {
    /// The file cannot be read.
    #[error("cannot read CA file {}: {message}", path.display())]
    Unreadable {
        /// The CA file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file holds something that is not a usable certificate.
    #[error("CA file {}: {message}", path.display())]
    Bad {
        /// The CA file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file holds no certificate.
    #[error("CA file {} holds no certificate", path.display())]
    Empty {
        /// The CA file.
        path: PathBuf,
    },
}

/// Every certificate of the PEM file at `path` as a trust root; a file that cannot be read,
/// holds a malformed certificate, or holds none is an error naming it.
pub fn load_roots(path: &Path) -> Result<RootCertStore, RootsError> {
    let bytes = std::fs::read(path).map_err(|e| RootsError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |message: String| RootsError::Bad {
        path: path.to_owned(),
        message,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(RootsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_gives_its_certificates_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("{}{}", ca.cert.pem(), ca.cert.pem())).unwrap();
        assert_eq!(load_roots(&good).unwrap().len(), 2);

        let missing = dir.path().join("missing.pem");
        let error = load_roots(&missing).unwrap_err();
        assert!(matches!(error, RootsError::Unreadable { .. }), "{error}");
        assert!(error.to_string().contains("missing.pem"), "{error}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let error = load_roots(&empty).unwrap_err();
        assert!(matches!(error, RootsError::Empty { .. }), "{error}");

        let garbled = dir.path().join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = load_roots(&garbled).unwrap_err();
        assert!(matches!(error, RootsError::Bad { .. }), "{error}");
        assert!(error.to_string().contains("garbled.pem"), "{error}");
    }
}
