//! The operator's controllers running in-process against a simulated host.

use crate::{FEDERATION_NAMESPACE, TestkitError};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};
use kubefed::crds::kubefed_config::{ClusterHealthCheckConfig, KubeFedConfig, KubeFedConfigSpec};
use kubefed::members::pool::MemberPool;
use kubefed::operator::leader::{LeaseTimings, run_while_leader};
use kubefed::operator::run::Operator;
use kubefed::operator::settings::Settings;
use kubefed::runtime::metrics::{Metrics, ReconcileLabels};
use std::time::Duration;

/// Member health checks of the `kubefed` KubeFedConfig a prepared host gets.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: i64,
    pub success_threshold: i64,
}

impl Default for HealthCheck {
    /// Fast: a member is Ready one 200ms probe after it joins, and offline after two failed.
    fn default() -> Self {
        HealthCheck {
            period: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
            failure_threshold: 2,
            success_threshold: 1,
        }
    }
}

/// Logs of tests on demand, through the test harness's capture: `RUST_LOG=kubefed=debug
/// cargo test …`.
pub fn init_test_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Installs the federation API on a fresh host and creates the `kubefed` KubeFedConfig with
/// `health` checks, adjusted by `configure`.
pub async fn prepare_host(
    host: &Client,
    health: &HealthCheck,
    configure: impl FnOnce(&mut KubeFedConfigSpec),
) -> Result<(), TestkitError> {
    create_namespace(host, FEDERATION_NAMESPACE).await?;
    // The API goes first so the KubeFedConfig can be created with test timings.
    kubefed::operator::install::install(host, FEDERATION_NAMESPACE, Duration::from_secs(30))
        .await?;
    let mut spec = KubeFedConfigSpec {
        cluster_health_check: Some(ClusterHealthCheckConfig {
            period: Some(go_duration(health.period)),
            timeout: Some(go_duration(health.timeout)),
            failure_threshold: Some(health.failure_threshold),
            success_threshold: Some(health.success_threshold),
        }),
        ..KubeFedConfigSpec::with_defaults()
    };
    configure(&mut spec);
    Api::<KubeFedConfig>::namespaced(host.clone(), FEDERATION_NAMESPACE)
        .create(&PostParams::default(), &KubeFedConfig::new("kubefed", spec))
        .await
        .map_err(TestkitError::kube("create KubeFedConfig"))?;
    Ok(())
}

/// Creates a namespace; one that exists already is fine.
pub async fn create_namespace(client: &Client, name: &str) -> Result<(), TestkitError> {
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(TestkitError::kube(format!("create namespace {name}"))(e)),
    }
}

/// An operator running in-process; dropping it stops it (its controllers and member caches
/// go with its task, and its requests in flight are dropped, as with `kill -9`).
pub struct RunningOperator {
    task: tokio::task::JoinHandle<()>,
    /// Whether [`RunningOperator::stop`] awaited the task (it may be awaited once).
    stopped: bool,
    /// Asks a leader-elected operator to stop its controllers and release the Lease.
    step_down: Option<tokio::sync::watch::Sender<bool>>,
    pub pool: MemberPool,
    pub metrics: Metrics,
    pub sync_concurrency: u16,
}

impl RunningOperator {
    /// Stops the operator at once.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Stops the operator and waits until its task has ended.
    pub async fn stop(&mut self) {
        self.task.abort();
        if !self.stopped {
            let _ = (&mut self.task).await;
        }
        self.stopped = true;
    }

    /// Whether this instance holds the leader Lease (always false without leader election).
    pub fn is_leader(&self) -> bool {
        self.metrics.leader.get() == 1
    }

    /// Stops a leader-elected operator gracefully: its controllers stop and it releases the
    /// Lease; returns once its task has ended. Without leader election, like `stop`.
    pub async fn step_down(&mut self) {
        match &self.step_down {
            Some(tx) if !self.stopped => {
                let _ = tx.send(true);
                let _ = (&mut self.task).await;
                self.stopped = true;
            }
            _ => self.stop().await,
        }
    }

    pub fn ready_members(&self) -> usize {
        self.pool
            .snapshot()
            .values()
            .filter(|m| m.is_ready())
            .count()
    }
}

impl Drop for RunningOperator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the operator's controllers in-process on a host prepared by [`prepare_host`].
pub async fn run_operator(host: &Client) -> Result<RunningOperator, TestkitError> {
    run_operator_with(host, |_| {}).await
}

/// Like [`run_operator`], with the operator's settings adjusted by `tune` first (as its
/// command-line flags would).
pub async fn run_operator_with(
    host: &Client,
    tune: impl FnOnce(&mut Settings),
) -> Result<RunningOperator, TestkitError> {
    let metrics = Metrics::new();
    let mut operator =
        Operator::prepare(host.clone(), FEDERATION_NAMESPACE, false, metrics.clone()).await?;
    tune(&mut operator.settings);
    let pool = operator.pool.clone();
    let sync_concurrency = operator.settings.sync_concurrency;
    let task = tokio::spawn(async move { operator.run_controllers().await });
    Ok(RunningOperator {
        task,
        stopped: false,
        step_down: None,
        pool,
        metrics,
        sync_concurrency,
    })
}

/// Like [`run_operator_with`], under leader election as `identity` (the Lease timings of
/// the host's KubeFedConfig): the controllers run only while it holds the Lease, so a
/// second one started against the same host is a standby.
pub async fn run_elected_operator_with(
    host: &Client,
    identity: &str,
    tune: impl FnOnce(&mut Settings),
) -> Result<RunningOperator, TestkitError> {
    let metrics = Metrics::new();
    let mut operator =
        Operator::prepare(host.clone(), FEDERATION_NAMESPACE, false, metrics.clone()).await?;
    tune(&mut operator.settings);
    let pool = operator.pool.clone();
    let sync_concurrency = operator.settings.sync_concurrency;
    let timings = LeaseTimings {
        lease_duration: operator.settings.timings.lease_duration,
        renew_deadline: operator.settings.timings.renew_deadline,
    };
    let (step_down, stepped_down) = tokio::sync::watch::channel(false);
    let client = host.clone();
    let identity = identity.to_string();
    let task = tokio::spawn(async move {
        let metrics = operator.metrics.clone();
        let mut stepped_down = stepped_down;
        let stop = async move {
            let _ = stepped_down.wait_for(|down| *down).await;
        };
        if let Err(err) = run_while_leader(
            client,
            FEDERATION_NAMESPACE,
            &identity,
            timings,
            &metrics,
            stop,
            || operator.run_controllers(),
        )
        .await
        {
            eprintln!("{identity}: leader election stopped: {err}");
        }
    });
    Ok(RunningOperator {
        task,
        stopped: false,
        step_down: Some(step_down),
        pool,
        metrics,
        sync_concurrency,
    })
}

/// Reconciliations of one controller so far with `result` (`success` or `error`).
pub fn reconciles(metrics: &Metrics, controller: &str, result: &str) -> u64 {
    metrics
        .reconciles
        .get_or_create(&ReconcileLabels {
            controller: controller.into(),
            result: result.into(),
        })
        .get()
}

/// Sync reconciliations so far, successful or not.
pub fn sync_reconciles(metrics: &Metrics) -> u64 {
    reconciles(metrics, "sync", "success") + reconciles(metrics, "sync", "error")
}

/// Reconciliations so far of every controller that counts them.
pub fn all_reconciles(metrics: &Metrics) -> u64 {
    ["sync", "scheduling"]
        .iter()
        .flat_map(|c| ["success", "error"].map(|r| reconciles(metrics, c, r)))
        .sum()
}
