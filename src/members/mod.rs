//! The member clusters: how to reach each one ([`connection`]), the shared registry of members
//! and their health ([`pool`]), the per-(member, type) watch caches ([`cache`]) and which types
//! each member can serve ([`availability`]). Nothing here decides what to write; it imports
//! only the API types and the pure core.

pub mod availability;
pub mod cache;
pub mod connection;
pub mod pool;
