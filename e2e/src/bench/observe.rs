//! Seeing results in the members: reads of the simulator's in-process store, which cost no
//! API requests and so leave the measured traffic untouched.

use super::error::BenchError;
use super::workload::{Workload, revision_of};
use kubefed_sim::Cluster;
use std::time::{Duration, Instant};

/// Calls `check` every `every` until it returns `Some` or `timeout` passes.
pub async fn poll_until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(every).await;
    }
}

fn deployment(member: &Cluster, namespace: &str, name: &str) -> Option<serde_json::Value> {
    member.get_object("apps", "deployments", namespace, name)
}

/// Waits until every member has `name` at `revision` or later; returns the time since
/// `since` at which the last member was seen with it.
pub async fn wait_everywhere(
    members: &[Cluster],
    namespace: &str,
    name: &str,
    revision: u64,
    since: Instant,
    timeout: Duration,
) -> Result<Duration, BenchError> {
    let mut pending: Vec<&Cluster> = members.iter().collect();
    poll_until(
        &format!("{namespace}/{name} at revision {revision} on every member"),
        timeout,
        Duration::from_millis(1),
        || {
            pending.retain(|m| {
                deployment(m, namespace, name)
                    .and_then(|o| revision_of(&o))
                    .is_none_or(|r| r < revision)
            });
            pending.is_empty().then(|| since.elapsed())
        },
    )
    .await
}

/// Waits until every member stores `expected` objects more than `baseline` (from
/// [`Cluster::object_count`], cheap enough to poll at scale). Every [`PROGRESS_EVERY`] it
/// prints how far it got and `detail()`, so a long run shows whether it is slow or stuck.
pub async fn wait_counts(
    members: &[Cluster],
    baseline: &[usize],
    expected: usize,
    since: Instant,
    timeout: Duration,
    detail: impl Fn() -> String,
) -> Result<Duration, BenchError> {
    let mut printed = Instant::now();
    poll_until(
        &format!("{expected} objects on every member"),
        timeout,
        Duration::from_millis(10),
        || {
            let arrived: Vec<usize> = members
                .iter()
                .zip(baseline)
                .map(|(m, base)| m.object_count().saturating_sub(*base).min(expected))
                .collect();
            let complete = arrived.iter().filter(|&&a| a >= expected).count();
            if complete == members.len() {
                return Some(since.elapsed());
            }
            if printed.elapsed() >= PROGRESS_EVERY {
                printed = Instant::now();
                eprintln!(
                    "fedbench:     after {:.0}s: {} of {} member objects, {complete} of {} members complete; {}",
                    since.elapsed().as_secs_f64(),
                    arrived.iter().sum::<usize>(),
                    expected * members.len(),
                    members.len(),
                    detail()
                );
            }
            None
        },
    )
    .await
}

/// How often [`wait_counts`] reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

pub fn object_counts(members: &[Cluster]) -> Vec<usize> {
    members.iter().map(Cluster::object_count).collect()
}

/// Checks that every member holds exactly the expected objects with the expected content.
pub fn verify(
    members: &[Cluster],
    workload: &Workload,
    namespace: &str,
    expected: &[(String, u64)],
) -> Result<(), BenchError> {
    for member in members {
        let stored = member.list_objects("apps", "deployments", Some(namespace));
        if stored.len() != expected.len() {
            return Err(BenchError::Incorrect(format!(
                "{} has {} deployments in {namespace}, expected {}",
                member.name(),
                stored.len(),
                expected.len()
            )));
        }
        for (name, revision) in expected {
            let obj = deployment(member, namespace, name).ok_or_else(|| {
                BenchError::Incorrect(format!("{} lacks {namespace}/{name}", member.name()))
            })?;
            workload
                .check(&obj, *revision)
                .map_err(|e| BenchError::Incorrect(format!("{}: {e}", member.name())))?;
        }
    }
    Ok(())
}

/// Size of one stored member object as JSON.
pub fn json_size(member: &Cluster, namespace: &str, name: &str) -> usize {
    deployment(member, namespace, name)
        .and_then(|o| serde_json::to_vec(&o).ok())
        .map_or(0, |v| v.len())
}
