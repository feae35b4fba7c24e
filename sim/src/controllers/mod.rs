//! In-cluster controllers that real clusters run next to the API server: workloads
//! (Deployments, ReplicaSets, Jobs) and the ServiceAccount token controller.

pub mod token_controller;
pub mod workloads;
