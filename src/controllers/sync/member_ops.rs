//! Writes to one member cluster, each bounded by a timeout so a slow member never delays the
//! others; failures are mapped to KubeFed's per-cluster status vocabulary.

use super::context::{MEMBER_FIELD_MANAGER, SyncContext};
use super::status::PropagationStatus;
use crate::crds::federated::MANAGED_LABEL;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::future::Future;

/// A failed member operation: the status to show and a message for the event.
#[derive(Debug)]
pub struct OpFailure {
    pub status: PropagationStatus,
    pub message: String,
}

fn api(ctx: &SyncContext, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if ctx.synced.target_namespaced => {
            Api::namespaced_with(client, ns, &ctx.synced.target)
        }
        _ => Api::all_with(client, &ctx.synced.target),
    }
}

async fn bounded<T>(
    ctx: &SyncContext,
    failed: PropagationStatus,
    timed_out: PropagationStatus,
    op: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, OpFailure> {
    match tokio::time::timeout(ctx.settings.member_timeout, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(err)) => Err(OpFailure {
            status: failed,
            message: describe(&err),
        }),
        Err(_) => Err(OpFailure {
            status: timed_out,
            message: format!("no answer within {:?}", ctx.settings.member_timeout),
        }),
    }
}

/// The API server's own message when there is one: it names the invalid field.
fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Reads a member object directly (only used when it is missing from the managed-objects
/// cache, to find unmanaged objects of the same name).
pub async fn get(
    ctx: &SyncContext,
    client: Client,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<DynamicObject>, OpFailure> {
    let api = api(ctx, client, namespace);
    bounded(
        ctx,
        PropagationStatus::RetrievalFailed,
        PropagationStatus::RetrievalFailed,
        api.get_opt(name),
    )
    .await
}

/// Server-side applies the desired object; `creating` only selects the status reported on
/// failure.
pub async fn apply(
    ctx: &SyncContext,
    client: Client,
    namespace: Option<&str>,
    name: &str,
    desired: &Value,
    creating: bool,
) -> Result<(), OpFailure> {
    let api = api(ctx, client, namespace);
    let params = PatchParams::apply(MEMBER_FIELD_MANAGER).force();
    let (failed, timed_out) = if creating {
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
    bounded(
        ctx,
        failed,
        timed_out,
        api.patch(name, &params, &Patch::Apply(desired)),
    )
    .await
    .map(|_| ())
}

/// Deletes a member object; an object already gone counts as deleted.
pub async fn delete(
    ctx: &SyncContext,
    client: Client,
    namespace: Option<&str>,
    name: &str,
    params: &DeleteParams,
) -> Result<(), OpFailure> {
    let api = api(ctx, client, namespace);
    let result = tokio::time::timeout(ctx.settings.member_timeout, api.delete(name, params)).await;
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        Ok(Err(err)) => Err(OpFailure {
            status: PropagationStatus::DeletionFailed,
            message: describe(&err),
        }),
        Err(_) => Err(OpFailure {
            status: PropagationStatus::DeletionTimedOut,
            message: format!("no answer within {:?}", ctx.settings.member_timeout),
        }),
    }
}

/// Stops managing a member object without deleting it: removes the managed label (used for
/// orphaning and for the host cluster's own namespaces).
pub async fn unlabel(
    ctx: &SyncContext,
    client: Client,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), OpFailure> {
    let api = api(ctx, client, namespace);
    let patch = json!({ "metadata": { "labels": { MANAGED_LABEL: null } } });
    let result = tokio::time::timeout(
        ctx.settings.member_timeout,
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await;
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        Ok(Err(err)) => Err(OpFailure {
            status: PropagationStatus::LabelRemovalFailed,
            message: describe(&err),
        }),
        Err(_) => Err(OpFailure {
            status: PropagationStatus::LabelRemovalTimedOut,
            message: format!("no answer within {:?}", ctx.settings.member_timeout),
        }),
    }
}
