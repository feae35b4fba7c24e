//! Builds the `Federated<Kind>` CRD for any target type.
//!
//! The schema is assembled by hand rather than derived from [`FederatedSpec`] so that it is
//! structural by construction: `template` and override values must keep unknown fields, which
//! a derived schema cannot express.
//!
//! [`FederatedSpec`]: super::federated::FederatedSpec

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSON, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::common::{ConfigurationMode, Scope};
use super::federated::{AggregateKind, FEDERATED_GROUP, FEDERATED_VERSION};
use super::target_type::{TargetType, default_status_collection};

/// Category every federated CRD belongs to: `kubectl get federated` lists them all.
pub const FEDERATED_CATEGORY: &str = "federated";

/// Additions to the generated CRD beyond KubeFed's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedCrdOptions {
    /// Extra properties of `status`, e.g. aggregated workload status.
    pub extra_status_properties: BTreeMap<String, JSONSchemaProps>,
    /// `additionalPrinterColumns` of the version; defaults to CLUSTERS and AGE.
    pub printer_columns: Vec<CustomResourceColumnDefinition>,
}

impl Default for FederatedCrdOptions {
    fn default() -> Self {
        Self {
            extra_status_properties: BTreeMap::new(),
            printer_columns: vec![clusters_column(), age_column()],
        }
    }
}

impl FederatedCrdOptions {
    /// The options for `target`: replicated workloads get a READY column of replicas, and any
    /// other type whose status is collected by default (every type but the built-in ones that
    /// do not) a READY column of member clusters.
    pub fn for_target(target: &TargetType) -> Self {
        let mut options = Self::default();
        match target.aggregate_kind() {
            AggregateKind::Replicated => options.printer_columns.insert(0, ready_column()),
            AggregateKind::Other
                if default_status_collection(target) == ConfigurationMode::Enabled =>
            {
                options.printer_columns.insert(0, ready_clusters_column())
            }
            _ => {}
        }
        options
    }
}

/// The READY printer column: ready over desired replicas across member clusters.
pub fn ready_column() -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: "Ready".to_string(),
        type_: "string".to_string(),
        json_path: ".status.aggregate.ready".to_string(),
        description: Some("Ready over desired replicas across member clusters.".to_string()),
        ..Default::default()
    }
}

/// The READY printer column of types without replicas: member clusters whose object reports
/// ready over placed member clusters.
pub fn ready_clusters_column() -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        description: Some(
            "Member clusters whose object reports ready (Ready or Available condition, or observedGeneration caught up) over placed member clusters."
                .to_string(),
        ),
        ..ready_column()
    }
}

/// The CLUSTERS printer column: in-sync over placed member clusters.
pub fn clusters_column() -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: "Clusters".to_string(),
        type_: "string".to_string(),
        json_path: ".status.aggregate.clusters".to_string(),
        description: Some("Member clusters in sync over member clusters placed.".to_string()),
        ..Default::default()
    }
}

/// The AGE printer column (from `metadata.creationTimestamp`).
pub fn age_column() -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: "Age".to_string(),
        type_: "date".to_string(),
        json_path: ".metadata.creationTimestamp".to_string(),
        ..Default::default()
    }
}

/// The `Federated<Kind>` CRD for `target`, in `types.kubefed.io/v1beta1`.
pub fn federated_crd(
    target: &TargetType,
    options: &FederatedCrdOptions,
) -> CustomResourceDefinition {
    let scope = match target.federated_scope() {
        Scope::Cluster => "Cluster",
        Scope::Namespaced => "Namespaced",
    };
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(target.federated_crd_name()),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: FEDERATED_GROUP.to_string(),
            names: CustomResourceDefinitionNames {
                kind: target.federated_kind(),
                list_kind: Some(format!("{}List", target.federated_kind())),
                plural: target.federated_plural(),
                singular: Some(target.federated_kind().to_lowercase()),
                short_names: target.federated_short_name().map(|short| vec![short]),
                categories: Some(vec![FEDERATED_CATEGORY.to_string()]),
            },
            scope: scope.to_string(),
            versions: vec![CustomResourceDefinitionVersion {
                name: FEDERATED_VERSION.to_string(),
                served: true,
                storage: true,
                additional_printer_columns: (!options.printer_columns.is_empty())
                    .then(|| options.printer_columns.clone()),
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(federated_root_schema(target, options)),
                }),
                subresources: Some(CustomResourceSubresources {
                    status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

fn federated_root_schema(target: &TargetType, options: &FederatedCrdOptions) -> JSONSchemaProps {
    let description = format!(
        "{} propagates {} objects ({}) to member clusters.",
        target.federated_kind(),
        target.kind,
        target.api_resource().api_version(),
    );
    described(
        object(
            [
                (
                    "apiVersion",
                    described(
                        string(),
                        "APIVersion defines the versioned schema of this representation of an object.",
                    ),
                ),
                (
                    "kind",
                    described(
                        string(),
                        "Kind is a string value representing the REST resource this object represents.",
                    ),
                ),
                ("metadata", object([], &[])),
                ("spec", spec_schema(target)),
                ("status", status_schema(target, options)),
            ],
            &["spec"],
        ),
        &description,
    )
}

fn spec_schema(target: &TargetType) -> JSONSchemaProps {
    let mut properties = vec![
        (
            "template",
            described(
                preserve_unknown(object([], &[])),
                &format!(
                    "The {} created in each member cluster; name and namespace come from the federated object.",
                    target.kind
                ),
            ),
        ),
        ("placement", placement_schema()),
        ("overrides", overrides_schema()),
    ];
    if target.has_replicas {
        properties.push((
            "retainReplicas",
            described(
                boolean(),
                "Leave spec.replicas as each member cluster has it (e.g. managed by an HPA).",
            ),
        ));
    }
    described(
        object(properties, &[]),
        "Template, placement and per-cluster overrides of the federated object.",
    )
}

fn placement_schema() -> JSONSchemaProps {
    described(
        object(
            [
                (
                    "clusters",
                    described(
                        array(object(
                            [("name", described(string(), "Name of the KubeFedCluster."))],
                            &["name"],
                        )),
                        "Member clusters by name. When present (even empty) it takes precedence over clusterSelector.",
                    ),
                ),
                (
                    "clusterSelector",
                    described(
                        label_selector_schema(),
                        "Selects member clusters by KubeFedCluster labels; {} selects all clusters.",
                    ),
                ),
            ],
            &[],
        ),
        "Which member clusters the object is placed on.",
    )
}

/// The schema of a metav1.LabelSelector.
fn label_selector_schema() -> JSONSchemaProps {
    object(
        [
            (
                "matchLabels",
                described(string_map(), "Labels that must all match exactly."),
            ),
            (
                "matchExpressions",
                described(
                    array(object(
                        [
                            ("key", described(string(), "The label key.")),
                            (
                                "operator",
                                described(string(), "In, NotIn, Exists or DoesNotExist."),
                            ),
                            (
                                "values",
                                described(
                                    array(string()),
                                    "Values for In and NotIn; empty for Exists and DoesNotExist.",
                                ),
                            ),
                        ],
                        &["key", "operator"],
                    )),
                    "Label requirements that must all match.",
                ),
            ),
        ],
        &[],
    )
}

fn overrides_schema() -> JSONSchemaProps {
    let operation = JSONSchemaProps {
        enum_: Some(
            ["add", "remove", "replace", ""]
                .into_iter()
                .map(|op| JSON(serde_json::Value::String(op.to_string())))
                .collect(),
        ),
        ..described(string(), "add, remove or replace; empty means replace.")
    };
    let cluster_override = object(
        [
            ("op", operation),
            (
                "path",
                described(
                    string(),
                    "JSON pointer into the member object, e.g. /spec/replicas.",
                ),
            ),
            (
                "value",
                described(
                    preserve_unknown(JSONSchemaProps::default()),
                    "The value to add or replace with; any JSON type.",
                ),
            ),
        ],
        &["path"],
    );
    described(
        array(object(
            [
                (
                    "clusterName",
                    described(
                        string(),
                        "Name of the KubeFedCluster the overrides apply to.",
                    ),
                ),
                (
                    "clusterOverrides",
                    described(
                        array(cluster_override),
                        "RFC 6902 JSON patch operations applied in order to the template.",
                    ),
                ),
            ],
            &["clusterName"],
        )),
        "Per-cluster changes applied to the template.",
    )
}

fn status_schema(target: &TargetType, options: &FederatedCrdOptions) -> JSONSchemaProps {
    let condition = object(
        [
            (
                "type",
                described(string(), "Condition type, e.g. Propagation."),
            ),
            ("status", described(string(), "True, False or Unknown.")),
            (
                "reason",
                described(string(), "Empty on success, else e.g. CheckClusters."),
            ),
            (
                "message",
                described(
                    string(),
                    "What the reason means for this object, e.g. which input cannot be read.",
                ),
            ),
            (
                "lastUpdateTime",
                described(
                    date_time(),
                    "When the condition was last computed with a change.",
                ),
            ),
            (
                "lastTransitionTime",
                described(date_time(), "When status last changed."),
            ),
        ],
        &["type", "status"],
    );
    let cluster = object(
        [
            ("name", described(string(), "Name of the KubeFedCluster.")),
            (
                "status",
                described(
                    string(),
                    "Empty when in sync, else a reason such as ClusterNotReady or UpdateFailed.",
                ),
            ),
            (
                "message",
                described(
                    string(),
                    "Why the cluster is not in sync, e.g. the member API's error.",
                ),
            ),
            (
                "remoteStatus",
                described(
                    preserve_unknown(JSONSchemaProps::default()),
                    "The member object's own status, when status collection is enabled.",
                ),
            ),
            (
                "generation",
                described(
                    int64(),
                    "The member object's metadata.generation after the operator's last apply.",
                ),
            ),
            (
                "observedGeneration",
                described(
                    int64(),
                    "The member object's status.observedGeneration, for types that report it.",
                ),
            ),
            (
                "stale",
                described(
                    boolean(),
                    "True while the member cluster is unreachable; remoteStatus is the last one seen.",
                ),
            ),
            (
                "lastSeen",
                described(
                    date_time(),
                    "When the member cluster was last reachable; set only while stale.",
                ),
            ),
        ],
        &["name"],
    );
    let mut status = object(
        [
            (
                "observedGeneration",
                described(
                    int64(),
                    "The generation every placed member cluster has caught up with.",
                ),
            ),
            (
                "conditions",
                described(array(condition), "Conditions of the federated object."),
            ),
            (
                "clusters",
                described(
                    array(cluster),
                    "Propagation status per placed member cluster.",
                ),
            ),
            ("aggregate", aggregate_schema(target.aggregate_kind())),
        ],
        &[],
    );
    if let Some(properties) = status.properties.as_mut() {
        properties.extend(options.extra_status_properties.clone());
    }
    described(
        status,
        "Observed propagation status of the federated object.",
    )
}

/// `status.aggregate`, with only the fields the target type's aggregate sets.
fn aggregate_schema(kind: AggregateKind) -> JSONSchemaProps {
    let mut properties = vec![(
        "clusters",
        described(
            string(),
            "<in sync>/<placed>: placed member clusters that are reachable and in sync, over placed member clusters.",
        ),
    )];
    let total = |what: &str| {
        described(
            int64(),
            &format!("{what}, summed over placed member clusters; unreachable members count 0."),
        )
    };
    match kind {
        AggregateKind::Replicated => properties.extend([
            (
                "ready",
                described(
                    string(),
                    "<ready>/<desired> replicas across member clusters, as kubectl shows for one cluster.",
                ),
            ),
            (
                "desiredReplicas",
                described(
                    int64(),
                    "spec.replicas summed over placed member clusters, including unreachable ones.",
                ),
            ),
            ("replicas", total("status.replicas")),
            ("readyReplicas", total("status.readyReplicas")),
            ("availableReplicas", total("status.availableReplicas")),
            ("updatedReplicas", total("status.updatedReplicas")),
        ]),
        AggregateKind::Job => properties.extend([
            ("succeeded", total("status.succeeded")),
            ("failed", total("status.failed")),
            ("active", total("status.active")),
        ]),
        AggregateKind::Service => properties.push((
            "loadBalancer",
            described(
                array(object(
                    [
                        ("cluster", described(string(), "Name of the KubeFedCluster.")),
                        (
                            "ingress",
                            described(
                                array(preserve_unknown(object([], &[]))),
                                "The member Service's status.loadBalancer.ingress.",
                            ),
                        ),
                    ],
                    &["cluster"],
                )),
                "Load-balancer ingress points per reachable member cluster.",
            ),
        )),
        AggregateKind::Other => properties.push((
            "ready",
            described(
                string(),
                "<ready>/<placed> member clusters whose object reports ready, when status is collected and the members report a Ready or Available condition or observedGeneration.",
            ),
        )),
    }
    described(
        object(properties, &["clusters"]),
        "Totals across placed member clusters, from the members' own status.",
    )
}

fn object<'a>(
    properties: impl IntoIterator<Item = (&'a str, JSONSchemaProps)>,
    required: &[&str],
) -> JSONSchemaProps {
    let properties: BTreeMap<String, JSONSchemaProps> = properties
        .into_iter()
        .map(|(name, schema)| (name.to_string(), schema))
        .collect();
    JSONSchemaProps {
        type_: Some("object".to_string()),
        properties: (!properties.is_empty()).then_some(properties),
        required: (!required.is_empty())
            .then(|| required.iter().map(|name| name.to_string()).collect()),
        ..Default::default()
    }
}

fn typed(type_: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        type_: Some(type_.to_string()),
        ..Default::default()
    }
}

fn string() -> JSONSchemaProps {
    typed("string")
}

fn boolean() -> JSONSchemaProps {
    typed("boolean")
}

fn int64() -> JSONSchemaProps {
    JSONSchemaProps {
        format: Some("int64".to_string()),
        ..typed("integer")
    }
}

fn date_time() -> JSONSchemaProps {
    JSONSchemaProps {
        format: Some("date-time".to_string()),
        ..string()
    }
}

fn array(items: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        items: Some(JSONSchemaPropsOrArray::Schema(Box::new(items))),
        ..typed("array")
    }
}

fn string_map() -> JSONSchemaProps {
    JSONSchemaProps {
        additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(string()))),
        ..typed("object")
    }
}

fn preserve_unknown(schema: JSONSchemaProps) -> JSONSchemaProps {
    JSONSchemaProps {
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..schema
    }
}

fn described(schema: JSONSchemaProps, description: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        description: Some(description.to_string()),
        ..schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::structural;
    use crate::crds::target_type::default_target_types;

    #[test]
    fn every_default_federated_crd_is_structural() {
        for default in default_target_types() {
            let crd = federated_crd(&default.target, &FederatedCrdOptions::default());
            assert_eq!(structural::crd_violations(&crd), Vec::<String>::new());
        }
    }

    #[test]
    fn deployment_crd_has_kubefed_names_and_retain_replicas() {
        let types = default_target_types();
        let crd = federated_crd(&types[2].target, &FederatedCrdOptions::default());
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("federateddeployments.types.kubefed.io")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "FederatedDeployment");
        assert_eq!(
            crd.spec.names.short_names,
            Some(vec!["fdeploy".to_string()])
        );
        assert_eq!(
            crd.spec.names.categories,
            Some(vec!["federated".to_string()])
        );
        let value = serde_json::to_value(&crd).expect("serializable");
        let spec = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["properties"]["retainReplicas"]["type"], "boolean");
        assert_eq!(
            spec["properties"]["template"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["required"],
            serde_json::json!(["spec"])
        );
    }

    #[test]
    fn non_workloads_have_no_retain_replicas_and_namespace_is_namespaced() {
        let types = default_target_types();
        let crd = federated_crd(&types[5].target, &FederatedCrdOptions::default());
        assert_eq!(crd.spec.scope, "Namespaced");
        let value = serde_json::to_value(&crd).expect("serializable");
        let spec = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert!(spec["properties"].get("retainReplicas").is_none());
        let cluster_roles = federated_crd(&types[0].target, &FederatedCrdOptions::default());
        assert_eq!(cluster_roles.spec.scope, "Cluster");
        assert_eq!(cluster_roles.spec.names.short_names, None);
    }

    fn columns(crd: &CustomResourceDefinition) -> Vec<(String, String)> {
        crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.json_path.clone()))
            .collect()
    }

    #[test]
    fn workloads_get_ready_clusters_and_age_columns() {
        let types = default_target_types();
        for default in &types {
            let target = &default.target;
            let crd = federated_crd(target, &FederatedCrdOptions::for_target(target));
            assert_eq!(structural::crd_violations(&crd), Vec::<String>::new());
            let mut expected = vec![
                (
                    "Clusters".to_string(),
                    ".status.aggregate.clusters".to_string(),
                ),
                ("Age".to_string(), ".metadata.creationTimestamp".to_string()),
            ];
            if target.has_replicas {
                expected.insert(
                    0,
                    ("Ready".to_string(), ".status.aggregate.ready".to_string()),
                );
            }
            assert_eq!(columns(&crd), expected, "{}", target.kind);
        }
    }

    #[test]
    fn custom_types_collecting_status_get_a_ready_column_of_clusters() {
        let widget = TargetType {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            scope: Scope::Namespaced,
            short_name: None,
            has_replicas: false,
        };
        let crd = federated_crd(&widget, &FederatedCrdOptions::for_target(&widget));
        assert_eq!(structural::crd_violations(&crd), Vec::<String>::new());
        assert_eq!(
            columns(&crd)[0],
            ("Ready".to_string(), ".status.aggregate.ready".to_string())
        );
        let description = crd.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()[0]
            .description
            .clone()
            .unwrap_or_default();
        assert!(description.contains("Member clusters"), "{description}");
    }

    #[test]
    fn status_schema_declares_cluster_fields_and_aggregate_per_kind() {
        let types = default_target_types();
        let status_of = |index: usize| {
            let target = &types[index].target;
            let crd = federated_crd(target, &FederatedCrdOptions::for_target(target));
            let value = serde_json::to_value(&crd).expect("serializable");
            value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
                ["properties"]
                .clone()
        };
        let deployment = status_of(2);
        let cluster = &deployment["clusters"]["items"]["properties"];
        assert_eq!(cluster["generation"]["format"], "int64");
        assert_eq!(cluster["observedGeneration"]["type"], "integer");
        assert_eq!(cluster["stale"]["type"], "boolean");
        assert_eq!(cluster["lastSeen"]["format"], "date-time");
        let aggregate = &deployment["aggregate"];
        assert_eq!(aggregate["required"], serde_json::json!(["clusters"]));
        let fields: Vec<&String> = aggregate["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(
            fields,
            [
                "availableReplicas",
                "clusters",
                "desiredReplicas",
                "ready",
                "readyReplicas",
                "replicas",
                "updatedReplicas"
            ]
        );
        assert!(aggregate["description"].as_str().is_some());
        let jobs = status_of(4);
        assert_eq!(
            jobs["aggregate"]["properties"]["succeeded"]["type"],
            "integer"
        );
        assert!(jobs["aggregate"]["properties"].get("ready").is_none());
        let services = status_of(9);
        assert_eq!(
            services["aggregate"]["properties"]["loadBalancer"]["items"]["properties"]["ingress"]["type"],
            "array"
        );
        let config_maps = status_of(1);
        let fields: Vec<&String> = config_maps["aggregate"]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(fields, ["clusters", "ready"]);
    }

    #[test]
    fn extra_status_properties_and_columns_are_added() {
        let types = default_target_types();
        let options = FederatedCrdOptions {
            extra_status_properties: BTreeMap::from([("replicas".to_string(), int64())]),
            printer_columns: vec![
                CustomResourceColumnDefinition {
                    name: "Ready".to_string(),
                    type_: "string".to_string(),
                    json_path: ".status.ready".to_string(),
                    ..Default::default()
                },
                age_column(),
            ],
        };
        let crd = federated_crd(&types[2].target, &options);
        assert_eq!(structural::crd_violations(&crd), Vec::<String>::new());
        let version = &crd.spec.versions[0];
        assert_eq!(
            version
                .additional_printer_columns
                .as_ref()
                .map(|columns| columns.len()),
            Some(2)
        );
        let value = serde_json::to_value(version).expect("serializable");
        assert_eq!(
            value["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["replicas"]["type"],
            "integer"
        );
    }
}
