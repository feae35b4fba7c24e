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
/// [`Cluster::object_count`], cheap enough to poll at scale).
pub async fn wait_counts(
    members: &[Cluster],
    baseline: &[usize],
    expected: usize,
    since: Instant,
    timeout: Duration,
) -> Result<Duration, BenchError> {
    poll_until(
        &format!("{expected} objects on every member"),
        timeout,
        Duration::from_millis(10),
        || {
            members
                .iter()
                .zip(baseline)
                .all(|(m, base)| m.object_count() >= base + expected)
                .then(|| since.elapsed())
        },
    )
    .await
}

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
