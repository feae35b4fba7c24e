//! `ReplicaSchedulingPreference` (`scheduling.kubefed.io/v1alpha1`): spreads the replicas of a
//! FederatedDeployment or FederatedReplicaSet of the same namespace/name over member clusters.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::federated::FederatedCondition;

/// Key of `spec.clusters` that applies to every cluster not named explicitly.
pub const ALL_CLUSTERS: &str = "*";

/// Desired spread of a federated workload's replicas.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "scheduling.kubefed.io",
    version = "v1alpha1",
    kind = "ReplicaSchedulingPreference",
    plural = "replicaschedulingpreferences",
    shortname = "rsp",
    namespaced,
    status = "ReplicaSchedulingPreferenceStatus",
    derive = "PartialEq",
    doc = "ReplicaSchedulingPreference spreads the replicas of the federated workload with the same namespace and name over member clusters.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetKind"),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".spec.totalReplicas"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSchedulingPreferenceSpec {
    /// Kind of the federated workload driven: `FederatedDeployment` or `FederatedReplicaSet`.
    pub target_kind: TargetKind,
    /// Replicas to distribute across the clusters.
    pub total_replicas: i32,
    /// Move replicas already running in a cluster when a better spread exists. When false,
    /// only new replicas are distributed by weight.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rebalance: bool,
    /// Per-cluster preferences keyed by cluster name, or `*` for every other cluster. Empty
    /// means `{"*": {weight: 1}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clusters: BTreeMap<String, ClusterPreferences>,
    /// Only schedule onto clusters that also match the federated object's
    /// `placement.clusterSelector`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub intersect_with_cluster_selector: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// The federated workload kinds an RSP can drive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TargetKind {
    /// A `FederatedDeployment`.
    #[default]
    FederatedDeployment,
    /// A `FederatedReplicaSet`.
    FederatedReplicaSet,
}

/// Replica preferences for one cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPreferences {
    /// Replicas the cluster gets before weights are applied.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_replicas: i64,
    /// Upper bound of replicas in the cluster; unbounded when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<i64>,
    /// Relative share of the replicas left after the minimums.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
}

/// Observed state of an RSP (an addition over KubeFed, which had none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSchedulingPreferenceStatus {
    /// The generation of the RSP the plan was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The replicas planned per cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plan: BTreeMap<String, i64>,
    /// Replicas each listed cluster was seen able to run at most (its rollout got stuck with
    /// fewer available). Remembered so the plan does not move replicas back to a full cluster
    /// once the shortfall is gone; cleared when the RSP changes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, i64>,
    /// Conditions of the scheduling, e.g. whether the target federated object exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<FederatedCondition>,
}
