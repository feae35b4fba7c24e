//! The cluster controller: health of every member cluster, published to the other controllers
//! through the [`MemberPool`] and written to `KubeFedCluster.status`, together with which
//! enabled types the member can serve (the `TypesAvailable` condition, from
//! [`TypeAvailability`]).
//!
//! KubeFedClusters and the Secrets of the federation namespace are watched into local caches.
//! Any change re-aligns the set of members: a client is (re)built when a cluster's connection
//! settings or token change, and each member gets its own prober task, so a hanging member never
//! delays the others.

mod probe;

use crate::core::cluster_status::{
    Observation, TypesObservation, health_from_status, next_status, status_changed,
};
use crate::core::events::{EventNote, Severity};
use crate::core::health::{Health, HealthTracker, ProbeOutcome, Thresholds};
use crate::core::pull::lease_outcome;
use crate::crds::kubefed_cluster::{
    CONDITION_TYPES_AVAILABLE, KubeFedCluster, KubeFedClusterStatus,
};
use crate::crds::member_work::{
    AGENT_LEASE, AGENT_LEASE_LABEL, KUBE_SYSTEM_UID_ANNOTATION, VERSION_ANNOTATION,
    cluster_namespace, is_pull,
};
use crate::members::availability::TypeAvailability;
use crate::members::connection::{ClusterClient, cluster_client, cluster_token};
use crate::members::pool::MemberPool;
use crate::runtime::events::Publisher;
use crate::runtime::metrics::Metrics;
use crate::runtime::status::write_status as patch_status;
use crate::runtime::store::{is_ready, lean};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How members are probed, from `KubeFedConfig.spec.clusterHealthCheck`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    pub period: Duration,
    pub timeout: Duration,
    pub thresholds: Thresholds,
    /// Requests awaiting an answer from one member, at most (see
    /// [`crate::members::connection::DEFAULT_MEMBER_IN_FLIGHT`]).
    pub max_in_flight: usize,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
            thresholds: Thresholds::default(),
            max_in_flight: crate::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterControllerError {
    #[error("the KubeFedCluster or Secret watch ended")]
    WatchEnded,
}

/// Everything the controller and its probers share.
#[derive(Clone)]
struct Shared {
    clusters: Api<KubeFedCluster>,
    store: Store<KubeFedCluster>,
    pool: MemberPool,
    availability: TypeAvailability,
    metrics: Metrics,
    events: Arc<Publisher>,
    settings: HealthSettings,
    /// The heartbeat Leases of pull members' agents.
    leases: Store<Lease>,
}

/// How a member's health is learnt: probing its API server, or reading its agent's heartbeat.
enum Probe {
    Push(Client),
    Pull,
}

struct Prober {
    fingerprint: u64,
    task: JoinHandle<()>,
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the controller works with.
pub struct Dependencies {
    pub client: Client,
    pub namespace: String,
    pub pool: MemberPool,
    pub availability: TypeAvailability,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub settings: HealthSettings,
}

/// Runs the controller until its watches end.
pub async fn run(deps: Dependencies) -> Result<(), ClusterControllerError> {
    let Dependencies {
        client,
        namespace,
        pool,
        availability,
        metrics,
        recorder,
        settings,
    } = deps;
    let namespace = namespace.as_str();
    let clusters: Api<KubeFedCluster> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // Pull members' heartbeats, in their cluster namespaces; read by their probers.
    let (lease_store, lease_writer) = reflector::store();
    let lease_events = watcher(
        Api::<Lease>::all(client),
        watcher::Config::default().labels(AGENT_LEASE_LABEL),
    )
    .default_backoff()
    .modify(lean)
    .reflect(lease_writer)
    .map(|_| ());
    let (cluster_store, cluster_writer) = reflector::store();
    let (secret_store, secret_writer) = reflector::store();
    // Status is written as a merge patch computed from the stored status, so the stores keep
    // no managedFields (per member: the KubeFedCluster's and its token Secret's).
    let cluster_events = watcher(clusters.clone(), watcher::Config::default())
        .default_backoff()
        .modify(lean)
        .reflect(cluster_writer)
        .map(|_| ())
        .boxed();
    let secret_events = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .modify(lean)
        .reflect(secret_writer)
        .map(|_| ())
        .boxed();
    let mut events = futures::stream::select(cluster_events, secret_events).ready_chunks(256);
    let lease_task = tokio::spawn(lease_events.for_each(|()| async {}));
    let _lease_task = AbortOnDrop(lease_task);

    let shared = Shared {
        clusters,
        store: cluster_store.clone(),
        pool,
        availability,
        metrics,
        events: Arc::new(Publisher::new(recorder, "HealthCheck")),
        settings,
        leases: lease_store,
    };
    let mut probers: BTreeMap<String, Prober> = BTreeMap::new();
    let mut malformed: BTreeMap<String, String> = BTreeMap::new();
    while events.next().await.is_some() {
        // Align only once both caches hold a full list, so a missing Secret is not reported
        // just because its watch has not caught up yet.
        if is_ready(&cluster_store) && is_ready(&secret_store) {
            align(&shared, &secret_store, &mut probers, &mut malformed).await;
            // Every KubeFedCluster is known now: an empty pool means no members.
            shared.pool.set_loaded();
        }
    }
    Err(ClusterControllerError::WatchEnded)
}

/// Reads the token of a cluster's Secret, or says what is wrong with it.
fn token_of(cluster: &KubeFedCluster, secrets: &Store<Secret>) -> Result<String, String> {
    let namespace = cluster.namespace().unwrap_or_default();
    let secret = secrets.get(&ObjectRef::new(&cluster.spec.secret_ref.name).within(&namespace));
    cluster_token(cluster, secret.as_deref())
}

/// Identifies connection settings: a change means the client must be rebuilt.
fn fingerprint(cluster: &KubeFedCluster, token: &str) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&cluster.spec)
        .unwrap_or_default()
        .hash(&mut h);
    token.hash(&mut h);
    h.finish()
}

/// Builds a client for the cluster, or explains why it cannot.
fn connect(
    cluster: &KubeFedCluster,
    token: &str,
    settings: &HealthSettings,
) -> Result<ClusterClient, String> {
    cluster_client(cluster, token, settings.timeout, settings.max_in_flight)
}

async fn align(
    shared: &Shared,
    secrets: &Store<Secret>,
    probers: &mut BTreeMap<String, Prober>,
    malformed: &mut BTreeMap<String, String>,
) {
    let clusters = shared.store.state();
    let names: Vec<String> = clusters.iter().map(|c| c.name_any()).collect();
    probers.retain(|name, _| names.contains(name));
    malformed.retain(|name, _| names.contains(name));
    for name in shared.pool.snapshot().keys() {
        if !names.contains(name) {
            shared.pool.remove(name);
            shared.availability.remove_cluster(name);
            shared
                .metrics
                .cluster_ready
                .remove(&crate::runtime::metrics::ClusterLabels {
                    cluster: name.clone(),
                });
        }
    }
    for cluster in clusters {
        let name = cluster.name_any();
        shared.pool.set_labels(&name, cluster.labels().clone());
        let pull = is_pull(&cluster);
        shared.pool.set_pull(&name, pull);
        if pull {
            // No client and no Secret: the agent's Lease is all the host reads of it.
            let print = fingerprint(&cluster, "pull");
            if probers.get(&name).is_none_or(|p| p.fingerprint != print) {
                malformed.remove(&name);
                shared.pool.set_client(&name, None);
                let task = tokio::spawn(probe_loop(shared.clone(), cluster.clone(), Probe::Pull));
                probers.insert(
                    name,
                    Prober {
                        fingerprint: print,
                        task,
                    },
                );
            }
            continue;
        }
        let connected = token_of(&cluster, secrets).and_then(|token| {
            let print = fingerprint(&cluster, &token);
            if probers.get(&name).is_some_and(|p| p.fingerprint == print) {
                return Ok(None);
            }
            connect(&cluster, &token, &shared.settings).map(|c| Some((print, c)))
        });
        match connected {
            Ok(None) => {}
            Ok(Some((
                print,
                ClusterClient {
                    client,
                    answers,
                    still_enforced,
                },
            ))) => {
                malformed.remove(&name);
                if !still_enforced.is_empty() {
                    publish(
                        shared,
                        &cluster,
                        Severity::Warning,
                        "TLSValidationKept",
                        format!(
                            "disabling only {still_enforced:?} is not supported; TLS is fully verified (use [\"*\"] to disable verification)"
                        ),
                    )
                    .await;
                }
                shared
                    .pool
                    .set_client(&name, Some((client.clone(), answers)));
                let task = tokio::spawn(probe_loop(
                    shared.clone(),
                    cluster.clone(),
                    Probe::Push(client),
                ));
                probers.insert(
                    name,
                    Prober {
                        fingerprint: print,
                        task,
                    },
                );
            }
            Err(problem) => {
                probers.remove(&name);
                shared.pool.set_client(&name, None);
                if malformed.get(&name) != Some(&problem) {
                    tracing::warn!(cluster = %name, %problem, "member cluster configuration is malformed");
                    let written = write_status(
                        shared,
                        &cluster,
                        &Observation::Malformed(problem.clone()),
                        &TypesObservation::Pending,
                    )
                    .await;
                    if written.is_some() {
                        publish(
                            shared,
                            &cluster,
                            Severity::Warning,
                            "ConfigMalformed",
                            problem.clone(),
                        )
                        .await;
                    }
                    malformed.insert(name, problem);
                }
            }
        }
    }
}

/// Probes one member forever (until aborted), publishing its debounced health and writing
/// its status when something other than the probe time changed: after every probe, and when
/// the member caches find out something new about which types the member can serve.
async fn probe_loop(shared: Shared, cluster: Arc<KubeFedCluster>, probe: Probe) {
    let name = cluster.name_any();
    let labels = crate::runtime::metrics::ClusterLabels {
        cluster: name.clone(),
    };
    let mut tracker = match health_from_status(cluster.status.as_ref()) {
        Some(h) => HealthTracker::resume(h),
        None => HealthTracker::new(),
    };
    let mut version: Option<String> = None;
    let mut kube_system_uid: Option<String> = None;
    let mut types = shared.availability.subscribe();
    let mut health: Option<Health> = None;
    // The resourceVersion the last status write was based on, and what it wrote.
    let mut wrote: Option<(Option<String>, KubeFedClusterStatus)> = None;
    let mut ticker = tokio::time::interval(shared.settings.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A turn woken by the member caches only rewrites the status; probing then would
        // shorten the probe period.
        let probe_now = tokio::select! {
            _ = ticker.tick() => true,
            alive = types.changed() => {
                if !alive {
                    return;
                }
                false
            }
        };
        if probe_now {
            let started = std::time::Instant::now();
            let heartbeat = match &probe {
                Probe::Push(_) => None,
                Probe::Pull => Some(heartbeat(&shared, &name)),
            };
            let outcome = match (&probe, &heartbeat) {
                (Probe::Push(client), _) => probe::healthz(client, shared.settings.timeout).await,
                (Probe::Pull, Some(beat)) => beat.outcome.clone(),
                (Probe::Pull, None) => continue,
            };
            shared
                .metrics
                .health_check_duration
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            let probed = tracker
                .observe(&outcome, shared.settings.thresholds)
                .clone();
            match (&probe, heartbeat) {
                (Probe::Push(client), _) => {
                    if probed.is_ready() && version.is_none() {
                        version = probe::version(client, shared.settings.timeout).await;
                    }
                    if probed.is_ready() && kube_system_uid.is_none() {
                        kube_system_uid =
                            probe::kube_system_uid(client, shared.settings.timeout).await;
                        shared
                            .pool
                            .set_kube_system_uid(&name, kube_system_uid.clone());
                    }
                }
                (Probe::Pull, Some(beat)) if probed.is_ready() => {
                    version = beat.version.or(version);
                    if beat.kube_system_uid.is_some() && kube_system_uid != beat.kube_system_uid {
                        kube_system_uid = beat.kube_system_uid;
                        shared
                            .pool
                            .set_kube_system_uid(&name, kube_system_uid.clone());
                    }
                }
                (Probe::Pull, _) => {}
            }
            shared
                .metrics
                .cluster_ready
                .get_or_create(&labels)
                .set(i64::from(probed.is_ready()));
            let answered = outcome == ProbeOutcome::Healthy;
            shared
                .pool
                .set_health(&name, Some(probed.clone()), answered);
            health = Some(probed);
        }
        let Some(current) = health.clone() else {
            continue;
        };
        // While the member cannot be reached its caches learn nothing: keep what was known.
        let available = if current.is_ready() {
            types.observe(&name)
        } else {
            TypesObservation::Pending
        };
        let mut latest = shared
            .store
            .get(&ObjectRef::from_obj(cluster.as_ref()))
            .map_or_else(|| cluster.as_ref().clone(), |c| c.as_ref().clone());
        // The cache may not show our last write yet: until it changes, that write is the truth.
        if let Some((seen, written)) = &wrote
            && latest.resource_version() == *seen
        {
            latest.status = Some(written.clone());
        }
        let observation = Observation::Probed {
            health: current.clone(),
            version: version.clone(),
        };
        if let Some(next) = write_status(&shared, &latest, &observation, &available).await {
            for note in status_events(latest.status.as_ref(), &next) {
                shared.events.publish(&latest.object_ref(&()), &note).await;
            }
            wrote = Some((latest.resource_version(), next));
        }
    }
}

/// What a pull member's heartbeat says.
struct Heartbeat {
    outcome: ProbeOutcome,
    version: Option<String>,
    kube_system_uid: Option<String>,
}

/// Reads the agent's Lease: fresh while renewed within its `leaseDurationSeconds` (or one
/// probe period and timeout when it does not say).
fn heartbeat(shared: &Shared, cluster: &str) -> Heartbeat {
    let lease = shared
        .leases
        .get(&ObjectRef::new(AGENT_LEASE).within(&cluster_namespace(cluster)));
    let spec = lease.as_ref().and_then(|l| l.spec.as_ref());
    let renewed = spec.and_then(|s| s.renew_time.as_ref().or(s.acquire_time.as_ref()));
    let max_age = spec
        .and_then(|s| s.lease_duration_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
        .unwrap_or(shared.settings.period + shared.settings.timeout);
    let annotation = |key: &str| {
        lease
            .as_ref()
            .and_then(|l| l.metadata.annotations.as_ref())
            .and_then(|a| a.get(key))
            .cloned()
    };
    Heartbeat {
        outcome: lease_outcome(renewed.map(|t| t.0), jiff::Timestamp::now(), max_age),
        version: annotation(VERSION_ANNOTATION),
        kube_system_uid: annotation(KUBE_SYSTEM_UID_ANNOTATION),
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The events a status change deserves: health transitions, and a change of which types the
/// member cannot serve.
fn status_events(
    before: Option<&KubeFedClusterStatus>,
    after: &KubeFedClusterStatus,
) -> Vec<EventNote> {
    let mut notes = Vec::new();
    let was = health_from_status(before);
    let now = health_from_status(Some(after));
    if was != now
        && let Some(health) = now
    {
        let (severity, reason, note) = match health {
            Health::Ready => (
                Severity::Normal,
                "ClusterReady",
                "cluster is ready".to_string(),
            ),
            Health::NotReady(why) => (
                Severity::Warning,
                "ClusterNotReady",
                format!("/healthz responded without ok: {why}"),
            ),
            Health::Offline(why) => (
                Severity::Warning,
                "ClusterNotReachable",
                format!("cluster is not reachable: {why}"),
            ),
        };
        notes.push(EventNote {
            severity,
            reason: reason.to_string(),
            note,
        });
    }
    let types = |s: Option<&KubeFedClusterStatus>| {
        s.and_then(|s| s.condition(CONDITION_TYPES_AVAILABLE))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let (old, new) = (types(before), types(Some(after)));
    if old != new
        && let Some((status, reason, message)) = new
    {
        let failing = status != "True";
        // The first "all available" is not news; recovering from a problem is.
        if failing || old.is_some() {
            notes.push(EventNote {
                severity: if failing {
                    Severity::Warning
                } else {
                    Severity::Normal
                },
                reason: reason.unwrap_or_default(),
                note: message.unwrap_or_default(),
            });
        }
    }
    notes
}

/// Writes the status for `observation` when it differs from the stored one in anything but
/// the probe time; returns what it wrote.
async fn write_status(
    shared: &Shared,
    cluster: &KubeFedCluster,
    observation: &Observation,
    types: &TypesObservation,
) -> Option<KubeFedClusterStatus> {
    let now = Time(jiff::Timestamp::now());
    let next = next_status(cluster.status.as_ref(), observation, types, &now);
    if !status_changed(cluster.status.as_ref(), &next) {
        return None;
    }
    let stored = cluster
        .status
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok());
    match patch_status(
        &shared.clusters,
        &cluster.name_any(),
        stored.as_ref(),
        &next,
    )
    .await
    {
        Ok(_) => Some(next),
        Err(err) => {
            shared
                .metrics
                .count_error("cluster", crate::runtime::error::ErrorCategory::of(&err));
            tracing::warn!(cluster = %cluster.name_any(), %err, "cannot write KubeFedCluster status");
            None
        }
    }
}

async fn publish(
    shared: &Shared,
    cluster: &KubeFedCluster,
    severity: Severity,
    reason: &str,
    note: String,
) {
    let note = EventNote {
        severity,
        reason: reason.to_string(),
        note,
    };
    shared.events.publish(&cluster.object_ref(&()), &note).await;
}
