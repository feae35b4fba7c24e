//! Simulated workload controllers: Deployments and ReplicaSets become ready, Jobs complete
//! and LoadBalancer Services get an ingress IP, after a configurable delay.
//!
//! There are no pods; each cluster has a replica capacity (total ready replicas across its
//! Deployments and ReplicaSets) beyond which replicas stay unavailable, like pods nobody can
//! schedule. Older workloads keep their replicas first. Status goes through the engine's
//! status subresource path so resource versions, generations and watch events behave as
//! usual; a status is only written when it changes. These writes come from inside the
//! cluster, so they do not appear in the request counters.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::server::cluster::Cluster;
use crate::server::engine::{At, State, Sub, WriteOpts};
use crate::server::meta;
use crate::server::reconciler::{self, Reconciler};
use crate::server::resources::ResourceDef;

/// Behaviour of the simulated workloads of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// Time from a workload's (new) generation to its replicas being ready, or from a Job's
    /// creation to its completion.
    pub ready_delay: Duration,
    /// Ready replicas the cluster can hold in total; `None` is unlimited.
    pub capacity: Option<u64>,
    /// Give `type: LoadBalancer` Services an ingress IP.
    pub load_balancer_ips: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            ready_delay: Duration::from_millis(200),
            capacity: None,
            load_balancer_ips: true,
        }
    }
}

/// Run-time control of a cluster's workload controllers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Workloads {
    config: Arc<Mutex<WorkloadConfig>>,
    wake: Arc<Notify>,
}

impl Workloads {
    pub fn new(config: WorkloadConfig) -> Self {
        Workloads {
            config: Arc::new(Mutex::new(config)),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn config(&self) -> WorkloadConfig {
        self.config.lock().clone()
    }

    /// Changes the replica capacity; workloads are re-evaluated at once.
    pub fn set_capacity(&self, capacity: Option<u64>) {
        self.config.lock().capacity = capacity;
        self.wake.notify_one();
    }

    pub fn set_ready_delay(&self, delay: Duration) {
        self.config.lock().ready_delay = delay;
        self.wake.notify_one();
    }

    /// Starts the controllers for `cluster`; abort the handle to stop them.
    pub fn spawn(&self, cluster: &Cluster) -> JoinHandle<()> {
        let c = Controller {
            config: self.config.clone(),
            seen: HashMap::new(),
            replicated: HashMap::new(),
            next_ip: 0,
        };
        reconciler::spawn(cluster, c, self.wake.clone())
    }
}

struct Controller {
    config: Arc<Mutex<WorkloadConfig>>,
    /// Job uid → (generation, when that generation was first seen).
    seen: HashMap<String, (i64, Instant)>,
    /// Deployments and ReplicaSets by (plural, namespace, name): what a pass needs of each,
    /// kept while its resource version holds, so a pass decodes only what changed.
    replicated: HashMap<WorkloadKey, Tracked>,
    next_ip: u32,
}

/// (plural, namespace, name) of a Deployment or ReplicaSet.
type WorkloadKey = (&'static str, String, String);

/// What the controller remembers of a Deployment or ReplicaSet version.
struct Tracked {
    resource_version: u64,
    uid: String,
    /// creationTimestamp in seconds (the capacity goes to the oldest first).
    created: i64,
    generation: i64,
    /// When this generation was first seen.
    since: Instant,
    desired: u64,
    was_ready: u64,
    progress_deadline: u64,
    deleting: bool,
    /// The (ready, settled, stuck) this version's status is known to reflect.
    reflects: Option<(u64, bool, bool)>,
}

impl Tracked {
    fn new(obj: &Value, resource_version: u64, before: Option<&Tracked>, now: Instant) -> Self {
        let uid = meta::uid(obj).to_string();
        let generation = generation(obj);
        let since = match before {
            Some(b) if b.uid == uid && b.generation == generation => b.since,
            _ => now,
        };
        Tracked {
            resource_version,
            created: meta::meta_str(obj, "creationTimestamp")
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, |t| t.as_second()),
            uid,
            generation,
            since,
            desired: int(obj, "spec.replicas").unwrap_or(1),
            was_ready: int(obj, "status.readyReplicas").unwrap_or(0),
            progress_deadline: int(obj, "spec.progressDeadlineSeconds").unwrap_or(600),
            deleting: meta::is_deleting(obj),
            reflects: None,
        }
    }
}

fn int(v: &Value, path: &str) -> Option<u64> {
    meta::get_path(v, path).and_then(Value::as_u64)
}

fn generation(obj: &Value) -> i64 {
    meta::get_path(obj, "metadata.generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn objects(st: &State, group: &str, plural: &str) -> Option<(Arc<ResourceDef>, Vec<Arc<Value>>)> {
    let def = st.registry.get(group, "v1", plural)?;
    let items = st
        .store
        .list(&def.gr(), None, None)
        .filter(|(_, o)| !o.meta().is_deleting())
        .map(|(_, o)| Arc::new(o.to_value()))
        .collect();
    Some((def, items))
}

/// Sets a field only when non-zero, the way the Go types omit empty counts.
fn put_count(status: &mut Value, field: &str, n: u64) {
    if n > 0 {
        status[field] = json!(n);
    }
}

/// A condition, keeping the old timestamps when nothing about it changed.
fn condition(old: &Value, kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let status = if status { "True" } else { "False" };
    let prev = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let now = meta::now_rfc3339();
    let (updated, transitioned) = match prev {
        Some(p) if p["status"] == status && p["reason"] == reason => (
            p.get("lastUpdateTime").cloned().unwrap_or(json!(now)),
            p.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        ),
        Some(p) if p["status"] == status => (
            json!(now),
            p.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        ),
        _ => (json!(now), json!(now)),
    };
    json!({
        "type": kind, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": updated, "lastTransitionTime": transitioned,
    })
}

fn deployment_status(obj: &Value, desired: u64, ready: u64, settled: bool, stuck: bool) -> Value {
    let old = obj.get("status").cloned().unwrap_or(json!({}));
    let name = meta::name(obj);
    let mut s = json!({"observedGeneration": generation(obj)});
    put_count(&mut s, "replicas", desired);
    put_count(&mut s, "updatedReplicas", if settled { desired } else { 0 });
    put_count(&mut s, "readyReplicas", ready);
    put_count(&mut s, "availableReplicas", ready);
    put_count(&mut s, "unavailableReplicas", desired - ready);
    // The default rolling update tolerates a quarter of the replicas being unavailable.
    let available = ready + desired / 4 >= desired;
    let complete = settled && ready == desired;
    let rs = format!(
        "{name}-{}",
        &meta::uid(obj).chars().take(10).collect::<String>()
    );
    s["conditions"] = json!([
        if available {
            condition(
                &old,
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            condition(
                &old,
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        },
        if stuck {
            condition(
                &old,
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{rs}\" has timed out progressing."),
            )
        } else if complete {
            condition(
                &old,
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs}\" has successfully progressed."),
            )
        } else {
            condition(
                &old,
                "Progressing",
                true,
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{rs}\" is progressing."),
            )
        },
    ]);
    s
}

fn replicaset_status(obj: &Value, desired: u64, ready: u64) -> Value {
    let mut s = json!({"observedGeneration": generation(obj), "replicas": desired});
    put_count(&mut s, "fullyLabeledReplicas", desired);
    put_count(&mut s, "readyReplicas", ready);
    put_count(&mut s, "availableReplicas", ready);
    s
}

fn job_status(obj: &Value, done: bool) -> Value {
    let old = obj.get("status").cloned().unwrap_or(json!({}));
    let start = old
        .get("startTime")
        .cloned()
        .unwrap_or_else(|| json!(meta::now_rfc3339()));
    let completions = int(obj, "spec.completions").unwrap_or(1);
    if !done {
        let parallelism = int(obj, "spec.parallelism").unwrap_or(1).min(completions);
        let mut s = json!({"startTime": start, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
        put_count(&mut s, "active", parallelism);
        return s;
    }
    let msg = "Reached expected number of succeeded pods";
    json!({
        "startTime": start,
        "completionTime": meta::now_rfc3339(),
        "succeeded": completions,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            condition(&old, "SuccessCriteriaMet", true, "CompletionsReached", msg),
            condition(&old, "Complete", true, "CompletionsReached", msg),
        ],
    })
}

fn write_status(st: &mut State, def: &Arc<ResourceDef>, obj: &Arc<Value>, status: Value) {
    let mut candidate = (**obj).clone();
    candidate["status"] = status;
    let opts = WriteOpts {
        manager: "kube-controller-manager".into(),
        dry_run: false,
        sub: Sub::Status,
        apply: None,
    };
    let at = At {
        def,
        ns: meta::namespace(obj),
        name: meta::name(obj),
        version: def.storage_version(),
    };
    if let Err(e) = st.update(&at, obj, candidate, &opts) {
        tracing::debug!(name = at.name, error = %e, "status update of a simulated workload failed");
    }
}

impl Controller {
    /// When the current generation of `obj` settles (is ready or complete).
    fn due(&mut self, obj: &Value, delay: Duration, now: Instant) -> Instant {
        let generation = generation(obj);
        let entry = self
            .seen
            .entry(meta::uid(obj).to_string())
            .or_insert((generation, now));
        if entry.0 != generation {
            *entry = (generation, now);
        }
        entry.1 + delay
    }
}

impl Reconciler for Controller {
    fn reconcile(&mut self, cluster: &Cluster) -> Option<Instant> {
        let cfg = self.config.lock().clone();
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut wake_at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let mut st = cluster.inner.state.lock();
        let mut writes: Vec<(Arc<ResourceDef>, Arc<Value>, Value)> = Vec::new();
        let mut live = HashSet::new();

        // Deployments and ReplicaSets share the capacity, oldest first.
        let mut decoded: HashMap<WorkloadKey, Arc<Value>> = HashMap::new();
        let mut order: Vec<(i64, Arc<ResourceDef>, WorkloadKey)> = Vec::new();
        for plural in ["deployments", "replicasets"] {
            let Some(def) = st.registry.get("apps", "v1", plural) else {
                continue;
            };
            for (ns, name, obj) in st.store.list_keyed(&def.gr()) {
                let key = (plural, ns.to_string(), name.to_string());
                let rv = obj.resource_version();
                let current = self.replicated.get(&key);
                if current.is_none_or(|t| t.resource_version != rv) {
                    let value = Arc::new(obj.to_value());
                    let tracked = Tracked::new(&value, rv, current, now);
                    self.replicated.insert(key.clone(), tracked);
                    decoded.insert(key.clone(), value);
                }
                let created = self.replicated.get(&key).map_or(0, |t| t.created);
                order.push((created, def.clone(), key));
            }
        }
        let live_keys: HashSet<&WorkloadKey> = order.iter().map(|(_, _, k)| k).collect();
        self.replicated.retain(|k, _| live_keys.contains(k));
        order.retain(|(_, _, k)| self.replicated.get(k).is_some_and(|t| !t.deleting));
        order.sort_by(|(ca, _, a), (cb, _, b)| (ca, &a.1, &a.2).cmp(&(cb, &b.1, &b.2)));
        let mut remaining = cfg.capacity.unwrap_or(u64::MAX);
        for (_, def, key) in order {
            let Some(t) = self.replicated.get_mut(&key) else {
                continue;
            };
            let due = t.since + cfg.ready_delay;
            let settled = now >= due;
            if !settled {
                wake_at(due);
            }
            let desired = t.desired;
            // A new generation keeps the replicas that were ready until it settles.
            let want = if settled {
                desired
            } else {
                t.was_ready.min(desired)
            };
            let ready = want.min(remaining);
            remaining -= ready;
            // Like the real controller, a rollout that cannot get all its replicas available
            // within spec.progressDeadlineSeconds (default 600) is reported as stuck.
            let deadline = due + Duration::from_secs(t.progress_deadline);
            let stuck = settled && ready < desired && now >= deadline;
            if settled && ready < desired && !stuck {
                wake_at(deadline);
            }
            if t.reflects == Some((ready, settled, stuck)) {
                continue;
            }
            t.reflects = Some((ready, settled, stuck));
            let obj = match decoded.remove(&key) {
                Some(v) => v,
                None => match st.get(&def, &key.1, &key.2) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            let status = if def.plural == "deployments" {
                deployment_status(&obj, desired, ready, settled, stuck)
            } else {
                replicaset_status(&obj, desired, ready)
            };
            if obj.get("status") != Some(&status) {
                writes.push((def, obj, status));
            }
        }

        if let Some((def, jobs)) = objects(&st, "batch", "jobs") {
            for obj in jobs {
                live.insert(meta::uid(&obj).to_string());
                let suspended = meta::get_path(&obj, "spec.suspend") == Some(&json!(true));
                if suspended || meta::get_path(&obj, "status.completionTime").is_some() {
                    continue;
                }
                let due = self.due(&obj, cfg.ready_delay, now);
                let done = now >= due;
                if !done {
                    wake_at(due);
                }
                let status = job_status(&obj, done);
                if done || obj.get("status") != Some(&status) {
                    writes.push((def.clone(), obj, status));
                }
            }
        }

        if cfg.load_balancer_ips
            && let Some((def, services)) = objects(&st, "", "services")
        {
            for obj in services {
                let is_lb = meta::get_path(&obj, "spec.type") == Some(&json!("LoadBalancer"));
                let has_ip = meta::get_path(&obj, "status.loadBalancer.ingress")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if is_lb && !has_ip {
                    self.next_ip += 1;
                    let n = self.next_ip;
                    let ip = format!(
                        "10.{}.{}.{}",
                        240 + (n >> 16) % 16,
                        (n >> 8) & 0xff,
                        n & 0xff
                    );
                    writes.push((
                        def.clone(),
                        obj,
                        json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}),
                    ));
                } else if !is_lb && has_ip {
                    writes.push((def.clone(), obj, json!({"loadBalancer": {}})));
                }
            }
        }

        for (def, obj, status) in writes {
            write_status(&mut st, &def, &obj, status);
        }
        self.seen.retain(|uid, _| live.contains(uid));
        next
    }
}
