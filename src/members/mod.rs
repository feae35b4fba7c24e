//! The member cluster pool: how to reach each member cluster.

pub mod cache;
pub mod connection;
pub mod pool;
