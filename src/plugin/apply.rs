//! Idempotent writes: create what is missing, update only what differs, delete what exists.
//!
//! Get-then-create (rather than server-side apply) is used so that an unchanged object is not
//! written at all and the command can say exactly what it did.

use std::fmt::Debug;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    let name = desired.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        None => match api.create(&PostParams::default(), desired).await {
            Ok(_) => Ok(Outcome::Created),
            // Lost a race with another writer: the object exists now, which is what we wanted.
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(Outcome::Unchanged),
            Err(err) => Err(err),
        },
        Some(existing) if differs(&existing, desired) => {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(desired))
                .await?;
            Ok(Outcome::Updated)
        }
        Some(_) => Ok(Outcome::Unchanged),
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
