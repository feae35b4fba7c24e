//! The TLS acceptor of the HTTPS listeners, serving the cluster's certificate.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::server::pki::{CERT_PEM, KEY_PEM};

/// A TLS acceptor for the serving certificate signed by [`crate::server::pki::CA_PEM`].
pub fn acceptor() -> std::io::Result<TlsAcceptor> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT_PEM.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(e.to_string()))?;
    // HTTP/2 when the client offers it, as a real API server does (client-go always does).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
