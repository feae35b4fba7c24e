//! A member object as the member served it: its JSON, read once.
//!
//! kube's `DynamicObject` reads an object twice (serde's `flatten` buffers the whole document
//! before splitting it into typed metadata, `managedFields` included, and the rest), and the
//! member caches and the write path then turned it back into JSON to fingerprint it: three
//! trees per watch event and per write answer. [`RawObject`] keeps the one tree and the few
//! metadata fields that the watcher and the caches key on.

use kube::Resource;
use kube::api::{ApiResource, ObjectMeta};
use kube::core::DynamicResourceScope;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

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

impl Resource for RawObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

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
