//! Replica scheduling (ReplicaSchedulingPreference): the pure replica planner.

pub mod planner;
