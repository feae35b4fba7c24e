//! `kubectl fed join --rbac minimal` against a fleet that enforces RBAC: the operator can
//! propagate with the issued token, and the token is refused for anything else.

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams};
use kubefed::operator::run::Operator;
use kubefed::runtime::metrics::Metrics;
use kubefed_sim::{Fleet, FleetConfig};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_rbac_is_enough_to_propagate_and_nothing_more() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let dir = std::env::temp_dir().join(format!("kubefed-rbac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("fleet.kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).unwrap();

    let host = fleet.host().client();
    create_namespace(&host, NS).await;
    let operator = Operator::prepare(host.clone(), NS, true, Metrics::new())
        .await
        .unwrap();
    let task = tokio::spawn(async move { operator.run_controllers().await });

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
        .args([
            "join",
            "cluster1",
            "--cluster-context",
            "cluster1",
            "--host-cluster-context",
            "host",
            "--rbac",
            "minimal",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "join failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The operator reaches the member with the minimal token and propagates.
    create_namespace(&host, "rbac").await;
    create(
        &host,
        &federated("FederatedNamespace", "federatednamespaces"),
        Some("rbac"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace", "metadata": {"name": "rbac", "namespace": "rbac"}, "spec": {"placement": {"clusterSelector": {}}}}),
    )
    .await;
    create(
        &host,
        &federated("FederatedConfigMap", "federatedconfigmaps"),
        Some("rbac"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap", "metadata": {"name": "cm", "namespace": "rbac"}, "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    let member = fleet.get("cluster1").unwrap().client();
    let cm = eventually(
        "configmap propagated with the minimal token",
        Duration::from_secs(20),
        || async {
            get(
                &member,
                &dynamic("", "v1", "ConfigMap", "configmaps"),
                Some("rbac"),
                "cm",
            )
            .await
        },
    )
    .await;
    assert_eq!(cm.data["data"]["k"], "v");

    // A ClusterRole grants what it holds, which RBAC refuses to a member token that does not
    // hold it itself unless the token may `escalate`: the minimal grant includes that.
    create(
        &host,
        &federated("FederatedClusterRole", "federatedclusterroles"),
        None,
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole", "metadata": {"name": "pod-reader"}, "spec": {"template": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    let role = eventually(
        "cluster role propagated with the minimal token",
        Duration::from_secs(20),
        || async {
            get(
                &member,
                &dynamic(
                    "rbac.authorization.k8s.io",
                    "v1",
                    "ClusterRole",
                    "clusterroles",
                ),
                None,
                "pod-reader",
            )
            .await
        },
    )
    .await;
    assert_eq!(role.data["rules"][0]["resources"], json!(["pods"]));

    // The same token is refused for what no enabled type needs.
    let secrets: Api<Secret> = Api::namespaced(host.clone(), NS);
    let secret = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("cluster1"))
        })
        .expect("host-side token secret");
    let token = String::from_utf8(secret.data.unwrap()["token"].0.clone()).unwrap();
    let limited = fleet.get("cluster1").unwrap().client_with_token(&token);
    let leases: Api<Lease> = Api::all(limited.clone());
    let err = leases.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.reason == "Forbidden"),
        "{err:?}"
    );
    let bindings: Api<ClusterRoleBinding> = Api::all(limited);
    let err = bindings.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err:?}"
    );
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
