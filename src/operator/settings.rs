//! The operator's effective settings: the `kubefed` KubeFedConfig, defaulted and validated.
//!
//! Pure, so every rejection is unit-tested; the caller turns an error into a start-up failure
//! and a Warning event on the KubeFedConfig.

use crate::controllers::cluster::HealthSettings;
use crate::core::health::Thresholds;
use crate::crds::kubefed_config::{ConfigurationMode, KubeFedConfigSpec, Scope, Timings};

/// Everything the controllers need from the KubeFedConfig, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub scope: Scope,
    pub timings: Timings,
    pub health: HealthSettings,
    pub adopt_resources: bool,
    pub sync_concurrency: u16,
    /// `statusController.maxConcurrentReconciles`: validated for compatibility with KubeFed;
    /// status is collected by the sync workers.
    pub status_concurrency: u16,
}

/// Validates a KubeFedConfig spec, listing every problem found (not only the first).
pub fn settings_from(spec: &KubeFedConfigSpec) -> Result<Settings, Vec<String>> {
    let spec = spec.defaulted();
    let mut problems = Vec::new();
    let timings = match spec.timings() {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("invalid duration: {e}"));
            None
        }
    };
    if let Some(t) = &timings {
        if !(t.lease_duration > t.renew_deadline && t.renew_deadline > t.retry_period) {
            problems.push(format!(
                "leaderElect: leaseDuration ({:?}) > renewDeadline ({:?}) > retryPeriod ({:?}) must hold",
                t.lease_duration, t.renew_deadline, t.retry_period
            ));
        }
        if t.health_check_period.is_zero() {
            problems.push("clusterHealthCheck.period must be greater than zero".into());
        }
        if t.health_check_timeout.is_zero() {
            problems.push("clusterHealthCheck.timeout must be greater than zero".into());
        }
    }
    let health = spec.cluster_health_check.clone().unwrap_or_default();
    let threshold = |name: &str, value: Option<i64>, problems: &mut Vec<String>| match value
        .map(u32::try_from)
    {
        Some(Ok(v)) if v >= 1 => v,
        _ => {
            problems.push(format!(
                "clusterHealthCheck.{name} must be at least 1, got {value:?}"
            ));
            1
        }
    };
    let failure = threshold("failureThreshold", health.failure_threshold, &mut problems);
    let success = threshold("successThreshold", health.success_threshold, &mut problems);
    let concurrency = |name: &str, value: Option<i64>, problems: &mut Vec<String>| match value
        .map(u16::try_from)
    {
        Some(Ok(v)) if v >= 1 => v,
        _ => {
            problems.push(format!(
                "{name}.maxConcurrentReconciles must be between 1 and 65535, got {value:?}"
            ));
            1
        }
    };
    let sync = spec.sync_controller.clone().unwrap_or_default();
    let status = spec.status_controller.clone().unwrap_or_default();
    let sync_concurrency = concurrency(
        "syncController",
        sync.max_concurrent_reconciles,
        &mut problems,
    );
    let status_concurrency = concurrency(
        "statusController",
        status.max_concurrent_reconciles,
        &mut problems,
    );
    match timings {
        Some(timings) if problems.is_empty() => Ok(Settings {
            scope: spec.scope,
            timings,
            health: HealthSettings {
                period: timings.health_check_period,
                timeout: timings.health_check_timeout,
                thresholds: Thresholds { failure, success },
                max_in_flight: crate::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
            },
            adopt_resources: sync.adopt_resources != Some(ConfigurationMode::Disabled),
            sync_concurrency,
            status_concurrency,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::kubefed_config::{
        ClusterHealthCheckConfig, LeaderElectConfig, SyncControllerConfig,
    };
    use std::time::Duration;

    #[test]
    fn defaults_are_valid() {
        let s = settings_from(&KubeFedConfigSpec::default()).unwrap();
        assert_eq!(s.scope, Scope::Cluster);
        assert_eq!(s.health.period, Duration::from_secs(10));
        assert_eq!(s.health.timeout, Duration::from_secs(3));
        assert_eq!(
            s.health.thresholds,
            Thresholds {
                failure: 3,
                success: 1
            }
        );
        assert!(s.adopt_resources);
        assert_eq!(s.sync_concurrency, 8);
    }

    #[test]
    fn every_problem_is_listed() {
        let spec = KubeFedConfigSpec {
            leader_elect: Some(LeaderElectConfig {
                lease_duration: Some("5s".into()),
                renew_deadline: Some("10s".into()),
                ..Default::default()
            }),
            cluster_health_check: Some(ClusterHealthCheckConfig {
                failure_threshold: Some(0),
                success_threshold: Some(-1),
                ..Default::default()
            }),
            sync_controller: Some(SyncControllerConfig {
                max_concurrent_reconciles: Some(0),
                adopt_resources: None,
            }),
            ..Default::default()
        };
        let problems = settings_from(&spec).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("leaseDuration"));
        assert!(problems.iter().any(|p| p.contains("failureThreshold")));
        assert!(problems.iter().any(|p| p.contains("successThreshold")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("syncController.maxConcurrentReconciles"))
        );
    }

    #[test]
    fn bad_duration_is_named() {
        let spec = KubeFedConfigSpec {
            cluster_health_check: Some(ClusterHealthCheckConfig {
                period: Some("ten seconds".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let problems = settings_from(&spec).unwrap_err();
        assert!(problems[0].contains("ten seconds"), "{problems:?}");
    }

    #[test]
    fn adoption_can_be_disabled() {
        let spec = KubeFedConfigSpec {
            sync_controller: Some(SyncControllerConfig {
                max_concurrent_reconciles: None,
                adopt_resources: Some(ConfigurationMode::Disabled),
            }),
            ..Default::default()
        };
        assert!(!settings_from(&spec).unwrap().adopt_resources);
    }
}
