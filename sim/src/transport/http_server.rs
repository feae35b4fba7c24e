//! Network transports of a single cluster: HTTPS (what kubeconfigs point at; kubectl only
//! sends bearer tokens over TLS) and plain HTTP, both on random 127.0.0.1 ports.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use tokio_rustls::TlsAcceptor;

use crate::rest::error_response;
use crate::server::cluster::{Cluster, Inner};
use crate::server::error::ApiError;
use crate::transport::Handler;
use crate::transport::listener::Listener;
use crate::transport::pause::Pause;

/// Serves the cluster while it exists; requests after it was dropped get 503.
fn handler(weak: Weak<Inner>) -> Handler {
    Arc::new(move |req| {
        let weak = weak.clone();
        Box::pin(async move {
            match weak.upgrade() {
                Some(inner) => Cluster { inner }.handle(req).await,
                None => error_response(&ApiError::ServiceUnavailable("the cluster is gone".into())),
            }
        })
    })
}

impl Cluster {
    /// Starts a listener (plain or TLS) that lives as long as the cluster.
    async fn listen(&self, tls: Option<TlsAcceptor>) -> std::io::Result<SocketAddr> {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let handler = handler(Arc::downgrade(&self.inner));
        let stats = self.inner.connections.clone();
        let listener = Listener::bind(any, handler, tls, Pause::default(), stats).await?;
        let addr = listener.addr();
        self.inner.listeners.lock().push(Box::new(listener));
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

    /// Starts (once) an HTTPS listener with a certificate signed by
    /// [`crate::server::pki::CA_PEM`].
    pub async fn serve_https(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = *self.inner.https_addr.lock() {
            return Ok(addr);
        }
        let addr = self
            .listen(Some(crate::transport::tls::acceptor()?))
            .await?;
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
