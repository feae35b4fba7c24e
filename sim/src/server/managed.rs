//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Ownership is tracked as sets of leaf paths. Path elements use the FieldsV1 spelling:
//! `f:<field>` for map fields and `k:<json key>` for items of keyed lists; other lists are
//! atomic leaves. This approximates the structured-merge-diff behaviour closely enough for
//! the properties controllers rely on: shared ownership, conflicts, and removal of fields a
//! manager stops applying.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::server::error::ApiError;
use crate::server::meta;
use crate::server::patch::{ListKeys, item_key, strategic_merge};

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// Metadata fields that are owned like user data; the rest is system-managed.
const OWNED_META: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
    pub fields: FieldSet,
}

/// Flattens an object to its owned leaf paths and their values.
pub fn flatten(obj: &Value, keys: ListKeys<'_>) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if let Some(m) = v.as_object() {
                    for f in OWNED_META {
                        if let Some(fv) = m.get(*f) {
                            let mut p = vec!["f:metadata".to_string(), format!("f:{f}")];
                            walk(fv, f, &mut p, keys, &mut out);
                        }
                    }
                }
            }
            _ => {
                let mut p = vec![format!("f:{k}")];
                walk(v, k, &mut p, keys, &mut out);
            }
        }
    }
    out
}

fn walk(
    v: &Value,
    field: &str,
    path: &mut Path,
    keys: ListKeys<'_>,
    out: &mut BTreeMap<Path, Value>,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, cv) in m {
                path.push(format!("f:{k}"));
                walk(cv, k, path, keys, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let Some(kf) = keys.keys_for(field, items) else {
                out.insert(path.clone(), v.clone());
                return;
            };
            if field == "finalizers" {
                out.insert(path.clone(), v.clone());
                return;
            }
            for item in items {
                match item_key(item, &kf) {
                    Some(key) => {
                        path.push(format!("k:{}", Value::Object(key)));
                        walk(item, "", path, keys, out);
                        path.pop();
                    }
                    None => {
                        // An item without its key makes the list unaddressable: treat it as atomic.
                        out.insert(path.clone(), v.clone());
                        return;
                    }
                }
            }
        }
        _ => {
            out.insert(path.clone(), v.clone());
        }
    }
}

/// FieldsV1 JSON for a set of paths.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for el in path {
            let is_item = el.starts_with("k:");
            let next = cur
                .entry(el.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            let Value::Object(m) = next else { break };
            if is_item {
                m.entry(".").or_insert_with(|| json!({}));
            }
            cur = m;
        }
    }
    Value::Object(root)
}

/// Paths from FieldsV1 JSON: every non-"." key with an empty (or "."-only) object value is a leaf.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        for (k, cv) in m {
            if k == "." {
                continue;
            }
            path.push(k.clone());
            let leaf = cv
                .as_object()
                .is_none_or(|cm| cm.keys().all(|ck| ck == "."));
            if leaf {
                out.insert(path.clone());
            } else {
                rec(cv, path, out);
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    rec(v, &mut Vec::new(), &mut out);
    out
}

pub fn read_entries(obj: &Value) -> Vec<Entry> {
    meta::meta(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(Entry {
                        manager: e.get("manager")?.as_str()?.to_string(),
                        operation: match e.get("operation").and_then(Value::as_str) {
                            Some("Apply") => Operation::Apply,
                            _ => Operation::Update,
                        },
                        api_version: e
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        subresource: e
                            .get("subresource")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        time: e
                            .get("time")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let m = meta::meta_mut(obj);
    if entries.is_empty() {
        m.remove("managedFields");
        return;
    }
    let arr: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation.as_str(),
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    m.insert("managedFields".into(), Value::Array(arr));
}

/// Who is writing, for ownership bookkeeping.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
}

fn entry_mut<'e>(entries: &'e mut Vec<Entry>, w: &Writer<'_>, op: Operation) -> &'e mut Entry {
    let pos = entries.iter().position(|e| {
        e.manager == w.manager && e.operation == op && e.subresource == w.subresource
    });
    let i = match pos {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: w.manager.to_string(),
                operation: op,
                api_version: w.api_version.to_string(),
                subresource: w.subresource.to_string(),
                time: String::new(),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    &mut entries[i]
}

/// Finishes bookkeeping: drops paths that no longer exist, empty entries, and stamps
/// the time of entries whose sets changed.
fn finish(entries: &mut Vec<Entry>, before: &[Entry], new_flat: &BTreeMap<Path, Value>) {
    for e in entries.iter_mut() {
        e.fields.retain(|p| new_flat.contains_key(p));
    }
    entries.retain(|e| !e.fields.is_empty());
    let now = meta::now_rfc3339();
    for e in entries.iter_mut() {
        let old = before.iter().find(|b| {
            b.manager == e.manager && b.operation == e.operation && b.subresource == e.subresource
        });
        match old {
            Some(o) if o.fields == e.fields && o.api_version == e.api_version => {
                e.time = o.time.clone()
            }
            _ => e.time = now.clone(),
        }
    }
}

/// Records an Update-style write (create, PUT, non-apply PATCH): `w` takes ownership of
/// every leaf whose value changed.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>, keys: ListKeys<'_>) {
    let before = old.map(read_entries).unwrap_or_default();
    let mut entries = before.clone();
    let old_flat = old.map(|o| flatten(o, keys)).unwrap_or_default();
    let new_flat = flatten(new, keys);
    let changed: FieldSet = new_flat
        .iter()
        .filter(|(p, v)| old_flat.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    if !changed.is_empty() {
        for e in entries.iter_mut() {
            e.fields.retain(|p| !changed.contains(p));
        }
        entry_mut(&mut entries, w, Operation::Update)
            .fields
            .extend(changed);
    }
    finish(&mut entries, &before, &new_flat);
    write_entries(new, &entries);
}

/// Server-side apply of `config` by `w` onto `live` (None when creating). Returns the new object
/// with managedFields updated, or a 409 naming the conflicting managers and fields.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    w: &Writer<'_>,
    force: bool,
    keys: ListKeys<'_>,
    conflict: impl Fn(String) -> ApiError,
) -> Result<Value, ApiError> {
    let before = live.map(read_entries).unwrap_or_default();
    let mut entries = before.clone();
    let cfg_flat = flatten(config, keys);
    let live_flat = live.map(|l| flatten(l, keys)).unwrap_or_default();

    // Conflicts: another manager owns a field whose value the config changes.
    let mut conflicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut changed: FieldSet = FieldSet::new();
    for (p, v) in &cfg_flat {
        if live_flat.get(p) == Some(v) {
            continue;
        }
        changed.insert(p.clone());
        for e in &entries {
            if e.manager != w.manager && e.fields.contains(p) {
                conflicts
                    .entry(e.manager.clone())
                    .or_default()
                    .push(display_path(p));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let parts: Vec<String> = conflicts
            .iter()
            .map(|(m, fs)| {
                let fields: Vec<String> = fs.iter().map(|f| format!("- {f}")).collect();
                format!("conflict with {m:?}:\n{}", fields.join("\n"))
            })
            .collect();
        let n: usize = conflicts.values().map(Vec::len).sum();
        let noun = if n == 1 { "conflict" } else { "conflicts" };
        return Err(conflict(format!(
            "Apply failed with {n} {noun}: {}",
            parts.join("\n")
        )));
    }
    // Forced or unconflicted changes take ownership away from others.
    for e in entries.iter_mut() {
        if e.manager != w.manager {
            e.fields.retain(|p| !changed.contains(p));
        }
    }

    let mut obj = live.cloned().unwrap_or_else(|| json!({}));
    let mut cfg = config.clone();
    if let Some(m) = cfg.get_mut("metadata").and_then(Value::as_object_mut) {
        // The apply body cannot set system metadata.
        for f in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(f);
        }
    }
    strategic_merge(&mut obj, &cfg, keys);

    // Fields this manager applied before and omits now are removed unless someone else owns them.
    let previously: FieldSet = entries
        .iter()
        .find(|e| {
            e.manager == w.manager
                && e.operation == Operation::Apply
                && e.subresource == w.subresource
        })
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut touched_items: BTreeSet<Path> = BTreeSet::new();
    for p in previously.iter().filter(|p| !cfg_flat.contains_key(*p)) {
        let shared = entries.iter().any(|e| {
            !(e.manager == w.manager && e.operation == Operation::Apply) && e.fields.contains(p)
        });
        if !shared {
            remove_path(&mut obj, p);
            if let Some(i) = p.iter().rposition(|e| e.starts_with("k:")) {
                touched_items.insert(p[..=i].to_vec());
            }
        }
    }
    for item in touched_items {
        prune_key_only_item(&mut obj, &item);
    }

    let e = entry_mut(&mut entries, w, Operation::Apply);
    e.fields = cfg_flat.keys().cloned().collect();
    e.api_version = w.api_version.to_string();
    let new_flat = flatten(&obj, keys);
    finish(&mut entries, &before, &new_flat);
    write_entries(&mut obj, &entries);
    Ok(obj)
}

/// Drops owned paths that no longer exist in `obj` (after subresource isolation reverted them).
pub fn retain_present(obj: &mut Value, keys: ListKeys<'_>) {
    let flat = flatten(obj, keys);
    let mut entries = read_entries(obj);
    let before = entries.clone();
    for e in entries.iter_mut() {
        e.fields.retain(|p| flat.contains_key(p));
    }
    entries.retain(|e| !e.fields.is_empty());
    if entries != before {
        write_entries(obj, &entries);
    }
}

/// `.spec.replicas` / `.spec.containers[name="a"].image` for conflict messages.
fn display_path(p: &Path) -> String {
    let mut s = String::new();
    for el in p {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let inner = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|_| k.to_string());
            s.push_str(&format!("[{inner}]"));
        }
    }
    s
}

fn find_item<'v>(list: &'v mut [Value], key: &str) -> Option<&'v mut Value> {
    let want: Map<String, Value> = serde_json::from_str(key).ok()?;
    list.iter_mut()
        .find(|i| want.iter().all(|(k, v)| i.get(k) == Some(v)))
}

/// Removes a leaf and any map it leaves empty. Key fields of list items are kept (the item
/// is pruned separately once nothing but its key remains).
fn remove_path(obj: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if let Some(f) = first.strip_prefix("f:") {
        let Some(m) = obj.as_object_mut() else {
            return false;
        };
        if rest.is_empty() {
            m.remove(f);
        } else if let Some(child) = m.get_mut(f)
            && remove_path(child, rest)
        {
            m.remove(f);
        }
        return m.is_empty();
    }
    if let Some(k) = first.strip_prefix("k:") {
        let Some(list) = obj.as_array_mut() else {
            return false;
        };
        if rest.is_empty() {
            let want: Option<Map<String, Value>> = serde_json::from_str(k).ok();
            if let Some(want) = want {
                list.retain(|i| !want.iter().all(|(wk, wv)| i.get(wk) == Some(wv)));
            }
        } else if let Some(item) = find_item(list, k) {
            let key_fields: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.keys().map(|k| format!("f:{k}")).collect())
                .unwrap_or_default();
            if !(rest.len() == 1 && key_fields.contains(&rest[0])) {
                remove_path(item, rest);
            }
        }
        return list.is_empty();
    }
    false
}

/// Drops a keyed list item that has nothing left but its key fields.
fn prune_key_only_item(obj: &mut Value, item_path: &[String]) {
    let Some((last, parents)) = item_path.split_last() else {
        return;
    };
    let Some(k) = last.strip_prefix("k:") else {
        return;
    };
    let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else {
        return;
    };
    let mut cur = obj;
    for el in parents {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = el.strip_prefix("k:") {
            cur.as_array_mut().and_then(|l| find_item(l, k))
        } else {
            None
        };
        let Some(n) = next else { return };
        cur = n;
    }
    if let Some(list) = cur.as_array_mut() {
        list.retain(|i| {
            let matches = want.iter().all(|(wk, wv)| i.get(wk) == Some(wv));
            let key_only = i
                .as_object()
                .is_some_and(|m| m.keys().all(|k| want.contains_key(k)));
            !(matches && key_only)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ListKeys<'static> {
        static EMPTY: BTreeMap<String, Vec<String>> = BTreeMap::new();
        ListKeys {
            builtin: true,
            custom: &EMPTY,
        }
    }

    fn w(m: &str) -> Writer<'_> {
        Writer {
            manager: m,
            api_version: "v1",
            subresource: "",
        }
    }

    #[test]
    fn fields_v1_round_trip() {
        let o = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}], "args": ["x"]}});
        let set: FieldSet = flatten(&o, keys()).into_keys().collect();
        let v1 = to_fields_v1(&set);
        assert!(v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"].is_object());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_removes_dropped_fields_and_keeps_others() {
        let err = |m: String| ApiError::BadRequest(m);
        let c1 = json!({"data": {"a": "1", "b": "2"}});
        let o = apply(None, &c1, &w("one"), false, keys(), err).unwrap();
        let mut o2 = o.clone();
        o2["data"]["c"] = json!("3");
        record_update(Some(&o), &mut o2, &w("two"), keys());
        let c2 = json!({"data": {"a": "1"}});
        let o3 = apply(Some(&o2), &c2, &w("one"), false, keys(), err).unwrap();
        assert_eq!(o3["data"], json!({"a": "1", "c": "3"}));
        let c3 = json!({"data": {"c": "4"}});
        assert!(apply(Some(&o3), &c3, &w("one"), false, keys(), err).is_err());
        let o4 = apply(Some(&o3), &c3, &w("one"), true, keys(), err).unwrap();
        assert_eq!(o4["data"]["c"], json!("4"));
    }
}
