//! TLS client settings shared by `record` (the upstream) and `replay` (the target): the
//! webpki roots, plus the CA certificates of an optional PEM file (`--ca-cert`), so a
//! staging API behind a private CA — or a test server with a generated one — can be reached
//! over `https://` without turning verification off.
//!
//! # Invariants
//! - Certificates are always verified; extra CAs only add to the webpki roots, never
//!   replace them, and there is no "insecure" switch.
//! - A `--ca-cert` file that cannot be read, holds no `CERTIFICATE` block or holds a
//!   certificate rustls refuses is an error naming the file — never silently ignored.
//! - Uses nothing else of ours; the crypto provider is `ring`, like the rest of the crate.

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read the CA certificates: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{path}: no `-----BEGIN CERTIFICATE-----` block found (expected PEM CA certificates)")]
    Empty { path: PathBuf },
    #[error("{path}: certificate {index} is not a usable CA certificate: {reason}")]
    Rejected {
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        index: usize,
        reason: String,
    },
    #[error("TLS client set-up failed: {0}")]
    Setup(String),
}

/// A rustls client config trusting the webpki roots and, when given, every certificate of
/// the PEM file `ca_cert`. Other PEM blocks (keys) in the file are skipped.
pub fn client_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_cert {
        for (i, cert) in read_certs(path)?.into_iter().enumerate() {
            roots.add(cert).map_err(|e| Error::Rejected {
                path: path.to_path_buf(),
                index: i + 1,
                reason: e.to_string(),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Every `CERTIFICATE` block of the PEM file at `path` (at least one).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let read = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn without_a_file_the_webpki_roots_are_trusted() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn a_generated_ca_is_accepted() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let f = file(&ca.pem());
        assert!(client_config(Some(f.path())).is_ok());
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(matches!(err, Error::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let f = file("just some text\n");
        let err = client_config(Some(f.path())).unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains(&*f.path().to_string_lossy()));
    }

    #[test]
    fn a_corrupt_certificate_is_refused_and_named() {
        let f = file("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = client_config(Some(f.path())).unwrap_err();
        assert!(matches!(err, Error::Rejected { index: 1, .. }), "{err:?}");
        assert!(err.to_string().contains(&*f.path().to_string_lossy()));
    }
}
