//! The client's TLS: rustls with ring, trusting the system's CA certificates and the
//! store's own CA (`--ca-cert`). Built here rather than by reqwest, whose verifier fails
//! outright on a system without CA certificates (a RAM image may have none), even for
//! plain http:// stores.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Why no TLS config could be made, for the caller to word as a store error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSetupError {
    #[error("reading the CA certificate {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA certificate {path}: {detail}")]
    Bad { path: String, detail: String },
    #[error("no CA certificate to check the store's against: the system has none (install ca-certificates) and no --ca-cert was given")]
    NoRoots,
    #[error("TLS setup: {0}")]
    Rustls(rustls::Error),
}

// By hand, not `#[from]`: the cause is in the message, so it is no `source()`.
impl From<rustls::Error> for TlsSetupError {
    fn from(e: rustls::Error) -> TlsSetupError {
        TlsSetupError::Rustls(e)
    }
}

/// A client config trusting the system's roots (for `https` only) and `ca` (PEM; may hold
/// several). With no root at all, only `https` is an error: a plain-HTTP store never uses
/// the config.
pub(crate) fn client_config(
    ca: Option<&Path>,
    https: bool,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let extra = match ca {
        Some(path) => read_pem(path)?,
        None => Vec::new(),
    };
    // Parsing the system's bundle costs 80 ms at boot in a small VM; a plain-HTTP store
    // (redirects are not followed) never needs it.
    let system = if https {
        let system = rustls_native_certs::load_native_certs();
        for e in &system.errors {
            tracing::debug!("system CA certificates: {e}");
        }
        system.certs
    } else {
        Vec::new()
    };
    let roots = roots(system, extra, https)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Bad {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::Bad {
            path: shown,
            detail: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The system's certificates (those that parse) and every extra one (each must).
fn roots(
    system: Vec<CertificateDer<'static>>,
    extra: Vec<CertificateDer<'static>>,
    https: bool,
) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let (from_system, ignored) = roots.add_parsable_certificates(system);
    tracing::debug!("{from_system} system CA certificates ({ignored} unusable)");
    for cert in extra {
        roots.add(cert)?;
    }
    if roots.is_empty() && https {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_any_root_only_https_fails() {
        assert!(roots(Vec::new(), Vec::new(), false).is_ok());
        let err = roots(Vec::new(), Vec::new(), true).expect_err("nothing to trust");
        assert!(err.to_string().contains("--ca-cert"), "{err}");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = client_config(Some(&path), true).expect_err("no certificate");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
