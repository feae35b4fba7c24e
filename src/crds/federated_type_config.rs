//! `FederatedTypeConfig` (`core.kubefed.io/v1beta1`): enables federation of one target type.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::common::{PropagationMode, Scope, StatusCollectionMode};

/// Enables propagation of a target type through its federated type. Named
/// `<pluralName>[.<group>]` after the target type, e.g. `deployments.apps` or `configmaps`.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "FederatedTypeConfig",
    plural = "federatedtypeconfigs",
    shortname = "ftc",
    namespaced,
    status = "FederatedTypeConfigStatus",
    derive = "PartialEq",
    doc = "FederatedTypeConfig programs KubeFed to propagate a target type through its federated type.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigSpec {
    /// The Kubernetes type propagated to member clusters.
    pub target_type: ApiResource,
    /// Whether propagation is `Enabled` or `Disabled`.
    pub propagation: PropagationMode,
    /// The `Federated<Kind>` type holding template, placement and overrides.
    pub federated_type: ApiResource,
    /// The type collecting member status, for KubeFed's separate status types. Unused by this
    /// operator, which writes member status into the federated object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_type: Option<ApiResource>,
    /// Whether the members' `.status` is collected into the federated object (`Enabled`) or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_collection: Option<StatusCollectionMode>,
}

/// Identifies a Kubernetes API type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// API group; empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Lower-case plural resource name, e.g. `deployments`.
    pub plural_name: String,
    /// `Namespaced` or `Cluster`.
    pub scope: Scope,
}

impl ApiResource {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural[.group]`: the name of this type's FederatedTypeConfig or CRD.
    /// The same resource in the form kube's dynamic API takes.
    pub fn to_kube(&self) -> kube::core::ApiResource {
        kube::core::ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural_name.clone(),
        }
    }

    pub fn is_namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural_name.clone()
        } else {
            format!("{}.{}", self.plural_name, self.group)
        }
    }
}

/// Whether a controller for the type is running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ControllerStatus {
    /// The controller is running.
    Running,
    /// The controller is stopped.
    #[default]
    NotRunning,
}

/// Observed state of a FederatedTypeConfig.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTypeConfigStatus {
    /// The generation of the FederatedTypeConfig the controllers were last started for.
    #[serde(default)]
    pub observed_generation: i64,
    /// Whether the sync controller for the type is `Running` or `NotRunning`.
    #[serde(default)]
    pub propagation_controller: ControllerStatus,
    /// Whether status collection for the type is `Running` or `NotRunning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_controller: Option<ControllerStatus>,
}
