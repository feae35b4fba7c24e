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
//! - Any other type whose status is collected: READY is `<ready>/<placed>` member clusters,
//!   ready by the rule of [`super::readiness`], counted over reachable members; it (and the
//!   `Ready` condition) is there once any placed member reports one of the rule's signals.

use serde_json::Value;

use super::readiness::member_ready;
use crate::crds::federated::{AggregateKind, AggregateStatus, ClusterLoadBalancer, ClusterStatus};

/// Condition type summarising Deployments and ReplicaSets.
pub const READY_CONDITION: &str = "Ready";
/// Condition type summarising Jobs.
pub const COMPLETE_CONDITION: &str = "Complete";

/// Condition fields that member controllers refresh without the condition changing; copying
/// them would turn every member heartbeat into a federated status write.
const HEARTBEAT_FIELDS: [&str; 3] = ["lastUpdateTime", "lastProbeTime", "lastHeartbeatTime"];

/// What is known about the federated object in one placed member cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterObservation {
    /// Name of the KubeFedCluster.
    pub cluster: String,
    /// Propagation status (`status.clusters[].status`): `""` when in sync.
    pub propagation: String,
    /// Why it is not in sync (`status.clusters[].message`).
    pub message: Option<String>,
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
    /// `Ready` (Deployment, ReplicaSet, any type with a readiness signal) or `Complete` (Job).
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
    /// The summary condition, written to `status.conditions` by the report.
    pub condition: Option<Summary>,
}

/// What goes into `status.clusters[].remoteStatus`: the member's `.status` with KubeFed's field
/// names, minus the conditions' heartbeat timestamps (`lastUpdateTime`, `lastProbeTime`,
/// `lastHeartbeatTime`). `None` when the member has no status.
pub fn remote_status(member: &Value) -> Option<Value> {
    let status = member.get("status")?.as_object()?;
    if status.is_empty() {
        return None;
    }
    let mut status = status.clone();
    if let Some(Value::Array(conditions)) = status.get_mut("conditions") {
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
            message: observation.message.clone(),
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
        message: observation.message.clone(),
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
        AggregateKind::Other => {
            let readiness: Vec<Option<bool>> = placed
                .iter()
                .map(|o| member_ready(o.remote_status.as_ref(), o.generation))
                .collect();
            readiness.iter().any(Option::is_some).then(|| {
                let ready = placed
                    .iter()
                    .zip(&readiness)
                    .filter(|(o, r)| !o.stale && **r == Some(true))
                    .count();
                status.ready = Some(format!("{ready}/{}", placed.len()));
                readiness_summary(placed, &readiness)
            })
        }
    };
    Aggregate { status, condition }
}

/// `Ready` (any type with a readiness signal) is True when every placed member is reachable,
/// in sync and reports ready.
fn readiness_summary(placed: &[ClusterObservation], readiness: &[Option<bool>]) -> Summary {
    let blocker = worst(placed.iter().zip(readiness).map(|(o, ready)| {
        if o.stale {
            Some(Blocker::ClusterUnreachable)
        } else if !o.propagation.is_empty() {
            Some(Blocker::PropagationIncomplete)
        } else if *ready != Some(true) {
            Some(Blocker::Unavailable)
        } else {
            None
        }
    }));
    let reason = match blocker {
        None => "AllClustersReady",
        Some(Blocker::ClusterUnreachable) => "ClusterUnreachable",
        Some(Blocker::PropagationIncomplete) => "PropagationIncomplete",
        Some(_) => "ClustersNotReady",
    };
    Summary {
        type_: READY_CONDITION,
        status: blocker.is_none(),
        reason,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";

    /// A member Deployment as the API returns it, mid-way to `available` of `desired`.
    fn deployment(generation: i64, desired: i64, available: i64) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "generation": generation},
            "spec": {"replicas": desired},
            "status": {
                "observedGeneration": generation,
                "replicas": desired,
                "updatedReplicas": desired,
                "readyReplicas": available,
                "availableReplicas": available,
                "unavailableReplicas": desired - available,
                "conditions": [
                    {
                        "type": "Available",
                        "status": if available == desired { "True" } else { "False" },
                        "lastUpdateTime": "2026-01-01T00:00:07Z",
                        "lastTransitionTime": "2026-01-01T00:00:07Z",
                        "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability."
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "lastUpdateTime": "2026-01-01T00:00:09Z",
                        "lastTransitionTime": "2026-01-01T00:00:01Z",
                        "reason": "NewReplicaSetAvailable",
                        "message": "ReplicaSet \"web-5d9c\" has successfully progressed."
                    }
                ]
            }
        })
    }

    fn observe(cluster: &str, member: &Value) -> ClusterObservation {
        ClusterObservation {
            cluster: cluster.into(),
            desired_replicas: member.pointer("/spec/replicas").and_then(Value::as_i64),
            generation: member
                .pointer("/metadata/generation")
                .and_then(Value::as_i64),
            remote_status: remote_status(member),
            ..Default::default()
        }
    }

    fn replicated(members: &[(&str, Value)]) -> Vec<ClusterObservation> {
        members.iter().map(|(c, m)| observe(c, m)).collect()
    }

    #[test]
    fn remote_status_drops_heartbeats_but_keeps_kubefed_fields() {
        let member = deployment(3, 5, 5);
        let remote = remote_status(&member).expect("has status");
        assert_eq!(remote["observedGeneration"], 3);
        assert_eq!(remote["readyReplicas"], 5);
        let progressing = &remote["conditions"][1];
        assert!(progressing.get("lastUpdateTime").is_none());
        assert_eq!(progressing["lastTransitionTime"], "2026-01-01T00:00:01Z");
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        // A later heartbeat from the member changes nothing.
        let mut later = member.clone();
        later["status"]["conditions"][1]["lastUpdateTime"] = json!("2026-01-01T01:00:00Z");
        assert_eq!(remote_status(&later), Some(remote));
        // Any type loses the heartbeats; nothing for objects without status.
        let mut custom = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}], "phase": "Up"}});
        let before = remote_status(&custom);
        assert_eq!(
            before,
            Some(json!({"conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}], "phase": "Up"}))
        );
        custom["status"]["conditions"][0]["lastHeartbeatTime"] = json!("2026-01-01T00:01:00Z");
        assert_eq!(remote_status(&custom), before);
        assert_eq!(remote_status(&json!({"data": {}})), None);
        assert_eq!(remote_status(&json!({"status": {}})), None);
    }

    #[test]
    fn capacity_shortfall_shows_in_ready() {
        let placed = replicated(&[("c1", deployment(1, 3, 3)), ("c2", deployment(1, 5, 3))]);
        let a = aggregate(AggregateKind::Replicated, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("6/8"));
        assert_eq!(a.status.clusters, "2/2");
        assert_eq!(a.status.desired_replicas, Some(8));
        assert_eq!(a.status.replicas, Some(8));
        assert_eq!(a.status.ready_replicas, Some(6));
        assert_eq!(a.status.available_replicas, Some(6));
        assert_eq!(a.status.updated_replicas, Some(8));
        assert_eq!(
            a.condition,
            Some(Summary {
                type_: READY_CONDITION,
                status: false,
                reason: "ReplicasUnavailable"
            })
        );
    }

    #[test]
    fn all_available_is_ready() {
        let placed = replicated(&[("c1", deployment(2, 3, 3)), ("c2", deployment(4, 5, 5))]);
        let a = aggregate(AggregateKind::Replicated, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("8/8"));
        assert_eq!(
            a.condition,
            Some(Summary {
                type_: READY_CONDITION,
                status: true,
                reason: "AllReplicasAvailable"
            })
        );
        // Serialised shape of the aggregate.
        assert_eq!(
            serde_json::to_value(&a.status).expect("json"),
            json!({
                "clusters": "2/2", "ready": "8/8", "desiredReplicas": 8, "replicas": 8,
                "readyReplicas": 8, "availableReplicas": 8, "updatedReplicas": 8
            })
        );
    }

    #[test]
    fn offline_member_is_stale_counts_zero_and_keeps_last_status() {
        let mut placed = replicated(&[("c1", deployment(1, 3, 3)), ("c2", deployment(1, 5, 5))]);
        let before: Vec<ClusterStatus> =
            placed.iter().map(|o| cluster_entry(None, o, T0)).collect();
        assert!(!before[1].stale);
        assert_eq!(before[1].generation, Some(1));
        assert_eq!(before[1].observed_generation, Some(1));

        // c2 goes offline: the caller no longer sees its object.
        placed[1].stale = true;
        placed[1].propagation = "ClusterNotReady".into();
        placed[1].remote_status = None;
        let entry = cluster_entry(Some(&before[1]), &placed[1], T1);
        assert!(entry.stale);
        assert_eq!(entry.last_seen.as_deref(), Some(T1));
        assert_eq!(entry.status, "ClusterNotReady");
        assert_eq!(
            entry.remote_status, before[1].remote_status,
            "last known kept"
        );
        assert_eq!(entry.generation, Some(1));
        // Still offline later: nothing changes, so nothing is written.
        let again = cluster_entry(Some(&entry), &placed[1], "2026-01-01T00:09:00Z");
        assert_eq!(again, entry);
        // An explicit last-seen time from the caller wins.
        placed[1].last_seen = Some(T0.into());
        assert_eq!(
            cluster_entry(Some(&before[1]), &placed[1], T1)
                .last_seen
                .as_deref(),
            Some(T0)
        );

        let a = aggregate(AggregateKind::Replicated, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("3/8"));
        assert_eq!(a.status.clusters, "1/2");
        assert_eq!(a.status.available_replicas, Some(3));
        assert_eq!(a.condition.map(|c| c.reason), Some("ClusterUnreachable"));

        // Back online: fresh status, no longer stale.
        placed[1].stale = false;
        placed[1].propagation.clear();
        placed[1].remote_status = remote_status(&deployment(1, 5, 5));
        let back = cluster_entry(Some(&entry), &placed[1], T1);
        assert!(!back.stale);
        assert_eq!(back.last_seen, None);
        assert_eq!(
            serde_json::to_value(&back).expect("json").get("stale"),
            None,
            "stale omitted when false"
        );
    }

    #[test]
    fn rollout_in_progress_is_not_ready() {
        let mut member = deployment(2, 3, 3);
        member["status"]["observedGeneration"] = json!(1);
        let placed = replicated(&[("c1", member)]);
        let a = aggregate(AggregateKind::Replicated, &placed);
        assert_eq!(a.condition.map(|c| c.reason), Some("RolloutInProgress"));
        let mut member = deployment(2, 3, 3);
        member["status"]["updatedReplicas"] = json!(1);
        let a = aggregate(AggregateKind::Replicated, &replicated(&[("c1", member)]));
        assert_eq!(a.condition.map(|c| c.reason), Some("RolloutInProgress"));
    }

    #[test]
    fn propagation_failure_and_unseen_members() {
        let mut placed = replicated(&[("c1", deployment(1, 3, 3))]);
        placed.push(ClusterObservation {
            cluster: "c2".into(),
            propagation: "CreationFailed".into(),
            desired_replicas: Some(2),
            ..Default::default()
        });
        let a = aggregate(AggregateKind::Replicated, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("3/5"));
        assert_eq!(a.status.clusters, "1/2");
        assert_eq!(a.condition.map(|c| c.reason), Some("PropagationIncomplete"));
        // Unset spec.replicas defaults to 1, as the API server does.
        let one = ClusterObservation {
            cluster: "c".into(),
            ..Default::default()
        };
        let a = aggregate(AggregateKind::Replicated, &[one]);
        assert_eq!(a.status.ready.as_deref(), Some("0/1"));
    }

    #[test]
    fn replica_sets_have_no_updated_replicas() {
        let rs = json!({
            "metadata": {"generation": 1},
            "spec": {"replicas": 2},
            "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                       "availableReplicas": 2, "observedGeneration": 1}
        });
        let a = aggregate(
            AggregateKind::Replicated,
            &replicated(&[("c1", rs.clone()), ("c2", rs)]),
        );
        assert_eq!(a.status.ready.as_deref(), Some("4/4"));
        assert_eq!(a.status.updated_replicas, None);
        assert_eq!(a.condition.map(|c| c.status), Some(true));
    }

    fn job(succeeded: i64, failed: i64, active: i64, done: Option<&str>) -> Value {
        let mut conditions = vec![];
        if let Some(kind) = done {
            conditions.push(json!({
                "type": kind, "status": "True",
                "lastProbeTime": "2026-01-01T00:03:00Z",
                "lastTransitionTime": "2026-01-01T00:03:00Z"
            }));
        }
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "generation": 1},
            "spec": {"completions": 3, "parallelism": 2},
            "status": {
                "startTime": "2026-01-01T00:00:00Z",
                "succeeded": succeeded, "failed": failed, "active": active,
                "ready": active, "conditions": conditions
            }
        })
    }

    #[test]
    fn jobs_sum_outcomes_and_complete_when_all_complete() {
        let observe_job = |c: &str, j: Value| observe(c, &j);
        let running = [
            observe_job("c1", job(3, 0, 0, Some("Complete"))),
            observe_job("c2", job(1, 1, 2, None)),
        ];
        let a = aggregate(AggregateKind::Job, &running);
        assert_eq!(
            (a.status.succeeded, a.status.failed, a.status.active),
            (Some(4), Some(1), Some(2))
        );
        assert_eq!(a.status.ready, None);
        assert_eq!(a.status.clusters, "2/2");
        assert_eq!(
            a.condition,
            Some(Summary {
                type_: COMPLETE_CONDITION,
                status: false,
                reason: "JobsRunning"
            })
        );
        assert!(
            running[0].remote_status.as_ref().expect("status")["conditions"][0]
                .get("lastProbeTime")
                .is_none()
        );
        let done = [
            observe_job("c1", job(3, 0, 0, Some("Complete"))),
            observe_job("c2", job(3, 1, 0, Some("Complete"))),
        ];
        let a = aggregate(AggregateKind::Job, &done);
        assert_eq!(
            a.condition.map(|c| (c.status, c.reason)),
            Some((true, "JobsComplete"))
        );
        let failed = [
            observe_job("c1", job(3, 0, 0, Some("Complete"))),
            observe_job("c2", job(0, 6, 0, Some("Failed"))),
        ];
        let a = aggregate(AggregateKind::Job, &failed);
        assert_eq!(a.condition.map(|c| c.reason), Some("JobFailed"));
    }

    #[test]
    fn services_list_load_balancer_ingress_per_reachable_cluster() {
        let service = |ingress: Value| {
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"type": "LoadBalancer"},
                "status": {"loadBalancer": {"ingress": ingress}}
            })
        };
        let mut placed = vec![
            observe(
                "c1",
                &service(json!([{"ip": "203.0.113.10", "ipMode": "VIP"}])),
            ),
            observe("c2", &service(json!([{"hostname": "web.c2.example.com"}]))),
            observe("c3", &service(json!([]))),
        ];
        placed[1].stale = true;
        let a = aggregate(AggregateKind::Service, &placed);
        assert_eq!(a.condition, None);
        assert_eq!(a.status.clusters, "2/3");
        assert_eq!(
            serde_json::to_value(&a.status).expect("json"),
            json!({
                "clusters": "2/3",
                "loadBalancer": [{"cluster": "c1", "ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}]
            })
        );
    }

    #[test]
    fn other_types_only_count_clusters() {
        let placed = [
            ClusterObservation {
                cluster: "c1".into(),
                ..Default::default()
            },
            ClusterObservation {
                cluster: "c2".into(),
                propagation: "UpdateFailed".into(),
                ..Default::default()
            },
        ];
        let a = aggregate(AggregateKind::Other, &placed);
        assert_eq!(
            a.status,
            AggregateStatus {
                clusters: "1/2".into(),
                ..Default::default()
            }
        );
        assert_eq!(a.condition, None);
        assert_eq!(aggregate(AggregateKind::Other, &[]).status.clusters, "0/0");
    }

    #[test]
    fn any_type_with_a_readiness_signal_counts_ready_clusters() {
        let member = |cluster: &str, ready: &str| ClusterObservation {
            cluster: cluster.into(),
            generation: Some(1),
            remote_status: Some(json!({"observedGeneration": 1,
                "conditions": [{"type": "Ready", "status": ready}]})),
            ..Default::default()
        };
        let mut placed = vec![
            member("c1", "True"),
            member("c2", "True"),
            member("c3", "False"),
        ];
        let a = aggregate(AggregateKind::Other, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("2/3"));
        assert_eq!(a.status.clusters, "3/3");
        assert_eq!(
            a.condition,
            Some(Summary {
                type_: READY_CONDITION,
                status: false,
                reason: "ClustersNotReady"
            })
        );
        placed[2] = member("c3", "True");
        let a = aggregate(AggregateKind::Other, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("3/3"));
        assert_eq!(
            a.condition.map(|c| (c.status, c.reason)),
            Some((true, "AllClustersReady"))
        );
        // An unreachable member counts as not ready, with its last status kept.
        placed[0].stale = true;
        placed[0].propagation = "ClusterNotReady".into();
        let a = aggregate(AggregateKind::Other, &placed);
        assert_eq!(a.status.ready.as_deref(), Some("2/3"));
        assert_eq!(a.condition.map(|c| c.reason), Some("ClusterUnreachable"));
        // A member that has not reported yet is not ready.
        placed[0] = ClusterObservation {
            cluster: "c1".into(),
            ..Default::default()
        };
        assert_eq!(
            aggregate(AggregateKind::Other, &placed)
                .status
                .ready
                .as_deref(),
            Some("2/3")
        );
    }

    #[test]
    fn observed_generation_waits_for_every_reachable_member() {
        let kind = AggregateKind::Replicated;
        // Federated generation 5 applied; c2's deployment controller has not caught up.
        let mut lagging = deployment(4, 5, 5);
        lagging["status"]["observedGeneration"] = json!(3);
        let mut placed = replicated(&[("c1", deployment(7, 3, 3)), ("c2", lagging)]);
        assert_eq!(observed_generation(kind, 5, Some(4), &placed), Some(4));
        assert_eq!(observed_generation(kind, 5, None, &placed), None);
        // Member status not seen yet: Deployments always report it, so not caught up.
        placed[1].remote_status = None;
        assert_eq!(observed_generation(kind, 5, Some(4), &placed), Some(4));
        // Caught up.
        placed[1] = observe("c2", &deployment(4, 5, 5));
        assert_eq!(observed_generation(kind, 5, Some(4), &placed), Some(5));
        // Not yet propagated to c1.
        placed[0].propagation = "UpdateFailed".into();
        assert_eq!(observed_generation(kind, 5, Some(4), &placed), Some(4));
        // An offline member does not hold it back.
        placed[0].stale = true;
        placed[0].propagation = "ClusterNotReady".into();
        assert_eq!(observed_generation(kind, 5, Some(4), &placed), Some(5));
        assert_eq!(observed_generation(kind, 5, Some(4), &[]), Some(5));
    }

    #[test]
    fn observed_generation_without_member_observed_generation() {
        // Services and Jobs do not report status.observedGeneration: in sync is enough.
        let placed = [ClusterObservation {
            cluster: "c1".into(),
            generation: Some(2),
            remote_status: Some(json!({"loadBalancer": {}})),
            ..Default::default()
        }];
        assert_eq!(
            observed_generation(AggregateKind::Service, 3, Some(2), &placed),
            Some(3)
        );
        let mut unsynced = placed.clone();
        unsynced[0].propagation = "CreationFailed".into();
        assert_eq!(
            observed_generation(AggregateKind::Job, 3, Some(2), &unsynced),
            Some(2)
        );
        // Other types are checked when they do report it.
        let mut custom = placed.clone();
        custom[0].remote_status = Some(json!({"observedGeneration": 1}));
        assert_eq!(
            observed_generation(AggregateKind::Other, 3, Some(2), &custom),
            Some(2)
        );
    }
}
