//! Small enums shared by several kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Scope of a resource or of the federation control plane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Scope {
    /// Cluster-wide.
    #[default]
    Cluster,
    /// Limited to one namespace.
    Namespaced,
}

/// `Enabled` or `Disabled`, as used by feature gates and resource adoption.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConfigurationMode {
    /// Switched on.
    #[default]
    Enabled,
    /// Switched off.
    Disabled,
}

/// `spec.propagation` of a FederatedTypeConfig.
pub type PropagationMode = ConfigurationMode;
/// `spec.statusCollection` of a FederatedTypeConfig.
pub type StatusCollectionMode = ConfigurationMode;
/// `syncController.adoptResources` of a KubeFedConfig.
pub type ResourceAdoption = ConfigurationMode;
