//! Controllers, one module per concept.

pub mod scheduling;
pub mod sync;
