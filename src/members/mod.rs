//! The member cluster pool: how to reach each member cluster.

pub mod connection;
pub mod pool;
