//! One fleet size, phase by phase: fan-out, updates, throughput, steady state, memory and
//! cold start, each operator figure next to its lower bound.

use super::error::BenchError;
use super::fleet::{Fleet, federated_resource};
use super::lower_bound::BareClients;
use super::observe::{json_size, object_counts, poll_until, verify, wait_counts, wait_everywhere};
use super::options::Plan;
use super::process::{cpu_time, heap_bytes, rss_bytes, server_heap_bytes};
use super::report::{ColdStart, FleetResult, Memory, Steady, Throughput, Update};
use super::stats::Latency;
use super::workload::{LOWER_BOUND_NAMESPACE, NAMESPACE, Workload};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Concurrent creates of federated objects on the host (a client creating a batch).
const CREATE_CONCURRENCY: usize = 32;
/// No writes for this long counts as settled.
pub const QUIET: Duration = Duration::from_secs(1);
/// Settling is reported, never waited for beyond this.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

struct Phase<'a> {
    plan: &'a Plan,
    fleet: Fleet,
    workload: Workload,
    federated: Api<DynamicObject>,
    /// Every federated deployment and the revision its template is at.
    expected: BTreeMap<String, u64>,
    /// Heap the operator held per member once the fleet was ready, before any federated
    /// deployment: its clients, connections, watches and member registry.
    heap_per_member_before_objects: f64,
}

pub async fn run(plan: &Plan, members: usize) -> Result<FleetResult, BenchError> {
    let mut fleet = Fleet::create(members, plan).await?;
    let heap_before_operator = client_heap_bytes();
    fleet.start_operator().await?;
    fleet.wait_members_ready(plan.timeout).await?;
    fleet.federate_namespace(NAMESPACE, plan.timeout).await?;
    let heap_per_member_before_objects =
        (client_heap_bytes() - heap_before_operator).max(0) as f64 / members.max(1) as f64;
    fleet.create_member_namespace(LOWER_BOUND_NAMESPACE)?;
    let federated = Api::namespaced_with(
        fleet.host_client.clone(),
        NAMESPACE,
        &federated_resource("FederatedDeployment", "federateddeployments"),
    );
    let mut phase = Phase {
        plan,
        fleet,
        workload: Workload::new(plan.payload_bytes),
        federated,
        expected: BTreeMap::new(),
        heap_per_member_before_objects,
    };
    progress("fleet ready");
    let sync_concurrency = usize::from(phase.fleet.running()?.sync_concurrency);
    let bare = BareClients::connect(&phase.fleet.members, plan.member_in_flight).await?;

    // Warm both paths (connections, member caches, watches) before timing anything.
    phase.create_and_wait("warm-up").await?;
    bare.fan_out(&phase.workload, "warm-up", 1).await?;

    let names: Vec<String> = (0..plan.repeats).map(|i| format!("fan-{i}")).collect();
    let mut fan_out = Vec::new();
    let mut fan_out_lower_bound = Vec::new();
    for name in &names {
        fan_out.push(phase.create_and_wait(name).await?);
        fan_out_lower_bound.push(bare.fan_out(&phase.workload, name, 1).await?);
    }
    progress("fan-out measured");
    let update_few = phase.update_each(&names, 2).await?;

    let objects: Vec<String> = (0..plan.objects).map(|i| format!("obj-{i}")).collect();
    let (throughput, memory) = phase.throughput(bare, &objects, sync_concurrency).await?;
    progress("throughput measured");
    let sampled = &objects[..plan.repeats.min(objects.len())];
    let update_many = phase.update_each(sampled, 2).await?;
    progress("updates measured");
    let steady = phase.steady().await;
    progress("steady state measured");
    let cold_start = phase.cold_start().await?;
    phase.verify()?;
    Ok(FleetResult {
        members,
        objects: plan.objects,
        sync_concurrency,
        fan_out: Latency::of(&fan_out),
        fan_out_lower_bound: Latency::of(&fan_out_lower_bound),
        throughput,
        update_few,
        update_many,
        steady,
        memory,
        cold_start,
    })
}

fn progress(what: &str) {
    eprintln!("fedbench:   {what}");
}

impl Phase<'_> {
    async fn create(&mut self, name: &str) -> Result<(), BenchError> {
        create(&self.federated, &self.workload, name).await?;
        self.expected.insert(name.to_string(), 1);
        Ok(())
    }

    /// Creates one federated object and times it until every member has it.
    async fn create_and_wait(&mut self, name: &str) -> Result<Duration, BenchError> {
        let started = Instant::now();
        self.create(name).await?;
        let members = &self.fleet.members;
        wait_everywhere(members, NAMESPACE, name, 1, started, self.plan.timeout).await
    }

    /// Moves each object's template to `revision` in turn, timing each until every member
    /// has the change.
    async fn update_each(&mut self, names: &[String], revision: u64) -> Result<Update, BenchError> {
        let mut samples = Vec::with_capacity(names.len());
        let patch = Workload::revision_patch(revision);
        for name in names {
            let started = Instant::now();
            self.federated
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(BenchError::kube(format!("update {name}")))?;
            self.expected.insert(name.clone(), revision);
            let members = &self.fleet.members;
            samples.push(
                wait_everywhere(
                    members,
                    NAMESPACE,
                    name,
                    revision,
                    started,
                    self.plan.timeout,
                )
                .await?,
            );
        }
        Ok(Update {
            federated_objects: self.expected.len(),
            latency: Latency::of(&samples),
        })
    }

    async fn throughput(
        &mut self,
        bare: BareClients,
        names: &[String],
        concurrency: usize,
    ) -> Result<(Throughput, Memory), BenchError> {
        let member_objects = names.len() * self.fleet.members.len();
        let rss_before = rss_bytes();
        let heap_before = heap_bytes();
        self.fleet.reset_counters();
        let lower_bound = bare.bulk(&self.workload, names, concurrency).await?;
        progress("throughput lower bound measured");
        // Its connections are closed before the operator's phase (open files at N = 1000).
        drop(bare);
        let heap_after_lower_bound = heap_bytes();
        let lower_bound_member_requests = self.fleet.member_requests_by_verb();
        let rss_after_lower_bound = rss_bytes();

        self.fleet.reset_counters();
        let (reconciles_before, busy_before, unchanged_before) = self.reconcile_totals()?;
        let baseline = object_counts(&self.fleet.members);
        let started = Instant::now();
        let mut creates = futures::stream::iter(names)
            .map(|name| create(&self.federated, &self.workload, name))
            .buffer_unordered(CREATE_CONCURRENCY);
        while let Some(result) = creates.next().await {
            result?;
        }
        let host_create = started.elapsed();
        for name in names {
            self.expected.insert(name.clone(), 1);
        }
        let members = &self.fleet.members;
        let detail = || match self.reconcile_totals() {
            Ok((all, busy, unchanged)) => format!(
                "{} full reconciles (+{} found nothing changed), {:.1} s in them, RSS {} MiB",
                all.saturating_sub(reconciles_before)
                    .saturating_sub(unchanged.saturating_sub(unchanged_before)),
                unchanged.saturating_sub(unchanged_before),
                busy - busy_before,
                rss_bytes() >> 20
            ),
            Err(e) => e.to_string(),
        };
        let took = wait_counts(
            members,
            &baseline,
            names.len(),
            started,
            self.plan.timeout,
            detail,
        )
        .await?;
        progress("throughput: every member object written");
        let member_requests = self.fleet.member_requests_by_verb();
        let host_writes = self.fleet.host_writes_by_resource();
        let (reconciles_after, busy_after, unchanged_after) = self.reconcile_totals()?;
        let rss_after_operator = rss_bytes();
        self.verify()?;
        let settle = settle(&self.fleet).await;

        let passes = reconciles_after.saturating_sub(reconciles_before);
        let unchanged_reconciles = unchanged_after.saturating_sub(unchanged_before);
        let per_object = |bytes: u64| bytes as f64 / member_objects.max(1) as f64;
        let store_growth = rss_after_lower_bound.saturating_sub(rss_before);
        let operator_growth = rss_after_operator.saturating_sub(rss_after_lower_bound);
        let json_bytes = names
            .first()
            .map_or(0, |n| json_size(&self.fleet.members[0], NAMESPACE, n));
        Ok((
            Throughput {
                objects_per_second: names.len() as f64 / took.as_secs_f64(),
                lower_bound_objects_per_second: names.len() as f64 / lower_bound.as_secs_f64(),
                seconds: took.as_secs_f64(),
                lower_bound_seconds: lower_bound.as_secs_f64(),
                host_create_seconds: host_create.as_secs_f64(),
                reconciles: passes.saturating_sub(unchanged_reconciles),
                unchanged_reconciles,
                mean_reconcile_ms: if passes == 0 {
                    0.0
                } else {
                    1000.0 * (busy_after - busy_before) / passes as f64
                },
                member_requests,
                lower_bound_member_requests,
                host_writes,
                settle_seconds: settle.map(|d| d.as_secs_f64()),
            },
            Memory {
                member_objects,
                rss_before_bytes: rss_before,
                rss_after_lower_bound_bytes: rss_after_lower_bound,
                rss_after_operator_bytes: rss_after_operator,
                store_bytes_per_member_object: per_object(store_growth),
                store_heap_bytes_per_member_object: per_object(
                    heap_after_lower_bound.saturating_sub(heap_before).max(0) as u64,
                ),
                operator_bytes_per_member_object: per_object(
                    operator_growth.saturating_sub(store_growth),
                ),
                member_object_json_bytes: json_bytes,
            },
        ))
    }

    /// Writes and CPU over a window after everything converged and settled.
    async fn steady(&self) -> Steady {
        settle(&self.fleet).await;
        self.fleet.reset_counters();
        let cpu_before = cpu_time();
        let started = Instant::now();
        tokio::time::sleep(self.plan.steady).await;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(cpu_before);
        let (host, members) = self.fleet.writes();
        Steady {
            seconds,
            host_writes_per_minute: host as f64 * 60.0 / seconds,
            member_writes_per_minute: members as f64 * 60.0 / seconds,
            cpu_seconds: cpu.as_secs_f64(),
        }
    }

    /// Replaces the operator with a fresh one and times it until it has verified the fleet:
    /// every member Ready, every federated object (deployments and the namespace) reconciled
    /// since, and the sync controller idle.
    async fn cold_start(&mut self) -> Result<ColdStart, BenchError> {
        let before = self.statuses().await?;
        let (heap_running, servers_running) = (client_heap_bytes(), server_heap_bytes());
        self.fleet.stop_operator();
        // What the stopped operator held: its caches of every member object, queues, clients.
        // The API servers' side of its connections and watches, released at the same time,
        // is counted apart.
        let released = heap_running
            .saturating_sub(heap_after_teardown().await)
            .max(0) as f64;
        let servers_released = servers_running.saturating_sub(server_heap_bytes()).max(0) as f64;
        let member_objects = (self.expected.len() * self.fleet.members.len()).max(1);
        self.fleet.reset_counters();
        let federated_objects = self.expected.len() as u64 + 1;
        let started = Instant::now();
        self.fleet.start_operator().await?;
        let verified = self
            .fleet
            .wait_reconciled(federated_objects, started, QUIET, self.plan.timeout)
            .await?;
        let quiet = settle(&self.fleet).await.map(|d| d + verified);
        let (host_writes, member_writes) = self.fleet.writes();
        let host_writes_by_resource = self.fleet.host_writes_by_resource();
        if host_writes > 0 {
            report_rewrites(&before, &self.statuses().await?);
        }
        Ok(ColdStart {
            federated_objects,
            verified_seconds: verified.as_secs_f64(),
            quiet_seconds: quiet.map(|d| d.as_secs_f64()),
            host_writes,
            member_writes,
            host_writes_by_resource,
            operator_heap_bytes_per_member_object: released / member_objects as f64,
            server_heap_bytes_per_member_object: servers_released / member_objects as f64,
            operator_heap_bytes_per_member_before_objects: self.heap_per_member_before_objects,
        })
    }

    /// Every federated deployment's resourceVersion and status.
    async fn statuses(&self) -> Result<BTreeMap<String, (String, Value)>, BenchError> {
        let list = self
            .federated
            .list(&Default::default())
            .await
            .map_err(BenchError::kube("list federated deployments"))?;
        Ok(list
            .items
            .into_iter()
            .map(|o| {
                let version = o.metadata.resource_version.clone().unwrap_or_default();
                let status = o.data.get("status").cloned().unwrap_or(Value::Null);
                (o.name_any(), (version, status))
            })
            .collect())
    }

    /// (sync reconciliations that ran in full, seconds spent in them, reconciliations that
    /// found nothing changed) so far.
    fn reconcile_totals(&self) -> Result<(u64, f64, u64), BenchError> {
        let metrics = &self.fleet.running()?.metrics;
        let text = metrics
            .encode()
            .map_err(|e| BenchError::Sim(format!("encode metrics: {e}")))?;
        let value = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            value("kubefed_reconcile_duration_seconds_count{controller=\"sync\"}") as u64,
            value("kubefed_reconcile_duration_seconds_sum{controller=\"sync\"}"),
            value("kubefed_reconciles_unchanged_total{controller=\"sync\"}") as u64,
        ))
    }

    fn verify(&self) -> Result<(), BenchError> {
        let expected: Vec<(String, u64)> =
            self.expected.iter().map(|(n, r)| (n.clone(), *r)).collect();
        verify(&self.fleet.members, &self.workload, NAMESPACE, &expected)
    }
}

/// The heap outside the simulated API servers' threads (all of it when they share the
/// clients' runtime): the operator's, the bench's and the lower bound's clients'.
fn client_heap_bytes() -> i64 {
    heap_bytes() - server_heap_bytes()
}

/// The heap once a stopped operator's tasks and connections have wound down: its tasks end
/// on the runtime's threads after the stop returns, so the heap is read until it stops
/// falling (no more than 1 % of a 100 ms step's start, two steps in a row), for at most 10 s.
/// A fixed wait counted less the slower the teardown was.
async fn heap_after_teardown() -> i64 {
    const STEP: Duration = Duration::from_millis(100);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = client_heap_bytes();
    let mut still = 0;
    while still < 2 && Instant::now() < deadline {
        tokio::time::sleep(STEP).await;
        let now = client_heap_bytes();
        still = if last - now <= last / 100 {
            still + 1
        } else {
            0
        };
        last = now;
    }
    last
}

pub async fn create(
    api: &Api<DynamicObject>,
    workload: &Workload,
    name: &str,
) -> Result<(), BenchError> {
    let obj: DynamicObject = serde_json::from_value(workload.federated(name, 1))?;
    api.create(&PostParams::default(), &obj)
        .await
        .map_err(BenchError::kube(format!("create {name}")))?;
    Ok(())
}

/// Waits until the fleet sees no write for [`QUIET`]; returns how long that took, or None
/// when writes went on past [`SETTLE_LIMIT`] (reported, not fatal: a figure, not a test).
pub async fn settle(fleet: &Fleet) -> Option<Duration> {
    let started = Instant::now();
    let total = || {
        let (host, members) = fleet.writes();
        host + members
    };
    let mut last = (total(), Instant::now());
    poll_until("quiet", SETTLE_LIMIT, Duration::from_millis(50), || {
        let now = total();
        if now != last.0 {
            last = (now, Instant::now());
        }
        (last.1.elapsed() >= QUIET).then(|| last.1.duration_since(started))
    })
    .await
    .ok()
}

/// Names the federated objects a cold start rewrote and how their status changed (a cold
/// start is meant to write nothing: each line is a lead to a status that was not final).
fn report_rewrites(
    before: &BTreeMap<String, (String, Value)>,
    after: &BTreeMap<String, (String, Value)>,
) {
    for (name, (version, status)) in after {
        let Some((old_version, old_status)) = before.get(name) else {
            continue;
        };
        if old_version != version {
            let mut changes = Vec::new();
            differences("status", old_status, status, &mut changes);
            eprintln!(
                "fedbench:   cold start rewrote {name}: {}",
                changes.join("; ")
            );
        }
    }
}

/// Where two JSON values differ, as `path: old -> new` (at most 5, each shortened).
fn differences(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    const MAX: usize = 5;
    if out.len() >= MAX || old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{key}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => {
            let short = |v: &Value| v.to_string().chars().take(160).collect::<String>();
            out.push(format!("{path}: {} -> {}", short(old), short(new)));
        }
    }
}
