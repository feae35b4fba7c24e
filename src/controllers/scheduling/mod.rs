//! Replica scheduling (ReplicaSchedulingPreference): divides a federated workload's replicas
//! over the ready member clusters and writes the result into that workload's placement and
//! per-cluster `/spec/replicas` overrides.
//!
//! The planner and the spec rewriting are pure ([`crate::core::replica_planner`],
//! [`crate::core::replica_target`]); the controller reads the RSP, its target and the member
//! pool, calls them, and writes only on change. A target whose spec cannot be read is left
//! exactly as it is (its overrides are the user's) and the RSP says why.

use crate::core::condition::{Wanted, set_condition};
use crate::core::events::{EventNote, Severity};
use crate::core::placement::compute_placement;
use crate::core::replica_planner::{self as planner, PlanInput, plan};
use crate::core::replica_target as target;
use crate::crds::federated::FederatedSpec;
use crate::crds::replica_scheduling_preference::{
    ReplicaSchedulingPreference, ReplicaSchedulingPreferenceStatus, TargetKind,
};
use crate::crds::{Scope, default_target_types};
use crate::members::pool::{MemberPool, cluster_infos};
use crate::runtime::error::ErrorCategory;
use crate::runtime::events::Publisher;
use crate::runtime::metrics::Metrics;
use crate::runtime::status::write_status;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Condition type on the RSP status.
pub const SCHEDULED_CONDITION: &str = "Scheduled";

#[derive(Debug, thiserror::Error)]
pub enum SchedulingError {
    #[error("cannot read or update the target: {0}")]
    Host(#[source] kube::Error),
}

struct Context {
    client: Client,
    pool: MemberPool,
    metrics: Metrics,
    events: Publisher,
}

fn target_resource(kind: TargetKind) -> ApiResource {
    let wanted = match kind {
        TargetKind::FederatedDeployment => "Deployment",
        TargetKind::FederatedReplicaSet => "ReplicaSet",
    };
    default_target_types()
        .into_iter()
        .find(|d| d.target.group == "apps" && d.target.kind == wanted)
        .map(|d| d.target.federated_api_resource().to_kube())
        .unwrap_or_else(|| ApiResource {
            group: "types.kubefed.io".into(),
            version: "v1beta1".into(),
            api_version: "types.kubefed.io/v1beta1".into(),
            kind: format!("Federated{wanted}"),
            plural: format!("federated{}s", wanted.to_lowercase()),
        })
}

/// Runs until the RSP watch ends. In Namespaced scope only the federation namespace is read.
pub async fn run(
    client: Client,
    scope: Scope,
    namespace: &str,
    pool: MemberPool,
    metrics: Metrics,
    recorder: Recorder,
) {
    let (rsps, targets): (Api<ReplicaSchedulingPreference>, Vec<Api<DynamicObject>>) = {
        let kinds = [
            TargetKind::FederatedDeployment,
            TargetKind::FederatedReplicaSet,
        ];
        match scope {
            Scope::Namespaced => (
                Api::namespaced(client.clone(), namespace),
                kinds
                    .iter()
                    .map(|k| Api::namespaced_with(client.clone(), namespace, &target_resource(*k)))
                    .collect(),
            ),
            Scope::Cluster => (
                Api::all(client.clone()),
                kinds
                    .iter()
                    .map(|k| Api::all_with(client.clone(), &target_resource(*k)))
                    .collect(),
            ),
        }
    };
    let mut controller = Controller::new(rsps, watcher::Config::default());
    // The target changing (its status brings capacity) re-plans the RSP of the same name.
    for (api, kind) in targets.into_iter().zip([
        TargetKind::FederatedDeployment,
        TargetKind::FederatedReplicaSet,
    ]) {
        controller = controller.watches_with(
            api,
            target_resource(kind),
            watcher::Config::default(),
            |obj| {
                let mut key = ObjectRef::<ReplicaSchedulingPreference>::new(&obj.name_any());
                if let Some(ns) = obj.namespace() {
                    key = key.within(&ns);
                }
                Some(key)
            },
        );
    }
    // Any change in which members are ready re-plans every RSP.
    let readiness = futures::stream::unfold(
        (pool.subscribe(), None::<BTreeSet<String>>),
        |(mut rx, last)| async move {
            loop {
                let ready: BTreeSet<String> = rx
                    .borrow_and_update()
                    .values()
                    .filter(|m| m.is_ready())
                    .map(|m| m.name.clone())
                    .collect();
                if last.as_ref() != Some(&ready) {
                    return Some(((), (rx, Some(ready))));
                }
                rx.changed().await.ok()?;
            }
        },
    );
    let ctx = Arc::new(Context {
        client,
        pool,
        metrics,
        events: Publisher::new(recorder, "Schedule"),
    });
    controller
        .reconcile_all_on(readiness)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(
    _: Arc<ReplicaSchedulingPreference>,
    err: &SchedulingError,
    ctx: Arc<Context>,
) -> Action {
    let SchedulingError::Host(source) = err;
    ctx.metrics
        .count_error("scheduling", ErrorCategory::of(source));
    tracing::warn!(%err, "scheduling failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(
    rsp: Arc<ReplicaSchedulingPreference>,
    ctx: Arc<Context>,
) -> Result<Action, SchedulingError> {
    let started = Instant::now();
    let result = schedule(&rsp, &ctx).await;
    ctx.metrics
        .observe_reconcile("scheduling", result.is_ok(), started.elapsed());
    result.map(|()| Action::await_change())
}

async fn schedule(rsp: &ReplicaSchedulingPreference, ctx: &Context) -> Result<(), SchedulingError> {
    let name = rsp.name_any();
    let namespace = rsp.namespace().unwrap_or_default();
    let resource = target_resource(rsp.spec.target_kind);
    let targets: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &resource);
    let Some(target) = targets
        .get_opt(&name)
        .await
        .map_err(SchedulingError::Host)?
    else {
        let message = format!("{} {namespace}/{name} does not exist", resource.kind);
        return report(
            ctx,
            rsp,
            BTreeMap::new(),
            BTreeMap::new(),
            false,
            "TargetNotFound",
            &message,
        )
        .await;
    };
    // Rewriting the overrides of a spec that cannot be read would drop the user's: fail closed.
    let spec: FederatedSpec = match target.data.get("spec").cloned() {
        None | Some(serde_json::Value::Null) => FederatedSpec::default(),
        Some(spec) => match serde_json::from_value(spec) {
            Ok(spec) => spec,
            Err(err) => {
                let message = format!(
                    "the spec of {} {namespace}/{name} cannot be read, so it is left as it is: {err}",
                    resource.kind
                );
                return report(
                    ctx,
                    rsp,
                    rsp.status
                        .as_ref()
                        .map(|s| s.plan.clone())
                        .unwrap_or_default(),
                    rsp.status
                        .as_ref()
                        .map(|s| s.capacity.clone())
                        .unwrap_or_default(),
                    false,
                    "TargetSpecUnreadable",
                    &message,
                )
                .await;
            }
        },
    };

    let members = ctx.pool.snapshot();
    let mut candidates: BTreeSet<String> = members
        .values()
        .filter(|m| m.is_ready())
        .map(|m| m.name.clone())
        .collect();
    if rsp.spec.intersect_with_cluster_selector
        && let Some(selector) = spec
            .placement
            .as_ref()
            .and_then(|p| p.cluster_selector.clone())
    {
        let infos = cluster_infos(&members);
        let selector_only = crate::crds::federated::Placement {
            clusters: None,
            cluster_selector: Some(selector),
        };
        match compute_placement(Some(&selector_only), &infos) {
            Ok(selected) => candidates.retain(|c| selected.selected.contains(c)),
            Err(err) => {
                return report(
                    ctx,
                    rsp,
                    BTreeMap::new(),
                    BTreeMap::new(),
                    false,
                    "InvalidClusterSelector",
                    &err.to_string(),
                )
                .await;
            }
        }
    }

    let layout = target::current_layout(&spec);
    let observed = target::capacity_from_status(target.data.get("status"), &layout);
    // Estimates are only carried over while the RSP itself is unchanged.
    let remembered = rsp
        .status
        .as_ref()
        .filter(|s| s.observed_generation == rsp.metadata.generation)
        .map(|s| s.capacity.clone())
        .unwrap_or_default();
    let capacity = target::remembered_capacity(&remembered, &observed);
    let preferences: BTreeMap<String, planner::ClusterPreferences> = if rsp.spec.clusters.is_empty()
    {
        BTreeMap::from([(
            planner::WILDCARD.to_string(),
            planner::ClusterPreferences {
                min_replicas: 0,
                max_replicas: None,
                weight: 1,
            },
        )])
    } else {
        rsp.spec
            .clusters
            .iter()
            .map(|(k, p)| {
                (
                    k.clone(),
                    planner::ClusterPreferences {
                        min_replicas: p.min_replicas,
                        max_replicas: p.max_replicas,
                        weight: p.weight,
                    },
                )
            })
            .collect()
    };
    let key = format!("{namespace}/{name}");
    let result = plan(&PlanInput {
        total_replicas: i64::from(rsp.spec.total_replicas),
        preferences: &preferences,
        clusters: &candidates,
        current: &layout,
        capacity: &capacity,
        rebalance: rsp.spec.rebalance,
        key: &key,
    });
    let computed = match result {
        Ok(p) => p,
        Err(err) => {
            return report(
                ctx,
                rsp,
                BTreeMap::new(),
                BTreeMap::new(),
                false,
                "InvalidPreferences",
                &err.to_string(),
            )
            .await;
        }
    };
    if let Some(next) = target::with_plan(&spec, &computed.replicas) {
        let patch = json!({
            "metadata": {"resourceVersion": target.metadata.resource_version},
            "spec": {"placement": next.placement, "overrides": next.overrides},
        });
        targets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(SchedulingError::Host)?;
    }
    let (ok, reason, message) = if computed.unplaced > 0 {
        (
            false,
            "InsufficientCapacity",
            format!(
                "{} replicas could not be placed within the clusters' limits",
                computed.unplaced
            ),
        )
    } else if candidates.is_empty() {
        (
            false,
            "NoReadyClusters",
            "no ready member cluster to schedule on".to_string(),
        )
    } else {
        (
            true,
            "Scheduled",
            format!(
                "{} replicas over {} clusters",
                rsp.spec.total_replicas,
                candidates.len()
            ),
        )
    };
    report(ctx, rsp, computed.replicas, capacity, ok, reason, &message).await
}

/// Writes the RSP status when it changed, with an event when the condition changes.
async fn report(
    ctx: &Context,
    rsp: &ReplicaSchedulingPreference,
    plan: BTreeMap<String, i64>,
    capacity: BTreeMap<String, i64>,
    ok: bool,
    reason: &str,
    message: &str,
) -> Result<(), SchedulingError> {
    let previous = rsp.status.clone().unwrap_or_default();
    let wanted = Wanted {
        type_: SCHEDULED_CONDITION,
        status: Wanted::status_word(ok),
        reason,
        message,
    };
    let now = jiff::Timestamp::now().to_string();
    let conditions = set_condition(&previous.conditions, &wanted, &now);
    let changed_condition = conditions != previous.conditions;
    let next = ReplicaSchedulingPreferenceStatus {
        observed_generation: rsp.metadata.generation,
        plan,
        capacity,
        conditions,
    };
    if rsp.status.as_ref() == Some(&next) {
        return Ok(());
    }
    let api: Api<ReplicaSchedulingPreference> =
        Api::namespaced(ctx.client.clone(), &rsp.namespace().unwrap_or_default());
    let stored = rsp
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok());
    write_status(&api, &rsp.name_any(), stored.as_ref(), &next)
        .await
        .map_err(SchedulingError::Host)?;
    if changed_condition {
        let note = EventNote {
            severity: if ok {
                Severity::Normal
            } else {
                Severity::Warning
            },
            reason: reason.to_string(),
            note: message.to_string(),
        };
        ctx.events.publish(&rsp.object_ref(&()), &note).await;
    }
    Ok(())
}
