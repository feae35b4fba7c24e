//! A Kubernetes API server simulator.
//!
//! Each [`Cluster`] is an in-memory API server with the semantics controllers and kubectl rely
//! on (resource versions, optimistic concurrency, watches, patches, server-side apply, CRDs,
//! finalizers, garbage collection). It is reachable in-process as a `tower::Service` or over
//! HTTP(S) through a kubeconfig.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = kubefed_sim::Cluster::new("member-1");
//! let client = cluster.client(); // in-process transport
//! let over_https = cluster.https_client().await?; // through the TLS listener
//! cluster.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig")).await?; // for kubectl
//! let writes = cluster.counters().effective_writes;
//! # let _ = (client, over_https, writes);
//! # Ok(())
//! # }
//! ```
//!
//! Every request, whatever the transport, goes through [`Cluster::handle`]: authentication
//! (bearer tokens), [`Middleware`] hooks (authorization, fault injection, latency), request
//! counters, then routing onto the engine.
//!
//! Layers, each importing only from the ones below it:
//!
//! - [`server`]: the API server core — object lifecycle ([`server::engine`]), storage, watch
//!   history, managedFields and apply, patches, selectors, the resource registry, CRDs,
//!   defaults, validation against the kinds' schemas, errors, discovery and OpenAPI documents.
//! - [`auth`]: bearer-token authentication, RBAC authorization and escalation prevention.
//! - [`rest`]: the REST handlers — routing, query parameters, content negotiation, one
//!   module per verb, watch streams, Tables and protobuf.
//! - [`transport`]: the in-process `tower::Service`, HTTP(S) listeners, TLS, kubeconfigs.
//! - [`controllers`]: in-cluster controllers (workloads, ServiceAccount tokens).
//! - [`fleet`]: a host and members with fault injection, persistence and a control endpoint.
//!
//! [`heap`] counts live heap bytes for benchmarks of the storage. [`testing`] holds test
//! support that needs only the simulator (waits, quiet checks, one cluster per transport).

pub mod auth;
pub mod controllers;
pub mod fleet;
pub mod heap;
pub mod rest;
pub mod server;
#[cfg(feature = "kube")]
pub mod testing;
pub mod transport;

pub use controllers::workloads::{WorkloadConfig, Workloads};
pub use fleet::faults::{FaultSpec, Faults};
pub use fleet::{Fleet, FleetCluster, FleetConfig, FleetError};
pub use rest::SimBody;
pub use server::cluster::{
    Cluster, ClusterConfig, DEFAULT_CRD_ESTABLISH_DELAY, Middleware, RequestInfo, UserInfo,
};
pub use server::counters::{ConnectionCounts, CounterSnapshot, Protocol, Verb};
pub use server::error::ApiError;
pub use transport::kubeconfig::{Kubeconfig, KubeconfigEntry};
pub use transport::service::SimService;
