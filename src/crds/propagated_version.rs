//! `PropagatedVersion` and `ClusterPropagatedVersion` (`core.kubefed.io/v1alpha1`): the versions
//! last propagated for a federated object, so unchanged objects are not rewritten.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of a propagated version; KubeFed defines none, all data lives in `status`.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "core.kubefed.io",
    version = "v1alpha1",
    kind = "PropagatedVersion",
    plural = "propagatedversions",
    namespaced,
    status = "PropagatedVersionStatus",
    derive = "PartialEq",
    doc = "PropagatedVersion records the template, override and member versions last propagated for a namespaced federated object."
)]
pub struct PropagatedVersionSpec {}

/// Spec of a cluster-scoped propagated version; KubeFed defines none.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "core.kubefed.io",
    version = "v1alpha1",
    kind = "ClusterPropagatedVersion",
    plural = "clusterpropagatedversions",
    status = "PropagatedVersionStatus",
    derive = "PartialEq",
    doc = "ClusterPropagatedVersion records the template, override and member versions last propagated for a cluster-scoped federated object."
)]
pub struct ClusterPropagatedVersionSpec {}

/// The versions last propagated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropagatedVersionStatus {
    /// Hash or resourceVersion of the template that was propagated.
    #[serde(default)]
    pub template_version: String,
    /// Hash of the overrides that were propagated.
    #[serde(default)]
    pub override_version: String,
    /// The resourceVersion or generation of each member object after it was last written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_versions: Vec<ClusterObjectVersion>,
}

/// The version of the member object in one cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterObjectVersion {
    /// Name of the KubeFedCluster.
    pub cluster_name: String,
    /// The member object's version.
    pub version: String,
}
