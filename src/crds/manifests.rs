//! Everything the operator installs: the CRDs of all kinds, the default federated CRDs and the
//! default FederatedTypeConfigs, as values, multi-document YAML, or per-file YAML.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::CustomResourceExt;
use kube::api::ObjectMeta;
use serde_json::Value;

use super::federated_crd::{FederatedCrdOptions, federated_crd};
use super::federated_type_config::{FederatedTypeConfig, FederatedTypeConfigSpec};
use super::kubefed_cluster::KubeFedCluster;
use super::kubefed_config::KubeFedConfig;
use super::member_work::MemberWork;
use super::propagated_version::{ClusterPropagatedVersion, PropagatedVersion};
use super::replica_scheduling_preference::ReplicaSchedulingPreference;
use super::target_type::{DefaultTargetType, default_target_types};

/// Namespace the operator and its FederatedTypeConfigs live in by default.
pub const DEFAULT_FEDERATION_NAMESPACE: &str = "kube-federation-system";

/// File (under the output directory) holding the default FederatedTypeConfigs.
pub const DEFAULT_TYPE_CONFIGS_FILE: &str = "default-federatedtypeconfigs.yaml";

/// Why manifests could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A manifest could not be converted to JSON.
    #[error("cannot convert {name} to JSON: {source}")]
    Json {
        /// Name of the manifest.
        name: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The manifests could not be rendered as YAML.
    #[error("cannot render YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// The CRDs of the federation's own kinds, in a stable order.
pub fn kubefed_crds() -> Vec<CustomResourceDefinition> {
    vec![
        KubeFedCluster::crd(),
        KubeFedConfig::crd(),
        FederatedTypeConfig::crd(),
        spec_optional(PropagatedVersion::crd()),
        spec_optional(ClusterPropagatedVersion::crd()),
        ReplicaSchedulingPreference::crd(),
        MemberWork::crd(),
    ]
}

/// Propagated versions carry everything in `status`; KubeFed writes them without a `spec`, so
/// the derived `required: [spec]` would reject its objects.
fn spec_optional(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|validation| validation.open_api_v3_schema.as_mut())
        {
            drop_required(root, "spec");
        }
    }
    crd
}

fn drop_required(schema: &mut JSONSchemaProps, field: &str) {
    if let Some(required) = schema.required.as_mut() {
        required.retain(|name| name != field);
        if required.is_empty() {
            schema.required = None;
        }
    }
}

/// The `Federated<Kind>` CRDs of the default target types, in FederatedTypeConfig name order.
pub fn default_federated_crds() -> Vec<CustomResourceDefinition> {
    default_target_types()
        .iter()
        .map(|default| {
            federated_crd(
                &default.target,
                &FederatedCrdOptions::for_target(&default.target),
            )
        })
        .collect()
}

/// Every CRD the operator installs: its own kinds, then the default federated types.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    let mut crds = kubefed_crds();
    crds.extend(default_federated_crds());
    crds
}

/// The FederatedTypeConfig enabling propagation of a default target type.
pub fn default_type_config(default: &DefaultTargetType, namespace: &str) -> FederatedTypeConfig {
    FederatedTypeConfig {
        metadata: ObjectMeta {
            name: Some(default.target.type_config_name()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        spec: FederatedTypeConfigSpec {
            target_type: default.target.api_resource(),
            propagation: super::common::ConfigurationMode::Enabled,
            federated_type: default.target.federated_api_resource(),
            status_type: None,
            status_collection: Some(default.status_collection),
        },
        status: None,
    }
}

/// The 10 default FederatedTypeConfigs, in `namespace`, in name order.
pub fn default_type_configs(namespace: &str) -> Vec<FederatedTypeConfig> {
    default_target_types()
        .iter()
        .map(|default| default_type_config(default, namespace))
        .collect()
}

fn to_value<T: serde::Serialize>(name: Option<&str>, object: &T) -> Result<Value, ManifestError> {
    serde_json::to_value(object).map_err(|source| ManifestError::Json {
        name: name.unwrap_or("<unnamed>").to_string(),
        source,
    })
}

/// Every CRD followed by the default FederatedTypeConfigs (in `namespace`), as JSON values in a
/// stable order.
pub fn manifests(namespace: &str) -> Result<Vec<Value>, ManifestError> {
    let mut values = Vec::new();
    for crd in all_crds() {
        values.push(to_value(crd.metadata.name.as_deref(), &crd)?);
    }
    for config in default_type_configs(namespace) {
        values.push(to_value(config.metadata.name.as_deref(), &config)?);
    }
    Ok(values)
}

/// Renders manifests as one multi-document YAML stream.
pub fn render_yaml(manifests: &[Value]) -> Result<String, ManifestError> {
    Ok(serde_saphyr::to_string_multiple(manifests)?)
}

/// One generated file: its name inside the output directory and its YAML content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    /// File name, e.g. `core.kubefed.io_kubefedclusters.yaml`.
    pub file_name: String,
    /// The YAML content.
    pub content: String,
}

/// `<group>_<plural>.yaml`, the file a CRD is written to.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// The contents of `config/crd`: one file per CRD plus [`DEFAULT_TYPE_CONFIGS_FILE`], sorted
/// by file name.
pub fn manifest_files(namespace: &str) -> Result<Vec<ManifestFile>, ManifestError> {
    let mut files = Vec::new();
    for crd in all_crds() {
        let value = to_value(crd.metadata.name.as_deref(), &crd)?;
        files.push(ManifestFile {
            file_name: crd_file_name(&crd),
            content: render_yaml(&[value])?,
        });
    }
    let configs = default_type_configs(namespace)
        .iter()
        .map(|config| to_value(config.metadata.name.as_deref(), config))
        .collect::<Result<Vec<_>, _>>()?;
    files.push(ManifestFile {
        file_name: DEFAULT_TYPE_CONFIGS_FILE.to_string(),
        content: render_yaml(&configs)?,
    });
    files.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::structural;

    #[test]
    fn every_crd_is_structural() {
        let crds = all_crds();
        assert_eq!(crds.len(), 17);
        let found: Vec<String> = crds.iter().flat_map(structural::crd_violations).collect();
        assert!(
            found.is_empty(),
            "structural violations:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn kind_crds_have_kubefed_names_and_scopes() {
        let summary: Vec<(String, String, Option<Vec<String>>)> = kubefed_crds()
            .into_iter()
            .map(|crd| {
                (
                    crd.metadata.name.unwrap_or_default(),
                    crd.spec.scope,
                    crd.spec.names.short_names,
                )
            })
            .collect();
        let short = |name: &str| Some(vec![name.to_string()]);
        assert_eq!(
            summary,
            vec![
                (
                    "kubefedclusters.core.kubefed.io".into(),
                    "Namespaced".into(),
                    short("kfc")
                ),
                (
                    "kubefedconfigs.core.kubefed.io".into(),
                    "Namespaced".into(),
                    None
                ),
                (
                    "federatedtypeconfigs.core.kubefed.io".into(),
                    "Namespaced".into(),
                    short("ftc")
                ),
                (
                    "propagatedversions.core.kubefed.io".into(),
                    "Namespaced".into(),
                    None
                ),
                (
                    "clusterpropagatedversions.core.kubefed.io".into(),
                    "Cluster".into(),
                    None
                ),
                (
                    "replicaschedulingpreferences.scheduling.kubefed.io".into(),
                    "Namespaced".into(),
                    short("rsp")
                ),
                (
                    "memberworks.work.kubefed.io".into(),
                    "Namespaced".into(),
                    short("mw")
                ),
            ]
        );
    }

    #[test]
    fn kubefed_cluster_columns_are_ready_offline_version_age() {
        let crd = KubeFedCluster::crd();
        let columns: Vec<String> = crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|column| column.name.clone())
            .collect();
        assert_eq!(columns, ["Ready", "Offline", "Version", "Age"]);
        assert!(
            crd.spec.versions[0]
                .subresources
                .as_ref()
                .is_some_and(|s| s.status.is_some())
        );
    }

    #[test]
    fn propagated_versions_do_not_require_spec() {
        for crd in &kubefed_crds()[3..5] {
            let root = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema");
            assert!(!root.required.iter().flatten().any(|name| name == "spec"));
        }
    }

    #[test]
    fn default_type_configs_point_at_federated_types() {
        let configs = default_type_configs("fed");
        assert_eq!(configs.len(), 10);
        let deployments = &configs[2];
        assert_eq!(
            deployments.metadata.name.as_deref(),
            Some("deployments.apps")
        );
        assert_eq!(deployments.metadata.namespace.as_deref(), Some("fed"));
        assert_eq!(deployments.spec.federated_type.kind, "FederatedDeployment");
        assert_eq!(deployments.spec.federated_type.group, "types.kubefed.io");
    }

    #[test]
    fn yaml_is_multi_document_and_stable() {
        let values = manifests(DEFAULT_FEDERATION_NAMESPACE).expect("manifests");
        assert_eq!(values.len(), 27);
        let yaml = render_yaml(&values).expect("yaml");
        assert_eq!(yaml, render_yaml(&values).expect("yaml"));
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&yaml).expect("parse back");
        assert_eq!(parsed, values);
    }

    #[test]
    fn files_cover_every_crd_and_the_type_configs() {
        let files = manifest_files(DEFAULT_FEDERATION_NAMESPACE).expect("files");
        assert_eq!(files.len(), 18);
        assert!(
            files
                .iter()
                .any(|file| file.file_name == "core.kubefed.io_kubefedclusters.yaml")
        );
        assert!(
            files
                .iter()
                .any(|file| file.file_name == "types.kubefed.io_federateddeployments.yaml")
        );
    }
}
