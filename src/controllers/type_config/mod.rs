//! The FederatedTypeConfig controller: runs one sync worker per enabled federated type,
//! restarts it when its config changes, stops it when disabled or deleted, and reports
//! `status.propagationController`.

pub mod plan;

use crate::controllers::dependencies::DependencyHub;
use crate::controllers::sync::context::{SyncContext, SyncSettings, SyncedType};
use crate::controllers::sync::worker;
use crate::core::dependencies::is_workload;
use crate::crds::federated_type_config::FederatedTypeConfig;
use crate::crds::{ConfigurationMode, default_target_types};
use crate::members::availability::TypeAvailability;
use crate::members::cache::MemberCaches;
use crate::members::pool::MemberPool;
use crate::members::works::WorkCache;
use crate::runtime::events::Publisher;
use crate::runtime::metrics::Metrics;
use crate::runtime::store::is_ready;
use crate::runtime::tasks::TaskSet;
use crate::runtime::{finalizer, status};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use plan::{WorkerPlan, type_config_status, worker_plan};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// Finalizer on FederatedTypeConfigs: the worker is stopped before the config goes away.
pub const TYPE_CONFIG_FINALIZER: &str = "core.kubefed.io/federated-type-config";

/// The FederatedNamespace type, whose placement constrains every namespaced type.
pub fn federated_namespace_resource() -> ApiResource {
    default_target_types()
        .into_iter()
        .find(|d| d.target.is_namespace())
        .map(|d| d.target.federated_api_resource().to_kube())
        .unwrap_or_else(|| ApiResource {
            group: "types.kubefed.io".into(),
            version: "v1beta1".into(),
            api_version: "types.kubefed.io/v1beta1".into(),
            kind: "FederatedNamespace".into(),
            plural: "federatednamespaces".into(),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum TypeConfigError {
    #[error("the FederatedTypeConfig watch ended")]
    WatchEnded,
}

/// What the controller needs to start workers.
#[derive(Clone)]
pub struct Dependencies {
    pub client: Client,
    pub namespace: String,
    pub sync: SyncSettings,
    pub pool: MemberPool,
    pub availability: TypeAvailability,
    pub metrics: Metrics,
    pub recorder: Recorder,
    /// Shared by the workers of the workload types, whose dependencies follow them.
    pub dependency_hub: DependencyHub,
}

struct Worker {
    generation: Option<i64>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// A worker whose owner goes away (the operator stops) ends with it.
impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Worker {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Runs until the FederatedTypeConfig watch ends (or the future is dropped, which stops every
/// worker with it).
pub async fn run(deps: Dependencies) -> Result<(), TypeConfigError> {
    let configs: Api<FederatedTypeConfig> = Api::namespaced(deps.client.clone(), &deps.namespace);
    let (store, writer) = reflector::store();
    let mut config_events = watcher(configs.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .boxed()
        .ready_chunks(64);

    // One FederatedNamespace cache shared by every worker.
    let ns_resource = federated_namespace_resource();
    let ns_writer = reflector::store::Writer::new(ns_resource.clone());
    let ns_store = ns_writer.as_reader();
    let (ns_tx, _) = broadcast::channel::<String>(1024);
    let ns_api: Api<DynamicObject> = Api::all_with(deps.client.clone(), &ns_resource);
    let mut tasks = TaskSet::default();
    {
        let ns_tx = ns_tx.clone();
        tasks.spawn(async move {
            let stream = watcher(ns_api, watcher::Config::default())
                .default_backoff()
                .reflect(ns_writer)
                .touched_objects();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if let Ok(obj) = event
                    && let Some(ns) = obj.metadata.namespace.clone()
                {
                    let _ = ns_tx.send(ns);
                }
            }
        });
    }

    // One MemberWork cache (pull members) shared by every worker.
    let (works, watch_works) = WorkCache::new(deps.client.clone());
    tasks.spawn(watch_works);
    // Pull members' copies of dependencies are MemberWorks too.
    deps.dependency_hub.attach_works(works.clone());

    let mut workers: BTreeMap<String, Worker> = BTreeMap::new();
    while config_events.next().await.is_some() {
        if !is_ready(&store) {
            continue;
        }
        align(
            &deps,
            &configs,
            &store,
            &mut workers,
            (&ns_store, &ns_resource),
            &ns_tx,
            &works,
        )
        .await;
    }
    drop(tasks);
    for (_, worker) in std::mem::take(&mut workers) {
        worker.stop().await;
    }
    Err(TypeConfigError::WatchEnded)
}

async fn align(
    deps: &Dependencies,
    configs: &Api<FederatedTypeConfig>,
    store: &Store<FederatedTypeConfig>,
    workers: &mut BTreeMap<String, Worker>,
    namespaces: (&Store<DynamicObject>, &ApiResource),
    ns_tx: &broadcast::Sender<String>,
    works: &WorkCache,
) {
    let ftcs = store.state();
    let namespaces_enabled = ftcs.iter().any(|f| {
        f.name_any() == plan::NAMESPACES_TYPE_CONFIG
            && f.metadata.deletion_timestamp.is_none()
            && f.spec.propagation == ConfigurationMode::Enabled
    });
    let names: Vec<String> = ftcs.iter().map(|f| f.name_any()).collect();
    let gone: Vec<String> = workers
        .keys()
        .filter(|n| !names.contains(n))
        .cloned()
        .collect();
    for name in gone {
        if let Some(w) = workers.remove(&name) {
            w.stop().await;
        }
    }
    for ftc in ftcs {
        let name = ftc.name_any();
        let plan = worker_plan(&ftc, deps.sync.scope, namespaces_enabled);
        let current = workers
            .get(&name)
            .is_some_and(|w| w.generation == ftc.metadata.generation);
        match (&plan, current) {
            (WorkerPlan::Run, true) => {}
            (WorkerPlan::Run, false) => {
                if let Some(old) = workers.remove(&name) {
                    old.stop().await;
                }
                workers.insert(
                    name.clone(),
                    start_worker(deps, &ftc, namespaces, ns_tx, works),
                );
            }
            (WorkerPlan::Stop(why), _) => {
                if let Some(old) = workers.remove(&name) {
                    tracing::info!(federatedtypeconfig = %name, %why, "stopping sync worker");
                    old.stop().await;
                }
            }
        }
        let finalized = if ftc.metadata.deletion_timestamp.is_some() {
            finalizer::remove(configs, &ftc, TYPE_CONFIG_FINALIZER).await
        } else {
            finalizer::add(configs, &ftc, TYPE_CONFIG_FINALIZER).await
        };
        if let Err(err) = finalized {
            // A conflict means the config changed; its watch event brings it back.
            tracing::debug!(federatedtypeconfig = %name, %err, "cannot update finalizers");
        }
        if ftc.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let next = type_config_status(&ftc, workers.contains_key(&name));
        if ftc.status.as_ref() != Some(&next) {
            let stored = ftc
                .status
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok());
            if let Err(err) = status::write_status(configs, &name, stored.as_ref(), &next).await {
                deps.metrics.count_error(
                    "type_config",
                    crate::runtime::error::ErrorCategory::of(&err),
                );
                tracing::warn!(federatedtypeconfig = %name, %err, "cannot write status");
            }
        }
    }
    // The member caches' findings are kept for the types that run.
    let running: BTreeSet<String> = workers.keys().cloned().collect();
    deps.availability.set_enabled(running);
}

fn start_worker(
    deps: &Dependencies,
    ftc: &FederatedTypeConfig,
    namespaces: (&Store<DynamicObject>, &ApiResource),
    ns_tx: &broadcast::Sender<String>,
    works: &WorkCache,
) -> Worker {
    let synced = SyncedType::from_type_config(ftc);
    tracing::info!(federatedtypeconfig = %synced.name, "starting sync worker");
    let caches = MemberCaches::new(
        synced.target.clone(),
        &synced.name,
        synced.collection(),
        deps.availability.clone(),
        deps.sync.member_timeout,
    );
    let ctx = SyncContext::new(
        deps.client.clone(),
        synced,
        deps.sync.clone(),
        deps.pool.clone(),
        caches,
        Some((namespaces.0.clone(), namespaces.1.clone())),
        deps.metrics.clone(),
        Publisher::new(deps.recorder.clone(), "Sync"),
    )
    .with_works(works.clone());
    let target = &ftc.spec.target_type;
    let ctx = if is_workload(&target.group, &target.kind) {
        ctx.with_dependencies(deps.dependency_hub.clone())
    } else {
        ctx
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(worker::run(Arc::new(ctx), ns_tx.subscribe(), async move {
        let _ = stop_rx.await;
    }));
    Worker {
        generation: ftc.metadata.generation,
        stop: Some(stop_tx),
        task,
    }
}
