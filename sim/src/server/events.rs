//! Events are one resource served by two APIs, as on a real API server: core/v1 `events` and
//! `events.k8s.io/v1` `events`. Every write through either API is stored under both, converted
//! with the API server's field mapping, with the same uid and resource version, so an event
//! published through one API is listed and watched through the other.

use serde_json::{Map, Value};

use crate::server::resources::GroupResource;

const EVENTS: &str = "events";
const EVENTS_GROUP: &str = "events.k8s.io";

/// `(events.k8s.io/v1 field, core/v1 field)`; fields of the same name in both are listed too.
const FIELDS: &[(&str, &str)] = &[
    ("metadata", "metadata"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("type", "type"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The other API's view of an event stored under `gr`, or `None` if `gr` is not events.
pub fn mirror(gr: &GroupResource, obj: &Value) -> Option<(GroupResource, Value)> {
    if gr.resource != EVENTS {
        return None;
    }
    match gr.group.as_str() {
        "" => Some((
            GroupResource::new(EVENTS_GROUP, EVENTS),
            convert(obj, "events.k8s.io/v1", |(v1, core)| (*core, *v1)),
        )),
        EVENTS_GROUP => Some((
            GroupResource::new("", EVENTS),
            convert(obj, "v1", |(v1, core)| (*v1, *core)),
        )),
        _ => None,
    }
}

/// Copies the mapped fields (`from` → `to` as `pair` picks them) and sets the API version.
fn convert(
    obj: &Value,
    api_version: &str,
    pair: impl Fn(&(&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::from(api_version));
    out.insert("kind".into(), Value::from("Event"));
    for (from, to) in FIELDS.iter().map(pair) {
        if let Some(v) = obj.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_v1_maps_to_core_and_back() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "demo", "uid": "u1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "kubefed",
            "reportingInstance": "kubefed-0",
            "action": "Reconcile",
            "reason": "DriftRepaired",
            "type": "Warning",
            "note": "restored",
            "regarding": {"kind": "FederatedDeployment", "name": "web", "namespace": "demo"},
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}
        });
        let (gr, core) = mirror(&GroupResource::new(EVENTS_GROUP, EVENTS), &v1).expect("events");
        assert_eq!(gr, GroupResource::new("", EVENTS));
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["message"], "restored");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["reportingComponent"], "kubefed");
        assert_eq!(core["reason"], "DriftRepaired");
        assert_eq!(core["type"], "Warning");
        assert_eq!(core["metadata"]["uid"], "u1");
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        let (gr, back) = mirror(&gr, &core).expect("events");
        assert_eq!(gr, GroupResource::new(EVENTS_GROUP, EVENTS));
        assert_eq!(back, v1);
    }

    #[test]
    fn core_only_fields_map_to_deprecated_ones() {
        let core = json!({
            "metadata": {"name": "e"},
            "message": "m",
            "source": {"component": "kubelet"},
            "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:05Z",
            "count": 3,
            "eventTime": null
        });
        let (_, v1) = mirror(&GroupResource::new("", EVENTS), &core).expect("events");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["deprecatedSource"]["component"], "kubelet");
        assert_eq!(v1["deprecatedCount"], 3);
        assert_eq!(v1["deprecatedLastTimestamp"], "2026-01-01T00:00:05Z");
        assert!(v1.get("eventTime").is_none());
    }

    #[test]
    fn other_resources_are_not_mirrored() {
        assert!(mirror(&GroupResource::new("", "configmaps"), &json!({})).is_none());
        assert!(mirror(&GroupResource::new("apps", EVENTS), &json!({})).is_none());
    }
}
