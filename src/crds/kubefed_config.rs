//! `KubeFedConfig` (`core.kubefed.io/v1beta1`): the operator's settings, the one object named
//! `kubefed` in the federation namespace.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::common::{ConfigurationMode, Scope};
use super::duration::{DurationParseError, parse_go_duration};

/// Name of the one KubeFedConfig the operator reads.
pub const KUBEFED_CONFIG_NAME: &str = "kubefed";

/// Settings of the federation control plane. A missing config is created with defaults.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "KubeFedConfig",
    plural = "kubefedconfigs",
    namespaced,
    derive = "PartialEq",
    doc = "KubeFedConfig holds the settings of the federation control plane; the operator reads the one named `kubefed`.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedConfigSpec {
    /// Whether the operator federates the whole cluster (`Cluster`) or only its own namespace
    /// (`Namespaced`).
    pub scope: Scope,
    /// Delays and timeouts of the controllers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_duration: Option<DurationConfig>,
    /// Leader election between operator replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_elect: Option<LeaderElectConfig>,
    /// Feature gates switched on or off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_gates: Vec<FeatureGatesConfig>,
    /// How member clusters are health-checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_health_check: Option<ClusterHealthCheckConfig>,
    /// Settings of the sync (propagation) controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_controller: Option<SyncControllerConfig>,
    /// KubeFed's status controller settings: accepted and validated for compatibility; status
    /// is collected by the sync controller, which `syncController` configures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_controller: Option<StatusControllerConfig>,
}

/// Delays and timeouts of the controllers, as Go duration strings (`20s`, `1m30s`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DurationConfig {
    /// How long to wait before re-checking a federated object after propagation succeeded
    /// (default `20s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_delay: Option<String>,
    /// How long to wait before retrying after a member cluster was unavailable (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_delay: Option<String>,
    /// How long to wait for informer caches to sync before giving up (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_sync_timeout: Option<String>,
}

/// The object type holding the leader-election lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceLock {
    /// A ConfigMap (KubeFed's historical default; removed from recent client libraries).
    Configmaps,
    /// An Endpoints object (historical).
    Endpoints,
    /// A coordination.k8s.io Lease.
    #[default]
    Leases,
    /// ConfigMap and Lease together, for migrations.
    Configmapsleases,
    /// Endpoints and Lease together, for migrations.
    Endpointsleases,
}

/// Leader election between operator replicas, durations as Go duration strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElectConfig {
    /// How long non-leaders wait before trying to take over (default `15s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration: Option<String>,
    /// How long the leader keeps trying to renew before giving up (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_deadline: Option<String>,
    /// How long candidates wait between attempts (default `5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_period: Option<String>,
    /// The object type holding the lock (default `leases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_lock: Option<ResourceLock>,
}

/// One feature gate setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureGatesConfig {
    /// Name of the feature gate, e.g. `PushReconciler`.
    pub name: String,
    /// `Enabled` or `Disabled`.
    pub configuration: ConfigurationMode,
}

/// How member clusters are health-checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterHealthCheckConfig {
    /// How often each member is probed (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Consecutive failed probes before a member is marked not ready (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    /// Consecutive successful probes before a member is marked ready (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i64>,
    /// Timeout of one probe (default `3s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Settings of the sync (propagation) controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncControllerConfig {
    /// Federated objects reconciled in parallel per type (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_reconciles: Option<i64>,
    /// Whether pre-existing member objects are adopted (`Enabled`, the default) or reported as
    /// `AlreadyExists` (`Disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt_resources: Option<ConfigurationMode>,
}

/// KubeFed's status controller settings (accepted for compatibility; see `statusController`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusControllerConfig {
    /// Federated objects whose status is collected in parallel per type (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_reconciles: Option<i64>,
}

/// Documented defaults, as Go duration strings and numbers.
pub mod defaults {
    /// `controllerDuration.availableDelay`.
    pub const AVAILABLE_DELAY: &str = "20s";
    /// `controllerDuration.unavailableDelay`.
    pub const UNAVAILABLE_DELAY: &str = "60s";
    /// `controllerDuration.cacheSyncTimeout`.
    pub const CACHE_SYNC_TIMEOUT: &str = "5m";
    /// `leaderElect.leaseDuration`.
    pub const LEASE_DURATION: &str = "15s";
    /// `leaderElect.renewDeadline`.
    pub const RENEW_DEADLINE: &str = "10s";
    /// `leaderElect.retryPeriod`.
    pub const RETRY_PERIOD: &str = "5s";
    /// `clusterHealthCheck.period`.
    pub const HEALTH_CHECK_PERIOD: &str = "10s";
    /// `clusterHealthCheck.failureThreshold`.
    pub const HEALTH_CHECK_FAILURE_THRESHOLD: i64 = 3;
    /// `clusterHealthCheck.successThreshold`.
    pub const HEALTH_CHECK_SUCCESS_THRESHOLD: i64 = 1;
    /// `clusterHealthCheck.timeout`.
    pub const HEALTH_CHECK_TIMEOUT: &str = "3s";
    /// `syncController.maxConcurrentReconciles`. KubeFed's 1 caps throughput at one object
    /// per reconcile time (50 ms at 100 members); members are written in parallel within a
    /// reconcile, and each member bounds its own requests in flight, so more reconciles at
    /// once do not overload a member. The operator's own writes do not bring an object back
    /// for another pass, so more at once do not mean more status writes either.
    pub const SYNC_MAX_CONCURRENT_RECONCILES: i64 = 8;
    /// `statusController.maxConcurrentReconciles` (as KubeFed).
    pub const MAX_CONCURRENT_RECONCILES: i64 = 1;
}

fn or_default(value: &Option<String>, default: &str) -> Option<String> {
    Some(value.clone().unwrap_or_else(|| default.to_string()))
}

impl KubeFedConfigSpec {
    /// The spec KubeFed installs when no config exists: every default filled in.
    pub fn with_defaults() -> Self {
        Self::default().defaulted()
    }

    /// A copy with every unset field filled with its documented default; set fields are kept.
    pub fn defaulted(&self) -> Self {
        let durations = self.controller_duration.clone().unwrap_or_default();
        let leader = self.leader_elect.clone().unwrap_or_default();
        let health = self.cluster_health_check.clone().unwrap_or_default();
        let sync = self.sync_controller.clone().unwrap_or_default();
        let status = self.status_controller.clone().unwrap_or_default();
        Self {
            scope: self.scope,
            controller_duration: Some(DurationConfig {
                available_delay: or_default(&durations.available_delay, defaults::AVAILABLE_DELAY),
                unavailable_delay: or_default(
                    &durations.unavailable_delay,
                    defaults::UNAVAILABLE_DELAY,
                ),
                cache_sync_timeout: or_default(
                    &durations.cache_sync_timeout,
                    defaults::CACHE_SYNC_TIMEOUT,
                ),
            }),
            leader_elect: Some(LeaderElectConfig {
                lease_duration: or_default(&leader.lease_duration, defaults::LEASE_DURATION),
                renew_deadline: or_default(&leader.renew_deadline, defaults::RENEW_DEADLINE),
                retry_period: or_default(&leader.retry_period, defaults::RETRY_PERIOD),
                resource_lock: Some(leader.resource_lock.unwrap_or_default()),
            }),
            feature_gates: self.feature_gates.clone(),
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: or_default(&health.period, defaults::HEALTH_CHECK_PERIOD),
                failure_threshold: Some(
                    health
                        .failure_threshold
                        .unwrap_or(defaults::HEALTH_CHECK_FAILURE_THRESHOLD),
                ),
                success_threshold: Some(
                    health
                        .success_threshold
                        .unwrap_or(defaults::HEALTH_CHECK_SUCCESS_THRESHOLD),
                ),
                timeout: or_default(&health.timeout, defaults::HEALTH_CHECK_TIMEOUT),
            }),
            sync_controller: Some(SyncControllerConfig {
                max_concurrent_reconciles: Some(
                    sync.max_concurrent_reconciles
                        .unwrap_or(defaults::SYNC_MAX_CONCURRENT_RECONCILES),
                ),
                adopt_resources: Some(sync.adopt_resources.unwrap_or_default()),
            }),
            status_controller: Some(StatusControllerConfig {
                max_concurrent_reconciles: Some(
                    status
                        .max_concurrent_reconciles
                        .unwrap_or(defaults::MAX_CONCURRENT_RECONCILES),
                ),
            }),
        }
    }

    /// Whether the named feature gate is explicitly enabled (`None` when not mentioned).
    pub fn feature_gate(&self, name: &str) -> Option<bool> {
        self.feature_gates
            .iter()
            .find(|gate| gate.name == name)
            .map(|gate| gate.configuration == ConfigurationMode::Enabled)
    }

    /// The controller timings, parsed, with defaults for unset fields.
    pub fn timings(&self) -> Result<Timings, DurationParseError> {
        let spec = self.defaulted();
        let durations = spec.controller_duration.unwrap_or_default();
        let leader = spec.leader_elect.unwrap_or_default();
        let health = spec.cluster_health_check.unwrap_or_default();
        let parse = |value: &Option<String>, default: &str| {
            parse_go_duration(value.as_deref().unwrap_or(default))
        };
        Ok(Timings {
            available_delay: parse(&durations.available_delay, defaults::AVAILABLE_DELAY)?,
            unavailable_delay: parse(&durations.unavailable_delay, defaults::UNAVAILABLE_DELAY)?,
            cache_sync_timeout: parse(&durations.cache_sync_timeout, defaults::CACHE_SYNC_TIMEOUT)?,
            lease_duration: parse(&leader.lease_duration, defaults::LEASE_DURATION)?,
            renew_deadline: parse(&leader.renew_deadline, defaults::RENEW_DEADLINE)?,
            retry_period: parse(&leader.retry_period, defaults::RETRY_PERIOD)?,
            health_check_period: parse(&health.period, defaults::HEALTH_CHECK_PERIOD)?,
            health_check_timeout: parse(&health.timeout, defaults::HEALTH_CHECK_TIMEOUT)?,
        })
    }
}

/// The duration settings of a KubeFedConfig, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// `controllerDuration.availableDelay`.
    pub available_delay: Duration,
    /// `controllerDuration.unavailableDelay`.
    pub unavailable_delay: Duration,
    /// `controllerDuration.cacheSyncTimeout`.
    pub cache_sync_timeout: Duration,
    /// `leaderElect.leaseDuration`.
    pub lease_duration: Duration,
    /// `leaderElect.renewDeadline`.
    pub renew_deadline: Duration,
    /// `leaderElect.retryPeriod`.
    pub retry_period: Duration,
    /// `clusterHealthCheck.period`.
    pub health_check_period: Duration,
    /// `clusterHealthCheck.timeout`.
    pub health_check_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_defaults_fills_every_documented_default() {
        let spec = KubeFedConfigSpec::with_defaults();
        assert_eq!(spec.scope, Scope::Cluster);
        let durations = spec.controller_duration.clone().unwrap_or_default();
        assert_eq!(durations.available_delay.as_deref(), Some("20s"));
        assert_eq!(durations.unavailable_delay.as_deref(), Some("60s"));
        assert_eq!(durations.cache_sync_timeout.as_deref(), Some("5m"));
        let leader = spec.leader_elect.clone().unwrap_or_default();
        assert_eq!(leader.lease_duration.as_deref(), Some("15s"));
        assert_eq!(leader.renew_deadline.as_deref(), Some("10s"));
        assert_eq!(leader.retry_period.as_deref(), Some("5s"));
        assert_eq!(leader.resource_lock, Some(ResourceLock::Leases));
        let health = spec.cluster_health_check.clone().unwrap_or_default();
        assert_eq!(health.period.as_deref(), Some("10s"));
        assert_eq!(health.failure_threshold, Some(3));
        assert_eq!(health.success_threshold, Some(1));
        assert_eq!(health.timeout.as_deref(), Some("3s"));
        let sync = spec.sync_controller.clone().unwrap_or_default();
        assert_eq!(sync.adopt_resources, Some(ConfigurationMode::Enabled));
        assert_eq!(sync.max_concurrent_reconciles, Some(8));
        assert_eq!(
            spec.status_controller
                .clone()
                .unwrap_or_default()
                .max_concurrent_reconciles,
            Some(1)
        );
        // Defaulting is idempotent.
        assert_eq!(spec.defaulted(), spec);
    }

    #[test]
    fn defaulted_keeps_explicit_values() {
        let spec = KubeFedConfigSpec {
            scope: Scope::Namespaced,
            controller_duration: Some(DurationConfig {
                available_delay: Some("1m30s".into()),
                ..Default::default()
            }),
            sync_controller: Some(SyncControllerConfig {
                adopt_resources: Some(ConfigurationMode::Disabled),
                max_concurrent_reconciles: None,
            }),
            ..Default::default()
        }
        .defaulted();
        assert_eq!(spec.scope, Scope::Namespaced);
        let durations = spec.controller_duration.clone().unwrap_or_default();
        assert_eq!(durations.available_delay.as_deref(), Some("1m30s"));
        assert_eq!(durations.unavailable_delay.as_deref(), Some("60s"));
        let sync = spec.sync_controller.clone().unwrap_or_default();
        assert_eq!(sync.adopt_resources, Some(ConfigurationMode::Disabled));
        assert_eq!(sync.max_concurrent_reconciles, Some(8));
    }

    #[test]
    fn timings_parse_defaults_and_overrides() {
        let timings = KubeFedConfigSpec::default().timings();
        assert_eq!(
            timings.map(|t| (
                t.available_delay,
                t.cache_sync_timeout,
                t.health_check_timeout
            )),
            Ok((
                Duration::from_secs(20),
                Duration::from_secs(300),
                Duration::from_secs(3)
            ))
        );
        let bad = KubeFedConfigSpec {
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: Some("ten seconds".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(bad.timings().is_err());
    }

    #[test]
    fn feature_gate_lookup() {
        let spec = KubeFedConfigSpec {
            feature_gates: vec![FeatureGatesConfig {
                name: "PushReconciler".into(),
                configuration: ConfigurationMode::Disabled,
            }],
            ..Default::default()
        };
        assert_eq!(spec.feature_gate("PushReconciler"), Some(false));
        assert_eq!(spec.feature_gate("SchedulerPreferences"), None);
    }
}
