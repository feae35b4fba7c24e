//! The member write path: one request to one member for one object, bounded by a timeout,
//! its failure mapped to KubeFed's per-cluster status vocabulary. Used by the sync executor
//! for federated objects and for the dependencies that follow a workload.

use super::in_flight::answered_within;
use super::raw_object::RawObject;
use crate::core::vocabulary::PropagationStatus;
use crate::runtime::error::ErrorCategory;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// The resourceVersion sent with a create: no stored object has it (storage revisions start
/// above 1), so applying with it creates a missing object and is refused with 409 Conflict
/// when the object exists. The create is also not forced, so an existing object whose fields
/// someone else set differently is refused with 409 as well. One request per create, and an
/// existing object the cache could not show (it is not labelled) is never overwritten unseen.
const CREATE_ONLY_RESOURCE_VERSION: &str = "1";

/// An apply's body, written out without copying the object (a create sends every member
/// object once).
#[derive(Debug)]
enum Body<'a> {
    AsIs(&'a Value),
    /// With [`CREATE_ONLY_RESOURCE_VERSION`] as its `metadata.resourceVersion`.
    CreateOnly(&'a Value),
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let object = match self {
            Body::AsIs(object) => return object.serialize(serializer),
            Body::CreateOnly(object) => object.as_object(),
        };
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in object.into_iter().flatten() {
            if key != "metadata" {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry(
            "metadata",
            &CreateOnlyMetadata(object.and_then(|o| o.get("metadata"))),
        )?;
        map.end()
    }
}

struct CreateOnlyMetadata<'a>(Option<&'a Value>);

impl Serialize for CreateOnlyMetadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0.and_then(Value::as_object).into_iter().flatten() {
            if key != "resourceVersion" {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("resourceVersion", CREATE_ONLY_RESOURCE_VERSION)?;
        map.end()
    }
}

/// A failed member request.
#[derive(Debug)]
pub struct Failure {
    pub status: PropagationStatus,
    pub category: ErrorCategory,
    pub message: String,
}

/// Requests to one member's API of one type, as one field manager, its answers read as `K`.
pub struct MemberWriter<K = RawObject> {
    pub api: Api<K>,
    /// The server-side apply field manager.
    pub manager: String,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Where that time starts.
    pub timed_from: TimedFrom,
}

/// A request timed from its send still gets no more than this many timeouts in all, waiting
/// its turn included.
const TURN_WAIT: u32 = 3;

/// Where a request's time starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimedFrom {
    /// The call: time waiting for the member's request limit counts (the caller waits for
    /// the answer, so it bounds how long it waits).
    Call,
    /// The send: a request that waited its turn under the member's request limit is not cut
    /// for it (the caller has its own patience and lets the request finish in the
    /// background; cutting it after it was sent late would leave the member applying a write
    /// whose answer nobody reads), up to [`TURN_WAIT`] timeouts in all.
    Send,
}

impl<K> MemberWriter<K>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    /// Runs `op` within the timeout (see [`TimedFrom`]); failures get `status` (or
    /// `timed_out`).
    pub async fn bounded<T>(
        &self,
        status: PropagationStatus,
        timed_out: PropagationStatus,
        op: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        let timeout = self.timeout;
        let answer = match self.timed_from {
            TimedFrom::Call => tokio::time::timeout(timeout, op).await.ok(),
            TimedFrom::Send => {
                tokio::time::timeout(timeout * TURN_WAIT, answered_within(timeout, op))
                    .await
                    .ok()
                    .flatten()
            }
        };
        match answer {
            Some(Ok(v)) => Ok(v),
            Some(Err(err)) => Err(Failure {
                status,
                category: ErrorCategory::of(&err),
                message: describe(&err),
            }),
            None => Err(Failure {
                status: timed_out,
                category: ErrorCategory::Timeout,
                message: format!("no answer within {timeout:?}"),
            }),
        }
    }

    /// Server-side applies `object` as `name` (forced); `create_only` refuses (409) when the
    /// object exists.
    pub async fn apply(&self, name: &str, object: &Value, create_only: bool) -> Result<K, Failure> {
        let params = if create_only {
            PatchParams::apply(&self.manager)
        } else {
            PatchParams::apply(&self.manager).force()
        };
        let (failed, timed_out) = if create_only {
            (
                PropagationStatus::CreationFailed,
                PropagationStatus::CreationTimedOut,
            )
        } else {
            (
                PropagationStatus::UpdateFailed,
                PropagationStatus::UpdateTimedOut,
            )
        };
        let body = if create_only {
            Body::CreateOnly(object)
        } else {
            Body::AsIs(object)
        };
        self.bounded(
            failed,
            timed_out,
            self.api.patch(name, &params, &Patch::Apply(body)),
        )
        .await
    }

    pub async fn get(&self, name: &str) -> Result<Option<K>, Failure> {
        self.bounded(
            PropagationStatus::RetrievalFailed,
            PropagationStatus::RetrievalFailed,
            self.api.get_opt(name),
        )
        .await
    }

    /// Deletes the object; `false` when there was nothing to delete.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<bool, Failure> {
        let result = self
            .bounded(
                PropagationStatus::DeletionFailed,
                PropagationStatus::DeletionTimedOut,
                self.api.delete(name, params),
            )
            .await;
        match result {
            Err(f) if f.category == ErrorCategory::NotServed => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Deletes the object only if it is still at `resource_version` (nothing changed it since
    /// it was read); `false` when it is gone already.
    pub async fn delete_unchanged(
        &self,
        name: &str,
        resource_version: Option<String>,
    ) -> Result<bool, Failure> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version,
                uid: None,
            }),
            ..DeleteParams::default()
        };
        self.delete(name, &params).await
    }

    /// A JSON merge patch of the object; `None` when it is gone (nothing to patch).
    pub async fn merge_patch(&self, name: &str, patch: &Value) -> Result<Option<K>, Failure> {
        let result = self
            .bounded(
                PropagationStatus::LabelRemovalFailed,
                PropagationStatus::LabelRemovalTimedOut,
                self.api
                    .patch(name, &PatchParams::default(), &Patch::Merge(patch)),
            )
            .await;
        match result {
            Err(f) if f.category == ErrorCategory::NotServed => Ok(None),
            other => other.map(Some),
        }
    }
}

/// The API server's own message when there is one: it names the invalid field.
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A create's body is the object with the create-only resourceVersion, whatever
    /// resourceVersion or metadata it had.
    #[test]
    fn a_create_sends_the_object_with_the_create_only_version() {
        for object in [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "labels": {"k": "v"}}, "data": {"x": "1"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "77"}}),
            json!({"kind": "ConfigMap"}),
        ] {
            let mut expected = object.clone();
            expected["metadata"]["resourceVersion"] = json!(CREATE_ONLY_RESOURCE_VERSION);
            let sent = serde_json::to_value(Body::CreateOnly(&object)).unwrap();
            assert_eq!(sent, expected);
            assert_eq!(serde_json::to_value(Body::AsIs(&object)).unwrap(), object);
        }
    }
}
