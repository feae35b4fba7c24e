//! In-process fleet for integration tests: a simulated host and members, the operator's
//! controllers running against them, and helpers to wait for observable results.

#![allow(dead_code)]

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use kubefed::crds::kubefed_cluster::{KubeFedCluster, KubeFedClusterSpec, LocalSecretReference};
use kubefed::crds::kubefed_config::ClusterHealthCheckConfig;
use kubefed::crds::kubefed_config::{KubeFedConfig, KubeFedConfigSpec};
use kubefed::operator::run::Operator;
use kubefed::runtime::metrics::Metrics;
use kubefed_sim::Cluster;
use kubefed_sim::fleet::{Fleet, FleetCluster, FleetConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

pub const NS: &str = "kube-federation-system";

pub struct TestFleet {
    pub host: Cluster,
    pub host_client: Client,
    pub members: Vec<(String, Cluster, Client)>,
    pub operator: tokio::task::JoinHandle<()>,
    pub pool: kubefed::members::pool::MemberPool,
    pub metrics: Metrics,
}

impl Drop for TestFleet {
    fn drop(&mut self) {
        self.operator.abort();
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes (then panics with `what`).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn dynamic(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn deployments() -> ApiResource {
    dynamic("apps", "v1", "Deployment", "deployments")
}

pub fn federated(kind: &str, plural: &str) -> ApiResource {
    dynamic("types.kubefed.io", "v1beta1", kind, plural)
}

pub fn configmaps() -> ApiResource {
    dynamic("", "v1", "ConfigMap", "configmaps")
}

pub fn fcm() -> ApiResource {
    federated("FederatedConfigMap", "federatedconfigmaps")
}

/// A FederatedConfigMap with data `k: v` and the given placement.
pub fn federated_configmap(ns: &str, name: &str, placement: Value) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"template": {"data": {"k": "v"}}, "placement": placement}
    })
}

/// Applies a JSON object to the cluster with the given client (create, or replace on
/// conflict is not needed in fresh test clusters).
pub async fn create(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    obj: Value,
) -> DynamicObject {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let obj: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

pub async fn get(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Option<DynamicObject> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    api.get_opt(name).await.unwrap()
}

pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let _ = api.create(&PostParams::default(), &ns).await;
}

/// Registers a member with the host the way `kubectl fed join` does.
pub async fn join(host: &Client, name: &str, member: &Cluster, labels: BTreeMap<String, String>) {
    let secrets: Api<Secret> = Api::namespaced(host.clone(), NS);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-token")),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(member.admin_token().as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    let mut kfc = KubeFedCluster::new(
        name,
        KubeFedClusterSpec {
            api_endpoint: member.http_url().expect("member serves http"),
            secret_ref: LocalSecretReference {
                name: format!("{name}-token"),
            },
            ..Default::default()
        },
    );
    kfc.metadata.labels = Some(labels);
    clusters.create(&PostParams::default(), &kfc).await.unwrap();
}

/// A host plus `n` members (`cluster1` … `clusterN`), joined and Ready, with the operator's
/// controllers running in-process and fast health checks.
pub async fn start(n: usize) -> TestFleet {
    start_with(n, |_| {}, |_| BTreeMap::new()).await
}

/// Like [`start`], with a hook to adjust the KubeFedConfig and labels per member (by index,
/// from 1).
pub async fn start_with(
    n: usize,
    configure: impl FnOnce(&mut KubeFedConfigSpec),
    labels: impl Fn(usize) -> BTreeMap<String, String>,
) -> TestFleet {
    let host = Cluster::new("host");
    let host_client = host.client();
    let running = start_operator(&host_client, configure).await;
    let mut members = Vec::new();
    for i in 1..=n {
        let name = format!("cluster{i}");
        let member = Cluster::new(&name);
        member.serve_http().await.unwrap();
        let client = member.client();
        join(&host_client, &name, &member, labels(i)).await;
        members.push((name, member, client));
    }
    let fleet = TestFleet {
        host,
        host_client,
        members,
        operator: running.task,
        pool: running.pool,
        metrics: running.metrics,
    };
    for (name, _, _) in &fleet.members {
        let pool = fleet.pool.clone();
        let name = name.clone();
        eventually("member ready", Duration::from_secs(10), || {
            let pool = pool.clone();
            let name = name.clone();
            async move {
                pool.snapshot()
                    .get(&name)
                    .filter(|m| m.is_ready())
                    .map(|_| ())
            }
        })
        .await;
    }
    fleet
}

impl TestFleet {
    pub fn member(&self, name: &str) -> &Client {
        &self
            .members
            .iter()
            .find(|(n, _, _)| n == name)
            .expect("known member")
            .2
    }

    pub fn member_cluster(&self, name: &str) -> &Cluster {
        &self
            .members
            .iter()
            .find(|(n, _, _)| n == name)
            .expect("known member")
            .1
    }

    /// Creates a namespace on the host and its FederatedNamespace placed on all members.
    pub async fn federate_namespace(&self, namespace: &str) {
        let members = self.members.iter().map(|(n, _, c)| (n.clone(), c.clone()));
        federate_namespace(&self.host_client, namespace, members.collect()).await;
    }
}

/// An operator running in-process against a [`Fleet`]: every cluster behind its own HTTPS
/// listener with fault switches and workload controllers. Members are joined with their
/// HTTPS URL and the fleet CA as `caBundle`, so TLS is verified.
pub struct FleetTest {
    pub fleet: Fleet,
    pub host_client: Client,
    pub operator: tokio::task::JoinHandle<()>,
    pub pool: kubefed::members::pool::MemberPool,
    pub metrics: Metrics,
}

impl Drop for FleetTest {
    fn drop(&mut self) {
        self.operator.abort();
    }
}

/// Registers a fleet member with the host over HTTPS, trusting the fleet CA.
pub async fn join_fleet_member(host: &Client, member: &FleetCluster) {
    join_fleet_member_with_token(host, member, member.admin_token()).await;
}

/// Like [`join_fleet_member`], with the bearer token the operator uses for the member.
pub async fn join_fleet_member_with_token(host: &Client, member: &FleetCluster, token: &str) {
    let name = member.name();
    let secrets: Api<Secret> = Api::namespaced(host.clone(), NS);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-token")),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let ca = member
        .kubeconfig_entry()
        .certificate_authority
        .expect("fleet clusters have a CA");
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    let kfc = KubeFedCluster::new(
        name,
        KubeFedClusterSpec {
            api_endpoint: member.url(),
            ca_bundle: Some(ByteString(ca.into_bytes())),
            secret_ref: LocalSecretReference {
                name: format!("{name}-token"),
            },
            ..Default::default()
        },
    );
    clusters.create(&PostParams::default(), &kfc).await.unwrap();
}

/// A [`Fleet`] with `n` members (`cluster1` … `clusterN`), joined over HTTPS and Ready, the
/// operator's controllers running in-process; `configure` adjusts the KubeFedConfig (health
/// checks default to a 200ms period, failure threshold 2, success threshold 1).
pub async fn start_fleet(n: usize, configure: impl FnOnce(&mut KubeFedConfigSpec)) -> FleetTest {
    let fleet = Fleet::start(FleetConfig::with_members(n)).await.unwrap();
    start_fleet_with(fleet, configure, |_| None).await
}

/// Like [`start_fleet`] on a given fleet; `token_for` may give a member another token than its
/// admin token.
pub async fn start_fleet_with(
    fleet: Fleet,
    configure: impl FnOnce(&mut KubeFedConfigSpec),
    token_for: impl Fn(&FleetCluster) -> Option<String>,
) -> FleetTest {
    let host_client = fleet.host().client();
    let running = start_operator(&host_client, configure).await;
    for member in fleet.members() {
        let token = token_for(member).unwrap_or_else(|| member.admin_token().to_string());
        join_fleet_member_with_token(&host_client, member, &token).await;
    }
    let names: Vec<String> = fleet
        .members()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    for name in names {
        wait_member_ready(&running.pool, &name).await;
    }
    FleetTest {
        fleet,
        host_client,
        operator: running.task,
        pool: running.pool,
        metrics: running.metrics,
    }
}

async fn wait_member_ready(pool: &kubefed::members::pool::MemberPool, name: &str) {
    eventually(
        &format!("{name} ready"),
        Duration::from_secs(15),
        || async {
            pool.snapshot()
                .get(name)
                .filter(|m| m.is_ready())
                .map(|_| ())
        },
    )
    .await;
}

impl FleetTest {
    /// Stops the operator at once (its in-flight requests are dropped, as with `kill -9`)
    /// and starts a new one on the same host.
    pub async fn restart_operator(&mut self) {
        self.stop_operator().await;
        self.start_operator_again().await;
    }

    /// Stops the operator at once, dropping every request in flight.
    pub async fn stop_operator(&mut self) {
        self.operator.abort();
        let _ = (&mut self.operator).await;
    }

    /// Starts a new operator on the same host (after [`FleetTest::stop_operator`]).
    pub async fn start_operator_again(&mut self) {
        let running = run_operator(&self.host_client).await;
        self.operator = running.task;
        self.pool = running.pool;
        self.metrics = running.metrics;
    }

    /// An in-process client of a fleet cluster (through its faults).
    pub fn client(&self, name: &str) -> Client {
        self.fleet.get(name).expect("known cluster").client()
    }

    pub fn member(&self, name: &str) -> &FleetCluster {
        self.fleet.get(name).expect("known cluster")
    }

    /// Creates a namespace on the host and its FederatedNamespace placed on all members,
    /// and waits for it on every member.
    pub async fn federate_namespace(&self, namespace: &str) {
        let members = self
            .fleet
            .members()
            .iter()
            .map(|m| (m.name().to_string(), m.client()));
        federate_namespace(&self.host_client, namespace, members.collect()).await;
    }
}

/// An operator running in-process.
pub struct Running {
    pub task: tokio::task::JoinHandle<()>,
    pub pool: kubefed::members::pool::MemberPool,
    pub metrics: Metrics,
}

/// Installs the API on a fresh host, creates the `kubefed` KubeFedConfig with fast health
/// checks (adjusted by `configure`), and runs the operator's controllers in-process.
async fn start_operator(
    host_client: &Client,
    configure: impl FnOnce(&mut KubeFedConfigSpec),
) -> Running {
    prepare_host(host_client, configure).await;
    run_operator(host_client).await
}

/// Installs the API on a fresh host and creates the `kubefed` KubeFedConfig with fast health
/// checks (a 200ms period, failure threshold 2, success threshold 1; adjusted by `configure`).
pub async fn prepare_host(host_client: &Client, configure: impl FnOnce(&mut KubeFedConfigSpec)) {
    // Logs on demand: RUST_LOG=kubefed=debug cargo test …
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    create_namespace(host_client, NS).await;
    // The API goes first so the KubeFedConfig can be created with test timings.
    kubefed::operator::install::install(host_client, NS, Duration::from_secs(10))
        .await
        .unwrap();
    let configs: Api<KubeFedConfig> = Api::namespaced(host_client.clone(), NS);
    let mut spec = KubeFedConfigSpec {
        cluster_health_check: Some(ClusterHealthCheckConfig {
            period: Some("200ms".into()),
            timeout: Some("2s".into()),
            failure_threshold: Some(2),
            success_threshold: Some(1),
        }),
        ..KubeFedConfigSpec::with_defaults()
    };
    configure(&mut spec);
    configs
        .create(&PostParams::default(), &KubeFedConfig::new("kubefed", spec))
        .await
        .unwrap();
}

/// Runs the operator's controllers in-process on a host that has the API and a KubeFedConfig.
pub async fn run_operator(host_client: &Client) -> Running {
    let metrics = Metrics::new();
    let operator = Operator::prepare(host_client.clone(), NS, false, metrics.clone())
        .await
        .unwrap();
    let pool = operator.pool.clone();
    let task = tokio::spawn(async move { operator.run_controllers().await });
    Running {
        task,
        pool,
        metrics,
    }
}

/// Successful sync reconciliations so far.
pub fn sync_reconciles(metrics: &Metrics) -> u64 {
    ["success", "error"]
        .iter()
        .map(|result| {
            metrics
                .reconciles
                .get_or_create(&kubefed::runtime::metrics::ReconcileLabels {
                    controller: "sync".into(),
                    result: result.to_string(),
                })
                .get()
        })
        .sum()
}

/// Waits until the sync controller has reconciled at least `at_least` times and then done
/// nothing for `idle`: every object has been looked at and nothing is pending.
pub async fn wait_sync_idle(metrics: &Metrics, at_least: u64, idle: Duration, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut last = (sync_reconciles(metrics), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sync_reconciles(metrics);
        if now != last.0 {
            last = (now, Instant::now());
        } else if now >= at_least && last.1.elapsed() >= idle {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sync did not settle within {timeout:?}: {now} reconciles (wanted {at_least} and {idle:?} idle)"
        );
    }
}

/// Creates a namespace on the host and its FederatedNamespace placed on all clusters, then
/// waits until every member has the namespace.
async fn federate_namespace(host: &Client, namespace: &str, members: Vec<(String, Client)>) {
    create_namespace(host, namespace).await;
    create(
        host,
        &federated("FederatedNamespace", "federatednamespaces"),
        Some(namespace),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": {"placement": {"clusterSelector": {}}}
        }),
    )
    .await;
    let namespaces = dynamic("", "v1", "Namespace", "namespaces");
    for (name, client) in members {
        eventually(
            &format!("namespace in {name}"),
            Duration::from_secs(15),
            || async { get(&client, &namespaces, None, namespace).await.map(|_| ()) },
        )
        .await;
    }
}

/// A namespaced custom type `<kind>` (`<plural>.example.com/v1`).
pub fn custom_target(kind: &str, plural: &str) -> kubefed::crds::TargetType {
    kubefed::crds::TargetType {
        group: "example.com".into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        scope: kubefed::crds::Scope::Namespaced,
        short_name: None,
        has_replicas: false,
    }
}

/// The CRD of a custom type, accepting any content.
pub fn custom_crd(target: &kubefed::crds::TargetType) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", target.plural, target.group)},
        "spec": {
            "group": target.group,
            "scope": "Namespaced",
            "names": {"kind": target.kind, "plural": target.plural,
                      "singular": target.kind.to_lowercase()},
            "versions": [{"name": target.version, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

pub fn crds() -> ApiResource {
    dynamic(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    )
}

/// Enables federation of `target` on the host, as `kubectl fed enable` does: the federated
/// CRD and a FederatedTypeConfig.
pub async fn enable_type(host: &Client, target: &kubefed::crds::TargetType) {
    use kubefed::crds::federated_type_config::{FederatedTypeConfig, FederatedTypeConfigSpec};
    use kubefed::crds::{ConfigurationMode, FederatedCrdOptions, federated_crd};
    let fed_crd = federated_crd(target, &FederatedCrdOptions::for_target(target));
    create(host, &crds(), None, serde_json::to_value(&fed_crd).unwrap()).await;
    wait_crd_established(host, &fed_crd.metadata.name.clone().unwrap_or_default()).await;
    let ftc = FederatedTypeConfig::new(
        &target.type_config_name(),
        FederatedTypeConfigSpec {
            target_type: target.api_resource(),
            propagation: ConfigurationMode::Enabled,
            federated_type: target.federated_api_resource(),
            status_type: None,
            status_collection: Some(ConfigurationMode::Enabled),
        },
    );
    let ftcs: Api<kubefed::crds::federated_type_config::FederatedTypeConfig> =
        Api::namespaced(host.clone(), NS);
    ftcs.create(&Default::default(), &ftc).await.unwrap();
}

/// Whether a federated object's status says it is in sync everywhere it is placed.
pub fn in_sync(obj: &DynamicObject, clusters: usize) -> bool {
    let status = &obj.data["status"];
    let entries = status["clusters"].as_array().map(Vec::len).unwrap_or(0);
    entries == clusters
        && status["clusters"]
            .as_array()
            .is_some_and(|c| c.iter().all(|e| e.get("status").is_none()))
        && status["observedGeneration"] == json!(obj.metadata.generation)
        && status["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Propagation" && c["status"] == "True")
        })
}

/// Waits until `count` federated config maps in `ns` are in sync and every member has them.
pub async fn wait_converged(t: &FleetTest, ns: &str, count: usize, timeout: Duration) {
    let api: Api<DynamicObject> = Api::namespaced_with(t.host_client.clone(), ns, &fcm());
    let members = t.fleet.members().len();
    eventually(
        &format!("{count} objects in sync in {ns}"),
        timeout,
        || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            let synced = list.items.iter().filter(|o| in_sync(o, members)).count();
            if synced < count {
                return None;
            }
            t.fleet
                .members()
                .iter()
                .all(|m| m.cluster().list_objects("", "configmaps", Some(ns)).len() >= count)
                .then_some(())
        },
    )
    .await;
}

/// Creates `count` FederatedConfigMaps `cm-000`… in `ns`, placed everywhere.
pub async fn create_many(host: &kube::Client, ns: &str, count: usize) {
    for i in 0..count {
        let name = format!("cm-{i:03}");
        let obj = federated_configmap(ns, &name, json!({"clusterSelector": {}}));
        create(host, &fcm(), Some(ns), obj).await;
    }
}

/// How many config maps in `ns` of a member carry the managed label.
pub fn managed_in(member: &Cluster, ns: &str) -> usize {
    member
        .list_objects("", "configmaps", Some(ns))
        .iter()
        .filter(|o| o["metadata"]["labels"]["kubefed.io/managed"] == "true")
        .count()
}

/// Waits for an event in `ns` that `matches`.
pub async fn wait_event(
    host: &Client,
    ns: &str,
    what: &str,
    matches: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    let events = dynamic("events.k8s.io", "v1", "Event", "events");
    let api: Api<DynamicObject> = Api::namespaced_with(host.clone(), ns, &events);
    eventually(what, Duration::from_secs(20), || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| matches(e))
    })
    .await
}

/// Waits until a CRD is established: a real server serves a new CRD only once its names are
/// accepted, and lists it in discovery once it is established.
pub async fn wait_crd_established(client: &Client, name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    tokio::time::timeout(
        Duration::from_secs(10),
        kube::runtime::wait::await_condition(
            crds,
            name,
            kube::runtime::wait::conditions::is_crd_established(),
        ),
    )
    .await
    .expect("CRD established in time")
    .expect("watching the CRD");
}

/// Replaces a CRD's schema with one that accepts anything (as a CRD of another version, or one
/// installed without validation, would), so objects the operator cannot read can be stored.
pub async fn accept_anything(host: &Client, crd: &str) {
    use kube::api::{Patch, PatchParams};
    let api: Api<DynamicObject> = Api::all_with(host.clone(), &crds());
    let patch: json_patch::Patch = serde_json::from_value(json!([{
        "op": "replace",
        "path": "/spec/versions/0/schema/openAPIV3Schema",
        "value": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }]))
    .unwrap();
    api.patch(crd, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
}
