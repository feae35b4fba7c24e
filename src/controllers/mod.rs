//! Controllers, one module per concept. Each is a thin loop around pure functions that compute
//! the desired state; the pure parts are unit-tested without an API server.

pub mod cluster;
pub mod scheduling;
pub mod status;
pub mod sync;
pub mod type_config;
