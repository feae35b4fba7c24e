//! The controllers: `cluster` (member health and KubeFedCluster status), `type_config` (one
//! sync worker per enabled FederatedTypeConfig), `sync` (propagation and status of federated
//! objects), `dependencies` (the ConfigMaps, Secrets and ServiceAccounts that follow a
//! workload, run within the workload's sync) and `scheduling` (ReplicaSchedulingPreference). Each reads, calls the pure
//! functions of [`crate::core`], and writes with the shared [`crate::runtime`] toolkit.

pub mod cluster;
pub mod dependencies;
pub mod scheduling;
pub mod sync;
pub mod type_config;
