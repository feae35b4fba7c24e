//! A member object as the member served it: its JSON, read once.
//!
//! kube's `DynamicObject` reads an object twice (serde's `flatten` buffers the whole document
//! before splitting it into typed metadata, `managedFields` included, and the rest), and the
//! member caches and the write path then turned it back into JSON to fingerprint it: three
//! trees per watch event and per write answer. [`RawObject`] keeps the one tree and the few
//! metadata fields that the watcher and the caches key on.

use crate::crds::dynamic_resource::dynamic_resource;
use kube::api::ObjectMeta;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An object of a dynamically known type, as served.
#[derive(Clone, Debug, Default)]
pub struct RawObject {
    /// Name, namespace, uid and resourceVersion only (what watchers and keys need).
    pub metadata: ObjectMeta,
    /// The whole object as served.
    pub value: Value,
}

impl RawObject {
    pub fn new(value: Value) -> Self {
        let meta = value.get("metadata");
        let text = |field: &str| {
            meta.and_then(|m| m.get(field))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let metadata = ObjectMeta {
            name: text("name"),
            namespace: text("namespace"),
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            ..ObjectMeta::default()
        };
        RawObject { metadata, value }
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(RawObject::new)
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

dynamic_resource!(RawObject);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_served_json_and_the_keys() {
        let served = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "bench", "uid": "u1",
                "resourceVersion": "42", "labels": {"a": "b"},
                "managedFields": [{"manager": "kubefed", "operation": "Apply"}]},
            "spec": {"replicas": 2}
        });
        let raw: RawObject = serde_json::from_value(served.clone()).unwrap();
        assert_eq!(raw.value, served);
        assert_eq!(raw.metadata.name.as_deref(), Some("web"));
        assert_eq!(raw.metadata.namespace.as_deref(), Some("bench"));
        assert_eq!(raw.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(raw.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(serde_json::to_value(&raw).unwrap(), served);
    }

    #[test]
    fn a_cluster_scoped_object_has_no_namespace() {
        let raw: RawObject = serde_json::from_value(json!({"metadata": {"name": "ns1"}})).unwrap();
        assert_eq!(raw.metadata.namespace, None);
        assert_eq!(raw.metadata.resource_version, None);
    }
}
