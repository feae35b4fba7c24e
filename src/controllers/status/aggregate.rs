//! Per-cluster entries, workload totals, the summary condition and `observedGeneration` of a
//! federated object, computed from what was observed in its placed member clusters.
//!
//! Counting rules:
//! - Desired replicas count every placed member, reachable or not, so a lost cluster shows up
//!   as a shortfall in READY rather than shrinking the target.
//! - Observed numbers (replicas, ready, available, updated; Job succeeded/failed/active;
//!   Service ingress) count reachable members only: a stale member contributes 0 because
//!   nothing it last reported can be vouched for. Its last-known `remoteStatus` stays visible
//!   on its `clusters[]` entry, marked `stale`.
//! - CLUSTERS is `<reachable and in sync>/<placed>`.

use serde_json::Value;

use crate::crds::federated::{
    AggregateKind, AggregateStatus, ClusterLoadBalancer, ClusterStatus, FederatedCondition,
};

/// Condition type summarising Deployments and ReplicaSets.
pub const READY_CONDITION: &str = "Ready";
/// Condition type summarising Jobs.
pub const COMPLETE_CONDITION: &str = "Complete";

/// Condition fields that member controllers refresh without the condition changing; copying
/// them would turn every member heartbeat into a federated status write.
const HEARTBEAT_FIELDS: [&str; 2] = ["lastUpdateTime", "lastProbeTime"];

/// What is known about the federated object in one placed member cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterObservation {
    /// Name of the KubeFedCluster.
    pub cluster: String,
    /// Propagation status (`status.clusters[].status`): `""` when in sync.
    pub propagation: String,
    /// The member cluster is unreachable (offline or not ready).
    pub stale: bool,
    /// When the member was last reachable, if the caller knows (e.g. the KubeFedCluster's
    /// `Offline` transition time); RFC 3339.
    pub last_seen: Option<String>,
    /// `spec.replicas` of the object applied to the member (template plus overrides, or the
    /// member's own value under `retainReplicas`); `None` means the API default of 1.
    pub desired_replicas: Option<i64>,
    /// The member object's `metadata.generation` after the last apply.
    pub generation: Option<i64>,
    /// What [`remote_status`] returned for the member object; `None` if not seen.
    pub remote_status: Option<Value>,
}

impl ClusterObservation {
    fn in_sync(&self) -> bool {
        !self.stale && self.propagation.is_empty()
    }

    fn status_field(&self, field: &str) -> Option<i64> {
        self.remote_status.as_ref()?.get(field)?.as_i64()
    }

    fn member_observed_generation(&self) -> Option<i64> {
        self.status_field("observedGeneration")
    }

    fn has_condition(&self, type_: &str) -> bool {
        self.remote_status
            .as_ref()
            .and_then(|status| status.get("conditions"))
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some(type_)
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            })
    }
}

/// A summary condition computed from the members, before timestamps are attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `Ready` (Deployment, ReplicaSet) or `Complete` (Job).
    pub type_: &'static str,
    /// Whether the condition holds.
    pub status: bool,
    /// Why, in CamelCase.
    pub reason: &'static str,
}

/// `status.aggregate` plus the summary condition for the type, if it has one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregate {
    /// The totals, written to `status.aggregate`.
    pub status: AggregateStatus,
    /// The summary condition, written to `status.conditions` with [`set_condition`].
    pub condition: Option<Summary>,
}

/// What goes into `status.clusters[].remoteStatus`: the member's `.status` with KubeFed's field
/// names, minus conditions' `lastUpdateTime`/`lastProbeTime` for the built-in kinds. Types
/// this project does not know are copied verbatim. `None` when the member has no status.
pub fn remote_status(kind: AggregateKind, member: &Value) -> Option<Value> {
    let status = member.get("status")?.as_object()?;
    if status.is_empty() {
        return None;
    }
    let mut status = status.clone();
    if kind != AggregateKind::Other
        && let Some(Value::Array(conditions)) = status.get_mut("conditions")
    {
        for condition in conditions.iter_mut().filter_map(Value::as_object_mut) {
            for field in HEARTBEAT_FIELDS {
                condition.remove(field);
            }
        }
    }
    Some(Value::Object(status))
}

/// The `status.clusters[]` entry for one placed member. A reachable member's entry reflects
/// the observation; a stale member keeps its previous `remoteStatus` and generations and gets
/// `stale: true` and `lastSeen` (kept while it stays stale, so nothing churns).
pub fn cluster_entry(
    previous: Option<&ClusterStatus>,
    observation: &ClusterObservation,
    now: &str,
) -> ClusterStatus {
    if !observation.stale {
        return ClusterStatus {
            name: observation.cluster.clone(),
            status: observation.propagation.clone(),
            remote_status: observation.remote_status.clone(),
            generation: observation.generation,
            observed_generation: observation.member_observed_generation(),
            stale: false,
            last_seen: None,
        };
    }
    let previous = previous.filter(|p| p.name == observation.cluster);
    let last_seen = observation
        .last_seen
        .clone()
        .or_else(|| {
            previous
                .filter(|p| p.stale)
                .and_then(|p| p.last_seen.clone())
        })
        .unwrap_or_else(|| now.to_owned());
    ClusterStatus {
        name: observation.cluster.clone(),
        status: observation.propagation.clone(),
        remote_status: previous
            .and_then(|p| p.remote_status.clone())
            .or_else(|| observation.remote_status.clone()),
        generation: previous
            .and_then(|p| p.generation)
            .or(observation.generation),
        observed_generation: previous
            .and_then(|p| p.observed_generation)
            .or_else(|| observation.member_observed_generation()),
        stale: true,
        last_seen: Some(last_seen),
    }
}

/// Totals across `placed` (one observation per placed member) for a type of `kind`, following
/// the counting rules in the module documentation.
pub fn aggregate(kind: AggregateKind, placed: &[ClusterObservation]) -> Aggregate {
    let in_sync = placed.iter().filter(|o| o.in_sync()).count();
    let mut status = AggregateStatus {
        clusters: format!("{in_sync}/{}", placed.len()),
        ..Default::default()
    };
    let reachable = || placed.iter().filter(|o| !o.stale);
    let sum = |field: &str| {
        reachable()
            .filter_map(|o| o.status_field(field))
            .sum::<i64>()
    };
    let condition = match kind {
        AggregateKind::Replicated => {
            let desired: i64 = placed.iter().map(desired_replicas).sum();
            let ready = sum("readyReplicas");
            status.ready = Some(format!("{ready}/{desired}"));
            status.desired_replicas = Some(desired);
            status.replicas = Some(sum("replicas"));
            status.ready_replicas = Some(ready);
            status.available_replicas = Some(sum("availableReplicas"));
            // ReplicaSets do not report it; 0 would read as "nothing rolled out".
            status.updated_replicas = reachable()
                .any(|o| o.status_field("updatedReplicas").is_some())
                .then(|| sum("updatedReplicas"));
            Some(replicated_summary(placed))
        }
        AggregateKind::Job => {
            status.succeeded = Some(sum("succeeded"));
            status.failed = Some(sum("failed"));
            status.active = Some(sum("active"));
            Some(job_summary(placed))
        }
        AggregateKind::Service => {
            status.load_balancer = reachable()
                .filter_map(|o| {
                    let ingress = o
                        .remote_status
                        .as_ref()?
                        .pointer("/loadBalancer/ingress")?
                        .as_array()?;
                    (!ingress.is_empty()).then(|| ClusterLoadBalancer {
                        cluster: o.cluster.clone(),
                        ingress: ingress.clone(),
                    })
                })
                .collect();
            None
        }
        AggregateKind::Other => None,
    };
    Aggregate { status, condition }
}

fn desired_replicas(observation: &ClusterObservation) -> i64 {
    observation.desired_replicas.unwrap_or(1)
}

/// Why a member keeps the summary condition from holding, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Blocker {
    ClusterUnreachable,
    PropagationIncomplete,
    Failed,
    InProgress,
    Unavailable,
}

fn worst(blockers: impl Iterator<Item = Option<Blocker>>) -> Option<Blocker> {
    blockers.flatten().min()
}

/// `Ready` is True when every placed member is reachable, in sync, has rolled out the applied
/// generation and has all its desired replicas available.
fn replicated_summary(placed: &[ClusterObservation]) -> Summary {
    let blocker = worst(placed.iter().map(|o| {
        let desired = desired_replicas(o);
        if o.stale {
            Some(Blocker::ClusterUnreachable)
        } else if !o.propagation.is_empty() {
            Some(Blocker::PropagationIncomplete)
        } else if !generation_observed(AggregateKind::Replicated, o)
            || o.status_field("updatedReplicas")
                .is_some_and(|u| u < desired)
        {
            Some(Blocker::InProgress)
        } else if o.status_field("availableReplicas").unwrap_or(0) < desired {
            Some(Blocker::Unavailable)
        } else {
            None
        }
    }));
    let reason = match blocker {
        None => "AllReplicasAvailable",
        Some(Blocker::ClusterUnreachable) => "ClusterUnreachable",
        Some(Blocker::PropagationIncomplete) => "PropagationIncomplete",
        Some(Blocker::InProgress) => "RolloutInProgress",
        Some(Blocker::Failed | Blocker::Unavailable) => "ReplicasUnavailable",
    };
    Summary {
        type_: READY_CONDITION,
        status: blocker.is_none(),
        reason,
    }
}

/// `Complete` is True when every placed member is reachable, in sync and its Job reports
/// `Complete=True`.
fn job_summary(placed: &[ClusterObservation]) -> Summary {
    let blocker = worst(placed.iter().map(|o| {
        if o.stale {
            Some(Blocker::ClusterUnreachable)
        } else if !o.propagation.is_empty() {
            Some(Blocker::PropagationIncomplete)
        } else if o.has_condition("Failed") {
            Some(Blocker::Failed)
        } else if !o.has_condition(COMPLETE_CONDITION) {
            Some(Blocker::InProgress)
        } else {
            None
        }
    }));
    let reason = match blocker {
        None => "JobsComplete",
        Some(Blocker::ClusterUnreachable) => "ClusterUnreachable",
        Some(Blocker::PropagationIncomplete) => "PropagationIncomplete",
        Some(Blocker::Failed) => "JobFailed",
        Some(Blocker::InProgress | Blocker::Unavailable) => "JobsRunning",
    };
    Summary {
        type_: COMPLETE_CONDITION,
        status: blocker.is_none(),
        reason,
    }
}

/// Whether the member has observed the generation last applied to it. Deployments and
/// ReplicaSets always report `status.observedGeneration`, so its absence means "not yet";
/// Jobs and Services do not, so in-sync propagation counts as observed; other types are
/// checked when their status carries the field.
fn generation_observed(kind: AggregateKind, observation: &ClusterObservation) -> bool {
    let observed = observation.member_observed_generation();
    match (kind, observation.generation, observed) {
        (_, Some(applied), Some(observed)) => observed >= applied,
        (AggregateKind::Replicated, Some(_), None) => false,
        _ => true,
    }
}

/// The federated object's `status.observedGeneration`: `generation` once every placed,
/// reachable member is in sync and has observed what was applied to it, else `previous`.
/// Stale members do not hold it back (their `clusters[]` entry and the summary condition
/// report them instead); with nothing placed it advances.
pub fn observed_generation(
    kind: AggregateKind,
    generation: i64,
    previous: Option<i64>,
    placed: &[ClusterObservation],
) -> Option<i64> {
    let caught_up = placed
        .iter()
        .filter(|o| !o.stale)
        .all(|o| o.propagation.is_empty() && generation_observed(kind, o));
    if caught_up {
        Some(generation)
    } else {
        previous
    }
}

/// `conditions` with the summary condition set: timestamps move only when status or reason
/// changes, so an unchanged summary leaves the conditions equal (and no write is needed).
/// Other conditions, e.g. `Propagation`, are kept as they are.
pub fn set_condition(
    conditions: &[FederatedCondition],
    summary: &Summary,
    now: &str,
) -> Vec<FederatedCondition> {
    let status = if summary.status { "True" } else { "False" };
    let mut conditions = conditions.to_vec();
    let existing = conditions.iter_mut().find(|c| c.type_ == summary.type_);
    if let Some(c) = &existing
        && c.status == status
        && c.reason == summary.reason
    {
        return conditions;
    }
    let condition = FederatedCondition {
        type_: summary.type_.to_owned(),
        status: status.to_owned(),
        reason: summary.reason.to_owned(),
        last_update_time: Some(now.to_owned()),
        last_transition_time: Some(now.to_owned()),
    };
    match existing {
        // A reason change with the same status is not a transition.
        Some(c) if c.status == status => {
            let last_transition_time = c.last_transition_time.clone().or(Some(now.to_owned()));
            *c = FederatedCondition {
                last_transition_time,
                ..condition
            };
        }
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
    conditions
}
