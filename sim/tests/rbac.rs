//! ServiceAccount tokens and RBAC authorization.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use kubefed_sim::fleet::{Fleet, FleetConfig};
use serde_json::json;

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn forbidden(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert_eq!(s.reason, "Forbidden", "{s:?}");
            s.message
        }
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_token_is_limited_to_its_role() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let admin = member.client();
    for ns in ["team-a", "team-b"] {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
        api.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": ns}})),
        )
        .await
        .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "settings"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    }
    let pp = PostParams::default();
    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a")
        .create(&pp, &obj(json!({"metadata": {"name": "reader"}})))
        .await
        .unwrap();
    Api::<Role>::namespaced(admin.clone(), "team-a")
        .create(
            &pp,
            &obj(json!({
                "metadata": {"name": "read-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            })),
        )
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), "team-a")
        .create(
            &pp,
            &obj(json!({
                "metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "team-a"}],
            })),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "team-a");
    secrets
        .create(
            &pp,
            &obj(json!({
                "metadata": {"name": "reader-token", "annotations": {"kubernetes.io/service-account.name": "reader"}},
                "type": "kubernetes.io/service-account-token",
            })),
        )
        .await
        .unwrap();

    // The token controller fills the secret.
    let filled =
        kubefed_sim::testing::eventually("token secret filled", Duration::from_secs(5), || async {
            Some(secrets.get("reader-token").await.unwrap())
                .filter(|s| s.data.as_ref().is_some_and(|d| d.contains_key("token")))
        })
        .await;
    let data = filled.data.unwrap();
    let token = String::from_utf8(data["token"].0.clone()).unwrap();
    assert_eq!(data["namespace"].0, b"team-a");
    assert!(String::from_utf8_lossy(&data["ca.crt"].0).contains("BEGIN CERTIFICATE"));

    // Through the network, with a kubeconfig carrying the ServiceAccount token.
    let mut entry = member.kubeconfig_entry();
    entry.token = token.clone();
    let mut kc = kubefed_sim::Kubeconfig::default();
    kc.push(entry);
    let sa_client = kube::Client::try_from(kc.kube_config("cluster1").await.unwrap()).unwrap();
    let user = "system:serviceaccount:team-a:reader";

    let mine: Api<ConfigMap> = Api::namespaced(sa_client.clone(), "team-a");
    let cm = mine.get("settings").await.unwrap();
    assert_eq!(cm.data.unwrap()["a"], "1");
    // Discovery stays open to every authenticated user.
    sa_client.apiserver_version().await.unwrap();
    sa_client.list_core_api_versions().await.unwrap();

    let m = forbidden(mine.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        m,
        format!(
            r#"configmaps is forbidden: User "{user}" cannot list resource "configmaps" in API group "" in the namespace "team-a""#
        )
    );
    let theirs: Api<ConfigMap> = Api::namespaced(sa_client.clone(), "team-b");
    let m = forbidden(theirs.get("settings").await.unwrap_err());
    assert_eq!(
        m,
        format!(
            r#"configmaps "settings" is forbidden: User "{user}" cannot get resource "configmaps" in API group "" in the namespace "team-b""#
        )
    );
    let sa_secrets: Api<Secret> = Api::namespaced(sa_client.clone(), "team-a");
    let m = forbidden(sa_secrets.get("reader-token").await.unwrap_err());
    assert!(m.contains(r#"cannot get resource "secrets""#), "{m}");
    let m = forbidden(
        mine.create(&pp, &obj(json!({"metadata": {"name": "new"}})))
            .await
            .unwrap_err(),
    );
    assert!(m.contains(r#"cannot create resource "configmaps""#), "{m}");
    let all: Api<ConfigMap> = Api::all(sa_client.clone());
    let m = forbidden(all.list(&ListParams::default()).await.unwrap_err());
    assert!(m.ends_with("at the cluster scope"), "{m}");

    // The admin token keeps full access; deleting the secret revokes the token.
    Api::<ConfigMap>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    secrets
        .delete("reader-token", &Default::default())
        .await
        .unwrap();
    kubefed_sim::testing::eventually(
        "a deleted token secret to stop authenticating",
        Duration::from_secs(5),
        || async {
            matches!(mine.get("settings").await, Err(kube::Error::Api(s)) if s.code == 401)
                .then_some(())
        },
    )
    .await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_request_tokens_follow_cluster_role_bindings() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let admin = member.client();
    let pp = PostParams::default();
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    sas.create(&pp, &obj(json!({"metadata": {"name": "operator"}})))
        .await
        .unwrap();
    let req: k8s_openapi::api::authentication::v1::TokenRequest =
        obj(json!({"spec": {"audiences": []}}));
    let tr = sas
        .create_token_request("operator", &pp, &req)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let client = member.client_with_token(&token);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    forbidden(cms.list(&ListParams::default()).await.unwrap_err());

    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(admin.clone())
        .create(
            &pp,
            &obj(json!({
                "metadata": {"name": "operator-admin"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": "default"}],
            })),
        )
        .await
        .unwrap();
    cms.list(&ListParams::default()).await.unwrap();
    Api::<ConfigMap>::namespaced(client, "kube-system")
        .create(&pp, &obj(json!({"metadata": {"name": "made-by-operator"}})))
        .await
        .unwrap();
    fleet.shutdown().await;
}
