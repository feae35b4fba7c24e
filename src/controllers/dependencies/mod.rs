//! Dependencies that follow their workload, the shell around [`crate::core::dependencies`]:
//! one [`DependencyHub`] shared by the sync workers of Deployments, ReplicaSets and Jobs. It
//! holds what the pure plan reads besides the workload's own observation:
//!
//! - the host's ConfigMaps, Secrets and ServiceAccounts, and which of them are federated
//!   explicitly, in the namespaces that have a workload propagating dependencies ([`host`]);
//! - in every member, a watch cache of the dependency objects (label
//!   `kubefed.io/dependency=true`) of each of the three kinds, started with the first such
//!   workload;
//! - for pull members, the dependency MemberWorks in their cluster namespaces, from the host's
//!   MemberWork cache ([`DependencyHub::attach_works`]), read as the same member objects;
//! - which workloads reference which dependency, so that a change on the host, in a member or
//!   in a pull member's MemberWork wakes exactly those workloads. The reference count itself
//!   lives in the members (one label per workload on each copy, or in a MemberWork's
//!   manifest), so nothing here needs to survive a restart.
//!
//! [`reconcile`] runs the dependency part of a workload's reconciliation; [`execute`] its
//! member writes, through the shared member write path.

pub mod execute;
pub mod host;
pub mod reconcile;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc};

use crate::core::dependencies::plan::{HostDependency, MemberDependencies};
use crate::core::dependencies::pull::kind_of_work_type;
use crate::core::dependencies::{DEPENDENCY_LABEL, DependencyKind, DependencyRef};
use crate::core::observation::CacheState;
use crate::core::pull::observed_member;
use crate::crds::member_work::TYPE_LABEL;
use crate::members::availability::TypeAvailability;
use crate::members::cache::{MemberCaches, MemberEvent, ObjectKey};
use crate::members::pool::{Member, MemberPool, Members};
use crate::members::works::{WorkCache, WorkEvent};
use crate::runtime::tasks::TaskSet;
use host::HostSources;

/// A workload: the name of its FederatedTypeConfig and its namespace and name.
pub type Dependent = (String, ObjectKey);

#[derive(Default)]
struct Index {
    /// (namespace, dependency) → the workloads that reference or hold it.
    by_dependency: HashMap<(String, DependencyRef), BTreeSet<Dependent>>,
    /// What each workload was last registered with.
    by_dependent: HashMap<Dependent, (String, BTreeSet<DependencyRef>)>,
    /// How to wake the workloads of each type.
    wakers: HashMap<String, mpsc::UnboundedSender<ObjectKey>>,
}

impl Index {
    fn wake(&self, dependents: impl IntoIterator<Item = Dependent>) {
        for (type_name, key) in dependents {
            if let Some(waker) = self.wakers.get(&type_name) {
                let _ = waker.send(key);
            }
        }
    }

    fn in_namespace(&self, namespace: &str) -> Vec<Dependent> {
        self.by_dependent
            .iter()
            .filter(|(_, (ns, _))| ns == namespace)
            .map(|(d, _)| d.clone())
            .collect()
    }

    fn namespaces(&self) -> BTreeSet<String> {
        self.by_dependent
            .values()
            .map(|(ns, _)| ns.clone())
            .collect()
    }
}

struct Inner {
    client: Client,
    host: HostSources,
    caches: BTreeMap<DependencyKind, MemberCaches>,
    pool: MemberPool,
    index: Mutex<Index>,
    /// The member caches' tasks, once started.
    running: Mutex<Option<TaskSet>>,
    /// The host's MemberWork cache (pull members), with the task its events wake workloads
    /// from.
    works: Mutex<Option<(WorkCache, TaskSet)>>,
}

/// What the sync workers of the workload kinds share about dependencies; cheap to clone.
#[derive(Clone)]
pub struct DependencyHub {
    inner: Arc<Inner>,
}

impl DependencyHub {
    /// A hub reading the host with `client` and members through `pool`.
    pub fn new(client: Client, pool: MemberPool, member_timeout: Duration) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            let on_change: host::OnChange = Arc::new(move |namespace, what| {
                if let Some(inner) = weak.upgrade() {
                    inner.changed(namespace, what);
                }
            });
            let caches = DependencyKind::ALL
                .into_iter()
                .map(|kind| {
                    let resource = kube::core::ApiResource {
                        group: String::new(),
                        version: "v1".into(),
                        api_version: "v1".into(),
                        kind: kind.as_str().into(),
                        plural: kind.plural().into(),
                    };
                    // Which member can serve which kind is reported on the workloads, not
                    // on the KubeFedCluster (the kinds are not federated types).
                    let caches = MemberCaches::new(
                        resource,
                        kind.plural(),
                        crate::core::observation::StatusCollection {
                            collect: false,
                            kind: crate::crds::federated::AggregateKind::Other,
                        },
                        TypeAvailability::default(),
                        member_timeout,
                    )
                    .with_selector(&format!("{DEPENDENCY_LABEL}=true"));
                    (kind, caches)
                })
                .collect();
            Inner {
                client: client.clone(),
                host: HostSources::new(client, on_change),
                caches,
                pool,
                index: Mutex::default(),
                running: Mutex::default(),
                works: Mutex::default(),
            }
        });
        DependencyHub { inner }
    }

    /// Reads pull members' copies from `works`; a change of a dependency MemberWork wakes
    /// the workloads of that dependency.
    pub fn attach_works(&self, works: WorkCache) {
        let mut rx = works.subscribe();
        let weak = Arc::downgrade(&self.inner);
        let mut tasks = TaskSet::default();
        tasks.spawn(async move {
            loop {
                let event = rx.recv().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                match event {
                    // A (re-)list: anything may have changed.
                    Ok(WorkEvent { type_name, .. }) if type_name.is_empty() => {
                        inner.changed_everywhere()
                    }
                    Ok(WorkEvent {
                        type_name,
                        event:
                            MemberEvent::Object {
                                namespace: Some(ns),
                                name,
                                ..
                            },
                    }) => {
                        if let Some(kind) = kind_of_work_type(&type_name) {
                            inner.changed(&ns, Some((kind, &name)));
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => inner.changed_everywhere(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        *self.inner.works.lock() = Some((works, tasks));
    }

    /// The host client (pull members' copies are MemberWorks on the host).
    pub fn host_client(&self) -> &Client {
        &self.inner.client
    }

    /// Whether any workload has been registered (the member caches run).
    pub fn active(&self) -> bool {
        self.inner.running.lock().is_some()
    }

    /// Whether `dependent` is registered.
    pub fn knows(&self, dependent: &Dependent) -> bool {
        self.inner.index.lock().by_dependent.contains_key(dependent)
    }

    /// Records what `dependent` references or holds in `namespace` (so their changes wake it,
    /// through `waker`), and makes sure everything it needs is watched.
    pub fn register(
        &self,
        dependent: Dependent,
        waker: mpsc::UnboundedSender<ObjectKey>,
        namespace: &str,
        refs: BTreeSet<DependencyRef>,
    ) {
        self.start_member_caches();
        self.inner.host.ensure(namespace);
        let mut index = self.inner.index.lock();
        index.wakers.insert(dependent.0.clone(), waker);
        if let Some((old_ns, old)) = index.by_dependent.remove(&dependent) {
            for dep in old {
                let key = (old_ns.clone(), dep);
                if let Some(set) = index.by_dependency.get_mut(&key) {
                    set.remove(&dependent);
                    if set.is_empty() {
                        index.by_dependency.remove(&key);
                    }
                }
            }
        }
        for dep in &refs {
            index
                .by_dependency
                .entry((namespace.to_string(), dep.clone()))
                .or_default()
                .insert(dependent.clone());
        }
        index
            .by_dependent
            .insert(dependent, (namespace.to_string(), refs));
    }

    /// Forgets a workload that is gone or no longer propagates dependencies; namespaces left
    /// without any are no longer watched.
    pub fn forget(&self, dependent: &Dependent) {
        let namespaces = {
            let mut index = self.inner.index.lock();
            if let Some((ns, refs)) = index.by_dependent.remove(dependent) {
                for dep in refs {
                    let key = (ns.clone(), dep);
                    if let Some(set) = index.by_dependency.get_mut(&key) {
                        set.remove(dependent);
                        if set.is_empty() {
                            index.by_dependency.remove(&key);
                        }
                    }
                }
            }
            index.namespaces()
        };
        self.inner.host.retain(&namespaces);
    }

    /// What the host has of `refs` in `namespace`; `None` while loading.
    pub fn host(
        &self,
        namespace: &str,
        refs: &BTreeSet<DependencyRef>,
    ) -> Option<BTreeMap<DependencyRef, HostDependency>> {
        self.inner.host.lookup(namespace, refs)
    }

    /// The dependency objects every member holds in `namespace`.
    pub fn members(
        &self,
        namespace: &str,
        members: &Members,
    ) -> BTreeMap<String, MemberDependencies> {
        let mut out = BTreeMap::new();
        let works = self.inner.works.lock().as_ref().map(|(w, _)| w.clone());
        for (cluster, member) in members.iter() {
            if member.pull {
                out.insert(
                    cluster.clone(),
                    pull_member(works.as_ref(), member, namespace),
                );
                continue;
            }
            let mut view = MemberDependencies {
                writable: member.ready_client().is_some(),
                ..Default::default()
            };
            for (kind, caches) in &self.inner.caches {
                let (state, objects) = caches.objects_in(cluster, namespace);
                view.caches.insert(*kind, state);
                for (name, object) in objects {
                    view.objects
                        .insert(DependencyRef { kind: *kind, name }, object);
                }
            }
            out.insert(cluster.clone(), view);
        }
        out
    }

    fn start_member_caches(&self) {
        let mut running = self.inner.running.lock();
        if running.is_some() {
            return;
        }
        let mut tasks = TaskSet::default();
        for (kind, caches) in &self.inner.caches {
            let (tx, mut rx) = mpsc::unbounded_channel();
            tasks.spawn(caches.clone().run(self.inner.pool.clone(), tx));
            let weak = Arc::downgrade(&self.inner);
            let kind = *kind;
            tasks.spawn(async move {
                while let Some(event) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else {
                        return;
                    };
                    match event {
                        MemberEvent::Object {
                            namespace: Some(ns),
                            name,
                            ..
                        } => inner.changed(&ns, Some((kind, &name))),
                        MemberEvent::Object { .. } => {}
                        MemberEvent::State { .. } => inner.changed_everywhere(),
                    }
                }
            });
        }
        *running = Some(tasks);
    }
}

/// A pull member's dependency objects in `namespace`: its dependency MemberWorks, as the
/// member objects they stand for.
fn pull_member(works: Option<&WorkCache>, member: &Member, namespace: &str) -> MemberDependencies {
    let mut view = MemberDependencies {
        pull: true,
        ..Default::default()
    };
    // Without a MemberWork cache nothing can be written there.
    let Some(works) = works else {
        return view;
    };
    view.writable = member.is_ready();
    let found = works.dependencies_in(&member.name, namespace);
    let state = match found {
        Some(_) => CacheState::Synced,
        None => CacheState::Syncing,
    };
    view.caches = DependencyKind::ALL
        .iter()
        .map(|k| (*k, state.clone()))
        .collect();
    let collection = crate::core::observation::StatusCollection {
        collect: false,
        kind: crate::crds::federated::AggregateKind::Other,
    };
    for work in found.into_iter().flatten() {
        let kind = work
            .labels()
            .get(TYPE_LABEL)
            .and_then(|t| kind_of_work_type(t));
        let name = work
            .spec
            .manifest
            .pointer("/metadata/name")
            .and_then(|n| n.as_str());
        let (Some(kind), Some(name)) = (kind, name) else {
            continue;
        };
        let dependency = DependencyRef {
            kind,
            name: name.to_string(),
        };
        view.objects.insert(
            dependency.clone(),
            Arc::new(observed_member(&work, collection)),
        );
        view.works.insert(dependency, work);
    }
    view
}

impl Inner {
    /// Wakes the workloads a change concerns.
    fn changed(&self, namespace: &str, what: Option<(DependencyKind, &str)>) {
        let index = self.index.lock();
        let dependents: Vec<Dependent> = match what {
            None => index.in_namespace(namespace),
            Some((kind, name)) => index
                .by_dependency
                .get(&(
                    namespace.to_string(),
                    DependencyRef {
                        kind,
                        name: name.to_string(),
                    },
                ))
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default(),
        };
        index.wake(dependents);
    }

    fn changed_everywhere(&self) {
        let index = self.index.lock();
        let all: Vec<Dependent> = index.by_dependent.keys().cloned().collect();
        index.wake(all);
    }
}
