//! The simulator refuses what real API servers refuse, with the same status codes, reasons
//! and messages: typed validation of built-in kinds (server-side apply, `fieldValidation` on
//! create and update, patched results), structural schemas of custom resources (pruning,
//! defaulting, validation, status), RBAC escalation and bind checks, and the handling of
//! requests: authorization before routing, apply preconditions, resource versions, garbage
//! collection, selectors, paging and options.
//!
//! Runs against both transports of simulated clusters, or against a real API server when
//! `KUBEFED_CONFORMANCE_KUBECONFIG` is set (see `target`).

mod builtin;
mod custom;
mod rbac;
mod requests;
mod target;
