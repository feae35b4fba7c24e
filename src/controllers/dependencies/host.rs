//! The host's side of dependencies: in each namespace that has a workload propagating its
//! dependencies (and only there, so host memory follows what is federated, not the host's
//! Secrets), one watch each of ConfigMaps, Secrets and ServiceAccounts, and of
//! FederatedConfigMaps, FederatedSecrets and FederatedServiceAccounts (names only) to tell
//! what is federated explicitly. The watches stop when the namespace has no such workload.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use crate::core::dependencies::DependencyKind;
use crate::core::dependencies::DependencyRef;
use crate::core::dependencies::plan::HostDependency;
use crate::core::observation::without_server_fields;
use crate::crds::federated::{FEDERATED_GROUP, FEDERATED_VERSION};
use crate::members::raw_object::RawObject;
use crate::runtime::tasks::TaskSet;

/// Called with a namespace and what changed there (`None`: anything may have).
pub type OnChange = Arc<dyn Fn(&str, Option<(DependencyKind, &str)>) + Send + Sync>;

/// One watched kind: the dependency kind itself, or its federated type.
type SourceKey = (DependencyKind, bool);

#[derive(Clone, Debug, PartialEq)]
enum SourceState {
    Loading,
    Ready,
    /// Listing is refused (the message).
    Unreadable(String),
}

#[derive(Debug)]
struct Source {
    state: SourceState,
    objects: HashMap<String, Arc<Value>>,
}

struct NamespaceWatch {
    sources: Arc<RwLock<HashMap<SourceKey, Source>>>,
    _tasks: TaskSet,
}

/// The watches of every namespace with a workload propagating its dependencies.
pub struct HostSources {
    client: Client,
    on_change: OnChange,
    namespaces: Mutex<HashMap<String, NamespaceWatch>>,
}

fn resource(kind: DependencyKind, federated: bool) -> ApiResource {
    if federated {
        let kind_name = kind.federated_kind();
        ApiResource {
            group: FEDERATED_GROUP.into(),
            version: FEDERATED_VERSION.into(),
            api_version: format!("{FEDERATED_GROUP}/{FEDERATED_VERSION}"),
            plural: format!("federated{}", kind.plural()),
            kind: kind_name,
        }
    } else {
        ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: kind.as_str().into(),
            plural: kind.plural().into(),
        }
    }
}

/// A dependency kind's API in one cluster and namespace.
pub fn dependency_api(client: Client, namespace: &str, kind: DependencyKind) -> Api<RawObject> {
    Api::namespaced_with(client, namespace, &resource(kind, false))
}

impl HostSources {
    pub fn new(client: Client, on_change: OnChange) -> Self {
        HostSources {
            client,
            on_change,
            namespaces: Mutex::default(),
        }
    }

    /// Starts watching `namespace` unless it is watched already.
    pub fn ensure(&self, namespace: &str) {
        let mut namespaces = self.namespaces.lock();
        if namespaces.contains_key(namespace) {
            return;
        }
        let sources: Arc<RwLock<HashMap<SourceKey, Source>>> = Arc::default();
        let mut tasks = TaskSet::default();
        for kind in DependencyKind::ALL {
            for federated in [false, true] {
                sources.write().insert(
                    (kind, federated),
                    Source {
                        state: SourceState::Loading,
                        objects: HashMap::new(),
                    },
                );
                let api: Api<DynamicObject> = Api::namespaced_with(
                    self.client.clone(),
                    namespace,
                    &resource(kind, federated),
                );
                tasks.spawn(watch_source(
                    api,
                    sources.clone(),
                    (kind, federated),
                    namespace.to_string(),
                    self.on_change.clone(),
                ));
            }
        }
        tracing::debug!(%namespace, "watching dependencies on the host");
        namespaces.insert(
            namespace.to_string(),
            NamespaceWatch {
                sources,
                _tasks: tasks,
            },
        );
    }

    /// Stops watching the namespaces not in `keep`.
    pub fn retain(&self, keep: &BTreeSet<String>) {
        self.namespaces.lock().retain(|ns, _| keep.contains(ns));
    }

    /// What the host has of `refs` in `namespace`; `None` while a watch it needs is loading.
    pub fn lookup(
        &self,
        namespace: &str,
        refs: &BTreeSet<DependencyRef>,
    ) -> Option<BTreeMap<DependencyRef, HostDependency>> {
        let namespaces = self.namespaces.lock();
        let sources = namespaces.get(namespace)?.sources.read();
        let mut out = BTreeMap::new();
        for dep in refs {
            let federated = sources.get(&(dep.kind, true))?;
            let own = sources.get(&(dep.kind, false))?;
            let found = match (&federated.state, &own.state) {
                (SourceState::Loading, _) | (_, SourceState::Loading) => return None,
                (_, _) if federated.objects.contains_key(&dep.name) => HostDependency::Federated,
                (_, SourceState::Unreadable(why)) => HostDependency::Unreadable(format!(
                    "cannot read {} in namespace {namespace} on the host: {why}",
                    dep.kind.plural()
                )),
                _ => match own.objects.get(&dep.name) {
                    Some(object) => HostDependency::Found(object.clone()),
                    None => HostDependency::Missing,
                },
            };
            out.insert(dep.clone(), found);
        }
        Some(out)
    }
}

/// Keeps one source current until aborted.
async fn watch_source(
    api: Api<DynamicObject>,
    sources: Arc<RwLock<HashMap<SourceKey, Source>>>,
    key: SourceKey,
    namespace: String,
    on_change: OnChange,
) {
    let (kind, federated) = key;
    // Only the names of federated objects are needed.
    let keep = move |obj: &DynamicObject| -> Arc<Value> {
        if federated {
            Arc::new(Value::Null)
        } else {
            Arc::new(without_server_fields(
                &serde_json::to_value(obj).unwrap_or_default(),
            ))
        }
    };
    let set_state = |state: SourceState, objects: Option<HashMap<String, Arc<Value>>>| {
        let mut all = sources.write();
        let Some(source) = all.get_mut(&key) else {
            return false;
        };
        let changed =
            source.state != state || objects.as_ref().is_some_and(|o| *o != source.objects);
        source.state = state;
        if let Some(objects) = objects {
            source.objects = objects;
        }
        changed
    };
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listing: Option<HashMap<String, Arc<Value>>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing = Some(HashMap::new()),
            Ok(Event::InitApply(obj)) => {
                listing
                    .get_or_insert_with(HashMap::new)
                    .insert(obj.name_any(), keep(&obj));
            }
            Ok(Event::InitDone) => {
                set_state(SourceState::Ready, Some(listing.take().unwrap_or_default()));
                on_change(&namespace, None);
            }
            Ok(Event::Apply(obj)) => {
                let name = obj.name_any();
                if let Some(source) = sources.write().get_mut(&key) {
                    source.objects.insert(name.clone(), keep(&obj));
                }
                on_change(&namespace, Some((kind, &name)));
            }
            Ok(Event::Delete(obj)) => {
                let name = obj.name_any();
                if let Some(source) = sources.write().get_mut(&key) {
                    source.objects.remove(&name);
                }
                on_change(&namespace, Some((kind, &name)));
            }
            Err(err) => {
                let status = match &err {
                    watcher::Error::InitialListFailed(kube::Error::Api(s))
                    | watcher::Error::WatchStartFailed(kube::Error::Api(s))
                    | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref()),
                    watcher::Error::WatchError(s) => Some(s.as_ref()),
                    _ => None,
                };
                let next = match status {
                    // The type is not installed (e.g. no FederatedSecret CRD): nothing of
                    // it exists.
                    Some(s) if s.code == 404 => Some((SourceState::Ready, Some(HashMap::new()))),
                    Some(s) if s.code == 403 || s.code == 401 => {
                        Some((SourceState::Unreadable(s.message.clone()), None))
                    }
                    _ => None,
                };
                tracing::debug!(%namespace, kind = kind.as_str(), federated, %err, "host dependency watch failed");
                if let Some((state, objects)) = next
                    && set_state(state, objects)
                {
                    on_change(&namespace, None);
                }
            }
        }
    }
}
