//! The status write: a JSON merge patch (RFC 7386) of only what changed, or nothing.

use serde_json::{Map, Value, json};

use crate::crds::federated::FederatedStatus;

/// The merge-patch body for the status subresource that turns `old` into `new`
/// (`{"status": {…}}`), or `None` when they are equal so no write is issued.
///
/// Objects are diffed field by field (removed fields become `null`); arrays such as
/// `clusters` and `conditions` are sent whole, since merge patch replaces arrays. A `null`
/// inside a new object value would read as "delete" to the server; Kubernetes statuses omit
/// empty fields rather than writing `null`, so this does not arise for member statuses.
pub fn status_patch(old: &FederatedStatus, new: &FederatedStatus) -> Option<Value> {
    if old == new {
        return None;
    }
    // Serializing these plain data types cannot fail; a failure would mean nothing to send.
    let old = serde_json::to_value(old).ok()?;
    let new = serde_json::to_value(new).ok()?;
    merge_diff(&old, &new).map(|diff| json!({ "status": diff }))
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`, `None` when equal. Fields
/// missing from `new` become `null`: a plain merge patch of the new value would keep them
/// (e.g. a cluster dropped from a map would linger).
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
    use crate::crds::federated::{AggregateStatus, ClusterStatus};

    fn status(ready: &str) -> FederatedStatus {
        FederatedStatus {
            observed_generation: Some(2),
            clusters: vec![ClusterStatus {
                name: "c1".into(),
                remote_status: Some(json!({"readyReplicas": 3, "replicas": 3})),
                ..Default::default()
            }],
            aggregate: Some(AggregateStatus {
                clusters: "1/1".into(),
                ready: Some(ready.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn equal_status_needs_no_write() {
        assert_eq!(status_patch(&status("3/3"), &status("3/3")), None);
        let empty = FederatedStatus::default();
        assert_eq!(status_patch(&empty, &empty), None);
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let patch = status_patch(&status("2/3"), &status("3/3"));
        assert_eq!(
            patch,
            Some(json!({"status": {"aggregate": {"ready": "3/3"}}}))
        );
    }

    #[test]
    fn arrays_are_replaced_whole_and_removals_are_null() {
        let old = status("3/3");
        let mut new = old.clone();
        new.clusters[0].stale = true;
        new.clusters[0].last_seen = Some("2026-01-01T00:00:00Z".into());
        new.aggregate = None;
        let patch = status_patch(&old, &new).expect("changed");
        assert_eq!(patch["status"]["aggregate"], Value::Null);
        assert_eq!(
            patch["status"]["clusters"],
            json!([{
                "name": "c1",
                "remoteStatus": {"readyReplicas": 3, "replicas": 3},
                "stale": true,
                "lastSeen": "2026-01-01T00:00:00Z",
            }])
        );
        assert!(patch["status"].get("observedGeneration").is_none());
        // Applying the patch to the old status gives the new one.
        let mut applied = json!({"status": serde_json::to_value(&old).expect("json")});
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied["status"], serde_json::to_value(&new).expect("json"));
    }

    #[test]
    fn first_write_sends_everything() {
        let new = status("0/3");
        let patch = status_patch(&FederatedStatus::default(), &new).expect("changed");
        assert_eq!(patch["status"], serde_json::to_value(&new).expect("json"));
    }
}
