//! When a reconciliation has nothing to do: the operator's own writes come back as watch
//! events (the member objects it applied, the finalizer it added), and each would otherwise
//! bring the object back for a full pass that plans every member again only to find that
//! nothing changed.
//!
//! A pass that leaves the object settled records what the next pass would observe if nothing
//! but its own writes happened ([`Settled`]): the federated object's inputs with the
//! finalizer it added, and per member the object the member answered its write with (or the
//! one the cache showed when nothing was written). A later pass whose observation equals the
//! record would plan no write and report the same status, so it stops there ([`unchanged`]).
//! Any other change — a template or placement change, a member object changed or deleted
//! out of band, a member status moving, a member or cache changing state — makes the
//! observation differ and the pass runs in full.
//!
//! The status a settled pass writes is computed from the members' answers to its writes
//! ([`after_writes`]), so it is the status the next observation implies and is written once.
//! While a pass waits for members to settle (a cache still syncing, a member not probed
//! yet), the status write is held back for a short while ([`defers_status`]): the pass
//! after the wait writes it once with every member in it.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use super::observation::{
    CacheState, MemberObject, NamespaceObservation, Observation, Reachability, has_sync_finalizer,
};
use super::plan::{Action, Disposition, Entry, Plan};
use super::report::Outcome;
use kube::api::ObjectMeta;

/// How long a pass that waits for members may hold back its status write. Longer waits (a
/// member that stays unresponsive) get the status of the members that could be seen.
pub const STATUS_DEFERRAL: Duration = Duration::from_secs(10);

/// What the next pass of a settled object observes when only the operator's own writes
/// happened since.
#[derive(Clone, Debug)]
pub struct Settled {
    uid: Option<String>,
    generation: i64,
    deleting: bool,
    has_finalizer: bool,
    annotations: u64,
    namespace: NamespaceObservation,
    /// What pull members' agents reported failing.
    agent_failures: BTreeMap<String, Entry>,
    /// Names, labels, reachability and cache states of the members.
    members: u64,
    /// The members' names, in order (shared by the records of the same members, see
    /// [`Settled::share_names`]).
    names: Arc<[String]>,
    /// Each member's object, in the order of the members.
    objects: Vec<Option<Arc<MemberObject>>>,
}

impl Settled {
    /// Whether `shown` is what the record expects `cluster`'s cache to show. A member event
    /// that leaves the cache showing it brings nothing the next pass would act on: that pass
    /// would stop at [`unchanged`], unless something else changed, and every other input (the
    /// federated object, the member list and states, other members' objects) brings the
    /// object back by a trigger of its own. `false` for a member the record does not know.
    pub fn expects(&self, cluster: &str, shown: Option<&Arc<MemberObject>>) -> bool {
        let Ok(i) = self
            .names
            .binary_search_by(|name| name.as_str().cmp(cluster))
        else {
            return false;
        };
        match (self.objects.get(i), shown) {
            (Some(None), None) => true,
            (Some(Some(expected)), Some(shown)) => {
                Arc::ptr_eq(expected, shown) || expected == shown
            }
            _ => false,
        }
    }

    /// Whether the federated object of `meta` is what the record expects: a host event of it
    /// then changed only what a pass does not read (its status, its labels, other
    /// finalizers), and brings nothing to do.
    pub fn expects_federated(&self, meta: &ObjectMeta) -> bool {
        let none = BTreeMap::new();
        self.uid.as_deref() == meta.uid.as_deref()
            && self.generation == meta.generation.unwrap_or_default()
            && self.deleting == meta.deletion_timestamp.is_some()
            && self.has_finalizer == has_sync_finalizer(meta)
            && self.annotations == hash_of(meta.annotations.as_ref().unwrap_or(&none))
    }

    /// Keeps one copy of the member names for every record of the same members: `shared`
    /// is the last list seen, replaced when this record's members differ.
    pub fn share_names(&mut self, shared: &mut Arc<[String]>) {
        if self.names == *shared {
            self.names = shared.clone();
        } else {
            *shared = self.names.clone();
        }
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn members_hash(obs: &Observation) -> Option<u64> {
    let members = obs.members.as_ref()?;
    let mut h = DefaultHasher::new();
    for (name, view) in members {
        (
            name,
            &view.labels,
            &view.reachability,
            view.is_host,
            &view.cache,
        )
            .hash(&mut h);
    }
    Some(h.finish())
}

/// Whether a pass with `plan` and `outcomes` left the object settled, i.e. its next pass
/// would find nothing to do when only its own writes happened: the object is synced (not
/// waiting, not being deleted), no request failed or is still in flight, and every write it
/// made is known by the member's answer (`applied`) or ended in a settled entry. Deletes and
/// unlabels are not known by an answer, so a pass with them never settles.
pub fn settles(
    plan: &Plan,
    outcomes: &BTreeMap<String, Outcome>,
    applied: &BTreeMap<String, Arc<MemberObject>>,
) -> bool {
    plan.disposition == Disposition::Sync
        && !plan.waits()
        && plan.clusters.iter().all(|(cluster, planned)| {
            match (&planned.action, outcomes.get(cluster)) {
                (Action::LeaveAlone, None | Some(Outcome::Done)) => true,
                (Action::Create(_) | Action::Update { .. }, Some(Outcome::Done)) => {
                    applied.contains_key(cluster)
                }
                (Action::Create(_), Some(Outcome::Settled(_))) => true,
                _ => false,
            }
        })
}

/// The record of a settled pass that observed `obs` (of the object with `uid`), added the
/// finalizer when `added_finalizer`, and was answered `applied` by the members it wrote to.
/// `None` when the observation lacks the member list.
pub fn record(
    obs: &Observation,
    uid: Option<&str>,
    added_finalizer: bool,
    agent_failures: &BTreeMap<String, Entry>,
    applied: &BTreeMap<String, Arc<MemberObject>>,
) -> Option<Settled> {
    let members = obs.members.as_ref()?;
    let object = &obs.object;
    Some(Settled {
        uid: uid.map(str::to_string),
        generation: object.generation,
        deleting: object.deleting,
        has_finalizer: object.has_finalizer || added_finalizer,
        annotations: hash_of(&object.annotations),
        namespace: obs.namespace.clone(),
        agent_failures: agent_failures.clone(),
        members: members_hash(obs)?,
        names: members.keys().cloned().collect(),
        objects: members
            .iter()
            .map(|(name, view)| applied.get(name).cloned().or_else(|| view.object.clone()))
            .collect(),
    })
}

/// Whether `obs` is what `settled` expects, i.e. the pass has nothing to do. On a match the
/// record takes the observation's copies of the member objects (equal content), so it does
/// not keep the members' answers alive next to the cache's entries.
pub fn unchanged(
    settled: &mut Settled,
    obs: &Observation,
    uid: Option<&str>,
    agent_failures: &BTreeMap<String, Entry>,
) -> bool {
    let Some(members) = obs.members.as_ref() else {
        return false;
    };
    let object = &obs.object;
    let same = settled.uid.as_deref() == uid
        && settled.generation == object.generation
        && settled.deleting == object.deleting
        && settled.has_finalizer == object.has_finalizer
        && settled.objects.len() == members.len()
        && settled.annotations == hash_of(&object.annotations)
        && settled.namespace == obs.namespace
        && &settled.agent_failures == agent_failures
        && Some(settled.members) == members_hash(obs)
        && settled
            .objects
            .iter()
            .zip(members.values())
            .all(|(expected, view)| match (expected, &view.object) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                _ => false,
            });
    if same {
        for (expected, view) in settled.objects.iter_mut().zip(members.values()) {
            expected.clone_from(&view.object);
        }
    }
    same
}

/// The plan as the members' answers to its writes show it: a cluster that was created or
/// updated reports the generation and status of the object it answered with, as the next
/// observation will show it.
pub fn after_writes(mut plan: Plan, applied: &BTreeMap<String, Arc<MemberObject>>) -> Plan {
    for (cluster, planned) in &mut plan.clusters {
        let writes = matches!(planned.action, Action::Create(_) | Action::Update { .. });
        if let (true, Some(object)) = (writes, applied.get(cluster)) {
            planned.generation = object.generation;
            planned.remote_status = object.remote_status.as_ref().map(|s| s.value());
        }
    }
    plan
}

/// Whether a pass that has been waiting for `waited` holds back its status write: it waits
/// only for members that are starting (not probed yet, or their cache still listing), which
/// soon bring the object back with everything known. A member that stopped answering is not
/// starting: the others' status is written at once.
pub fn defers_status(obs: &Observation, plan: &Plan, waited: Duration) -> bool {
    let starting = |cluster: &str| {
        obs.members
            .as_ref()
            .and_then(|members| members.get(cluster))
            .is_some_and(|view| {
                matches!(
                    (&view.reachability, &view.cache),
                    (Reachability::Unprobed, _)
                        | (
                            Reachability::Ready,
                            CacheState::Syncing | CacheState::Stopped
                        )
                )
            })
    };
    let mut waiting = plan
        .clusters
        .iter()
        .filter(|(_, planned)| matches!(planned.action, Action::Wait(_)))
        .peekable();
    plan.disposition == Disposition::Sync
        && waited < STATUS_DEFERRAL
        && waiting.peek().is_some()
        && waiting.all(|(cluster, _)| starting(cluster))
}

#[cfg(test)]
mod tests;
