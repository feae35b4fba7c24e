//! The HTTP transport: a plain-http listener on 127.0.0.1 for kubectl and binaries.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::api::{SimBody, error_response};
use crate::cluster::Cluster;
use crate::error::ApiError;

impl Cluster {
    /// Starts (once) an HTTP listener on a random local port and returns its address. The
    /// listener stops when the last handle to the cluster is dropped.
    pub async fn serve_http(&self) -> std::io::Result<SocketAddr> {
        if let Some(addr) = self.http_addr() {
            return Ok(addr);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        *self.inner.http_addr.lock() = Some(addr);
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(());
        *self.inner.http_stop.lock() = Some(stop_tx);
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.changed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let weak = weak.clone();
                tokio::spawn(async move {
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
                                        Err(e) => {
                                            error_response(&ApiError::BadRequest(e.to_string()))
                                        }
                                    }
                                }
                                None => error_response(&ApiError::ServiceUnavailable(
                                    "the cluster is gone".into(),
                                )),
                            };
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(addr)
    }

    /// `http://127.0.0.1:PORT` once serving.
    pub fn url(&self) -> Option<String> {
        self.http_addr().map(|a| format!("http://{a}"))
    }
}
