//! The member object a cluster should get: the federated template, named after the federated
//! object, with the cluster's overrides applied, the managed label set and a hash of the result.

use serde_json::{Map, Value};
use thiserror::Error;

use super::hash::hash_value;
use super::overrides::{OverrideError, apply_overrides};
use crate::crds::federated::{MANAGED_LABEL, OverrideItem};

/// Annotation on member objects: hash of the desired object the operator last applied. Server-
/// side apply cannot tell us that a field we stopped setting is still present, so a changed
/// hash is what triggers the re-apply that releases it.
pub const DESIRED_HASH_ANNOTATION: &str = "kubefed.io/desired-hash";

/// Template `metadata` fields owned by the API server (or meaningless on another cluster):
/// never sent to members.
const SERVER_OWNED_METADATA: [&str; 10] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "generateName",
];

/// Kinds whose `spec.replicas` honours `retainReplicas`.
const REPLICA_KINDS: [&str; 2] = ["Deployment", "ReplicaSet"];

/// Everything needed to build one cluster's member object.
#[derive(Clone, Copy, Debug)]
pub struct DesiredInput<'a> {
    /// Name of the federated object (and of the member object).
    pub name: &'a str,
    /// Namespace of the federated object; `None` for cluster-scoped targets and for Namespaces.
    pub namespace: Option<&'a str>,
    /// Target `apiVersion` from the FederatedTypeConfig (`v1`, `apps/v1`); used when the
    /// template does not set one.
    pub api_version: &'a str,
    /// Target kind from the FederatedTypeConfig.
    pub kind: &'a str,
    /// `spec.template`; `None` builds the object from nothing (e.g. a Namespace).
    pub template: Option<&'a Value>,
    /// The member cluster.
    pub cluster: &'a str,
    /// All of `spec.overrides`; only those for `cluster` are checked and applied.
    pub overrides: &'a [OverrideItem],
    /// `spec.retainReplicas`.
    pub retain_replicas: bool,
    /// `spec.replicas` of the existing member object, when there is one.
    pub observed_replicas: Option<i64>,
}

/// The object to server-side apply, and what the controller should warn about.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    /// The full object, including [`DESIRED_HASH_ANNOTATION`].
    pub object: Value,
    /// The hash stored in [`DESIRED_HASH_ANNOTATION`].
    pub hash: String,
    /// Messages for Warning events (e.g. template annotations that were dropped).
    pub warnings: Vec<String>,
}

/// Why a member object could not be built.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DesiredError {
    /// The template is not a JSON object (`ComputeResourceFailed`).
    #[error("spec.template must be an object, found {0}")]
    TemplateNotObject(&'static str),
    /// `metadata`, `metadata.labels` or `metadata.annotations` is not an object
    /// (`ComputeResourceFailed`).
    #[error("{0} must be an object")]
    NotAnObject(&'static str),
    /// An override is invalid or does not apply (`ApplyOverridesFailed`).
    #[error(transparent)]
    Overrides(#[from] OverrideError),
}

/// Moves a Secret's `stringData` into `data` (base64), as the API server does on write: the
/// stored object never has `stringData`, so sending it would look like drift forever.
fn fold_string_data(obj: &mut Map<String, Value>) {
    use base64::Engine;
    let Some(Value::Object(strings)) = obj.remove("stringData") else {
        return;
    };
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, value) in strings {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(
                key,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Builds the member object for one cluster.
///
/// Follows KubeFed: template annotations and finalizers are dropped with a warning (overrides
/// may still add annotations); name, namespace and kind come from the federated object and type
/// config; the template's apiVersion wins over the type config's; overrides are applied; the
/// managed label is set last so no override can remove it. In addition server-owned metadata
/// and `status` are stripped. With `retainReplicas` on a Deployment or ReplicaSet the member's
/// current `spec.replicas` is sent back unchanged (the template's value only on creation);
/// the hash is computed without it so that scaling in the member does not change the hash.
pub fn desired_member_object(input: &DesiredInput<'_>) -> Result<DesiredObject, DesiredError> {
    let mut obj = match input.template {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(DesiredError::TemplateNotObject(json_kind(other))),
    };
    let mut warnings = Vec::new();
    {
        let meta = metadata_mut(&mut obj)?;
        for (field, what) in [("annotations", "annotations"), ("finalizers", "finalizers")] {
            if let Some(v) = meta.remove(field) {
                let names = listed_names(&v);
                if !names.is_empty() {
                    warnings.push(format!(
                        "template {what} [{}] are not propagated; use an override to set \
                         them per cluster",
                        names.join(", ")
                    ));
                }
            }
        }
    }
    set_identity(&mut obj, input)?;

    let mut value = Value::Object(obj);
    apply_overrides(&mut value, input.overrides, input.cluster)?;
    let Value::Object(mut obj) = value else {
        return Err(DesiredError::TemplateNotObject(
            "non-object after overrides",
        ));
    };
    // Identity is not negotiable even if an override replaced the whole of `metadata`.
    set_identity(&mut obj, input)?;
    obj.remove("status");
    let meta = metadata_mut(&mut obj)?;
    for field in SERVER_OWNED_METADATA {
        meta.remove(field);
    }
    let labels = object_entry(meta, "labels", "metadata.labels")?;
    labels.insert(MANAGED_LABEL.into(), "true".into());

    if input.kind == "Secret" && input.api_version == "v1" {
        fold_string_data(&mut obj);
    }
    let retain = input.retain_replicas && REPLICA_KINDS.contains(&input.kind);
    if retain && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("replicas");
    }
    let hash = hash_value(&Value::Object(obj.clone()));
    if retain {
        let replicas = match input.observed_replicas {
            Some(n) => Some(Value::from(n)),
            None => retained_template_replicas(input),
        };
        if let Some(r) = replicas
            && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.insert("replicas".into(), r);
        }
    }
    let meta = metadata_mut(&mut obj)?;
    let annotations = object_entry(meta, "annotations", "metadata.annotations")?;
    annotations.insert(DESIRED_HASH_ANNOTATION.into(), hash.clone().into());

    Ok(DesiredObject {
        object: Value::Object(obj),
        hash,
        warnings,
    })
}

/// On creation with retainReplicas the template's (overridden) replicas are used, as KubeFed
/// did; recomputed from the template because they were removed before hashing.
fn retained_template_replicas(input: &DesiredInput<'_>) -> Option<Value> {
    let mut tmpl = input.template.cloned().unwrap_or(Value::Object(Map::new()));
    // Errors were already reported by the main pass; a failure here just means "no value".
    apply_overrides(&mut tmpl, input.overrides, input.cluster).ok()?;
    tmpl.pointer("/spec/replicas").cloned()
}

fn set_identity(
    obj: &mut Map<String, Value>,
    input: &DesiredInput<'_>,
) -> Result<(), DesiredError> {
    obj.insert("kind".into(), input.kind.into());
    // The template (or an override) may choose another version of the kind, as in KubeFed.
    if obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        obj.insert("apiVersion".into(), input.api_version.into());
    }
    let meta = metadata_mut(obj)?;
    meta.insert("name".into(), input.name.into());
    match input.namespace {
        Some(ns) => meta.insert("namespace".into(), ns.into()),
        None => meta.remove("namespace"),
    };
    Ok(())
}

fn metadata_mut(obj: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, DesiredError> {
    object_entry(obj, "metadata", "metadata")
}

/// The object at `key`, created when absent or null.
fn object_entry<'m>(
    m: &'m mut Map<String, Value>,
    key: &str,
    what: &'static str,
) -> Result<&'m mut Map<String, Value>, DesiredError> {
    let slot = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or(DesiredError::NotAnObject(what))
}

fn listed_names(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({
            "metadata": {
                "labels": {"app": "web"},
                "annotations": {"b": "2", "a": "1"},
                "finalizers": ["example.com/guard"],
                "uid": "123", "resourceVersion": "9", "creationTimestamp": "2020-01-01T00:00:00Z",
                "generation": 4, "managedFields": [], "selfLink": "/x",
                "ownerReferences": [{"name": "o"}], "name": "ignored", "namespace": "ignored"
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}
                }
            },
            "status": {"replicas": 3}
        })
    }

    fn input<'a>(tmpl: &'a Value, overrides: &'a [OverrideItem]) -> DesiredInput<'a> {
        DesiredInput {
            name: "web",
            namespace: Some("demo"),
            api_version: "apps/v1",
            kind: "Deployment",
            template: Some(tmpl),
            cluster: "c1",
            overrides,
            retain_replicas: false,
            observed_replicas: None,
        }
    }

    fn item(cluster: &str, ops: Value) -> OverrideItem {
        serde_json::from_value(json!({"clusterName": cluster, "clusterOverrides": ops})).unwrap()
    }

    #[test]
    fn secret_string_data_is_folded_into_data() {
        let t =
            json!({"type": "Opaque", "data": {"a": "YQ=="}, "stringData": {"b": "b", "a": "z"}});
        let mut i = input(&t, &[]);
        i.api_version = "v1";
        i.kind = "Secret";
        let d = desired_member_object(&i).unwrap();
        assert!(d.object.get("stringData").is_none());
        // stringData wins over data for the same key, as on the API server.
        assert_eq!(d.object["data"], json!({"a": "eg==", "b": "Yg=="}));
    }

    #[test]
    fn builds_member_object_from_template() {
        let t = template();
        let d = desired_member_object(&input(&t, &[])).unwrap();
        let o = &d.object;
        assert_eq!(o["apiVersion"], "apps/v1");
        assert_eq!(o["kind"], "Deployment");
        assert_eq!(o["metadata"]["name"], "web");
        assert_eq!(o["metadata"]["namespace"], "demo");
        assert_eq!(o["metadata"]["labels"]["app"], "web");
        assert_eq!(o["metadata"]["labels"][MANAGED_LABEL], "true");
        assert_eq!(o["spec"]["replicas"], 3);
        assert!(o.get("status").is_none());
        let meta = o["metadata"].as_object().unwrap();
        for f in SERVER_OWNED_METADATA.iter().chain(&["finalizers"]) {
            assert!(!meta.contains_key(*f), "{f} must be stripped");
        }
        // Only the hash annotation remains: template annotations are not propagated.
        assert_eq!(
            o["metadata"]["annotations"],
            json!({ DESIRED_HASH_ANNOTATION: d.hash.clone() })
        );
        assert_eq!(d.hash.len(), 16);
        assert_eq!(
            d.warnings,
            vec![
                "template annotations [a, b] are not propagated; use an override to set them per cluster"
                    .to_string(),
                "template finalizers [example.com/guard] are not propagated; use an override to set them per cluster"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn hash_is_of_object_without_hash_annotation_and_is_stable() {
        let t = template();
        let d = desired_member_object(&input(&t, &[])).unwrap();
        let mut without = d.object.clone();
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        assert_eq!(hash_value(&without), d.hash);
        assert_eq!(desired_member_object(&input(&t, &[])).unwrap(), d);
        // Key order does not matter.
        assert_eq!(
            hash_value(&json!({"a": 1, "b": [1, {"c": 2, "d": 3}]})),
            hash_value(&serde_json::from_str(r#"{"b":[1,{"d":3,"c":2}],"a":1}"#).unwrap())
        );
        let mut changed = template();
        changed["spec"]["replicas"] = json!(4);
        assert_ne!(
            desired_member_object(&input(&changed, &[])).unwrap().hash,
            d.hash
        );
    }

    #[test]
    fn cluster_scoped_and_empty_template() {
        let mut i = input(&Value::Null, &[]);
        i.template = None;
        i.namespace = None;
        i.api_version = "v1";
        i.kind = "Namespace";
        let d = desired_member_object(&i).unwrap();
        assert_eq!(d.object["apiVersion"], "v1");
        assert_eq!(d.object["kind"], "Namespace");
        assert_eq!(d.object["metadata"]["name"], "web");
        assert!(d.object["metadata"].get("namespace").is_none());
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn template_api_version_wins_and_overrides_may_change_it() {
        let mut t = template();
        t["apiVersion"] = json!("apps/v1beta2");
        assert_eq!(
            desired_member_object(&input(&t, &[])).unwrap().object["apiVersion"],
            "apps/v1beta2"
        );
        let o = [item(
            "c1",
            json!([{"path": "/apiVersion", "value": "apps/v1beta1"}]),
        )];
        assert_eq!(
            desired_member_object(&input(&t, &o)).unwrap().object["apiVersion"],
            "apps/v1beta1"
        );
    }

    #[test]
    fn overrides_apply_and_may_add_annotations_but_not_remove_managed_label() {
        let t = template();
        let o = [item(
            "c1",
            json!([
                {"path": "/spec/replicas", "value": 7},
                {"op": "add", "path": "/metadata/annotations", "value": {"team": "x"}},
                {"op": "replace", "path": "/metadata/labels", "value": {}},
                {"op": "add", "path": "/metadata/uid", "value": "nope"}
            ]),
        )];
        let d = desired_member_object(&input(&t, &o)).unwrap();
        assert_eq!(d.object["spec"]["replicas"], 7);
        assert_eq!(d.object["metadata"]["annotations"]["team"], "x");
        assert_eq!(
            d.object["metadata"]["labels"],
            json!({MANAGED_LABEL: "true"})
        );
        assert!(d.object["metadata"].get("uid").is_none());
    }

    #[test]
    fn whole_metadata_override_cannot_change_identity() {
        let t = template();
        let o = [item(
            "c1",
            json!([{"path": "/metadata", "value": {"name": "evil", "namespace": "kube-system"}}]),
        )];
        let d = desired_member_object(&input(&t, &o)).unwrap();
        assert_eq!(d.object["metadata"]["name"], "web");
        assert_eq!(d.object["metadata"]["namespace"], "demo");
    }

    #[test]
    fn override_errors_surface() {
        let t = template();
        let o = [item("c1", json!([{"path": "/spec/nope", "value": 1}]))];
        let e = desired_member_object(&input(&t, &o)).unwrap_err();
        assert!(matches!(e, DesiredError::Overrides(_)));
        assert_eq!(
            e.to_string(),
            "cluster \"c1\": replace /spec/nope: path does not exist"
        );
    }

    #[test]
    fn bad_templates_are_errors() {
        let t = json!([1]);
        assert_eq!(
            desired_member_object(&input(&t, &[])).unwrap_err(),
            DesiredError::TemplateNotObject("an array")
        );
        let t = json!({"metadata": "x"});
        assert_eq!(
            desired_member_object(&input(&t, &[])).unwrap_err(),
            DesiredError::NotAnObject("metadata")
        );
        let t = json!({"metadata": {"labels": ["x"]}});
        let e = desired_member_object(&input(&t, &[])).unwrap_err();
        assert_eq!(e.to_string(), "metadata.labels must be an object");
    }

    #[test]
    fn retain_replicas_keeps_member_value_and_hash_ignores_it() {
        let t = template();
        let mut i = input(&t, &[]);
        i.retain_replicas = true;
        // Creation: the template's value.
        let created = desired_member_object(&i).unwrap();
        assert_eq!(created.object["spec"]["replicas"], 3);
        // Existing member scaled by an HPA to 10: sent back unchanged, same hash.
        i.observed_replicas = Some(10);
        let kept = desired_member_object(&i).unwrap();
        assert_eq!(kept.object["spec"]["replicas"], 10);
        assert_eq!(kept.hash, created.hash);
        // Not a replica kind: ignored.
        i.kind = "ConfigMap";
        assert_eq!(
            desired_member_object(&i).unwrap().object["spec"]["replicas"],
            3
        );
    }

    #[test]
    fn retain_replicas_on_creation_uses_overridden_value() {
        let t = template();
        let o = [item("c1", json!([{"path": "/spec/replicas", "value": 5}]))];
        let mut i = input(&t, &o);
        i.retain_replicas = true;
        assert_eq!(
            desired_member_object(&i).unwrap().object["spec"]["replicas"],
            5
        );
    }
}
