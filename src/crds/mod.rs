//! API types of the federation, one module per kind.

pub mod federated;
