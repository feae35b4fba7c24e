//! The sync worker of one federated type: a controller over the federated objects, woken by
//! host changes, by member watch events (drift), by a member cache changing state (synced,
//! forbidden, not served), by members becoming (un)ready and by FederatedNamespace changes.
//! Which host and member events bring an object back is decided in [`super::wakeups`].
//!
//! No wake-up is lost: every object is reconciled when the worker starts, and a
//! reconciliation that has to wait for something (an unsynced cache, an unprobed member, the
//! member list) also asks to be looked at again after a short delay, whether or not the event
//! it waits for arrives.

use super::context::{SyncContext, key_of};
use super::reconcile::{error_policy, reconcile};
use super::wakeups;
use crate::crds::Scope;
use crate::crds::stored_federated::StoredFederated;
use crate::members::cache::MemberEvent;
use crate::runtime::tasks::TaskSet;
use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{PredicateConfig, WatchStreamExt};
use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// What a reconciliation depends on in the federated object itself: everything but `status`
/// (the spec is covered by `generation`).
fn sync_inputs(obj: &StoredFederated) -> Option<u64> {
    let meta = &obj.metadata;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &meta.uid,
        meta.generation,
        &meta.labels,
        &meta.annotations,
        &meta.finalizers,
        meta.deletion_timestamp.as_ref().map(|t| t.0.as_second()),
    )
        .hash(&mut h);
    Some(h.finish())
}

fn channel_stream<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Runs until `stop` resolves. `namespace_changes` carries the names of namespaces whose
/// FederatedNamespace changed.
pub async fn run(
    ctx: Arc<SyncContext>,
    mut namespace_changes: broadcast::Receiver<String>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let federated = ctx.synced.federated.clone();
    let api: Api<StoredFederated> = match ctx.settings.scope {
        Scope::Namespaced => Api::namespaced_with(
            ctx.host.clone(),
            &ctx.settings.federation_namespace,
            &federated,
        ),
        Scope::Cluster => Api::all_with(ctx.host.clone(), &federated),
    };
    // The host watch feeds the controller only when something the sync reads changed: the
    // operator's own status writes come back as watch events and must not trigger another
    // pass (which would also bypass the coalescing of member events).
    let writer = reflector::store::Writer::new(federated.clone());
    let store = writer.as_reader();
    let host_changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(crate::runtime::store::lean)
        .reflect(writer)
        .applied_objects()
        .inspect({
            let ctx = ctx.clone();
            move |obj| {
                if let Ok(obj) = obj {
                    ctx.seen(&key_of(obj), obj.metadata.resource_version.as_deref());
                }
            }
        })
        .predicate_filter(sync_inputs, PredicateConfig::default())
        .filter(wakeups::host_events(ctx.clone()));
    let controller = Controller::for_stream_with(host_changes, store.clone(), federated.clone())
        .with_config(
            controller::Config::default()
                .concurrency(ctx.settings.concurrency)
                .debounce(ctx.settings.debounce),
        );

    // Everything spawned here ends with the worker, however it ends.
    let mut tasks = TaskSet::default();
    let (member_tx, member_rx) = mpsc::unbounded_channel();
    let (object_tx, object_rx) = mpsc::unbounded_channel::<ObjectRef<StoredFederated>>();
    // Objects the reconciliations themselves ask to look at again.
    if let Some(mut again) = ctx.take_look_again() {
        let object_tx = object_tx.clone();
        let federated = federated.clone();
        let ctx = ctx.clone();
        tasks.spawn(async move {
            while let Some((namespace, name)) = again.recv().await {
                // Whoever asks (e.g. a dependency that changed) knows more than the
                // observation may show: the next pass runs in full.
                ctx.forget_progress(&(namespace.clone(), name.clone()));
                let mut key = ObjectRef::new_with(&name, federated.clone());
                if let Some(ns) = namespace {
                    key = key.within(&ns);
                }
                if object_tx.send(key).is_err() {
                    return;
                }
            }
        });
    }
    let (all_tx, all_rx) = mpsc::unbounded_channel::<()>();
    // Pull members' MemberWorks wake their objects as member watches do for push members.
    if let Some(works) = &ctx.works {
        let mut rx = works.subscribe();
        let member_tx = member_tx.clone();
        let type_name = ctx.synced.name.clone();
        tasks.spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) if e.type_name == type_name => e.event,
                    Ok(e) if e.type_name.is_empty() => e.event,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => MemberEvent::State {
                        cluster: String::new(),
                    },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if member_tx.send(event).is_err() {
                    return;
                }
            }
        });
    }
    tasks.spawn(ctx.caches.clone().run(ctx.pool.clone(), member_tx));

    tasks.spawn(wakeups::forward_member_events(
        ctx.clone(),
        member_rx,
        object_tx.clone(),
        all_tx.clone(),
        store.clone(),
    ));

    // Readiness changes affect the status (ClusterNotReady) and placement of everything; a
    // member that answers again gets every write that failed or waited meanwhile.
    {
        let all_tx = all_tx.clone();
        let pool = ctx.pool.clone();
        let mut rx = ctx.pool.subscribe();
        tasks.spawn(async move {
            let readiness = |members: &crate::members::pool::Members| {
                let view = members
                    .iter()
                    .map(|(n, m)| {
                        let probed = m.health.is_some();
                        let identity = (m.client.is_some(), m.kube_system_uid.clone());
                        let ready = (m.is_ready(), m.unresponsive, probed);
                        (n.clone(), (ready, m.labels.clone(), identity))
                    })
                    .collect::<BTreeMap<_, _>>();
                (pool.is_loaded(), view)
            };
            let mut last = readiness(&rx.borrow_and_update());
            while rx.changed().await.is_ok() {
                let now = readiness(&rx.borrow_and_update());
                if now != last {
                    last = now;
                    if all_tx.send(()).is_err() {
                        return;
                    }
                }
            }
        });
    }

    // A FederatedNamespace change re-places every object in that namespace.
    {
        let store: Store<StoredFederated> = store.clone();
        tasks.spawn(async move {
            loop {
                match namespace_changes.recv().await {
                    Ok(namespace) => {
                        for obj in store.state() {
                            if obj.metadata.namespace.as_deref() == Some(namespace.as_str())
                                && object_tx
                                    .send(ObjectRef::from_obj_with(obj.as_ref(), federated.clone()))
                                    .is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if all_tx.send(()).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    let kind = ctx.synced.federated.kind.clone();
    tracing::info!(%kind, "sync worker started");
    controller
        .reconcile_on(channel_stream(object_rx))
        .reconcile_all_on(channel_stream(all_rx))
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(%err, "sync reconcile error");
            }
        })
        .await;
    drop(tasks);
    tracing::info!(%kind, "sync worker stopped");
}
