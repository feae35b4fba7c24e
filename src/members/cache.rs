//! Watch caches of one target type in every ready member cluster.
//!
//! One label-filtered watch (`kubefed.io/managed=true`) per (member, type) feeds both drift
//! detection and status collection: the sync controller compares desired objects against this
//! cache instead of GETting them, so steady state costs no API calls at all. Each member object
//! is kept as a small [`MemberObject`], not as the whole object, and equal ones (the same
//! federated object in most members) are one shared copy (`SUMMARIES`). Events are mapped to the
//! federated object's key (same namespace and name) and sent to the sync worker.
//!
//! Every member's cache has its own [`CacheState`], so one member that cannot serve the type
//! never holds up the others:
//! - before watching, the member's discovery is asked whether it serves the type; a type it
//!   does not serve is `NotServed` and discovery is asked again with a backoff (1 s doubling to
//!   30 s), so a CRD installed later is picked up without a restart;
//! - a list or watch refused with 403 is `Forbidden`, retried with the same backoff, so a
//!   permission granted later is picked up without a restart;
//! - a state change is logged once, on one line (details at debug level), and announced to the
//!   worker ([`MemberEvent::State`]) so every object shows it.

use super::availability::{TypeAvailability, TypeState};
use super::pool::{MemberPool, Members};
use super::served_object::ServedObject;
use crate::core::observation::{CacheState, MemberObject, StatusCollection};
use crate::crds::federated::MANAGED_LABEL;
use crate::runtime::backoff::{Backoff, BackoffPolicy};
use crate::runtime::interner::Interner;
use futures::StreamExt;
use kube::api::Api;
use kube::core::ApiResource;
use kube::runtime::watcher::{self, Event};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often a member that cannot serve the type is asked again.
pub const RECHECK: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(30));

/// Namespace and name of a member object (and of its federated object).
pub type ObjectKey = (Option<String>, String);

/// Something happened in a member that the sync worker should look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A managed member object was created, changed or deleted.
    Object {
        cluster: String,
        namespace: Option<String>,
        name: String,
    },
    /// The state of a member's cache changed (e.g. it synced, or the type became forbidden):
    /// every federated object should be looked at again.
    State { cluster: String },
}

#[derive(Default)]
struct CacheData {
    state: Option<CacheState>,
    objects: Objects,
    /// The mark of the last deletion event or re-list seen, so a write's answer knows when
    /// the cache may have removed the object it stands in for (see [`crate::core::own_writes`]).
    removals: u64,
}

/// The member objects of one cache by namespace, then name: a namespace's name is kept once,
/// not once per object, and an entry is a boxed name and a pointer (24 bytes in the table).
#[derive(Default, PartialEq)]
struct Objects(HashMap<Option<Box<str>>, Names>);

/// The objects of one namespace by name.
type Names = HashMap<Box<str>, Arc<MemberObject>>;

impl Objects {
    /// Stores `object`; returns what it replaces.
    fn insert(
        &mut self,
        (namespace, name): &ObjectKey,
        object: Arc<MemberObject>,
    ) -> Option<Arc<MemberObject>> {
        self.0
            .entry(namespace.as_deref().map(Box::from))
            .or_default()
            .insert(name.as_str().into(), object)
    }

    fn remove(&mut self, (namespace, name): &ObjectKey) {
        let namespace = namespace.as_deref().map(Box::from);
        if let Some(names) = self.0.get_mut(&namespace) {
            names.remove(name.as_str());
            if names.is_empty() {
                self.0.remove(&namespace);
            }
        }
    }

    fn get(&self, namespace: Option<&str>, name: &str) -> Option<&Arc<MemberObject>> {
        self.0.get(&namespace.map(Box::from))?.get(name)
    }

    fn in_namespace(
        &self,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = (&str, &Arc<MemberObject>)> {
        self.0
            .get(&namespace.map(Box::from))
            .into_iter()
            .flat_map(|names| names.iter().map(|(name, object)| (&**name, object)))
    }

    fn iter(&self) -> impl Iterator<Item = (ObjectKey, &Arc<MemberObject>)> {
        self.0.iter().flat_map(|(namespace, names)| {
            names.iter().map(|(name, object)| {
                (
                    (namespace.as_deref().map(str::to_string), name.to_string()),
                    object,
                )
            })
        })
    }

    fn contains(&self, (namespace, name): &ObjectKey) -> bool {
        self.get(namespace.as_deref(), name).is_some()
    }
}

struct ClusterCache {
    epoch: u64,
    data: Arc<RwLock<CacheData>>,
    task: Option<JoinHandle<()>>,
}

impl ClusterCache {
    /// The state a reader sees: a cache that is not watching is stopped.
    fn state(&self, data: &CacheData) -> CacheState {
        match (&self.task, &data.state) {
            (None, _) => CacheState::Stopped,
            (Some(_), None) => CacheState::Syncing,
            (Some(_), Some(state)) => state.clone(),
        }
    }
}

impl Drop for ClusterCache {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What one cache needs to know, shared by its watch task.
#[derive(Clone)]
struct Watched {
    resource: ApiResource,
    /// `configmaps`, `widgets.example.com`.
    type_name: String,
    collection: StatusCollection,
    availability: TypeAvailability,
    request_timeout: Duration,
    /// The label selector of the watch.
    selector: String,
}

/// The caches of one target type across the fleet.
#[derive(Clone)]
pub struct MemberCaches {
    watched: Watched,
    caches: Arc<RwLock<BTreeMap<String, ClusterCache>>>,
}

impl MemberCaches {
    pub fn new(
        resource: ApiResource,
        type_name: &str,
        collection: StatusCollection,
        availability: TypeAvailability,
        request_timeout: Duration,
    ) -> Self {
        MemberCaches {
            watched: Watched {
                resource,
                type_name: type_name.to_string(),
                collection,
                availability,
                request_timeout,
                selector: format!("{MANAGED_LABEL}=true"),
            },
            caches: Arc::default(),
        }
    }

    /// The same caches, watching the objects `selector` selects instead of every managed one.
    pub fn with_selector(mut self, selector: &str) -> Self {
        self.watched.selector = selector.to_string();
        self
    }

    /// The state of `cluster`'s cache and every object it holds in `namespace`.
    pub fn objects_in(
        &self,
        cluster: &str,
        namespace: &str,
    ) -> (CacheState, Vec<(String, Arc<MemberObject>)>) {
        let caches = self.caches.read();
        let Some(cache) = caches.get(cluster) else {
            return (CacheState::Stopped, Vec::new());
        };
        let data = cache.data.read();
        let state = cache.state(&data);
        let objects = data
            .objects
            .in_namespace(Some(namespace))
            .map(|(name, object)| (name.to_string(), object.clone()))
            .collect();
        (state, objects)
    }

    /// The state of `cluster`'s cache and its object `namespace/name`, if it holds one. A
    /// cache that is not watching keeps the objects it last saw.
    pub fn view(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> (CacheState, Option<Arc<MemberObject>>) {
        let caches = self.caches.read();
        let Some(cache) = caches.get(cluster) else {
            return (CacheState::Stopped, None);
        };
        let data = cache.data.read();
        let state = cache.state(&data);
        (state, data.objects.get(namespace, name).cloned())
    }

    /// The mark of the last deletion event or re-list `cluster`'s cache has seen (0 without
    /// a cache): it changes whenever the cache may have removed an object.
    pub fn removals(&self, cluster: &str) -> u64 {
        self.caches
            .read()
            .get(cluster)
            .map_or(0, |cache| cache.data.read().removals)
    }

    /// Keeps one watch per ready member until the pool's sender goes away: starts watches for
    /// members that became ready (or got a new client), stops them for members that are no
    /// longer ready (their last known objects stay cached, for stale status), and drops the
    /// cache of members that left the federation.
    pub async fn run(self, pool: MemberPool, events: mpsc::UnboundedSender<MemberEvent>) {
        let mut rx = pool.subscribe();
        loop {
            let members = rx.borrow_and_update().clone();
            self.align(&members, &events);
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn align(&self, members: &Members, events: &mpsc::UnboundedSender<MemberEvent>) {
        let mut caches = self.caches.write();
        caches.retain(|name, _| members.contains_key(name));
        for (name, member) in members.iter() {
            let current = caches.get_mut(name);
            match (member.ready_client(), current) {
                (Some(_), Some(cache))
                    if cache.epoch == member.client_epoch && cache.task.is_some() => {}
                (Some(client), current) => {
                    let data = current.map(|c| c.data.clone()).unwrap_or_default();
                    data.write().state = None;
                    let task = tokio::spawn(watch_member(
                        self.watched.clone(),
                        name.clone(),
                        client.clone(),
                        data.clone(),
                        events.clone(),
                    ));
                    caches.insert(
                        name.clone(),
                        ClusterCache {
                            epoch: member.client_epoch,
                            data,
                            task: Some(task),
                        },
                    );
                }
                (None, Some(cache)) => {
                    if let Some(task) = cache.task.take() {
                        task.abort();
                        tracing::debug!(cluster = %name, kind = %self.watched.resource.kind, "member watch stopped");
                        // A stopped cache no longer says anything new about the member.
                        cache.data.write().state = None;
                    }
                }
                (None, None) => {}
            }
        }
    }
}

fn key_of(obj: &ServedObject) -> ObjectKey {
    (
        obj.metadata.namespace.clone(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// Whether the member serves the type, from its discovery.
async fn served(client: &kube::Client, watched: &Watched) -> Result<bool, kube::Error> {
    let resource = &watched.resource;
    let list = async {
        if resource.group.is_empty() {
            client.list_core_api_resources(&resource.version).await
        } else {
            client.list_api_group_resources(&resource.api_version).await
        }
    };
    let list = match tokio::time::timeout(watched.request_timeout, list).await {
        Ok(Ok(list)) => list,
        Ok(Err(kube::Error::Api(status))) if status.code == 404 => return Ok(false),
        Ok(Err(err)) => return Err(err),
        Err(_) => {
            return Err(kube::Error::Service(
                format!("no answer within {:?}", watched.request_timeout).into(),
            ));
        }
    };
    Ok(list.resources.iter().any(|r| r.name == resource.plural))
}

/// The state a failed list or watch leaves a cache in (the host's member caches and a pull
/// agent's watches alike).
pub fn state_after(err: &watcher::Error, current: Option<&CacheState>) -> CacheState {
    let api = match err {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
        watcher::Error::WatchError(s) => Some(s.as_ref()),
        _ => None,
    };
    match api {
        Some(s) if s.code == 403 || s.code == 401 => CacheState::Forbidden(s.message.clone()),
        Some(s) if s.code == 404 => CacheState::NotServed,
        // The contents stay valid until the next list replaces them (e.g. after 410 Gone).
        _ if current == Some(&CacheState::Synced) => CacheState::Synced,
        _ => CacheState::Failing(match api {
            Some(s) => format!("{} {}", s.code, s.message),
            None => err.to_string(),
        }),
    }
}

struct Reporter<'a> {
    watched: &'a Watched,
    cluster: &'a str,
    data: &'a RwLock<CacheData>,
    events: &'a mpsc::UnboundedSender<MemberEvent>,
}

impl Reporter<'_> {
    /// Records a new state: logs and announces it only when it changed. Returns `false` when
    /// nobody listens any more (the worker is gone).
    fn set(&self, state: CacheState) -> bool {
        let previous = self.data.write().state.replace(state.clone());
        if previous.as_ref() == Some(&state) {
            return true;
        }
        let (cluster, type_name) = (self.cluster, &self.watched.type_name);
        match &state {
            CacheState::Synced if previous.is_some() => {
                tracing::info!(cluster, r#type = %type_name, "member cache synced again");
            }
            CacheState::Synced => {
                tracing::debug!(cluster, r#type = %type_name, "member cache synced");
            }
            CacheState::Forbidden(message) => {
                tracing::warn!(cluster, r#type = %type_name, "cannot watch the type: forbidden");
                tracing::debug!(cluster, r#type = %type_name, %message, "forbidden");
            }
            CacheState::NotServed => {
                tracing::warn!(cluster, r#type = %type_name, "cannot watch the type: not served");
            }
            CacheState::Failing(message) => {
                tracing::warn!(cluster, r#type = %type_name, "cannot watch the type: failing");
                tracing::debug!(cluster, r#type = %type_name, %message, "failing");
            }
            CacheState::Stopped | CacheState::Syncing => {}
        }
        let availability = match &state {
            CacheState::Synced => TypeState::Available,
            other => match other.lasting_problem() {
                Some(why) => TypeState::Unavailable(why),
                None => TypeState::Pending,
            },
        };
        self.watched
            .availability
            .set(cluster, type_name, availability);
        self.events
            .send(MemberEvent::State {
                cluster: cluster.to_string(),
            })
            .is_ok()
    }

    fn object(&self, key: &ObjectKey) -> bool {
        self.events
            .send(MemberEvent::Object {
                cluster: self.cluster.to_string(),
                namespace: key.0.clone(),
                name: key.1.clone(),
            })
            .is_ok()
    }
}

/// Watches one member until aborted (the member is no longer ready, or left).
async fn watch_member(
    watched: Watched,
    cluster: String,
    client: kube::Client,
    data: Arc<RwLock<CacheData>>,
    events: mpsc::UnboundedSender<MemberEvent>,
) {
    let reporter = Reporter {
        watched: &watched,
        cluster: &cluster,
        data: &data,
        events: &events,
    };
    let mut backoff = Backoff::new(RECHECK);
    loop {
        match served(&client, &watched).await {
            Ok(true) => {}
            Ok(false) => {
                if !reporter.set(CacheState::NotServed) {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            Err(err) => {
                if !reporter.set(CacheState::Failing(format!("discovery: {err}"))) {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        }
        let api: Api<ServedObject> = Api::all_with(client.clone(), &watched.resource);
        let config = watcher::Config::default().labels(&watched.selector);
        // No backoff combinator: this loop paces retries itself, and a failure's kind decides
        // what happens next.
        let stream = watcher::watcher(api, config);
        futures::pin_mut!(stream);
        let mut listing: Option<Objects> = None;
        while let Some(event) = stream.next().await {
            let alive = match event {
                Ok(Event::Init) => {
                    listing = Some(Objects::default());
                    true
                }
                Ok(Event::InitApply(obj)) => {
                    let key = key_of(&obj);
                    let object = member_object(obj, watched.collection);
                    listing
                        .get_or_insert_with(Objects::default)
                        .insert(&key, object);
                    true
                }
                Ok(Event::InitDone) => {
                    let listed = listing.take().unwrap_or_default();
                    backoff.reset();
                    let (was_synced, changed) = {
                        let mut data = data.write();
                        let changed = changed_keys(&data.objects, &listed);
                        data.objects = listed;
                        data.removals = next_removal();
                        (data.state == Some(CacheState::Synced), changed)
                    };
                    // After a first sync the state event brings every object back; after a
                    // re-list only what changed in between needs a look.
                    reporter.set(CacheState::Synced)
                        && (!was_synced || changed.iter().all(|key| reporter.object(key)))
                }
                Ok(Event::Apply(obj)) => {
                    let key = key_of(&obj);
                    let object = member_object(obj, watched.collection);
                    let previous = data.write().objects.insert(&key, object.clone());
                    // A change of nothing the summary keeps (a status that is not collected,
                    // its heartbeats, kubectl's last-applied annotation) changes nothing a
                    // pass reads: no pass for it. Interned, an equal summary is the same `Arc`,
                    // which `==` checks first.
                    previous.is_some_and(|p| p == object) || reporter.object(&key)
                }
                Ok(Event::Delete(obj)) => {
                    let key = key_of(&obj);
                    {
                        let mut data = data.write();
                        data.objects.remove(&key);
                        data.removals = next_removal();
                    }
                    reporter.object(&key)
                }
                Err(err) => {
                    let current = data.read().state.clone();
                    let next = state_after(&err, current.as_ref());
                    tracing::debug!(%cluster, r#type = %watched.type_name, %err, "member watch failed");
                    let not_served = next == CacheState::NotServed;
                    if !reporter.set(next) {
                        return;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                    if not_served {
                        // Ask discovery again rather than retrying a watch that cannot work.
                        break;
                    }
                    true
                }
            };
            if !alive {
                return;
            }
        }
    }
}

/// Removal marks are drawn from one counter for all caches, so a cache started anew never
/// repeats a mark an older one handed out.
fn next_removal() -> u64 {
    static REMOVALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    REMOVALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The member objects every cache holds, one copy of each distinct one: a federated object
/// placed on N members is N equal summaries (~500 B each for a Deployment), kept once.
static SUMMARIES: LazyLock<Interner<MemberObject>> = LazyLock::new(Interner::new);

/// The summary of a served object, shared with every equal one the caches hold. The write
/// path summarizes its answers here too: the watch event of the write then finds the same
/// copy, and a record of the answer keeps no second one alive.
pub fn member_object(obj: ServedObject, collection: StatusCollection) -> Arc<MemberObject> {
    SUMMARIES.intern(obj.into_member_object(collection))
}

/// Keys added, removed or changed between two listings.
fn changed_keys(old: &Objects, new: &Objects) -> Vec<ObjectKey> {
    let mut keys: Vec<ObjectKey> = new
        .iter()
        .filter(|((ns, name), v)| old.get(ns.as_deref(), name) != Some(*v))
        .map(|(k, _)| k)
        .chain(old.iter().map(|(k, _)| k).filter(|k| !new.contains(k)))
        .collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::federated::AggregateKind;
    use serde_json::json;

    fn object(data: &str) -> Arc<MemberObject> {
        Arc::new(MemberObject::from_object(
            &json!({"metadata": {"name": "x"}, "data": {"k": data}}),
            StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
        ))
    }

    fn key(name: &str) -> ObjectKey {
        (Some("ns".into()), name.into())
    }

    fn objects(entries: &[(&str, &str)]) -> Objects {
        let mut objects = Objects::default();
        for (name, data) in entries {
            objects.insert(&key(name), object(data));
        }
        objects
    }

    /// A Deployment as member `uid` serves it: only server-maintained fields differ.
    fn served(uid: &str, image: &str) -> ServedObject {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": uid, "resourceVersion": uid,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {MANAGED_LABEL: "true"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": image}]}}},
        }))
        .expect("an object")
    }

    #[test]
    fn members_holding_the_same_object_share_one_summary() {
        let collection = StatusCollection {
            collect: true,
            kind: AggregateKind::Other,
        };
        let one = member_object(served("uid-1", "nginx:1.25"), collection);
        let two = member_object(served("uid-2", "nginx:1.25"), collection);
        assert!(Arc::ptr_eq(&one, &two), "equal summaries are one copy");
        let other = member_object(served("uid-3", "nginx:1.26"), collection);
        assert!(!Arc::ptr_eq(&one, &other));
        assert_ne!(*one, *other, "a drifted member keeps its own summary");
    }

    /// The cache of config maps in one simulated member, and the events it announces.
    fn config_map_cache(
        member: &kubefed_sim::Cluster,
    ) -> (JoinHandle<()>, mpsc::UnboundedReceiver<MemberEvent>) {
        let watched = Watched {
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            type_name: "configmaps".into(),
            collection: StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
            availability: TypeAvailability::default(),
            request_timeout: Duration::from_secs(5),
            selector: format!("{MANAGED_LABEL}=true"),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(watch_member(
            watched,
            "member".into(),
            member.client(),
            Arc::default(),
            tx,
        ));
        (task, rx)
    }

    fn managed_config_map(name: &str, data: &str) -> k8s_openapi::api::core::v1::ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {MANAGED_LABEL: "true"}},
            "data": {"k": data},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_event_that_changes_no_summary_brings_no_pass() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{Patch, PatchParams, PostParams};
        let member = kubefed_sim::Cluster::new("member");
        let api: Api<ConfigMap> = Api::namespaced(member.client(), "default");
        for name in ["quiet", "changed"] {
            api.create(&PostParams::default(), &managed_config_map(name, "1"))
                .await
                .unwrap();
        }
        let (task, mut events) = config_map_cache(&member);
        assert!(matches!(
            events.recv().await,
            Some(MemberEvent::State { .. })
        ));
        // A new resourceVersion whose summary is the same: kubectl's last-applied annotation.
        let annotation = json!({"metadata": {"annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        api.patch("quiet", &PatchParams::default(), &Patch::Merge(&annotation))
            .await
            .unwrap();
        let data = json!({"data": {"k": "2"}});
        api.patch("changed", &PatchParams::default(), &Patch::Merge(&data))
            .await
            .unwrap();
        // One watch delivers in order: had the first change been announced, it came first.
        match events.recv().await {
            Some(MemberEvent::Object { name, .. }) => assert_eq!(name, "changed"),
            other => panic!("expected the changed object, got {other:?}"),
        }
        task.abort();
    }

    #[test]
    fn relist_reports_what_changed_in_between() {
        let old = objects(&[("same", "1"), ("changed", "1"), ("gone", "1")]);
        let new = objects(&[("same", "1"), ("changed", "2"), ("added", "1")]);
        assert_eq!(
            changed_keys(&old, &new),
            [key("added"), key("changed"), key("gone")]
        );
    }

    fn api_error(code: u16, message: &str) -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure(message, "x").with_code(code),
        )))
    }

    #[test]
    fn failures_map_to_states() {
        assert_eq!(
            state_after(&api_error(403, "nope"), None),
            CacheState::Forbidden("nope".into())
        );
        assert_eq!(
            state_after(&api_error(404, "x"), None),
            CacheState::NotServed
        );
        assert!(matches!(
            state_after(&api_error(500, "boom"), None),
            CacheState::Failing(m) if m == "500 boom"
        ));
        // A transient failure of a synced cache keeps serving what it has.
        assert_eq!(
            state_after(&api_error(500, "boom"), Some(&CacheState::Synced)),
            CacheState::Synced
        );
        assert_eq!(
            state_after(&api_error(403, "revoked"), Some(&CacheState::Synced)),
            CacheState::Forbidden("revoked".into())
        );
    }
}
