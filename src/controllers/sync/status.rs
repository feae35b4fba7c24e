//! Propagation status: KubeFed's vocabulary, and the federated object's `status` computed from
//! per-cluster outcomes, written only when it changed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

use crate::crds::federated::{ClusterStatus, FederatedCondition, FederatedStatus};

/// Type of the condition summarising propagation.
pub const PROPAGATION_CONDITION: &str = "Propagation";

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The exact string KubeFed writes to the API.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

/// A status string that is not part of KubeFed's vocabulary.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

string_enum! {
    /// Propagation status of a federated object in one member cluster
    /// (`status.clusters[].status`).
    PropagationStatus {
        /// In sync; written as the empty string.
        #[default]
        Ok => "",
        /// The object was removed from placement and its deletion is pending.
        WaitingForRemoval => "WaitingForRemoval",
        /// The member cluster is not ready.
        ClusterNotReady => "ClusterNotReady",
        /// The member object could not be read from the watch cache.
        CachedRetrievalFailed => "CachedRetrievalFailed",
        /// The member object could not be computed from the template.
        ComputeResourceFailed => "ComputeResourceFailed",
        /// The cluster's overrides could not be applied.
        ApplyOverridesFailed => "ApplyOverridesFailed",
        /// Creating the member object failed.
        CreationFailed => "CreationFailed",
        /// Updating the member object failed.
        UpdateFailed => "UpdateFailed",
        /// Deleting the member object failed.
        DeletionFailed => "DeletionFailed",
        /// Removing the managed label (orphaning) failed.
        LabelRemovalFailed => "LabelRemovalFailed",
        /// Reading the member object from the API failed.
        RetrievalFailed => "RetrievalFailed",
        /// An unmanaged object of the same name exists and adoption is disabled.
        AlreadyExists => "AlreadyExists",
        /// Fields to retain could not be copied from the member object.
        FieldRetentionFailed => "FieldRetentionFailed",
        /// The propagated version could not be read.
        VersionRetrievalFailed => "VersionRetrievalFailed",
        /// No client for the member cluster.
        ClientRetrievalFailed => "ClientRetrievalFailed",
        /// The member object is labelled `kubefed.io/managed: "false"`.
        ManagedLabelFalse => "ManagedLabelFalse",
        /// Creation did not finish in time.
        CreationTimedOut => "CreationTimedOut",
        /// Update did not finish in time.
        UpdateTimedOut => "UpdateTimedOut",
        /// Deletion did not finish in time.
        DeletionTimedOut => "DeletionTimedOut",
        /// Managed-label removal did not finish in time.
        LabelRemovalTimedOut => "LabelRemovalTimedOut",
    }
}

string_enum! {
    /// Reason of the `Propagation` condition.
    AggregateReason {
        /// Everything propagated; written as the empty string.
        #[default]
        Success => "",
        /// The list of member clusters could not be read.
        ClusterRetrievalFailed => "ClusterRetrievalFailed",
        /// Placement could not be computed (e.g. an invalid cluster selector).
        ComputePlacementFailed => "ComputePlacementFailed",
        /// At least one cluster is not in sync; see `status.clusters`.
        CheckClusters => "CheckClusters",
        /// The object's namespace has no FederatedNamespace (Cluster scope).
        NamespaceNotFederated => "NamespaceNotFederated",
    }
}

/// What one sync pass found, to be turned into the object's status.
#[derive(Clone, Copy, Debug)]
pub struct StatusInput<'a> {
    /// The federated object's current `status`, if any.
    pub previous: Option<&'a FederatedStatus>,
    /// The federated object's `metadata.generation`.
    pub generation: i64,
    /// Outcome per placed cluster (and per cluster still being removed).
    pub clusters: &'a BTreeMap<String, PropagationStatus>,
    /// The aggregate reason; `Success` becomes `CheckClusters` if any cluster is not `Ok`.
    pub reason: AggregateReason,
    /// Whether this pass wrote to any member (a change was propagated).
    pub resources_updated: bool,
    /// Members' own status per cluster, when the caller collects it; `None` keeps each
    /// cluster's previous `remoteStatus` (the status controller owns that field).
    pub remote_status: Option<&'a BTreeMap<String, Value>>,
    /// The current time, RFC 3339.
    pub now: &'a str,
}

/// Computes the new `status`.
///
/// - `clusters` sorted by name, `remoteStatus` passed through;
/// - `Propagation` condition: `True` with reason `""` when everything is in sync, else `False`
///   with the reason; `lastTransitionTime` moves only when status or reason changes (as in
///   KubeFed), `lastUpdateTime` only when something changed or was propagated; other
///   conditions are kept;
/// - `observedGeneration` advances to `generation` only when every placed member is in sync.
pub fn compute_status(input: &StatusInput<'_>) -> FederatedStatus {
    let prev = input.previous.cloned().unwrap_or_default();
    let mut reason = input.reason;
    if reason == AggregateReason::Success
        && input.clusters.values().any(|s| *s != PropagationStatus::Ok)
    {
        reason = AggregateReason::CheckClusters;
    }
    let prev_remote: BTreeMap<&str, &Value> = prev
        .clusters
        .iter()
        .filter_map(|c| Some((c.name.as_str(), c.remote_status.as_ref()?)))
        .collect();
    let clusters: Vec<ClusterStatus> = input
        .clusters
        .iter()
        .map(|(name, status)| ClusterStatus {
            name: name.clone(),
            status: status.as_str().to_owned(),
            remote_status: match input.remote_status {
                Some(remote) => remote.get(name).cloned(),
                None => prev_remote.get(name.as_str()).map(|v| (*v).clone()),
            },
            ..Default::default()
        })
        .collect();
    // Only what this function owns counts as a change: the collected fields of each entry
    // (remote status, generations) are another step's and must not move lastUpdateTime.
    let outcome_of = |c: &ClusterStatus| (c.name.clone(), c.status.clone());
    let clusters_changed = clusters
        .iter()
        .map(outcome_of)
        .ne(prev.clusters.iter().map(outcome_of));

    let observed_generation = if reason == AggregateReason::Success {
        Some(input.generation)
    } else {
        prev.observed_generation
    };

    let new_status = if reason == AggregateReason::Success {
        "True"
    } else {
        "False"
    };
    let old = prev
        .conditions
        .iter()
        .find(|c| c.type_ == PROPAGATION_CONDITION);
    let transition = old.is_none_or(|c| c.status != new_status || c.reason != reason.as_str());
    // observedGeneration is deliberately not part of this: when members are slow to observe a
    // generation, moving lastUpdateTime on every pass would write the status (and trigger
    // another pass) in a loop.
    let updated = transition || clusters_changed || input.resources_updated;
    let keep_or_now = |t: Option<&Option<String>>, changed: bool| match t {
        Some(Some(t)) if !changed => Some(t.clone()),
        _ => Some(input.now.to_owned()),
    };
    let condition = FederatedCondition {
        type_: PROPAGATION_CONDITION.to_owned(),
        status: new_status.to_owned(),
        reason: reason.as_str().to_owned(),
        last_update_time: keep_or_now(old.map(|c| &c.last_update_time), updated),
        last_transition_time: keep_or_now(old.map(|c| &c.last_transition_time), transition),
    };
    let mut conditions = prev.conditions.clone();
    match conditions
        .iter_mut()
        .find(|c| c.type_ == PROPAGATION_CONDITION)
    {
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
    FederatedStatus {
        observed_generation,
        conditions,
        clusters,
        ..Default::default()
    }
}

/// Whether `new` differs from the stored status, i.e. whether a status write is needed.
pub fn status_changed(old: Option<&FederatedStatus>, new: &FederatedStatus) -> bool {
    match old {
        Some(old) => old != new,
        None => *new != FederatedStatus::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:01:00Z";
    const T2: &str = "2026-01-01T00:02:00Z";

    fn outcomes(v: &[(&str, PropagationStatus)]) -> BTreeMap<String, PropagationStatus> {
        v.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    fn input<'a>(
        previous: Option<&'a FederatedStatus>,
        clusters: &'a BTreeMap<String, PropagationStatus>,
        now: &'a str,
    ) -> StatusInput<'a> {
        StatusInput {
            previous,
            generation: 1,
            clusters,
            reason: AggregateReason::Success,
            resources_updated: false,
            remote_status: None,
            now,
        }
    }

    fn propagation(s: &FederatedStatus) -> &FederatedCondition {
        s.conditions
            .iter()
            .find(|c| c.type_ == PROPAGATION_CONDITION)
            .unwrap()
    }

    #[test]
    fn collected_fields_and_slow_members_do_not_move_last_update_time() {
        let c = outcomes(&[("a", PropagationStatus::Ok)]);
        let mut first = compute_status(&input(None, &c, T0));
        // What the collection step adds, and a generation the members have not observed yet.
        first.clusters[0].generation = Some(1);
        first.observed_generation = None;
        let second = compute_status(&input(Some(&first), &c, T1));
        assert_eq!(propagation(&second).last_update_time.as_deref(), Some(T0));
    }

    #[test]
    fn vocabulary_matches_kubefed_strings() {
        use PropagationStatus as P;
        assert_eq!(P::Ok.as_str(), "");
        assert_eq!(P::ClusterNotReady.as_str(), "ClusterNotReady");
        assert_eq!(P::LabelRemovalTimedOut.as_str(), "LabelRemovalTimedOut");
        assert_eq!(P::ALL.len(), 20);
        for s in P::ALL {
            assert_eq!(s.as_str().parse::<P>(), Ok(*s));
        }
        assert_eq!(AggregateReason::Success.as_str(), "");
        assert_eq!(AggregateReason::ALL.len(), 5);
        for r in AggregateReason::ALL {
            assert_eq!(r.to_string().parse::<AggregateReason>(), Ok(*r));
        }
        assert!("Bogus".parse::<P>().is_err());
    }

    #[test]
    fn success_sets_true_condition_sorted_clusters_and_generation() {
        let o = outcomes(&[("b", PropagationStatus::Ok), ("a", PropagationStatus::Ok)]);
        let s = compute_status(&input(None, &o, T0));
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(
            s.clusters
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let c = propagation(&s);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", ""));
        assert_eq!(c.last_transition_time.as_deref(), Some(T0));
        assert_eq!(c.last_update_time.as_deref(), Some(T0));
        assert!(status_changed(None, &s));
        // Serialises in KubeFed's shape: empty status and reason are omitted.
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["clusters"][0], json!({"name": "a"}));
        assert!(v["conditions"][0].get("reason").is_none());
    }

    #[test]
    fn failed_cluster_means_check_clusters_and_generation_holds() {
        let ok = outcomes(&[("a", PropagationStatus::Ok)]);
        let first = compute_status(&input(None, &ok, T0));
        let bad = outcomes(&[
            ("a", PropagationStatus::Ok),
            ("b", PropagationStatus::CreationFailed),
        ]);
        let mut i = input(Some(&first), &bad, T1);
        i.generation = 2;
        let s = compute_status(&i);
        let c = propagation(&s);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "CheckClusters")
        );
        assert_eq!(c.last_transition_time.as_deref(), Some(T1));
        assert_eq!(s.observed_generation, Some(1), "not every member caught up");
        assert_eq!(s.clusters[1].status, "CreationFailed");
    }

    #[test]
    fn unchanged_pass_changes_nothing() {
        let o = outcomes(&[("a", PropagationStatus::Ok)]);
        let first = compute_status(&input(None, &o, T0));
        let again = compute_status(&input(Some(&first), &o, T1));
        assert_eq!(again, first);
        assert!(!status_changed(Some(&first), &again));
    }

    #[test]
    fn propagated_change_moves_update_time_only() {
        let o = outcomes(&[("a", PropagationStatus::Ok)]);
        let first = compute_status(&input(None, &o, T0));
        let mut i = input(Some(&first), &o, T1);
        i.resources_updated = true;
        let s = compute_status(&i);
        let c = propagation(&s);
        assert_eq!(c.last_transition_time.as_deref(), Some(T0));
        assert_eq!(c.last_update_time.as_deref(), Some(T1));
        assert!(status_changed(Some(&first), &s));
    }

    #[test]
    fn reason_change_with_same_status_is_a_transition() {
        let none = BTreeMap::new();
        let mut i = input(None, &none, T0);
        i.reason = AggregateReason::ComputePlacementFailed;
        let first = compute_status(&i);
        assert_eq!(first.observed_generation, None);
        let mut i = input(Some(&first), &none, T1);
        i.reason = AggregateReason::NamespaceNotFederated;
        let s = compute_status(&i);
        let c = propagation(&s);
        assert_eq!(c.status, "False");
        assert_eq!(c.reason, "NamespaceNotFederated");
        assert_eq!(c.last_transition_time.as_deref(), Some(T1));
        // Recovery.
        let o = outcomes(&[("a", PropagationStatus::Ok)]);
        let s2 = compute_status(&input(Some(&s), &o, T2));
        assert_eq!(propagation(&s2).status, "True");
        assert_eq!(propagation(&s2).last_transition_time.as_deref(), Some(T2));
        assert_eq!(s2.observed_generation, Some(1));
    }

    #[test]
    fn cluster_set_change_updates_but_does_not_transition() {
        let a = outcomes(&[("a", PropagationStatus::Ok)]);
        let first = compute_status(&input(None, &a, T0));
        let ab = outcomes(&[("a", PropagationStatus::Ok), ("b", PropagationStatus::Ok)]);
        let s = compute_status(&input(Some(&first), &ab, T1));
        let c = propagation(&s);
        assert_eq!(c.last_transition_time.as_deref(), Some(T0));
        assert_eq!(c.last_update_time.as_deref(), Some(T1));
    }

    #[test]
    fn remote_status_is_passed_through_and_other_conditions_kept() {
        let o = outcomes(&[("a", PropagationStatus::Ok), ("b", PropagationStatus::Ok)]);
        let mut prev = compute_status(&input(None, &o, T0));
        prev.clusters[0].remote_status = Some(json!({"readyReplicas": 2}));
        prev.conditions.insert(
            0,
            FederatedCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            },
        );
        let s = compute_status(&input(Some(&prev), &o, T1));
        assert_eq!(s, prev, "nothing changed");
        assert_eq!(
            s.clusters[0].remote_status,
            Some(json!({"readyReplicas": 2}))
        );
        assert_eq!(s.conditions[0].type_, "Ready");

        let remote: BTreeMap<String, Value> = [("b".to_owned(), json!({"x": 1}))].into();
        let mut i = input(Some(&prev), &o, T1);
        i.remote_status = Some(&remote);
        let s = compute_status(&i);
        assert_eq!(s.clusters[0].remote_status, None);
        assert_eq!(s.clusters[1].remote_status, Some(json!({"x": 1})));
        assert!(status_changed(Some(&prev), &s));
    }

    #[test]
    fn status_changed_on_empty() {
        assert!(!status_changed(None, &FederatedStatus::default()));
        let d = FederatedStatus::default();
        assert!(!status_changed(Some(&d), &FederatedStatus::default()));
    }
}
