//! A member object read straight into what the operator keeps of it: the fingerprint of its
//! applied fields, taken while the JSON is read, and the few fields the rest of a
//! [`MemberObject`] comes from. Watch events and write answers of push members are read this
//! way: most of an object (its spec) is hashed as it streams by instead of becoming a tree of
//! maps and strings that is dropped as soon as it is summarized.
//!
//! The summary is the one [`MemberObject::from_object`] makes of the whole object (a test
//! checks it), so objects read either way compare equal.

use super::raw_object::{Skipping, keys_of};
use crate::core::compare::{FieldPath, Fingerprint, FingerprintBuilder};
use crate::core::observation::{MemberObject, READ_BESIDE_FIELDS, SERVER_FIELDS, StatusCollection};
use crate::crds::dynamic_resource::dynamic_resource;
use kube::api::ObjectMeta;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::fmt;

/// A served object as its summary needs it.
#[derive(Clone, Debug, Default)]
pub struct ServedObject {
    /// Name, namespace, uid and resourceVersion only (what watchers and keys need).
    pub metadata: ObjectMeta,
    /// `metadata` (without `managedFields`), `status` and `spec.replicas`, as served.
    read: Value,
    /// The fingerprint of the object's applied fields.
    fields: Fingerprint,
}

impl ServedObject {
    /// The summary a cache keeps and a plan reads.
    pub fn into_member_object(self, collection: StatusCollection) -> MemberObject {
        MemberObject::from_parts(&self.read, self.fields, collection)
    }
}

impl<'de> Deserialize<'de> for ServedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(Reading)
    }
}

struct Reading;

impl<'de> Visitor<'de> for Reading {
    type Value = ServedObject;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServedObject, A::Error> {
        let (read_whole, read_in_spec) = READ_BESIDE_FIELDS;
        let root = FieldPath::root();
        let mut fields = FingerprintBuilder::default();
        let mut read = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = root.key(&key);
            let kept = read_whole.contains(&key.as_str());
            match SERVER_FIELDS.iter().find(|o| o.key == key) {
                // Left out of the fingerprint (`status`): read only when kept.
                Some(omit) if omit.inside.is_empty() => {
                    if kept {
                        read.insert(key, map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                // Partly left out (`metadata`): read whole, without `managedFields`.
                Some(omit) => {
                    let value = if key == "metadata" {
                        map.next_value_seed(Skipping::Metadata)?
                    } else {
                        map.next_value::<Value>()?
                    };
                    fields.value_omitting(at, &value, omit.inside);
                    if kept {
                        read.insert(key, value);
                    }
                }
                None if kept => {
                    let value = map.next_value::<Value>()?;
                    fields.value_omitting(at, &value, &[]);
                    read.insert(key, value);
                }
                None if key == "spec" => {
                    let spec = map.next_value_seed(fields.seed_keeping(at, read_in_spec))?;
                    read.insert(key, Value::Object(spec));
                }
                None => map.next_value_seed(fields.seed(at))?,
            }
        }
        let read = Value::Object(read);
        Ok(ServedObject {
            metadata: keys_of(&read),
            read,
            fields: fields.finish(),
        })
    }
}

dynamic_resource!(ServedObject);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::DESIRED_HASH_ANNOTATION;
    use crate::crds::federated::AggregateKind;
    use crate::crds::federated::MANAGED_LABEL;
    use serde_json::json;

    fn collections() -> [StatusCollection; 2] {
        [
            StatusCollection {
                collect: true,
                kind: AggregateKind::Replicated,
            },
            StatusCollection {
                collect: false,
                kind: AggregateKind::Replicated,
            },
        ]
    }

    /// Objects as members serve them: server-side applied (managed fields, server metadata,
    /// defaults, status), being deleted, kept for dependents, written by kubectl, and shapes
    /// that are only odd.
    fn served() -> Vec<Value> {
        vec![
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {
                    "name": "web", "namespace": "bench", "uid": "u1", "resourceVersion": "42",
                    "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"app": "web", MANAGED_LABEL: "true", "dependency-of.kubefed.io/x": "y"},
                    "annotations": {DESIRED_HASH_ANNOTATION: "00000000000000aa",
                        "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}"},
                    "managedFields": [{"manager": "kubefed", "operation": "Apply",
                        "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
                },
                "spec": {
                    "replicas": 3, "progressDeadlineSeconds": 600,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                        "name": "web", "image": "nginx:1.25",
                        "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                        "env": [{"name": "PAD", "value": "x".repeat(256)}, {"name": "E", "value": ""}],
                        "terminationMessagePath": "/dev/termination-log"}]}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
                },
                "status": {"observedGeneration": 3, "replicas": 3, "readyReplicas": 3,
                    "conditions": [{"type": "Available", "status": "True",
                        "lastUpdateTime": "2026-01-01T00:00:01Z"}]}
            }),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z",
                    "finalizers": ["f"], "labels": {MANAGED_LABEL: "false"}},
                "data": {"a": "1", "b": ""}
            }),
            json!({"metadata": {"name": "ns1"}, "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}}),
            json!({"metadata": {"name": "odd"}, "spec": [1, 2], "status": null}),
            json!({"metadata": {"name": "odd"}, "spec": {"replicas": 0}, "status": {}}),
            json!({}),
        ]
    }

    #[test]
    fn the_summary_is_that_of_the_whole_object() {
        for object in served() {
            let text = object.to_string();
            for collection in collections() {
                let read: ServedObject = serde_json::from_str(&text).expect("an object");
                assert_eq!(
                    read.into_member_object(collection),
                    MemberObject::from_object(&object, collection),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn keeps_the_keys_watchers_and_caches_need() {
        let read: ServedObject = serde_json::from_value(served()[0].clone()).expect("an object");
        assert_eq!(read.metadata.name.as_deref(), Some("web"));
        assert_eq!(read.metadata.namespace.as_deref(), Some("bench"));
        assert_eq!(read.metadata.uid.as_deref(), Some("u1"));
        assert_eq!(read.metadata.resource_version.as_deref(), Some("42"));
        // Of the spec, only what the summary reads besides the fingerprint.
        assert_eq!(read.read["spec"], json!({"replicas": 3}));
        assert!(read.read["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn a_change_of_a_streamed_field_changes_the_summary() {
        let object = served()[0].clone();
        let mut changed = object.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        let [collection, _] = collections();
        let summary = |v: &Value| {
            serde_json::from_str::<ServedObject>(&v.to_string())
                .expect("an object")
                .into_member_object(collection)
        };
        assert_ne!(summary(&object), summary(&changed));
    }

    #[test]
    fn what_is_not_an_object_is_refused() {
        for odd in ["[1, 2]", "\"x\"", "3", "null"] {
            assert!(serde_json::from_str::<ServedObject>(odd).is_err(), "{odd}");
        }
    }
}
