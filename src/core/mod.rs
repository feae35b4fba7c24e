//! The pure federation logic: no I/O, no clocks (the caller passes `now`), table-tested.
//!
//! A reconciliation of a federated object is [`observation`] → [`plan`] → (execute, in the
//! controller) → [`report`]. The plan is built from [`placement`], [`overrides`],
//! [`desired`] and [`compare`]; the report from [`aggregate`] (with [`readiness`] for any
//! type) and [`condition`]. A workload's [`dependencies`] are planned alongside its own plan;
//! [`preview`] shows a plan without executing it. The cluster controller's decisions are
//! [`health`] and [`cluster_status`]; the scheduler's are [`replica_planner`] and
//! [`replica_target`].

pub mod aggregate;
pub mod cluster_status;
pub mod coalesce;
pub mod compare;
pub mod condition;
pub mod delete_options;
pub mod dependencies;
pub mod desired;
pub mod events;
pub mod hash;
pub mod health;
pub mod merge_patch;
pub mod observation;
pub mod overrides;
pub mod own_writes;
pub mod placement;
pub mod plan;
pub mod preview;
pub mod pull;
pub mod pull_drift;
pub mod pull_pause;
pub mod readiness;
pub mod replica_planner;
pub mod replica_target;
pub mod report;
pub mod settle;
#[cfg(test)]
pub mod test_support;
pub mod vocabulary;
