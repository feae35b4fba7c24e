//! Does a member object need a write? Compares the desired object with the member object as
//! seen through the watch cache, so that unchanged desired state issues no request.

use serde_json::Value;

use super::desired::DESIRED_HASH_ANNOTATION;

/// Keys whose values are maps of resource quantities (`resources.limits.cpu`, quota `hard`...):
/// the API server canonicalises quantities (`0.5` becomes `500m`), which is no drift.
const QUANTITY_MAPS: [&str; 6] = [
    "limits",
    "requests",
    "hard",
    "capacity",
    "allocatable",
    "overhead",
];

/// Keys whose value is itself a quantity.
const QUANTITY_FIELDS: [&str; 2] = ["sizeLimit", "storage"];

/// True when `observed` does not already hold the desired state and an apply is needed.
///
/// `observed` normally has more than was applied (server defaults, status, other managers'
/// fields), so this is a containment check rather than equality:
/// - the desired-hash annotation must match (catches fields the operator stopped setting,
///   which containment cannot see);
/// - maps: every desired key must be present with a matching value, extra observed keys are
///   fine; a desired zero value (`null`, `false`, `0`, `""`, `[]`, `{}`) matches an absent key,
///   because Go API types omit empty fields when serialising;
/// - lists: same length and element-wise containment, because defaulting adds fields inside
///   list items (a container's `terminationMessagePath`, a port's `protocol`) but does not add
///   or drop items;
/// - scalars: equal, numbers by value (`1 == 1.0`), quantities by amount (`0.5 == 500m`).
pub fn needs_apply(desired: &Value, observed: &Value) -> bool {
    if hash_of(desired) != hash_of(observed) {
        return true;
    }
    !contains(desired, observed, Ctx::Plain)
}

fn hash_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")?
        .get(DESIRED_HASH_ANNOTATION)?
        .as_str()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    /// A map whose values are quantities.
    QuantityMap,
    /// A quantity.
    Quantity,
}

fn contains(d: &Value, o: &Value, ctx: Ctx) -> bool {
    match (d, o) {
        (Value::Object(dm), Value::Object(om)) => dm.iter().all(|(k, dv)| {
            let child = if ctx == Ctx::QuantityMap || QUANTITY_FIELDS.contains(&k.as_str()) {
                Ctx::Quantity
            } else if QUANTITY_MAPS.contains(&k.as_str()) {
                Ctx::QuantityMap
            } else {
                Ctx::Plain
            };
            match om.get(k) {
                Some(ov) => contains(dv, ov, child) || (is_zero(dv) && ov.is_null()),
                None => is_zero(dv),
            }
        }),
        (Value::Array(da), Value::Array(oa)) => {
            da.len() == oa.len()
                && da
                    .iter()
                    .zip(oa)
                    .all(|(dv, ov)| contains(dv, ov, Ctx::Plain))
        }
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        _ if ctx == Ctx::Quantity => quantities_equal(d, o),
        _ => d == o,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    a.as_f64() == b.as_f64()
}

fn quantities_equal(d: &Value, o: &Value) -> bool {
    if d == o {
        return true;
    }
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (
        as_text(d).and_then(|s| parse_quantity(&s)),
        as_text(o).and_then(|s| parse_quantity(&s)),
    ) {
        (Some(x), Some(y)) => x == y || ((x - y).abs() <= 1e-9 * x.abs().max(y.abs())),
        _ => false,
    }
}

/// Parses a Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`, `1k`) to its amount.
fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let binary = [
        ("Ki", 1u32),
        ("Mi", 2),
        ("Gi", 3),
        ("Ti", 4),
        ("Pi", 5),
        ("Ei", 6),
    ];
    for (suffix, power) in binary {
        if let Some(num) = s.strip_suffix(suffix) {
            return parse_number(num).map(|n| n * 1024f64.powi(power as i32));
        }
    }
    // A decimal exponent (`1e3`, `1E-3`) uses e/E followed by a number; a bare trailing `E` is
    // the exa suffix.
    if let Some(pos) = s.find(['e', 'E'])
        && pos + 1 < s.len()
    {
        let (mantissa, exp) = (&s[..pos], &s[pos + 1..]);
        let exp: i32 = exp.parse().ok()?;
        return parse_number(mantissa).map(|n| n * 10f64.powi(exp));
    }
    let decimal = [
        ('n', -9),
        ('u', -6),
        ('m', -3),
        ('k', 3),
        ('M', 6),
        ('G', 9),
        ('T', 12),
        ('P', 15),
        ('E', 18),
    ];
    for (suffix, exp) in decimal {
        if let Some(num) = s.strip_suffix(suffix) {
            return parse_number(num).map(|n| n * 10f64.powi(exp));
        }
    }
    parse_number(s)
}

fn parse_number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits != ".";
    if valid { s.parse().ok() } else { None }
}

/// The part of `observed` that `desired` sets, in `desired`'s shape: map keys that `desired`
/// has (absent ones left out), lists item by item when both have as many items (else the
/// observed list), observed scalars. Comparing it with `desired` shows what an apply would
/// change, without the fields that only the member sets (defaults, status, other managers').
pub fn applied_view(observed: &Value, desired: &Value) -> Value {
    match (observed, desired) {
        (Value::Object(om), Value::Object(dm)) => Value::Object(
            dm.iter()
                .filter_map(|(k, dv)| om.get(k).map(|ov| (k.clone(), applied_view(ov, dv))))
                .collect(),
        ),
        (Value::Array(oa), Value::Array(da)) if oa.len() == da.len() => Value::Array(
            oa.iter()
                .zip(da)
                .map(|(ov, dv)| applied_view(ov, dv))
                .collect(),
        ),
        (observed, _) => observed.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::federated::MANAGED_LABEL;
    use serde_json::json;

    fn desired_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo",
                "labels": {"app": "web", MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "00000000000000aa"}
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "hostNetwork": false,
                        "containers": [{
                            "name": "web", "image": "nginx:1.25",
                            "ports": [{"containerPort": 80}],
                            "args": [],
                            "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": 0.1}}
                        }]
                    }
                }
            }
        })
    }

    /// What the API server returns for `desired_deployment` after defaulting.
    fn observed_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u-1", "resourceVersion": "812",
                "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "web", MANAGED_LABEL: "true"},
                "annotations": {
                    DESIRED_HASH_ANNOTATION: "00000000000000aa",
                    "deployment.kubernetes.io/revision": "1"
                },
                "managedFields": [{"manager": "kubefed", "operation": "Apply"}]
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "progressDeadlineSeconds": 600,
                "revisionHistoryLimit": 10,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web", "image": "nginx:1.25",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m"}},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 1}
        })
    }

    fn desired_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo",
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "1"}},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}
        })
    }

    fn observed_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo", "uid": "s", "resourceVersion": "5",
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {DESIRED_HASH_ANNOTATION: "1"}},
            "spec": {
                "type": "NodePort", "selector": {"app": "web"},
                "clusterIP": "10.96.12.7", "clusterIPs": ["10.96.12.7"],
                "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None",
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 31234}]
            },
            "status": {"loadBalancer": {}}
        })
    }

    #[test]
    fn server_defaulted_objects_need_no_apply() {
        assert!(!needs_apply(&desired_deployment(), &observed_deployment()));
        assert!(!needs_apply(&desired_service(), &observed_service()));
    }

    #[test]
    fn drift_is_detected() {
        let d = desired_deployment();
        let mut o = observed_deployment();
        o["spec"]["replicas"] = json!(5);
        assert!(needs_apply(&d, &o), "changed replicas");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"] = json!([]);
        assert!(needs_apply(&d, &o), "removed container");

        let mut o = observed_deployment();
        let extra = o["spec"]["template"]["spec"]["containers"][0].clone();
        o["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(extra);
        assert!(needs_apply(&d, &o), "added container");

        let mut o = observed_deployment();
        o["metadata"]["labels"]["app"] = json!("other");
        assert!(needs_apply(&d, &o), "changed label");

        let mut o = observed_deployment();
        o["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app");
        assert!(needs_apply(&d, &o), "removed label");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:evil");
        assert!(needs_apply(&d, &o), "changed image");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("600m");
        assert!(needs_apply(&d, &o), "changed cpu limit");

        let mut o = observed_deployment();
        o["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        assert!(needs_apply(&d, &o), "bool flipped away from its zero value");

        let mut o = observed_service();
        o["spec"]["ports"][0]["port"] = json!(8080);
        assert!(needs_apply(&desired_service(), &o), "changed port");

        let mut o = observed_service();
        o["spec"]["type"] = json!("ClusterIP");
        assert!(needs_apply(&desired_service(), &o), "changed type");
    }

    #[test]
    fn hash_annotation_difference_forces_apply() {
        let d = desired_deployment();
        let mut o = observed_deployment();
        o["metadata"]["annotations"][DESIRED_HASH_ANNOTATION] = json!("00000000000000bb");
        assert!(needs_apply(&d, &o));
        o["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(DESIRED_HASH_ANNOTATION);
        assert!(needs_apply(&d, &o));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(!needs_apply(&json!({"a": 1}), &json!({"a": 1.0})));
        assert!(!needs_apply(&json!({"a": 1.0}), &json!({"a": 1})));
        assert!(needs_apply(&json!({"a": 1}), &json!({"a": 2})));
        assert!(needs_apply(&json!({"a": 1}), &json!({"a": "1"})));
    }

    #[test]
    fn zero_values_match_absent_fields_only() {
        assert!(!needs_apply(
            &json!({"a": null, "b": [], "c": {}, "d": "", "e": false, "f": 0}),
            &json!({})
        ));
        assert!(needs_apply(&json!({"a": {}}), &json!({"a": 1})));
        assert!(needs_apply(&json!({"a": "x"}), &json!({})));
        // A desired null also matches an observed null.
        assert!(!needs_apply(&json!({"a": null}), &json!({"a": null})));
    }

    #[test]
    fn quantities_compare_by_amount_only_where_quantities_live() {
        for (a, b) in [
            ("0.5", "500m"),
            ("1Gi", "1024Mi"),
            ("1k", "1000"),
            ("2e3", "2k"),
            ("1E", "1000P"),
        ] {
            let d = json!({"limits": {"x": a}});
            let o = json!({"limits": {"x": b}});
            assert!(!needs_apply(&d, &o), "{a} vs {b}");
        }
        assert!(!needs_apply(
            &json!({"emptyDir": {"sizeLimit": "1Gi"}}),
            &json!({"emptyDir": {"sizeLimit": "1073741824"}})
        ));
        assert!(needs_apply(
            &json!({"limits": {"cpu": "1"}}),
            &json!({"limits": {"cpu": "2"}})
        ));
        // Outside quantity fields strings must be equal.
        assert!(needs_apply(
            &json!({"labels": {"x": "1k"}}),
            &json!({"labels": {"x": "1000"}})
        ));
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("abc"), None);
        assert_eq!(parse_quantity("."), None);
        assert_eq!(parse_quantity("1.2.3"), None);
    }

    #[test]
    fn applied_view_keeps_only_what_desired_sets() {
        let observed = json!({
            "metadata": {"name": "web", "uid": "u", "labels": {"app": "web", "other": "x"}},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "terminationMessagePath": "/dev/termination-log"}
            ]}}},
            "status": {"replicas": 5}
        });
        let desired = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "new": "y"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2"}
            ]}}}
        });
        assert_eq!(
            applied_view(&observed, &desired),
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 5, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1"}
                ]}}}
            })
        );
        // A list of another length is shown as the member has it.
        let fewer = json!({"items": [1, 2]});
        assert_eq!(applied_view(&fewer, &json!({"items": [1]})), fewer);
    }
}
