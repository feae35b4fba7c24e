//! A member object as the member served it: its JSON, read once.
//!
//! kube's `DynamicObject` reads an object twice (serde's `flatten` buffers the whole document
//! before splitting it into typed metadata, `managedFields` included, and the rest), and the
//! member caches and the write path then turned it back into JSON to fingerprint it: three
//! trees per watch event and per write answer. [`RawObject`] keeps the one tree and the few
//! metadata fields that the watcher and the caches key on.
//!
//! `metadata.managedFields` is skipped while reading: no reader of a member object uses it
//! (comparison omits it), and it is often the largest part of a server-side applied object.

use crate::crds::dynamic_resource::dynamic_resource;
use kube::api::ObjectMeta;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// An object of a dynamically known type, as served (without `metadata.managedFields`).
#[derive(Clone, Debug, Default)]
pub struct RawObject {
    /// Name, namespace, uid and resourceVersion only (what watchers and keys need).
    pub metadata: ObjectMeta,
    /// The whole object as served.
    pub value: Value,
}

impl RawObject {
    pub fn new(value: Value) -> Self {
        RawObject {
            metadata: keys_of(&value),
            value,
        }
    }
}

/// Name, namespace, uid and resourceVersion of a served object.
pub(super) fn keys_of(value: &Value) -> ObjectMeta {
    let meta = value.get("metadata");
    let text = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    ObjectMeta {
        name: text("name"),
        namespace: text("namespace"),
        uid: text("uid"),
        resource_version: text("resourceVersion"),
        ..ObjectMeta::default()
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(Skipping::Top)
            .map(RawObject::new)
    }
}

/// Reads a JSON value as [`Value`] does, except that `metadata.managedFields` of the top
/// level object is skipped unread.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Skipping {
    /// The object itself.
    Top,
    /// Its `metadata`.
    Metadata,
}

impl<'de> DeserializeSeed<'de> for Skipping {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skipping {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // Only the top level's metadata skips a field; every other value is read whole.
            match (self, key.as_str()) {
                (Skipping::Top, "metadata") => {
                    let metadata = map.next_value_seed(Skipping::Metadata)?;
                    out.insert(key, metadata);
                }
                (Skipping::Metadata, "managedFields") => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    out.insert(key, value);
                }
            }
        }
        Ok(Value::Object(out))
    }

    // Anything but an object is read as it is (for the readers to refuse, as they would a
    // `Value` of that shape).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
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
        let mut expected = served;
        if let Some(meta) = expected["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
        assert_eq!(raw.value, expected);
        assert_eq!(raw.metadata.name.as_deref(), Some("web"));
        assert_eq!(raw.metadata.namespace.as_deref(), Some("bench"));
        assert_eq!(raw.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(raw.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(serde_json::to_value(&raw).unwrap(), expected);
    }

    #[test]
    fn reads_as_served_but_for_the_managed_fields() {
        let served = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"a": "b"},
                "managedFields": [{"manager": "kubefed", "operation": "Apply",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 2, "template": {"metadata": {"managedFields": "kept"}},
                "list": [1, -2, 2.5, null, true, "s", {"a": []}]},
            "status": null
        });
        let text = serde_json::to_string(&served).unwrap();
        let raw: RawObject = serde_json::from_str(&text).unwrap();
        let mut expected = served;
        if let Some(meta) = expected["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
        assert_eq!(raw.value, expected);
        // From a `Value` too (as tests and the pull path read them).
        let again: RawObject =
            serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(again.value, expected);
    }

    #[test]
    fn odd_shapes_are_read_as_they_are() {
        for odd in [
            json!([1, 2]),
            json!("x"),
            json!(3),
            json!({"metadata": null}),
            json!({"metadata": [1]}),
        ] {
            let raw: RawObject = serde_json::from_str(&odd.to_string()).unwrap();
            assert_eq!(raw.value, odd);
        }
    }

    #[test]
    fn a_cluster_scoped_object_has_no_namespace() {
        let raw: RawObject = serde_json::from_value(json!({"metadata": {"name": "ns1"}})).unwrap();
        assert_eq!(raw.metadata.namespace, None);
        assert_eq!(raw.metadata.resource_version, None);
    }
}
