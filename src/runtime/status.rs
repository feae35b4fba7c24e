//! Status writes: only what changed, as a JSON merge patch of the status subresource, and
//! nothing at all when nothing did.

use crate::core::merge_patch::merge_diff;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;

/// Patches the status of `name` from `stored` (as read) to `next`; no request when they are
/// equal. Returns whether it wrote.
pub async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    stored: Option<&Value>,
    next: &S,
) -> Result<bool, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    Ok(patch_status(api, name, stored, next).await?.is_some())
}

/// Like [`write_status`], returning the object as the write left it (`None`: no request).
pub async fn patch_status<K, S>(
    api: &Api<K>,
    name: &str,
    stored: Option<&Value>,
    next: &S,
) -> Result<Option<K>, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let empty = json!({});
    let stored = stored.unwrap_or(&empty);
    let Some(diff) = serde_json::to_value(next)
        .ok()
        .and_then(|next| merge_diff(stored, &next))
    else {
        return Ok(None);
    };
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": diff })),
    )
    .await
    .map(Some)
}
