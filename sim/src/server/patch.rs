//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and the strategic merge
//! patch used by kubectl for built-in kinds. Server-side apply lives in `managed`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::server::error::ApiError;

/// The patch flavours selected by the request `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        match ct {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// How list items are identified when lists are merged rather than replaced.
#[derive(Debug, Clone, Copy)]
pub struct ListKeys<'a> {
    /// Built-in kinds use the well-known patch merge keys.
    pub builtin: bool,
    /// Custom resources use `x-kubernetes-list-map-keys` from their schema, by field name.
    pub custom: &'a BTreeMap<String, Vec<String>>,
}

impl ListKeys<'_> {
    /// The merge keys of list field `field` holding `items`, or None for atomic lists.
    pub fn keys_for(&self, field: &str, items: &[Value]) -> Option<Vec<String>> {
        if let Some(k) = self.custom.get(field) {
            return Some(k.clone());
        }
        if !self.builtin {
            return None;
        }
        let key = match field {
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets" => "name",
            "volumeMounts" | "volumeDevices" => "mountPath",
            "conditions" => "type",
            "ownerReferences" => "uid",
            "hostAliases" => "ip",
            "ports" => {
                if items.iter().any(|i| i.get("containerPort").is_some()) {
                    "containerPort"
                } else {
                    "port"
                }
            }
            _ => return None,
        };
        Some(vec![key.to_string()])
    }
}

/// The key of a list item as a JSON object of the key fields, or None if any is missing.
pub fn item_key(item: &Value, keys: &[String]) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for k in keys {
        out.insert(k.clone(), item.get(k)?.clone());
    }
    Some(out)
}

pub fn json_patch(target: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    let rejected = |e: json_patch::PatchError| {
        ApiError::Unprocessable(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    };
    // Applied to a copy so a failing operation leaves the object untouched.
    let mut doc = target.clone();
    for op in ops.0 {
        // Like the real server, `test` of a missing path against null succeeds (clients use it
        // to assert "no finalizers yet").
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut doc, std::slice::from_ref(&op)).map_err(rejected)?;
    }
    *target = doc;
    Ok(())
}

pub fn merge_patch(target: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    let p: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    if !p.is_object() {
        return Err(ApiError::BadRequest(
            "merge patch must be a JSON object".into(),
        ));
    }
    json_patch::merge(target, &p);
    Ok(())
}

pub fn strategic_patch(
    target: &mut Value,
    body: &[u8],
    keys: ListKeys<'_>,
) -> Result<(), ApiError> {
    let p: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    if !p.is_object() {
        return Err(ApiError::BadRequest(
            "strategic merge patch must be a JSON object".into(),
        ));
    }
    strategic_merge(target, &p, keys);
    Ok(())
}

/// Merges `patch` into `target`: maps recursively, keyed lists by key, other lists replaced,
/// `null` deletes. Understands the `$patch`, `$setElementOrder/` and `$deleteFromPrimitiveList/`
/// directives kubectl emits.
pub fn strategic_merge(target: &mut Value, patch: &Value, keys: ListKeys<'_>) {
    let Value::Object(pmap) = patch else {
        *target = patch.clone();
        return;
    };
    if pmap.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = pmap.clone();
        p.remove("$patch");
        *target = Value::Object(p);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tmap) = target else { return };
    for (k, v) in pmap {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (tmap.get_mut(field), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        match v {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Object(_) => {
                let slot = tmap.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v, keys);
            }
            Value::Array(items) => {
                let merged = match tmap.get(k) {
                    Some(Value::Array(cur)) => merge_list(k, cur, items, keys),
                    _ => strip_item_directives(items),
                };
                tmap.insert(k.clone(), Value::Array(merged));
            }
            other => {
                tmap.insert(k.clone(), other.clone());
            }
        }
    }
}

fn strip_item_directives(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .filter(|i| i.get("$patch").is_none())
        .cloned()
        .collect()
}

fn merge_list(field: &str, cur: &[Value], patch: &[Value], keys: ListKeys<'_>) -> Vec<Value> {
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return strip_item_directives(patch);
    }
    if keys.builtin && field == "finalizers" {
        // finalizers use the "merge" strategy for a list of scalars: union.
        let mut out = cur.to_vec();
        for p in patch {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        return out;
    }
    let all: Vec<Value> = cur.iter().chain(patch.iter()).cloned().collect();
    let Some(kf) = keys.keys_for(field, &all) else {
        return patch.to_vec();
    };
    let mut out = cur.to_vec();
    for p in patch {
        let Some(pk) = item_key(p, &kf) else {
            out.push(p.clone());
            continue;
        };
        let pos = out
            .iter()
            .position(|c| item_key(c, &kf).as_ref() == Some(&pk));
        let delete = p.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut out[i], p, keys),
            (None, false) => {
                let mut item = Value::Null;
                strategic_merge(&mut item, p, keys);
                out.push(item);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin() -> ListKeys<'static> {
        static EMPTY: BTreeMap<String, Vec<String>> = BTreeMap::new();
        ListKeys {
            builtin: true,
            custom: &EMPTY,
        }
    }

    #[test]
    fn containers_merge_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}, {"name": "a", "$patch": "delete"}]}});
        strategic_merge(&mut t, &p, builtin());
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}})
        );
    }

    #[test]
    fn atomic_lists_replace() {
        let mut t = json!({"args": ["a", "b"], "x": 1});
        strategic_merge(&mut t, &json!({"args": ["c"], "x": null}), builtin());
        assert_eq!(t, json!({"args": ["c"]}));
    }
}
