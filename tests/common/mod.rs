//! Fixtures of the operator's integration tests on top of `kubefed_testkit`, which builds the
//! fleets (in-process or HTTPS), joins members, runs the operator and waits on signals.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;
use kubefed::crds::kubefed_config::KubeFedConfigSpec;
use kubefed_sim::Cluster;
use kubefed_sim::fleet::{Fleet, FleetCluster, FleetConfig};
pub use kubefed_testkit::quiet::wait_sync_idle as try_wait_sync_idle;
#[allow(unused_imports)]
pub use kubefed_testkit::{
    FleetBuilder, HealthCheck, Https, InProcess, Join, OperatorFleet, Quiet, assert_quiet,
    eventually, sync_reconciles,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub const NS: &str = kubefed_testkit::FEDERATION_NAMESPACE;

/// A host and members `cluster1` … `clusterN` served in-process, the operator reaching them
/// over plain HTTP.
pub type TestFleet = OperatorFleet<InProcess>;

/// A [`Fleet`]: every cluster behind its own HTTPS listener with fault switches and workload
/// controllers, members joined with the fleet CA as `caBundle`.
pub type FleetTest = OperatorFleet<Https>;

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
    kubefed_testkit::init_test_logging();
    FleetBuilder::new(n)
        .configure(configure)
        .labels(labels)
        .in_process()
        .await
        .unwrap()
}

/// Registers a fleet member with the host over HTTPS, trusting the fleet CA.
pub async fn join_fleet_member(host: &Client, member: &FleetCluster) {
    join_fleet_member_with_token(host, member, member.admin_token()).await;
}

/// Like [`join_fleet_member`], with the bearer token the operator uses for the member.
pub async fn join_fleet_member_with_token(host: &Client, member: &FleetCluster, token: &str) {
    let mut spec = Join::https(member).unwrap();
    spec.token = token.to_string();
    kubefed_testkit::join(host, &spec).await.unwrap();
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
    kubefed_testkit::init_test_logging();
    FleetBuilder::new(fleet.members().len())
        .configure(configure)
        .token_for(token_for)
        .https_on(fleet)
        .await
        .unwrap()
}

/// Installs the API on a fresh host and creates the `kubefed` KubeFedConfig with fast health
/// checks (a 200ms period, failure threshold 2, success threshold 1; adjusted by `configure`).
pub async fn prepare_host(host_client: &Client, configure: impl FnOnce(&mut KubeFedConfigSpec)) {
    kubefed_testkit::init_test_logging();
    kubefed_testkit::prepare_host(host_client, &HealthCheck::default(), configure)
        .await
        .unwrap();
}

/// Waits until the sync controller has reconciled at least `at_least` times and then done
/// nothing for `idle`.
pub async fn wait_sync_idle(
    metrics: &kubefed::runtime::metrics::Metrics,
    at_least: u64,
    idle: Duration,
    timeout: Duration,
) {
    try_wait_sync_idle(metrics, at_least, idle, timeout)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
