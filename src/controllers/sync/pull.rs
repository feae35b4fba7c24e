//! What a reconciliation does for pull members beyond the plan's MemberWork writes: it
//! carries the object's pause to their MemberWorks (so their agents hold back as the push
//! executor does), and turns the drift repairs their agents report into the same
//! DriftRepaired event the push executor emits.

use super::context::{MEMBER_FIELD_MANAGER, SyncContext, key_of};
use crate::core::events::{EventBatch, Severity};
use crate::core::plan::Plan;
use crate::core::pull_pause::pause_patch;
use crate::crds::member_work::{MemberWork, cluster_namespace};
use crate::crds::stored_federated::StoredFederated;
use crate::members::pool::Members;
use crate::members::write::{MemberWriter, TimedFrom};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::ApiResource;

/// Follows up on every pull member's MemberWork of `obj`; records the DriftRepaired events in
/// `events`. `true` when a MemberWork could not be patched (the reconciliation is retried).
pub async fn follow_works(
    ctx: &SyncContext,
    obj: &StoredFederated,
    plan: &Plan,
    members: &Members,
    events: &mut EventBatch,
) -> bool {
    let Some(works) = &ctx.works else {
        return false;
    };
    let (namespace, name) = key_of(obj);
    let namespace = namespace.filter(|_| ctx.synced.target_namespaced);
    let kind = &ctx.synced.target.kind;
    let mut failed = false;
    for member in members.values().filter(|m| m.pull) {
        let Some(work) = works.get(&member.name, &ctx.synced.name, namespace.as_deref(), &name)
        else {
            continue;
        };
        if works.new_drift_repairs(&work) > 0 {
            events.add(
                Severity::Warning,
                "DriftRepaired",
                &format!("{kind} was changed out of band and is restored"),
                &member.name,
                None,
            );
        }
        let Some(patch) = pause_patch(&work, plan.paused.is_some()) else {
            continue;
        };
        let work_name = work.name_any();
        let writer: MemberWriter = MemberWriter {
            api: Api::namespaced_with(
                ctx.host.clone(),
                &cluster_namespace(&member.name),
                &ApiResource::erase::<MemberWork>(&()),
            ),
            manager: MEMBER_FIELD_MANAGER.to_string(),
            timeout: ctx.settings.member_timeout,
            timed_from: TimedFrom::Call,
        };
        if let Err(failure) = writer.merge_patch(&work_name, &patch).await {
            tracing::warn!(cluster = %member.name, work = %work_name, category = %failure.category, message = %failure.message, "cannot carry the pause to the MemberWork; retrying");
            failed = true;
        }
    }
    failed
}

/// Whether a pull member's agent reported drift repairs not yet turned into an event. Such a
/// report changes nothing else the observation holds (the repaired object is as desired), so
/// it must keep a pass from stopping early, or the event would wait for an unrelated change.
pub fn unreported_drift(ctx: &SyncContext, obj: &StoredFederated, members: &Members) -> bool {
    let Some(works) = &ctx.works else {
        return false;
    };
    let (namespace, name) = key_of(obj);
    let namespace = namespace.filter(|_| ctx.synced.target_namespaced);
    members.values().filter(|m| m.pull).any(|member| {
        works
            .get(&member.name, &ctx.synced.name, namespace.as_deref(), &name)
            .is_some_and(|work| works.has_unreported_drift_repairs(&work))
    })
}
