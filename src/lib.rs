//! kubefed: a Kubernetes multi-cluster federation operator, wire-compatible with KubeFed v0.10.

pub mod controllers;
pub mod crds;
pub mod members;
pub mod operator;
pub mod plugin;
