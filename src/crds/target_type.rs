//! A Kubernetes type that can be federated, and the table of types federated out of the box.

use super::common::{ConfigurationMode, Scope};
use super::federated::{AggregateKind, FEDERATED_GROUP, FEDERATED_VERSION};
use super::federated_type_config::ApiResource;

/// A Kubernetes type to federate: what the `Federated<Kind>` CRD and the FederatedTypeConfig
/// are generated from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetType {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Lower-case plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Scope of the target type.
    pub scope: Scope,
    /// Short name of the target (`deploy`); the federated type gets `f` + this (`fdeploy`).
    pub short_name: Option<String>,
    /// Whether the target has an int32 `spec.replicas`, which enables `spec.retainReplicas`.
    pub has_replicas: bool,
}

impl TargetType {
    /// The target as a FederatedTypeConfig `targetType`.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural_name: self.plural.clone(),
            scope: self.scope,
        }
    }

    /// `plural[.group]`, the name of the target's FederatedTypeConfig.
    pub fn type_config_name(&self) -> String {
        self.api_resource().qualified_plural()
    }

    /// `Federated<Kind>`.
    pub fn federated_kind(&self) -> String {
        format!("Federated{}", self.kind)
    }

    /// `federated<plural>`.
    pub fn federated_plural(&self) -> String {
        format!("federated{}", self.plural)
    }

    /// `federated<plural>.types.kubefed.io`, the name of the federated CRD.
    pub fn federated_crd_name(&self) -> String {
        format!("{}.{FEDERATED_GROUP}", self.federated_plural())
    }

    /// `f` + the target's short name, when it has one.
    pub fn federated_short_name(&self) -> Option<String> {
        self.short_name.as_ref().map(|short| format!("f{short}"))
    }

    /// Which totals `status.aggregate` of the federated type carries.
    pub fn aggregate_kind(&self) -> AggregateKind {
        AggregateKind::of(&self.group, &self.kind)
    }

    /// Whether this is the core `Namespace` type.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }

    /// Scope of the federated type: the target's, except that FederatedNamespace is namespaced
    /// (it lives in the namespace it federates).
    pub fn federated_scope(&self) -> Scope {
        if self.is_namespace() {
            Scope::Namespaced
        } else {
            self.scope
        }
    }

    /// The federated type as a FederatedTypeConfig `federatedType`.
    pub fn federated_api_resource(&self) -> ApiResource {
        ApiResource {
            group: FEDERATED_GROUP.to_string(),
            version: FEDERATED_VERSION.to_string(),
            kind: self.federated_kind(),
            plural_name: self.federated_plural(),
            scope: self.federated_scope(),
        }
    }
}

/// A type federated out of the box, with its status collection default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultTargetType {
    /// The type.
    pub target: TargetType,
    /// `spec.statusCollection` of its default FederatedTypeConfig.
    pub status_collection: ConfigurationMode,
}

struct Row {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    scope: Scope,
    short_name: Option<&'static str>,
    has_replicas: bool,
    collects_status: bool,
}

// Ordered by FederatedTypeConfig name, so generated output is stable. Short names are the
// targets' own; Secret has none, `secret` keeps KubeFed's `fsecret`.
const DEFAULT_TARGET_TYPES: [Row; 10] = [
    Row {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        scope: Scope::Cluster,
        short_name: None,
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        scope: Scope::Namespaced,
        short_name: Some("cm"),
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        scope: Scope::Namespaced,
        short_name: Some("deploy"),
        has_replicas: true,
        collects_status: true,
    },
    Row {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        scope: Scope::Namespaced,
        short_name: Some("ing"),
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        scope: Scope::Namespaced,
        short_name: None,
        has_replicas: false,
        collects_status: true,
    },
    Row {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        scope: Scope::Cluster,
        short_name: Some("ns"),
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        scope: Scope::Namespaced,
        short_name: Some("rs"),
        has_replicas: true,
        collects_status: true,
    },
    Row {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        scope: Scope::Namespaced,
        short_name: Some("secret"),
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        scope: Scope::Namespaced,
        short_name: Some("sa"),
        has_replicas: false,
        collects_status: false,
    },
    Row {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        scope: Scope::Namespaced,
        short_name: Some("svc"),
        has_replicas: false,
        collects_status: true,
    },
];

/// `spec.statusCollection` of a new FederatedTypeConfig for `target`: the default type's
/// setting, `Enabled` for any other type (the member watch it needs exists for propagation
/// anyway).
pub fn default_status_collection(target: &TargetType) -> ConfigurationMode {
    default_target_types()
        .into_iter()
        .find(|d| d.target.type_config_name() == target.type_config_name())
        .map(|d| d.status_collection)
        .unwrap_or(ConfigurationMode::Enabled)
}

/// The 10 types federated out of the box, ordered by FederatedTypeConfig name.
pub fn default_target_types() -> Vec<DefaultTargetType> {
    DEFAULT_TARGET_TYPES
        .iter()
        .map(|row| DefaultTargetType {
            target: TargetType {
                group: row.group.to_string(),
                version: row.version.to_string(),
                kind: row.kind.to_string(),
                plural: row.plural.to_string(),
                scope: row.scope,
                short_name: row.short_name.map(str::to_string),
                has_replicas: row.has_replicas,
            },
            status_collection: if row.collects_status {
                ConfigurationMode::Enabled
            } else {
                ConfigurationMode::Disabled
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_types_are_the_ten_kubefed_defaults_in_name_order() {
        let names: Vec<String> = default_target_types()
            .iter()
            .map(|default| default.target.type_config_name())
            .collect();
        assert_eq!(
            names,
            [
                "clusterroles.rbac.authorization.k8s.io",
                "configmaps",
                "deployments.apps",
                "ingresses.networking.k8s.io",
                "jobs.batch",
                "namespaces",
                "replicasets.apps",
                "secrets",
                "serviceaccounts",
                "services",
            ]
        );
        let collecting: Vec<String> = default_target_types()
            .into_iter()
            .filter(|default| default.status_collection == ConfigurationMode::Enabled)
            .map(|default| default.target.plural)
            .collect();
        assert_eq!(
            collecting,
            ["deployments", "jobs", "replicasets", "services"]
        );
    }

    #[test]
    fn federated_names() {
        let types = default_target_types();
        let deployments = &types[2].target;
        assert_eq!(deployments.federated_kind(), "FederatedDeployment");
        assert_eq!(
            deployments.federated_crd_name(),
            "federateddeployments.types.kubefed.io"
        );
        assert_eq!(
            deployments.federated_short_name().as_deref(),
            Some("fdeploy")
        );
        assert_eq!(deployments.aggregate_kind(), AggregateKind::Replicated);
        assert_eq!(types[6].target.aggregate_kind(), AggregateKind::Replicated);
        assert_eq!(types[4].target.aggregate_kind(), AggregateKind::Job);
        assert_eq!(types[9].target.aggregate_kind(), AggregateKind::Service);
        assert_eq!(types[1].target.aggregate_kind(), AggregateKind::Other);
        let namespaces = &types[5].target;
        assert_eq!(namespaces.scope, Scope::Cluster);
        assert_eq!(namespaces.federated_scope(), Scope::Namespaced);
        assert_eq!(namespaces.federated_short_name().as_deref(), Some("fns"));
    }
}
