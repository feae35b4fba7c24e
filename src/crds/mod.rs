//! API types of the federation, one module per kind, the `Federated<Kind>` CRD generator, the
//! structural-schema checker, and the manifests the operator installs.

pub mod common;
pub mod duration;
pub(crate) mod dynamic_resource;
pub mod federated;
pub mod federated_crd;
pub mod federated_type_config;
pub mod kubefed_cluster;
pub mod kubefed_config;
pub mod manifests;
pub mod member_work;
pub mod output_dir;
pub mod propagated_version;
pub mod replica_scheduling_preference;
pub mod stored_federated;
pub mod structural;
pub mod target_type;

pub use common::{ConfigurationMode, Scope};
pub use duration::{DurationParseError, format_go_duration, parse_go_duration};
pub use federated_crd::{
    FederatedCrdOptions, age_column, clusters_column, federated_crd, ready_column,
};
pub use federated_type_config::{
    ApiResource, ControllerStatus, FederatedTypeConfig, FederatedTypeConfigSpec,
    FederatedTypeConfigStatus,
};
pub use kubefed_cluster::{KubeFedCluster, KubeFedClusterSpec, KubeFedClusterStatus};
pub use kubefed_config::{KubeFedConfig, KubeFedConfigSpec};
pub use manifests::{
    DEFAULT_FEDERATION_NAMESPACE, ManifestError, ManifestFile, all_crds, default_type_configs,
    manifest_files, manifests, render_yaml,
};
pub use output_dir::{WriteManifestsError, write_manifests};
pub use propagated_version::{
    ClusterPropagatedVersion, PropagatedVersion, PropagatedVersionStatus,
};
pub use replica_scheduling_preference::{
    ReplicaSchedulingPreference, ReplicaSchedulingPreferenceSpec, ReplicaSchedulingPreferenceStatus,
};
pub use target_type::{DefaultTargetType, TargetType, default_target_types};
