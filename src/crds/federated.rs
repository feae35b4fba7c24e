//! The shape shared by every `Federated<Kind>` (`types.kubefed.io/v1beta1`).
//!
//! Federated types are generated per target type and handled as dynamic objects at run time;
//! these types are the typed view of their `spec` and `status`, used by the pure placement,
//! override and status functions and by the CRD generator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// API group of every generated federated type.
pub const FEDERATED_GROUP: &str = "types.kubefed.io";
/// API version of every generated federated type.
pub const FEDERATED_VERSION: &str = "v1beta1";

/// `spec` of a `Federated<Kind>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedSpec {
    /// The object to create in member clusters, without name and namespace (taken from the
    /// federated object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// Which member clusters the object is placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Per-cluster JSON patches applied to the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideItem>,
    /// Leave `spec.replicas` as each member has it (Deployment and ReplicaSet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_replicas: Option<bool>,
}

/// `spec.placement`: an explicit cluster list, or a selector over KubeFedCluster labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Names of member clusters. When present (even empty) it wins over `clusterSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Vec<ClusterReference>>,
    /// Selects member clusters by their KubeFedCluster labels; `{}` selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
}

/// A member cluster named in `spec.placement.clusters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterReference {
    /// Name of the KubeFedCluster.
    pub name: String,
}

/// The overrides for one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverrideItem {
    /// Name of the KubeFedCluster the overrides apply to.
    pub cluster_name: String,
    /// JSON patch operations applied, in order, to the template for this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_overrides: Vec<ClusterOverride>,
}

/// One RFC 6902 operation of an override.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterOverride {
    /// `add`, `remove` or `replace`; empty means `replace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// JSON pointer into the member object, e.g. `/spec/replicas`.
    pub path: String,
    /// The value to add or replace with; absent for `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// `status` of a `Federated<Kind>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedStatus {
    /// The generation of the federated object that every placed member has caught up with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions of the federated object; the `Propagation` condition summarises the sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<FederatedCondition>,
    /// One entry per placed member cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterStatus>,
    /// Totals across placed member clusters (not in KubeFed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateStatus>,
}

/// A condition of a federated object, in KubeFed's shape (timestamps as RFC 3339 strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCondition {
    /// Condition type, e.g. `Propagation`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Empty on success, else e.g. `CheckClusters` or `NamespaceNotFederated`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What the reason means for this object, e.g. which input cannot be read (not in KubeFed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the condition was last computed with a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Propagation status of the federated object in one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Name of the KubeFedCluster.
    pub name: String,
    /// Empty when in sync, else a reason such as `ClusterNotReady` or `UpdateFailed`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Why the cluster is not in sync, e.g. the member API's error (not in KubeFed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The member object's own `.status`, when status collection is enabled for the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_status: Option<Value>,
    /// The member object's `metadata.generation` after the operator's last apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The member object's `status.observedGeneration`, for types that report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The member cluster is unreachable; `remoteStatus` is the last one seen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// When the member was last reachable (RFC 3339); set only while `stale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// Which aggregate a federated type gets, chosen from its target type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// `apps/v1` Deployment and ReplicaSet: replica totals and a `Ready` condition.
    Replicated,
    /// `batch/v1` Job: pod outcome totals and a `Complete` condition.
    Job,
    /// Core `v1` Service: load-balancer ingress per cluster.
    Service,
    /// Everything else: only the propagated cluster count.
    Other,
}

impl AggregateKind {
    /// The aggregate for a target type given by API group and kind.
    pub fn of(group: &str, kind: &str) -> Self {
        match (group, kind) {
            ("apps", "Deployment" | "ReplicaSet") => Self::Replicated,
            ("batch", "Job") => Self::Job,
            ("", "Service") => Self::Service,
            _ => Self::Other,
        }
    }
}

/// `status.aggregate`: totals across the placed member clusters.
///
/// Which fields are set depends on the [`AggregateKind`] of the target type; `clusters` is
/// always set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregateStatus {
    /// `<in sync>/<placed>`: placed members that are reachable and in sync, over placed members.
    pub clusters: String,
    /// `<ready>/<desired>` replicas across members, as `kubectl get deployment` shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Desired replicas summed over placed members (their `spec.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i64>,
    /// Sum of members' `status.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// Sum of members' `status.readyReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i64>,
    /// Sum of members' `status.availableReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i64>,
    /// Sum of members' `status.updatedReplicas` (Deployments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i64>,
    /// Sum of members' `status.succeeded` (Jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i64>,
    /// Sum of members' `status.failed` (Jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i64>,
    /// Sum of members' `status.active` (Jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<i64>,
    /// Load-balancer ingress points per member cluster (Services of type LoadBalancer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer: Vec<ClusterLoadBalancer>,
}

/// The load-balancer ingress points of a Service in one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterLoadBalancer {
    /// Name of the KubeFedCluster.
    pub cluster: String,
    /// The member Service's `status.loadBalancer.ingress`, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Value>,
}

/// Label put on every member object the operator manages.
pub const MANAGED_LABEL: &str = "kubefed.io/managed";
/// Annotation on a federated object: delete it but leave its member objects.
pub const ORPHAN_ANNOTATION: &str = "kubefed.io/orphan";
/// Annotation on a federated object: JSON DeleteOptions used when deleting member objects.
pub const DELETE_OPTION_ANNOTATION: &str = "kubefed.io/deleteoption";
/// Annotation on a federated object: `"true"` stops every member write for it (creation,
/// update, drift repair, deletion, unlabelling) while its status keeps being collected.
pub const PAUSED_ANNOTATION: &str = "kubefed.io/paused";
/// Finalizer the sync controller holds on federated objects.
pub const SYNC_FINALIZER: &str = "kubefed.io/sync-controller";
