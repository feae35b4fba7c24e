//! Results of a run: the figures per fleet size, printed as a table and saved as JSON.

use super::error::BenchError;
use super::options::Plan;
use super::stats::Latency;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Member request verbs of the caches (per member and over time), not of the objects.
const CACHE_VERBS: [&str; 3] = ["list", "watch", "nonresource"];

#[derive(Debug, Serialize)]
pub struct Run {
    pub date: String,
    pub commit: String,
    pub command: Vec<String>,
    pub plan: Plan,
    pub fleets: Vec<FleetResult>,
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct FleetResult {
    pub members: usize,
    pub objects: usize,
    pub sync_concurrency: usize,
    pub fan_out: Latency,
    pub fan_out_lower_bound: Latency,
    pub throughput: Throughput,
    /// Update latency with few objects federated (the latency samples plus a warm-up).
    pub update_few: Update,
    /// Update latency with `objects` more federated.
    pub update_many: Update,
    pub steady: Steady,
    pub memory: Memory,
    pub cold_start: ColdStart,
}

#[derive(Debug, Serialize)]
pub struct Update {
    pub federated_objects: usize,
    pub latency: Latency,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub objects_per_second: f64,
    pub lower_bound_objects_per_second: f64,
    pub seconds: f64,
    pub lower_bound_seconds: f64,
    /// Time to create the federated objects on the host (included in `seconds`).
    pub host_create_seconds: f64,
    /// Sync reconciliations during the phase that ran in full.
    pub reconciles: u64,
    /// Sync reconciliations that found only the operator's own writes and stopped there
    /// (not in `reconciles`).
    pub unchanged_reconciles: u64,
    /// Mean duration of all the phase's reconciliations (the unchanged ones take
    /// microseconds).
    pub mean_reconcile_ms: f64,
    /// Requests the members served, by verb.
    pub member_requests: BTreeMap<String, u64>,
    pub lower_bound_member_requests: BTreeMap<String, u64>,
    /// Writes the host served, by verb and resource.
    pub host_writes: BTreeMap<String, u64>,
    /// Time after full propagation until no more writes (status) for a second; None when
    /// writes never stopped.
    pub settle_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Steady {
    pub seconds: f64,
    pub host_writes_per_minute: f64,
    pub member_writes_per_minute: f64,
    pub cpu_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub member_objects: usize,
    pub rss_before_bytes: u64,
    /// After the bare client stored `member_objects` in the members (simulator storage).
    pub rss_after_lower_bound_bytes: u64,
    /// After the operator propagated as many (simulator storage + operator caches).
    pub rss_after_operator_bytes: u64,
    pub store_bytes_per_member_object: f64,
    /// Live heap growth over the bare client's phase per stored object (simulator only).
    pub store_heap_bytes_per_member_object: f64,
    pub operator_bytes_per_member_object: f64,
    pub member_object_json_bytes: usize,
}

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub federated_objects: u64,
    pub verified_seconds: f64,
    pub quiet_seconds: Option<f64>,
    pub host_writes: u64,
    pub member_writes: u64,
    pub host_writes_by_resource: BTreeMap<String, u64>,
    /// Heap the operator released when it was stopped, per member object: everything it
    /// held (member caches, host caches, queues, clients) at the largest size of the run.
    pub operator_heap_bytes_per_member_object: f64,
    /// Heap the simulated API servers released at the same time, per member object: their
    /// side of the operator's connections, watches and requests (not the operator's).
    pub server_heap_bytes_per_member_object: f64,
    /// Heap the operator held per member before any federated deployment (once every member
    /// was Ready and the namespace federated): the part of the figure above that does not
    /// shrink with more objects per member.
    pub operator_heap_bytes_per_member_before_objects: f64,
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.1}x", a / b)
    } else {
        "-".into()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn row(out: &mut String, what: &str, op: f64, lb: Option<f64>, r: String) {
    let lb = lb.map_or("-".to_string(), |v| format!("{v:.1}"));
    out.push_str(&format!("  {what:<34} {op:>12.1} {lb:>12} {r:>8}\n"));
}

impl FleetResult {
    pub fn table(&self) -> String {
        let mut out = format!(
            "members={} objects={} sync-concurrency={}\n  {:<34} {:>12} {:>12} {:>8}\n",
            self.members,
            self.objects,
            self.sync_concurrency,
            "",
            "operator",
            "lower bound",
            "ratio"
        );
        let lb = &self.fan_out_lower_bound;
        for (what, op, bound) in [
            ("fan-out latency p50 (ms)", self.fan_out.p50_ms, lb.p50_ms),
            ("fan-out latency p99 (ms)", self.fan_out.p99_ms, lb.p99_ms),
        ] {
            row(&mut out, what, op, Some(bound), ratio(op, bound));
        }
        let t = &self.throughput;
        row(
            &mut out,
            "throughput (objects/s)",
            t.objects_per_second,
            Some(t.lower_bound_objects_per_second),
            ratio(t.lower_bound_objects_per_second, t.objects_per_second),
        );
        for u in [&self.update_few, &self.update_many] {
            for (p, op, bound) in [
                ("p50", u.latency.p50_ms, lb.p50_ms),
                ("p99", u.latency.p99_ms, lb.p99_ms),
            ] {
                row(
                    &mut out,
                    &format!("update latency {p}, M={} (ms)", u.federated_objects),
                    op,
                    Some(bound),
                    ratio(op, bound),
                );
            }
        }
        out.push_str(&format!(
            "  throughput detail: {:.1}s (host creates {:.1}s), {} full reconciles (+{} that found nothing changed), mean {:.1} ms per reconcile; status settled after {}\n",
            t.seconds,
            t.host_create_seconds,
            t.reconciles,
            t.unchanged_reconciles,
            t.mean_reconcile_ms,
            t.settle_seconds.map_or("never".into(), |s| format!("{s:.1}s")),
        ));
        out.push_str(&format!(
            "  member requests: operator {:?}; lower bound {:?}\n  host writes: {:?}\n",
            t.member_requests, t.lower_bound_member_requests, t.host_writes
        ));
        let s = &self.steady;
        out.push_str(&format!(
            "  steady state ({:.0}s): host writes/min {:.1}, member writes/min {:.1}, CPU {:.3}s ({:.1}% of a core)\n",
            s.seconds,
            s.host_writes_per_minute,
            s.member_writes_per_minute,
            s.cpu_seconds,
            100.0 * s.cpu_seconds / s.seconds
        ));
        let m = &self.memory;
        out.push_str(&format!(
            "  memory for {} member objects: RSS {:.0} -> {:.0} MiB (bare client) -> {:.0} MiB (operator); simulator store {:.0} B/object (heap {:.0} B/object), operator {:.0} B/object, object JSON {} B\n",
            m.member_objects,
            mib(m.rss_before_bytes),
            mib(m.rss_after_lower_bound_bytes),
            mib(m.rss_after_operator_bytes),
            m.store_bytes_per_member_object,
            m.store_heap_bytes_per_member_object,
            m.operator_bytes_per_member_object,
            m.member_object_json_bytes
        ));
        let c = &self.cold_start;
        out.push_str(&format!(
            "  cold start: {} federated objects verified in {:.2}s, quiet after {}; writes host {} {:?}, members {}\n",
            c.federated_objects,
            c.verified_seconds,
            c.quiet_seconds.map_or("never".into(), |s| format!("{s:.2}s")),
            c.host_writes,
            c.host_writes_by_resource,
            c.member_writes
        ));
        out.push_str(&format!(
            "  operator heap released when it stopped: {:.0} B per member object (the API servers' side of its connections: {:.0} B more)\n",
            c.operator_heap_bytes_per_member_object, c.server_heap_bytes_per_member_object
        ));
        let fixed = c.operator_heap_bytes_per_member_before_objects;
        let fixed_per_object = fixed / self.objects.max(1) as f64;
        out.push_str(&format!(
            "    of which per member, held before any object: {:.1} KB ({fixed:.0} B over {} objects: {fixed_per_object:.0} B per member object); the rest: {:.0} B per member object\n",
            fixed / 1000.0,
            self.objects,
            c.operator_heap_bytes_per_member_object - fixed_per_object,
        ));
        out.push_str(&self.goals());
        out
    }

    /// The acceptance goals, each with its figure and whether it is met.
    pub fn goals(&self) -> String {
        let t = &self.throughput;
        let m = &self.memory;
        let member_objects = (self.objects * self.members).max(1) as f64;
        // Requests about objects; the caches' lists, watches and discovery are per member and
        // per unit of time, not per object, and are shown beside the figure.
        let (cache_requests, member_requests) =
            t.member_requests
                .iter()
                .fold((0u64, 0u64), |(cache, objects), (verb, n)| {
                    if CACHE_VERBS.contains(&verb.as_str()) {
                        (cache + n, objects)
                    } else {
                        (cache, objects + n)
                    }
                });
        let events: u64 = t
            .host_writes
            .iter()
            .filter(|(k, _)| k.contains(" events."))
            .map(|(_, n)| n)
            .sum();
        let throughput = if t.lower_bound_objects_per_second > 0.0 {
            t.objects_per_second / t.lower_bound_objects_per_second
        } else {
            0.0
        };
        let cold = self.cold_start.host_writes + self.cold_start.member_writes;
        let steady = self.steady.host_writes_per_minute + self.steady.member_writes_per_minute;
        let held = self.cold_start.operator_heap_bytes_per_member_object;
        let rows = [
            (
                "operator memory per member object",
                format!(
                    "{held:.0} B heap released at stop ({:.0} B by RSS growth); goal <= 1536 B: {:.2}x the goal",
                    m.operator_bytes_per_member_object,
                    held / 1536.0
                ),
                held > 0.0 && held <= 1536.0,
            ),
            (
                "host event writes per federated object",
                format!(
                    "{:.2}; goal <= 2",
                    events as f64 / self.objects.max(1) as f64
                ),
                events as f64 / self.objects.max(1) as f64 <= 2.0,
            ),
            (
                "member requests per created member object",
                format!(
                    "{:.4}; goal 1 (besides {cache_requests} list, watch and discovery requests of the member caches)",
                    member_requests as f64 / member_objects
                ),
                member_requests as f64 / member_objects <= 1.0,
            ),
            (
                "throughput / lower bound",
                format!("{throughput:.2}; goal >= 0.8"),
                throughput >= 0.8,
            ),
            (
                "steady state writes/min",
                format!("{steady:.1}; goal 0"),
                steady == 0.0,
            ),
            ("cold start writes", format!("{cold}; goal 0"), cold == 0),
        ];
        let mut out = String::from("  goals:\n");
        for (what, figure, met) in rows {
            let mark = if met { "met" } else { "NOT MET" };
            out.push_str(&format!("    {what:<44} {mark:<8} {figure}\n"));
        }
        out
    }
}

impl Run {
    pub fn table(&self) -> String {
        let mut out = format!(
            "fedbench {} (commit {}), members over {}, payload {} B, member latency {:?}, {} latency samples\n",
            self.date,
            self.commit,
            if self.plan.tls { "HTTPS" } else { "HTTP" },
            self.plan.payload_bytes,
            self.plan.member_latency,
            self.plan.repeats
        );
        for fleet in &self.fleets {
            out.push_str(&fleet.table());
        }
        out.push_str(&format!("peak RSS {:.0} MiB\n", mib(self.peak_rss_bytes)));
        out
    }

    /// Writes the JSON results to `output`, or a fresh file under `target/fedbench/`.
    pub fn save(&self, output: Option<&Path>) -> Result<PathBuf, BenchError> {
        let path = match output {
            Some(p) => p.to_path_buf(),
            None => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/fedbench")
                .join(format!("{}.json", self.date.replace(':', ""))),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
                context: format!("create {}", dir.display()),
                source,
            })?;
        }
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(&path, json).map_err(|source| BenchError::Io {
            context: format!("write {}", path.display()),
            source,
        })?;
        Ok(path)
    }
}
