//! KubeFed v0.10-style manifests deserialize into the typed API and serialize back unchanged.

use kubefed::crds::federated::{FederatedSpec, FederatedStatus};
use kubefed::crds::{
    FederatedTypeConfig, KubeFedCluster, KubeFedConfig, ReplicaSchedulingPreference,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Deserializes `value` as `T` and checks that serializing it gives `value` back.
fn assert_round_trips<T: DeserializeOwned + Serialize>(value: &Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).expect("deserializes");
    let back = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(&back, value);
    typed
}

#[test]
fn federated_deployment_round_trips() {
    let manifest = fixture("federateddeployment.yaml");
    let spec: FederatedSpec = assert_round_trips(&manifest["spec"]);
    let status: FederatedStatus = assert_round_trips(&manifest["status"]);

    let clusters = spec.placement.and_then(|p| p.clusters).expect("clusters");
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cluster1", "cluster2"]);
    let overrides = &spec.overrides[0];
    assert_eq!(overrides.cluster_name, "cluster2");
    assert_eq!(overrides.cluster_overrides[0].op, "");
    assert_eq!(overrides.cluster_overrides[0].value, Some(Value::from(5)));
    assert_eq!(overrides.cluster_overrides[2].op, "add");
    assert_eq!(overrides.cluster_overrides[3].op, "remove");
    assert_eq!(overrides.cluster_overrides[3].value, None);
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.clusters[1].status, "UpdateFailed");
    assert!(status.clusters[1].stale);
    assert_eq!(status.clusters[0].observed_generation, Some(2));
    let aggregate = status.aggregate.expect("aggregate");
    assert_eq!(aggregate.ready.as_deref(), Some("3/8"));
    assert_eq!(aggregate.clusters, "1/2");
}

#[test]
fn federated_namespace_round_trips() {
    let manifest = fixture("federatednamespace.yaml");
    let spec: FederatedSpec = assert_round_trips(&manifest["spec"]);
    let selector = spec
        .placement
        .and_then(|p| p.cluster_selector)
        .expect("selector");
    assert_eq!(
        selector.match_labels.and_then(|l| l.get("env").cloned()),
        Some("prod".to_string())
    );
    assert!(spec.template.is_none());
}

#[test]
fn replica_scheduling_preference_round_trips() {
    let rsp: ReplicaSchedulingPreference =
        assert_round_trips(&fixture("replicaschedulingpreference.yaml"));
    assert_eq!(rsp.spec.total_replicas, 9);
    assert!(rsp.spec.rebalance);
    assert_eq!(rsp.spec.clusters["cluster1"].max_replicas, Some(6));
    assert_eq!(rsp.spec.clusters["*"].weight, 1);
}

#[test]
fn kubefed_cluster_round_trips() {
    let cluster: KubeFedCluster = assert_round_trips(&fixture("kubefedcluster.yaml"));
    assert_eq!(cluster.spec.secret_ref.name, "cluster1-token");
    let ca = cluster.spec.ca_bundle.expect("caBundle");
    assert!(ca.0.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let status = cluster.status.expect("status");
    assert!(status.is_ready());
    assert_eq!(status.kubernetes_version.as_deref(), Some("v1.33.1"));
}

#[test]
fn kubefed_config_round_trips() {
    let config: KubeFedConfig = assert_round_trips(&fixture("kubefedconfig.yaml"));
    assert_eq!(config.spec.feature_gate("PushReconciler"), Some(true));
    assert_eq!(config.spec.defaulted(), config.spec);
    let timings = config.spec.timings().expect("valid durations");
    assert_eq!(
        timings.cache_sync_timeout,
        std::time::Duration::from_secs(300)
    );
}

#[test]
fn federated_type_config_round_trips() {
    let ftc: FederatedTypeConfig = assert_round_trips(&fixture("federatedtypeconfig.yaml"));
    assert_eq!(ftc.spec.target_type.qualified_plural(), "deployments.apps");
    // The default FederatedTypeConfig for deployments is the same object minus status.
    let defaults = kubefed::crds::default_type_configs("kube-federation-system");
    let mut expected = ftc.clone();
    expected.status = None;
    assert_eq!(defaults[2], expected);
}
