//! The toolkit every controller (cluster, type_config, sync, scheduling) is built from:
//! publishing events (aggregated, and Warnings once per change of outcome), writing status only
//! when it changed, finalizers, backoff, the error category that labels metrics and events, and
//! the metrics registry, and one shared copy of values many caches hold equal ([`interner`]).
//! The conditions' transition rule is pure and lives in
//! [`crate::core::condition`].

pub mod backoff;
pub mod error;
pub mod events;
pub mod finalizer;
pub mod interner;
pub mod metrics;
pub mod status;
pub mod store;
pub mod tasks;
