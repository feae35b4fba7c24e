//! One reconciliation of one federated object: read the caches, call the pure functions, write
//! only what differs, and record the outcome in the object's status.

use super::compare::{is_managed, is_managed_false, needs_apply};
use super::context::{SyncContext, is_excluded_namespace, key_of};
use super::delete_options::delete_params;
use super::desired::{
    DESIRED_HASH_ANNOTATION, DesiredError, DesiredInput, DesiredObject, desired_member_object,
};
use super::member_ops::{self, OpFailure};
use super::placement::{PlacementError, compute_placement, restrict_to_namespace};
use super::status::{
    AggregateReason, PropagationStatus, StatusInput, compute_status, status_changed,
};
use crate::controllers::status::aggregate::{
    ClusterObservation, collected_status, keep_collected, remote_status,
};
use crate::controllers::status::patch::merge_diff;
use crate::crds::Scope;
use crate::crds::federated::{
    DELETE_OPTION_ANNOTATION, FederatedSpec, FederatedStatus, ORPHAN_ANNOTATION, SYNC_FINALIZER,
};
use crate::members::pool::{Member, Members, cluster_infos};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failures of the host-side steps; member failures are status, not errors.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot update the federated object: {0}")]
    Host(#[source] kube::Error),
}

/// What happened in one member cluster.
struct ClusterOutcome {
    cluster: String,
    /// Reported in `status.clusters`; `None` for clusters not shown (e.g. unready leftovers).
    status: Option<PropagationStatus>,
    wrote: bool,
    /// Something failed that may succeed later.
    retry: bool,
    /// `spec.replicas` of the object the member should have (for the READY total).
    desired_replicas: Option<i64>,
}

impl ClusterOutcome {
    fn new(cluster: &str, status: Option<PropagationStatus>) -> Self {
        ClusterOutcome {
            cluster: cluster.to_string(),
            status,
            wrote: false,
            retry: false,
            desired_replicas: None,
        }
    }
}

/// Entry point used by the controller.
pub async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<SyncContext>,
) -> Result<Action, SyncError> {
    let started = Instant::now();
    let key = key_of(&obj);
    let result = reconcile_object(&obj, &ctx).await;
    ctx.metrics
        .observe_reconcile("sync", result.is_ok(), started.elapsed());
    match result {
        Ok(Some(delay)) => Ok(Action::requeue(delay)),
        Ok(None) => {
            ctx.succeeded(&key);
            Ok(Action::await_change())
        }
        Err(err) => Err(err),
    }
}

/// Retry policy for host-side failures.
pub fn error_policy(obj: Arc<DynamicObject>, err: &SyncError, ctx: Arc<SyncContext>) -> Action {
    let key = key_of(&obj);
    let delay = ctx.backoff(&key);
    tracing::warn!(kind = %ctx.synced.federated.kind, name = ?key, %err, ?delay, "sync failed; retrying");
    Action::requeue(delay)
}

fn annotation<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn has_finalizer(obj: &DynamicObject) -> bool {
    obj.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == SYNC_FINALIZER))
}

fn host_api(ctx: &SyncContext, obj: &DynamicObject) -> Api<DynamicObject> {
    match &obj.metadata.namespace {
        Some(ns) => Api::namespaced_with(ctx.host.clone(), ns, &ctx.synced.federated),
        None => Api::all_with(ctx.host.clone(), &ctx.synced.federated),
    }
}

/// Sets the finalizer list with the object's resourceVersion as precondition, so a concurrent
/// change makes this fail (and retry) instead of dropping someone else's finalizer.
async fn set_finalizers(
    ctx: &SyncContext,
    obj: &DynamicObject,
    finalizers: Vec<String>,
) -> Result<(), SyncError> {
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": obj.metadata.resource_version,
        }
    });
    host_api(ctx, obj)
        .patch(
            &obj.metadata.name.clone().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
        .map_err(SyncError::Host)
}

/// Returns `Some(delay)` to look again later, `None` when done until the next change.
async fn reconcile_object(
    obj: &DynamicObject,
    ctx: &SyncContext,
) -> Result<Option<Duration>, SyncError> {
    let key = key_of(obj);
    if let Some(ns) = &key.0
        && is_excluded_namespace(&ctx.settings, ns)
    {
        return Ok(None);
    }
    if ctx.synced.is_namespace() && is_excluded_namespace(&ctx.settings, &key.1) {
        return Ok(None);
    }
    let members = ctx.pool.snapshot();
    if obj.metadata.deletion_timestamp.is_some() {
        return delete_federated(obj, ctx, &members).await;
    }
    if !has_finalizer(obj) {
        let mut finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
        finalizers.push(SYNC_FINALIZER.to_string());
        set_finalizers(ctx, obj, finalizers).await?;
    }

    let spec: FederatedSpec = match obj.data.get("spec").cloned().map(serde_json::from_value) {
        Some(Ok(spec)) => spec,
        None => FederatedSpec::default(),
        Some(Err(err)) => {
            let message = format!("spec cannot be read: {err}");
            ctx.warn_once(obj, &[("InvalidSpec".into(), message)]).await;
            write_status(
                ctx,
                obj,
                &BTreeMap::new(),
                &BTreeMap::new(),
                AggregateReason::ComputePlacementFailed,
                false,
            )
            .await?;
            return Ok(None);
        }
    };

    let mut warnings: Vec<(String, String)> = Vec::new();
    let placement = placement_of(ctx, obj, &spec, &members);
    let selected = match placement {
        Ok((selected, unknown)) => {
            if !unknown.is_empty() {
                warnings.push((
                    "UnknownClusters".into(),
                    format!(
                        "placement names clusters that are not joined: {}",
                        unknown.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            selected
        }
        Err(err) => {
            // Nothing is deleted while placement cannot be computed: a typo in a selector must
            // not remove the object from every cluster.
            let reason = match err {
                PlacementError::NamespaceNotFederated { .. } => {
                    AggregateReason::NamespaceNotFederated
                }
                _ => AggregateReason::ComputePlacementFailed,
            };
            warnings.push((reason.as_str().to_string(), err.to_string()));
            ctx.warn_once(obj, &warnings).await;
            write_status(ctx, obj, &BTreeMap::new(), &BTreeMap::new(), reason, false).await?;
            return Ok(None);
        }
    };

    // A member whose cache has not finished its first list cannot be compared against yet;
    // its `Synced` event brings this object back.
    // Likewise a member with a client that has not been probed yet (just after a start or a
    // reconnect): reporting it as not ready would only be corrected a moment later, costing
    // two status writes; its first probe brings this object back.
    let waiting = selected.iter().any(|c| {
        members.get(c).is_some_and(|m| {
            (m.is_ready() && !ctx.caches.is_synced(c)) || (m.client.is_some() && m.health.is_none())
        })
    });
    if waiting {
        return Ok(None);
    }

    let mut clusters: BTreeSet<String> = selected.clone();
    for cluster in ctx.caches.clusters() {
        if ctx.caches.get(&cluster, key.0.as_deref(), &key.1).is_some() {
            clusters.insert(cluster);
        }
    }
    let outcomes = futures::future::join_all(clusters.iter().map(|cluster| {
        let placed = selected.contains(cluster);
        sync_cluster(ctx, obj, &spec, cluster, placed, members.get(cluster))
    }))
    .await;
    let desired_replicas: BTreeMap<String, Option<i64>> = outcomes
        .iter()
        .filter(|(o, _)| selected.contains(&o.cluster))
        .map(|(o, _)| (o.cluster.clone(), o.desired_replicas))
        .collect();

    let mut statuses = BTreeMap::new();
    let mut wrote = false;
    let mut retry = false;
    for (outcome, mut notes) in outcomes {
        wrote |= outcome.wrote;
        retry |= outcome.retry;
        if let Some(status) = outcome.status {
            statuses.insert(outcome.cluster.clone(), status);
        }
        warnings.append(&mut notes);
    }
    ctx.warn_once(obj, &warnings).await;
    write_status(
        ctx,
        obj,
        &statuses,
        &desired_replicas,
        AggregateReason::Success,
        wrote,
    )
    .await?;
    Ok(retry.then(|| ctx.backoff(&key)))
}

/// Placement with the namespace rule; `Ok((selected, unknown names))`.
fn placement_of(
    ctx: &SyncContext,
    obj: &DynamicObject,
    spec: &FederatedSpec,
    members: &Members,
) -> Result<(BTreeSet<String>, BTreeSet<String>), PlacementError> {
    let infos = cluster_infos(members);
    let result = compute_placement(spec.placement.as_ref(), &infos)?;
    let needs_namespace = ctx.settings.scope == Scope::Cluster
        && ctx.synced.target_namespaced
        && !ctx.synced.is_namespace();
    let (Some(namespace), true) = (obj.metadata.namespace.as_deref(), needs_namespace) else {
        return Ok((result.selected, result.unknown));
    };
    let namespace_placement = ctx
        .federated_namespaces
        .as_ref()
        .and_then(|(store, resource)| {
            let fed_ns =
                store.get(&ObjectRef::new_with(namespace, resource.clone()).within(namespace))?;
            let ns_spec: FederatedSpec = fed_ns
                .data
                .get("spec")
                .cloned()
                .and_then(|s| serde_json::from_value(s).ok())
                .unwrap_or_default();
            compute_placement(ns_spec.placement.as_ref(), &infos)
                .ok()
                .map(|r| r.selected)
        });
    let selected =
        restrict_to_namespace(&result.selected, namespace, namespace_placement.as_ref())?;
    Ok((selected, result.unknown))
}

fn replicas_of(obj: &Value) -> Option<i64> {
    obj.pointer("/spec/replicas").and_then(Value::as_i64)
}

/// Brings one member cluster in line, returning the outcome and warnings for events.
async fn sync_cluster(
    ctx: &SyncContext,
    obj: &DynamicObject,
    spec: &FederatedSpec,
    cluster: &str,
    placed: bool,
    member: Option<&Member>,
) -> (ClusterOutcome, Vec<(String, String)>) {
    let (namespace, name) = key_of(obj);
    let ns = namespace.as_deref();
    let client = member.and_then(|m| m.ready_client().cloned());
    let cached = ctx.caches.get(cluster, ns, &name);
    let observed_value = cached.as_deref().and_then(|c| serde_json::to_value(c).ok());
    let Some(client) = client else {
        // Never delete what cannot be seen: an unready member keeps its objects.
        let status = placed.then_some(PropagationStatus::ClusterNotReady);
        let mut outcome = ClusterOutcome::new(cluster, status);
        // Its share still counts in the desired total (READY shows what is missing).
        if placed {
            outcome.desired_replicas =
                desired_for(ctx, obj, spec, cluster, observed_value.as_ref())
                    .ok()
                    .and_then(|d| replicas_of(&d.object));
        }
        return (outcome, Vec::new());
    };

    if !placed {
        let Some(cached) = cached else {
            return (ClusterOutcome::new(cluster, None), Vec::new());
        };
        let host_namespace = ctx.synced.is_namespace() && member.is_some_and(|m| ctx.is_host(m));
        let result = if host_namespace {
            member_ops::unlabel(ctx, client, ns, &name).await
        } else if cached.metadata.deletion_timestamp.is_some() {
            Ok(())
        } else {
            let params = match delete_params(annotation(obj, DELETE_OPTION_ANNOTATION)) {
                Ok(p) => p,
                Err(err) => {
                    let outcome =
                        ClusterOutcome::new(cluster, Some(PropagationStatus::DeletionFailed));
                    return (
                        outcome,
                        vec![("InvalidDeleteOption".into(), err.to_string())],
                    );
                }
            };
            member_ops::delete(ctx, client, ns, &name, &params).await
        };
        return match result {
            Ok(()) => {
                if cached.metadata.deletion_timestamp.is_none() && !host_namespace {
                    ctx.event(
                        obj,
                        EventType::Normal,
                        "DeleteInCluster",
                        format!(
                            "deleting {} in cluster {cluster}: no longer placed there",
                            ctx.synced.target.kind
                        ),
                    )
                    .await;
                }
                let status = (!host_namespace).then_some(PropagationStatus::WaitingForRemoval);
                let mut outcome = ClusterOutcome::new(cluster, status);
                outcome.wrote = cached.metadata.deletion_timestamp.is_none();
                (outcome, Vec::new())
            }
            Err(failure) => failed(ctx, cluster, failure, "DeleteInClusterFailed").await,
        };
    }

    let desired = match desired_for(ctx, obj, spec, cluster, observed_value.as_ref()) {
        Ok(d) => d,
        Err(err) => {
            let status = match err {
                DesiredError::Overrides(_) => PropagationStatus::ApplyOverridesFailed,
                _ => PropagationStatus::ComputeResourceFailed,
            };
            let reason = status.as_str().to_string();
            return (
                ClusterOutcome::new(cluster, Some(status)),
                vec![(reason, err.to_string())],
            );
        }
    };
    let notes: Vec<(String, String)> = desired
        .warnings
        .iter()
        .map(|w| ("TemplateFieldsDropped".to_string(), w.clone()))
        .collect();
    let (mut outcome, notes) =
        write_placed(ctx, obj, cluster, client, observed_value, &desired, notes).await;
    outcome.desired_replicas = replicas_of(&desired.object);
    (outcome, notes)
}

/// The object `cluster` should hold: the template with that cluster's overrides.
fn desired_for(
    ctx: &SyncContext,
    obj: &DynamicObject,
    spec: &FederatedSpec,
    cluster: &str,
    observed: Option<&Value>,
) -> Result<DesiredObject, DesiredError> {
    let (namespace, name) = key_of(obj);
    desired_member_object(&DesiredInput {
        name: &name,
        namespace: if ctx.synced.target_namespaced {
            namespace.as_deref()
        } else {
            None
        },
        api_version: &ctx.synced.target.api_version,
        kind: &ctx.synced.target.kind,
        template: spec.template.as_ref(),
        cluster,
        overrides: &spec.overrides,
        retain_replicas: spec.retain_replicas.unwrap_or(false),
        observed_replicas: observed.and_then(replicas_of),
    })
}

/// Makes one member hold `desired`: nothing when it already does, else server-side apply
/// (adopting an unlabelled object only when allowed).
async fn write_placed(
    ctx: &SyncContext,
    obj: &DynamicObject,
    cluster: &str,
    client: kube::Client,
    observed_value: Option<Value>,
    desired: &DesiredObject,
    notes: Vec<(String, String)>,
) -> (ClusterOutcome, Vec<(String, String)>) {
    let (namespace, name) = key_of(obj);
    let ns = namespace.as_deref();
    if let Some(observed) = observed_value {
        if !needs_apply(&desired.object, &observed) {
            return (
                ClusterOutcome::new(cluster, Some(PropagationStatus::Ok)),
                notes,
            );
        }
        // Same desired state as last applied but different content: changed out of band.
        let drift = observed
            .pointer(&format!(
                "/metadata/annotations/{}",
                DESIRED_HASH_ANNOTATION.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some(desired.hash.as_str());
        return match member_ops::apply(ctx, client, ns, &name, &desired.object, false).await {
            Ok(()) => {
                if drift {
                    ctx.metrics
                        .drift_repairs
                        .get_or_create(&crate::operator::metrics::DriftLabels {
                            federated_type: ctx.synced.federated.plural.clone(),
                            cluster: cluster.to_string(),
                        })
                        .inc();
                    ctx.event(
                        obj,
                        EventType::Warning,
                        "DriftRepaired",
                        format!(
                            "{} in cluster {cluster} was changed out of band; restored",
                            ctx.synced.target.kind
                        ),
                    )
                    .await;
                } else {
                    ctx.event(
                        obj,
                        EventType::Normal,
                        "UpdateInCluster",
                        format!("updated {} in cluster {cluster}", ctx.synced.target.kind),
                    )
                    .await;
                }
                let mut outcome = ClusterOutcome::new(cluster, Some(PropagationStatus::Ok));
                outcome.wrote = true;
                (outcome, notes)
            }
            Err(failure) => {
                let (outcome, mut more) =
                    failed(ctx, cluster, failure, "UpdateInClusterFailed").await;
                more.extend(notes);
                (outcome, more)
            }
        };
    }

    // Not in the managed-objects cache: it is absent, or exists without our label.
    let existing = match member_ops::get(ctx, client.clone(), ns, &name).await {
        Ok(existing) => existing,
        Err(failure) => return failed(ctx, cluster, failure, "RetrievalFailed").await,
    };
    if let Some(existing) = &existing {
        let value = serde_json::to_value(existing).unwrap_or(Value::Null);
        if is_managed_false(&value) {
            return (
                ClusterOutcome::new(cluster, Some(PropagationStatus::ManagedLabelFalse)),
                notes,
            );
        }
        if !is_managed(&value) && !ctx.settings.adopt_resources {
            let mut notes = notes;
            notes.push((
                "AlreadyExists".into(),
                format!(
                    "{} {name} already exists in cluster {cluster} and resource adoption is disabled",
                    ctx.synced.target.kind
                ),
            ));
            return (
                ClusterOutcome::new(cluster, Some(PropagationStatus::AlreadyExists)),
                notes,
            );
        }
    }
    let creating = existing.is_none();
    match member_ops::apply(ctx, client, ns, &name, &desired.object, creating).await {
        Ok(()) => {
            let (reason, verb) = if creating {
                ("CreateInCluster", "created")
            } else {
                ("UpdateInCluster", "adopted")
            };
            ctx.event(
                obj,
                EventType::Normal,
                reason,
                format!("{verb} {} in cluster {cluster}", ctx.synced.target.kind),
            )
            .await;
            let mut outcome = ClusterOutcome::new(cluster, Some(PropagationStatus::Ok));
            outcome.wrote = true;
            (outcome, notes)
        }
        Err(failure) => {
            let reason = if creating {
                "CreateInClusterFailed"
            } else {
                "UpdateInClusterFailed"
            };
            let (outcome, mut more) = failed(ctx, cluster, failure, reason).await;
            more.extend(notes);
            (outcome, more)
        }
    }
}

async fn failed(
    ctx: &SyncContext,
    cluster: &str,
    failure: OpFailure,
    reason: &str,
) -> (ClusterOutcome, Vec<(String, String)>) {
    tracing::warn!(cluster, kind = %ctx.synced.target.kind, reason, message = %failure.message, "member operation failed");
    let mut outcome = ClusterOutcome::new(cluster, Some(failure.status));
    outcome.retry = true;
    let note = format!("cluster {cluster}: {}", failure.message);
    (outcome, vec![(reason.to_string(), note)])
}

/// Writes the status when it changed: the propagation outcome per cluster plus, from the
/// member caches, each placed member's status, the totals and `observedGeneration`.
async fn write_status(
    ctx: &SyncContext,
    obj: &DynamicObject,
    clusters: &BTreeMap<String, PropagationStatus>,
    placed: &BTreeMap<String, Option<i64>>,
    reason: AggregateReason,
    resources_updated: bool,
) -> Result<(), SyncError> {
    let previous: Option<FederatedStatus> = obj
        .data
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value(s).ok());
    let now = jiff::Timestamp::now().to_string();
    let generation = obj.metadata.generation.unwrap_or_default();
    let mut propagation = compute_status(&StatusInput {
        previous: previous.as_ref(),
        generation,
        clusters,
        reason,
        resources_updated,
        remote_status: None,
        now: &now,
    });
    // observedGeneration also waits for the members to observe what was applied, which the
    // collection step below decides.
    propagation.observed_generation = previous.as_ref().and_then(|p| p.observed_generation);
    let observations = observe_members(ctx, obj, clusters, placed);
    let next = if reason == AggregateReason::Success {
        collected_status(
            ctx.synced.aggregate,
            &propagation,
            generation,
            &observations,
            &now,
        )
    } else {
        // Placement failed: nothing was synced, so keep what was collected before.
        keep_collected(
            previous.as_ref().unwrap_or(&FederatedStatus::default()),
            propagation,
        )
    };
    if !status_changed(previous.as_ref(), &next) {
        return Ok(());
    }
    let stored = obj.data.get("status").cloned().unwrap_or_else(|| json!({}));
    let Some(diff) = serde_json::to_value(&next)
        .ok()
        .and_then(|new| merge_diff(&stored, &new))
    else {
        return Ok(());
    };
    let patch = json!({ "status": diff });
    host_api(ctx, obj)
        .patch_status(
            &obj.metadata.name.clone().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
        .map_err(SyncError::Host)
}

/// What the member caches say about each placed member (no extra requests). A member that
/// cannot be seen is marked stale and keeps its last known status.
fn observe_members(
    ctx: &SyncContext,
    obj: &DynamicObject,
    clusters: &BTreeMap<String, PropagationStatus>,
    placed: &BTreeMap<String, Option<i64>>,
) -> Vec<ClusterObservation> {
    let (namespace, name) = key_of(obj);
    let members = ctx.pool.snapshot();
    placed
        .iter()
        .map(|(cluster, desired_replicas)| {
            let visible =
                members.get(cluster).is_some_and(Member::is_ready) && ctx.caches.is_synced(cluster);
            let member = visible
                .then(|| ctx.caches.get(cluster, namespace.as_deref(), &name))
                .flatten()
                .and_then(|o| serde_json::to_value(o.as_ref()).ok());
            ClusterObservation {
                cluster: cluster.clone(),
                propagation: clusters
                    .get(cluster)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                stale: !visible,
                last_seen: None,
                desired_replicas: *desired_replicas,
                generation: member
                    .as_ref()
                    .and_then(|m| m.pointer("/metadata/generation"))
                    .and_then(Value::as_i64),
                remote_status: member
                    .as_ref()
                    .filter(|_| ctx.synced.collect_status)
                    .and_then(|m| remote_status(ctx.synced.aggregate, m)),
            }
        })
        .collect()
}

/// Deletion of the federated object: delete (or orphan) every member object, then release
/// the finalizer. Members that cannot be seen hold the finalizer until they return.
async fn delete_federated(
    obj: &DynamicObject,
    ctx: &SyncContext,
    members: &Members,
) -> Result<Option<Duration>, SyncError> {
    if !has_finalizer(obj) {
        ctx.forget(&key_of(obj));
        return Ok(None);
    }
    let (namespace, name) = key_of(obj);
    let ns = namespace.as_deref();
    let orphan = annotation(obj, ORPHAN_ANNOTATION) == Some("true");
    let params = match delete_params(annotation(obj, DELETE_OPTION_ANNOTATION)) {
        Ok(p) => p,
        Err(err) => {
            ctx.warn_once(obj, &[("InvalidDeleteOption".into(), err.to_string())])
                .await;
            kube::api::DeleteParams::default()
        }
    };
    let mut statuses = BTreeMap::new();
    let mut pending = false;
    let mut notes = Vec::new();
    let mut clusters: BTreeSet<String> = ctx.caches.clusters().into_iter().collect();
    clusters.extend(members.keys().cloned());
    let previously_placed: BTreeSet<&str> = obj
        .data
        .pointer("/status/clusters")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.get("name")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    for cluster in clusters {
        let member = members.get(&cluster);
        let ready = member.is_some_and(Member::is_ready) && ctx.caches.is_synced(&cluster);
        let cached = ctx.caches.get(&cluster, ns, &name);
        if !ready {
            // A member that left the federation no longer holds anything. One that cannot be
            // seen right now holds the object if it was placed there (it is in the status) or
            // was last seen with it: wait for it rather than leak or guess.
            let listed = previously_placed.contains(cluster.as_str());
            if member.is_some() && (cached.is_some() || listed) {
                pending = true;
                statuses.insert(cluster.clone(), PropagationStatus::ClusterNotReady);
            }
            continue;
        }
        let Some(cached) = cached else { continue };
        let Some(client) = member.and_then(|m| m.ready_client().cloned()) else {
            continue;
        };
        let keep = orphan || (ctx.synced.is_namespace() && member.is_some_and(|m| ctx.is_host(m)));
        let result = if keep {
            member_ops::unlabel(ctx, client, ns, &name).await
        } else if cached.metadata.deletion_timestamp.is_some() {
            pending = true;
            statuses.insert(cluster.clone(), PropagationStatus::WaitingForRemoval);
            continue;
        } else {
            pending = true;
            statuses.insert(cluster.clone(), PropagationStatus::WaitingForRemoval);
            member_ops::delete(ctx, client, ns, &name, &params).await
        };
        if let Err(failure) = result {
            pending = true;
            statuses.insert(cluster.clone(), failure.status);
            notes.push((
                "DeleteInClusterFailed".to_string(),
                format!("cluster {cluster}: {}", failure.message),
            ));
        }
    }
    ctx.warn_once(obj, &notes).await;
    if pending {
        write_status(
            ctx,
            obj,
            &statuses,
            &BTreeMap::new(),
            AggregateReason::Success,
            false,
        )
        .await?;
        // A failed delete is retried with backoff. Otherwise member watch events (the object
        // going away) and readiness changes bring the object back; the delay is only a
        // safety net.
        if notes.is_empty() {
            return Ok(Some(Duration::from_secs(30)));
        }
        return Ok(Some(ctx.backoff(&key_of(obj))));
    }
    let finalizers: Vec<String> = obj
        .metadata
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != SYNC_FINALIZER)
        .collect();
    set_finalizers(ctx, obj, finalizers).await?;
    ctx.forget(&key_of(obj));
    Ok(None)
}
