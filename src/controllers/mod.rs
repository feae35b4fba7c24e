//! Controllers, one module per concept.
