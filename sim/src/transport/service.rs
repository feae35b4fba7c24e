//! The in-process transport: a `tower::Service` that hands requests straight to the cluster.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::BodyExt;

use crate::rest::SimBody;
use crate::server::cluster::Cluster;
use crate::transport::Handler;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `tower::Service` serving one cluster in-process. Requests without an `Authorization`
/// header are sent with this service's bearer token.
#[derive(Clone)]
pub struct SimService {
    name: String,
    handler: Handler,
    token: Option<String>,
}

impl std::fmt::Debug for SimService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimService")
            .field("cluster", &self.name)
            .finish()
    }
}

impl SimService {
    /// Hands requests straight to the cluster.
    pub fn new(cluster: Cluster, token: Option<String>) -> Self {
        let name = cluster.name().to_string();
        let handler: Handler = Arc::new(move |req| {
            let cluster = cluster.clone();
            Box::pin(async move { cluster.handle(req).await })
        });
        Self::with_handler(name, handler, token)
    }

    /// Name of the cluster served.
    pub fn cluster_name(&self) -> &str {
        &self.name
    }

    /// Hands requests to `handler` (e.g. one that injects faults first).
    pub fn with_handler(name: String, handler: Handler, token: Option<String>) -> Self {
        SimService {
            name,
            handler,
            token,
        }
    }
}

impl<B> tower_service::Service<Request<B>> for SimService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<SimBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let handler = self.handler.clone();
        let token = self.token.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let bytes: Bytes = body.collect().await.map_err(Into::into)?.to_bytes();
            if let Some(t) = token
                && !parts.headers.contains_key(header::AUTHORIZATION)
            {
                let v = HeaderValue::from_str(&format!("Bearer {t}"))?;
                parts.headers.insert(header::AUTHORIZATION, v);
            }
            Ok(handler(Request::from_parts(parts, bytes)).await)
        })
    }
}

impl Cluster {
    /// In-process service authenticated as the cluster admin.
    pub fn service(&self) -> SimService {
        SimService::new(self.clone(), Some(self.admin_token().to_string()))
    }

    /// In-process service sending `token` (None: unauthenticated).
    pub fn service_with_token(&self, token: Option<&str>) -> SimService {
        SimService::new(self.clone(), token.map(str::to_string))
    }

    /// A `kube::Client` over the in-process transport, as the cluster admin.
    #[cfg(feature = "kube")]
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service(), "default")
    }
}
