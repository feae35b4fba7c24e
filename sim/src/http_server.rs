//! Network transports: HTTPS (what kubeconfigs point at; kubectl only sends bearer tokens
//! over TLS) and plain HTTP, both on random 127.0.0.1 ports.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::api::{SimBody, error_response};
use crate::cluster::{Cluster, Inner};
use crate::error::ApiError;

/// CA that signed the serving certificate (for `certificate-authority-data`). The key pair is
/// a fixed test fixture valid for 127.0.0.1 and localhost; it protects nothing.
pub const CA_PEM: &str = include_str!("tls/ca.crt");
const CERT_PEM: &str = include_str!("tls/server.crt");
const KEY_PEM: &str = include_str!("tls/server.key");

pub(crate) fn tls_acceptor() -> std::io::Result<TlsAcceptor> {
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
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve_conn<I>(weak: Weak<Inner>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let weak = weak.clone();
        async move {
            let resp: http::Response<SimBody> = match weak.upgrade() {
                Some(inner) => {
                    let cluster = Cluster { inner };
                    let (parts, body) = req.into_parts();
                    match body.collect().await {
                        Ok(b) => {
                            cluster
                                .handle(Request::from_parts(parts, b.to_bytes()))
                                .await
                        }
                        Err(e) => error_response(&ApiError::BadRequest(e.to_string())),
                    }
                }
                None => error_response(&ApiError::ServiceUnavailable("the cluster is gone".into())),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    // Connection errors (client resets) end only that connection.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

impl Cluster {
    /// Starts a listener (plain or TLS) whose accept loop ends when the cluster is dropped.
    async fn listen(&self, tls: Option<TlsAcceptor>) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(());
        self.inner.http_stop.lock().push(stop_tx);
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.changed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let weak = weak.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                serve_conn(weak, s).await;
                            }
                        }
                        None => serve_conn(weak, stream).await,
                    }
                });
            }
        });
        Ok(addr)
    }

    /// Starts (once) a plain-HTTP listener and returns its address. Note that kubectl does not
    /// send bearer tokens over plain HTTP; use [`Cluster::serve_https`] for kubectl.
    pub async fn serve_http(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = *self.inner.http_addr.lock() {
            return Ok(addr);
        }
        let addr = self.listen(None).await?;
        *self.inner.http_addr.lock() = Some(addr);
        Ok(addr)
    }

    /// Starts (once) an HTTPS listener with a certificate signed by [`CA_PEM`].
    pub async fn serve_https(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = *self.inner.https_addr.lock() {
            return Ok(addr);
        }
        let addr = self.listen(Some(tls_acceptor()?)).await?;
        *self.inner.https_addr.lock() = Some(addr);
        Ok(addr)
    }

    /// `http://127.0.0.1:PORT` once serving plain HTTP.
    pub fn http_url(&self) -> Option<String> {
        self.inner.http_addr.lock().map(|a| format!("http://{a}"))
    }

    /// `https://127.0.0.1:PORT` once serving HTTPS.
    pub fn https_url(&self) -> Option<String> {
        self.inner.https_addr.lock().map(|a| format!("https://{a}"))
    }
}
