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
//! counters, then routing onto the [`engine`].
//!
//! Modules: [`api`] (pipeline and routing), [`engine`] (object lifecycle), [`store`] (indexed
//! storage), [`watch`] (history window and streams), [`managed`] (managedFields and apply),
//! [`patch`] (JSON, merge and strategic merge patches), [`selectors`], [`resources`] (built-in
//! table and registry), [`crd`], [`discovery`], [`openapi`], [`table`], [`service`] and
//! [`http_server`] (transports), [`kubeconfig`], [`counters`], [`error`] (Status objects).
//!
//! Fleets of clusters: [`fleet`] (host + members, kubeconfig, stop/start), [`listener`]
//! (restartable loopback listeners), [`faults`] (fault injection), [`workloads`] and
//! [`token_controller`] (in-cluster controllers), [`rbac`] (authorization), [`admin`]
//! (run-time control of a running fleet).

pub mod admin;
pub mod api;
pub mod cluster;
pub mod counters;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod engine;
pub mod error;
pub mod events;
pub mod faults;
pub mod fleet;
pub mod http_server;
pub mod kubeconfig;
pub mod listener;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod rbac;
mod reconciler;
pub mod resources;
pub mod selectors;
pub mod service;
pub mod store;
pub mod table;
pub mod token_controller;
pub mod validation;
pub mod watch;
pub mod workloads;

pub use api::SimBody;
pub use cluster::{Cluster, ClusterConfig, Middleware, RequestInfo, UserInfo};
pub use counters::{CounterSnapshot, Verb};
pub use error::ApiError;
pub use faults::{FaultSpec, Faults};
pub use fleet::{Fleet, FleetCluster, FleetConfig, FleetError};
pub use kubeconfig::{Kubeconfig, KubeconfigEntry};
pub use service::SimService;
pub use workloads::{WorkloadConfig, Workloads};
