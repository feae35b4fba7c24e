//! One reconciliation of one federated object: observe, plan, execute, report.
//!
//! Everything that decides is pure ([`crate::core::plan`], [`crate::core::report`]); this file
//! only reads, calls them and writes: the finalizer, the member writes (concurrently, see
//! [`super::execute`]), one event per reason, and the status when its content changed.

use super::context::{SyncContext, WAIT_RECHECK, key_of};
use super::execute::{Execution, execute};
use super::observe;
use crate::controllers::dependencies::reconcile::{self as dependencies, DependencyRun, Workload};
use crate::core::dependencies::plan::with_condition;
use crate::core::events::{EventNote, Severity};
use crate::core::plan::Action as PlannedAction;
use crate::core::plan::{Disposition, FinalizerStep, Plan, Warning, plan};
use crate::core::pull::{REPORT_WAIT, report_wait, with_agent_failures};
use crate::core::report::{Outcome, next_status, releases_finalizer};
use crate::core::settle::{self, after_writes, defers_status, settles};
use crate::crds::federated::SYNC_FINALIZER;
use crate::crds::stored_federated::StoredFederated;
use crate::runtime::error::ErrorCategory;
use crate::runtime::{finalizer, status};
use kube::Resource;
use kube::runtime::controller::Action;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a deletion waiting for members is left alone when nothing else brings it back
/// (member events and readiness changes normally do).
const DELETION_RECHECK: Duration = Duration::from_secs(30);

/// How soon a pass that found the host cache behind its last write looks again.
const STORE_CATCH_UP: Duration = Duration::from_millis(50);

/// Failures of the host-side steps; member failures are status, not errors.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot update the federated object: {0}")]
    Host(#[source] kube::Error),
}

/// Entry point used by the controller.
pub async fn reconcile(
    obj: Arc<StoredFederated>,
    ctx: Arc<SyncContext>,
) -> Result<Action, SyncError> {
    let started = Instant::now();
    // Member events meanwhile wait for the pass's end (see `super::passes`).
    let pass = ctx.passes.start(&key_of(&obj));
    let result = reconcile_object(&obj, &ctx).await;
    drop(pass);
    ctx.metrics
        .observe_reconcile("sync", result.is_ok(), started.elapsed());
    result
}

/// Retry policy for host-side failures.
pub fn error_policy(obj: Arc<StoredFederated>, err: &SyncError, ctx: Arc<SyncContext>) -> Action {
    let SyncError::Host(source) = err;
    let category = ErrorCategory::of(source);
    ctx.metrics.count_error("sync", category);
    let delay = ctx.retries.next_delay(&key_of(&obj));
    if category == ErrorCategory::Conflict {
        // The object changed under us; its new version is already on its way.
        tracing::debug!(kind = %ctx.synced.federated.kind, name = ?key_of(&obj), %err, "sync conflict; retrying");
    } else {
        tracing::warn!(kind = %ctx.synced.federated.kind, name = ?key_of(&obj), %category, %err, ?delay, "sync failed; retrying");
    }
    Action::requeue(delay)
}

async fn reconcile_object(
    obj: &StoredFederated,
    ctx: &Arc<SyncContext>,
) -> Result<Action, SyncError> {
    let key = key_of(obj);
    let api = ctx.host_api(obj.metadata.namespace.as_deref());
    if ctx.store_behind(&key, obj.metadata.resource_version.as_deref()) {
        // The host cache does not show the last status write yet: a pass from the older
        // status would patch the difference to that one.
        return Ok(Action::requeue(STORE_CATCH_UP));
    }
    let members = ctx.pool.snapshot();
    // Read before any write: a removal the caches see after this may be of what this pass
    // creates.
    let marks = ctx.removal_marks(&members);
    // Read before the caches: an event that drops an answer afterwards finds the cache
    // showing it, and a write that ends afterwards is not sent again from this view.
    let writes = ctx.writes.seen(&key);
    let mut observation = observe::from_caches(obj, ctx, &members);
    ctx.overlay_own_writes(writes.answers.as_ref(), &mut observation, &members);
    let agent_failures = observe::agent_failures(obj, observation.object.paused(), ctx, &members);
    let uid = obj.metadata.uid.as_deref();
    if !super::pull::unreported_drift(ctx, obj, &members)
        && ctx.unchanged(&key, uid, &observation, &agent_failures)
    {
        // Only the operator's own writes came back since the last pass settled.
        ctx.metrics.count_unchanged("sync");
        return Ok(Action::await_change());
    }
    let plan = with_agent_failures(plan(&observation, &ctx.plan_settings), &agent_failures);
    if plan.disposition == Disposition::Ignore {
        if obj.metadata.deletion_timestamp.is_some() {
            forget(ctx, obj);
        }
        return Ok(Action::await_change());
    }
    if plan.finalizer == FinalizerStep::Add {
        finalizer::add(&api, obj, SYNC_FINALIZER)
            .await
            .map_err(SyncError::Host)?;
    }
    // The workload's own writes and those of the dependencies that follow it, together.
    let (mut execution, dependencies) = futures::join!(
        execute(
            ctx,
            obj,
            &plan,
            (&observation, &marks, &writes.under_way),
            &members
        ),
        run_dependencies(ctx, &key, &observation, &plan, &members)
    );
    let works_failed =
        super::pull::follow_works(ctx, obj, &plan, &members, &mut execution.events).await;
    tracing::debug!(
        kind = %ctx.synced.federated.kind,
        name = %event_key(obj),
        disposition = ?plan.disposition,
        actions = ?plan.clusters.iter().map(|(c, p)| (c.as_str(), action_name(&p.action), p.holds_deletion)).collect::<Vec<_>>(),
        outcomes = ?execution.outcomes,
        "reconciled"
    );
    publish(ctx, obj, &plan, &execution, dependencies.as_ref()).await;

    if releases_finalizer(&plan, &execution.outcomes)
        && dependencies.as_ref().is_none_or(DependencyRun::releases)
    {
        finalizer::remove(&api, obj, SYNC_FINALIZER)
            .await
            .map_err(SyncError::Host)?;
        forget(ctx, obj);
        return Ok(Action::await_change());
    }
    let now = jiff::Timestamp::now();
    // Pull members' agents report one by one: the status waits (a little) for a wave of
    // reports and is written once with all of them.
    if !execution.failed() {
        let wrote = |cluster: &str| {
            plan.clusters.get(cluster).is_some_and(|p| {
                matches!(
                    p.action,
                    PlannedAction::Create(_) | PlannedAction::Update { .. }
                )
            }) && execution.outcomes.get(cluster) == Some(&Outcome::Done)
        };
        let pending = observe::pending_reports(obj, ctx, &members, wrote, now);
        if let Some(wait) = report_wait(&pending, now, REPORT_WAIT) {
            return Ok(Action::requeue(wait));
        }
    }
    let now = now.to_string();
    let previous = observation.object.status.as_ref();
    // The status as the members' answers show it, so the watch events of these writes find
    // nothing more to report.
    let reported = after_writes(plan.clone(), &execution.applied);
    let next = next_status(previous, &reported, &execution.outcomes, &now);
    let next = match &dependencies {
        Some(run) => with_condition(previous, next, &run.change, &now),
        None => next,
    };
    let settled = (dependencies.is_none()
        && settles(&plan, &execution.outcomes, &execution.applied))
    .then(|| {
        settle::record(
            &observation,
            uid,
            plan.finalizer == FinalizerStep::Add,
            &agent_failures,
            &execution.applied,
        )
    })
    .flatten();
    let deferred = plan.waits() && defers_status(&observation, &plan, ctx.waiting_for(&key));
    if let Some(next) = next.filter(|_| !deferred) {
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        let written = status::patch_status(&api, name, obj.status_value().as_ref(), &next)
            .await
            .map_err(SyncError::Host)?;
        if let Some(written) = written {
            ctx.wrote(&key, written.metadata.resource_version.as_deref());
        }
    }
    if !plan.waits() {
        ctx.set_settled(&key, settled);
    }
    let in_flight = execution.outcomes.values().any(|o| *o == Outcome::InFlight);
    let dependencies_wait = dependencies.as_ref().is_some_and(DependencyRun::waits);
    Ok(
        if execution.failed()
            || works_failed
            || dependencies.as_ref().is_some_and(DependencyRun::failed)
        {
            Action::requeue(ctx.retries.next_delay(&key))
        } else {
            ctx.retries.reset(&key);
            if plan.waits() || in_flight || dependencies_wait {
                Action::requeue(WAIT_RECHECK)
            } else if plan.disposition == Disposition::Delete
                && obj.metadata.deletion_timestamp.is_some()
            {
                Action::requeue(DELETION_RECHECK)
            } else {
                Action::await_change()
            }
        },
    )
}

/// The dependency part of a workload's reconciliation, for the types that have one.
async fn run_dependencies(
    ctx: &SyncContext,
    key: &crate::members::cache::ObjectKey,
    observation: &crate::core::observation::Observation,
    plan: &Plan,
    members: &crate::members::pool::Members,
) -> Option<DependencyRun> {
    let hub = ctx.dependencies.as_ref()?;
    let workload = Workload {
        type_name: &ctx.synced.name,
        key: key.clone(),
        waker: ctx.waker(),
        settings: &ctx.plan_settings,
        timeout: ctx.settings.member_timeout,
        pool: &ctx.pool,
    };
    dependencies::run(hub, &workload, observation, plan, members).await
}

fn action_name(action: &crate::core::plan::Action) -> &'static str {
    use crate::core::plan::Action;
    match action {
        Action::LeaveAlone => "leave alone",
        Action::Wait(_) => "wait",
        Action::Create(_) => "create",
        Action::Update { .. } => "update",
        Action::Delete(_) => "delete",
        Action::Unlabel => "unlabel",
    }
}

fn event_key(obj: &StoredFederated) -> String {
    let (namespace, name) = key_of(obj);
    format!("{}/{name}", namespace.unwrap_or_default())
}

/// One event per reason: what happened in the members, and the plan's warnings. Warnings
/// (and the log line that goes with them) are published once per change of outcome.
async fn publish(
    ctx: &SyncContext,
    obj: &StoredFederated,
    plan: &Plan,
    execution: &Execution,
    dependencies: Option<&DependencyRun>,
) {
    let mut notes = execution.events.notes();
    let mut warnings = plan.warnings.clone();
    if let Some(run) = dependencies {
        notes.extend(run.executed.events.notes());
        warnings.extend(run.warnings());
    }
    notes.extend(warning_notes(&warnings));
    // Called even without notes: earlier warnings that no longer hold are forgotten.
    let published = ctx
        .events
        .publish_changed(&event_key(obj), &reference(ctx, obj), &notes)
        .await;
    for note in published {
        tracing::warn!(kind = %ctx.synced.federated.kind, name = %event_key(obj), reason = %note.reason, "{}", note.note);
    }
}

/// The plan's warnings, one note per reason.
fn warning_notes(warnings: &[Warning]) -> Vec<EventNote> {
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for w in warnings {
        by_reason.entry(&w.reason).or_default().push(&w.message);
    }
    by_reason
        .into_iter()
        .map(|(reason, messages)| EventNote {
            severity: Severity::Warning,
            reason: reason.to_string(),
            note: messages.join("; "),
        })
        .collect()
}

fn reference(
    ctx: &SyncContext,
    obj: &StoredFederated,
) -> k8s_openapi::api::core::v1::ObjectReference {
    obj.object_ref(&ctx.synced.federated)
}

fn forget(ctx: &SyncContext, obj: &StoredFederated) {
    ctx.forget_object(&key_of(obj));
    ctx.events.forget(&event_key(obj));
    ctx.retries.reset(&key_of(obj));
    if let Some(hub) = &ctx.dependencies {
        hub.forget(&(ctx.synced.name.clone(), key_of(obj)));
    }
}
