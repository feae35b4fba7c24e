//! `fedbench --pull`: N pull members next to N push members, the same objects through each:
//! fan-out p50/p99 next to the bare-client lower bound, host requests and writes per object,
//! and host storage per member object (the MemberWorks pull mode adds).

use super::error::BenchError;
use super::fleet::{Fleet, federated_resource};
use super::lower_bound::BareClients;
use super::observe::wait_everywhere;
use super::options::Plan;
use super::stats::Latency;
use super::workload::{LOWER_BOUND_NAMESPACE, NAMESPACE, Workload};
use kube::api::{Api, DynamicObject, PostParams};
use kubefed::agent::{AgentConfig, AgentStats};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// One mode's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeResult {
    pub mode: &'static str,
    pub members: usize,
    /// Federated objects timed (the per-object figures divide by this).
    pub objects: usize,
    pub fan_out: Latency,
    pub lower_bound: Latency,
    /// Host requests and writes per federated object during the fan-out phase.
    pub host_requests_per_object: f64,
    pub host_writes_per_object: f64,
    /// Member writes per federated object.
    pub member_writes_per_object: f64,
    /// Objects and JSON bytes the host stores per member object (MemberWorks; 0 for push).
    pub host_objects_per_member_object: f64,
    pub host_bytes_per_member_object: f64,
    /// Length of the timed phase, over which the host counters ran.
    pub phase_seconds: f64,
    /// Host requests of the timed phase, by verb and resource.
    pub host_requests: std::collections::BTreeMap<String, u64>,
    /// Status reports (MemberWork status patches) and passes of all agents per object.
    pub agent_status_reports_per_object: f64,
    pub agent_passes_per_object: f64,
}

struct Agents(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Agents {
    fn drop(&mut self) {
        for a in &self.0 {
            a.abort();
        }
    }
}

/// Runs both modes with `members` members.
pub async fn compare(plan: &Plan, members: usize) -> Result<Vec<ModeResult>, BenchError> {
    let mut results = Vec::new();
    for pull in [false, true] {
        results.push(run_mode(plan, members, pull).await?);
    }
    Ok(results)
}

async fn run_mode(plan: &Plan, members: usize, pull: bool) -> Result<ModeResult, BenchError> {
    let mut fleet = Fleet::create_joined(members, plan, pull).await?;
    // One set of counters for all agents: their sums.
    let agent_stats = AgentStats::default();
    let _agents = if pull {
        Agents(
            fleet
                .members
                .iter()
                .map(|m| {
                    let config = AgentConfig {
                        cluster: m.name().to_string(),
                        host: fleet.host_client.clone(),
                        member: m.client(),
                        heartbeat: Duration::from_secs(1),
                        grace: Duration::from_secs(1),
                        timeout: Duration::from_secs(10),
                    };
                    let stats = agent_stats.clone();
                    tokio::spawn(async move {
                        let _ = kubefed::agent::run(config, stats).await;
                    })
                })
                .collect(),
        )
    } else {
        Agents(Vec::new())
    };
    fleet.start_operator().await?;
    fleet.wait_members_ready(plan.timeout).await?;
    fleet.federate_namespace(NAMESPACE, plan.timeout).await?;
    fleet.create_member_namespace(LOWER_BOUND_NAMESPACE)?;
    let workload = Workload::new(plan.payload_bytes);
    let federated: Api<DynamicObject> = Api::namespaced_with(
        fleet.host_client.clone(),
        NAMESPACE,
        &federated_resource("FederatedDeployment", "federateddeployments"),
    );
    let bare = BareClients::connect(&fleet.members, plan.member_in_flight).await?;
    let create = |name: String| {
        let federated = federated.clone();
        let obj = workload.federated(&name, 1);
        async move {
            let obj: DynamicObject = serde_json::from_value(obj)?;
            federated
                .create(&PostParams::default(), &obj)
                .await
                .map_err(BenchError::kube(format!("create {name}")))?;
            Ok::<(), BenchError>(())
        }
    };
    // Warm both paths before timing.
    let started = Instant::now();
    create("warm-up".into()).await?;
    wait_everywhere(
        &fleet.members,
        NAMESPACE,
        "warm-up",
        1,
        started,
        plan.timeout,
    )
    .await?;
    bare.fan_out(&workload, "warm-up", 1).await?;

    fleet.reset_counters();
    let agents_before = agent_stats.get();
    let phase = Instant::now();
    let mut fan_out = Vec::new();
    let mut lower_bound = Vec::new();
    for i in 0..plan.repeats {
        let name = format!("fan-{i}");
        let started = Instant::now();
        create(name.clone()).await?;
        fan_out.push(
            wait_everywhere(&fleet.members, NAMESPACE, &name, 1, started, plan.timeout).await?,
        );
        lower_bound.push(bare.fan_out(&workload, &name, 1).await?);
    }
    let phase_seconds = phase.elapsed().as_secs_f64();
    let agents_after = agent_stats.get();
    let (host_writes, member_writes) = fleet.writes();
    let by_request: std::collections::BTreeMap<String, u64> = fleet
        .host
        .counters()
        .requests
        .into_iter()
        .map(|((verb, resource), n)| (format!("{} {resource}", verb.as_str()), n))
        .collect();
    let host_requests: u64 = by_request.values().sum();
    let n = plan.repeats as f64;
    let member_objects = ((plan.repeats + 1) * members) as f64;
    let works = fleet
        .host
        .list_objects("work.kubefed.io", "memberworks", None);
    let bytes: usize = works
        .iter()
        .map(|w| serde_json::to_vec(w).map(|v| v.len()).unwrap_or(0))
        .sum();
    Ok(ModeResult {
        mode: if pull { "pull" } else { "push" },
        members,
        objects: plan.repeats,
        fan_out: Latency::of(&fan_out),
        lower_bound: Latency::of(&lower_bound),
        host_requests_per_object: host_requests as f64 / n,
        host_writes_per_object: host_writes as f64 / n,
        member_writes_per_object: member_writes as f64 / n,
        host_objects_per_member_object: works.len() as f64 / member_objects,
        host_bytes_per_member_object: bytes as f64 / member_objects,
        phase_seconds,
        host_requests: by_request,
        agent_status_reports_per_object: (agents_after.status_writes - agents_before.status_writes)
            as f64
            / n,
        agent_passes_per_object: (agents_after.passes - agents_before.passes) as f64 / n,
    })
}

/// The side-by-side table.
pub fn table(results: &[ModeResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| mode | members | fan-out p50 / p99 ms | lower bound p50 / p99 ms | ratio p50 | host req/obj | host writes/obj | member writes/obj | host objects/member obj | host bytes/member obj |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let ratio = if r.lower_bound.p50_ms > 0.0 {
            r.fan_out.p50_ms / r.lower_bound.p50_ms
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1}x | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} |",
            r.mode,
            r.members,
            r.fan_out.p50_ms,
            r.fan_out.p99_ms,
            r.lower_bound.p50_ms,
            r.lower_bound.p99_ms,
            ratio,
            r.host_requests_per_object,
            r.host_writes_per_object,
            r.member_writes_per_object,
            r.host_objects_per_member_object,
            r.host_bytes_per_member_object,
        );
    }
    for r in results {
        let _ = writeln!(
            out,
            "\n{} host requests over the {:.1} s phase, by verb and resource (per object):",
            r.mode, r.phase_seconds
        );
        if r.mode == "pull" {
            let _ = writeln!(
                out,
                "  (agents: {:.1} status reports and {:.1} passes per object; heartbeat Lease \
                 renewals are {:.1} writes/s for the fleet, whatever the objects)",
                r.agent_status_reports_per_object,
                r.agent_passes_per_object,
                r.host_requests
                    .get("patch leases.coordination.k8s.io")
                    .copied()
                    .unwrap_or(0) as f64
                    / r.phase_seconds.max(f64::MIN_POSITIVE),
            );
        }
        let objects = r.objects.max(1) as f64;
        for (request, count) in &r.host_requests {
            let _ = writeln!(
                out,
                "  {request:<60} {count:>8} ({:.1})",
                *count as f64 / objects
            );
        }
    }
    out
}
