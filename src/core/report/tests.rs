//! Tests of the status report: what is written, and that nothing is when only timestamps
//! would change.

use super::*;
use crate::core::plan::{Action, FinalizerStep, Plan};
use crate::crds::federated::{AggregateKind, FederatedCondition};
use serde_json::{Value, json};

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:05:00Z";
const T2: &str = "2026-01-01T00:10:00Z";

fn ok() -> Entry {
    Entry::Show {
        status: PropagationStatus::Ok,
        message: None,
    }
}

fn placed(entry: Entry) -> ClusterPlan {
    ClusterPlan {
        action: Action::LeaveAlone,
        entry,
        placed: true,
        desired_replicas: None,
        stale: false,
        generation: Some(1),
        remote_status: None,
        holds_deletion: false,
    }
}

fn sync_plan(clusters: Vec<(&str, ClusterPlan)>) -> Plan {
    Plan {
        disposition: Disposition::Sync,
        finalizer: FinalizerStep::Keep,
        clusters: clusters
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
        blocked: None,
        warnings: vec![],
        generation: 1,
        aggregate: AggregateKind::Other,
        paused: None,
    }
}

fn condition<'a>(s: &'a FederatedStatus, type_: &str) -> &'a FederatedCondition {
    s.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

fn none() -> BTreeMap<String, Outcome> {
    BTreeMap::new()
}

#[test]
fn first_pass_writes_and_a_converged_pass_writes_nothing() {
    let plan = sync_plan(vec![("c1", placed(ok())), ("c2", placed(ok()))]);
    let first = next_status(None, &plan, &none(), T0).expect("first status");
    let c = condition(&first, PROPAGATION_CONDITION);
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", ""));
    assert_eq!(c.last_update_time.as_deref(), Some(T0));
    assert_eq!(first.observed_generation, Some(1));
    assert_eq!(first.aggregate.as_ref().unwrap().clusters, "2/2");
    let names: Vec<&str> = first.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["c1", "c2"]);
    // The same pass later (e.g. after a restart): nothing to write.
    assert_eq!(next_status(Some(&first), &plan, &none(), T1), None);
}

#[test]
fn a_failure_names_the_cluster_and_its_message() {
    let plan = sync_plan(vec![("c1", placed(ok())), ("c2", placed(ok()))]);
    let first = next_status(None, &plan, &none(), T0).unwrap();
    let failed = BTreeMap::from([(
        "c2".to_string(),
        Outcome::Failed {
            status: PropagationStatus::CreationFailed,
            message: "admission webhook denied the request".into(),
        },
    )]);
    let s = next_status(Some(&first), &plan, &failed, T1).unwrap();
    let c = condition(&s, PROPAGATION_CONDITION);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
        ("False", "CheckClusters", "not in sync in cluster c2")
    );
    assert_eq!(c.last_transition_time.as_deref(), Some(T1));
    assert_eq!(s.clusters[1].status, "CreationFailed");
    assert_eq!(
        s.clusters[1].message.as_deref(),
        Some("admission webhook denied the request")
    );
    assert_eq!(s.aggregate.as_ref().unwrap().clusters, "1/2");
    // The same failure again (a retry): nothing new to write.
    assert_eq!(next_status(Some(&s), &plan, &failed, T2), None);
}

#[test]
fn last_update_time_moves_only_with_the_condition_content() {
    let mut plan = sync_plan(vec![("c1", placed(ok()))]);
    plan.aggregate = AggregateKind::Replicated;
    let member = |ready: i64| {
        Some(
            json!({"replicas": 3, "readyReplicas": ready, "availableReplicas": ready,
            "updatedReplicas": 3, "observedGeneration": 1}),
        )
    };
    plan.clusters.get_mut("c1").unwrap().remote_status = member(1);
    plan.clusters.get_mut("c1").unwrap().desired_replicas = Some(3);
    let first = next_status(None, &plan, &none(), T0).unwrap();
    // The member's status changes: written, but Propagation keeps its timestamps.
    plan.clusters.get_mut("c1").unwrap().remote_status = member(3);
    let second = next_status(Some(&first), &plan, &none(), T1).expect("remote status changed");
    assert_eq!(
        condition(&second, PROPAGATION_CONDITION),
        condition(&first, PROPAGATION_CONDITION)
    );
    assert_eq!(
        second.aggregate.as_ref().unwrap().ready.as_deref(),
        Some("3/3")
    );
    let ready = condition(&second, "Ready");
    assert_eq!(ready.status, "True");
    assert_eq!(ready.last_transition_time.as_deref(), Some(T1));
}

#[test]
fn blocked_input_keeps_the_clusters_and_says_why() {
    let plan = sync_plan(vec![("c1", placed(ok()))]);
    let before = next_status(None, &plan, &none(), T0).unwrap();
    let mut blocked = sync_plan(vec![]);
    blocked.blocked = Some(crate::core::plan::Blocked {
        reason: AggregateReason::ComputePlacementFailed,
        message: "the spec of FederatedNamespace \"demo\" cannot be read".into(),
    });
    let s = next_status(Some(&before), &blocked, &none(), T1).unwrap();
    assert_eq!(s.clusters, before.clusters);
    assert_eq!(s.aggregate, before.aggregate);
    assert_eq!(s.observed_generation, before.observed_generation);
    let c = condition(&s, PROPAGATION_CONDITION);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ComputePlacementFailed")
    );
    assert!(c.message.contains("cannot be read"));
    assert_eq!(next_status(Some(&s), &blocked, &none(), T2), None);
}

#[test]
fn a_waiting_cluster_keeps_its_entry_or_has_none() {
    let mut stale = placed(Entry::Show {
        status: PropagationStatus::ClusterNotReady,
        message: None,
    });
    stale.stale = true;
    let plan = sync_plan(vec![("c1", placed(ok())), ("c2", stale)]);
    let before = next_status(None, &plan, &none(), T0).unwrap();
    assert!(before.clusters[1].stale);
    let waiting = sync_plan(vec![
        ("c1", placed(ok())),
        ("c2", placed(Entry::Keep)),
        ("c3", placed(Entry::Keep)),
    ]);
    assert_eq!(next_status(Some(&before), &waiting, &none(), T1), None);
    let fresh = next_status(None, &waiting, &none(), T1).unwrap();
    assert_eq!(fresh.clusters.len(), 1, "no entry for what was never seen");
}

#[test]
fn a_settled_outcome_replaces_the_planned_entry() {
    let plan = sync_plan(vec![("c1", placed(ok()))]);
    let settled = BTreeMap::from([(
        "c1".to_string(),
        Outcome::Settled(Entry::Show {
            status: PropagationStatus::AlreadyExists,
            message: Some("exists".into()),
        }),
    )]);
    let s = next_status(None, &plan, &settled, T0).unwrap();
    assert_eq!(s.clusters[0].status, "AlreadyExists");
    assert_eq!(s.observed_generation, None, "not in sync: not observed");
}

#[test]
fn removal_entries_are_shown_but_not_counted() {
    let removing = ClusterPlan {
        placed: false,
        ..placed(Entry::Show {
            status: PropagationStatus::WaitingForRemoval,
            message: None,
        })
    };
    let plan = sync_plan(vec![("c1", placed(ok())), ("old", removing)]);
    let s = next_status(None, &plan, &none(), T0).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        v["clusters"],
        json!([{"name": "c1", "generation": 1}, {"name": "old", "status": "WaitingForRemoval"}])
    );
    assert_eq!(v["aggregate"]["clusters"], "1/1");
    assert_eq!(condition(&s, PROPAGATION_CONDITION).reason, "CheckClusters");
}

#[test]
fn ignored_and_waiting_plans_write_nothing() {
    let mut plan = sync_plan(vec![("c1", placed(ok()))]);
    plan.disposition = Disposition::Ignore;
    assert_eq!(next_status(None, &plan, &none(), T0), None);
    plan.disposition = Disposition::Wait("loading".into());
    assert_eq!(next_status(None, &plan, &none(), T0), None);
}

#[test]
fn the_documented_shape() {
    let mut plan = sync_plan(vec![]);
    plan.aggregate = AggregateKind::Replicated;
    plan.generation = 2;
    let deployment = |ready: i64| -> Option<Value> {
        Some(
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
            "readyReplicas": ready, "availableReplicas": ready}),
        )
    };
    for (name, ready) in [("c1", 3), ("c2", 2)] {
        let mut c = placed(ok());
        c.generation = Some(2);
        c.desired_replicas = Some(3);
        c.remote_status = deployment(ready);
        plan.clusters.insert(name.into(), c);
    }
    let s = next_status(None, &plan, &none(), T0).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["observedGeneration"], 2);
    assert_eq!(v["aggregate"]["ready"], "5/6");
    assert_eq!(v["aggregate"]["clusters"], "2/2");
    assert_eq!(v["clusters"][1]["observedGeneration"], 2);
    assert_eq!(v["clusters"][1]["remoteStatus"]["availableReplicas"], 2);
    assert_eq!(condition(&s, "Ready").reason, "ReplicasUnavailable");
    assert_eq!(next_status(Some(&s), &plan, &none(), T1), None);
}

#[test]
fn paused_condition_says_what_is_held_back_and_resuming_clears_it() {
    let paused_entry = |verb: &str| {
        placed(Entry::Show {
            status: PropagationStatus::Paused,
            message: Some(format!("paused; would {verb}")),
        })
    };
    let mut plan = sync_plan(vec![
        ("c1", paused_entry("create")),
        ("c2", paused_entry("create")),
        ("c3", placed(ok())),
    ]);
    plan.paused = Some(crate::core::plan::Paused {
        pending: BTreeMap::from([("c1".to_string(), "create"), ("c2".to_string(), "create")]),
    });
    let s = next_status(None, &plan, &none(), T0).unwrap();
    let c = condition(&s, PAUSED_CONDITION);
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Paused"));
    assert_eq!(
        c.message,
        "member writes are stopped while kubefed.io/paused is \"true\"; held back: would create in 2 clusters: c1, c2"
    );
    assert_eq!(s.clusters[0].status, "Paused");
    assert_eq!(
        s.observed_generation, None,
        "held-back writes are not observed"
    );
    assert_eq!(condition(&s, PROPAGATION_CONDITION).reason, "CheckClusters");
    assert_eq!(next_status(Some(&s), &plan, &none(), T1), None);

    let resumed = sync_plan(vec![
        ("c1", placed(ok())),
        ("c2", placed(ok())),
        ("c3", placed(ok())),
    ]);
    let r = next_status(Some(&s), &resumed, &none(), T1).unwrap();
    let c = condition(&r, PAUSED_CONDITION);
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "Resumed"));
    assert_eq!(c.last_transition_time.as_deref(), Some(T1));
    // An object never paused gets no Paused condition.
    let never = next_status(None, &resumed, &none(), T0).unwrap();
    assert!(never.conditions.iter().all(|c| c.type_ != PAUSED_CONDITION));
}

#[test]
fn paused_deletion_says_the_finalizer_stays() {
    let mut plan = sync_plan(vec![(
        "c1",
        ClusterPlan {
            holds_deletion: true,
            placed: false,
            ..placed(Entry::Show {
                status: PropagationStatus::Paused,
                message: Some("paused; would delete".into()),
            })
        },
    )]);
    plan.disposition = Disposition::Delete;
    plan.paused = Some(crate::core::plan::Paused {
        pending: BTreeMap::from([("c1".to_string(), "delete")]),
    });
    let s = next_status(None, &plan, &none(), T0).unwrap();
    assert_eq!(
        condition(&s, PAUSED_CONDITION).message,
        "the deletion waits: member objects are kept and the finalizer stays while kubefed.io/paused is \"true\"; held back: would delete in cluster c1"
    );
}

#[test]
fn the_finalizer_waits_for_every_cluster_that_may_hold_the_object() {
    let holding = |action| ClusterPlan {
        holds_deletion: true,
        placed: false,
        action,
        ..placed(Entry::Show {
            status: PropagationStatus::WaitingForRemoval,
            message: None,
        })
    };
    let mut plan = sync_plan(vec![("c1", holding(Action::Delete(Default::default())))]);
    plan.disposition = Disposition::Delete;
    plan.finalizer = FinalizerStep::Remove;
    let done = BTreeMap::from([("c1".to_string(), Outcome::Done)]);
    assert!(!releases_finalizer(&plan, &done), "deleting, not gone yet");
    let gone = BTreeMap::from([("c1".to_string(), Outcome::Gone)]);
    assert!(releases_finalizer(&plan, &gone));
    // A cluster that does not hold it must still have succeeded.
    let mut unlabel = placed(Entry::Hidden);
    unlabel.action = Action::Unlabel;
    plan.clusters = BTreeMap::from([("c1".to_string(), unlabel)]);
    assert!(releases_finalizer(&plan, &done));
    let failed = BTreeMap::from([(
        "c1".to_string(),
        Outcome::Failed {
            status: PropagationStatus::LabelRemovalFailed,
            message: "x".into(),
        },
    )]);
    assert!(!releases_finalizer(&plan, &failed));
    plan.clusters.clear();
    assert!(releases_finalizer(&plan, &none()));
    plan.finalizer = FinalizerStep::Keep;
    assert!(!releases_finalizer(&plan, &none()));
}

#[test]
fn a_written_status_reads_back() {
    let plan = sync_plan(vec![("c1", placed(ok())), ("c2", placed(ok()))]);
    let s = next_status(None, &plan, &none(), T0).unwrap();
    let value = serde_json::to_value(&s).unwrap();
    let back: FederatedStatus = serde_json::from_value(value).unwrap();
    assert_eq!(back, s);
}
