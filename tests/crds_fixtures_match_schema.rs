//! Every field of the example manifests is declared by its CRD schema, so the API server keeps
//! them (unknown fields are pruned) and types match.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kubefed::crds::all_crds;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn crd_for(kind: &str) -> CustomResourceDefinition {
    all_crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"))
}

/// Fields of `value` the schema would prune or whose JSON type does not match.
fn undeclared(value: &Value, schema: &JSONSchemaProps, path: &str, found: &mut Vec<String>) {
    if schema.x_kubernetes_preserve_unknown_fields == Some(true) {
        return;
    }
    let type_matches = match (schema.type_.as_deref(), value) {
        (Some("object"), Value::Object(_))
        | (Some("array"), Value::Array(_))
        | (Some("string"), Value::String(_))
        | (Some("boolean"), Value::Bool(_))
        | (Some("number"), Value::Number(_))
        | (_, Value::Null) => true,
        (Some("integer"), Value::Number(number)) => number.is_i64() || number.is_u64(),
        _ => false,
    };
    if !type_matches {
        found.push(format!("{path}: {value} is not of type {:?}", schema.type_));
        return;
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let child = format!("{path}.{name}");
                let field_schema = match (&schema.properties, &schema.additional_properties) {
                    (Some(properties), _) => properties.get(name),
                    (None, Some(JSONSchemaPropsOrBool::Schema(values))) => Some(values.as_ref()),
                    _ => None,
                };
                match field_schema {
                    Some(field_schema) => undeclared(field, field_schema, &child, found),
                    None => found.push(format!("{child}: not in schema")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(item_schema)) = &schema.items {
                for (index, item) in items.iter().enumerate() {
                    undeclared(item, item_schema, &format!("{path}[{index}]"), found);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn fixtures_only_use_declared_fields() {
    for (file, kind) in [
        ("federateddeployment.yaml", "FederatedDeployment"),
        ("federatednamespace.yaml", "FederatedNamespace"),
        (
            "replicaschedulingpreference.yaml",
            "ReplicaSchedulingPreference",
        ),
        ("kubefedcluster.yaml", "KubeFedCluster"),
        ("kubefedconfig.yaml", "KubeFedConfig"),
        ("federatedtypeconfig.yaml", "FederatedTypeConfig"),
    ] {
        let mut manifest = fixture(file);
        // apiVersion, kind and metadata are handled by the API server itself, never pruned.
        if let Some(object) = manifest.as_object_mut() {
            for field in ["apiVersion", "kind", "metadata"] {
                object.remove(field);
            }
        }
        let crd = crd_for(kind);
        let root = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema");
        let mut found = Vec::new();
        undeclared(&manifest, root, "", &mut found);
        assert!(found.is_empty(), "{file}:\n{}", found.join("\n"));
    }
}
