//! Idempotent writes: create what is missing, update only what differs, delete what exists.
//!
//! Get-then-create (rather than server-side apply) is used so that an unchanged object is not
//! written at all and the command can say exactly what it did.

use std::fmt::Debug;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What an idempotent write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    /// The past-tense verb for progress lines.
    pub fn verb(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Creates `desired` when absent; when present and `differs(existing, desired)`, merge-patches
/// it with `desired` (lists are replaced, as JSON merge patch does).
pub async fn ensure<K>(
    api: &Api<K>,
    desired: &K,
    differs: impl Fn(&K, &K) -> bool,
) -> Result<Outcome, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let patch = serde_json::to_value(desired).map_err(kube::Error::SerdeError)?;
    ensure_patched(api, desired, differs, &patch).await
}

/// Like [`ensure`], with the merge patch used for an update given explicitly, e.g. one that
/// sets fields absent from `desired` to `null` so they are removed.
pub async fn ensure_patched<K>(
    api: &Api<K>,
    desired: &K,
    differs: impl Fn(&K, &K) -> bool,
    patch: &Value,
) -> Result<Outcome, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    Ok(ensure_from(api, desired, differs, patch).await?.0)
}

/// Like [`ensure_patched`], also returning the object as it was before, so the caller can say
/// what an update changed.
pub async fn ensure_from<K>(
    api: &Api<K>,
    desired: &K,
    differs: impl Fn(&K, &K) -> bool,
    patch: &Value,
) -> Result<(Outcome, Option<K>), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let name = desired.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        None => match api.create(&PostParams::default(), desired).await {
            Ok(_) => Ok((Outcome::Created, None)),
            // Lost a race with another writer: the object exists now, which is what we wanted.
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                Ok((Outcome::Unchanged, None))
            }
            Err(err) => Err(err),
        },
        Some(existing) if differs(&existing, desired) => {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            Ok((Outcome::Updated, Some(existing)))
        }
        Some(existing) => Ok((Outcome::Unchanged, Some(existing))),
    }
}

/// Whether `existing` already holds every field of `desired` with the same value. API servers
/// add defaults (e.g. a CRD's `conversion`), so exact equality would rewrite on every run.
pub fn covers(existing: &Value, desired: &Value) -> bool {
    match (existing, desired) {
        (Value::Object(existing), Value::Object(desired)) => desired
            .iter()
            .all(|(key, value)| existing.get(key).is_some_and(|e| covers(e, value))),
        (Value::Array(existing), Value::Array(desired)) => {
            existing.len() == desired.len()
                && existing.iter().zip(desired).all(|(e, d)| covers(e, d))
        }
        (existing, desired) => existing == desired,
    }
}

/// `covers` for any serializable values; unserializable values never cover.
pub fn covers_serialized<T: Serialize>(existing: &T, desired: &T) -> bool {
    match (
        serde_json::to_value(existing),
        serde_json::to_value(desired),
    ) {
        (Ok(existing), Ok(desired)) => covers(&existing, &desired),
        _ => false,
    }
}

/// Never update an existing object.
pub fn never<K>(_: &K, _: &K) -> bool {
    false
}

/// Deletes `name`; `Ok(false)` when it was already gone.
pub async fn delete<K>(api: &Api<K>, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_added_by_the_server_do_not_count_as_drift() {
        let desired = json!({"group": "g", "versions": [{"name": "v1", "served": true}]});
        let existing = json!({"group": "g", "conversion": {"strategy": "None"},
                              "versions": [{"name": "v1", "served": true, "storage": true}]});
        assert!(covers(&existing, &desired));
    }

    #[test]
    fn changed_missing_or_reshaped_fields_are_drift() {
        let desired = json!({"a": 1, "list": [1, 2]});
        assert!(!covers(&json!({"a": 2, "list": [1, 2]}), &desired));
        assert!(!covers(&json!({"list": [1, 2]}), &desired));
        assert!(!covers(&json!({"a": 1, "list": [1, 2, 3]}), &desired));
        assert!(!covers(&json!({"a": 1, "list": [2, 1]}), &desired));
        assert!(covers(&json!(null), &json!(null)));
    }
}
