//! Who is calling and what they may do: bearer-token authentication and RBAC authorization.

pub mod rbac;
pub mod token;
