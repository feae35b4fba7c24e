//! Run-time control of a running fleet from outside its process: a small HTTP endpoint on
//! 127.0.0.1 and the client the `kubefed-sim` binary uses to talk to it.
//!
//! - `GET /clusters`: names, URLs, online state, faults and workload settings (JSON)
//! - `POST /clusters/<name>/fault` with a [`FaultSpec`] as the body (`offline`, `freeze`, `latency=50ms`)
//! - `POST /clusters/<name>/capacity` with a replica count or `unlimited`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::fleet::Fleet;
use crate::fleet::faults::FaultSpec;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot read the admin address from {path}: {source} (is `kubefed-sim up` running with this kubeconfig?)"
    )]
    AddressFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid admin address {0:?}")]
    Address(String),
    #[error(
        "cannot reach the fleet's admin endpoint at {addr}: {source} (is `kubefed-sim up` still running?)"
    )]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("admin request failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the admin request: {0}")]
    Request(#[from] http::Error),
    #[error("{0}")]
    Rejected(String),
}

/// Where `up` writes the admin address for a kubeconfig: `<kubeconfig>.admin`.
pub fn address_file(kubeconfig: &Path) -> PathBuf {
    let mut s = kubeconfig.as_os_str().to_owned();
    s.push(".admin");
    PathBuf::from(s)
}

/// Reads the admin address written next to a kubeconfig.
pub fn read_address(kubeconfig: &Path) -> Result<SocketAddr, AdminError> {
    let path = address_file(kubeconfig);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| AdminError::AddressFile { path, source })?;
    let text = text.trim();
    text.trim_start_matches("http://")
        .parse()
        .map_err(|_| AdminError::Address(text.to_string()))
}

fn text(code: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r
}

async fn route(fleet: &Fleet, method: &Method, path: &str, body: &str) -> Response<Full<Bytes>> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segs.as_slice()) {
        (&Method::GET, ["clusters"]) => {
            let mut out = Vec::new();
            for c in fleet.clusters() {
                let w = c.workloads().config();
                out.push(json!({
                    "name": c.name(),
                    "url": c.url(),
                    "online": c.is_online().await,
                    "faults": c.faults().status(),
                    "capacity": w.capacity,
                    "readyDelayMs": w.ready_delay.as_millis() as u64,
                }));
            }
            text(StatusCode::OK, json!(out).to_string())
        }
        (&Method::POST, ["clusters", name, "fault"]) => {
            let spec: FaultSpec = match body.parse() {
                Ok(s) => s,
                Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
            };
            match fleet.apply_fault(name, &spec).await {
                Ok(()) => text(StatusCode::OK, format!("{name}: {}", body.trim())),
                Err(e @ crate::fleet::FleetError::UnknownCluster(_)) => {
                    text(StatusCode::NOT_FOUND, e.to_string())
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::POST, ["clusters", name, "capacity"]) => {
            let capacity = match body.trim() {
                "unlimited" | "none" => None,
                n => match n.parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            format!(
                                "invalid capacity {n:?}; expected a replica count or unlimited"
                            ),
                        );
                    }
                },
            };
            match fleet.get(name) {
                Ok(c) => {
                    c.workloads().set_capacity(capacity);
                    text(StatusCode::OK, format!("{name}: capacity {}", body.trim()))
                }
                Err(e) => text(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            format!("no admin route {method} {path}"),
        ),
    }
}

/// Serves the admin endpoint for `fleet` on a random 127.0.0.1 port.
pub async fn serve(fleet: Arc<Fleet>) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let fleet = fleet.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let fleet = fleet.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let body = String::from_utf8_lossy(&body);
                        Ok::<_, Infallible>(
                            route(&fleet, &parts.method, parts.uri.path(), &body).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// Sends one admin request; returns the response body of a successful request.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> Result<String, AdminError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| AdminError::Connect { addr, source })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string())
        .body(Full::new(Bytes::from(body.to_string())))?;
    let resp = send.send_request(req).await?;
    let ok = resp.status().is_success();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if ok {
        Ok(text)
    } else {
        Err(AdminError::Rejected(text))
    }
}
