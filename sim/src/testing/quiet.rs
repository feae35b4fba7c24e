//! "No writes happened" checks over the simulator's request counters.

use crate::{Cluster, CounterSnapshot};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The write counters of some clusters at one moment, to compare with later.
pub struct Quiet {
    clusters: Vec<Cluster>,
    before: Vec<CounterSnapshot>,
}

impl Quiet {
    pub fn watch(clusters: &[Cluster]) -> Quiet {
        Quiet {
            before: clusters.iter().map(Cluster::counters).collect(),
            clusters: clusters.to_vec(),
        }
    }

    /// Write requests since [`Quiet::watch`], by cluster, then `verb resource`.
    pub fn writes_since(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut seen = BTreeMap::new();
        for (cluster, before) in self.clusters.iter().zip(&self.before) {
            let by_resource: BTreeMap<String, u64> = cluster
                .counters()
                .requests
                .into_iter()
                .filter(|((verb, _), _)| verb.is_write())
                .filter_map(|(key, n)| {
                    let was = before.requests.get(&key).copied().unwrap_or(0);
                    (n > was).then(|| (format!("{} {}", key.0.as_str(), key.1), n - was))
                })
                .collect();
            if !by_resource.is_empty() {
                seen.insert(cluster.name().to_string(), by_resource);
            }
        }
        seen
    }

    /// Panics, naming every write, when any happened since [`Quiet::watch`].
    pub fn assert_none(&self, what: &str) {
        let seen = self.writes_since();
        assert!(seen.is_empty(), "writes during {what}: {seen:?}");
    }
}

/// Asserts that nothing stored in any of `clusters` changes for `window`: write requests
/// that change nothing (no-op applies, say) are allowed.
pub async fn assert_unchanged(clusters: &[Cluster], window: Duration) {
    let before: Vec<u64> = clusters
        .iter()
        .map(|c| c.counters().effective_writes)
        .collect();
    tokio::time::sleep(window).await;
    let changed: Vec<(String, u64)> = clusters
        .iter()
        .zip(before)
        .filter_map(|(c, b)| {
            let n = c.counters().effective_writes.saturating_sub(b);
            (n > 0).then(|| (c.name().to_string(), n))
        })
        .collect();
    assert!(
        changed.is_empty(),
        "changes stored during {window:?} of quiet: {changed:?}"
    );
}

/// Asserts that no write request reaches any of `clusters` for `window`.
pub async fn assert_quiet(clusters: &[Cluster], window: Duration) {
    let quiet = Quiet::watch(clusters);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    quiet.assert_none(&format!("{:?} of quiet", started.elapsed()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configmap(name: &str) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}})
    }

    #[tokio::test]
    async fn a_write_in_the_window_is_named_and_none_passes() {
        let c = Cluster::new("quiet");
        assert_quiet(std::slice::from_ref(&c), Duration::from_millis(30)).await;
        let quiet = Quiet::watch(std::slice::from_ref(&c));
        let client = c.client();
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "default");
        api.create(
            &Default::default(),
            &serde_json::from_value(configmap("a")).unwrap(),
        )
        .await
        .unwrap();
        let seen = quiet.writes_since();
        assert_eq!(seen["quiet"]["create configmaps"], 1, "{seen:?}");
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            quiet.assert_none("the test")
        }));
        assert!(failed.is_err());
    }
}
