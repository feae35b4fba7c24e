//! The cluster controller: health of every member cluster, published to the other controllers
//! through the [`MemberPool`] and written to `KubeFedCluster.status`.
//!
//! KubeFedClusters and the Secrets of the federation namespace are watched into local caches.
//! Any change re-aligns the set of members: a client is (re)built when a cluster's connection
//! settings or token change, and each member gets its own prober task, so a hanging member never
//! delays the others.

pub mod conditions;
pub mod health;
mod probe;

use crate::crds::kubefed_cluster::{KubeFedCluster, SECRET_TOKEN_KEY, TlsValidation};
use crate::members::connection::{ConnectionSpec, member_config};
use crate::members::pool::MemberPool;
use crate::operator::metrics::Metrics;
use conditions::{Observation, health_from_status, next_status, status_changed};
use futures::StreamExt;
use health::{Health, HealthTracker, Thresholds};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
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
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
            thresholds: Thresholds::default(),
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
    metrics: Metrics,
    recorder: Recorder,
    settings: HealthSettings,
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

/// Runs the controller until its watches end.
pub async fn run(
    client: Client,
    namespace: &str,
    pool: MemberPool,
    metrics: Metrics,
    recorder: Recorder,
    settings: HealthSettings,
) -> Result<(), ClusterControllerError> {
    let clusters: Api<KubeFedCluster> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let (cluster_store, cluster_writer) = reflector::store();
    let (secret_store, secret_writer) = reflector::store();
    let cluster_events = watcher(clusters.clone(), watcher::Config::default())
        .default_backoff()
        .reflect(cluster_writer)
        .map(|_| ())
        .boxed();
    let secret_events = watcher(secrets, watcher::Config::default())
        .default_backoff()
        .reflect(secret_writer)
        .map(|_| ())
        .boxed();
    let mut events = futures::stream::select(cluster_events, secret_events).ready_chunks(256);

    let shared = Shared {
        clusters,
        store: cluster_store.clone(),
        pool,
        metrics,
        recorder,
        settings,
    };
    let mut probers: BTreeMap<String, Prober> = BTreeMap::new();
    let mut malformed: BTreeMap<String, String> = BTreeMap::new();
    while events.next().await.is_some() {
        // Align only once both caches hold a full list, so a missing Secret is not reported
        // just because its watch has not caught up yet.
        if is_ready(&cluster_store) && is_ready(&secret_store) {
            align(&shared, &secret_store, &mut probers, &mut malformed).await;
        }
    }
    Err(ClusterControllerError::WatchEnded)
}

/// Whether a reflector store has completed its first list (without waiting for it: the
/// stream that fills it is driven by the caller).
pub(crate) fn is_ready<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    use futures::FutureExt;
    matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
}

/// Reads the token of a cluster's Secret, or says what is wrong with it.
fn token_of(cluster: &KubeFedCluster, secrets: &Store<Secret>) -> Result<String, String> {
    let name = &cluster.spec.secret_ref.name;
    if name.is_empty() {
        return Err("spec.secretRef.name is empty".into());
    }
    let namespace = cluster.namespace().unwrap_or_default();
    let secret = secrets
        .get(&ObjectRef::new(name).within(&namespace))
        .ok_or_else(|| format!("secret {namespace}/{name} not found"))?;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get(SECRET_TOKEN_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(format!(
            "secret {namespace}/{name} has no \"{SECRET_TOKEN_KEY}\" key or it is empty"
        ));
    }
    Ok(token)
}

fn tls_strings(values: &[TlsValidation]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            match v {
                TlsValidation::All => "*",
                TlsValidation::SubjectName => "SubjectName",
                TlsValidation::ValidityPeriod => "ValidityPeriod",
            }
            .to_string()
        })
        .collect()
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
) -> Result<(Client, Vec<String>), String> {
    let tls = tls_strings(&cluster.spec.disabled_tls_validations);
    let spec = ConnectionSpec {
        api_endpoint: &cluster.spec.api_endpoint,
        ca_bundle: cluster.spec.ca_bundle.as_ref().map(|b| b.0.as_slice()),
        disabled_tls_validations: &tls,
        proxy_url: cluster.spec.proxy_url.as_deref(),
        token,
        timeout: settings.timeout,
    };
    let connection = member_config(&spec).map_err(|e| e.to_string())?;
    let client =
        Client::try_from(connection.config).map_err(|e| format!("cannot build a client: {e}"))?;
    Ok((client, connection.tls.still_enforced))
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
            shared
                .metrics
                .cluster_ready
                .remove(&crate::operator::metrics::ClusterLabels {
                    cluster: name.clone(),
                });
        }
    }
    for cluster in clusters {
        let name = cluster.name_any();
        shared.pool.set_labels(&name, cluster.labels().clone());
        let connected = token_of(&cluster, secrets).and_then(|token| {
            let print = fingerprint(&cluster, &token);
            if probers.get(&name).is_some_and(|p| p.fingerprint == print) {
                return Ok(None);
            }
            connect(&cluster, &token, &shared.settings).map(|c| Some((print, c)))
        });
        match connected {
            Ok(None) => {}
            Ok(Some((print, (client, still_enforced)))) => {
                malformed.remove(&name);
                if !still_enforced.is_empty() {
                    publish(
                        shared,
                        &cluster,
                        EventType::Warning,
                        "TLSValidationKept",
                        format!(
                            "disabling only {still_enforced:?} is not supported; TLS is fully verified (use [\"*\"] to disable verification)"
                        ),
                    )
                    .await;
                }
                shared.pool.set_client(&name, Some(client.clone()));
                let task = tokio::spawn(probe_loop(shared.clone(), cluster.clone(), client));
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
                    let written =
                        write_status(shared, &cluster, &Observation::Malformed(problem.clone()))
                            .await;
                    if written {
                        publish(
                            shared,
                            &cluster,
                            EventType::Warning,
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
/// its status when something other than the probe time changed.
async fn probe_loop(shared: Shared, cluster: Arc<KubeFedCluster>, client: Client) {
    let name = cluster.name_any();
    let labels = crate::operator::metrics::ClusterLabels {
        cluster: name.clone(),
    };
    let mut tracker = match health_from_status(cluster.status.as_ref()) {
        Some(h) => HealthTracker::resume(h),
        None => HealthTracker::new(),
    };
    let mut version: Option<String> = None;
    let mut kube_system_uid: Option<String> = None;
    let mut ticker = tokio::time::interval(shared.settings.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let started = std::time::Instant::now();
        let outcome = probe::healthz(&client, shared.settings.timeout).await;
        shared
            .metrics
            .health_check_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let health = tracker
            .observe(&outcome, shared.settings.thresholds)
            .clone();
        if health.is_ready() && version.is_none() {
            version = probe::version(&client, shared.settings.timeout).await;
        }
        if health.is_ready() && kube_system_uid.is_none() {
            kube_system_uid = probe::kube_system_uid(&client, shared.settings.timeout).await;
            shared
                .pool
                .set_kube_system_uid(&name, kube_system_uid.clone());
        }
        shared
            .metrics
            .cluster_ready
            .get_or_create(&labels)
            .set(i64::from(health.is_ready()));
        shared.pool.set_health(&name, Some(health.clone()));
        let latest = shared
            .store
            .get(&ObjectRef::from_obj(cluster.as_ref()))
            .unwrap_or_else(|| cluster.clone());
        let was_ready = health_from_status(latest.status.as_ref());
        let changed = write_status(
            &shared,
            &latest,
            &Observation::Probed {
                health: health.clone(),
                version: version.clone(),
            },
        )
        .await;
        if changed && was_ready.as_ref() != Some(&health) {
            let (kind, reason, note) = match &health {
                Health::Ready => (
                    EventType::Normal,
                    "ClusterReady",
                    "cluster is ready".to_string(),
                ),
                Health::NotReady(why) => (
                    EventType::Warning,
                    "ClusterNotReady",
                    format!("/healthz responded without ok: {why}"),
                ),
                Health::Offline(why) => (
                    EventType::Warning,
                    "ClusterNotReachable",
                    format!("cluster is not reachable: {why}"),
                ),
            };
            publish(&shared, &latest, kind, reason, note).await;
        }
    }
}

/// Writes the status for `observation` when it differs from the stored one; returns whether
/// it wrote.
async fn write_status(
    shared: &Shared,
    cluster: &KubeFedCluster,
    observation: &Observation,
) -> bool {
    let now = Time(jiff::Timestamp::now());
    let next = next_status(cluster.status.as_ref(), observation, &now);
    if !status_changed(cluster.status.as_ref(), &next) {
        return false;
    }
    let patch = serde_json::json!({ "status": next });
    match shared
        .clusters
        .patch_status(
            &cluster.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(cluster = %cluster.name_any(), %err, "cannot write KubeFedCluster status");
            false
        }
    }
}

async fn publish(
    shared: &Shared,
    cluster: &KubeFedCluster,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "HealthCheck".to_string(),
        secondary: None,
    };
    if let Err(err) = shared
        .recorder
        .publish(&event, &cluster.object_ref(&()))
        .await
    {
        tracing::debug!(%err, "cannot publish event");
    }
}
