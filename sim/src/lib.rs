//! A Kubernetes API server simulator.
//!
//! Each [`Cluster`] is an in-memory API server with the semantics controllers and kubectl rely
//! on (resource versions, optimistic concurrency, watches, patches, server-side apply, CRDs,
//! finalizers, garbage collection). It is reachable in-process as a `tower::Service` or over
//! HTTP through a kubeconfig.

pub mod api;
pub mod cluster;
pub mod counters;
pub mod crd;
pub mod discovery;
pub mod engine;
pub mod error;
pub mod http_server;
pub mod kubeconfig;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod resources;
pub mod selectors;
pub mod service;
pub mod store;
pub mod table;
pub mod watch;

pub use api::SimBody;
pub use cluster::{Cluster, ClusterConfig, Middleware, RequestInfo, UserInfo};
pub use counters::{CounterSnapshot, Verb};
pub use error::ApiError;
pub use kubeconfig::{Kubeconfig, KubeconfigEntry};
pub use service::SimService;
