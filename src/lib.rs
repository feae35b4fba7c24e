//! kubefed: a Kubernetes multi-cluster federation operator, wire-compatible with KubeFed v0.10.
//!
//! Layers, each importing only from those below it: [`crds`] (API types) → [`core`] (pure
//! federation logic) → [`runtime`] (the controllers' shared toolkit) → [`members`] (member
//! connections, pool and caches) → [`controllers`] → [`operator`] (the process); [`plugin`] is
//! the `kubectl fed` command line.

pub mod agent;
pub mod controllers;
pub mod core;
pub mod crds;
pub mod members;
pub mod operator;
pub mod plugin;
pub mod runtime;
