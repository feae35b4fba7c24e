//! What one reconciliation of a federated object reads, as one value: the object (its spec
//! parsed, or why it cannot be), its FederatedNamespace's placement, and per member cluster its
//! reachability, the state of its cache of the type and the member object.
//!
//! Pure data. The sync controller fills it from its caches; a tool that runs the same plan
//! without caches (a preview, a member agent) fills it from live reads, using
//! [`MemberObject::from_object`] for what it reads from a member.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::{DynamicObject, ObjectMeta};
use serde_json::Value;

use super::aggregate::remote_status;
use super::compare::{Fingerprint, Omit};
use super::dependencies::DEPENDENT_LABEL_PREFIX;
use crate::crds::federated::{
    AggregateKind, DELETE_OPTION_ANNOTATION, FederatedSpec, FederatedStatus, MANAGED_LABEL,
    ORPHAN_ANNOTATION, PAUSED_ANNOTATION, SYNC_FINALIZER,
};
use crate::crds::stored_federated::StoredFederated;

/// Everything the plan reads.
#[derive(Clone, Debug)]
pub struct Observation {
    pub object: FederatedObject,
    pub namespace: NamespaceObservation,
    /// Every member cluster by name; `None` until the member list has been read once (before
    /// that, "no members" would wrongly mean "placed nowhere").
    pub members: Option<BTreeMap<String, MemberView>>,
}

/// The federated object as the plan needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedObject {
    pub namespace: Option<String>,
    pub name: String,
    pub generation: i64,
    pub deleting: bool,
    pub has_finalizer: bool,
    pub annotations: BTreeMap<String, String>,
    /// `spec`, or why it cannot be read. A missing spec reads as the empty spec.
    pub spec: Result<FederatedSpec, String>,
    /// The stored status, when it can be read.
    pub status: Option<FederatedStatus>,
}

impl FederatedObject {
    /// Reads a federated object as the host returns it.
    pub fn from_dynamic(obj: &DynamicObject) -> Self {
        let spec = match obj.data.get("spec") {
            None | Some(Value::Null) => Ok(FederatedSpec::default()),
            Some(spec) => serde_json::from_value(spec.clone()).map_err(|e| e.to_string()),
        };
        let status = obj
            .data
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        Self::from_parts(&obj.metadata, spec, status)
    }

    /// Reads a federated object as the sync controller's store keeps it.
    pub fn from_stored(obj: &StoredFederated) -> Self {
        Self::from_parts(&obj.metadata, obj.parsed_spec(), obj.parsed_status())
    }

    fn from_parts(
        meta: &ObjectMeta,
        spec: Result<FederatedSpec, String>,
        status: Option<FederatedStatus>,
    ) -> Self {
        FederatedObject {
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            has_finalizer: has_sync_finalizer(meta),
            annotations: meta.annotations.clone().unwrap_or_default(),
            spec,
            status,
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// `kubefed.io/orphan: "true"`: deleting the object leaves its member objects in place.
    pub fn orphan(&self) -> bool {
        self.annotation(ORPHAN_ANNOTATION) == Some("true")
    }

    /// `kubefed.io/paused: "true"`: no member writes, status still collected.
    pub fn paused(&self) -> bool {
        self.annotation(PAUSED_ANNOTATION) == Some("true")
    }

    /// The raw `kubefed.io/deleteoption` annotation.
    pub fn delete_option(&self) -> Option<&str> {
        self.annotation(DELETE_OPTION_ANNOTATION)
    }
}

/// The placement of the object's FederatedNamespace (Cluster scope, namespaced types).
#[derive(Clone, Debug, PartialEq)]
pub enum NamespaceObservation {
    /// The namespace rule does not apply (Namespaced scope, cluster-scoped types, Namespaces).
    NotNeeded,
    /// The FederatedNamespace cache has not been filled yet.
    Loading,
    /// No FederatedNamespace exists for the object's namespace.
    Missing,
    /// The FederatedNamespace's spec, or why it cannot be read.
    Found(Result<FederatedSpec, String>),
}

impl NamespaceObservation {
    /// Reads a FederatedNamespace as the host returns it.
    pub fn from_federated_namespace(obj: Option<&DynamicObject>) -> Self {
        match obj {
            None => NamespaceObservation::Missing,
            Some(obj) => NamespaceObservation::Found(FederatedObject::from_dynamic(obj).spec),
        }
    }
}

/// One member cluster as this reconciliation sees it.
#[derive(Clone, Debug)]
pub struct MemberView {
    /// Labels of the KubeFedCluster, matched by `placement.clusterSelector`.
    pub labels: BTreeMap<String, String>,
    pub reachability: Reachability,
    /// The member is the host cluster itself (its own namespaces are never deleted).
    pub is_host: bool,
    /// The state of the member's cache of this type.
    pub cache: CacheState,
    /// The member object of the same name, when the cache (or a live read) has one.
    pub object: Option<Arc<MemberObject>>,
}

/// Whether a member can be written to now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reachability {
    Ready,
    /// Connected but not probed yet (just after a start or a reconnect): reporting it as not
    /// ready would only be corrected a moment later.
    Unprobed,
    /// Ready by its probes, but a request got no answer in time since the last one: writes
    /// wait for the next successful probe. Its entries are kept as they are, so a member that
    /// is only slow does not make every object's status flap.
    Unresponsive,
    /// Not ready, offline, unresponsive or misconfigured; why.
    NotReady(String),
}

/// The state of a member's cache of one type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CacheState {
    /// No watch runs (the member is not ready); the last known objects are kept.
    Stopped,
    /// The first list has not completed yet.
    Syncing,
    /// Complete and current.
    Synced,
    /// The member refuses to list or watch the type; the API's message.
    Forbidden(String),
    /// The member does not serve the type (absent from its discovery).
    NotServed,
    /// Listing fails for another reason; retried with backoff.
    Failing(String),
}

impl CacheState {
    /// Why the type cannot be watched, for status messages; `None` when it can (or may).
    pub fn problem(&self) -> Option<String> {
        match self {
            CacheState::Forbidden(message) => Some(format!("forbidden: {message}")),
            CacheState::NotServed => Some("not served (not in the cluster's discovery)".into()),
            CacheState::Failing(message) => Some(format!("failing: {message}")),
            CacheState::Stopped | CacheState::Syncing | CacheState::Synced => None,
        }
    }

    /// The short word used on the KubeFedCluster's `TypesAvailable` condition, for states
    /// that are a lasting property of the member (not transient failures).
    pub fn lasting_problem(&self) -> Option<&'static str> {
        match self {
            CacheState::Forbidden(_) => Some("forbidden"),
            CacheState::NotServed => Some("not served"),
            _ => None,
        }
    }
}

/// The value of a member object's `kubefed.io/managed` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManagedLabel {
    /// `"true"`: the operator manages it.
    True,
    /// `"false"`: never touched (`ManagedLabelFalse`).
    False,
    /// Absent (or any other value): not the operator's; adopted only when allowed.
    Absent,
}

/// Whether member status is kept for a type, and which aggregate it feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCollection {
    pub collect: bool,
    pub kind: AggregateKind,
}

/// What the plan knows of one member object: small, so caches can hold one per member object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberObject {
    pub managed: ManagedLabel,
    /// A deletion is in progress in the member.
    pub deleting: bool,
    /// The `kubefed.io/desired-hash` annotation: what the operator last applied.
    pub desired_hash: Option<Box<str>>,
    pub generation: Option<i64>,
    /// `spec.replicas`, for `retainReplicas`.
    pub replicas: Option<i64>,
    /// The member's status as `status.clusters[].remoteStatus` shows it (trimmed), when
    /// collected for the type.
    pub remote_status: Option<CompactJson>,
    /// What comparison reads.
    pub fields: AppliedFields,
    /// The `dependency-of.kubefed.io/…` labels: the workloads a dependency object is kept
    /// for (empty for every other object).
    pub dependents: Box<[String]>,
}

/// Annotation kubectl writes on client-side apply; often as large as the object itself and of
/// no use to the operator.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

impl MemberObject {
    /// Reads a member object (as a cache or a live read returns it).
    pub fn from_object(obj: &Value, collection: StatusCollection) -> Self {
        Self::from_parts(obj, applied_fingerprint(obj), collection)
    }

    /// [`Self::from_object`] from the object's [`applied_fingerprint`], taken beforehand, and
    /// the fields the rest reads: `metadata`, `spec.replicas` and `status` (see
    /// [`READ_BESIDE_FIELDS`]).
    pub fn from_parts(obj: &Value, fields: Fingerprint, collection: StatusCollection) -> Self {
        let meta = obj.get("metadata");
        let managed = match meta
            .and_then(|m| m.pointer(&format!("/labels/{}", MANAGED_LABEL.replace('/', "~1"))))
            .and_then(Value::as_str)
        {
            Some("true") => ManagedLabel::True,
            Some("false") => ManagedLabel::False,
            _ => ManagedLabel::Absent,
        };
        let desired_hash = meta
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(super::desired::DESIRED_HASH_ANNOTATION))
            .and_then(Value::as_str)
            .map(Box::from);
        let dependents = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .keys()
                    .filter(|k| k.starts_with(DEPENDENT_LABEL_PREFIX))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        MemberObject {
            managed,
            deleting: meta
                .and_then(|m| m.get("deletionTimestamp"))
                .is_some_and(|t| !t.is_null()),
            desired_hash,
            generation: meta
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64),
            replicas: obj.pointer("/spec/replicas").and_then(Value::as_i64),
            remote_status: collection
                .collect
                .then(|| remote_status(obj))
                .flatten()
                .map(|status| CompactJson::new(&status)),
            fields: AppliedFields(fields),
            dependents,
        }
    }
}

/// What [`without_server_fields`] removes: the status, the metadata the server maintains
/// (never compared, not kept) and kubectl's last-applied annotation.
pub const SERVER_FIELDS: &[Omit] = &[
    Omit::whole("status"),
    Omit::within(
        "metadata",
        &[
            Omit::whole("managedFields"),
            Omit::whole("uid"),
            Omit::whole("resourceVersion"),
            Omit::whole("creationTimestamp"),
            Omit::whole("generation"),
            Omit::whole("selfLink"),
            Omit::whole("deletionGracePeriodSeconds"),
            Omit::within("annotations", &[Omit::whole(LAST_APPLIED_ANNOTATION)]),
        ],
    ),
];

/// What [`MemberObject::from_parts`] reads besides the fingerprint: the top-level keys read
/// whole, and those of `spec`.
pub const READ_BESIDE_FIELDS: (&[&str], &[&str]) = (&["metadata", "status"], &["replicas"]);

/// Whether the sync's finalizer is on the federated object of `meta`.
pub fn has_sync_finalizer(meta: &ObjectMeta) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == SYNC_FINALIZER))
}

/// The fingerprint of a member object without its server fields ([`without_server_fields`]),
/// taken without copying the object: a member watch computes one per event.
pub fn applied_fingerprint(obj: &Value) -> Fingerprint {
    Fingerprint::of_omitting(obj, SERVER_FIELDS)
}

/// A member object without its status, the metadata the server maintains and kubectl's
/// last-applied annotation: what the operator's writes are about.
pub fn without_server_fields(obj: &Value) -> Value {
    let mut fields = obj.clone();
    Omit::remove(&mut fields, SERVER_FIELDS);
    fields
}

/// A JSON value kept as its text: a fraction of the memory of a parsed [`Value`] (no map
/// nodes, no string per key), parsed again when a reconciliation reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompactJson(Box<str>);

impl CompactJson {
    pub fn new(value: &Value) -> Self {
        CompactJson(value.to_string().into_boxed_str())
    }

    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// The fields comparison reads, as a [`Fingerprint`] (a hash per field) rather than the
/// object: the plan only asks [`AppliedFields::needs_apply`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppliedFields(Fingerprint);

impl AppliedFields {
    /// Whether `desired` must be applied to make the member hold it (see
    /// [`Fingerprint::needs_apply`]).
    pub fn needs_apply(&self, desired: &Value) -> bool {
        self.0.needs_apply(desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn member_object_keeps_what_the_plan_reads() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u", "resourceVersion": "9",
                "generation": 4,
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {
                    "kubefed.io/desired-hash": "abc",
                    LAST_APPLIED_ANNOTATION: "{…}"
                },
                "managedFields": [{"manager": "kubefed"}]
            },
            "spec": {"replicas": 3},
            "status": {"readyReplicas": 3, "observedGeneration": 4}
        });
        let collected = StatusCollection {
            collect: true,
            kind: AggregateKind::Replicated,
        };
        let m = MemberObject::from_object(&obj, collected);
        assert_eq!(m.managed, ManagedLabel::True);
        assert_eq!(m.desired_hash.as_deref(), Some("abc"));
        assert_eq!((m.generation, m.replicas), (Some(4), Some(3)));
        assert_eq!(
            m.remote_status.map(|s| s.value()),
            Some(json!({"readyReplicas": 3, "observedGeneration": 4}))
        );
        assert!(!m.deleting);
        // Server bookkeeping, status and kubectl's annotation are not kept.
        let bare = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo",
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {"kubefed.io/desired-hash": "abc"}},
            "spec": {"replicas": 3}
        });
        assert_eq!(m.fields.0, Fingerprint::of(&bare));
        let not_collected = StatusCollection {
            collect: false,
            ..collected
        };
        assert_eq!(
            MemberObject::from_object(&obj, not_collected).remote_status,
            None
        );
    }

    #[test]
    fn fingerprint_without_a_copy_equals_that_of_the_stripped_copy() {
        let objects = [
            json!({}),
            json!({"status": {"a": 1}}),
            json!({"metadata": {"uid": "u", "managedFields": [{"m": 1}]}, "spec": {"x": 1}}),
            // Annotations holding only kubectl's, metadata holding only server fields.
            json!({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{}"}}}),
            json!({"metadata": {"resourceVersion": "1", "generation": 2,
                "annotations": {LAST_APPLIED_ANNOTATION: "{}", "keep": "me"},
                "labels": {"a": "b"}}, "spec": {"replicas": 1, "template": {"x": [1, 2]}},
                "status": {"readyReplicas": 1}}),
            // Quantities inside maps that are not stripped keep their comparison form.
            json!({"spec": {"resources": {"limits": {"cpu": "0.5"}}, "storage": "1Gi"}}),
            // A top-level metadata that is not a map, and scalars at the root.
            json!({"metadata": "odd", "data": {"k": "v"}}),
            json!("scalar"),
        ];
        for obj in objects {
            assert_eq!(
                applied_fingerprint(&obj),
                Fingerprint::of(&without_server_fields(&obj)),
                "{obj}"
            );
        }
        // And it does leave the server fields out.
        let with = json!({"metadata": {"uid": "u1", "name": "n"}});
        let other = json!({"metadata": {"uid": "u2", "name": "n"}});
        assert_eq!(applied_fingerprint(&with), applied_fingerprint(&other));
        let renamed = json!({"metadata": {"uid": "u1", "name": "m"}});
        assert_ne!(applied_fingerprint(&with), applied_fingerprint(&renamed));
    }

    /// What a cache keeps per member object, where it is deterministic: the entry itself
    /// (its fingerprint's budget is pinned in `compare`) and its small heap parts.
    #[test]
    fn member_object_size_budget() {
        assert!(std::mem::size_of::<MemberObject>() <= 104);
        let obj = json!({
            "metadata": {"name": "web", "namespace": "demo", "generation": 1,
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {"kubefed.io/desired-hash": "80958fa3c9b546a1"}},
            "spec": {"replicas": 2}
        });
        let m = MemberObject::from_object(
            &obj,
            StatusCollection {
                collect: true,
                kind: AggregateKind::Replicated,
            },
        );
        // Kept as text of exactly its length, the fingerprint as exactly its leaves.
        assert_eq!(m.desired_hash.as_deref().map(str::len), Some(16));
        assert_eq!(m.fields.0.heap_bytes(), 12 * m.fields.0.len());
        assert!(m.dependents.is_empty() && m.remote_status.is_none());
    }

    #[test]
    fn managed_label_values() {
        let with = |v: Value| json!({"metadata": {"labels": {MANAGED_LABEL: v}}});
        let read = |v: Value| {
            MemberObject::from_object(
                &v,
                StatusCollection {
                    collect: false,
                    kind: AggregateKind::Other,
                },
            )
            .managed
        };
        assert_eq!(read(with(json!("true"))), ManagedLabel::True);
        assert_eq!(read(with(json!("false"))), ManagedLabel::False);
        assert_eq!(read(with(json!("yes"))), ManagedLabel::Absent);
        assert_eq!(read(json!({"metadata": {}})), ManagedLabel::Absent);
    }

    #[test]
    fn federated_object_spec_is_read_or_explained() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "cm", "namespace": "demo", "generation": 2,
                "finalizers": [SYNC_FINALIZER], "annotations": {ORPHAN_ANNOTATION: "true"}},
            "spec": {"placement": {"clusters": "cluster1"}}
        }))
        .unwrap();
        let o = FederatedObject::from_dynamic(&obj);
        assert!(o.has_finalizer && o.orphan() && !o.deleting);
        assert_eq!(o.generation, 2);
        assert!(o.spec.unwrap_err().contains("invalid type"));
        let empty: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
            "metadata": {"name": "demo", "namespace": "demo"}
        }))
        .unwrap();
        assert_eq!(
            FederatedObject::from_dynamic(&empty).spec,
            Ok(FederatedSpec::default())
        );
    }
    #[test]
    fn the_store_reads_a_federated_object_as_the_host_returns_it() {
        let cases = [
            json!({"metadata": {"name": "a"}}),
            json!({"metadata": {"name": "a", "namespace": "demo", "generation": 4,
                "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": [SYNC_FINALIZER],
                "annotations": {PAUSED_ANNOTATION: "true"}},
                "spec": {"template": {"data": {"k": "v"}},
                    "placement": {"clusters": [{"name": "c1"}]},
                    "overrides": [{"clusterName": "c1", "clusterOverrides": [
                        {"path": "/data/k", "value": "w"}]}]},
                "status": {"observedGeneration": 4, "clusters": [{"name": "c1", "status": "OK"}],
                    "conditions": [{"type": "Propagation", "status": "True",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
            json!({"metadata": {"name": "a"}, "spec": {"placement": 1}, "status": []}),
            json!({"metadata": {"name": "a"}, "spec": null, "status": null}),
        ];
        for value in cases {
            let dynamic: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            let stored: StoredFederated = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(
                FederatedObject::from_stored(&stored),
                FederatedObject::from_dynamic(&dynamic),
                "{value}"
            );
        }
    }
}
