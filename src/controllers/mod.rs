//! The controllers: `cluster` (member health and KubeFedCluster status), `type_config` (one
//! sync worker per enabled FederatedTypeConfig), `sync` (propagation and status of federated
//! objects) and `scheduling` (ReplicaSchedulingPreference). Each reads, calls the pure
//! functions of [`crate::core`], and writes with the shared [`crate::runtime`] toolkit.

pub mod cluster;
pub mod scheduling;
pub mod sync;
pub mod type_config;
