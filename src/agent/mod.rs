//! `kubefed-agent`: the member side of a pull member. It watches its MemberWorks on the host
//! (its own cluster namespace, the only place its host credential reaches) and the managed
//! objects in its member cluster, and on every change of either brings each member object in
//! line with its MemberWork through the same rules the host applies to push members
//! ([`crate::core::pull::agent_decide`]); it reports each object's status back on the
//! MemberWork and renews its heartbeat Lease.
//!
//! When the host cannot be reached the watch of MemberWorks keeps retrying and its cache keeps
//! the last known MemberWorks: member objects are kept, drift is still repaired from them, and
//! nothing is deleted (deletions only follow a MemberWork the host marked deleted).

mod heartbeat;
mod member;
mod wake;

use crate::core::dependencies::pull::orphan_patch;
use crate::core::observation::{MemberObject, StatusCollection};
use crate::core::pull::{
    AgentAction, AgentDecision, WrittenReport, agent_cannot_watch, agent_decide, agent_status,
    reported_base,
};
use crate::core::pull_pause::agent_decide_paused;
use crate::crds::federated::AggregateKind;
use crate::crds::member_work::{AGENT_FINALIZER, MemberWork, WorkResource, cluster_namespace};
use crate::runtime::backoff::{Backoff, BackoffPolicy};
use crate::runtime::{finalizer, status};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use member::MemberWatches;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use wake::{Wake, Woken};

pub use heartbeat::Heartbeat;

/// Field manager of the agent's member writes: the same as the operator's, so an object
/// moved between push and pull keeps one owner of its fields.
pub const FIELD_MANAGER: &str = "kubefed";

/// How soon a pass that failed somewhere runs again (when nothing else brings it): 5 s,
/// doubling while passes keep failing, at most a minute, so a member that refuses a write or
/// a host that stays away is not retried (and logged) every few seconds forever.
const RETRY: BackoffPolicy = BackoffPolicy::new(Duration::from_secs(5), Duration::from_secs(60));

/// Changes of either side within this window are handled in one pass.
const SETTLE: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the MemberWork watch ended")]
    WatchEnded,
}

/// What the agent runs with.
#[derive(Clone)]
pub struct AgentConfig {
    /// The KubeFedCluster name of this member.
    pub cluster: String,
    /// Client for the host, with the credential scoped to the cluster namespace.
    pub host: Client,
    /// Client for this member cluster.
    pub member: Client,
    /// How often the Lease is renewed; the Lease says it is valid for this plus `grace`.
    pub heartbeat: Duration,
    pub grace: Duration,
    /// Time allowed for one request.
    pub timeout: Duration,
}

/// Counters of what the agent did, for tests and logs.
#[derive(Clone, Default)]
pub struct AgentStats {
    inner: Arc<parking_lot::Mutex<Counts>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passes: u64,
    pub applies: u64,
    pub drift_repairs: u64,
    pub deletes: u64,
    pub status_writes: u64,
    pub host_failures: u64,
    /// MemberWorks the agent keeps state for (drift count, last report), after the last pass.
    pub remembered: u64,
    /// MemberWorks handled, summed over passes (a pass handles those its wake-ups concern).
    pub handled: u64,
}

impl AgentStats {
    pub fn get(&self) -> Counts {
        *self.inner.lock()
    }

    fn bump(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.inner.lock());
    }
}

/// Runs the agent until its MemberWork watch ends (never, in practice: it retries).
pub async fn run(config: AgentConfig, stats: AgentStats) -> Result<(), AgentError> {
    let namespace = cluster_namespace(&config.cluster);
    let works_api: Api<MemberWork> = Api::namespaced(config.host.clone(), &namespace);
    let (store, writer) = reflector::store();
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<Wake>();
    let host_watch = {
        let wake = wake_tx.clone();
        watcher(works_api.clone(), watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .for_each(move |event| {
                match &event {
                    Ok(event) => {
                        if let Some(w) = Wake::of_host_event(event) {
                            let _ = wake.send(w);
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%err, "MemberWork watch failing; keeping the last known MemberWorks");
                    }
                }
                async {}
            })
    };
    let host_watch = tokio::spawn(host_watch);
    let heartbeat = tokio::spawn(Heartbeat::new(&config, stats.clone(), wake_tx.clone()).run());
    let _guard = Guard(vec![host_watch, heartbeat]);
    let mut members = MemberWatches::new(config.member.clone(), wake_tx);
    let mut memory: HashMap<String, Remembered> = HashMap::new();
    let mut backoff = Backoff::new(RETRY);
    let mut retry: Option<Duration> = None;
    loop {
        let mut woken = tokio::select! {
            w = wake_rx.recv() => match w {
                Some(w) => {
                    let mut woken = Woken::default();
                    woken.add(w);
                    woken
                }
                None => return Err(AgentError::WatchEnded),
            },
            () = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => Woken::all(),
        };
        tokio::time::sleep(SETTLE).await;
        while let Ok(w) = wake_rx.try_recv() {
            woken.add(w);
        }
        if store.wait_until_ready().await.is_err() {
            return Err(AgentError::WatchEnded);
        }
        let failed = pass(
            &config,
            &works_api,
            &store,
            &mut members,
            &mut memory,
            &stats,
            &woken,
        )
        .await;
        retry = if failed {
            Some(backoff.next_delay())
        } else {
            backoff.reset();
            None
        };
    }
}

struct Guard(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Guard {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Member writes one pass has in flight at once: a burst of MemberWorks (a new namespace's
/// objects, a restart) is applied a few at a time instead of one request after another, and
/// the member is never sent more than this at once by the agent.
const IN_FLIGHT: usize = 4;

/// One pass over the MemberWorks `woken` concerns; `true` when something failed and should
/// be retried (by a pass over all of them).
async fn pass(
    config: &AgentConfig,
    works_api: &Api<MemberWork>,
    store: &Store<MemberWork>,
    members: &mut MemberWatches,
    memory: &mut HashMap<String, Remembered>,
    stats: &AgentStats,
    woken: &Woken,
) -> bool {
    stats.bump(|c| c.passes += 1);
    let works = store.state();
    members.keep(works.iter().map(|w| w.spec.resource.clone()).collect());
    // MemberWorks deleted without a release (their finalizer removed by hand, the cluster
    // namespace deleted) leave nothing behind.
    let live: HashSet<String> = works.iter().map(|w| w.name_any()).collect();
    memory.retain(|key, _| live.contains(key));
    let selected: Vec<_> = works
        .into_iter()
        .filter(|w| woken.selects(w, || manifest_key(&w.spec.manifest)))
        .collect();
    stats.bump(|c| c.handled += selected.len() as u64);
    // Namespaces first: the objects in them need them.
    let (namespaces, objects): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|w| is_namespace(&w.spec.resource));
    let mut failed = false;
    // After one host request fails, the rest of the pass leaves the host alone (it is
    // probably unreachable) and only looks after the member.
    let host_down = AtomicBool::new(false);
    let members = &*members;
    for batch in [namespaces, objects] {
        let shared = Shared {
            config,
            works_api,
            memory,
            host_down: &host_down,
            stats,
        };
        let handled: Vec<Handled> = futures::stream::iter(batch)
            .map(|work| handle(&shared, members, work))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for h in handled {
            failed |= h.failed;
            match h.remembered {
                Some(remembered) => memory.insert(h.key, remembered),
                None => memory.remove(&h.key),
            };
        }
    }
    stats.bump(|c| c.remembered = memory.len() as u64);
    failed
}

/// What every MemberWork of one pass shares.
struct Shared<'a> {
    config: &'a AgentConfig,
    works_api: &'a Api<MemberWork>,
    memory: &'a HashMap<String, Remembered>,
    host_down: &'a AtomicBool,
    stats: &'a AgentStats,
}

/// What the agent keeps of one MemberWork from pass to pass.
#[derive(Clone, Debug, Default)]
struct Remembered {
    /// Drift repairs counted so far.
    drift_repairs: i64,
    /// The last report written.
    written: Option<WrittenReport>,
}

/// What handling one MemberWork in a pass left.
struct Handled {
    key: String,
    /// What to remember; `None` once the MemberWork is released.
    remembered: Option<Remembered>,
    failed: bool,
}

/// Brings one member object in line with its MemberWork and reports it when the report
/// changed.
async fn handle(shared: &Shared<'_>, members: &MemberWatches, work: Arc<MemberWork>) -> Handled {
    let key = work.name_any();
    let mut remembered = shared
        .memory
        .get(&key)
        .cloned()
        .unwrap_or_else(|| Remembered {
            drift_repairs: work.status.as_ref().map_or(0, |s| s.drift_repairs),
            written: None,
        });
    let (namespace, name) = manifest_key(&work.spec.manifest);
    let host_down = shared.host_down.load(Ordering::Relaxed);
    let outcome = match members.cache(&work.spec.resource) {
        Ok(cache) => {
            let live = cache.get(namespace.as_deref(), &name);
            let decision = agent_decide_paused(&work, live.as_ref().map(observe).as_ref());
            let target = (&namespace, name.as_str());
            reconcile_work(shared, &work, live, target, decision, host_down).await
        }
        Err(state) => match agent_cannot_watch(&work, &shared.config.cluster, &state) {
            // The watch's next event wakes the agent: no retry of its own.
            Some(decision) => {
                let target = (&namespace, name.as_str());
                reconcile_work(shared, &work, None, target, decision, host_down).await
            }
            None => {
                return Handled {
                    key,
                    remembered: Some(remembered),
                    failed: true,
                };
            }
        },
    };

    if outcome.host_failed {
        shared.host_down.store(true, Ordering::Relaxed);
    }
    if outcome.drift {
        remembered.drift_repairs += 1;
        shared.stats.bump(|c| c.drift_repairs += 1);
        tracing::warn!(work = %key, "member object was changed out of band and is restored");
    }
    if outcome.released {
        return Handled {
            key,
            remembered: None,
            failed: outcome.failed,
        };
    }
    let mut failed = outcome.failed;
    let next = agent_status(
        &work,
        outcome.live.as_ref(),
        outcome.propagation,
        remembered.drift_repairs,
    );
    let base = reported_base(&work, remembered.written.as_ref());
    if base != Some(&next) {
        if shared.host_down.load(Ordering::Relaxed) {
            failed = true;
        } else {
            let stored = base.and_then(|s| serde_json::to_value(s).ok());
            let write = status::write_status(shared.works_api, &key, stored.as_ref(), &next);
            match tokio::time::timeout(shared.config.timeout, write).await {
                Ok(Ok(_)) => {
                    shared.stats.bump(|c| c.status_writes += 1);
                    remembered.written = Some(WrittenReport {
                        read_version: work.metadata.resource_version.clone(),
                        status: next,
                    });
                }
                failure => {
                    shared.stats.bump(|c| c.host_failures += 1);
                    let err = match failure {
                        Ok(Err(err)) => err.to_string(),
                        _ => "no answer in time".to_string(),
                    };
                    tracing::debug!(work = %key, %err, "cannot report to the host; retrying");
                    failed = true;
                    shared.host_down.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    Handled {
        key,
        remembered: Some(remembered),
        failed,
    }
}

fn is_namespace(r: &WorkResource) -> bool {
    r.group.is_empty() && r.kind == "Namespace"
}

fn manifest_key(manifest: &Value) -> (Option<String>, String) {
    let meta = manifest.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (field("namespace"), field("name").unwrap_or_default())
}

/// What handling one MemberWork did.
struct WorkOutcome {
    propagation: crate::crds::member_work::WorkPropagation,
    /// The member object after the pass, as far as known.
    live: Option<Value>,
    drift: bool,
    failed: bool,
    /// The MemberWork's finalizer was removed (it is going away).
    released: bool,
    /// A host request failed.
    host_failed: bool,
}

fn observe(value: &Value) -> MemberObject {
    MemberObject::from_object(
        value,
        StatusCollection {
            collect: false,
            kind: AggregateKind::Other,
        },
    )
}

/// Carries out the agent's `decision` for one MemberWork whose member object is `live`.
async fn reconcile_work(
    shared: &Shared<'_>,
    work: &MemberWork,
    live: Option<Value>,
    (namespace, name): (&Option<String>, &str),
    decision: AgentDecision,
    host_down: bool,
) -> WorkOutcome {
    let (config, stats) = (shared.config, shared.stats);
    let writer = member::writer(config, &work.spec.resource, namespace.as_deref());
    let mut outcome = WorkOutcome {
        propagation: decision.propagation.clone(),
        live,
        drift: false,
        failed: false,
        released: false,
        host_failed: false,
    };
    let result = match decision.action {
        AgentAction::Leave => Ok(()),
        AgentAction::Apply {
            object,
            create,
            drift,
        } => {
            let applied = match writer.apply(name, &object, create).await {
                // The object exists but the cache did not show it (it is not labelled): read
                // it and decide again, as the host's executor does.
                Err(f)
                    if create && f.category == crate::runtime::error::ErrorCategory::Conflict =>
                {
                    match writer.get(name).await {
                        Ok(Some(existing)) => {
                            let value = existing.value;
                            let again = agent_decide(work, Some(&observe(&value)));
                            outcome.propagation = again.propagation;
                            outcome.live = Some(value);
                            match again.action {
                                AgentAction::Apply { object, .. } => {
                                    writer.apply(name, &object, false).await.map(Some)
                                }
                                _ => Ok(None),
                            }
                        }
                        Ok(None) => writer.apply(name, &object, true).await.map(Some),
                        Err(f) => Err(f),
                    }
                }
                other => other.map(Some),
            };
            applied.map(|obj| {
                if let Some(obj) = obj {
                    stats.bump(|c| c.applies += 1);
                    outcome.drift = drift;
                    outcome.live = Some(obj.value);
                }
            })
        }
        AgentAction::Delete(params) => writer.delete(name, &params).await.map(|_| {
            stats.bump(|c| c.deletes += 1);
        }),
        AgentAction::Unlabel => {
            let patch = orphan_patch(&work.spec.manifest);
            writer.merge_patch(name, &patch).await.map(|_| ())
        }
        AgentAction::Release if host_down => {
            outcome.failed = true;
            Ok(())
        }
        AgentAction::Release => {
            let api: Api<MemberWork> =
                Api::namespaced(config.host.clone(), &cluster_namespace(&config.cluster));
            let release = finalizer::remove(&api, work, AGENT_FINALIZER);
            match tokio::time::timeout(config.timeout, release).await {
                Ok(Ok(_)) => {
                    outcome.released = true;
                    Ok(())
                }
                _ => {
                    stats.bump(|c| c.host_failures += 1);
                    tracing::debug!("cannot release a MemberWork; retrying");
                    outcome.failed = true;
                    outcome.host_failed = true;
                    Ok(())
                }
            }
        }
    };
    if let Err(failure) = result {
        tracing::warn!(object = %name, category = %failure.category, message = %failure.message, "member write failed");
        outcome.propagation = crate::crds::member_work::WorkPropagation {
            status: failure.status.as_str().to_string(),
            message: Some(failure.message),
        };
        outcome.failed = true;
    }
    outcome
}
