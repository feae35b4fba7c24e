//! How requests reach a cluster: in-process (`tower::Service`), HTTP(S) listeners on
//! 127.0.0.1 and the kubeconfigs that point at them.

pub mod http_server;
pub mod kubeconfig;
pub mod listener;
pub mod pause;
pub mod service;
pub mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};

use crate::rest::SimBody;

/// What a transport does with each request: hand it to the cluster, or to the fleet's
/// faults first.
pub type Handler = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<SimBody>> + Send>> + Send + Sync,
>;
