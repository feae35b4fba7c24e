//! The host's cache of MemberWorks: for pull members, what the sync workers observe instead of
//! a member watch. One watch over every cluster namespace serves all types and pull members;
//! its events wake the worker of the type they belong to, as member events do for push.

use crate::core::dependencies::pull::kind_of_work_type;
use crate::core::observation::{CacheState, MemberObject, StatusCollection};
use crate::core::plan::Entry;
use crate::core::pull::{awaiting_report, observed_member, reported_failure, work_name};
use crate::core::pull_drift::{new_repairs, remembered};
use crate::crds::member_work::{CLUSTER_LABEL, MemberWork, TYPE_LABEL, cluster_namespace};
use crate::members::cache::MemberEvent;
use crate::runtime::store::is_ready;
use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// A MemberWork changed: its type (FederatedTypeConfig name) and the member event it stands for.
#[derive(Clone, Debug)]
pub struct WorkEvent {
    pub type_name: String,
    pub event: MemberEvent,
}

/// The shared MemberWork cache (cheap to clone).
#[derive(Clone)]
pub struct WorkCache {
    store: Store<MemberWork>,
    events: broadcast::Sender<WorkEvent>,
    /// The drift repair count last seen per MemberWork (namespace, name) when above zero,
    /// for the host's DriftRepaired events; forgotten when the MemberWork is gone.
    drift_seen: Arc<Mutex<HashMap<(String, String), i64>>>,
    /// Bumped on every deletion event and (re-)list, so a create's answer knows when the
    /// cache may have removed the MemberWork it stands in for (see
    /// [`crate::core::own_writes`]).
    removals: Arc<AtomicU64>,
    /// The names of the dependency MemberWorks (see [`crate::core::dependencies::pull`]) by
    /// cluster namespace and namespace of the copy; the store decides which still exist.
    dependency_works: Arc<Mutex<DependencyWorks>>,
}

type DependencyWorks = HashMap<(String, String), HashSet<String>>;

impl WorkCache {
    /// The cache, and the watch that fills it (to be spawned; the cache is empty until then).
    pub fn new(host: Client) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (store, writer) = reflector::store();
        let (events, _) = broadcast::channel(4096);
        let api: Api<MemberWork> = Api::all(host);
        let config = watcher::Config::default().labels(TYPE_LABEL);
        let tx = events.clone();
        let drift_seen: Arc<Mutex<HashMap<(String, String), i64>>> = Arc::default();
        let seen = drift_seen.clone();
        let removals: Arc<AtomicU64> = Arc::default();
        let removed = removals.clone();
        let dependency_works: Arc<Mutex<DependencyWorks>> = Arc::default();
        let dependencies = dependency_works.clone();
        let task = async move {
            let mut stream = watcher(api, config)
                .default_backoff()
                .reflect(writer)
                .boxed();
            while let Some(item) = stream.next().await {
                if matches!(
                    item,
                    Ok(watcher::Event::Delete(_) | watcher::Event::Init | watcher::Event::InitDone)
                ) {
                    removed.fetch_add(1, Ordering::Relaxed);
                }
                match &item {
                    Ok(watcher::Event::Apply(work) | watcher::Event::InitApply(work)) => {
                        if let Some(key) = dependency_key(work) {
                            dependencies
                                .lock()
                                .entry(key)
                                .or_default()
                                .insert(work.name_any());
                        }
                    }
                    Ok(watcher::Event::Delete(work)) => {
                        if let Some(key) = dependency_key(work) {
                            let mut all = dependencies.lock();
                            if let Some(names) = all.get_mut(&key) {
                                names.remove(&work.name_any());
                                if names.is_empty() {
                                    all.remove(&key);
                                }
                            }
                        }
                    }
                    _ => {}
                }
                match &item {
                    Ok(watcher::Event::Delete(work)) => {
                        seen.lock().remove(&work_key(work));
                    }
                    // What is found when the watch (re)starts is the baseline.
                    Ok(watcher::Event::InitApply(work)) => {
                        if let Some(count) = remembered(drift_repairs(work)) {
                            seen.lock().entry(work_key(work)).or_insert(count);
                        }
                    }
                    _ => {}
                }
                let event = match item {
                    Ok(watcher::Event::Apply(work) | watcher::Event::Delete(work))
                    | Ok(watcher::Event::InitApply(work)) => object_event(&work),
                    // The first list (or a re-list) completed: every worker looks again.
                    Ok(watcher::Event::InitDone) => Some(WorkEvent {
                        type_name: String::new(),
                        event: MemberEvent::State {
                            cluster: String::new(),
                        },
                    }),
                    Ok(watcher::Event::Init) | Err(_) => None,
                };
                if let Some(event) = event {
                    let _ = tx.send(event);
                }
            }
        };
        (
            WorkCache {
                store,
                events,
                drift_seen,
                removals,
                dependency_works,
            },
            task,
        )
    }

    /// The count of deletion events and (re-)lists the cache has seen.
    pub fn removals(&self) -> u64 {
        self.removals.load(Ordering::Relaxed)
    }

    /// Events for the worker of `type_name` (every type gets the state events).
    pub fn subscribe(&self) -> broadcast::Receiver<WorkEvent> {
        self.events.subscribe()
    }

    /// The MemberWork of the federated object `namespace/name` of `type_name` for `cluster`.
    pub fn get(
        &self,
        cluster: &str,
        type_name: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Arc<MemberWork>> {
        let key =
            ObjectRef::new(&work_name(type_name, ns, name)).within(&cluster_namespace(cluster));
        self.store.get(&key)
    }

    /// The same view a push member's cache gives: the state of the cache and the member object
    /// the MemberWork stands for.
    pub fn view(
        &self,
        cluster: &str,
        type_name: &str,
        namespace: Option<&str>,
        name: &str,
        collection: StatusCollection,
    ) -> (CacheState, Option<Arc<MemberObject>>) {
        if !is_ready(&self.store) {
            return (CacheState::Syncing, None);
        }
        let object = self
            .get(cluster, type_name, namespace, name)
            .map(|w| Arc::new(observed_member(&w, collection)));
        (CacheState::Synced, object)
    }

    /// The dependency MemberWorks of `cluster` whose copies are in `namespace`; `None` while
    /// the cache is loading.
    pub fn dependencies_in(&self, cluster: &str, namespace: &str) -> Option<Vec<Arc<MemberWork>>> {
        if !is_ready(&self.store) {
            return None;
        }
        let cluster_ns = cluster_namespace(cluster);
        let names: Vec<String> = self
            .dependency_works
            .lock()
            .get(&(cluster_ns.clone(), namespace.to_string()))
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        Some(
            names
                .iter()
                .filter_map(|name| self.store.get(&ObjectRef::new(name).within(&cluster_ns)))
                .collect(),
        )
    }

    /// When the host wrote this MemberWork, while its agent has not reported on it yet.
    pub fn awaiting_report(
        &self,
        cluster: &str,
        type_name: &str,
        namespace: Option<&str>,
        name: &str,
        manager: &str,
    ) -> Option<jiff::Timestamp> {
        awaiting_report(
            self.get(cluster, type_name, namespace, name)?.as_ref(),
            manager,
        )
    }

    /// A failure the agent reported for the current spec of this MemberWork.
    pub fn reported_failure(
        &self,
        cluster: &str,
        type_name: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Entry> {
        reported_failure(self.get(cluster, type_name, namespace, name)?.as_ref())
    }

    /// Whether `work` reports drift repairs the host has not turned into an event yet (without
    /// remembering them: [`WorkCache::new_drift_repairs`] does).
    pub fn has_unreported_drift_repairs(&self, work: &MemberWork) -> bool {
        let seen = self.drift_seen.lock().get(&work_key(work)).copied();
        new_repairs(seen, drift_repairs(work)) > 0
    }

    /// How many drift repairs `work` reports beyond the count seen last time (remembering
    /// this one); see [`new_repairs`].
    pub fn new_drift_repairs(&self, work: &MemberWork) -> i64 {
        let reported = drift_repairs(work);
        let key = work_key(work);
        let mut seen = self.drift_seen.lock();
        let last = match remembered(reported) {
            Some(count) => seen.insert(key, count),
            None => seen.remove(&key),
        };
        new_repairs(last, reported)
    }
}

fn drift_repairs(work: &MemberWork) -> i64 {
    work.status.as_ref().map_or(0, |s| s.drift_repairs)
}

fn work_key(work: &MemberWork) -> (String, String) {
    (work.namespace().unwrap_or_default(), work.name_any())
}

/// Where a dependency MemberWork is indexed: its cluster namespace and its copy's namespace.
fn dependency_key(work: &MemberWork) -> Option<(String, String)> {
    kind_of_work_type(work.labels().get(TYPE_LABEL)?)?;
    let namespace = work
        .spec
        .manifest
        .pointer("/metadata/namespace")
        .and_then(|v| v.as_str())?;
    Some((work.namespace()?, namespace.to_string()))
}

/// The member event a MemberWork change stands for, with its type.
fn object_event(work: &MemberWork) -> Option<WorkEvent> {
    let labels = work.labels();
    let type_name = labels.get(TYPE_LABEL)?;
    let cluster = labels.get(CLUSTER_LABEL)?;
    let meta = work.spec.manifest.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Some(WorkEvent {
        type_name: type_name.clone(),
        event: MemberEvent::Object {
            cluster: cluster.clone(),
            namespace: field("namespace"),
            name: field("name").unwrap_or_default(),
        },
    })
}
