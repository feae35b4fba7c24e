//! The cluster's certificate authority and the serving certificate it signed. The CA is part
//! of the cluster's identity: it is published into every namespace (`kube-root-ca.crt`) and
//! into ServiceAccount token Secrets, and the HTTPS transport serves the certificate.
//!
//! The key pair is a fixed test fixture valid for 127.0.0.1 and localhost; it protects nothing.

/// CA that signed the serving certificate (for `certificate-authority-data`).
pub const CA_PEM: &str = include_str!("pki/ca.crt");
/// The serving certificate (127.0.0.1, localhost).
pub const CERT_PEM: &str = include_str!("pki/server.crt");
/// The serving certificate's private key.
pub const KEY_PEM: &str = include_str!("pki/server.key");
