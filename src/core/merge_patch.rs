//! The JSON merge patch (RFC 7386) between two documents: what every status write sends, so a
//! write carries only what changed and nothing is sent when nothing did.

use serde_json::{Map, Value};

/// The merge patch that turns `old` into `new`, `None` when they are equal.
///
/// Objects are diffed field by field; fields missing from `new` become `null` (a plain merge
/// patch of the new value would keep them, e.g. a cluster dropped from a map would linger).
/// Arrays (`clusters`, `conditions`) are sent whole, since merge patch replaces arrays. A `null`
/// inside a new object value would read as "delete" to the server; Kubernetes statuses omit
/// empty fields rather than writing `null`, so this does not arise for the statuses written.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        _ if old == new => None,
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => {
                        if let Some(diff) = merge_diff(previous, value) {
                            patch.insert(key.clone(), diff);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(ready: &str) -> Value {
        json!({
            "observedGeneration": 2,
            "clusters": [{"name": "c1", "remoteStatus": {"readyReplicas": 3, "replicas": 3}}],
            "aggregate": {"clusters": "1/1", "ready": ready}
        })
    }

    #[test]
    fn equal_documents_need_no_write() {
        assert_eq!(merge_diff(&status("3/3"), &status("3/3")), None);
        assert_eq!(merge_diff(&json!({}), &json!({})), None);
    }

    #[test]
    fn only_changed_fields_are_sent() {
        assert_eq!(
            merge_diff(&status("2/3"), &status("3/3")),
            Some(json!({"aggregate": {"ready": "3/3"}}))
        );
    }

    #[test]
    fn arrays_are_replaced_whole_and_removals_are_null() {
        let old = status("3/3");
        let mut new = old.clone();
        new["clusters"][0]["stale"] = json!(true);
        new.as_object_mut().unwrap().remove("aggregate");
        let patch = merge_diff(&old, &new).expect("changed");
        assert_eq!(patch["aggregate"], Value::Null);
        assert_eq!(
            patch["clusters"],
            json!([{"name": "c1", "remoteStatus": {"readyReplicas": 3, "replicas": 3}, "stale": true}])
        );
        assert!(patch.get("observedGeneration").is_none());
        // Applying the patch to the old document gives the new one.
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, new);
    }

    #[test]
    fn first_write_sends_everything() {
        let new = status("0/3");
        assert_eq!(merge_diff(&json!({}), &new), Some(new));
    }
}
