//! CustomResourceDefinitions: turning a CRD object into a served resource and maintaining
//! its status conditions.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::server::meta;
use crate::server::resources::{GroupResource, PrinterColumn, ResourceDef, ScaleDef};
use crate::server::schema::{KindSchema, structural};

pub fn is_crd_gr(gr: &GroupResource) -> bool {
    gr.group == "apiextensions.k8s.io" && gr.resource == "customresourcedefinitions"
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource a CRD declares, or a validation message.
pub fn def_from_crd(crd: &Value) -> Result<ResourceDef, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .ok_or("spec.group: Required value")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = names
        .get("plural")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("spec.names.plural: Required value")?;
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("spec.names.kind: Required value")?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let want = format!("{plural}.{group}");
    if meta::name(crd) != want {
        return Err(format!(
            "metadata.name: Invalid value: {:?}: must be spec.names.plural+\".\"+spec.group",
            meta::name(crd)
        ));
    }
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            return Err(format!(
                "spec.scope: Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
            ));
        }
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    let storage: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .collect();
    let [storage] = storage.as_slice() else {
        return Err(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
                .into(),
        );
    };
    let storage_name = storage
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut served: Vec<String> = vec![storage_name.clone()];
    for v in versions {
        let n = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if v.get("served").and_then(Value::as_bool) == Some(true) && n != storage_name {
            served.push(n.to_string());
        }
    }
    let subs = storage.get("subresources");
    let scale = subs.and_then(|s| s.get("scale")).map(|s| ScaleDef {
        spec_replicas_path: s
            .get("specReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".spec.replicas")
            .to_string(),
        status_replicas_path: s
            .get("statusReplicasPath")
            .and_then(Value::as_str)
            .unwrap_or(".status.replicas")
            .to_string(),
        label_selector_path: s
            .get("labelSelectorPath")
            .and_then(Value::as_str)
            .map(str::to_string),
    });
    let printer_columns = storage
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some(PrinterColumn {
                        name: c.get("name")?.as_str()?.to_string(),
                        type_: c
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .to_string(),
                        json_path: c.get("jsonPath")?.as_str()?.to_string(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut list_keys = BTreeMap::new();
    if let Some(schema) = storage.get("schema").and_then(|s| s.get("openAPIV3Schema")) {
        collect_list_keys(schema, "", &mut list_keys);
    }
    Ok(ResourceDef {
        group: group.to_string(),
        versions: served,
        plural: plural.to_string(),
        singular,
        kind: kind.to_string(),
        namespaced,
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        status: subs.and_then(|s| s.get("status")).is_some(),
        scale,
        generation: true,
        strategic: false,
        extra_subresources: Vec::new(),
        printer_columns,
        list_keys,
        is_crd: true,
        schemas: BTreeMap::new(),
    })
}

/// The compiled structural schema of every version of a CRD (a version without a schema
/// keeps whatever its objects hold).
pub fn schemas(crd: &Value) -> BTreeMap<String, KindSchema> {
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    versions
        .iter()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_string();
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or(Value::Null);
            Some((
                name,
                KindSchema::Custom(Arc::new(structural::compile(&schema))),
            ))
        })
        .collect()
}

/// Records `x-kubernetes-list-map-keys` of map-type lists by property name.
fn collect_list_keys(schema: &Value, field: &str, out: &mut BTreeMap<String, Vec<String>>) {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        let keys = strings(schema.get("x-kubernetes-list-map-keys"));
        if !keys.is_empty() && !field.is_empty() {
            out.insert(field.to_string(), keys);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            collect_list_keys(v, k, out);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_list_keys(items, field, out);
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        collect_list_keys(extra, field, out);
    }
}

/// Sets `status.conditions` (NamesAccepted, Established), `acceptedNames` and `storedVersions`,
/// keeping transition times of conditions whose status is unchanged.
pub fn set_status(crd: &mut Value, def: &ResourceDef, accepted: bool) {
    let now = meta::now_rfc3339();
    let old = crd
        .get("status")
        .and_then(|s| s.get("conditions"))
        .cloned()
        .unwrap_or(json!([]));
    let status_str = if accepted { "True" } else { "False" };
    let cond = |t: &str, reason: &str, message: &str| {
        let prev = old.as_array().and_then(|a| {
            a.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
        });
        let time = match prev {
            Some(p) if p.get("status").and_then(Value::as_str) == Some(status_str) => {
                p.get("lastTransitionTime").cloned().unwrap_or(json!(now))
            }
            _ => json!(now),
        };
        json!({"type": t, "status": status_str, "reason": reason, "message": message, "lastTransitionTime": time})
    };
    let (na_reason, na_msg, est_reason, est_msg) = if accepted {
        (
            "NoConflicts",
            "no conflicts found",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        )
    } else {
        (
            "NameConflict",
            "the resource name is already served",
            "NotAccepted",
            "not all names are accepted",
        )
    };
    let mut stored = strings(crd.get("status").and_then(|s| s.get("storedVersions")));
    let sv = def.storage_version().to_string();
    if !stored.contains(&sv) {
        stored.push(sv);
    }
    let mut accepted_names = json!({
        "plural": def.plural,
        "singular": def.singular,
        "kind": def.kind,
        "listKind": def.list_kind(),
    });
    if !def.short_names.is_empty() {
        accepted_names["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        accepted_names["categories"] = json!(def.categories);
    }
    crd["status"] = json!({
        "conditions": [cond("NamesAccepted", na_reason, na_msg), cond("Established", est_reason, est_msg)],
        "acceptedNames": accepted_names,
        "storedVersions": stored,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_map_keys_from_schema() {
        let crd = json!({
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": {
                        "placements": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["cluster"],
                            "items": {"type": "object"}}}}}}}}]}
        });
        let def = def_from_crd(&crd).unwrap();
        assert!(!def.namespaced);
        assert_eq!(def.singular, "thing");
        assert_eq!(
            def.list_keys.get("placements"),
            Some(&vec!["cluster".to_string()])
        );
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("x.example.com");
        assert!(def_from_crd(&bad).is_err());
    }
}
