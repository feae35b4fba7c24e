//! The status a reconciliation leaves on the federated object: from the previous status, the
//! plan and what executing it did, or nothing when nothing but timestamps would change.
//!
//! Shape of a `Federated<Kind>.status` (KubeFed's fields unchanged, additions marked `+`):
//!
//! ```yaml
//! status:
//!   observedGeneration: 4          # advances only when every placed, reachable member caught up
//!   conditions:
//!   - {type: Propagation, status: "False", reason: CheckClusters,
//!      message: "not in sync in cluster cluster2", lastUpdateTime: …, lastTransitionTime: …}
//!   - {type: Ready, status: "False", reason: ReplicasUnavailable, …}   # + (Complete for Jobs)
//!   clusters:
//!   - name: cluster1
//!     status: ""                  # propagation status, KubeFed's vocabulary
//!     remoteStatus: {…}           # the member's .status
//!     generation: 3               # + member metadata.generation after the last apply
//!     observedGeneration: 3       # + member status.observedGeneration
//!   - name: cluster2
//!     status: CachedRetrievalFailed
//!     message: "cannot watch widgets.example.com in cluster2: forbidden: …"   # +
//!     stale: true                 # + member cannot be seen; remoteStatus is the last one seen
//!     lastSeen: "2026-…Z"         # + when it was last seen (only while stale)
//!   aggregate: {clusters: "1/2", ready: "3/6", …}   # + see `aggregate`
//! ```

use std::collections::BTreeMap;

use super::aggregate::{ClusterObservation, aggregate, cluster_entry, observed_generation};
use super::condition::{Wanted, set_condition};
use super::events::in_clusters;
use super::plan::{ClusterPlan, Disposition, Entry, FinalizerStep, Plan};
use super::vocabulary::{
    AggregateReason, PAUSED_CONDITION, PROPAGATION_CONDITION, PropagationStatus,
};
use crate::crds::federated::{
    ClusterStatus, FederatedCondition, FederatedStatus, PAUSED_ANNOTATION,
};

/// What executing one cluster's action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The action succeeded (or there was none): the planned entry stands.
    Done,
    /// The action failed; the cluster shows this status and the API's message.
    Failed {
        status: PropagationStatus,
        message: String,
    },
    /// The executor learned more and the cluster shows this instead (e.g. a create met an
    /// object that is not the operator's).
    Settled(Entry),
    /// No answer in time: the request goes on, and the object is looked at again when it
    /// ends; nothing new is known, so the entry stays as it was.
    InFlight,
    /// A delete found nothing to delete: the object is not there.
    Gone,
}

/// Whether a deleted object's finalizer can be released after this pass: the plan says so,
/// every action succeeded, and every cluster that may still hold the object showed it is
/// gone.
pub fn releases_finalizer(plan: &Plan, outcomes: &BTreeMap<String, Outcome>) -> bool {
    plan.finalizer == FinalizerStep::Remove
        && plan.clusters.iter().all(|(cluster, planned)| {
            match (planned.holds_deletion, outcomes.get(cluster)) {
                (_, Some(Outcome::Gone)) => true,
                (true, _) => false,
                (false, outcome) => matches!(outcome, None | Some(Outcome::Done)),
            }
        })
}

/// The new status, or `None` when the stored one already says it all (timestamps move only
/// when the content of their condition changes, so an unchanged pass never writes).
pub fn next_status(
    previous: Option<&FederatedStatus>,
    plan: &Plan,
    outcomes: &BTreeMap<String, Outcome>,
    now: &str,
) -> Option<FederatedStatus> {
    let prev = previous.cloned().unwrap_or_default();
    let next = match plan.disposition {
        Disposition::Ignore | Disposition::Wait(_) => return None,
        _ if plan.blocked.is_some() => {
            // Nothing was observed or done: the clusters' entries stay as they were.
            let blocked = plan.blocked.as_ref()?;
            FederatedStatus {
                conditions: propagation(&prev, blocked.reason, &blocked.message, now),
                ..prev.clone()
            }
        }
        _ => synced_status(&prev, plan, outcomes, now),
    };
    let next = FederatedStatus {
        conditions: paused_condition(&next.conditions, plan, now),
        ..next
    };
    (next != prev).then_some(next)
}

/// The `Paused` condition: `True` while the object is paused, saying what is held back;
/// `False` (`Resumed`) once the annotation is gone. Objects never paused do not get it.
fn paused_condition(
    conditions: &[FederatedCondition],
    plan: &Plan,
    now: &str,
) -> Vec<FederatedCondition> {
    let (holds, reason, message) = match &plan.paused {
        Some(paused) => (true, "Paused", paused_message(plan, paused)),
        None if conditions.iter().any(|c| c.type_ == PAUSED_CONDITION) => {
            (false, "Resumed", String::new())
        }
        None => return conditions.to_vec(),
    };
    set_condition(
        conditions,
        &Wanted {
            type_: PAUSED_CONDITION,
            status: Wanted::status_word(holds),
            reason,
            message: &message,
        },
        &now.to_owned(),
    )
}

fn paused_message(plan: &Plan, paused: &super::plan::Paused) -> String {
    let mut by_verb: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (cluster, verb) in &paused.pending {
        by_verb.entry(verb).or_default().push(cluster.clone());
    }
    let held = if by_verb.is_empty() {
        "nothing is held back".to_string()
    } else {
        let parts: Vec<String> = by_verb
            .iter()
            .map(|(verb, clusters)| in_clusters(&format!("would {verb}"), clusters))
            .collect();
        format!("held back: {}", parts.join("; "))
    };
    let what = if plan.disposition == Disposition::Delete {
        "the deletion waits: member objects are kept and the finalizer stays while"
    } else {
        "member writes are stopped while"
    };
    format!("{what} {PAUSED_ANNOTATION} is \"true\"; {held}")
}

fn propagation(
    prev: &FederatedStatus,
    reason: AggregateReason,
    message: &str,
    now: &str,
) -> Vec<crate::crds::federated::FederatedCondition> {
    set_condition(
        &prev.conditions,
        &Wanted {
            type_: PROPAGATION_CONDITION,
            status: Wanted::status_word(reason == AggregateReason::Success),
            reason: reason.as_str(),
            message,
        },
        &now.to_owned(),
    )
}

/// The entry a cluster ends up with: the outcome's when it says more, else the plan's.
fn effective_entry(planned: &ClusterPlan, outcome: Option<&Outcome>) -> Entry {
    match outcome {
        Some(Outcome::Failed { status, message }) => Entry::Show {
            status: *status,
            message: Some(message.clone()),
        },
        Some(Outcome::Settled(entry)) => entry.clone(),
        Some(Outcome::InFlight) => Entry::Keep,
        Some(Outcome::Gone) => Entry::Hidden,
        Some(Outcome::Done) | None => planned.entry.clone(),
    }
}

fn synced_status(
    prev: &FederatedStatus,
    plan: &Plan,
    outcomes: &BTreeMap<String, Outcome>,
    now: &str,
) -> FederatedStatus {
    let previous: BTreeMap<&str, &ClusterStatus> =
        prev.clusters.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut entries: BTreeMap<String, ClusterStatus> = BTreeMap::new();
    let mut placed: Vec<ClusterObservation> = Vec::new();
    for (cluster, planned) in &plan.clusters {
        let before = previous.get(cluster.as_str()).copied();
        match effective_entry(planned, outcomes.get(cluster)) {
            Entry::Hidden => {}
            // Nothing new is known: the entry stays exactly as it was (if there was one).
            Entry::Keep => {
                if let Some(before) = before {
                    if planned.placed {
                        placed.push(ClusterObservation {
                            cluster: cluster.clone(),
                            propagation: before.status.clone(),
                            message: before.message.clone(),
                            stale: before.stale,
                            last_seen: before.last_seen.clone(),
                            desired_replicas: planned.desired_replicas,
                            generation: before.generation,
                            remote_status: before.remote_status.clone(),
                        });
                    }
                    entries.insert(cluster.clone(), before.clone());
                }
            }
            Entry::Show { status, message } if planned.placed => {
                placed.push(ClusterObservation {
                    cluster: cluster.clone(),
                    propagation: status.as_str().to_string(),
                    message,
                    stale: planned.stale,
                    last_seen: None,
                    desired_replicas: planned.desired_replicas,
                    generation: planned.generation,
                    remote_status: planned.remote_status.clone(),
                });
            }
            Entry::Show { status, message } => {
                entries.insert(
                    cluster.clone(),
                    ClusterStatus {
                        name: cluster.clone(),
                        status: status.as_str().to_string(),
                        message,
                        ..Default::default()
                    },
                );
            }
        }
    }
    for observation in &placed {
        let before = previous.get(observation.cluster.as_str()).copied();
        entries.insert(
            observation.cluster.clone(),
            cluster_entry(before, observation, now),
        );
    }
    let not_in_sync: Vec<String> = entries
        .values()
        .filter(|e| !e.status.is_empty())
        .map(|e| e.name.clone())
        .collect();
    let (reason, message) = if not_in_sync.is_empty() {
        (AggregateReason::Success, String::new())
    } else {
        (
            AggregateReason::CheckClusters,
            in_clusters("not in sync", &not_in_sync),
        )
    };
    let summary = aggregate(plan.aggregate, &placed);
    let mut conditions = propagation(prev, reason, &message, now);
    if let Some(summary) = &summary.condition {
        conditions = set_condition(
            &conditions,
            &Wanted {
                type_: summary.type_,
                status: Wanted::status_word(summary.status),
                reason: summary.reason,
                message: "",
            },
            &now.to_owned(),
        );
    }
    FederatedStatus {
        observed_generation: observed_generation(
            plan.aggregate,
            plan.generation,
            prev.observed_generation,
            &placed,
        ),
        conditions,
        clusters: entries.into_values().collect(),
        aggregate: Some(summary.status),
    }
}

#[cfg(test)]
mod tests;
