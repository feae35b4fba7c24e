//! Small helpers over JSON objects: metadata access, timestamps, uids, simple JSONPath.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

/// RFC 3339 timestamp with second precision, as `metav1.Time` is serialized.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

static UID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random-looking v4 UUID; uniqueness comes from a process-wide counter mixed with a random seed.
pub fn new_uid() -> String {
    let n = UID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let mut h1 = state.build_hasher();
    h1.write_u64(n);
    let a = h1.finish();
    let mut h2 = state.build_hasher();
    h2.write_u64(a ^ n.rotate_left(17));
    let b = h2.finish();
    let bytes: Vec<u8> = a.to_be_bytes().into_iter().chain(b.to_be_bytes()).collect();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// Makes `v` an object (replacing anything else) and returns its map.
pub fn as_map_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        // `v` is an object by now, so this recursion ends immediately.
        other => as_map_mut(other),
    }
}

/// Mutable `metadata`, created (and the object made an object) when absent.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let root = as_map_mut(obj);
    as_map_mut(root.entry("metadata").or_insert(Value::Null))
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

/// The strings of an array field (`verbs`, `required`); non-strings are skipped.
pub fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or_default()
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or_default()
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid").unwrap_or_default()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a metadata list left empty, as Go's `omitempty` leaves it out.
pub fn drop_empty(obj: &mut Value, field: &str) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        && m.get(field)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        m.remove(field);
    }
}

pub fn is_deleting(obj: &Value) -> bool {
    meta(obj).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|v| !v.is_null()))
}

pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    meta(obj)?.get("labels")?.as_object()
}

/// Owner uids from `metadata.ownerReferences`.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Follows a dotted path (`spec.replicas`, leading dot optional) through objects.
pub fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.trim_start_matches('.').split('.') {
        if seg.is_empty() {
            continue;
        }
        cur = cur.get(seg)?;
    }
    Some(cur)
}

/// Sets a dotted path, creating intermediate objects.
pub fn set_path(obj: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect();
    let mut cur = obj;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        if i == segs.len() - 1 {
            map.insert(seg.to_string(), value);
            return;
        }
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Evaluates the JSONPath subset used by printer columns: `.a.b`, `.a[0]`, `.a[*]` and
/// `.a[?(@.type=="Ready")].status`. Returns all matches.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur: Vec<&Value> = vec![obj];
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            if key.is_empty() {
                continue;
            }
            cur = cur.into_iter().filter_map(|v| v.get(key)).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = find_bracket_end(r) else {
                return Vec::new();
            };
            let inner = &r[..end];
            rest = &r[end + 1..];
            cur = apply_bracket(cur, inner);
        } else {
            return Vec::new();
        }
    }
    cur
}

fn find_bracket_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some(i),
            ']' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn apply_bracket<'a>(cur: Vec<&'a Value>, inner: &str) -> Vec<&'a Value> {
    let items = cur
        .into_iter()
        .filter_map(Value::as_array)
        .flat_map(|a| a.iter());
    if inner == "*" {
        return items.collect();
    }
    if let Ok(i) = inner.parse::<usize>() {
        return items.skip(i).take(1).collect();
    }
    let Some(expr) = inner
        .strip_prefix("?(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.trim().strip_prefix("@."))
    else {
        return Vec::new();
    };
    let (field, negate, want) = if let Some((f, v)) = expr.split_once("!=") {
        (f, true, v)
    } else if let Some((f, v)) = expr.split_once("==") {
        (f, false, v)
    } else {
        return items.filter(|v| get_path(v, expr).is_some()).collect();
    };
    let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
    items
        .filter(|v| {
            let got = get_path(v, field.trim()).map(value_string);
            (got.as_deref() == Some(want)) != negate
        })
        .collect()
}

/// Renders a JSON value the way kubectl prints a scalar.
pub fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Decodes `%XX` escapes and `+` in a URL query component.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonpath_filters() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        let r = json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status");
        assert_eq!(r, vec![&json!("True")]);
        assert_eq!(
            json_path(&o, ".status.conditions[0].type"),
            vec![&json!("A")]
        );
    }

    #[test]
    fn decode() {
        assert_eq!(url_decode("a%3Db+c"), "a=b c");
        assert_eq!(url_decode("x%"), "x%");
    }

    #[test]
    fn uids_differ() {
        assert_ne!(new_uid(), new_uid());
        assert_eq!(new_uid().len(), 36);
    }
}
