//! A host and members, joined, with the operator running in-process: built by
//! [`FleetBuilder`] over one of two cluster sets.
//!
//! - [`InProcess`]: bare simulated clusters; the operator reaches members over plain HTTP.
//! - [`Https`]: a [`kubefed_sim::Fleet`], every cluster behind its own HTTPS listener with
//!   fault switches and workload controllers; members are joined with the fleet CA as
//!   `caBundle`, so TLS is verified.
//!
//! [`OperatorFleet`] dereferences to its cluster set, so `fleet.members` or `fleet.fleet`
//! reach the clusters directly.

use crate::TestkitError;
use crate::join::{Join, join};
use crate::operator::{HealthCheck, RunningOperator, prepare_host, run_operator};
use crate::quiet::{assert_quiet, settle};
use crate::wait::poll;
use kube::Client;
use kubefed::crds::kubefed_config::KubeFedConfigSpec;
use kubefed::members::pool::MemberPool;
use kubefed::runtime::metrics::Metrics;
use kubefed_sim::{Cluster, Fleet, FleetCluster, FleetConfig};
use std::collections::BTreeMap;
use std::time::Duration;

/// The clusters of a fleet, whatever serves them.
pub trait Clusters {
    fn host_cluster(&self) -> &Cluster;
    /// Every member by name, with an in-process client.
    fn member_clients(&self) -> Vec<(String, Client)>;
    fn member_clusters(&self) -> Vec<Cluster>;
    /// The host, then every member.
    fn all_clusters(&self) -> Vec<Cluster> {
        let mut all = vec![self.host_cluster().clone()];
        all.extend(self.member_clusters());
        all
    }
}

/// Bare simulated clusters: `members` are (name, cluster, in-process client).
pub struct InProcess {
    pub host: Cluster,
    pub members: Vec<(String, Cluster, Client)>,
}

impl Clusters for InProcess {
    fn host_cluster(&self) -> &Cluster {
        &self.host
    }
    fn member_clients(&self) -> Vec<(String, Client)> {
        self.members
            .iter()
            .map(|(n, _, c)| (n.clone(), c.clone()))
            .collect()
    }
    fn member_clusters(&self) -> Vec<Cluster> {
        self.members.iter().map(|(_, m, _)| m.clone()).collect()
    }
}

/// A [`kubefed_sim::Fleet`] behind HTTPS listeners.
pub struct Https {
    pub fleet: Fleet,
}

impl Clusters for Https {
    fn host_cluster(&self) -> &Cluster {
        self.fleet.host().cluster()
    }
    fn member_clients(&self) -> Vec<(String, Client)> {
        self.fleet
            .members()
            .iter()
            .map(|m| (m.name().to_string(), m.client()))
            .collect()
    }
    fn member_clusters(&self) -> Vec<Cluster> {
        self.fleet
            .members()
            .iter()
            .map(|m| m.cluster().clone())
            .collect()
    }
}

type TokenFor<'a> = Box<dyn Fn(&FleetCluster) -> Option<String> + 'a>;

/// How to build a fleet: how many members and their names and labels, the health checks and
/// KubeFedConfig, and what to do to each member before it joins.
pub struct FleetBuilder<'a> {
    members: usize,
    name: Box<dyn Fn(usize) -> String + 'a>,
    labels: Box<dyn Fn(usize) -> BTreeMap<String, String> + 'a>,
    health: HealthCheck,
    configure: Box<dyn FnOnce(&mut KubeFedConfigSpec) + 'a>,
    each_member: Box<dyn Fn(&Cluster) + 'a>,
    token_for: TokenFor<'a>,
    ready_timeout: Duration,
    tls: bool,
}

impl<'a> FleetBuilder<'a> {
    /// `n` members named `cluster1` … `clusterN`, fast health checks (see
    /// [`HealthCheck::default`]), every member Ready within 15 s.
    pub fn new(n: usize) -> FleetBuilder<'a> {
        FleetBuilder {
            members: n,
            name: Box::new(|i| format!("cluster{i}")),
            labels: Box::new(|_| BTreeMap::new()),
            health: HealthCheck::default(),
            configure: Box::new(|_| {}),
            each_member: Box::new(|_| {}),
            token_for: Box::new(|_| None),
            ready_timeout: Duration::from_secs(15),
            tls: false,
        }
    }

    /// Member names by index, from 1 (in-process fleets).
    pub fn names(mut self, name: impl Fn(usize) -> String + 'a) -> Self {
        self.name = Box::new(name);
        self
    }

    /// KubeFedCluster labels by member index, from 1.
    pub fn labels(mut self, labels: impl Fn(usize) -> BTreeMap<String, String> + 'a) -> Self {
        self.labels = Box::new(labels);
        self
    }

    pub fn health(mut self, health: HealthCheck) -> Self {
        self.health = health;
        self
    }

    /// Adjusts the `kubefed` KubeFedConfig before it is created.
    pub fn configure(mut self, configure: impl FnOnce(&mut KubeFedConfigSpec) + 'a) -> Self {
        self.configure = Box::new(configure);
        self
    }

    /// In-process members serve HTTPS and join with the simulator's CA (the operator then
    /// speaks HTTP/2 to them, as to a real member) instead of plain HTTP.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Called on each in-process member once it serves, before it joins (e.g. to add latency).
    pub fn each_member(mut self, f: impl Fn(&Cluster) + 'a) -> Self {
        self.each_member = Box::new(f);
        self
    }

    /// Another bearer token than its admin token for some members of an HTTPS fleet.
    pub fn token_for(mut self, f: impl Fn(&FleetCluster) -> Option<String> + 'a) -> Self {
        self.token_for = Box::new(f);
        self
    }

    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// In-process clusters: a prepared host and every member serving HTTP (HTTPS with
    /// [`FleetBuilder::tls`]) and joined; the operator is not started.
    pub async fn in_process_clusters(self) -> Result<(Client, InProcess), TestkitError> {
        let host = Cluster::new("host");
        let host_client = host.client();
        prepare_host(&host_client, &self.health, self.configure).await?;
        let mut members = Vec::with_capacity(self.members);
        for i in 1..=self.members {
            let name = (self.name)(i);
            let member = Cluster::new(&name);
            let served = if self.tls {
                member.serve_https().await
            } else {
                member.serve_http().await
            };
            served.map_err(|source| TestkitError::Io {
                context: format!("serve {name}"),
                source,
            })?;
            (self.each_member)(&member);
            let mut spec = if self.tls {
                Join::tls(&member)?
            } else {
                Join::http(&member)?
            };
            spec.labels = (self.labels)(i);
            join(&host_client, &spec).await?;
            let client = member.client();
            members.push((name, member, client));
        }
        Ok((host_client, InProcess { host, members }))
    }

    /// In-process clusters with the operator running and every member Ready.
    pub async fn in_process(self) -> Result<OperatorFleet<InProcess>, TestkitError> {
        let timeout = self.ready_timeout;
        let (host_client, clusters) = self.in_process_clusters().await?;
        OperatorFleet::start(clusters, host_client, timeout).await
    }

    /// A new [`kubefed_sim::Fleet`] of the builder's member count, joined over HTTPS, with the
    /// operator running and every member Ready.
    pub async fn https(self) -> Result<OperatorFleet<Https>, TestkitError> {
        let fleet = Fleet::start(FleetConfig::with_members(self.members)).await?;
        self.https_on(fleet).await
    }

    /// Like [`FleetBuilder::https`] on a given fleet (its member count wins).
    pub async fn https_on(self, fleet: Fleet) -> Result<OperatorFleet<Https>, TestkitError> {
        let host_client = fleet.host().client();
        prepare_host(&host_client, &self.health, self.configure).await?;
        for (i, member) in fleet.members().iter().enumerate() {
            let mut spec = Join::https(member)?;
            if let Some(token) = (self.token_for)(member) {
                spec.token = token;
            }
            spec.labels = (self.labels)(i + 1);
            join(&host_client, &spec).await?;
        }
        OperatorFleet::start(Https { fleet }, host_client, self.ready_timeout).await
    }
}

/// A fleet with the operator running in-process against its host.
pub struct OperatorFleet<C> {
    pub clusters: C,
    pub host_client: Client,
    pub operator: RunningOperator,
    pub pool: MemberPool,
    pub metrics: Metrics,
}

impl<C> std::ops::Deref for OperatorFleet<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.clusters
    }
}

impl<C: Clusters> OperatorFleet<C> {
    /// Starts the operator on `clusters`, whose members are joined, and waits until each is
    /// Ready.
    pub async fn start(
        clusters: C,
        host_client: Client,
        ready_timeout: Duration,
    ) -> Result<Self, TestkitError> {
        let operator = run_operator(&host_client).await?;
        let fleet = OperatorFleet {
            pool: operator.pool.clone(),
            metrics: operator.metrics.clone(),
            clusters,
            host_client,
            operator,
        };
        fleet.wait_members_ready(ready_timeout).await?;
        Ok(fleet)
    }

    pub async fn wait_members_ready(&self, timeout: Duration) -> Result<(), TestkitError> {
        for (name, _) in self.clusters.member_clients() {
            poll(
                &format!("{name} Ready"),
                timeout,
                Duration::from_millis(20),
                || async {
                    self.pool
                        .snapshot()
                        .get(&name)
                        .filter(|m| m.is_ready())
                        .map(|_| ())
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Stops the operator at once, dropping every request in flight, and starts a new one on
    /// the same host.
    pub async fn restart_operator(&mut self) {
        self.stop_operator().await;
        self.start_operator_again().await;
    }

    /// Stops the operator at once, dropping every request in flight.
    pub async fn stop_operator(&mut self) {
        self.operator.stop().await;
    }

    /// Starts a new operator on the same host (after [`OperatorFleet::stop_operator`]).
    pub async fn start_operator_again(&mut self) {
        let operator = run_operator(&self.host_client)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.pool = operator.pool.clone();
        self.metrics = operator.metrics.clone();
        self.operator = operator;
    }

    /// Waits until the operator has finished what it was doing (see [`settle`]), watching the
    /// host's and every member's writes.
    pub async fn settle(&self) {
        settle(
            &self.metrics,
            &self.clusters.all_clusters(),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Once the operator has settled, asserts that nothing writes to the host or any member
    /// for `window`.
    pub async fn assert_quiet(&self, window: Duration) {
        self.settle().await;
        assert_quiet(&self.clusters.all_clusters(), window).await;
    }
}

impl<C: Clusters> OperatorFleet<C> {
    /// Creates `namespace` on the host with a FederatedNamespace placed on every member, and
    /// waits until each member has the namespace.
    pub async fn federate_namespace(&self, namespace: &str) {
        federate_namespace(&self.host_client, namespace, self.clusters.member_clients())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl OperatorFleet<InProcess> {
    /// The in-process client of a member.
    pub fn member(&self, name: &str) -> &Client {
        &self.member_entry(name).2
    }

    pub fn member_cluster(&self, name: &str) -> &Cluster {
        &self.member_entry(name).1
    }

    fn member_entry(&self, name: &str) -> &(String, Cluster, Client) {
        self.clusters
            .members
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }
}

impl OperatorFleet<Https> {
    pub fn member(&self, name: &str) -> &FleetCluster {
        self.clusters
            .fleet
            .get(name)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// An in-process client of a fleet cluster (through its faults).
    pub fn client(&self, name: &str) -> Client {
        self.member(name).client()
    }
}

/// Creates a namespace on the host and its FederatedNamespace placed on all clusters, then
/// waits until every member has the namespace.
pub async fn federate_namespace(
    host: &Client,
    namespace: &str,
    members: Vec<(String, Client)>,
) -> Result<(), TestkitError> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, DynamicObject, PostParams};
    use kube::core::ApiResource;
    crate::operator::create_namespace(host, namespace).await?;
    let ar = ApiResource {
        group: "types.kubefed.io".into(),
        version: "v1beta1".into(),
        api_version: "types.kubefed.io/v1beta1".into(),
        kind: "FederatedNamespace".into(),
        plural: "federatednamespaces".into(),
    };
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedNamespace",
        "metadata": {"name": namespace, "namespace": namespace},
        "spec": {"placement": {"clusterSelector": {}}}
    }))
    .map_err(|e| TestkitError::Setup(e.to_string()))?;
    Api::<DynamicObject>::namespaced_with(host.clone(), namespace, &ar)
        .create(&PostParams::default(), &obj)
        .await
        .map_err(TestkitError::kube("create FederatedNamespace"))?;
    for (name, client) in members {
        let api: Api<Namespace> = Api::all(client);
        poll(
            &format!("namespace {namespace} in {name}"),
            Duration::from_secs(15),
            Duration::from_millis(20),
            || async { api.get_opt(namespace).await.ok().flatten().map(|_| ()) },
        )
        .await?;
    }
    Ok(())
}
