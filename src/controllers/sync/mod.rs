//! Propagation of federated objects to member clusters, and their status.
//!
//! One worker per federated type ([`worker`]) reconciles each object as a pipeline:
//! [`observe`] (caches → [`crate::core::observation::Observation`]), plan
//! ([`crate::core::plan`], pure), [`execute`] (member writes), report
//! ([`crate::core::report`], pure) — wired together in [`reconcile`].

pub mod context;
pub mod execute;
pub mod member_writes;
pub mod observe;
pub mod passes;
pub mod pull;
pub mod reconcile;
pub mod wakeups;
pub mod worker;
