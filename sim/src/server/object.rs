//! How objects are kept in memory: as compact JSON, split at the top level into parts that
//! are interned, so versions of an object share what did not change (a status update keeps
//! the spec bytes) and objects share what is the same (`managedFields`, `apiVersion`, `kind`).
//! Reads decode on demand; lists and watches copy the bytes straight into responses.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One interned piece of JSON (a key with its quotes, or a value).
type Part = Arc<[u8]>;

/// A stored version of an object. Cheap to clone; clones share the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Object(Arc<Stored>);

#[derive(PartialEq, Eq)]
struct Stored {
    resource_version: u64,
    /// `metadata` without `resourceVersion` and `managedFields`.
    meta: Part,
    /// `metadata.managedFields`, when present.
    managed: Option<Part>,
    /// Top-level fields in key order (`metadata` is among them with an empty value part).
    fields: Box<[(Part, Part)]>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_json(None)))
    }
}

const METADATA_KEY: &[u8] = b"\"metadata\"";
const API_VERSION_KEY: &[u8] = b"\"apiVersion\"";

/// Shares equal parts between objects. Parts nobody else holds are swept now and then.
#[derive(Debug, Default)]
pub struct Interner {
    parts: HashSet<Part>,
    next_sweep: usize,
}

impl Interner {
    fn intern(&mut self, bytes: Vec<u8>) -> Part {
        if let Some(p) = self.parts.get(bytes.as_slice()) {
            return p.clone();
        }
        if self.parts.len() >= self.next_sweep {
            // Amortized: each sweep at least doubles the room before the next one.
            self.parts.retain(|p| Arc::strong_count(p) > 1);
            self.next_sweep = (self.parts.len() * 2).max(1024);
        }
        let p: Part = Arc::from(bytes.into_boxed_slice());
        self.parts.insert(p.clone());
        p
    }
}

fn encode(v: &impl serde::Serialize) -> Vec<u8> {
    // Serializing a JSON value or string into memory cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

impl Object {
    /// Stores `obj` (a JSON object) at `resource_version`; its `metadata.resourceVersion` is
    /// replaced by that number.
    pub fn new(obj: &Value, resource_version: u64, interner: &mut Interner) -> Object {
        let empty = Map::new();
        let map = obj.as_object().unwrap_or(&empty);
        let mut fields = Vec::with_capacity(map.len() + 1);
        let mut meta = None;
        let mut managed = None;
        for (k, v) in map {
            let key = interner.intern(encode(k));
            if k == "metadata" {
                let mut m = v.as_object().cloned().unwrap_or_default();
                m.remove("resourceVersion");
                if let Some(mf) = m.remove("managedFields") {
                    managed = Some(interner.intern(encode(&mf)));
                }
                meta = Some(interner.intern(encode(&m)));
                fields.push((key, interner.intern(Vec::new())));
            } else {
                fields.push((key, interner.intern(encode(v))));
            }
        }
        let meta = match meta {
            Some(m) => m,
            None => {
                // Every stored object has metadata; keep the shape regular anyway.
                fields.push((
                    interner.intern(METADATA_KEY.to_vec()),
                    interner.intern(Vec::new()),
                ));
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                interner.intern(b"{}".to_vec())
            }
        };
        Object(Arc::new(Stored {
            resource_version,
            meta,
            managed,
            fields: fields.into_boxed_slice(),
        }))
    }

    pub fn resource_version(&self) -> u64 {
        self.0.resource_version
    }

    /// The object's JSON, with `apiVersion` replaced when `api_version` is given.
    pub fn to_json(&self, api_version: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len() + 16);
        self.write_json(&mut out, api_version);
        out
    }

    fn encoded_len(&self) -> usize {
        let s = &self.0;
        s.fields
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
            + s.meta.len()
            + s.managed.as_ref().map_or(0, |m| m.len() + 20)
            + 40
    }

    /// Appends the object's JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>, api_version: Option<&str>) {
        let s = &self.0;
        out.push(b'{');
        for (i, (k, v)) in s.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(k);
            out.push(b':');
            if &**k == METADATA_KEY {
                self.write_metadata(out);
            } else if let (Some(av), true) = (api_version, &**k == API_VERSION_KEY) {
                out.extend_from_slice(&encode(&av));
            } else {
                out.extend_from_slice(v);
            }
        }
        out.push(b'}');
    }

    fn write_metadata(&self, out: &mut Vec<u8>) {
        let s = &self.0;
        out.push(b'{');
        if let Some(mf) = &s.managed {
            out.extend_from_slice(b"\"managedFields\":");
            out.extend_from_slice(mf);
            out.push(b',');
        }
        out.extend_from_slice(b"\"resourceVersion\":\"");
        out.extend_from_slice(s.resource_version.to_string().as_bytes());
        out.push(b'"');
        let rest = &s.meta[1..];
        if rest != b"}" {
            out.push(b',');
        }
        out.extend_from_slice(rest);
    }

    /// The whole object as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.to_json(None)).unwrap_or(Value::Null)
    }

    /// The apiVersion the object is stored at.
    pub fn api_version(&self) -> String {
        self.field(API_VERSION_KEY)
            .and_then(|v| serde_json::from_slice::<String>(v).ok())
            .unwrap_or_default()
    }

    fn field(&self, key: &[u8]) -> Option<&[u8]> {
        self.0
            .fields
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// What selectors and the indexes read from metadata, decoded from its part alone.
    pub fn meta(&self) -> Meta {
        serde_json::from_slice(&self.0.meta).unwrap_or_default()
    }
}

/// The metadata fields that selectors, deletion checks and the store's indexes use. Fields
/// of an unexpected type read as absent, as the JSON accessors in [`crate::server::meta`] do.
#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    name: Value,
    #[serde(default)]
    namespace: Value,
    #[serde(default)]
    uid: Value,
    #[serde(default)]
    labels: Value,
    #[serde(default, rename = "ownerReferences")]
    owner_references: Value,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Value,
}

impl Meta {
    pub fn name(&self) -> &str {
        self.name.as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.namespace.as_str().unwrap_or_default()
    }

    pub fn uid(&self) -> &str {
        self.uid.as_str().unwrap_or_default()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(Value::as_str)
    }

    pub fn is_deleting(&self) -> bool {
        !self.deletion_timestamp.is_null()
    }

    pub fn owner_uids(&self) -> Vec<String> {
        self.owner_references
            .as_array()
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_shares_parts() {
        let mut interner = Interner::default();
        let v1 = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "a"}, "ownerReferences": [{"uid": "o1"}],
                "managedFields": [{"manager": "m", "operation": "Apply"}]},
            "spec": {"replicas": 2},
        });
        let o1 = Object::new(&v1, 9, &mut interner);
        let mut want = v1.clone();
        want["metadata"]["resourceVersion"] = json!("9");
        assert_eq!(o1.to_value(), want);
        assert_eq!(o1.resource_version(), 9);
        assert_eq!(o1.api_version(), "apps/v1");
        let m = o1.meta();
        assert_eq!((m.name(), m.namespace(), m.uid()), ("a", "ns", "u1"));
        assert_eq!(m.label("app"), Some("a"));
        assert_eq!(m.owner_uids(), vec!["o1".to_string()]);
        assert!(!m.is_deleting());
        let stamped: Value = serde_json::from_slice(&o1.to_json(Some("apps/v1beta2"))).unwrap();
        assert_eq!(stamped["apiVersion"], "apps/v1beta2");

        // A status update shares spec, metadata and managedFields with the previous version.
        let mut v2 = v1.clone();
        v2["status"] = json!({"readyReplicas": 2});
        let o2 = Object::new(&v2, 10, &mut interner);
        assert!(Arc::ptr_eq(&o1.0.meta, &o2.0.meta));
        let spec = |o: &Object| {
            o.0.fields
                .iter()
                .find(|(k, _)| &**k == b"\"spec\"")
                .unwrap()
                .1
                .clone()
        };
        assert!(Arc::ptr_eq(&spec(&o1), &spec(&o2)));
        assert_eq!(o2.to_value()["status"]["readyReplicas"], 2);

        let bare = Object::new(&json!({"kind": "X"}), 1, &mut interner);
        assert_eq!(
            bare.to_value(),
            json!({"kind": "X", "metadata": {"resourceVersion": "1"}})
        );
    }
}
