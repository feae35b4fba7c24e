//! The API server core: object lifecycle, storage, watch history, field ownership, patches,
//! selectors, the resource registry, CRDs, defaults and validation (the kinds' schemas and
//! what the real server does with them to request bodies, in [`schema`]), and the errors and
//! discovery documents of the API. Nothing here knows about a transport.

pub mod cluster;
pub mod counters;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod engine;
pub mod error;
pub(crate) mod establishing;
pub mod events;
pub(crate) mod garbage_collector;
pub mod managed;
pub mod meta;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod pki;
pub(crate) mod reconciler;
pub mod resources;
pub mod schema;
pub mod selectors;
pub mod store;
pub mod validation;
pub mod watch;
