//! End-to-end tests: the built binaries and kubectl against a fleet (`harness`); `bench` holds
//! the propagation benchmark behind the `fedbench` binary.

pub mod bench;
pub mod harness;
