//! What one sync worker (one federated type) shares across its reconciliations.

use super::member_writes::MemberWrites;
use super::passes::PassesUnderWay;
use crate::controllers::dependencies::DependencyHub;
use crate::core::observation::{CacheState, MemberView, Observation, StatusCollection};
use crate::core::own_writes::{self, CacheNow, OwnWrite};
use crate::core::plan::{Entry, PlanSettings, TargetInfo};
use crate::core::pull::WorkTarget;
use crate::core::settle::{self, Settled};
use crate::crds::federated::AggregateKind;
use crate::crds::federated_type_config::FederatedTypeConfig;
use crate::crds::member_work::{MemberWork, WorkResource, cluster_namespace};
use crate::crds::stored_federated::StoredFederated;
use crate::crds::{ConfigurationMode, Scope};
use crate::members::cache::{MemberCaches, ObjectKey};
use crate::members::pool::{Member, MemberPool, Members};
use crate::members::works::WorkCache;
use crate::runtime::backoff::{BackoffPolicy, Backoffs};
use crate::runtime::events::Publisher;
use crate::runtime::metrics::Metrics;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Field manager of every member write, so server-side apply tracks exactly the fields the
/// operator sets.
pub const MEMBER_FIELD_MANAGER: &str = "kubefed";

/// How failed reconciliations of one object are retried: 1 s, doubling, at most 5 minutes.
pub const RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(300));

/// How long a reconciliation waits for a member's answer before it goes on without it (the
/// request continues, and its end brings the object back). A healthy API server answers in
/// milliseconds; a member that has answered none of the requests sent to it for as long
/// ([`crate::members::pool::UNRESPONSIVE_AFTER`]) is treated as not answering until its next
/// successful probe, so it cannot hold up the other members and objects. A request that only
/// waited behind others for the member's request limit does not count against the member.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// How soon an object waiting for something to settle (an unsynced cache, an unprobed member,
/// lists still loading) is looked at again if no event brings it back first.
pub const WAIT_RECHECK: Duration = Duration::from_secs(2);

pub fn key_of(obj: &StoredFederated) -> ObjectKey {
    (
        obj.metadata.namespace.clone(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// How long a pass waits for the host cache to show its last status write before it goes on
/// without it (see [`SyncContext::store_behind`]).
pub const STORE_CATCH_UP_LIMIT: Duration = Duration::from_secs(5);

/// The resourceVersion of each object's last status write and when it was made, until the
/// host watch delivers it. resourceVersions are compared for equality only, as the API
/// allows; watch events come in order, so once the write shows up the cache is not behind it.
#[derive(Debug, Default)]
pub struct StatusWrites {
    pending: HashMap<ObjectKey, (String, Instant)>,
    /// The version of each object the host watch delivered last, and when: a write's watch
    /// event can be read before the write's answer is, and the write is then not behind.
    /// Only recent deliveries matter (the answer follows within moments), so entries older
    /// than [`STORE_CATCH_UP_LIMIT`] are pruned whenever the map has doubled since the last
    /// pruning: it holds about the objects that changed lately, not every object ever seen.
    delivered: HashMap<ObjectKey, (String, Instant)>,
    /// The size of `delivered` after its last pruning.
    delivered_pruned: usize,
}

/// `delivered` is not pruned below this size.
const DELIVERED_PRUNE_FLOOR: usize = 1024;

impl StatusWrites {
    pub fn wrote(&mut self, key: &ObjectKey, resource_version: Option<&str>, now: Instant) {
        let Some(version) = resource_version else {
            return;
        };
        if self
            .delivered
            .get(key)
            .is_some_and(|(delivered, _)| delivered == version)
        {
            self.pending.remove(key);
        } else {
            self.pending.insert(key.clone(), (version.to_string(), now));
        }
    }

    pub fn seen(&mut self, key: &ObjectKey, resource_version: Option<&str>, now: Instant) {
        let Some(version) = resource_version else {
            return;
        };
        if self
            .pending
            .get(key)
            .is_some_and(|(last, _)| last.as_str() == version)
        {
            self.pending.remove(key);
        }
        match self.delivered.get_mut(key) {
            Some((last, at)) => {
                version.clone_into(last);
                *at = now;
            }
            None => {
                self.delivered
                    .insert(key.clone(), (version.to_string(), now));
            }
        }
        if self.delivered.len() > 2 * self.delivered_pruned.max(DELIVERED_PRUNE_FLOOR) {
            self.delivered
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < STORE_CATCH_UP_LIMIT);
            self.delivered_pruned = self.delivered.len();
        }
    }

    /// Whether a copy of `key` at `resource_version` may predate the last write: the write
    /// was not delivered yet. A relist can skip the version itself, so after
    /// [`STORE_CATCH_UP_LIMIT`] the cache is taken as caught up.
    pub fn behind(
        &mut self,
        key: &ObjectKey,
        resource_version: Option<&str>,
        now: Instant,
    ) -> bool {
        let Some((last, at)) = self.pending.get(key) else {
            return false;
        };
        if Some(last.as_str()) != resource_version
            && now.saturating_duration_since(*at) < STORE_CATCH_UP_LIMIT
        {
            return true;
        }
        self.pending.remove(key);
        false
    }

    pub fn forget(&mut self, key: &ObjectKey) {
        self.pending.remove(key);
        self.delivered.remove(key);
    }
}

/// The type a worker syncs.
#[derive(Clone, Debug)]
pub struct SyncedType {
    /// FederatedTypeConfig name, e.g. `deployments.apps`: how messages name the type.
    pub name: String,
    pub target: ApiResource,
    pub target_namespaced: bool,
    pub federated: ApiResource,
    /// Whether `status.clusters[].remoteStatus` is collected.
    pub collect_status: bool,
    /// Which totals `status.aggregate` carries for this type.
    pub aggregate: AggregateKind,
}

impl SyncedType {
    /// The type a FederatedTypeConfig enables.
    pub fn from_type_config(ftc: &FederatedTypeConfig) -> Self {
        let spec = &ftc.spec;
        SyncedType {
            name: ftc.name_any(),
            target: spec.target_type.to_kube(),
            target_namespaced: spec.target_type.is_namespaced(),
            federated: spec.federated_type.to_kube(),
            collect_status: spec.status_collection == Some(ConfigurationMode::Enabled),
            aggregate: AggregateKind::of(&spec.target_type.group, &spec.target_type.kind),
        }
    }

    /// What the plan needs to know about the type, with the federation's settings.
    pub fn plan_settings(
        &self,
        scope: Scope,
        federation_namespace: &str,
        adopt_resources: bool,
    ) -> PlanSettings {
        PlanSettings {
            scope,
            federation_namespace: federation_namespace.to_string(),
            adopt_resources,
            target: TargetInfo {
                group: self.target.group.clone(),
                api_version: self.target.api_version.clone(),
                kind: self.target.kind.clone(),
                resource: self.name.clone(),
                namespaced: self.target_namespaced,
            },
            aggregate: self.aggregate,
        }
    }

    pub fn is_namespace(&self) -> bool {
        self.target.group.is_empty() && self.target.kind == "Namespace"
    }

    pub fn collection(&self) -> StatusCollection {
        StatusCollection {
            collect: self.collect_status,
            kind: self.aggregate,
        }
    }
}

/// Settings of the sync controller, from the KubeFedConfig and flags.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub scope: Scope,
    pub federation_namespace: String,
    pub adopt_resources: bool,
    /// Time allowed for one member request before it counts as timed out.
    pub member_timeout: Duration,
    pub concurrency: u16,
    /// Window in which triggers for one object are merged into one reconciliation (and one
    /// status write).
    pub debounce: Duration,
    /// UID of the host's `kube-system` namespace, to recognise the host among members.
    pub host_kube_system_uid: Option<String>,
}

pub struct SyncContext {
    pub host: Client,
    pub synced: SyncedType,
    pub settings: SyncSettings,
    pub plan_settings: PlanSettings,
    pub pool: MemberPool,
    pub caches: MemberCaches,
    /// FederatedNamespaces, for the namespace placement rule (Cluster scope, namespaced types).
    pub federated_namespaces: Option<(Store<DynamicObject>, ApiResource)>,
    pub metrics: Metrics,
    pub events: Publisher,
    /// Consecutive failed reconciliations per object, for exponential backoff.
    pub retries: Backoffs<ObjectKey>,
    /// Objects to look at again (e.g. a request that was not answered in time ended).
    look_again: mpsc::UnboundedSender<ObjectKey>,
    looked_again: Mutex<Option<mpsc::UnboundedReceiver<ObjectKey>>>,
    /// For workload types: the dependencies that follow the workloads.
    pub dependencies: Option<DependencyHub>,
    /// The MemberWorks of pull members, when the federation has the MemberWork type.
    pub works: Option<WorkCache>,
    /// What the last pass of each object left behind (see [`Progress`]).
    progress: Mutex<HashMap<ObjectKey, Progress>>,
    /// Each object's last status write, until the host cache shows it.
    written: Mutex<StatusWrites>,
    /// The member writes under way, and their answers the caches do not show yet.
    pub writes: MemberWrites,
    /// The passes under way, and the member events that came meanwhile.
    pub passes: PassesUnderWay,
    /// The member names of the last settled record, which the next records share.
    member_names: Mutex<Arc<[String]>>,
}

/// A write of one object to one member under way; dropping it ends it.
pub struct Writing {
    ctx: Arc<SyncContext>,
    key: ObjectKey,
    cluster: String,
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.ctx.writes.end(&self.key, &self.cluster);
    }
}

/// What the last pass of an object left behind for the next one.
#[derive(Debug)]
enum Progress {
    /// It settled: the next pass stops if it observes this.
    Settled(Box<Settled>),
    /// It waited for starting members (and held back its status) since then.
    Waiting(Instant),
}

impl SyncContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: Client,
        synced: SyncedType,
        settings: SyncSettings,
        pool: MemberPool,
        caches: MemberCaches,
        federated_namespaces: Option<(Store<DynamicObject>, ApiResource)>,
        metrics: Metrics,
        events: Publisher,
    ) -> Self {
        let plan_settings = synced.plan_settings(
            settings.scope,
            &settings.federation_namespace,
            settings.adopt_resources,
        );
        let (look_again, looked_again) = mpsc::unbounded_channel();
        SyncContext {
            host,
            synced,
            settings,
            plan_settings,
            pool,
            caches,
            federated_namespaces,
            metrics,
            events,
            retries: Backoffs::new(RETRY),
            look_again,
            looked_again: Mutex::new(Some(looked_again)),
            dependencies: None,
            works: None,
            progress: Mutex::default(),
            written: Mutex::default(),
            writes: MemberWrites::default(),
            passes: PassesUnderWay::default(),
            member_names: Mutex::new(Arc::from(Vec::new())),
        }
    }

    /// The same context, propagating the dependencies of its (workload) objects.
    pub fn with_dependencies(mut self, hub: DependencyHub) -> Self {
        self.dependencies = Some(hub);
        self
    }

    /// The same context, observing pull members through their MemberWorks.
    pub fn with_works(mut self, works: WorkCache) -> Self {
        self.works = Some(works);
        self
    }

    /// The MemberWorks' API in a pull member's cluster namespace.
    pub fn work_api(&self, cluster: &str) -> Api<MemberWork> {
        Api::namespaced(self.host.clone(), &cluster_namespace(cluster))
    }

    /// Which MemberWork `cluster` gets for an object, and the rules its agent applies.
    pub fn work_target(&self, cluster: &str, obj: &StoredFederated) -> WorkTarget {
        let target = &self.synced.target;
        WorkTarget {
            cluster: cluster.to_string(),
            type_name: self.synced.name.clone(),
            resource: WorkResource {
                group: target.group.clone(),
                version: target.version.clone(),
                kind: target.kind.clone(),
                plural: target.plural.clone(),
                namespaced: self.synced.target_namespaced,
            },
            adopt: self.settings.adopt_resources,
            retain_replicas: obj.retain_replicas(),
            delete_options: obj
                .annotations()
                .get(crate::crds::federated::DELETE_OPTION_ANNOTATION)
                .cloned(),
            collect_status: self.synced.collect_status,
        }
    }

    /// A sender of [`SyncContext::look_again`] requests, for what wakes objects from outside.
    pub fn waker(&self) -> mpsc::UnboundedSender<ObjectKey> {
        self.look_again.clone()
    }

    /// Asks for another reconciliation of `key` (in full: what asks knows something the
    /// observation may not show).
    pub fn look_again(&self, key: ObjectKey) {
        self.forget_progress(&key);
        // Without a worker listening nobody needs it.
        let _ = self.look_again.send(key);
    }

    /// The stream of [`SyncContext::look_again`] requests, for the worker (once).
    pub fn take_look_again(&self) -> Option<mpsc::UnboundedReceiver<ObjectKey>> {
        self.looked_again.lock().take()
    }

    /// Whether the last pass of `key` settled and `obs` is what it left behind: only the
    /// operator's own writes happened since, so this pass has nothing to do.
    pub fn unchanged(
        &self,
        key: &ObjectKey,
        uid: Option<&str>,
        obs: &Observation,
        agent_failures: &BTreeMap<String, Entry>,
    ) -> bool {
        let mut progress = self.progress.lock();
        let Some(Progress::Settled(settled)) = progress.get_mut(key) else {
            return false;
        };
        if settle::unchanged(settled, obs, uid, agent_failures) {
            return true;
        }
        // The pass runs in full and records anew; a failure on its way must not leave the
        // old record behind.
        progress.remove(key);
        false
    }

    /// Whether `cluster`'s cache shows what the last settled pass of `key` left there (see
    /// [`Settled::expects`]): a member event of it then brings nothing to do. Never for a
    /// cache that is not synced, nor for a pull member observed through its MemberWork.
    pub fn shows_settled(&self, key: &ObjectKey, cluster: &str) -> bool {
        let pull = self.works.is_some()
            && self
                .pool
                .snapshot()
                .get(cluster)
                .is_none_or(|member| member.pull);
        if pull {
            return false;
        }
        let namespace = key.0.as_deref().filter(|_| self.synced.target_namespaced);
        let (state, shown) = self.caches.view(cluster, namespace, &key.1);
        if state != CacheState::Synced {
            return false;
        }
        match self.progress.lock().get(key) {
            Some(Progress::Settled(settled)) => settled.expects(cluster, shown.as_ref()),
            _ => false,
        }
    }

    /// Whether the federated object of `key` (its `meta`) is what its last settled pass left
    /// (see [`Settled::expects_federated`]): a host event of it then brings nothing to do.
    pub fn federated_shows_settled(&self, key: &ObjectKey, meta: &kube::api::ObjectMeta) -> bool {
        match self.progress.lock().get(key) {
            Some(Progress::Settled(settled)) => settled.expects_federated(meta),
            _ => false,
        }
    }

    /// The removal marks of the members' caches, read before a pass writes (see
    /// [`crate::core::own_writes`]).
    pub fn removal_marks(&self, members: &Members) -> BTreeMap<String, u64> {
        members
            .iter()
            .map(|(name, member)| (name.clone(), self.removal_mark(name, member)))
            .collect()
    }

    fn removal_mark(&self, name: &str, member: &Member) -> u64 {
        match &self.works {
            Some(works) if member.pull => works.removals(),
            _ => self.caches.removals(name),
        }
    }

    /// Shows in `obs` the `recorded` answers (read before the caches were, see
    /// [`MemberWrites::recorded`]) that still stand in for the members' caches.
    pub fn overlay_own_writes(
        &self,
        recorded: Option<&BTreeMap<String, OwnWrite>>,
        obs: &mut Observation,
        now: &Members,
    ) {
        let (Some(recorded), Some(views)) = (recorded, obs.members.as_mut()) else {
            return;
        };
        let seen: &BTreeMap<String, MemberView> = views;
        let standing = own_writes::standing(recorded, |cluster| {
            let (view, member) = (seen.get(cluster)?, now.get(cluster)?);
            Some(CacheNow {
                state: &view.cache,
                object: view.object.as_ref(),
                removals: self.removal_mark(cluster, member),
            })
        });
        for (cluster, object) in standing {
            if let Some(view) = views.get_mut(&cluster) {
                view.object = Some(object);
            }
        }
    }

    /// Records that a pass of `key` settled (`Some`) or did not (`None`).
    pub fn set_settled(&self, key: &ObjectKey, settled: Option<Settled>) {
        let mut progress = self.progress.lock();
        match settled {
            Some(mut settled) => {
                settled.share_names(&mut self.member_names.lock());
                progress.insert(key.clone(), Progress::Settled(Box::new(settled)));
            }
            None => {
                progress.remove(key);
            }
        }
    }

    /// How long `key` has been waiting for starting members, counting from now on its
    /// first waiting pass.
    pub fn waiting_for(&self, key: &ObjectKey) -> Duration {
        let mut progress = self.progress.lock();
        match progress.get(key) {
            Some(Progress::Waiting(since)) => since.elapsed(),
            _ => {
                progress.insert(key.clone(), Progress::Waiting(Instant::now()));
                Duration::ZERO
            }
        }
    }

    /// Records the resourceVersion a status write of `key` left.
    pub fn wrote(&self, key: &ObjectKey, resource_version: Option<&str>) {
        self.written
            .lock()
            .wrote(key, resource_version, Instant::now());
    }

    /// The host watch delivered `key` at `resource_version`.
    pub fn seen(&self, key: &ObjectKey, resource_version: Option<&str>) {
        self.written
            .lock()
            .seen(key, resource_version, Instant::now());
    }

    /// Whether the host cache's copy of `key` (at `resource_version`) may be older than the
    /// last status write (see [`StatusWrites::behind`]).
    pub fn store_behind(&self, key: &ObjectKey, resource_version: Option<&str>) -> bool {
        self.written
            .lock()
            .behind(key, resource_version, Instant::now())
    }

    /// Forgets what the last pass of `key` left behind: the next one runs in full. The
    /// answers to its creates stay (they are facts about the members, dropped when the caches
    /// show them or the object goes): forgetting the answer of a create that came after its
    /// pass would have the next pass create the object again.
    pub fn forget_progress(&self, key: &ObjectKey) {
        self.progress.lock().remove(key);
        self.written.lock().forget(key);
    }

    /// Forgets everything about `key` (the object is gone). Its writes still under way end
    /// unrecorded.
    pub fn forget_object(&self, key: &ObjectKey) {
        self.forget_progress(key);
        self.writes.forget(key);
    }

    /// Starts a write of `key` to `cluster`, unless one is still under way (a pass that went
    /// on without its answer): then `None`, and the member gets no second request for the same
    /// object before the first is answered.
    pub fn start_write(self: &Arc<Self>, key: &ObjectKey, cluster: &str) -> Option<Writing> {
        self.writes.start(key, cluster).then(|| Writing {
            ctx: self.clone(),
            key: key.clone(),
            cluster: cluster.to_string(),
        })
    }

    /// Whether `member` is the host cluster itself.
    pub fn is_host(&self, member: &Member) -> bool {
        matches!(
            (&self.settings.host_kube_system_uid, &member.kube_system_uid),
            (Some(host), Some(uid)) if host == uid
        )
    }

    /// The federated objects' API in the object's namespace.
    pub fn host_api(&self, namespace: Option<&str>) -> Api<StoredFederated> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.host.clone(), ns, &self.synced.federated),
            None => Api::all_with(self.host.clone(), &self.synced.federated),
        }
    }

    /// The target type's API in a member.
    pub fn member_api<K>(&self, client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<
                DynamicType = kube::core::ApiResource,
                Scope = kube::core::DynamicResourceScope,
            >,
    {
        match namespace {
            Some(ns) if self.synced.target_namespaced => {
                Api::namespaced_with(client, ns, &self.synced.target)
            }
            _ => Api::all_with(client, &self.synced.target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectKey {
        (Some("ns".into()), "web".into())
    }

    #[test]
    fn status_writes_are_behind_until_the_watch_delivers_them() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        assert!(!writes.behind(&key(), Some("5"), t0), "nothing written");
        writes.wrote(&key(), Some("17"), t0);
        // Any other version may be older: versions are opaque, so "5" and "99" alike.
        assert!(writes.behind(&key(), Some("5"), t0));
        assert!(writes.behind(&key(), Some("99"), t0));
        assert!(writes.behind(&key(), None, t0));
        // The cache shows the write itself.
        assert!(!writes.behind(&key(), Some("17"), t0));
        assert!(
            !writes.behind(&key(), Some("99"), t0),
            "forgotten once seen"
        );
    }

    #[test]
    fn the_watch_delivering_the_write_clears_it_and_later_versions_are_not_behind() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        writes.wrote(&key(), Some("a7"), t0);
        writes.seen(&key(), Some("a6"), t0);
        assert!(writes.behind(&key(), Some("a6"), t0), "an older event");
        writes.seen(&key(), Some("a7"), t0);
        assert!(!writes.behind(&key(), Some("b1"), t0), "a later change");
    }

    /// The watch can deliver a write before its answer arrives: the pass after it must not
    /// wait for an event that came already.
    #[test]
    fn a_write_delivered_before_its_answer_is_not_behind() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        writes.seen(&key(), Some("16"), t0);
        writes.seen(&key(), Some("17"), t0);
        writes.wrote(&key(), Some("17"), t0);
        // Someone's change after it: the cache is not behind the write.
        writes.seen(&key(), Some("18"), t0);
        assert!(!writes.behind(&key(), Some("18"), t0));
        // A later write whose event has not come yet still is.
        writes.wrote(&key(), Some("19"), t0);
        assert!(writes.behind(&key(), Some("18"), t0));
    }

    #[test]
    fn only_recent_deliveries_are_kept() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        let object = |i: usize| (Some("ns".to_string()), format!("o{i}"));
        for i in 0..2 * DELIVERED_PRUNE_FLOOR {
            writes.seen(&object(i), Some("1"), t0);
        }
        assert_eq!(writes.delivered.len(), 2 * DELIVERED_PRUNE_FLOOR);
        let later = t0 + STORE_CATCH_UP_LIMIT;
        writes.seen(&object(usize::MAX), Some("1"), later);
        assert_eq!(writes.delivered.len(), 1, "the old deliveries are pruned");
        // A recent one still counts.
        writes.wrote(&object(usize::MAX), Some("1"), later);
        assert!(!writes.behind(&object(usize::MAX), Some("2"), later));
    }

    #[test]
    fn a_write_never_delivered_stops_holding_passes_back() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        writes.wrote(&key(), Some("17"), t0);
        assert!(writes.behind(&key(), Some("12"), t0 + STORE_CATCH_UP_LIMIT / 2));
        assert!(!writes.behind(&key(), Some("12"), t0 + STORE_CATCH_UP_LIMIT));
        assert!(!writes.behind(&key(), Some("12"), t0), "and is forgotten");
    }

    #[test]
    fn forget_and_unversioned_writes() {
        let t0 = Instant::now();
        let mut writes = StatusWrites::default();
        writes.wrote(&key(), None, t0);
        assert!(
            !writes.behind(&key(), Some("1"), t0),
            "no version, nothing to wait for"
        );
        writes.wrote(&key(), Some("3"), t0);
        writes.forget(&key());
        assert!(!writes.behind(&key(), Some("1"), t0));
    }
}
