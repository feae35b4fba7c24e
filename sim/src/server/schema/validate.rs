//! Validation of custom resources against their structural schema, with the causes the real
//! server reports (OpenAPI validator messages wrapped in field errors):
//! `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::field::{BadValue, ErrorType, FieldError};
use super::gofmt;
use super::join;
use super::node::{ListType, Node, NodeId, Schema, Type};

/// Every violation of the schema in `obj`, in schema order.
pub fn validate(schema: &Schema, obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(schema, schema.root(), obj, "", &mut out);
    out
}

/// The OpenAPI type name of a value.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(ty: Type, v: &Value) -> bool {
    let integral = |v: &Value| match v {
        Value::Number(n) => {
            n.as_i64().is_some()
                || n.as_u64().is_some()
                || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    };
    match ty {
        Type::Any => true,
        Type::Object => v.is_object(),
        Type::Array => v.is_array(),
        Type::String => v.is_string(),
        Type::Integer => integral(v),
        Type::Number => v.is_number(),
        Type::Boolean => v.is_boolean(),
        Type::IntOrString => v.is_string() || integral(v),
    }
}

fn in_body(path: &str, msg: String) -> String {
    format!("{path} in body {msg}")
}

fn invalid(path: &str, v: &Value, msg: String) -> FieldError {
    FieldError::invalid(path, v, in_body(path, msg))
}

fn walk(schema: &Schema, id: NodeId, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let node = schema.node(id);
    if v.is_null() {
        if !node.nullable && node.ty != Type::Any {
            let t = node.ty.openapi_name();
            out.push(FieldError::new(
                ErrorType::TypeInvalid,
                path,
                BadValue::Json(Value::String("null".into())),
                in_body(path, format!("must be of type {t}: \"null\"")),
            ));
        }
        return;
    }
    if !type_matches(node.ty, v) {
        let actual = type_of(v);
        out.push(FieldError::new(
            ErrorType::TypeInvalid,
            path,
            BadValue::Json(Value::String(actual.into())),
            in_body(
                path,
                format!("must be of type {}: \"{actual}\"", node.ty.openapi_name()),
            ),
        ));
        return;
    }
    scalar_checks(node, v, path, out);
    if let Some(allowed) = &node.checks.enumeration
        && !allowed.contains(v)
    {
        let values: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let quoted: Vec<String> = values.iter().map(|s| gofmt::quote(s)).collect();
        out.push(FieldError::new(
            ErrorType::NotSupported,
            path,
            BadValue::Json(v.clone()),
            format!("supported values: {}", quoted.join(", ")),
        ));
    }
    match v {
        Value::Array(items) => array(schema, node, items, path, out),
        Value::Object(map) => object(schema, id, map, path, out),
        _ => {}
    }
}

fn scalar_checks(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let c = &node.checks;
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = c.max_length
                && len > max
            {
                out.push(FieldError::new(
                    ErrorType::TooLong,
                    path,
                    BadValue::Omitted,
                    format!("may not be more than {max} bytes"),
                ));
            }
            if let Some(min) = c.min_length
                && len < min
            {
                out.push(invalid(
                    path,
                    v,
                    format!("should be at least {min} chars long"),
                ));
            }
            if let Some((p, re)) = &c.pattern
                && !re.is_match(s)
            {
                out.push(invalid(path, v, format!("should match '{p}'")));
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            if let Some(m) = c.multiple_of
                && m != 0.0
                && (f / m).fract() != 0.0
            {
                out.push(invalid(
                    path,
                    v,
                    format!("should be a multiple of {}", gofmt::float(m)),
                ));
            }
            if let Some(b) = c.maximum
                && (f > b.value || b.exclusive && f == b.value)
            {
                let op = if b.exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                out.push(invalid(
                    path,
                    v,
                    format!("should be {op} {}", gofmt::float(b.value)),
                ));
            }
            if let Some(b) = c.minimum
                && (f < b.value || b.exclusive && f == b.value)
            {
                let op = if b.exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                out.push(invalid(
                    path,
                    v,
                    format!("should be {op} {}", gofmt::float(b.value)),
                ));
            }
        }
        _ => {}
    }
}

/// `minItems`/`maxItems` and `minProperties`/`maxProperties`; both maxima read "items", as
/// the real server's `TooMany` error words them.
fn count(
    path: &str,
    n: usize,
    (min, max): (Option<u64>, Option<u64>),
    noun: &str,
    out: &mut Vec<FieldError>,
) {
    let n = n as u64;
    if let Some(min) = min
        && n < min
    {
        out.push(FieldError::new(
            ErrorType::Invalid,
            path,
            BadValue::Json(Value::from(n)),
            in_body(path, format!("should have at least {min} {noun}")),
        ));
    }
    if let Some(max) = max
        && n > max
    {
        out.push(FieldError::new(
            ErrorType::TooMany,
            path,
            BadValue::Count(n as i64),
            format!("must have at most {max} items"),
        ));
    }
}

fn array(schema: &Schema, node: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    let c = &node.checks;
    count(path, items.len(), (c.min_items, c.max_items), "items", out);
    if c.unique_items && has_duplicates(items.iter()) {
        out.push(FieldError::new(
            ErrorType::Invalid,
            path,
            BadValue::Json(Value::String(String::new())),
            in_body(path, "shouldn't contain duplicates".into()),
        ));
    }
    if let Some(item) = node.items {
        for (i, x) in items.iter().enumerate() {
            walk(schema, item, x, &format!("{path}[{i}]"), out);
        }
    }
    list_uniqueness(&node.list, items, path, out);
}

fn has_duplicates<'a>(items: impl Iterator<Item = &'a Value>) -> bool {
    let mut seen = HashSet::new();
    items.map(Value::to_string).any(|s| !seen.insert(s))
}

/// `x-kubernetes-list-type` set and map: items (or their keys) must be unique.
fn list_uniqueness(list: &ListType, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    let keys: Vec<Value> = match list {
        ListType::Atomic => return,
        ListType::Set => items.to_vec(),
        ListType::Map(names) => items
            .iter()
            .map(|x| {
                let m: Map<String, Value> = names
                    .iter()
                    .filter_map(|n| x.get(n).map(|v| (n.clone(), v.clone())))
                    .collect();
                Value::Object(m)
            })
            .collect(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut reported: HashSet<String> = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let s = k.to_string();
        if !seen.insert(s.clone()) && reported.insert(s) {
            out.push(FieldError::new(
                ErrorType::Duplicate,
                &format!("{path}[{i}]"),
                BadValue::Json(k.clone()),
                "",
            ));
        }
    }
}

fn object(
    schema: &Schema,
    id: NodeId,
    map: &Map<String, Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let node = schema.node(id);
    let c = &node.checks;
    count(
        path,
        map.len(),
        (c.min_properties, c.max_properties),
        "properties",
        out,
    );
    for (k, x) in map {
        // Metadata is checked by decoding it into ObjectMeta, not by the schema.
        if node.embedded && k == "metadata" {
            continue;
        }
        if let Some(child) = schema.field(id, k) {
            walk(schema, child, x, &join(path, k), out);
        }
    }
    for k in &c.required {
        if !map.contains_key(k) {
            out.push(FieldError::required(&join(path, k), ""));
        }
    }
    if node.embedded && !path.is_empty() {
        for k in ["apiVersion", "kind"] {
            if !map.contains_key(k) {
                out.push(FieldError::required(&join(path, k), "must not be empty"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::schema::field::aggregate;
    use crate::server::schema::structural;
    use serde_json::json;

    fn schema() -> Schema {
        structural::compile(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "maximum": 1, "exclusiveMaximum": true},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "port": {"x-kubernetes-int-or-string": true},
            "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "opt": {"type": "string", "nullable": true},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }}}}))
    }

    fn messages(obj: Value) -> Vec<String> {
        validate(&schema(), &obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn each_keyword() {
        assert!(
            messages(json!({"spec": {"name": "ab", "replicas": 3, "port": "http", "opt": null}}))
                .is_empty()
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "replicas": "string"}})),
            [
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"replicas": 11}})),
            [
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
                "spec.name: Required value"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "a", "replicas": 0}})),
            [
                r#"spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long"#,
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ABCDEF"}})),
            [
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.name: Invalid value: \"ABCDEF\": spec.name in body should match '^[a-z]+$'"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "mode": "c", "ratio": 1}})),
            [
                r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#,
                "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "tags": [], "port": 1.5}})),
            [
                r#"spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number""#,
                "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "tags": ["a", "b", 3]}})),
            [
                "spec.tags: Too many: 3: must have at most 2 items",
                r#"spec.tags[2]: Invalid value: "integer": spec.tags[2] in body must be of type string: "integer""#
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "set": ["x", "x"]}})),
            [r#"spec.set[1]: Duplicate value: "x""#]
        );
        assert_eq!(
            messages(json!({"spec": {"name": "ab", "template": {"metadata": {"name": "x"}}}})),
            [
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty"
            ]
        );
        let errs = validate(&schema(), &json!({"spec": {"replicas": true}}));
        assert_eq!(
            aggregate(&errs),
            r#"[spec.replicas: Invalid value: "boolean": spec.replicas in body must be of type integer: "boolean", spec.name: Required value]"#
        );
    }
}
