//! `spec.overrides`: validation, and turning a cluster's overrides into an RFC 6902 patch.
//!
//! Two levels of checks: [`validate_structure`] (an entry without a cluster, a cluster listed
//! twice) concerns the whole object; everything else is checked by [`overrides_for`] for one
//! cluster, so a bad override for one cluster fails only that cluster.
//!
//! Error messages name the cluster, path and problem: they become the `ApplyOverridesFailed`
//! cluster status and a Warning event on the federated object.

use std::collections::BTreeSet;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::Value;
use thiserror::Error;

use crate::crds::federated::{ClusterOverride, OverrideItem};

/// Paths an override may not touch: identity of the member object is fixed by the federated
/// object. `/apiVersion` is deliberately allowed, as in KubeFed: overriding it is how one
/// federated type targets a different version of the kind on some clusters.
pub const DISALLOWED_PATHS: [&str; 4] = [
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/generateName",
    "/kind",
];

/// An invalid override, or one that could not be applied.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum OverrideError {
    /// Two `overrides[]` entries name the same cluster.
    #[error("overrides for cluster {cluster:?} are listed more than once")]
    DuplicateCluster {
        /// The cluster named twice.
        cluster: String,
    },
    /// An `overrides[]` entry has an empty `clusterName`.
    #[error("an overrides entry has an empty clusterName")]
    EmptyClusterName,
    /// One cluster overrides the same path twice.
    #[error("cluster {cluster:?}: path {path:?} is overridden more than once")]
    DuplicatePath {
        /// The cluster.
        cluster: String,
        /// The repeated path.
        path: String,
    },
    /// The op is not add, remove, replace or empty.
    #[error(
        "cluster {cluster:?}: path {path:?}: unsupported op {op:?} (use add, remove or replace)"
    )]
    InvalidOp {
        /// The cluster.
        cluster: String,
        /// The path of the operation.
        path: String,
        /// The op as written.
        op: String,
    },
    /// The path is not a JSON pointer, or is the document root.
    #[error("cluster {cluster:?}: path {path:?} is not a valid JSON pointer: {problem}")]
    InvalidPath {
        /// The cluster.
        cluster: String,
        /// The path as written.
        path: String,
        /// Why it is invalid.
        problem: String,
    },
    /// The path is one of [`DISALLOWED_PATHS`].
    #[error("cluster {cluster:?}: path {path:?} cannot be overridden")]
    DisallowedPath {
        /// The cluster.
        cluster: String,
        /// The path.
        path: String,
    },
    /// add or replace without a value.
    #[error("cluster {cluster:?}: {op} {path}: a value is required")]
    MissingValue {
        /// The cluster.
        cluster: String,
        /// The op.
        op: &'static str,
        /// The path.
        path: String,
    },
    /// The patch does not fit the object, e.g. replacing a field that does not exist.
    #[error("cluster {cluster:?}: {op} {path}: {problem}")]
    Apply {
        /// The cluster.
        cluster: String,
        /// The op.
        op: &'static str,
        /// The path.
        path: String,
        /// What went wrong.
        problem: String,
    },
}

/// Checks the shape of `spec.overrides` as a whole: every entry names a cluster, and no
/// cluster is listed twice. A problem here fails the object (which entry would win is unclear);
/// everything else is checked per cluster by [`overrides_for`], so it fails only that cluster.
pub fn validate_structure(overrides: &[OverrideItem]) -> Result<(), OverrideError> {
    let mut clusters = BTreeSet::new();
    for item in overrides {
        if item.cluster_name.is_empty() {
            return Err(OverrideError::EmptyClusterName);
        }
        if !clusters.insert(item.cluster_name.as_str()) {
            return Err(OverrideError::DuplicateCluster {
                cluster: item.cluster_name.clone(),
            });
        }
    }
    Ok(())
}

/// Validates everything: the structure and every cluster's operations; returns the first
/// problem found (for tools that check a whole object, e.g. before applying it).
pub fn validate_overrides(overrides: &[OverrideItem]) -> Result<(), OverrideError> {
    validate_structure(overrides)?;
    for item in overrides {
        overrides_for(overrides, &item.cluster_name)?;
    }
    Ok(())
}

/// The JSON patch for `cluster` (empty when it has no overrides). Only that cluster's entries
/// are checked (ops, paths, a path overridden twice), so a mistake in another cluster's
/// overrides does not stop this one.
pub fn overrides_for(overrides: &[OverrideItem], cluster: &str) -> Result<Patch, OverrideError> {
    let mut ops = Vec::new();
    let mut paths = BTreeSet::new();
    for o in overrides
        .iter()
        .filter(|i| i.cluster_name == cluster)
        .flat_map(|i| i.cluster_overrides.iter())
    {
        ops.push(to_operation(cluster, o)?);
        if !paths.insert(o.path.as_str()) {
            return Err(OverrideError::DuplicatePath {
                cluster: cluster.to_owned(),
                path: o.path.clone(),
            });
        }
    }
    Ok(Patch(ops))
}

/// Applies `patch` (the overrides of `cluster`) to `obj`, one operation at a time so an error
/// says exactly which operation failed and why. On error `obj` is left unchanged.
pub fn apply_patch(obj: &mut Value, patch: &Patch, cluster: &str) -> Result<(), OverrideError> {
    let mut work = obj.clone();
    for op in &patch.0 {
        if let Err(e) = json_patch::patch(&mut work, std::slice::from_ref(op)) {
            return Err(describe_failure(&work, op, cluster, &e));
        }
    }
    *obj = work;
    Ok(())
}

/// [`overrides_for`] followed by [`apply_patch`].
pub fn apply_overrides(
    obj: &mut Value,
    overrides: &[OverrideItem],
    cluster: &str,
) -> Result<(), OverrideError> {
    let patch = overrides_for(overrides, cluster)?;
    apply_patch(obj, &patch, cluster)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

/// Turns the library's terse "path is invalid" into the actual reason.
fn describe_failure(
    doc: &Value,
    op: &PatchOperation,
    cluster: &str,
    err: &json_patch::PatchError,
) -> OverrideError {
    let path = op.path();
    let exists = doc.pointer(path.as_str()).is_some();
    let parent = path.parent().and_then(|p| doc.pointer(p.as_str()));
    let problem = match (op, exists, parent) {
        (PatchOperation::Add(_), _, None) => "parent path does not exist".to_owned(),
        (PatchOperation::Add(_), _, Some(Value::Array(_))) => {
            "array index is out of range or not a number".to_owned()
        }
        (PatchOperation::Add(_), _, Some(p)) if !p.is_object() => {
            format!("parent is a {}, not an object or array", kind_of(p))
        }
        (_, false, _) => "path does not exist".to_owned(),
        _ => err.kind.to_string(),
    };
    OverrideError::Apply {
        cluster: cluster.to_owned(),
        op: op_name(op),
        path: path.as_str().to_owned(),
        problem,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn to_operation(cluster: &str, o: &ClusterOverride) -> Result<PatchOperation, OverrideError> {
    let op: &'static str = match o.op.as_str() {
        "" | "replace" => "replace",
        "add" => "add",
        "remove" => "remove",
        other => {
            return Err(OverrideError::InvalidOp {
                cluster: cluster.to_owned(),
                path: o.path.clone(),
                op: other.to_owned(),
            });
        }
    };
    let invalid_path = |problem: String| OverrideError::InvalidPath {
        cluster: cluster.to_owned(),
        path: o.path.clone(),
        problem,
    };
    // The root pointer "" would replace the whole object, bypassing the rules below.
    if o.path.is_empty() {
        return Err(invalid_path("the whole object cannot be overridden".into()));
    }
    let path = PointerBuf::parse(o.path.as_str()).map_err(|e| invalid_path(e.to_string()))?;
    if DISALLOWED_PATHS.contains(&o.path.as_str()) {
        return Err(OverrideError::DisallowedPath {
            cluster: cluster.to_owned(),
            path: o.path.clone(),
        });
    }
    let value = || {
        o.value.clone().ok_or_else(|| OverrideError::MissingValue {
            cluster: cluster.to_owned(),
            op,
            path: o.path.clone(),
        })
    };
    Ok(match op {
        "add" => PatchOperation::Add(AddOperation {
            path,
            value: value()?,
        }),
        "remove" => PatchOperation::Remove(RemoveOperation { path }),
        _ => PatchOperation::Replace(ReplaceOperation {
            path,
            value: value()?,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(cluster: &str, ops: Value) -> OverrideItem {
        serde_json::from_value(json!({"clusterName": cluster, "clusterOverrides": ops})).unwrap()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}
            }
        })
    }

    #[test]
    fn valid_overrides_apply_in_order() {
        let overrides = vec![
            item(
                "c1",
                json!([
                    {"path": "/spec/replicas", "value": 5},
                    {"op": "add", "path": "/metadata/labels/zone", "value": "a"},
                    {"op": "remove", "path": "/metadata/labels/app"},
                    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:2"},
                    {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}}
                ]),
            ),
            item("c2", json!([{"path": "/spec/replicas", "value": 1}])),
        ];
        validate_overrides(&overrides).unwrap();
        let mut obj = deployment();
        apply_overrides(&mut obj, &overrides, "c1").unwrap();
        assert_eq!(obj["spec"]["replicas"], 5);
        assert_eq!(obj["metadata"]["labels"], json!({"zone": "a"}));
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert_eq!(obj["metadata"]["annotations"]["x"], "y");

        let mut other = deployment();
        apply_overrides(&mut other, &overrides, "c2").unwrap();
        assert_eq!(other["spec"]["replicas"], 1);

        let mut untouched = deployment();
        apply_overrides(&mut untouched, &overrides, "c3").unwrap();
        assert_eq!(untouched, deployment());
        assert!(overrides_for(&overrides, "c3").unwrap().0.is_empty());
    }

    #[test]
    fn rejects_identity_paths_but_not_api_version() {
        for p in DISALLOWED_PATHS {
            let err =
                validate_overrides(&[item("c1", json!([{"path": p, "value": "x"}]))]).unwrap_err();
            assert!(matches!(err, OverrideError::DisallowedPath { .. }), "{p}");
            assert!(err.to_string().contains(p) && err.to_string().contains("c1"));
        }
        validate_overrides(&[item(
            "c1",
            json!([{"path": "/apiVersion", "value": "apps/v1beta2"}]),
        )])
        .unwrap();
        // Only exact paths are disallowed, as in KubeFed.
        validate_overrides(&[item(
            "c1",
            json!([{"op": "add", "path": "/metadata/labels/name", "value": "x"}]),
        )])
        .unwrap();
    }

    #[test]
    fn rejects_bad_ops_paths_values_and_duplicates() {
        let one = |ops: Value| validate_overrides(&[item("c1", ops)]);
        assert!(matches!(
            one(json!([{"op": "move", "path": "/spec"}])),
            Err(OverrideError::InvalidOp { .. })
        ));
        assert!(matches!(
            one(json!([{"op": "Replace", "path": "/spec", "value": 1}])),
            Err(OverrideError::InvalidOp { .. })
        ));
        assert!(matches!(
            one(json!([{"path": "spec/replicas", "value": 1}])),
            Err(OverrideError::InvalidPath { .. })
        ));
        assert!(matches!(
            one(json!([{"path": "", "value": {}}])),
            Err(OverrideError::InvalidPath { .. })
        ));
        assert!(matches!(
            one(json!([{"path": "/spec/~2", "value": 1}])),
            Err(OverrideError::InvalidPath { .. })
        ));
        assert!(matches!(
            one(json!([{"op": "add", "path": "/spec/x"}])),
            Err(OverrideError::MissingValue { op: "add", .. })
        ));
        assert!(matches!(
            one(json!([{"path": "/spec/x"}])),
            Err(OverrideError::MissingValue { op: "replace", .. })
        ));
        // The typed spec cannot tell `value: null` from no value, so null counts as missing.
        assert!(one(json!([{"path": "/spec/x", "value": null}])).is_err());
        one(json!([{"op": "remove", "path": "/spec/x"}])).unwrap();
        assert_eq!(
            one(json!([
                {"path": "/spec/replicas", "value": 1},
                {"op": "remove", "path": "/spec/replicas"}
            ])),
            Err(OverrideError::DuplicatePath {
                cluster: "c1".into(),
                path: "/spec/replicas".into()
            })
        );
        assert_eq!(
            validate_overrides(&[item("c1", json!([])), item("c1", json!([]))]),
            Err(OverrideError::DuplicateCluster {
                cluster: "c1".into()
            })
        );
        assert_eq!(
            validate_overrides(&[item("", json!([]))]),
            Err(OverrideError::EmptyClusterName)
        );
    }

    #[test]
    fn an_invalid_override_fails_only_its_cluster() {
        let overrides = vec![
            item("c1", json!([{"path": "/spec/replicas", "value": 1}])),
            item("c2", json!([{"path": "/metadata/name", "value": "x"}])),
        ];
        validate_structure(&overrides).unwrap();
        assert_eq!(overrides_for(&overrides, "c1").unwrap().0.len(), 1);
        assert!(matches!(
            overrides_for(&overrides, "c2"),
            Err(OverrideError::DisallowedPath { .. })
        ));
        assert!(validate_overrides(&overrides).is_err());
        // A cluster listed twice is a problem of the whole object.
        let twice = vec![item("c1", json!([])), item("c1", json!([]))];
        assert!(validate_structure(&twice).is_err());
    }

    #[test]
    fn apply_errors_are_specific_and_leave_object_unchanged() {
        let cases = [
            (
                json!([{"path": "/spec/foo", "value": 1}]),
                "cluster \"c1\": replace /spec/foo: path does not exist",
            ),
            (
                json!([{"op": "remove", "path": "/metadata/annotations/a"}]),
                "cluster \"c1\": remove /metadata/annotations/a: path does not exist",
            ),
            (
                json!([{"op": "add", "path": "/spec/strategy/type", "value": "Recreate"}]),
                "cluster \"c1\": add /spec/strategy/type: parent path does not exist",
            ),
            (
                json!([{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}]),
                "cluster \"c1\": add /spec/template/spec/containers/5: array index is out of range or not a number",
            ),
            (
                json!([{"op": "add", "path": "/spec/replicas/x", "value": 1}]),
                "cluster \"c1\": add /spec/replicas/x: parent is a number, not an object or array",
            ),
        ];
        for (ops, message) in cases {
            let overrides = vec![item(
                "c1",
                json!([{"path": "/spec/replicas", "value": 9}])
                    .as_array()
                    .unwrap()
                    .iter()
                    .chain(ops.as_array().unwrap())
                    .cloned()
                    .collect::<Value>(),
            )];
            let mut obj = deployment();
            let err = apply_overrides(&mut obj, &overrides, "c1").unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(obj, deployment(), "object must be untouched on error");
        }
    }

    #[test]
    fn add_appends_with_dash_and_escapes_work() {
        let overrides = vec![item(
            "c1",
            json!([
                {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "side"}},
                {"op": "add", "path": "/metadata/labels/example.com~1tier", "value": "gold"}
            ]),
        )];
        let mut obj = deployment();
        apply_overrides(&mut obj, &overrides, "c1").unwrap();
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][1]["name"],
            "side"
        );
        assert_eq!(obj["metadata"]["labels"]["example.com/tier"], "gold");
    }
}
