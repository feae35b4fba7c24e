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
        established: false,
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

/// Whether a condition of the CRD's status is `True`.
pub fn condition_true(crd: &Value, type_: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(type_)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// The resource a stored CRD serves, if any: REST requests are served once its names are
/// accepted, discovery shows it once it is established (as the real API server does).
pub fn served_def(crd: &Value) -> Option<ResourceDef> {
    if !condition_true(crd, "NamesAccepted") {
        return None;
    }
    let mut def = def_from_crd(crd).ok()?;
    def.established = condition_true(crd, "Established");
    Some(def)
}

/// Keeps `status.storedVersions` listing the storage version. A new CRD starts with no
/// accepted names and no conditions: the naming and establishing steps set them later.
pub fn prepare_status(crd: &mut Value, def: &ResourceDef, creating: bool) {
    if creating {
        crd["status"] = json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []});
    }
    let status = meta::as_map_mut(meta::as_map_mut(crd).entry("status").or_insert(json!({})));
    let mut stored = strings(status.get("storedVersions"));
    let sv = def.storage_version().to_string();
    if !stored.contains(&sv) {
        stored.push(sv);
    }
    status.insert("storedVersions".into(), json!(stored));
}

/// The names a CRD asks for, as `status.acceptedNames` spells them.
fn requested_names(def: &ResourceDef) -> Value {
    let mut names = json!({
        "plural": def.plural,
        "singular": def.singular,
        "kind": def.kind,
        "listKind": def.list_kind(),
    });
    if !def.short_names.is_empty() {
        names["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        names["categories"] = json!(def.categories);
    }
    names
}

/// `status.conditions` with one condition set, keeping its transition time when its status
/// does not change.
fn with_condition(crd: &Value, type_: &str, status: &str, reason: &str, message: &str) -> Value {
    let mut conds: Vec<Value> = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pos = conds
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some(type_));
    let time = match pos.map(|i| &conds[i]) {
        Some(p) if p.get("status").and_then(Value::as_str) == Some(status) => p
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(meta::now_rfc3339())),
        _ => json!(meta::now_rfc3339()),
    };
    let cond = json!({"type": type_, "status": status, "lastTransitionTime": time, "reason": reason, "message": message});
    match pos {
        Some(i) => conds[i] = cond,
        None => conds.push(cond),
    }
    Value::Array(conds)
}

/// The naming step: when the CRD's accepted names differ from what its spec asks for, the
/// CRD with accepted names, `NamesAccepted`, and `Established` False while installing.
/// `taken` says the plural is already served by a built-in resource.
pub fn accept_names(crd: &Value, def: &ResourceDef, taken: bool) -> Option<Value> {
    let wanted = requested_names(def);
    let accepted = crd.pointer("/status/acceptedNames");
    if accepted == Some(&wanted) && crd.pointer("/status/conditions").is_some() {
        return None;
    }
    let mut next = crd.clone();
    let conds = if taken {
        let c = with_condition(
            &next,
            "NamesAccepted",
            "False",
            "PluralConflict",
            &format!("{:?} is already in use", def.plural),
        );
        next["status"]["conditions"] = c;
        with_condition(
            &next,
            "Established",
            "False",
            "NotAccepted",
            "not all names are accepted",
        )
    } else {
        next["status"]["acceptedNames"] = wanted;
        let c = with_condition(
            &next,
            "NamesAccepted",
            "True",
            "NoConflicts",
            "no conflicts found",
        );
        next["status"]["conditions"] = c;
        if condition_true(&next, "Established") {
            next["status"]["conditions"].clone()
        } else {
            with_condition(
                &next,
                "Established",
                "False",
                "Installing",
                "the initial names have been accepted",
            )
        }
    };
    next["status"]["conditions"] = conds;
    (next != *crd).then_some(next)
}

/// The establishing step: the CRD with `Established` True.
pub fn establish(crd: &Value) -> Value {
    let mut next = crd.clone();
    next["status"]["conditions"] = with_condition(
        crd,
        "Established",
        "True",
        "InitialNamesAccepted",
        "the initial names have been accepted",
    );
    next
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

    #[test]
    fn names_are_accepted_then_established() {
        let mut crd = json!({
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing", "shortNames": ["th"]},
                "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        let def = def_from_crd(&crd).unwrap();
        prepare_status(&mut crd, &def, true);
        assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
        assert!(
            served_def(&crd).is_none(),
            "not served before its names are accepted"
        );

        let named = accept_names(&crd, &def, false).expect("names to accept");
        assert_eq!(named["status"]["acceptedNames"]["listKind"], "ThingList");
        assert!(condition_true(&named, "NamesAccepted"));
        assert!(!condition_true(&named, "Established"));
        let served = served_def(&named).expect("served once names are accepted");
        assert!(
            !served.established,
            "not in discovery before it is established"
        );
        assert!(accept_names(&named, &def, false).is_none(), "names settled");

        let established = establish(&named);
        assert!(served_def(&established).unwrap().established);
        assert!(accept_names(&established, &def, false).is_none());

        let taken = accept_names(&crd, &def, true).unwrap();
        assert!(!condition_true(&taken, "NamesAccepted"));
        assert!(served_def(&taken).is_none());
    }
}
