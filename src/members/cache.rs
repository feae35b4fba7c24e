//! Watch caches of one target type in every ready member cluster.
//!
//! One label-filtered watch (`kubefed.io/managed=true`) per (member, type) feeds both drift
//! detection and status collection: the sync controller compares desired objects against this
//! cache instead of GETting them, so steady state costs no API calls at all. Events are mapped
//! to the federated object's key (same namespace and name) and sent to the controllers.

use super::pool::{MemberPool, Members};
use crate::crds::federated::MANAGED_LABEL;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, watcher::Event};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Annotation kubectl writes on client-side apply; often as large as the object itself and of
/// no use to the operator, so it is not kept in the cache.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Something happened in a member that the owner of `namespace/name` should look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A managed member object was created, changed or deleted.
    Object {
        cluster: String,
        namespace: Option<String>,
        name: String,
    },
    /// The cache of a member finished its initial list: every federated object should be
    /// checked against it once.
    Synced { cluster: String },
}

struct ClusterCache {
    epoch: u64,
    store: Store<DynamicObject>,
    /// Set once the first list completed; stays set across re-lists, which keep serving the
    /// previous contents until replaced.
    synced: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for ClusterCache {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The caches of one target type across the fleet.
#[derive(Clone)]
pub struct MemberCaches {
    resource: ApiResource,
    caches: Arc<RwLock<BTreeMap<String, ClusterCache>>>,
}

impl MemberCaches {
    pub fn new(resource: ApiResource) -> Self {
        MemberCaches {
            resource,
            caches: Arc::default(),
        }
    }

    /// The cached member object, or `None` when absent or the cache is not synced yet (see
    /// [`MemberCaches::is_synced`]).
    pub fn get(
        &self,
        cluster: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<DynamicObject>> {
        let caches = self.caches.read();
        let cache = caches.get(cluster)?;
        let mut key = ObjectRef::new_with(name, self.resource.clone());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        cache.store.get(&key)
    }

    /// Whether the member's cache holds a complete, current list.
    pub fn is_synced(&self, cluster: &str) -> bool {
        self.caches
            .read()
            .get(cluster)
            .is_some_and(|c| c.task.is_some() && c.synced.load(Ordering::Relaxed))
    }

    /// Clusters that have (or had, while offline) a cache.
    pub fn clusters(&self) -> Vec<String> {
        self.caches.read().keys().cloned().collect()
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
                (Some(client), _) => {
                    let cache = self.start(name, member.client_epoch, client.clone(), events);
                    caches.insert(name.clone(), cache);
                }
                (None, Some(cache)) => {
                    if let Some(task) = cache.task.take() {
                        task.abort();
                        tracing::debug!(cluster = %name, kind = %self.resource.kind, "member watch stopped");
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn start(
        &self,
        cluster: &str,
        epoch: u64,
        client: kube::Client,
        events: &mpsc::UnboundedSender<MemberEvent>,
    ) -> ClusterCache {
        let api: Api<DynamicObject> = Api::all_with(client, &self.resource);
        let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true"));
        let writer = reflector::store::Writer::new(self.resource.clone());
        let store = writer.as_reader();
        let synced = Arc::new(AtomicBool::new(false));
        let synced_flag = synced.clone();
        let cluster_name = cluster.to_string();
        let events = events.clone();
        let kind = self.resource.kind.clone();
        let task = tokio::spawn(async move {
            let stream = watcher(api, config)
                .modify(slim)
                .default_backoff()
                .reflect(writer);
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let sent = match event {
                    Ok(Event::Apply(obj) | Event::Delete(obj)) => {
                        events.send(MemberEvent::Object {
                            cluster: cluster_name.clone(),
                            namespace: obj.metadata.namespace.clone(),
                            name: obj.metadata.name.clone().unwrap_or_default(),
                        })
                    }
                    Ok(Event::InitDone) if !synced_flag.swap(true, Ordering::Relaxed) => events
                        .send(MemberEvent::Synced {
                            cluster: cluster_name.clone(),
                        }),
                    Ok(_) => Ok(()),
                    Err(err) => {
                        tracing::warn!(cluster = %cluster_name, %kind, %err, "member watch failed; retrying");
                        Ok(())
                    }
                };
                if sent.is_err() {
                    // Nobody listens any more: the type worker is gone.
                    return;
                }
            }
        });
        ClusterCache {
            epoch,
            store,
            synced,
            task: Some(task),
        }
    }
}

/// Drops what the operator never reads, so the cache costs little more than the fields that
/// matter.
fn slim(obj: &mut DynamicObject) {
    obj.metadata.managed_fields = None;
    if let Some(annotations) = obj.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}
