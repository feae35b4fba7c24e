//! Adding and removing a controller's finalizer. The list is written with the object's
//! resourceVersion as precondition, so a concurrent change makes the write fail (and the
//! reconciliation retry) instead of dropping someone else's finalizer.
//!
//! (`kube::runtime::finalizer` wraps a whole reconciliation into apply/cleanup; the sync
//! controller's deletion waits for members across many passes and never adds a finalizer to
//! objects it ignores, so it uses these two steps directly.)

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

async fn set<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": obj.resource_version() }
    });
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

/// Adds `finalizer` unless present; returns whether it wrote.
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(false);
    }
    let mut next = obj.finalizers().to_vec();
    next.push(finalizer.to_string());
    set(api, obj, next).await.map(|()| true)
}

/// Removes `finalizer` when present; returns whether it wrote.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if !obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(false);
    }
    let next = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    set(api, obj, next).await.map(|()| true)
}
