//! End-to-end tests: the built binaries and kubectl against a fleet.

pub mod harness;
