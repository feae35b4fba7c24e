//! `MemberWork` (`work.kubefed.io/v1alpha1`): what the host sends a pull member for one
//! federated object, and what the member's agent reports back. It lives in the member's own
//! host namespace ([`cluster_namespace`]), so the agent's credential can be scoped to it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// API group of the pull-mode objects.
pub const WORK_GROUP: &str = "work.kubefed.io";
/// Annotation on a KubeFedCluster: `"pull"` makes it a pull member (absent or anything else:
/// push). An annotation keeps the KubeFedCluster valid for KubeFed v0.10.
pub const MODE_ANNOTATION: &str = "kubefed.io/mode";
pub const MODE_PULL: &str = "pull";
/// The finalizer the host puts on every MemberWork: the agent removes it once the member
/// object is deleted (or orphaned), so deletions wait for the member as for push members.
pub const AGENT_FINALIZER: &str = "work.kubefed.io/agent";
/// Name of the agent's heartbeat Lease in its cluster namespace.
pub const AGENT_LEASE: &str = "kubefed-agent";
/// Label on the heartbeat Lease, so the host watches only those.
pub const AGENT_LEASE_LABEL: &str = "kubefed.io/agent-lease";
/// Lease annotations the agent fills in: the member's `gitVersion` and `kube-system` UID.
pub const VERSION_ANNOTATION: &str = "kubefed.io/kubernetes-version";
pub const KUBE_SYSTEM_UID_ANNOTATION: &str = "kubefed.io/kube-system-uid";
/// Labels on MemberWorks: the federated type (FederatedTypeConfig name) and the cluster.
pub const TYPE_LABEL: &str = "work.kubefed.io/type";
pub const CLUSTER_LABEL: &str = "work.kubefed.io/cluster";

/// Whether a KubeFedCluster is a pull member.
pub fn is_pull(cluster: &crate::crds::kubefed_cluster::KubeFedCluster) -> bool {
    cluster
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MODE_ANNOTATION))
        .is_some_and(|m| m == MODE_PULL)
}

/// The host namespace holding a pull member's MemberWorks and Lease.
pub fn cluster_namespace(cluster: &str) -> String {
    format!("kubefed-cluster-{cluster}")
}

/// What the host wants one pull member to hold.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "work.kubefed.io",
    version = "v1alpha1",
    kind = "MemberWork",
    plural = "memberworks",
    shortname = "mw",
    namespaced,
    status = "MemberWorkStatus",
    derive = "PartialEq",
    doc = "MemberWork is one federated object as one pull member cluster should hold it, and the member agent's report of it.",
    printcolumn = r#"{"name":"Kind", "type":"string", "jsonPath":".spec.resource.kind"}"#,
    printcolumn = r#"{"name":"Status", "type":"string", "jsonPath":".status.propagation.status"}"#,
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MemberWorkSpec {
    /// The member cluster (also the namespace's).
    pub cluster: String,
    /// The target type.
    pub resource: WorkResource,
    /// The member object, exactly as the host rendered it (template, the cluster's overrides,
    /// the managed label and the desired hash).
    #[schemars(schema_with = "any_object")]
    pub manifest: Value,
    /// An existing object without the managed label may be adopted.
    #[serde(default)]
    pub adopt: bool,
    /// Keep `spec.replicas` as the member has it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain_replicas: bool,
    /// DeleteOptions (JSON) for deleting the member object, from `kubefed.io/deleteoption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_options: Option<String>,
    /// On deletion of this MemberWork, leave the member object and remove its managed label.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphan: bool,
    /// The host collects the member's status for this type (`statusCollection: Enabled`):
    /// only then does the agent report it, so a status the host would drop costs no write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub collect_status: bool,
    /// The federated object is paused (`kubefed.io/paused`): the agent makes no member write
    /// for it and reports what it would do. Set and cleared by the host without a new manifest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
}

/// Group, version, kind and plural of the target type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkResource {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl WorkResource {
    pub fn to_kube(&self) -> kube::core::ApiResource {
        kube::core::ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: if self.group.is_empty() {
                self.version.clone()
            } else {
                format!("{}/{}", self.group, self.version)
            },
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }
}

/// What the agent reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberWorkStatus {
    /// The MemberWork generation the report is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// KubeFed's per-cluster status word for the object (`""` when in sync) and a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<WorkPropagation>,
    /// The member object as last seen, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<WorkMemberObject>,
    /// How many out-of-band changes the agent has reverted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drift_repairs: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkPropagation {
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The member object, as much of it as the host's plan and status read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkMemberObject {
    /// `kubefed.io/managed` on the member object: `true`, `false` or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// The member's status, trimmed as `status.clusters[].remoteStatus` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_object_opt")]
    pub remote_status: Option<Value>,
}

fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn any_object_opt(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object", "nullable": true, "x-kubernetes-preserve-unknown-fields": true
    })
}
