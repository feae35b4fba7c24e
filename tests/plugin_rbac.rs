//! `kubectl fed join --rbac minimal` against a fleet that enforces RBAC: the operator can
//! propagate with the issued token, the token is refused for anything else, and RBAC types
//! (ClusterRoles granting what the token itself lacks, and bindings) still propagate.

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Client;
use kube::api::{Api, ListParams};
use kubefed::operator::run::Operator;
use kubefed::runtime::metrics::Metrics;
use kubefed_sim::{Fleet, FleetConfig};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// A one-member RBAC-enforcing fleet with the operator running in-process against its host.
struct RbacFleet {
    fleet: Fleet,
    dir: PathBuf,
    kubeconfig: PathBuf,
    host: Client,
    operator: tokio::task::JoinHandle<()>,
}

impl Drop for RbacFleet {
    fn drop(&mut self) {
        self.operator.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RbacFleet {
    async fn start(tag: &str) -> Self {
        let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
        let dir = std::env::temp_dir().join(format!("kubefed-rbac-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("fleet.kubeconfig");
        fleet.write_kubeconfig(&kubeconfig).unwrap();
        let host = fleet.host().client();
        create_namespace(&host, NS).await;
        let operator = Operator::prepare(host.clone(), NS, true, Metrics::new())
            .await
            .unwrap();
        let operator = tokio::spawn(async move { operator.run_controllers().await });
        RbacFleet {
            fleet,
            dir,
            kubeconfig,
            host,
            operator,
        }
    }

    /// Runs `kubectl fed args…` against the fleet's host and expects success.
    async fn fed(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .args(args)
            .args(["--host-cluster-context", "host"])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl fed {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn join_minimal(&self) {
        self.fed(&[
            "join",
            "cluster1",
            "--cluster-context",
            "cluster1",
            "--rbac",
            "minimal",
        ])
        .await;
    }

    /// A client for cluster1 authenticated as the joined ServiceAccount.
    async fn member_token_client(&self) -> Client {
        let secrets: Api<Secret> = Api::namespaced(self.host.clone(), NS);
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
        self.fleet
            .get("cluster1")
            .unwrap()
            .client_with_token(&token)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_rbac_is_enough_to_propagate_and_nothing_more() {
    let f = RbacFleet::start("propagate").await;
    f.join_minimal().await;
    let host = f.host.clone();
    let fleet = &f.fleet;

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
    let limited = f.member_token_client().await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_rbac_propagates_cluster_roles_beyond_its_own_rights_and_their_bindings() {
    let f = RbacFleet::start("escalate").await;
    // Bindings are federated too; the join after `enable` grants both kinds.
    f.fed(&["enable", "clusterrolebindings.rbac.authorization.k8s.io"])
        .await;
    f.join_minimal().await;

    let reader = json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole",
        "metadata": {"name": "lease-reader"},
        "spec": {
            "template": {"rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list"]}]},
            "placement": {"clusterSelector": {}},
        },
    });
    let binding = json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRoleBinding",
        "metadata": {"name": "lease-reader"},
        "spec": {
            "template": {
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lease-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
            },
            "placement": {"clusterSelector": {}},
        },
    });
    let federated_binding = federated(
        "FederatedClusterRoleBinding",
        "federatedclusterrolebindings",
    );
    // The operator picks the enabled type up a moment after `enable`; its CRD is served by then.
    create(
        &f.host,
        &federated("FederatedClusterRole", "federatedclusterroles"),
        None,
        reader,
    )
    .await;
    eventually(
        "the FederatedClusterRoleBinding CRD to be served",
        Duration::from_secs(20),
        || async {
            Api::<kube::api::DynamicObject>::all_with(f.host.clone(), &federated_binding)
                .list(&ListParams::default())
                .await
                .ok()
        },
    )
    .await;
    create(&f.host, &federated_binding, None, binding).await;

    let member = f.fleet.get("cluster1").unwrap().client();
    let role = eventually(
        "the ClusterRole in cluster1",
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
                "lease-reader",
            )
            .await
        },
    )
    .await;
    assert_eq!(role.data["rules"][0]["resources"], json!(["leases"]));
    let bound = eventually(
        "the ClusterRoleBinding in cluster1",
        Duration::from_secs(20),
        || async {
            get(
                &member,
                &dynamic(
                    "rbac.authorization.k8s.io",
                    "v1",
                    "ClusterRoleBinding",
                    "clusterrolebindings",
                ),
                None,
                "lease-reader",
            )
            .await
        },
    )
    .await;
    assert_eq!(bound.data["subjects"][0]["name"], "alice");

    // The federation's token holds none of what the propagated role grants: it wrote a
    // ClusterRole beyond its own rights (escalate) and bound it (bind).
    let limited = f.member_token_client().await;
    let err = Api::<Lease>::all(limited)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err:?}"
    );
}
