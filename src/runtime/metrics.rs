//! Prometheus metrics of the operator, served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: String,
    /// `success` or `error`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    /// An [`ErrorCategory`](super::error::ErrorCategory), e.g. `rejected` or `timeout`.
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// The federated type, e.g. `federateddeployments.types.kubefed.io`.
    pub federated_type: String,
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WakeupLabels {
    /// `member` (a member's watch) or `host` (the federated object's).
    pub source: String,
    /// `reconcile` (the object was brought back) or `nothing_new` (the event showed what
    /// the object's last settled pass left behind).
    pub outcome: String,
}

fn duration_buckets() -> impl Iterator<Item = f64> {
    // 1 ms .. ~16 s
    exponential_buckets(0.001, 2.0, 15)
}

/// Every metric of the operator, registered once and shared by the controllers.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub cluster_ready: Family<ClusterLabels, Gauge>,
    pub health_check_duration: Family<ClusterLabels, Histogram>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<ControllerLabels, Histogram>,
    /// Reconciliations that stopped because nothing changed (see [`Metrics::count_unchanged`]).
    pub unchanged: Family<ControllerLabels, Counter>,
    pub drift_repairs: Family<DriftLabels, Counter>,
    /// Events of federated objects the sync looked at (see [`Metrics::wakeups`]).
    pub sync_wakeups: Family<WakeupLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kubefed");
        let cluster_ready = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "cluster_ready",
            "1 when the member cluster is Ready, 0 otherwise",
            cluster_ready.clone(),
        );
        let health_check_duration =
            Family::<ClusterLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(duration_buckets())
            });
        registry.register(
            "cluster_health_check_duration_seconds",
            "Duration of member cluster health probes",
            health_check_duration.clone(),
        );
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciliations per controller and result",
            reconciles.clone(),
        );
        let reconcile_duration =
            Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(duration_buckets())
            });
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciliations per controller",
            reconcile_duration.clone(),
        );
        let unchanged = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "reconciles_unchanged",
            "Reconciliations that found only the operator's own writes since the last settled one",
            unchanged.clone(),
        );
        let drift_repairs = Family::<DriftLabels, Counter>::default();
        registry.register(
            "drift_repairs",
            "Member objects changed out of band and restored",
            drift_repairs.clone(),
        );
        let sync_wakeups = Family::<WakeupLabels, Counter>::default();
        registry.register(
            "sync_wakeups",
            "Watch events of federated objects and their member objects, by whether they brought the object back for a pass",
            sync_wakeups.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "errors",
            "Failed requests per controller and error category (host and member requests)",
            errors.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this instance holds the leader lease",
            leader.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            cluster_ready,
            health_check_duration,
            reconciles,
            reconcile_duration,
            unchanged,
            drift_repairs,
            sync_wakeups,
            errors,
            leader,
        }
    }

    /// Records the outcome and duration of one reconciliation.
    pub fn observe_reconcile(&self, controller: &str, ok: bool, took: Duration) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller: controller.to_string(),
                result: if ok { "success" } else { "error" }.to_string(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&ControllerLabels {
                controller: controller.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one reconciliation that found only the operator's own writes since the last
    /// one settled, and stopped there. It is also counted, as every reconciliation is, by
    /// [`Metrics::observe_reconcile`].
    pub fn count_unchanged(&self, controller: &str) {
        self.unchanged
            .get_or_create(&ControllerLabels {
                controller: controller.to_string(),
            })
            .inc();
    }

    /// The counter of events of federated objects from `source` (`member` or `host`) that
    /// brought the object back for a pass (`reconcile`) or not; kept by the watchers that
    /// count every event, so that counting takes no lookup.
    pub fn wakeups(&self, source: &str, reconcile: bool) -> Counter {
        self.sync_wakeups
            .get_or_create(&WakeupLabels {
                source: source.to_string(),
                outcome: if reconcile {
                    "reconcile"
                } else {
                    "nothing_new"
                }
                .to_string(),
            })
            .clone()
    }

    /// Counts one failed request.
    pub fn count_error(&self, controller: &str, category: super::error::ErrorCategory) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller: controller.to_string(),
                category: category.as_str().to_string(),
            })
            .inc();
    }

    /// Renders the registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_metrics_with_labels() {
        let m = Metrics::new();
        m.cluster_ready
            .get_or_create(&ClusterLabels {
                cluster: "cluster1".into(),
            })
            .set(1);
        m.observe_reconcile("sync", false, Duration::from_millis(5));
        m.count_error("sync", super::super::error::ErrorCategory::Timeout);
        let text = m.encode().unwrap();
        assert!(text.contains("kubefed_cluster_ready{cluster=\"cluster1\"} 1"));
        assert!(text.contains("kubefed_reconciles_total{controller=\"sync\",result=\"error\"} 1"));
        assert!(text.contains("kubefed_reconcile_duration_seconds_count{controller=\"sync\"} 1"));
        assert!(text.contains("kubefed_errors_total{controller=\"sync\",category=\"timeout\"} 1"));
    }
}

#[cfg(test)]
mod counting {
    use super::*;

    /// A pass that found nothing changed is one reconciliation, not two, and is also counted
    /// on its own.
    #[test]
    fn an_unchanged_pass_is_counted_once() {
        let m = Metrics::new();
        m.observe_reconcile("sync", true, Duration::from_millis(5));
        m.count_unchanged("sync");
        m.observe_reconcile("sync", true, Duration::from_micros(5));
        let text = m.encode().unwrap();
        assert!(
            text.contains("kubefed_reconciles_total{controller=\"sync\",result=\"success\"} 2"),
            "{text}"
        );
        assert!(text.contains("kubefed_reconcile_duration_seconds_count{controller=\"sync\"} 2"));
        assert!(text.contains("kubefed_reconciles_unchanged_total{controller=\"sync\"} 1"));
    }
}
