//! Structural pruning of custom resources: fields the schema does not declare are dropped
//! unless `x-kubernetes-preserve-unknown-fields` says otherwise, and nulls of non-nullable
//! fields without a default are dropped too. `metadata` is pruned to ObjectMeta.

use serde_json::Value;

use super::join;
use super::node::{NodeId, Schema};

/// Prunes `obj` in place; returns the dropped paths, sorted (`spec.foo`, `spec.items[0].bar`).
pub fn prune(schema: &Schema, obj: &mut Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schema, schema.root(), obj, "", &mut out);
    out.sort();
    out
}

fn walk(schema: &Schema, id: NodeId, v: &mut Value, path: &str, out: &mut Vec<String>) {
    let node = schema.node(id);
    match v {
        Value::Object(map) => {
            let mut dropped = Vec::new();
            for (k, x) in map.iter_mut() {
                match schema.field(id, k) {
                    Some(child) => {
                        let c = schema.node(child);
                        if x.is_null() && !c.nullable && c.default.is_none() {
                            dropped.push((k.clone(), false));
                        } else {
                            walk(schema, child, x, &join(path, k), out);
                        }
                    }
                    None if node.preserve_unknown => {}
                    None => dropped.push((k.clone(), true)),
                }
            }
            for (k, unknown) in dropped {
                map.remove(&k);
                if unknown {
                    out.push(join(path, &k));
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = node.items {
                for (i, x) in items.iter_mut().enumerate() {
                    walk(schema, item, x, &format!("{path}[{i}]"), out);
                }
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
    fn prunes_undeclared_fields() {
        let s = structural::compile(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                     "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "opt": {"type": "string"},
            "keep": {"type": "string", "nullable": true}
        }}}}));
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"k": "v"}, "bogus": 1},
            "spec": {"foo": 1, "items": [{"name": "a", "bar": 2}], "opt": null, "keep": null,
                     "free": {"anything": {"x": 1}, "typed": {"a": "b", "c": "d"}}},
            "status": {"phase": "x"}});
        let dropped = prune(&s, &mut obj);
        assert_eq!(
            dropped,
            [
                "metadata.bogus",
                "spec.foo",
                "spec.free.typed.c",
                "spec.items[0].bar",
                "status"
            ]
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a", "labels": {"k": "v"}},
                   "spec": {"items": [{"name": "a"}], "keep": null, "free": {"anything": {"x": 1}, "typed": {"a": "b"}}}})
        );
    }
}
