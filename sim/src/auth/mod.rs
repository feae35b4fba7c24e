//! Who is calling and what they may do: bearer-token authentication, RBAC authorization, and
//! RBAC escalation prevention for writes of roles and bindings.

pub mod escalation;
pub mod rbac;
pub mod token;
