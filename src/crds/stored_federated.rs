//! A federated object as the sync controller's store keeps it: the metadata parsed, the spec
//! and the status as the JSON text the host served.
//!
//! The store holds every federated object for as long as the operator runs. Parsed into
//! `serde_json` values, the status costs a map per member cluster's entry (~650 B for ~40 B of
//! text, so ~650 B per member object at any fleet size) and the spec ~20 KB for a Deployment
//! template. A pass parses both once anyway (into [`FederatedSpec`] and [`FederatedStatus`]),
//! so the store keeps the text and nothing is parsed twice.

use super::dynamic_resource::dynamic_resource;
use super::federated::{FederatedSpec, FederatedStatus};
use kube::api::ObjectMeta;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A federated object of a dynamically known federated type.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredFederated {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec` as JSON text; `None` when absent or null.
    #[serde(default, deserialize_with = "json_text")]
    pub spec: Option<Box<str>>,
    /// `status` as JSON text; `None` when absent or null.
    #[serde(default, deserialize_with = "json_text")]
    pub status: Option<Box<str>>,
}

/// Re-serialises whatever the field holds, without building a tree of it. Works with any
/// deserializer, including the buffered one serde uses for a tagged watch event whose
/// `object` comes before its `type`.
fn json_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Box<str>>, D::Error> {
    let mut out = Vec::new();
    serde_transcode::transcode(deserializer, &mut serde_json::Serializer::new(&mut out))
        .map_err(D::Error::custom)?;
    let text = String::from_utf8(out).map_err(D::Error::custom)?;
    Ok((text != "null").then(|| text.into_boxed_str()))
}

impl StoredFederated {
    /// The spec, or why it cannot be read. A missing spec reads as the empty spec.
    pub fn parsed_spec(&self) -> Result<FederatedSpec, String> {
        match &self.spec {
            None => Ok(FederatedSpec::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| without_position(&e)),
        }
    }

    /// The status, when it can be read as a federated status.
    pub fn parsed_status(&self) -> Option<FederatedStatus> {
        serde_json::from_str(self.status.as_deref()?).ok()
    }

    /// The status as stored, field by field (what a merge patch of it is computed from).
    pub fn status_value(&self) -> Option<Value> {
        serde_json::from_str(self.status.as_deref()?).ok()
    }

    /// `spec.retainReplicas`, without reading the rest of the spec into values.
    pub fn retain_replicas(&self) -> bool {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Retain {
            #[serde(default)]
            retain_replicas: Option<bool>,
        }
        self.spec
            .as_deref()
            .and_then(|text| serde_json::from_str::<Retain>(text).ok())
            .and_then(|r| r.retain_replicas)
            .unwrap_or(false)
    }
}

/// What is wrong, without the position in the stored text (which is not the user's manifest).
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_string(),
        None => text,
    }
}

dynamic_resource!(StoredFederated);

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::WatchEvent;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "apps", "generation": 3,
                "labels": {"team": "a"}, "finalizers": ["kubefed.io/sync-controller"]},
            "spec": {
                "template": {"spec": {"replicas": 3}},
                "placement": {"clusters": [{"name": "c1"}, {"name": "c2"}]},
                "retainReplicas": true
            },
            "status": {
                "observedGeneration": 3,
                "clusters": [{"name": "c1", "status": "OK"}, {"name": "c2"}],
                "extra": {"kept": [1, 2.5, null, "x"]}
            }
        })
    }

    #[test]
    fn keeps_spec_and_status_as_their_json() {
        let value = sample();
        let obj: StoredFederated = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(obj.metadata.name.as_deref(), Some("web"));
        assert_eq!(obj.metadata.generation, Some(3));
        let spec: Value = serde_json::from_str(obj.spec.as_deref().unwrap()).unwrap();
        assert_eq!(spec, value["spec"]);
        assert_eq!(obj.status_value().as_ref(), Some(&value["status"]));
        assert!(obj.retain_replicas());
        let status = obj.parsed_status().unwrap();
        assert_eq!(status.clusters.len(), 2);
        assert!(obj.parsed_spec().is_ok());
    }

    #[test]
    fn reads_the_same_from_text_and_from_a_watch_event_in_either_field_order() {
        let object = sample();
        let direct: StoredFederated = serde_json::from_value(object.clone()).unwrap();
        // serde buffers the object when it comes before the event's type.
        for text in [
            format!(r#"{{"type":"MODIFIED","object":{object}}}"#),
            format!(r#"{{"object":{object},"type":"MODIFIED"}}"#),
        ] {
            let WatchEvent::Modified(obj) =
                serde_json::from_str::<WatchEvent<StoredFederated>>(&text).unwrap()
            else {
                panic!("not a MODIFIED event");
            };
            assert_eq!(obj.spec, direct.spec);
            assert_eq!(obj.status, direct.status);
            assert_eq!(obj.metadata, direct.metadata);
        }
    }

    #[test]
    fn absent_null_and_unreadable_parts() {
        let cases = [
            (
                json!({"metadata": {"name": "a"}}),
                None,
                None,
                Ok(()),
                false,
            ),
            (
                json!({"metadata": {"name": "a"}, "spec": null, "status": null}),
                None,
                None,
                Ok(()),
                false,
            ),
            (
                json!({"metadata": {"name": "a"}, "spec": {"placement": 7}, "status": "odd"}),
                Some(r#"{"placement":7}"#),
                Some(r#""odd""#),
                Err(()),
                false,
            ),
        ];
        for (value, spec, status, parsed, retain) in cases {
            let obj: StoredFederated = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(obj.spec.as_deref(), spec, "{value}");
            assert_eq!(obj.status.as_deref(), status, "{value}");
            assert_eq!(
                obj.parsed_spec().map(|_| ()).map_err(|_| ()),
                parsed,
                "{value}"
            );
            assert_eq!(obj.retain_replicas(), retain, "{value}");
            // A status that is not a federated status is unreadable, but still the stored
            // value a patch is computed from.
            assert!(obj.parsed_status().is_none(), "{value}");
            assert_eq!(
                obj.status_value(),
                value.get("status").filter(|s| !s.is_null()).cloned()
            );
        }
    }
}
