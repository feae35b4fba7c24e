//! Pull members, the pure parts: the MemberWork the host writes for a planned member object,
//! how a MemberWork reads back as the same [`MemberObject`] a push member's cache holds (so
//! the plan, report and aggregation do not tell them apart), the heartbeat as a probe
//! outcome, and what the member agent does with one MemberWork.

use std::time::Duration;

use kube::api::DeleteParams;
use serde_json::{Value, json};

use super::aggregate::remote_status;
use super::delete_options::delete_params;
use super::desired::{DESIRED_HASH_ANNOTATION, DesiredObject};
use super::hash::hash_value;
use super::health::ProbeOutcome;
use super::observation::{CacheState, CompactJson, ManagedLabel, MemberObject, StatusCollection};
use super::plan::{
    Action, Entry, Plan, PlanSettings, TargetInfo, cannot_watch_message, decide_placed,
};
use super::vocabulary::PropagationStatus;
use crate::crds::Scope;
use crate::crds::federated::{AggregateKind, MANAGED_LABEL};
use crate::crds::member_work::{
    AGENT_FINALIZER, CLUSTER_LABEL, MemberWork, MemberWorkStatus, TYPE_LABEL, WORK_GROUP,
    WorkMemberObject, WorkPropagation, WorkResource, cluster_namespace,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest object name the API accepts (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The MemberWork's name for a federated object of type `type_name` (its FederatedTypeConfig
/// name): `<type>.<namespace>.<name>`, or `<type>.<name>` for cluster-scoped objects; names too
/// long are cut and end in a hash of the whole, so they stay unique.
pub fn work_name(type_name: &str, namespace: Option<&str>, name: &str) -> String {
    let full = match namespace {
        Some(ns) => format!("{type_name}.{ns}.{name}"),
        None => format!("{type_name}.{name}"),
    };
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash: String = hash_value(&json!(full)).chars().take(16).collect();
    let keep = MAX_NAME - hash.len() - 1;
    let mut cut: String = full.chars().take(keep).collect();
    while cut.ends_with(['.', '-']) {
        cut.pop();
    }
    format!("{cut}-{hash}")
}

/// Which MemberWork one (cluster, federated object) gets, and the rules the agent applies.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkTarget {
    pub cluster: String,
    /// FederatedTypeConfig name, e.g. `deployments.apps`.
    pub type_name: String,
    pub resource: WorkResource,
    pub adopt: bool,
    pub retain_replicas: bool,
    /// The raw `kubefed.io/deleteoption` annotation.
    pub delete_options: Option<String>,
    /// The host collects member status for the type.
    pub collect_status: bool,
}

/// The MemberWork to server-side apply for `desired` (the body of the apply): the member
/// object exactly as the plan rendered it, in the cluster's namespace, with the agent's
/// finalizer.
pub fn render_work(target: &WorkTarget, name: &str, desired: &DesiredObject) -> Value {
    let mut spec = json!({
        "cluster": target.cluster,
        "resource": target.resource,
        "manifest": desired.object,
        "adopt": target.adopt,
    });
    if target.retain_replicas {
        spec["retainReplicas"] = json!(true);
    }
    if target.collect_status {
        spec["collectStatus"] = json!(true);
    }
    if let Some(options) = target.delete_options.as_deref().filter(|o| !o.is_empty()) {
        spec["deleteOptions"] = json!(options);
    }
    json!({
        "apiVersion": format!("{WORK_GROUP}/v1alpha1"),
        "kind": "MemberWork",
        "metadata": {
            "name": name,
            "namespace": cluster_namespace(&target.cluster),
            "labels": {TYPE_LABEL: target.type_name, CLUSTER_LABEL: target.cluster},
            "finalizers": [AGENT_FINALIZER],
        },
        "spec": spec,
    })
}

/// The member object a MemberWork stands for, as the host's plan reads it: what was sent
/// (compared with what the plan wants now, so an unchanged object is not written again), with
/// what the agent last saw of the member object (generation, replicas, status, the managed
/// label) and whether a deletion is in progress.
pub fn observed_member(work: &MemberWork, collection: StatusCollection) -> MemberObject {
    let mut object = MemberObject::from_object(&work.spec.manifest, collection);
    object.deleting = work.metadata.deletion_timestamp.is_some();
    let reported = work.status.as_ref();
    let member = reported.and_then(|s| s.member.as_ref());
    let word = reported
        .and_then(|s| s.propagation.as_ref())
        .map(|p| p.status.as_str());
    // The agent found an object it may not touch: the plan must see it as the member has it.
    object.managed = match word {
        Some(w) if w == PropagationStatus::ManagedLabelFalse.as_str() => ManagedLabel::False,
        Some(w) if w == PropagationStatus::AlreadyExists.as_str() => ManagedLabel::Absent,
        _ => ManagedLabel::True,
    };
    object.generation = member.and_then(|m| m.generation);
    object.replicas = member.and_then(|m| m.replicas);
    object.remote_status = member
        .and_then(|m| m.remote_status.as_ref())
        .filter(|_| collection.collect)
        .map(CompactJson::new);
    object
}

/// A failure the agent reports for the current spec of its MemberWork (an apply refused by
/// the member, say), as the cluster's entry in `status.clusters[]`. `None` while the agent
/// has not acted on the current spec, and for the outcomes [`observed_member`] already shows.
pub fn reported_failure(work: &MemberWork) -> Option<Entry> {
    let (word, message) = current_report(work)?;
    match word {
        PropagationStatus::Ok
        | PropagationStatus::AlreadyExists
        | PropagationStatus::ManagedLabelFalse => None,
        status => Some(Entry::Show {
            status,
            message: message.cloned(),
        }),
    }
}

/// The outcome the agent reported for the current spec of `work`, with its message; `None`
/// while it has not reported on that spec (or reported a word this version does not know).
pub fn current_report(work: &MemberWork) -> Option<(PropagationStatus, Option<&String>)> {
    let status = work.status.as_ref()?;
    if status.observed_generation != work.metadata.generation {
        return None;
    }
    let propagation = status.propagation.as_ref()?;
    let word = propagation.status.parse().ok()?;
    Some((word, propagation.message.as_ref()))
}

/// The plan with the failures pull members' agents reported: a cluster the host has nothing
/// to write to (its MemberWork is current) shows what its agent could not do.
pub fn with_agent_failures(mut plan: Plan, failures: &BTreeMap<String, Entry>) -> Plan {
    for (cluster, entry) in failures {
        if let Some(planned) = plan.clusters.get_mut(cluster)
            && planned.placed
            && planned.action == Action::LeaveAlone
            && planned.entry
                == (Entry::Show {
                    status: PropagationStatus::Ok,
                    message: None,
                })
        {
            planned.entry = entry.clone();
        }
    }
    plan
}

/// The heartbeat as a probe: healthy while the Lease was renewed within `max_age`.
pub fn lease_outcome(
    renewed: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    max_age: Duration,
) -> ProbeOutcome {
    let Some(renewed) = renewed else {
        return ProbeOutcome::Unreachable("the agent has not sent a heartbeat yet".into());
    };
    let age = now.duration_since(renewed);
    if age.as_secs_f64() <= max_age.as_secs_f64() {
        ProbeOutcome::Healthy
    } else {
        ProbeOutcome::Unreachable(format!(
            "no heartbeat from the agent for {}s",
            age.as_secs()
        ))
    }
}

/// What the agent does for one MemberWork.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentAction {
    /// Server-side apply `object`; `create` when the member has none.
    Apply {
        object: Value,
        create: bool,
        /// The member object was changed out of band.
        drift: bool,
    },
    Delete(DeleteParams),
    /// Remove the managed label, leaving the object (orphaning).
    Unlabel,
    /// The member side is done: remove the finalizer of the deleted MemberWork.
    Release,
    Leave,
}

/// The agent's decision, with the status word it reports for it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentDecision {
    pub action: AgentAction,
    pub propagation: WorkPropagation,
}

pub(crate) fn settings_for(work: &MemberWork) -> PlanSettings {
    let r = &work.spec.resource;
    PlanSettings {
        scope: Scope::Namespaced,
        federation_namespace: String::new(),
        adopt_resources: work.spec.adopt,
        target: TargetInfo {
            group: r.group.clone(),
            api_version: r.to_kube().api_version,
            kind: r.kind.clone(),
            resource: resource_name(r),
            namespaced: r.namespaced,
        },
        aggregate: AggregateKind::Other,
    }
}

/// How messages name a type: `configmaps`, `deployments.apps` (as the host's plan does).
fn resource_name(r: &WorkResource) -> String {
    if r.group.is_empty() {
        r.plural.clone()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

/// What the agent does with a MemberWork of a type its member will not let it list or watch
/// (`state` says why; `None` when the type can be watched): it writes nothing and reports the
/// cause as the host's plan reports it for a push member, so the federated object's status
/// shows it. A MemberWork being deleted is released when the member does not serve the type
/// (nothing can be there); otherwise its deletion waits, since the object may still exist.
pub fn agent_cannot_watch(
    work: &MemberWork,
    cluster: &str,
    state: &CacheState,
) -> Option<AgentDecision> {
    let why = state.problem()?;
    if work.metadata.deletion_timestamp.is_some() && *state == CacheState::NotServed {
        return Some(AgentDecision {
            action: AgentAction::Release,
            propagation: word(PropagationStatus::WaitingForRemoval, None),
        });
    }
    let resource = resource_name(&work.spec.resource);
    Some(AgentDecision {
        action: AgentAction::Leave,
        propagation: word(
            PropagationStatus::CachedRetrievalFailed,
            Some(cannot_watch_message(&resource, cluster, &why)),
        ),
    })
}

/// The object the agent applies: the manifest, keeping the member's `spec.replicas` when
/// `retainReplicas` is set and the object exists (as the push path renders it).
pub fn desired_of(work: &MemberWork, member: Option<&MemberObject>) -> DesiredObject {
    let mut object = work.spec.manifest.clone();
    if work.spec.retain_replicas
        && let Some(replicas) = member.and_then(|m| m.replicas)
        && let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("replicas".into(), json!(replicas));
    }
    let hash = object
        .pointer(&format!(
            "/metadata/annotations/{}",
            DESIRED_HASH_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    DesiredObject {
        object,
        hash,
        warnings: Vec::new(),
    }
}

fn word(status: PropagationStatus, message: Option<String>) -> WorkPropagation {
    WorkPropagation {
        status: status.as_str().to_string(),
        message,
    }
}

/// The same rules the host applies to a push member ([`decide_placed`]) for a live
/// MemberWork; for a deleted one, delete (or orphan) the member object, then release it.
pub fn agent_decide(work: &MemberWork, member: Option<&MemberObject>) -> AgentDecision {
    let decision = |action, status, message| AgentDecision {
        action,
        propagation: word(status, message),
    };
    if work.metadata.deletion_timestamp.is_some() {
        let waiting = PropagationStatus::WaitingForRemoval;
        return match member {
            None => decision(AgentAction::Release, waiting, None),
            Some(m) if m.managed != ManagedLabel::True => {
                decision(AgentAction::Release, waiting, None)
            }
            Some(_) if work.spec.orphan => decision(AgentAction::Unlabel, waiting, None),
            Some(m) if m.deleting => decision(AgentAction::Leave, waiting, None),
            Some(_) => match delete_params(work.spec.delete_options.as_deref()) {
                Ok(params) => decision(AgentAction::Delete(params), waiting, None),
                Err(err) => decision(
                    AgentAction::Leave,
                    PropagationStatus::DeletionFailed,
                    Some(err.to_string()),
                ),
            },
        };
    }
    let settings = settings_for(work);
    let placed = decide_placed(
        &work.spec.cluster,
        &Arc::new(desired_of(work, member)),
        member,
        &settings,
    );
    let (status, message) = match placed.entry {
        Entry::Show { status, message } => (status, message),
        Entry::Hidden | Entry::Keep => (PropagationStatus::Ok, None),
    };
    let action = match placed.action {
        Action::Create(desired) => AgentAction::Apply {
            object: Arc::unwrap_or_clone(desired).object,
            create: true,
            drift: false,
        },
        Action::Update { desired, drift, .. } => AgentAction::Apply {
            object: Arc::unwrap_or_clone(desired).object,
            create: false,
            drift,
        },
        _ => AgentAction::Leave,
    };
    decision(action, status, message)
}

/// The member object as the agent reports it, from what it read of the member: only what the
/// host reads (not the resourceVersion, and the status only when the host collects it), so a
/// member write the host would not notice costs no report.
pub fn reported_member(member: &Value, collect_status: bool) -> WorkMemberObject {
    let meta = member.get("metadata");
    WorkMemberObject {
        managed: meta
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(MANAGED_LABEL))
            .and_then(Value::as_str)
            .map(str::to_string),
        deleting: meta
            .and_then(|m| m.get("deletionTimestamp"))
            .is_some_and(|t| !t.is_null()),
        generation: meta
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64),
        replicas: member.pointer("/spec/replicas").and_then(Value::as_i64),
        remote_status: if collect_status {
            remote_status(member)
        } else {
            None
        },
    }
}

/// The status the agent leaves on a MemberWork; the caller writes it only when it differs
/// from the stored one.
pub fn agent_status(
    work: &MemberWork,
    member: Option<&Value>,
    propagation: WorkPropagation,
    drift_repairs: i64,
) -> MemberWorkStatus {
    MemberWorkStatus {
        observed_generation: work.metadata.generation,
        propagation: Some(propagation),
        member: member.map(|m| reported_member(m, work.spec.collect_status)),
        drift_repairs,
    }
}

/// How long at most a federated object's status waits for the reports of its pull members'
/// agents after the host wrote their MemberWorks.
pub const REPORT_WAIT: Duration = Duration::from_secs(5);

/// When the host wrote the spec a MemberWork holds (its server-side apply by `manager`, else
/// the creation), while the agent has not reported on that spec; `None` once it has, and for
/// a MemberWork being deleted.
pub fn awaiting_report(work: &MemberWork, manager: &str) -> Option<jiff::Timestamp> {
    if work.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let reported = work.status.as_ref().and_then(|s| s.observed_generation);
    if reported.is_some() && reported == work.metadata.generation {
        return None;
    }
    let applied = work
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|f| f.manager.as_deref() == Some(manager) && f.subresource.is_none())
        .filter_map(|f| f.time.as_ref().map(|t| t.0))
        .max();
    let created = work.metadata.creation_timestamp.as_ref().map(|t| t.0);
    Some(applied.or(created).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

/// How long the federated object's status write waits for agents' reports, given when each
/// pending MemberWork was written: until `limit` after the latest of them, so one write
/// carries a wave of reports instead of one write per report. `None` when no report is due
/// within `limit` (an agent that does not report holds nothing up for longer).
pub fn report_wait(
    pending: &[jiff::Timestamp],
    now: jiff::Timestamp,
    limit: Duration,
) -> Option<Duration> {
    pending
        .iter()
        .filter_map(|written| {
            let remaining = limit.as_secs_f64() - now.duration_since(*written).as_secs_f64();
            (remaining > 0.0).then(|| Duration::from_secs_f64(remaining))
        })
        .max()
}

/// A report the agent wrote, with the version of the MemberWork it had read before writing it.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenReport {
    pub read_version: Option<String>,
    pub status: MemberWorkStatus,
}

/// The status the host holds for `work`, as far as the agent knows: its cache, or its own last
/// report while the cache still shows the version read before that report (the write's event
/// has not arrived yet). Comparing against it keeps a pass that runs before that event from
/// writing the same report again.
pub fn reported_base<'a>(
    work: &'a MemberWork,
    last: Option<&'a WrittenReport>,
) -> Option<&'a MemberWorkStatus> {
    match last {
        Some(w) if w.read_version.is_some() && w.read_version == work.metadata.resource_version => {
            Some(&w.status)
        }
        _ => work.status.as_ref(),
    }
}

#[cfg(test)]
mod tests;
