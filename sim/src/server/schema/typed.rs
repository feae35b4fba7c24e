//! The check server-side apply makes when it turns an applied configuration into a typed
//! value (structured-merge-diff): every field must be declared, every scalar of the declared
//! type, every keyed list item addressable. Messages and paths (`.spec.containers[name="a"]`)
//! are spelled as that library spells them.

use serde_json::Value;

use super::gofmt;
use super::node::{ListType, NodeId, Schema, Type};

/// Keys of list fields the schema does not annotate (built-in kinds), by field name.
pub type ListKeysFn<'a> = &'a dyn Fn(&str, &[Value]) -> Option<Vec<String>>;

/// The errors of converting `obj` to a typed value, each `<path>: <message>`.
pub fn errors(schema: &Schema, obj: &Value, keys: ListKeysFn<'_>) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, schema.root(), obj, "", "", keys, &mut out);
    out
}

/// The whole error as structured-merge-diff renders a list of errors.
pub fn render(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        _ => {
            let mut lines = vec!["errors:".to_string()];
            lines.extend(errors.iter().map(|e| format!("  {e}")));
            lines.join("\n")
        }
    }
}

fn at(path: &str, msg: String) -> String {
    if path.is_empty() {
        msg
    } else {
        format!("{path}: {msg}")
    }
}

/// `value.ToString`: how a key value appears in a path element.
fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => gofmt::quote(s),
        Value::Null => "null".into(),
        other => gofmt::v(other),
    }
}

fn walk(
    schema: &Schema,
    id: NodeId,
    v: &Value,
    path: &str,
    field: &str,
    keys: ListKeysFn<'_>,
    out: &mut Vec<String>,
) {
    if v.is_null() {
        return;
    }
    let node = schema.node(id);
    let boxed = || format!("&{{{}}}", gofmt::v(v));
    match node.ty {
        // Int-or-string and untyped fields are deduced from the value.
        Type::Any | Type::IntOrString => {}
        Type::String => {
            if !v.is_string() {
                out.push(at(
                    path,
                    format!(
                        "expected string, got &value.valueUnstructured{{Value:{}}}",
                        gofmt::sharp_v(v)
                    ),
                ));
            }
        }
        Type::Integer | Type::Number => {
            if !v.is_number() {
                out.push(at(
                    path,
                    format!(
                        "expected numeric (int or float), got {}",
                        gofmt::type_name(v)
                    ),
                ));
            }
        }
        Type::Boolean => {
            if !v.is_boolean() {
                out.push(at(path, format!("expected boolean, got {}", boxed())));
            }
        }
        Type::Array => {
            let Value::Array(items) = v else {
                out.push(at(path, format!("expected list, got {}", boxed())));
                return;
            };
            let Some(item) = node.items else { return };
            let list = match &node.list {
                ListType::Atomic => keys(field, items).map_or(ListType::Atomic, ListType::Map),
                other => other.clone(),
            };
            let mut seen = std::collections::HashSet::new();
            for (i, x) in items.iter().enumerate() {
                let element = match element(&list, i, x) {
                    Ok(e) => e,
                    Err(msg) => {
                        out.push(at(path, format!("element {i}: {msg}")));
                        return;
                    }
                };
                if list != ListType::Atomic && !seen.insert(element.clone()) {
                    out.push(at(path, format!("duplicate entries for key {element}")));
                }
                walk(
                    schema,
                    item,
                    x,
                    &format!("{path}{element}"),
                    field,
                    keys,
                    out,
                );
            }
        }
        Type::Object => {
            let Value::Object(map) = v else {
                out.push(at(path, format!("expected map, got {}", boxed())));
                return;
            };
            for (k, x) in map {
                let child = format!("{path}.{k}");
                match schema.field(id, k) {
                    Some(c) => walk(schema, c, x, &child, k, keys, out),
                    None if node.preserve_unknown => {}
                    None => {
                        // The library stops walking a map at its first undeclared field.
                        out.push(at(&child, "field not declared in schema".into()));
                        return;
                    }
                }
            }
        }
    }
}

/// The path element of a list item, or why it has none.
fn element(list: &ListType, i: usize, x: &Value) -> Result<String, String> {
    match list {
        ListType::Atomic => Ok(format!("[{i}]")),
        ListType::Set => match x {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            other => Ok(format!("[={}]", key_string(other))),
        },
        ListType::Map(names) => {
            let Value::Object(m) = x else {
                return Err(if x.is_null() {
                    "associative list with keys may not have a null element".into()
                } else {
                    "associative list with keys may not have non-map elements".into()
                });
            };
            let mut parts: Vec<(String, String)> = names
                .iter()
                .filter_map(|n| m.get(n).map(|v| (n.clone(), key_string(v))))
                .collect();
            if parts.is_empty() {
                let quoted: Vec<String> = names.iter().map(|n| gofmt::quote(n)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            parts.sort();
            let inner: Vec<String> = parts.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            Ok(format!("[{}]", inner.join(",")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::schema::builtin;
    use serde_json::json;

    fn no_keys(_: &str, _: &[Value]) -> Option<Vec<String>> {
        None
    }

    fn by_name(field: &str, _: &[Value]) -> Option<Vec<String>> {
        (field == "containers").then(|| vec!["name".to_string()])
    }

    #[test]
    fn v1beta1_ingress_backend_is_not_declared() {
        let s = builtin::schema("networking.k8s.io", "Ingress").unwrap();
        let cfg = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "test-ingress", "namespace": "test-namespace"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"serviceName": "svc", "servicePort": 80}}]}}]}});
        assert_eq!(
            errors(&s, &cfg, &no_keys),
            [".spec.rules[0].http.paths[0].backend.serviceName: field not declared in schema"]
        );
    }

    #[test]
    fn mistyped_scalars() {
        let s = builtin::schema("apps", "Deployment").unwrap();
        let cfg = json!({"spec": {"replicas": "3", "paused": "yes",
            "template": {"metadata": {"labels": {"app": true}},
                         "spec": {"containers": [{"name": "a", "image": 5}]}}}});
        let errs = errors(&s, &cfg, &by_name);
        assert_eq!(
            errs,
            [
                ".spec.paused: expected boolean, got &{yes}",
                ".spec.replicas: expected numeric (int or float), got string",
                ".spec.template.metadata.labels.app: expected string, got &value.valueUnstructured{Value:true}",
                r#".spec.template.spec.containers[name="a"].image: expected string, got &value.valueUnstructured{Value:5}"#,
            ]
        );
        assert!(render(&errs).starts_with("errors:\n  .spec.paused: "));
        let cfg = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(
            errors(&s, &cfg, &by_name),
            [
                r#".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields ["name"] (and doesn't have default values for any key fields)"#
            ]
        );
        let cfg = json!({"spec": {"template": "x"}});
        assert_eq!(
            errors(&s, &cfg, &by_name),
            [".spec.template: expected map, got &{x}"]
        );
    }
}
