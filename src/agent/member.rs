//! The agent's member side: one watch of managed objects per target type its MemberWorks
//! name (started when the first MemberWork of a type appears, stopped with the last), whose
//! events wake the agent, and the write path to the member.

use super::wake::Wake;
use super::{AgentConfig, FIELD_MANAGER};
use crate::core::observation::CacheState;
use crate::crds::federated::MANAGED_LABEL;
use crate::crds::member_work::WorkResource;
use crate::members::cache::state_after;
use crate::members::write::{MemberWriter, TimedFrom};
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

struct Watch {
    store: Store<DynamicObject>,
    resource: kube::core::ApiResource,
    /// Where the watch stands: Syncing, Synced, or why the member refuses it.
    state: Arc<Mutex<CacheState>>,
    task: JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The managed objects of one type, as last seen.
pub struct MemberCache<'a>(&'a Watch);

impl MemberCache<'_> {
    /// The object `namespace/name`, as JSON.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut key = ObjectRef::new_with(name, self.0.resource.clone());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        let obj = self.0.store.get(&key)?;
        serde_json::to_value(obj.as_ref()).ok()
    }
}

/// The member watches, by type.
pub struct MemberWatches {
    client: Client,
    wake: mpsc::UnboundedSender<Wake>,
    watches: HashMap<WorkResource, Watch>,
}

impl MemberWatches {
    pub fn new(client: Client, wake: mpsc::UnboundedSender<Wake>) -> Self {
        MemberWatches {
            client,
            wake,
            watches: HashMap::new(),
        }
    }

    /// Watches exactly the types in `wanted`.
    pub fn keep(&mut self, wanted: HashSet<WorkResource>) {
        self.watches.retain(|r, _| wanted.contains(r));
        for resource in wanted {
            if self.watches.contains_key(&resource) {
                continue;
            }
            let ar = resource.to_kube();
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let writer = reflector::store::Writer::new(ar.clone());
            let store = writer.as_reader();
            let wake = self.wake.clone();
            let state = Arc::new(Mutex::new(CacheState::Syncing));
            let config = watcher::Config::default().labels(&format!("{MANAGED_LABEL}=true"));
            let task = tokio::spawn({
                let (state, store, watched) = (state.clone(), store.clone(), resource.clone());
                watcher(api, config)
                    .default_backoff()
                    .reflect(writer)
                    .for_each(move |event| {
                        let ready = crate::runtime::store::is_ready(&store);
                        let mut current = state.lock();
                        let next = match &event {
                            Ok(_) if ready => CacheState::Synced,
                            Ok(_) => CacheState::Syncing,
                            Err(err) => state_after(err, Some(&current)),
                        };
                        let wakes = match &event {
                            // A change of state concerns every MemberWork of the type.
                            _ if next != *current => Some(Wake::Type(watched.clone())),
                            Ok(event) => Wake::of_member_event(&watched, event),
                            Err(_) => None,
                        };
                        *current = next;
                        if let Some(w) = wakes {
                            let _ = wake.send(w);
                        }
                        async {}
                    })
            });
            self.watches.insert(
                resource,
                Watch {
                    store,
                    resource: ar,
                    state,
                    task,
                },
            );
        }
    }

    /// The cache of a type once its first list completed; else where its watch stands
    /// (still syncing, or why the member refuses it).
    pub fn cache(&self, resource: &WorkResource) -> Result<MemberCache<'_>, CacheState> {
        let Some(watch) = self.watches.get(resource) else {
            return Err(CacheState::Stopped);
        };
        let state = watch.state.lock().clone();
        if state.problem().is_some() {
            return Err(state);
        }
        if crate::runtime::store::is_ready(&watch.store) {
            Ok(MemberCache(watch))
        } else {
            Err(CacheState::Syncing)
        }
    }
}

/// The write path to the member for objects of `resource` in `namespace`.
pub fn writer(
    config: &AgentConfig,
    resource: &WorkResource,
    namespace: Option<&str>,
) -> MemberWriter {
    let ar = resource.to_kube();
    let api = match namespace {
        Some(ns) if resource.namespaced => Api::namespaced_with(config.member.clone(), ns, &ar),
        _ => Api::all_with(config.member.clone(), &ar),
    };
    MemberWriter {
        api,
        manager: FIELD_MANAGER.to_string(),
        timeout: config.timeout,
        timed_from: TimedFrom::Call,
    }
}
