//! Controllers, one module per concept.
pub mod cluster;
