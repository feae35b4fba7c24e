//! A simulated host and members joined to it, with the operator running in-process.

use super::error::BenchError;
use super::observe::poll_until;
use super::options::Plan;
use kube::Client;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kubefed::crds::federated_type_config::FederatedTypeConfig;
use kubefed_sim::{ApiError, Cluster, Middleware, RequestInfo};
pub use kubefed_testkit::{FEDERATION_NAMESPACE, RunningOperator};
use kubefed_testkit::{FleetBuilder, HealthCheck, create_namespace, reconciles, run_operator_with};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The federated types the benchmark uses; the other default FederatedTypeConfigs are
/// disabled, so members are not watched for types nothing is federated of (each watch is an
/// HTTP/1 connection, two open files in this process with the simulator in it).
const USED_TYPES: [&str; 2] = ["deployments.apps", "namespaces"];

/// Adds a fixed delay to every resource request of a member, like a distant API server.
struct Latency(Duration);

impl Middleware for Latency {
    fn before(&self, _req: &RequestInfo) -> Result<(), ApiError> {
        Ok(())
    }

    fn delay(&self, _req: &RequestInfo) -> Duration {
        self.0
    }
}

/// Successful reconciliations of federated objects so far.
fn sync_successes(operator: &RunningOperator) -> u64 {
    reconciles(&operator.metrics, "sync", "success")
}

pub struct Fleet {
    pub host: Cluster,
    pub host_client: Client,
    pub members: Vec<Cluster>,
    pub operator: Option<RunningOperator>,
    /// Requests in flight per member, for the operator's member clients.
    pub member_in_flight: usize,
}

impl Fleet {
    /// Creates the host with the federation API installed and `n` members serving HTTP (HTTPS
    /// with `plan.tls`), each registered the way `kubectl fed join` does, with the plan's
    /// member latency and requests in flight. The operator is not started.
    pub async fn create(n: usize, plan: &Plan) -> Result<Fleet, BenchError> {
        Self::create_joined(n, plan, false).await
    }

    /// Like [`Fleet::create`]; with `pull` the members are joined in pull mode (the host side
    /// only: their agents are the caller's to run).
    pub async fn create_joined(n: usize, plan: &Plan, pull: bool) -> Result<Fleet, BenchError> {
        let (member_latency, member_in_flight) = (plan.member_latency, plan.member_in_flight);
        // Probes once a second: quick joins without probe traffic dominating the figures.
        let health = HealthCheck {
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            failure_threshold: 3,
            success_threshold: 1,
        };
        let with_latency = |member: &Cluster| {
            if !member_latency.is_zero() {
                member.add_middleware(Arc::new(Latency(member_latency)));
            }
        };
        // Push members are joined by the builder; pull members only get their host side.
        let (host_client, clusters) = FleetBuilder::new(if pull { 0 } else { n })
            .names(|i| format!("member{i}"))
            .health(health)
            .each_member(with_latency)
            .tls(plan.tls)
            .in_process_clusters()
            .await?;
        disable_unused_types(&host_client).await?;
        let host = clusters.host;
        let mut members: Vec<Cluster> = clusters.members.into_iter().map(|(_, m, _)| m).collect();
        if pull {
            for i in 1..=n {
                let member = Cluster::new(&format!("member{i}"));
                member.serve_http().await.map_err(|source| BenchError::Io {
                    context: format!("serve member{i}"),
                    source,
                })?;
                with_latency(&member);
                let side = kubefed::plugin::pull_join::HostSide {
                    cluster: member.name().to_string(),
                    federation_namespace: FEDERATION_NAMESPACE.into(),
                };
                kubefed::plugin::pull_join::ensure_host_side(
                    &host_client,
                    &side,
                    Default::default(),
                )
                .await
                .map_err(|(what, e)| BenchError::kube(what)(e))?;
                members.push(member);
            }
        }
        Ok(Fleet {
            host,
            host_client,
            members,
            operator: None,
            member_in_flight,
        })
    }

    /// Prepares and starts an operator against the host; returns once it is running.
    pub async fn start_operator(&mut self) -> Result<(), BenchError> {
        let in_flight = self.member_in_flight;
        self.operator = Some(
            run_operator_with(&self.host_client, |settings| {
                settings.health.max_in_flight = in_flight;
            })
            .await?,
        );
        Ok(())
    }

    /// Stops the operator (its controllers and member caches go with its task).
    pub fn stop_operator(&mut self) {
        self.operator = None;
    }

    pub fn running(&self) -> Result<&RunningOperator, BenchError> {
        self.operator
            .as_ref()
            .ok_or_else(|| BenchError::Sim("the operator is not running".into()))
    }

    pub async fn wait_members_ready(&self, timeout: Duration) -> Result<(), BenchError> {
        let operator = self.running()?;
        let n = self.members.len();
        poll_until(
            "every member Ready",
            timeout,
            Duration::from_millis(20),
            || (operator.ready_members() == n).then_some(()),
        )
        .await
    }

    /// Creates `namespace` on the host with a FederatedNamespace placed on every member and
    /// waits until each member has it.
    pub async fn federate_namespace(
        &self,
        namespace: &str,
        timeout: Duration,
    ) -> Result<(), BenchError> {
        create_namespace(&self.host_client, namespace).await?;
        let ar = federated_resource("FederatedNamespace", "federatednamespaces");
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": {"placement": {"clusterSelector": {}}}
        }))?;
        Api::<DynamicObject>::namespaced_with(self.host_client.clone(), namespace, &ar)
            .create(&PostParams::default(), &obj)
            .await
            .map_err(BenchError::kube("create FederatedNamespace"))?;
        poll_until(
            "the federated namespace on every member",
            timeout,
            Duration::from_millis(10),
            || {
                self.members
                    .iter()
                    .all(|m| m.get_object("", "namespaces", "", namespace).is_some())
                    .then_some(())
            },
        )
        .await
    }

    /// Creates a namespace directly in every member's store (for the bare client's objects).
    pub fn create_member_namespace(&self, namespace: &str) -> Result<(), BenchError> {
        for member in &self.members {
            member
                .create_object(
                    "",
                    "v1",
                    "namespaces",
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
                )
                .map_err(|e| BenchError::Sim(format!("create namespace: {e}")))?;
        }
        Ok(())
    }

    pub fn reset_counters(&self) {
        self.host.reset_counters();
        for m in &self.members {
            m.reset_counters();
        }
    }

    /// Write requests since the last reset: (host, sum over members).
    pub fn writes(&self) -> (u64, u64) {
        let members = self.members.iter().map(|m| m.counters().writes()).sum();
        (self.host.counters().writes(), members)
    }

    /// Host write requests since the last reset, by verb and resource.
    pub fn host_writes_by_resource(&self) -> std::collections::BTreeMap<String, u64> {
        self.host
            .counters()
            .requests
            .into_iter()
            .filter(|((verb, _), _)| verb.is_write())
            .map(|((verb, resource), n)| (format!("{} {resource}", verb.as_str()), n))
            .collect()
    }

    /// Requests to members since the last reset, by verb, summed over members.
    pub fn member_requests_by_verb(&self) -> std::collections::BTreeMap<String, u64> {
        let mut by_verb = std::collections::BTreeMap::new();
        for m in &self.members {
            for ((verb, _), n) in m.counters().requests {
                *by_verb.entry(verb.as_str().to_string()).or_insert(0) += n;
            }
        }
        by_verb
    }

    /// Waits until every member is Ready, the sync controller has reconciled at least
    /// `objects` times since then, and it then stays idle (no reconcile) for `idle`. Returns
    /// the time of its last reconcile, since `since`. The idle period is needed because a
    /// reconcile that finds a member cache not yet synced also counts as a success and is
    /// redone when the cache syncs.
    pub async fn wait_reconciled(
        &self,
        objects: u64,
        since: Instant,
        idle: Duration,
        timeout: Duration,
    ) -> Result<Duration, BenchError> {
        let operator = self.running()?;
        let n = self.members.len();
        let every = Duration::from_millis(5);
        let ready_at = poll_until("every member Ready", timeout, every, || {
            (operator.ready_members() == n).then(|| sync_successes(operator))
        })
        .await?;
        let mut last = (sync_successes(operator), since.elapsed());
        poll_until("every federated object reconciled", timeout, every, || {
            let now = sync_successes(operator);
            if now != last.0 {
                last = (now, since.elapsed());
            }
            let idle_for = since.elapsed().saturating_sub(last.1);
            (now >= ready_at + objects && idle_for >= idle).then_some(last.1)
        })
        .await
    }
}

pub fn federated_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "types.kubefed.io".into(),
        version: "v1beta1".into(),
        api_version: "types.kubefed.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn disable_unused_types(host: &Client) -> Result<(), BenchError> {
    let api = Api::<FederatedTypeConfig>::namespaced(host.clone(), FEDERATION_NAMESPACE);
    let all = api
        .list(&Default::default())
        .await
        .map_err(BenchError::kube("list FederatedTypeConfigs"))?;
    let disable = Patch::Merge(json!({"spec": {"propagation": "Disabled"}}));
    for ftc in all.items {
        let name = ftc.name_any();
        if !USED_TYPES.contains(&name.as_str()) {
            api.patch(&name, &PatchParams::default(), &disable)
                .await
                .map_err(BenchError::kube(format!("disable {name}")))?;
        }
    }
    Ok(())
}
