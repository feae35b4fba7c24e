//! The plan of one reconciliation: from an [`Observation`] and the settings, what to do in
//! every member cluster, with the cluster status each outcome implies, what happens to the
//! finalizer, and what to warn about.
//!
//! Pure and table-tested; the sync controller only executes it. Rules, per cluster:
//!
//! | member | placed | not placed | object being deleted |
//! |---|---|---|---|
//! | not ready | leave alone, `ClusterNotReady` | leave alone | hold the finalizer if it may hold the object |
//! | not probed yet, not answering, cache syncing | wait (status kept) | leave alone | wait, hold |
//! | type forbidden / not served | leave alone, `CachedRetrievalFailed` naming the cause | leave alone | forbidden: delete blindly if it was placed there; not served: nothing there |
//! | no object | create | — | — |
//! | object, same content | leave alone | delete (`WaitingForRemoval`) | delete, hold until gone |
//! | object, different content | update (drift when the desired hash matches) | delete | delete |
//! | unlabelled object | adopt when allowed, else `AlreadyExists` | leave alone | leave alone |
//! | `managed: "false"` | leave alone, `ManagedLabelFalse` | leave alone | leave alone |
//! | the host's own Namespace | as above | remove the managed label | remove the managed label |
//!
//! Input that cannot be read (the spec, the FederatedNamespace's spec, a selector, the
//! delete options) never deletes or overwrites anything: the object is reported and left as
//! it is. A paused object (`kubefed.io/paused: "true"`) is planned as usual, then every write
//! action becomes [`Action::LeaveAlone`] with a `Paused` entry saying what is held back (a
//! deletion keeps holding the finalizer); the member status is still collected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::api::DeleteParams;
use serde_json::Value;

use super::delete_options::delete_params;
use super::desired::{DesiredError, DesiredInput, DesiredObject, desired_member_object};
use super::observation::{
    CacheState, CompactJson, FederatedObject, ManagedLabel, MemberObject, MemberView,
    NamespaceObservation, Observation, Reachability,
};
use super::overrides::validate_structure;
use super::placement::{
    ClusterInfo, PlacementError, Verdict, Verdicts, compute_placement, place_each,
};
use super::vocabulary::{AggregateReason, PropagationStatus};
use crate::crds::Scope;
use crate::crds::federated::{AggregateKind, FederatedSpec};

/// The target type, as the plan needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    /// API group (empty for the core group).
    pub group: String,
    /// `v1`, `apps/v1`.
    pub api_version: String,
    pub kind: String,
    /// `configmaps`, `deployments.apps`: how messages name the type.
    pub resource: String,
    pub namespaced: bool,
}

impl TargetInfo {
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }
}

/// Settings the plan depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanSettings {
    pub scope: Scope,
    pub federation_namespace: String,
    pub adopt_resources: bool,
    pub target: TargetInfo,
    pub aggregate: AggregateKind,
}

impl PlanSettings {
    /// Whether namespaced objects are tied to their FederatedNamespace's placement.
    pub fn namespace_rule_applies(&self) -> bool {
        self.scope == Scope::Cluster && self.target.namespaced && !self.target.is_namespace()
    }
}

/// Namespaces whose objects are never federated (KubeFed's list plus the federation's own).
pub fn is_excluded_namespace(federation_namespace: &str, namespace: &str) -> bool {
    matches!(namespace, "kube-system" | "kube-public" | "default")
        || namespace == federation_namespace
}

/// What happens to the federated object as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Never federated (an excluded namespace), or deleted without the finalizer: nothing is
    /// written, not even status.
    Ignore,
    /// Input is still loading (the member list, the FederatedNamespaces): look again soon.
    Wait(String),
    /// Bring the members in line with the object.
    Sync,
    /// The object is being deleted: delete (or orphan) its member objects, then release it.
    Delete,
}

/// The step on the object's finalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerStep {
    Keep,
    /// Add it before any member write.
    Add,
    /// Remove it once every cluster's action succeeded and no cluster holds the deletion.
    Remove,
}

/// Why the object as a whole cannot be synced (shown on the `Propagation` condition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub reason: AggregateReason,
    pub message: String,
}

/// Something to tell the user in a Warning event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    pub reason: String,
    pub message: String,
}

/// What to do in one member cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    LeaveAlone,
    /// Nothing can be decided yet (why); look again soon.
    Wait(String),
    /// Create: fails if the object exists (then the executor reads it and applies
    /// [`decide_placed`] to what it found).
    /// The desired object is shared by every cluster that gets the same render.
    Create(Arc<DesiredObject>),
    Update {
        desired: Arc<DesiredObject>,
        /// The member was changed out of band (its desired hash is current).
        drift: bool,
        /// The object is not labelled yet and is being adopted.
        adopt: bool,
    },
    Delete(DeleteParams),
    /// Stop managing the object without deleting it.
    Unlabel,
}

impl Action {
    /// Whether the action writes to the member.
    pub fn writes(&self) -> bool {
        self.write_verb().is_some()
    }

    /// What the write does, in words (`create`, `update (changed out of band)`); `None` for
    /// actions that do not write.
    pub fn write_verb(&self) -> Option<&'static str> {
        match self {
            Action::Create(_) => Some("create"),
            Action::Update { adopt: true, .. } => Some("adopt the existing object"),
            Action::Update { drift: true, .. } => Some("update (changed out of band)"),
            Action::Update { .. } => Some("update"),
            Action::Delete(_) => Some("delete"),
            Action::Unlabel => Some("remove the managed label"),
            Action::LeaveAlone | Action::Wait(_) => None,
        }
    }
}

/// How a cluster shows in `status.clusters`, if its action succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// No entry.
    Hidden,
    /// The previous entry stays as it is (nothing new is known).
    Keep,
    Show {
        status: PropagationStatus,
        message: Option<String>,
    },
}

impl Entry {
    fn show(status: PropagationStatus, message: Option<String>) -> Self {
        Entry::Show { status, message }
    }

    fn ok() -> Self {
        Entry::show(PropagationStatus::Ok, None)
    }
}

/// The plan for one member cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterPlan {
    pub action: Action,
    pub entry: Entry,
    /// The object is placed there.
    pub placed: bool,
    /// `spec.replicas` the member should have (for the READY total).
    pub desired_replicas: Option<i64>,
    /// The member object cannot be seen now (its last known status is shown as stale).
    pub stale: bool,
    /// The member object's generation and status, as last seen.
    pub generation: Option<i64>,
    pub remote_status: Option<Value>,
    /// A deleting federated object must keep its finalizer for this cluster, unless its
    /// delete finds nothing there (see [`crate::core::report::releases_finalizer`]).
    pub holds_deletion: bool,
}

impl ClusterPlan {
    fn new(action: Action, entry: Entry) -> Self {
        ClusterPlan {
            action,
            entry,
            placed: false,
            desired_replicas: None,
            stale: false,
            generation: None,
            remote_status: None,
            holds_deletion: false,
        }
    }
}

/// The object is paused: the member writes held back, by cluster (what each would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paused {
    pub pending: BTreeMap<String, &'static str>,
}

/// The plan of one reconciliation.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub disposition: Disposition,
    pub finalizer: FinalizerStep,
    pub clusters: BTreeMap<String, ClusterPlan>,
    /// Set when the object as a whole cannot be synced; clusters are then left alone and
    /// their status entries kept.
    pub blocked: Option<Blocked>,
    /// Sorted, without duplicates.
    pub warnings: Vec<Warning>,
    /// `metadata.generation` of the federated object.
    pub generation: i64,
    pub aggregate: AggregateKind,
    /// Set when the object is paused; then no action writes.
    pub paused: Option<Paused>,
}

impl Plan {
    fn empty(obs: &Observation, settings: &PlanSettings, disposition: Disposition) -> Self {
        let finalizer = match disposition {
            Disposition::Wait(_) | Disposition::Sync if !obs.object.has_finalizer => {
                FinalizerStep::Add
            }
            _ => FinalizerStep::Keep,
        };
        Plan {
            disposition,
            finalizer,
            clusters: BTreeMap::new(),
            blocked: None,
            warnings: Vec::new(),
            generation: obs.object.generation,
            aggregate: settings.aggregate,
            paused: None,
        }
    }

    fn blocked(
        obs: &Observation,
        settings: &PlanSettings,
        reason: AggregateReason,
        message: String,
        warning: Option<&str>,
    ) -> Self {
        let mut plan = Plan::empty(obs, settings, Disposition::Sync);
        if let Some(reason) = warning {
            plan.warnings.push(Warning {
                reason: reason.to_string(),
                message: message.clone(),
            });
        }
        plan.blocked = Some(Blocked { reason, message });
        plan
    }

    /// Whether any cluster waits for something to settle.
    pub fn waits(&self) -> bool {
        matches!(self.disposition, Disposition::Wait(_))
            || self
                .clusters
                .values()
                .any(|c| matches!(c.action, Action::Wait(_)))
    }

    fn finish(mut self) -> Self {
        self.warnings.sort();
        self.warnings.dedup();
        self
    }

    /// Holds back every member write: the cluster shows `Paused` with what it would do, and
    /// a deletion keeps the finalizer for it.
    fn pause(mut self) -> Self {
        let deleting = self.disposition == Disposition::Delete;
        let mut paused = Paused::default();
        for (cluster, planned) in &mut self.clusters {
            let Some(verb) = planned.action.write_verb() else {
                continue;
            };
            paused.pending.insert(cluster.clone(), verb);
            planned.action = Action::LeaveAlone;
            planned.entry = Entry::show(
                PropagationStatus::Paused,
                Some(format!("paused; would {verb}")),
            );
            planned.holds_deletion |= deleting;
        }
        self.paused = Some(paused);
        self
    }
}

/// Plans one reconciliation; a paused object gets the same plan with its writes held back.
pub fn plan(obs: &Observation, settings: &PlanSettings) -> Plan {
    let planned = plan_writes(obs, settings);
    if obs.object.paused() && planned.disposition != Disposition::Ignore {
        planned.pause()
    } else {
        planned
    }
}

fn plan_writes(obs: &Observation, settings: &PlanSettings) -> Plan {
    let object = &obs.object;
    let excluded = object
        .namespace
        .as_deref()
        .is_some_and(|ns| is_excluded_namespace(&settings.federation_namespace, ns))
        || (settings.target.is_namespace()
            && is_excluded_namespace(&settings.federation_namespace, &object.name));
    if excluded {
        return Plan::empty(obs, settings, Disposition::Ignore);
    }
    let Some(members) = &obs.members else {
        let why = "the member clusters are not known yet".to_string();
        return Plan::empty(obs, settings, Disposition::Wait(why));
    };
    if object.deleting {
        return plan_deletion(obs, members, settings).finish();
    }
    let spec = match &object.spec {
        Ok(spec) => spec,
        Err(err) => {
            return Plan::blocked(
                obs,
                settings,
                AggregateReason::ComputePlacementFailed,
                format!("the spec cannot be read, so nothing is changed: {err}"),
                Some("InvalidSpec"),
            );
        }
    };
    match placement(obs, spec, settings) {
        Ok(verdicts) => {
            let mut plan = plan_sync(obs, members, spec, &verdicts.selected(), settings);
            let unknown = verdicts.unknown;
            if !unknown.is_empty() {
                plan.warnings.push(Warning {
                    reason: "UnknownClusters".into(),
                    message: format!(
                        "placement names clusters that are not joined: {}",
                        unknown.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            plan.finish()
        }
        Err(Unplaceable::Wait(why)) => Plan::empty(obs, settings, Disposition::Wait(why)),
        Err(Unplaceable::Blocked(reason, message, warning)) => {
            Plan::blocked(obs, settings, reason, message, Some(warning))
        }
    }
}

/// Why the object cannot be placed at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unplaceable {
    /// Input is still loading (why).
    Wait(String),
    /// Input cannot be used: the condition's reason and message, and the warning reason.
    Blocked(AggregateReason, String, &'static str),
}

/// Placement with the namespace rule, cluster by cluster; what the plan places the object on
/// and what a preview explains.
pub fn placement(
    obs: &Observation,
    spec: &FederatedSpec,
    settings: &PlanSettings,
) -> Result<Verdicts, Unplaceable> {
    let members = obs
        .members
        .as_ref()
        .ok_or_else(|| Unplaceable::Wait("the member clusters are not known yet".to_string()))?;
    let infos: Vec<ClusterInfo> = members
        .iter()
        .map(|(name, m)| ClusterInfo {
            name: name.clone(),
            labels: m.labels.clone(),
        })
        .collect();
    // A typo in a selector must not remove the object from every cluster: nothing changes.
    let placement_failed = |e: PlacementError| {
        Unplaceable::Blocked(
            AggregateReason::ComputePlacementFailed,
            e.to_string(),
            "ComputePlacementFailed",
        )
    };
    let mut verdicts = place_each(spec.placement.as_ref(), &infos).map_err(placement_failed)?;
    let namespace = obs.object.namespace.clone().unwrap_or_default();
    let ns_spec = match &obs.namespace {
        _ if !settings.namespace_rule_applies() => return Ok(verdicts),
        NamespaceObservation::NotNeeded => return Ok(verdicts),
        NamespaceObservation::Loading => {
            return Err(Unplaceable::Wait(
                "the FederatedNamespaces are not known yet".into(),
            ));
        }
        NamespaceObservation::Missing => {
            let err = PlacementError::NamespaceNotFederated { namespace };
            return Err(Unplaceable::Blocked(
                AggregateReason::NamespaceNotFederated,
                err.to_string(),
                "NamespaceNotFederated",
            ));
        }
        NamespaceObservation::Found(Err(err)) => {
            return Err(Unplaceable::Blocked(
                AggregateReason::ComputePlacementFailed,
                format!(
                    "the spec of FederatedNamespace {namespace:?} cannot be read, so nothing is changed: {err}"
                ),
                "InvalidNamespaceSpec",
            ));
        }
        NamespaceObservation::Found(Ok(ns_spec)) => ns_spec,
    };
    let ns_placement = compute_placement(ns_spec.placement.as_ref(), &infos).map_err(|e| {
        Unplaceable::Blocked(
            AggregateReason::ComputePlacementFailed,
            format!("placement of FederatedNamespace {namespace:?}: {e}"),
            "ComputePlacementFailed",
        )
    })?;
    for (cluster, verdict) in &mut verdicts.clusters {
        if verdict.selected() && !ns_placement.selected.contains(cluster) {
            *verdict = Verdict::NamespaceNotPlaced;
        }
    }
    Ok(verdicts)
}

fn plan_sync(
    obs: &Observation,
    members: &BTreeMap<String, MemberView>,
    spec: &FederatedSpec,
    selected: &BTreeSet<String>,
    settings: &PlanSettings,
) -> Plan {
    let mut plan = Plan::empty(obs, settings, Disposition::Sync);
    let structure = validate_structure(&spec.overrides)
        .err()
        .map(|e| e.to_string());
    if let Some(message) = &structure {
        plan.warnings.push(Warning {
            reason: PropagationStatus::ApplyOverridesFailed.to_string(),
            message: message.clone(),
        });
    }
    let mut renders = Renders::new(&obs.object, spec, settings);
    for (cluster, member) in members {
        let planned = if selected.contains(cluster) {
            let desired = renders.for_cluster(cluster, member.object.as_deref());
            let (planned, warnings) =
                plan_placed(cluster, member, desired, structure.as_deref(), settings);
            plan.warnings.extend(warnings);
            Some(planned)
        } else {
            plan_unplaced(&obs.object, member, settings, &mut plan.warnings)
        };
        if let Some(planned) = planned {
            plan.clusters.insert(cluster.clone(), planned);
        }
    }
    plan
}

/// The object `cluster` should hold: the template with that cluster's overrides.
pub fn desired_for(
    object: &FederatedObject,
    spec: &FederatedSpec,
    settings: &PlanSettings,
    cluster: &str,
    member: Option<&MemberObject>,
) -> Result<DesiredObject, DesiredError> {
    desired_member_object(&DesiredInput {
        name: &object.name,
        namespace: if settings.target.namespaced {
            object.namespace.as_deref()
        } else {
            None
        },
        api_version: &settings.target.api_version,
        kind: &settings.target.kind,
        template: spec.template.as_ref(),
        cluster,
        overrides: &spec.overrides,
        retain_replicas: spec.retain_replicas.unwrap_or(false),
        observed_replicas: member.and_then(|m| m.replicas),
    })
}

/// The member objects of one reconciliation, rendered once per distinct input. A cluster's
/// object depends on the cluster only through the overrides naming it and, with
/// `retainReplicas`, the replicas it holds; so the clusters without overrides (in most fleets,
/// nearly all) share one render and its hash instead of repeating them per member.
struct Renders<'a> {
    object: &'a FederatedObject,
    spec: &'a FederatedSpec,
    settings: &'a PlanSettings,
    /// Clusters that some override names: rendered each on their own.
    overridden: BTreeSet<&'a str>,
    /// The renders by what they depend on: the overridden cluster (`None` for all the others)
    /// and the replicas kept (`None` without `retainReplicas`).
    renders: BTreeMap<(Option<&'a str>, Option<i64>), Rendered>,
}

/// One cluster's member object, or why it cannot be built.
type Rendered = Result<Arc<DesiredObject>, DesiredError>;

impl<'a> Renders<'a> {
    fn new(
        object: &'a FederatedObject,
        spec: &'a FederatedSpec,
        settings: &'a PlanSettings,
    ) -> Self {
        Renders {
            object,
            spec,
            settings,
            overridden: spec
                .overrides
                .iter()
                .map(|o| o.cluster_name.as_str())
                .collect(),
            renders: BTreeMap::new(),
        }
    }

    fn for_cluster(&mut self, cluster: &str, member: Option<&MemberObject>) -> &Rendered {
        let (object, spec, settings) = (self.object, self.spec, self.settings);
        let overridden = self.overridden.get(cluster).copied();
        let kept = if spec.retain_replicas.unwrap_or(false) {
            member.and_then(|m| m.replicas)
        } else {
            None
        };
        self.renders
            .entry((overridden, kept))
            .or_insert_with(|| desired_for(object, spec, settings, cluster, member).map(Arc::new))
    }
}

fn plan_placed(
    cluster: &str,
    member: &MemberView,
    desired: &Rendered,
    structure: Option<&str>,
    settings: &PlanSettings,
) -> (ClusterPlan, Vec<Warning>) {
    let object = member.object.as_deref();
    let mut warnings: Vec<Warning> = desired
        .iter()
        .flat_map(|d| d.warnings.iter())
        .map(|w| Warning {
            reason: "TemplateFieldsDropped".into(),
            message: w.clone(),
        })
        .collect();
    let visible = member.reachability == Reachability::Ready && member.cache == CacheState::Synced;
    let desired_replicas = desired
        .as_ref()
        .ok()
        .and_then(|d| d.object.pointer("/spec/replicas"))
        .and_then(Value::as_i64);
    let base = |action: Action, entry: Entry| ClusterPlan {
        placed: true,
        desired_replicas,
        stale: !visible,
        generation: object.and_then(|o| o.generation),
        remote_status: object.and_then(|o| o.remote_status.as_ref().map(CompactJson::value)),
        ..ClusterPlan::new(action, entry)
    };
    let resource = &settings.target.resource;
    let cannot_watch = |why: String| {
        base(
            Action::LeaveAlone,
            Entry::show(
                PropagationStatus::CachedRetrievalFailed,
                Some(cannot_watch_message(resource, cluster, &why)),
            ),
        )
    };
    let planned = match (&member.reachability, &member.cache) {
        (Reachability::NotReady(_), _) => base(
            Action::LeaveAlone,
            Entry::show(PropagationStatus::ClusterNotReady, None),
        ),
        (Reachability::Unprobed, _) => base(
            Action::Wait(format!("{cluster} has not been probed yet")),
            Entry::Keep,
        ),
        (Reachability::Unresponsive, _) => base(
            Action::Wait(format!("{cluster} did not answer in time")),
            Entry::Keep,
        ),
        (Reachability::Ready, CacheState::Stopped | CacheState::Syncing) => base(
            Action::Wait(format!("the cache of {resource} in {cluster} is syncing")),
            Entry::Keep,
        ),
        (Reachability::Ready, state @ (CacheState::Forbidden(_) | CacheState::NotServed)) => {
            cannot_watch(state.problem().unwrap_or_default())
        }
        (Reachability::Ready, CacheState::Failing(message)) => cannot_watch(message.clone()),
        (Reachability::Ready, CacheState::Synced) => match (structure, desired) {
            (Some(message), _) => base(
                Action::LeaveAlone,
                Entry::show(
                    PropagationStatus::ApplyOverridesFailed,
                    Some(message.to_string()),
                ),
            ),
            (None, Err(err)) => {
                let status = match err {
                    DesiredError::Overrides(_) => PropagationStatus::ApplyOverridesFailed,
                    _ => PropagationStatus::ComputeResourceFailed,
                };
                warnings.push(Warning {
                    reason: status.to_string(),
                    message: err.to_string(),
                });
                base(
                    Action::LeaveAlone,
                    Entry::show(status, Some(err.to_string())),
                )
            }
            (None, Ok(desired)) => {
                let decision = decide_placed(cluster, desired, object, settings);
                warnings.extend(decision.warning);
                base(decision.action, decision.entry)
            }
        },
    };
    (planned, warnings)
}

/// What to do with a placed, reachable cluster given what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub action: Action,
    pub entry: Entry,
    pub warning: Option<Warning>,
}

/// The rules for a placed cluster whose object is known: create what is missing, leave alone
/// what is in sync and what is not the operator's to touch, update the rest. Also used by the
/// executor when a create meets an object the cache did not show (it is not labelled).
pub fn decide_placed(
    cluster: &str,
    desired: &Arc<DesiredObject>,
    object: Option<&MemberObject>,
    settings: &PlanSettings,
) -> Decision {
    let decision = |action, entry| Decision {
        action,
        entry,
        warning: None,
    };
    let Some(object) = object else {
        return decision(Action::Create(desired.clone()), Entry::ok());
    };
    match object.managed {
        ManagedLabel::False => decision(
            Action::LeaveAlone,
            Entry::show(PropagationStatus::ManagedLabelFalse, None),
        ),
        ManagedLabel::Absent if !settings.adopt_resources => {
            let message = format!(
                "{} {} already exists in cluster {cluster} and resource adoption is disabled",
                settings.target.kind,
                desired
                    .object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            Decision {
                action: Action::LeaveAlone,
                entry: Entry::show(PropagationStatus::AlreadyExists, Some(message.clone())),
                warning: Some(Warning {
                    reason: "AlreadyExists".into(),
                    message,
                }),
            }
        }
        ManagedLabel::Absent => decision(
            Action::Update {
                desired: desired.clone(),
                drift: false,
                adopt: true,
            },
            Entry::ok(),
        ),
        ManagedLabel::True if object.fields.needs_apply(&desired.object) => {
            // Same desired state as last applied but different content: changed out of band.
            let drift = object.desired_hash.as_deref() == Some(desired.hash.as_str());
            decision(
                Action::Update {
                    desired: desired.clone(),
                    drift,
                    adopt: false,
                },
                Entry::ok(),
            )
        }
        ManagedLabel::True => decision(Action::LeaveAlone, Entry::ok()),
    }
}

fn plan_unplaced(
    object: &FederatedObject,
    member: &MemberView,
    settings: &PlanSettings,
    warnings: &mut Vec<Warning>,
) -> Option<ClusterPlan> {
    // Never delete what cannot be seen: a member that is not ready keeps its objects.
    if member.reachability != Reachability::Ready || member.cache != CacheState::Synced {
        return None;
    }
    let found = member.object.as_deref()?;
    if found.managed != ManagedLabel::True {
        return None;
    }
    if member.is_host && settings.target.is_namespace() {
        return Some(ClusterPlan::new(Action::Unlabel, Entry::Hidden));
    }
    let waiting = Entry::show(PropagationStatus::WaitingForRemoval, None);
    if found.deleting {
        return Some(ClusterPlan::new(Action::LeaveAlone, waiting));
    }
    Some(match delete_params(object.delete_option()) {
        Ok(params) => ClusterPlan::new(Action::Delete(params), waiting),
        Err(err) => {
            warnings.push(Warning {
                reason: "InvalidDeleteOption".into(),
                message: err.to_string(),
            });
            ClusterPlan::new(
                Action::LeaveAlone,
                Entry::show(PropagationStatus::DeletionFailed, Some(err.to_string())),
            )
        }
    })
}

fn plan_deletion(
    obs: &Observation,
    members: &BTreeMap<String, MemberView>,
    settings: &PlanSettings,
) -> Plan {
    if !obs.object.has_finalizer {
        // Not (or no longer) the operator's to clean up.
        return Plan::empty(obs, settings, Disposition::Ignore);
    }
    let mut plan = Plan::empty(obs, settings, Disposition::Delete);
    plan.finalizer = FinalizerStep::Remove;
    let orphan = obs.object.orphan();
    let params = match delete_params(obs.object.delete_option()) {
        Ok(params) => Ok(params),
        Err(err) if !orphan => {
            plan.warnings.push(Warning {
                reason: "InvalidDeleteOption".into(),
                message: err.to_string(),
            });
            Err(err.to_string())
        }
        Err(_) => Ok(DeleteParams::default()),
    };
    let listed: BTreeSet<&str> = obs
        .object
        .status
        .iter()
        .flat_map(|s| s.clusters.iter())
        .map(|c| c.name.as_str())
        .collect();
    for (cluster, member) in members {
        let found = member.object.as_deref();
        // The object may be there: it was placed there, or last seen there.
        let may_hold = listed.contains(cluster.as_str()) || found.is_some();
        let held = |action: Action, entry: Entry| {
            Some(ClusterPlan {
                holds_deletion: true,
                ..ClusterPlan::new(action, entry)
            })
        };
        let planned = match (&member.reachability, &member.cache) {
            (Reachability::NotReady(_), _) if may_hold => held(
                Action::LeaveAlone,
                Entry::show(PropagationStatus::ClusterNotReady, None),
            ),
            (Reachability::Unprobed | Reachability::Unresponsive, _) if may_hold => held(
                Action::Wait(format!(
                    "{cluster} has not been probed yet or did not answer"
                )),
                Entry::Keep,
            ),
            (Reachability::Ready, CacheState::Synced) => match found {
                // Not in the cache, but the status says it was propagated and not yet deleted:
                // the cache may not have caught up with a write made just before. A delete
                // settles it (nothing there is fine).
                None if previously_synced(obs, cluster) && !orphan => match &params {
                    Ok(params) => held(
                        Action::Delete(params.clone()),
                        Entry::show(PropagationStatus::WaitingForRemoval, None),
                    ),
                    Err(_) => None,
                },
                Some(o) if o.managed != ManagedLabel::True => None,
                Some(_) if orphan || (member.is_host && settings.target.is_namespace()) => {
                    Some(ClusterPlan::new(Action::Unlabel, Entry::Hidden))
                }
                Some(o) if o.deleting => held(
                    Action::LeaveAlone,
                    Entry::show(PropagationStatus::WaitingForRemoval, None),
                ),
                Some(_) => match &params {
                    Ok(params) => held(
                        Action::Delete(params.clone()),
                        Entry::show(PropagationStatus::WaitingForRemoval, None),
                    ),
                    Err(message) => held(
                        Action::LeaveAlone,
                        Entry::show(PropagationStatus::DeletionFailed, Some(message.clone())),
                    ),
                },
                None => None,
            },
            // The type does not exist there, so neither does the object.
            (Reachability::Ready, CacheState::NotServed) => None,
            // The object cannot be seen: delete it blindly where it was placed (a missing
            // object counts as deleted), leave it when orphaning.
            (Reachability::Ready, CacheState::Forbidden(_))
                if listed.contains(cluster.as_str()) && !orphan =>
            {
                match &params {
                    Ok(params) => Some(ClusterPlan::new(
                        Action::Delete(params.clone()),
                        Entry::show(PropagationStatus::WaitingForRemoval, None),
                    )),
                    Err(message) => held(
                        Action::LeaveAlone,
                        Entry::show(PropagationStatus::DeletionFailed, Some(message.clone())),
                    ),
                }
            }
            (
                Reachability::Ready,
                CacheState::Stopped | CacheState::Syncing | CacheState::Failing(_),
            ) if may_hold => held(
                Action::Wait(format!(
                    "the cache of {} in {cluster} is not synced",
                    settings.target.resource
                )),
                Entry::Keep,
            ),
            _ => None,
        };
        if let Some(planned) = planned {
            plan.clusters.insert(cluster.clone(), planned);
        }
    }
    plan
}

/// Whether the stored status shows `cluster` as propagated and not being removed.
fn previously_synced(obs: &Observation, cluster: &str) -> bool {
    obs.object
        .status
        .iter()
        .flat_map(|s| s.clusters.iter())
        .any(|c| c.name == cluster && c.status != PropagationStatus::WaitingForRemoval.as_str())
}

/// The status message of a cluster whose cache of the type cannot be filled: the same words
/// for a push member (the host's watch) and a pull member (its agent's watch).
pub fn cannot_watch_message(resource: &str, cluster: &str, why: &str) -> String {
    format!("cannot watch {resource} in {cluster}: {why}")
}

#[cfg(test)]
mod tests;
