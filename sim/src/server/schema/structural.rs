//! Compiles the structural schema of a CRD version (`openAPIV3Schema`) for pruning,
//! defaulting and validation of its custom resources.

use regex::Regex;
use serde_json::Value;

use super::builtin;
use super::node::{Bound, Builder, ListType, Node, NodeId, Schema, Type};
use crate::server::meta::strings;

/// The compiled schema of custom resources whose version declares `schema`. The root is an
/// embedded resource: `apiVersion`, `kind` and `metadata` (ObjectMeta) are always declared.
pub fn compile(schema: &Value) -> Schema {
    let mut b = Builder::default();
    let root = node(&mut b, schema);
    let n = b.get_mut(root);
    if n.ty == Type::Any {
        // A missing schema keeps everything but still knows the object's metadata.
        n.ty = Type::Object;
    }
    n.embedded = true;
    implied_meta(&mut b, root);
    b.finish(root)
}

/// Declares `apiVersion`, `kind` and `metadata` of an embedded resource.
fn implied_meta(b: &mut Builder, id: NodeId) {
    for f in ["apiVersion", "kind"] {
        if !b.get(id).properties.contains_key(f) {
            let s = b.push(Node::new(Type::String));
            b.get_mut(id).properties.insert(f.to_string(), s);
        }
    }
    let meta = builtin::object_meta(b);
    b.get_mut(id).properties.insert("metadata".into(), meta);
}

fn u64_of(s: &Value, k: &str) -> Option<u64> {
    s.get(k).and_then(Value::as_u64)
}

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

fn node(b: &mut Builder, s: &Value) -> NodeId {
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields")
        || s.get("additionalProperties") == Some(&Value::Bool(true));
    let ty = match s.get("type").and_then(Value::as_str) {
        _ if int_or_string => Type::IntOrString,
        Some("object") => Type::Object,
        Some("array") => Type::Array,
        Some("string") => Type::String,
        Some("integer") => Type::Integer,
        Some("number") => Type::Number,
        Some("boolean") => Type::Boolean,
        _ => Type::Any,
    };
    let mut n = Node::new(ty);
    n.preserve_unknown = preserve || ty == Type::Any;
    n.embedded = flag(s, "x-kubernetes-embedded-resource");
    n.nullable = flag(s, "nullable");
    n.default = s.get("default").cloned();
    n.format = s.get("format").and_then(Value::as_str).map(str::to_string);
    n.list = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListType::Set,
        Some("map") => ListType::Map(strings(s, "x-kubernetes-list-map-keys")),
        _ => ListType::Atomic,
    };
    let c = &mut n.checks;
    c.required = strings(s, "required");
    c.enumeration = s.get("enum").and_then(Value::as_array).cloned();
    c.pattern = s
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(|p| Regex::new(p).ok().map(|r| (p.to_string(), r)));
    c.minimum = s.get("minimum").and_then(Value::as_f64).map(|v| Bound {
        value: v,
        exclusive: flag(s, "exclusiveMinimum"),
    });
    c.maximum = s.get("maximum").and_then(Value::as_f64).map(|v| Bound {
        value: v,
        exclusive: flag(s, "exclusiveMaximum"),
    });
    c.min_length = u64_of(s, "minLength");
    c.max_length = u64_of(s, "maxLength");
    c.min_items = u64_of(s, "minItems");
    c.max_items = u64_of(s, "maxItems");
    c.min_properties = u64_of(s, "minProperties");
    c.max_properties = u64_of(s, "maxProperties");
    c.unique_items = flag(s, "uniqueItems");
    c.multiple_of = s.get("multipleOf").and_then(Value::as_f64);
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            let id = node(b, v);
            n.properties.insert(k.clone(), id);
        }
    }
    if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
        n.additional = Some(node(b, extra));
    }
    if let Some(items) = s.get("items").filter(|v| v.is_object()) {
        n.items = Some(node(b, items));
    }
    let embedded = n.embedded;
    let id = b.push(n);
    if embedded {
        implied_meta(b, id);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_keywords_and_implied_metadata() {
        let s = compile(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "required": ["replicas"], "properties": {
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMaximum": true, "default": 1},
                "mode": {"type": "string", "enum": ["a", "b"], "pattern": "^[a-z]$"},
                "port": {"x-kubernetes-int-or-string": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
            }}}
        }));
        let replicas = s.node(s.at("spec.replicas").unwrap());
        assert_eq!(replicas.ty, Type::Integer);
        assert_eq!(replicas.default, Some(json!(1)));
        assert_eq!(
            replicas.checks.maximum,
            Some(Bound {
                value: 10.0,
                exclusive: true
            })
        );
        assert_eq!(s.node(s.at("spec").unwrap()).checks.required, ["replicas"]);
        assert!(s.node(s.at("spec.mode").unwrap()).checks.pattern.is_some());
        assert_eq!(s.node(s.at("spec.port").unwrap()).ty, Type::IntOrString);
        let template = s.node(s.at("spec.template").unwrap());
        assert!(template.embedded && template.preserve_unknown);
        assert!(s.at("spec.template.metadata.labels").is_some());
        assert!(s.at("metadata.annotations").is_some());
        assert_eq!(
            s.node(s.at("spec.items").unwrap()).list,
            ListType::Map(vec!["name".into()])
        );
    }
}
