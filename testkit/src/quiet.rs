//! "Nothing happened" checks that end on signals instead of fixed sleeps.
//!
//! [`settle`] waits until the operator has finished what it was doing: its reconcile counter
//! and the watched clusters' write counters have both stopped moving. A negative check made
//! after it ("not placed there", "no second event") is made once the operator has looked, not
//! after a guess at how long looking takes. [`assert_quiet`] then watches the simulator's
//! write counters over a window and fails with every write seen, by verb and resource.
//! ([`assert_quiet`] and [`Quiet`] live in `kubefed_sim::testing`, which needs no operator.)

use crate::TestkitError;
use crate::operator::all_reconciles;
use kubefed::runtime::metrics::Metrics;
use kubefed_sim::Cluster;
pub use kubefed_sim::testing::{Quiet, Timeout, assert_quiet};
use std::time::{Duration, Instant};

/// How long both counters must stand still before the operator counts as settled. Longer than
/// the status controller's 500ms window of merged member events, so a write pending in such a
/// window is not taken for silence.
pub const SETTLE_IDLE: Duration = Duration::from_millis(700);
const EVERY: Duration = Duration::from_millis(20);

fn writes(clusters: &[Cluster]) -> Vec<u64> {
    clusters.iter().map(|c| c.counters().writes()).collect()
}

/// Waits until neither the operator's reconcile counter nor the writes to `clusters` have
/// moved for [`SETTLE_IDLE`]; fails after `timeout` (an operator that never settles).
pub async fn settle(
    metrics: &Metrics,
    clusters: &[Cluster],
    timeout: Duration,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + timeout;
    let observe = || (all_reconciles(metrics), writes(clusters));
    let mut last = (observe(), Instant::now());
    loop {
        tokio::time::sleep(EVERY).await;
        let now = observe();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= SETTLE_IDLE {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestkitError::Timeout(Timeout {
                what: format!(
                    "the operator to settle ({} reconciles, writes {:?})",
                    last.0.0, last.0.1
                ),
                after: timeout,
            }));
        }
    }
}

/// Waits until the sync controller has reconciled at least `at_least` times and then done
/// nothing for `idle`: every object has been looked at and nothing is pending.
pub async fn wait_sync_idle(
    metrics: &Metrics,
    at_least: u64,
    idle: Duration,
    timeout: Duration,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + timeout;
    let mut last = (crate::sync_reconciles(metrics), Instant::now());
    loop {
        tokio::time::sleep(EVERY).await;
        let now = crate::sync_reconciles(metrics);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= at_least && last.1.elapsed() >= idle {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(TestkitError::Timeout(Timeout {
                what: format!(
                    "sync to settle: {now} reconciles (wanted {at_least} and {idle:?} idle)"
                ),
                after: timeout,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configmap(name: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[tokio::test]
    async fn settle_waits_for_writes_to_stop_and_times_out_while_they_go_on() {
        let c = Cluster::new("busy");
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(c.client(), "default");
        let writer = tokio::spawn(async move {
            for i in 0.. {
                let cm = serde_json::from_value(configmap(&format!("cm{i}"))).unwrap();
                let _ = api.create(&Default::default(), &cm).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let metrics = Metrics::new();
        let e = settle(
            &metrics,
            std::slice::from_ref(&c),
            Duration::from_millis(1200),
        )
        .await;
        assert!(matches!(e, Err(TestkitError::Timeout(_))), "{e:?}");
        writer.abort();
        let _ = writer.await;
        settle(&metrics, std::slice::from_ref(&c), Duration::from_secs(5))
            .await
            .unwrap();
    }
}
