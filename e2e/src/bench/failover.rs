//! Failover to a standby replica: two leader-elected operators against one converged fleet;
//! the leader is stopped (a crash, then a graceful stop) right after it renewed the Lease,
//! and the standby is timed until it holds the Lease, has verified every object, and has
//! propagated a change made just after the stop.

use super::error::BenchError;
use super::fleet::{Fleet, RunningOperator, federated_resource};
use super::observe::{object_counts, poll_until, verify, wait_counts, wait_everywhere};
use super::options::Plan;
use super::scenario::{QUIET, create, settle};
use super::workload::{NAMESPACE, Workload};
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kubefed::crds::kubefed_config::KubeFedConfig;
use kubefed_sim::server::engine::State;
use kubefed_sim::{ApiError, Middleware, RequestInfo, UserInfo};
use kubefed_testkit::{FEDERATION_NAMESPACE, run_elected_operator_with};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const CREATE_CONCURRENCY: usize = 32;
const LEASES: &str = "leases.coordination.k8s.io";
/// The federated object changed right after the leader stops.
const CHANGED: &str = "obj-0";

/// Every request a cluster served, by user: the writes (verb, resource, and the object's
/// name or, for events, the name of the object they are about), and who sent anything.
#[derive(Default)]
struct RequestLog {
    writes: Mutex<Vec<(String, String, String)>>,
    users: Mutex<BTreeSet<String>>,
}

impl Middleware for RequestLog {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError> {
        // Events are logged at admission, by the object they are about.
        if req.verb.is_write() && !req.resource.starts_with("events") {
            self.log(req, req.name.clone());
        }
        self.users.locked().insert(user_of(req));
        Ok(())
    }

    fn admit(
        &self,
        _st: &State,
        req: &RequestInfo,
        obj: &serde_json::Value,
        _old: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        if req.resource.starts_with("events") {
            let about = obj
                .get("regarding")
                .or_else(|| obj.get("involvedObject"))
                .and_then(|r| r.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or_default();
            self.log(req, about.to_string());
        }
        Ok(())
    }
}

fn user_of(req: &RequestInfo) -> String {
    req.user
        .as_ref()
        .map_or("", |u| u.name.as_str())
        .to_string()
}

/// A poisoned lock only means a panic elsewhere; the log itself stays usable.
trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RequestLog {
    fn log(&self, req: &RequestInfo, about: String) {
        let what = format!("{} {}", req.verb.as_str(), req.group_resource());
        self.writes.locked().push((user_of(req), what, about));
    }

    fn clear(&self) {
        self.writes.locked().clear();
    }

    fn lease_renewals(&self, user: &str) -> usize {
        self.writes
            .locked()
            .iter()
            .filter(|(u, what, _)| u == user && what.ends_with(LEASES))
            .count()
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Stop {
    /// The leader's task is aborted and its credentials revoked: no Lease release.
    Crash,
    /// The leader stops its controllers and releases the Lease.
    Graceful,
}

#[derive(Debug, Serialize)]
pub struct Takeover {
    pub stop: Stop,
    /// From the stop until the standby holds the Lease.
    pub lease_seconds: f64,
    /// From the stop until the standby has reconciled every federated object.
    pub verified_seconds: f64,
    /// From the stop until the change made right after it is on every member.
    pub change_seconds: f64,
    /// Host writes by the standby, by verb and resource.
    pub standby_host_writes: BTreeMap<String, u64>,
    /// Member writes other than those carrying the change.
    pub member_writes_besides_change: u64,
    /// Member writes to the changed object (one per member expected).
    pub member_writes_of_change: u64,
}

#[derive(Debug, Serialize)]
pub struct FailoverResult {
    pub members: usize,
    pub objects: usize,
    pub lease_duration_seconds: f64,
    pub renew_deadline_seconds: f64,
    pub retry_period_seconds: f64,
    pub takeovers: Vec<Takeover>,
}

struct Replica {
    user: String,
    token: String,
    operator: RunningOperator,
}

async fn start_replica(fleet: &Fleet, name: &str, in_flight: usize) -> Result<Replica, BenchError> {
    let token = format!("{name}-token");
    fleet.host.add_token(
        &token,
        UserInfo {
            name: name.to_string(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        },
    );
    let client = Client::new(fleet.host.service_with_token(Some(&token)), "default");
    let operator = run_elected_operator_with(&client, name, |s| {
        s.health.max_in_flight = in_flight;
    })
    .await?;
    Ok(Replica {
        user: name.to_string(),
        token,
        operator,
    })
}

pub async fn run(plan: &Plan, members: usize) -> Result<FailoverResult, BenchError> {
    let mut fleet = Fleet::create(members, plan).await?;
    let host_log = Arc::new(RequestLog::default());
    let member_log = Arc::new(RequestLog::default());
    fleet.host.add_middleware(host_log.clone());
    for m in &fleet.members {
        m.add_middleware(member_log.clone());
    }
    let config = Api::<KubeFedConfig>::namespaced(fleet.host_client.clone(), FEDERATION_NAMESPACE)
        .get("kubefed")
        .await
        .map_err(BenchError::kube("get KubeFedConfig"))?;
    let timings = config
        .spec
        .defaulted()
        .timings()
        .map_err(|e| BenchError::Sim(format!("KubeFedConfig timings: {e}")))?;

    let mut leader = start_replica(&fleet, "operator-1", plan.member_in_flight).await?;
    let timeout = plan.timeout;
    poll_until(
        "the first replica leads",
        timeout,
        Duration::from_millis(10),
        || leader.operator.is_leader().then_some(()),
    )
    .await?;
    // The fleet's figures (ready members, reconciles) are those of the current leader.
    fleet.operator = Some(leader.operator);
    fleet.wait_members_ready(timeout).await?;
    fleet.federate_namespace(NAMESPACE, timeout).await?;
    let workload = Workload::new(plan.payload_bytes);
    let federated = Api::namespaced_with(
        fleet.host_client.clone(),
        NAMESPACE,
        &federated_resource("FederatedDeployment", "federateddeployments"),
    );
    let names: Vec<String> = (0..plan.objects).map(|i| format!("obj-{i}")).collect();
    let baseline = object_counts(&fleet.members);
    let started = Instant::now();
    let mut creates = futures::stream::iter(&names)
        .map(|name| create(&federated, &workload, name))
        .buffer_unordered(CREATE_CONCURRENCY);
    while let Some(result) = creates.next().await {
        result?;
    }
    wait_counts(
        &fleet.members,
        &baseline,
        names.len(),
        started,
        timeout,
        String::new,
    )
    .await?;
    let mut expected: BTreeMap<String, u64> = names.iter().map(|n| (n.clone(), 1)).collect();
    settle(&fleet).await;
    eprintln!("fedbench:   converged with a leader");
    leader.operator = fleet
        .operator
        .take()
        .ok_or_else(|| BenchError::Sim("the leader is gone".into()))?;

    let mut takeovers = Vec::new();
    for (i, stop) in [Stop::Crash, Stop::Graceful].into_iter().enumerate() {
        let standby = start_replica(
            &fleet,
            &format!("operator-{}", i + 2),
            plan.member_in_flight,
        )
        .await?;
        poll_until(
            "the standby reads the Lease",
            timeout,
            Duration::from_millis(10),
            || {
                host_log
                    .users
                    .locked()
                    .contains(&standby.user)
                    .then_some(())
            },
        )
        .await?;
        // Stopping right after a renewal is the worst case for a crash: the Lease then
        // stays valid for its whole duration.
        host_log.clear();
        poll_until("a Lease renewal", timeout, Duration::from_millis(5), || {
            (host_log.lease_renewals(&leader.user) > 0).then_some(())
        })
        .await?;
        fleet.reset_counters();
        host_log.clear();
        member_log.clear();
        let stopped = Instant::now();
        match stop {
            Stop::Crash => {
                // Credentials first: the aborted task's Lease watcher must not release it.
                fleet.host.revoke_token(&leader.token);
                leader.operator.abort();
            }
            Stop::Graceful => leader.operator.step_down().await,
        }
        let revision = expected.get(CHANGED).copied().unwrap_or(1) + 1;
        federated
            .patch(
                CHANGED,
                &PatchParams::default(),
                &Patch::Merge(&Workload::revision_patch(revision)),
            )
            .await
            .map_err(BenchError::kube(format!("update {CHANGED}")))?;
        expected.insert(CHANGED.to_string(), revision);
        fleet.operator = Some(standby.operator);
        let operator = fleet.running()?;
        let lease = poll_until(
            "the standby holds the Lease",
            timeout,
            Duration::from_millis(5),
            || operator.is_leader().then(|| stopped.elapsed()),
        );
        let change = wait_everywhere(
            &fleet.members,
            NAMESPACE,
            CHANGED,
            revision,
            stopped,
            timeout,
        );
        // Every deployment plus the namespace.
        let verified = fleet.wait_reconciled(expected.len() as u64 + 1, stopped, QUIET, timeout);
        let (lease, change, verified) = tokio::join!(lease, change, verified);
        let (lease, change, verified) = (lease?, change?, verified?);
        settle(&fleet).await;
        let expected_list: Vec<(String, u64)> =
            expected.iter().map(|(n, r)| (n.clone(), *r)).collect();
        verify(&fleet.members, &workload, NAMESPACE, &expected_list)?;
        let mut standby_host_writes = BTreeMap::new();
        for (user, what, name) in host_log.writes.locked().iter() {
            if *user == standby.user {
                // Status and events of the changed object come from the change itself.
                let key = if name == CHANGED {
                    format!("{what} (the change)")
                } else {
                    what.clone()
                };
                *standby_host_writes.entry(key).or_insert(0) += 1;
            }
        }
        let (of_change, besides): (Vec<_>, Vec<_>) = member_log
            .writes
            .locked()
            .iter()
            .map(|(_, _, name)| name == CHANGED)
            .partition(|c| *c);
        takeovers.push(Takeover {
            stop,
            lease_seconds: lease.as_secs_f64(),
            verified_seconds: verified.as_secs_f64(),
            change_seconds: change.as_secs_f64(),
            standby_host_writes,
            member_writes_besides_change: besides.len() as u64,
            member_writes_of_change: of_change.len() as u64,
        });
        eprintln!("fedbench:   {stop:?} takeover measured");
        drop(leader);
        leader = Replica {
            user: standby.user,
            token: standby.token,
            operator: fleet
                .operator
                .take()
                .ok_or_else(|| BenchError::Sim("the standby is gone".into()))?,
        };
    }
    Ok(FailoverResult {
        members,
        objects: plan.objects,
        lease_duration_seconds: timings.lease_duration.as_secs_f64(),
        renew_deadline_seconds: timings.renew_deadline.as_secs_f64(),
        retry_period_seconds: timings.retry_period.as_secs_f64(),
        takeovers,
    })
}

impl FailoverResult {
    pub fn table(&self) -> String {
        let lease = self.lease_duration_seconds;
        let renew = self.renew_deadline_seconds;
        let mut out = format!(
            "failover members={} objects={}: leaseDuration {lease:.0}s, renewDeadline {renew:.0}s, retryPeriod {:.0}s; leader stopped right after a Lease renewal\n  {:<50} {:>10} {:>10} {:>8}  bound\n",
            self.members, self.objects, self.retry_period_seconds, "", "seconds", "bound", "ratio"
        );
        for t in &self.takeovers {
            // Crash: the Lease stays valid for leaseDuration after the last renewal. Graceful:
            // the standby re-reads the Lease when the one it last saw would have expired,
            // leaseDuration - renewDeadline after a renewal.
            let (bound, why) = match t.stop {
                Stop::Crash => (lease, "leaseDuration"),
                Stop::Graceful => (lease - renew, "leaseDuration - renewDeadline"),
            };
            let stop = match t.stop {
                Stop::Crash => "crash",
                Stop::Graceful => "graceful",
            };
            let rows = [
                (
                    "standby holds the Lease",
                    t.lease_seconds,
                    bound,
                    why.to_string(),
                ),
                (
                    "standby verified every object",
                    t.verified_seconds,
                    bound,
                    format!("{why} + cold start"),
                ),
                (
                    "change made at the stop on every member",
                    t.change_seconds,
                    bound,
                    format!("{why} + fan-out"),
                ),
            ];
            for (what, secs, bound, why) in rows {
                out.push_str(&format!(
                    "  {:<50} {secs:>10.2} {bound:>10.1} {:>8}  {why}\n",
                    format!("{stop}: {what}"),
                    format!("{:.2}x", secs / bound.max(f64::EPSILON)),
                ));
            }
            let lease_writes: u64 = t
                .standby_host_writes
                .iter()
                .filter(|(k, _)| k.ends_with(LEASES))
                .map(|(_, n)| n)
                .sum();
            let other: u64 = t
                .standby_host_writes
                .iter()
                .filter(|(k, _)| !k.ends_with(LEASES) && !k.ends_with("(the change)"))
                .map(|(_, n)| n)
                .sum();
            out.push_str(&format!(
                "  {stop}: after the Lease, cold start {:.2}s, change {:.2}s; standby writes: host {other} besides {lease_writes} Lease and the change {:?}, members {} besides the change ({} for it, goal {})\n",
                t.verified_seconds - t.lease_seconds,
                t.change_seconds - t.lease_seconds,
                t.standby_host_writes,
                t.member_writes_besides_change,
                t.member_writes_of_change,
                self.members,
            ));
        }
        out
    }
}
