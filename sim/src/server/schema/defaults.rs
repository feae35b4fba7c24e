//! Structural defaulting of custom resources: a declared field that is absent (or null and
//! not nullable) takes its schema `default`, at every depth, items and map values included.

use serde_json::Value;

use super::node::{NodeId, Schema};

/// Applies the defaults of the schema to `obj` in place.
pub fn apply(schema: &Schema, obj: &mut Value) {
    walk(schema, schema.root(), obj);
}

fn needs_default(v: Option<&Value>, nullable: bool) -> bool {
    match v {
        None => true,
        Some(Value::Null) => !nullable,
        Some(_) => false,
    }
}

fn walk(schema: &Schema, id: NodeId, v: &mut Value) {
    let node = schema.node(id);
    match v {
        Value::Object(map) => {
            for (k, child) in &node.properties {
                let c = schema.node(*child);
                if let Some(d) = &c.default
                    && needs_default(map.get(k), c.nullable)
                {
                    map.insert(k.clone(), d.clone());
                }
            }
            for (k, x) in map.iter_mut() {
                let Some(child) = schema.field(id, k) else {
                    continue;
                };
                let c = schema.node(child);
                if let Some(d) = &c.default
                    && x.is_null()
                    && !c.nullable
                {
                    *x = d.clone();
                }
                walk(schema, child, x);
            }
        }
        Value::Array(items) => {
            let Some(item) = node.items else { return };
            let c = schema.node(item);
            for x in items.iter_mut() {
                if let Some(d) = &c.default
                    && x.is_null()
                    && !c.nullable
                {
                    *x = d.clone();
                }
                walk(schema, item, x);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::schema::structural;
    use serde_json::json;

    #[test]
    fn defaults_at_every_depth() {
        let s = structural::compile(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "default": {}, "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "auto"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "protocol": {"type": "string", "default": "TCP"}}}},
            "nested": {"type": "object", "default": {"inner": {}}, "properties": {
                "inner": {"type": "object", "properties": {"x": {"type": "integer", "default": 7}}}}}
        }}}}));
        let mut obj = json!({"spec": {"mode": null, "ports": [{"protocol": "UDP"}, {}]}});
        apply(&s, &mut obj);
        assert_eq!(
            obj,
            json!({"spec": {"replicas": 1, "mode": "auto", "ports": [{"protocol": "UDP"}, {"protocol": "TCP"}],
                            "nested": {"inner": {"x": 7}}}})
        );
        let mut empty = json!({});
        apply(&s, &mut empty);
        assert_eq!(empty["spec"]["replicas"], json!(1));
    }
}
