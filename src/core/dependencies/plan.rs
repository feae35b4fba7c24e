//! Which dependency objects each cluster should have, and what to do to get there.
//!
//! [`wanted`] reads the workload's own plan: in every cluster it is placed on, the
//! dependencies its member object references *after that cluster's overrides* (an override
//! may point a volume at another ConfigMap), none where it is not placed, and "unknown" where
//! that cannot be told (the member cannot be seen, the object cannot be built, its member
//! copy is still there after it left). Unknown never removes anything.
//!
//! [`plan`] then decides per (cluster, dependency):
//!
//! | host object | member copy | action |
//! |---|---|---|
//! | exists | missing | create (refusing to overwrite an object it cannot see) |
//! | exists | differs, or lacks this workload's label | update (apply as this workload) |
//! | exists | same | nothing |
//! | missing (required) | any | nothing; reported as missing (member copies are kept) |
//! | federated explicitly (`Federated<Kind>` of that name) | any | nothing: its own object decides (a pull member's MemberWork of it goes, whoever it was for) |
//! | — | carries this workload's label, no longer needed | release: remove the label; delete if it was the last |
//! | — | no workload label left (an interrupted release) | delete |
//!
//! A pull member's copies are its dependency MemberWorks, read as the member objects they
//! stand for; the same decisions are made on them, with the manifest written whole (every
//! workload's label, [`super::pull`]) and an agent's reported failure shown as a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::pull::{agent_failure, for_pull_member};
use super::references::references;
use super::{DEPENDENCIES_CONDITION, DependencyKind, DependencyRef, dependency_object};
use crate::core::condition::{self as conditions, set_condition};
use crate::core::desired::DesiredObject;
use crate::core::events::list_clusters;
use crate::core::observation::{CacheState, ManagedLabel, MemberObject, Observation, Reachability};
use crate::core::plan::{Action, Disposition, Plan, PlanSettings, desired_for};
use crate::crds::federated::FederatedStatus;
use crate::crds::member_work::MemberWork;

/// What a workload needs in one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// Exactly these, each with whether it is required.
    Known(BTreeMap<DependencyRef, bool>),
    /// Cannot be told now: nothing is created or removed there.
    Unknown,
}

/// What the workload needs in every member cluster, from its plan (see the module docs).
/// `opted_in` is the workload's `kubefed.io/propagate-dependencies` setting: without it
/// nothing is needed anywhere, so what it used to need is released.
pub fn wanted(
    obs: &Observation,
    settings: &PlanSettings,
    plan: &Plan,
    opted_in: bool,
) -> BTreeMap<String, Wanted> {
    let decided = matches!(plan.disposition, Disposition::Sync | Disposition::Delete)
        && plan.blocked.is_none();
    let spec = obs.object.spec.as_ref().ok();
    let mut out = BTreeMap::new();
    for (cluster, member) in obs.members.iter().flatten() {
        let visible =
            member.reachability == Reachability::Ready && member.cache == CacheState::Synced;
        let planned = plan.clusters.get(cluster);
        let wanted = match (decided, spec) {
            (false, _) | (_, None) => Wanted::Unknown,
            _ if !visible => Wanted::Unknown,
            // Still there (or on its way out): what it references is kept.
            _ if member.object.is_some() && !planned.is_some_and(|p| p.placed) => Wanted::Unknown,
            _ if obs.object.deleting || !opted_in => Wanted::Known(BTreeMap::new()),
            (_, Some(spec)) if planned.is_some_and(|p| p.placed) => {
                let desired = match planned.map(|p| &p.action) {
                    Some(Action::Create(d) | Action::Update { desired: d, .. }) => Ok(d.clone()),
                    _ => desired_for(
                        &obs.object,
                        spec,
                        settings,
                        cluster,
                        member.object.as_deref(),
                    )
                    .map(Arc::new),
                };
                match desired {
                    Ok(d) => Wanted::Known(references(&d.object)),
                    Err(_) => Wanted::Unknown,
                }
            }
            _ => Wanted::Known(BTreeMap::new()),
        };
        out.insert(cluster.clone(), wanted);
    }
    out
}

/// A dependency as the host has it.
#[derive(Clone, Debug, PartialEq)]
pub enum HostDependency {
    Found(Arc<Value>),
    Missing,
    /// A `Federated<Kind>` of the same name exists: that object decides.
    Federated,
    /// It cannot be read (why).
    Unreadable(String),
}

/// The dependency objects of one member, in the workload's namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberDependencies {
    /// The member can be written to now.
    pub writable: bool,
    /// A pull member: its copies are MemberWorks on the host ([`super::pull`]), each written
    /// whole, with every workload's label.
    pub pull: bool,
    /// The state of the member's cache of each dependency kind (a pull member's: of the
    /// host's MemberWorks).
    pub caches: BTreeMap<DependencyKind, CacheState>,
    /// The dependency objects it holds (labelled `kubefed.io/dependency`), by reference; a
    /// pull member's as their MemberWorks show them.
    pub objects: BTreeMap<DependencyRef, Arc<MemberObject>>,
    /// A pull member's MemberWorks of those objects, as read: what a write is made from.
    pub works: BTreeMap<DependencyRef, Arc<MemberWork>>,
}

/// Everything [`plan`] reads.
#[derive(Clone, Debug, PartialEq)]
pub struct DependencyInput {
    pub namespace: String,
    /// This workload's label ([`super::dependent_label`]).
    pub label: String,
    /// Orphaning deletion: the last workload leaves its dependencies in place, unlabelled.
    pub orphan: bool,
    pub wanted: BTreeMap<String, Wanted>,
    /// The host's dependencies by reference; `None` while they are being read.
    pub host: Option<BTreeMap<DependencyRef, HostDependency>>,
    pub members: BTreeMap<String, MemberDependencies>,
}

impl DependencyInput {
    /// The references the host must be asked about: what is wanted and what members hold.
    pub fn references(
        wanted: &BTreeMap<String, Wanted>,
        members: &BTreeMap<String, MemberDependencies>,
    ) -> BTreeSet<DependencyRef> {
        let mut refs: BTreeSet<DependencyRef> = wanted
            .values()
            .filter_map(|w| match w {
                Wanted::Known(refs) => Some(refs.keys().cloned()),
                Wanted::Unknown => None,
            })
            .flatten()
            .collect();
        refs.extend(members.values().flat_map(|m| m.objects.keys().cloned()));
        refs
    }
}

/// What to do when a workload releases a dependency and no other workload holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenLast {
    Delete,
    /// Leave it, without the operator's labels (orphaning deletion).
    Orphan,
    /// Leave it as it is (it is federated explicitly now). A pull member's MemberWork of it
    /// goes at once, with every workload's label: the federated object's own MemberWork
    /// manages the copy.
    Keep,
}

/// One member write for a dependency.
#[derive(Clone, Debug, PartialEq)]
pub enum DependencyAction {
    /// Create it; an object of that name that the cache did not show is not overwritten
    /// unless resource adoption allows.
    Create(DesiredObject),
    /// Apply it as this workload.
    Update(DesiredObject),
    /// Remove this workload's label; then, if no workload label is left, as said.
    Release(WhenLast),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DependencyStep {
    pub cluster: String,
    pub dependency: DependencyRef,
    pub action: DependencyAction,
}

/// The dependency plan of one reconciliation of a workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DependencyPlan {
    pub steps: Vec<DependencyStep>,
    /// Required dependencies the host namespace does not have, with the clusters needing them.
    pub missing: BTreeMap<DependencyRef, BTreeSet<String>>,
    /// What stands in the way elsewhere (a kind that cannot be watched, an object that
    /// cannot be copied), one message each.
    pub problems: BTreeSet<String>,
    /// What pull members' agents reported failing to apply, one message each.
    pub agent_failures: BTreeSet<String>,
    /// Some input is still loading; look again soon.
    pub waiting: bool,
    /// A cluster that cannot be acted on still holds dependencies for this workload: a
    /// deleted workload keeps its finalizer.
    pub holds_deletion: bool,
    /// Every dependency wanted somewhere, for the report.
    pub wanted: BTreeSet<DependencyRef>,
    /// How many clusters' needs are known (and writable).
    pub known: usize,
}

/// Plans the dependency writes (see the module docs).
pub fn plan(input: &DependencyInput) -> DependencyPlan {
    let mut out = DependencyPlan::default();
    let host = input.host.as_ref();
    let federated =
        |dep: &DependencyRef| host.and_then(|h| h.get(dep)) == Some(&HostDependency::Federated);
    for (cluster, wanted) in &input.wanted {
        let member = input.members.get(cluster).cloned().unwrap_or_default();
        let mine = |o: &MemberObject| o.dependents.contains(&input.label);
        let holds_mine = member.objects.values().any(|o| mine(o));
        let refs = match wanted {
            Wanted::Known(refs) if member.writable => refs,
            _ => {
                out.holds_deletion |= holds_mine;
                continue;
            }
        };
        out.wanted.extend(refs.keys().cloned());
        out.known += 1;
        let watchable = |kind: DependencyKind, out: &mut DependencyPlan| match member
            .caches
            .get(&kind)
            .cloned()
            .unwrap_or(CacheState::Stopped)
        {
            CacheState::Synced => true,
            CacheState::Stopped | CacheState::Syncing => {
                out.waiting = true;
                false
            }
            state => {
                let why = state.problem().unwrap_or_default();
                out.problems.insert(format!(
                    "cannot watch {} in {cluster}: {why}",
                    kind.plural()
                ));
                false
            }
        };
        let step = |dependency: &DependencyRef, action| DependencyStep {
            cluster: cluster.clone(),
            dependency: dependency.clone(),
            action,
        };
        let mut steps = Vec::new();
        for (dependency, required) in refs {
            if !watchable(dependency.kind, &mut out) {
                out.holds_deletion |= holds_mine;
                continue;
            }
            let Some(host) = host else {
                out.waiting = true;
                continue;
            };
            let source = match host.get(dependency) {
                None | Some(HostDependency::Missing) => {
                    if *required {
                        out.missing
                            .entry(dependency.clone())
                            .or_default()
                            .insert(cluster.clone());
                    }
                    continue;
                }
                // In a pull member its MemberWork would make the agent undo the federated
                // object's own MemberWork of the same object: it goes, the copy stays.
                Some(HostDependency::Federated) => {
                    if member.pull && member.objects.get(dependency).is_some_and(|o| !o.deleting) {
                        steps.push(step(dependency, DependencyAction::Release(WhenLast::Keep)));
                    }
                    continue;
                }
                Some(HostDependency::Unreadable(why)) => {
                    out.problems.insert(why.clone());
                    continue;
                }
                Some(HostDependency::Found(source)) => source,
            };
            let desired =
                match dependency_object(dependency, source, &input.namespace, &input.label) {
                    Ok(desired) => desired,
                    Err(err) => {
                        out.problems.insert(err.to_string());
                        continue;
                    }
                };
            let held = member.objects.get(dependency);
            // A pull member's copy is written whole: with the other workloads' labels.
            let desired = if member.pull {
                for_pull_member(desired, held.map(Arc::as_ref), &input.label)
            } else {
                desired
            };
            if let Some(failure) = member
                .works
                .get(dependency)
                .and_then(|w| agent_failure(w, dependency))
            {
                out.agent_failures.insert(failure);
            }
            match held {
                None => steps.push(step(dependency, DependencyAction::Create(desired))),
                Some(o) if o.managed == ManagedLabel::False => {
                    out.problems.insert(format!(
                        "{dependency} in {cluster} is labelled kubefed.io/managed: \"false\""
                    ));
                }
                Some(o) if o.deleting => out.waiting = true,
                Some(o) if o.fields.needs_apply(&desired.object) => {
                    steps.push(step(dependency, DependencyAction::Update(desired)))
                }
                Some(_) => {}
            }
        }
        for (dependency, object) in &member.objects {
            if refs.contains_key(dependency) || !(mine(object) || object.dependents.is_empty()) {
                continue;
            }
            if object.deleting || !watchable(dependency.kind, &mut out) {
                continue;
            }
            // Whether it is federated explicitly decides what "last" means: wait to know.
            if host.is_none() {
                out.waiting = true;
                continue;
            }
            let when_last = if federated(dependency) {
                WhenLast::Keep
            } else if input.orphan {
                WhenLast::Orphan
            } else {
                WhenLast::Delete
            };
            steps.push(step(dependency, DependencyAction::Release(when_last)));
        }
        out.steps.extend(steps);
    }
    out
}

/// The `Dependencies` condition of a workload that propagates its dependencies: `status`,
/// `reason`, `message`; `None` while input is still loading and nothing is known to be wrong
/// (the condition then stays as it is). `failures` are the messages of the writes that failed.
pub fn condition(
    plan: &DependencyPlan,
    failures: &[String],
) -> Option<(bool, &'static str, String)> {
    if !plan.missing.is_empty() {
        let missing: Vec<String> = plan
            .missing
            .iter()
            .map(|(dep, clusters)| {
                let clusters: Vec<String> = clusters.iter().cloned().collect();
                format!("{dep} (needed in {})", list_clusters(&clusters))
            })
            .collect();
        return Some((
            false,
            "DependencyMissing",
            format!("not in the host namespace: {}", missing.join("; ")),
        ));
    }
    if !failures.is_empty() || !plan.agent_failures.is_empty() {
        let all: Vec<&str> = failures
            .iter()
            .chain(&plan.agent_failures)
            .map(String::as_str)
            .collect();
        return Some((false, "PropagationFailed", all.join("; ")));
    }
    if !plan.problems.is_empty() {
        let problems: Vec<&str> = plan.problems.iter().map(String::as_str).collect();
        return Some((false, "DependenciesUnavailable", problems.join("; ")));
    }
    if plan.waiting || plan.known == 0 {
        return None;
    }
    let message = if plan.wanted.is_empty() {
        "the pod template references no ConfigMap, Secret or ServiceAccount".to_string()
    } else {
        let names: Vec<String> = plan.wanted.iter().map(|d| d.to_string()).collect();
        format!("propagated with the workload: {}", names.join(", "))
    };
    Some((true, "Propagated", message))
}

/// What happens to the `Dependencies` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionChange {
    Set {
        holds: bool,
        reason: &'static str,
        message: String,
    },
    /// The workload does not propagate dependencies (any more).
    Remove,
    /// Nothing new is known.
    Keep,
}

/// How [`condition`] changes a workload's `Dependencies` condition: removed when it does
/// not propagate dependencies, kept while input loads and while the workload is deleted.
pub fn condition_change(
    opted_in: bool,
    deleting: bool,
    plan: &DependencyPlan,
    failures: &[String],
) -> ConditionChange {
    if deleting {
        return ConditionChange::Keep;
    }
    if !opted_in {
        return ConditionChange::Remove;
    }
    match condition(plan, failures) {
        Some((holds, reason, message)) => ConditionChange::Set {
            holds,
            reason,
            message,
        },
        None => ConditionChange::Keep,
    }
}

/// The status to write given the one the report computed (`next`, `None` when it had nothing
/// new) and the change of the `Dependencies` condition; `None` when nothing changes.
pub fn with_condition(
    previous: Option<&FederatedStatus>,
    next: Option<FederatedStatus>,
    change: &ConditionChange,
    now: &str,
) -> Option<FederatedStatus> {
    let changed = next.is_some();
    let mut status = next.or_else(|| previous.cloned()).unwrap_or_default();
    match change {
        ConditionChange::Keep => {}
        ConditionChange::Remove => status
            .conditions
            .retain(|c| c.type_ != DEPENDENCIES_CONDITION),
        ConditionChange::Set {
            holds,
            reason,
            message,
        } => {
            status.conditions = set_condition(
                &status.conditions,
                &conditions::Wanted {
                    type_: DEPENDENCIES_CONDITION,
                    status: conditions::Wanted::status_word(*holds),
                    reason,
                    message,
                },
                &now.to_owned(),
            );
        }
    }
    (changed || previous != Some(&status)).then_some(status)
}

#[cfg(test)]
mod tests;
