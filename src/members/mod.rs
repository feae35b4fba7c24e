//! The member clusters: how to reach each one ([`connection`]), the shared registry of members
//! and their health ([`pool`]), the per-(member, type) watch caches ([`cache`]), which types
//! each member can serve ([`availability`]), the per-member request limit ([`in_flight`]), the HTTP stack of a member
//! client ([`transport`]) and its HTTP/2 writes ([`write_batching`]), objects as the members serve them ([`raw_object`]) and the write path ([`write`](mod@write)). Nothing here
//! decides what to write; it imports only the API types, the pure core and the runtime
//! toolkit.

pub mod availability;
pub mod cache;
pub mod connection;
pub mod in_flight;
pub mod pool;
pub mod raw_object;
pub mod served_object;
pub mod transport;
pub mod works;
pub mod write;
pub mod write_batching;
