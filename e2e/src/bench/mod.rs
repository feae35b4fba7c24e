//! `fedbench`: the operator in-process against a simulated fleet, measured against a bare
//! client doing the same member writes (the lower bound).

pub mod error;
pub mod failover;
pub mod fleet;
pub mod lower_bound;
pub mod observe;
pub mod options;
pub mod process;
pub mod pull;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod workload;
