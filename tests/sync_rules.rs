//! Placement, namespace, adoption, orphaning and failure rules of propagation, against a
//! simulated fleet.

mod common;

use common::*;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kubefed::crds::ConfigurationMode;
use kubefed::crds::kubefed_config::SyncControllerConfig;
use kubefed_sim::{ApiError, Middleware, RequestInfo};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn present(
    client: &kube::Client,
    ar: &kube::core::ApiResource,
    ns: Option<&str>,
    name: &str,
) -> bool {
    get(client, ar, ns, name).await.is_some()
}

async fn wait_present(
    client: &kube::Client,
    ar: &kube::core::ApiResource,
    ns: Option<&str>,
    name: &str,
    what: &str,
) -> DynamicObject {
    eventually(what, WAIT, || async { get(client, ar, ns, name).await }).await
}

async fn wait_absent(
    client: &kube::Client,
    ar: &kube::core::ApiResource,
    ns: Option<&str>,
    name: &str,
    what: &str,
) {
    eventually(what, WAIT, || async {
        get(client, ar, ns, name).await.is_none().then_some(())
    })
    .await
}

/// The federated object's per-cluster status strings once the Propagation condition exists.
async fn cluster_statuses(
    fleet: &TestFleet,
    ar: &kube::core::ApiResource,
    ns: &str,
    name: &str,
    expect: &[(&str, &str)],
) -> Value {
    let want: BTreeMap<String, String> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    eventually(&format!("cluster statuses {want:?}"), WAIT, || async {
        let obj = get(&fleet.host_client, ar, Some(ns), name).await?;
        let got: BTreeMap<String, String> = obj
            .data
            .pointer("/status/clusters")?
            .as_array()?
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    c["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (got == want).then(|| obj.data["status"].clone())
    })
    .await
}

fn region(i: usize) -> BTreeMap<String, String> {
    let r = if i == 1 { "eu" } else { "us" };
    BTreeMap::from([
        ("region".to_string(), r.to_string()),
        ("tier".to_string(), format!("t{i}")),
    ])
}

#[tokio::test]
async fn cluster_selectors_follow_kubefed_rules() {
    let fleet = start_with(3, |_| {}, region).await;
    fleet.federate_namespace("sel").await;
    let cases = [
        (
            "all",
            json!({"clusterSelector": {}}),
            vec!["cluster1", "cluster2", "cluster3"],
        ),
        (
            "eu",
            json!({"clusterSelector": {"matchLabels": {"region": "eu"}}}),
            vec!["cluster1"],
        ),
        (
            "not-t3",
            json!({"clusterSelector": {"matchExpressions": [{"key": "region", "operator": "In", "values": ["us"]}, {"key": "tier", "operator": "NotIn", "values": ["t3"]}]}}),
            vec!["cluster2"],
        ),
        (
            "none",
            json!({"clusters": [], "clusterSelector": {}}),
            vec![],
        ),
        ("unplaced", json!({}), vec![]),
    ];
    for (name, placement, _) in &cases {
        create(
            &fleet.host_client,
            &fcm(),
            Some("sel"),
            federated_configmap("sel", name, placement.clone()),
        )
        .await;
    }
    for (name, _, expected) in &cases {
        for (cluster, _, client) in &fleet.members {
            if expected.contains(&cluster.as_str()) {
                wait_present(
                    client,
                    &configmaps(),
                    Some("sel"),
                    name,
                    &format!("{name} in {cluster}"),
                )
                .await;
            }
        }
    }
    // Once the operator has settled, the others are not placed.
    fleet.settle().await;
    for (name, _, expected) in &cases {
        for (cluster, _, client) in &fleet.members {
            assert_eq!(
                present(client, &configmaps(), Some("sel"), name).await,
                expected.contains(&cluster.as_str()),
                "{name} in {cluster}"
            );
        }
    }
}

#[tokio::test]
async fn namespaced_objects_need_their_federated_namespace() {
    let fleet = start(1).await;
    create_namespace(&fleet.host_client, "plain").await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("plain"),
        federated_configmap("plain", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    let status = eventually("NamespaceNotFederated", WAIT, || async {
        let obj = get(&fleet.host_client, &fcm(), Some("plain"), "cm").await?;
        let cond = obj
            .data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Propagation")?
            .clone();
        (cond["reason"] == "NamespaceNotFederated").then_some(cond)
    })
    .await;
    assert_eq!(status["status"], "False");
    assert!(!present(fleet.member("cluster1"), &configmaps(), Some("plain"), "cm").await);
    // Federating the namespace releases the object.
    create(
        &fleet.host_client,
        &federated("FederatedNamespace", "federatednamespaces"),
        Some("plain"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace", "metadata": {"name": "plain", "namespace": "plain"}, "spec": {"placement": {"clusterSelector": {}}}}),
    )
    .await;
    wait_present(
        fleet.member("cluster1"),
        &configmaps(),
        Some("plain"),
        "cm",
        "configmap after namespace federated",
    )
    .await;
}

#[tokio::test]
async fn every_default_type_propagates() {
    let fleet = start(1).await;
    fleet.federate_namespace("all").await;
    let member = fleet.member("cluster1");
    let cases: Vec<(&str, &str, &str, &str, &str, Value)> = vec![
        (
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            "FederatedConfigMap",
            json!({"data": {"a": "b"}}),
        ),
        (
            "",
            "v1",
            "Secret",
            "secrets",
            "FederatedSecret",
            json!({"type": "Opaque", "stringData": {"a": "b"}}),
        ),
        (
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "FederatedServiceAccount",
            json!({}),
        ),
        (
            "",
            "v1",
            "Service",
            "services",
            "FederatedService",
            json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}),
        ),
        (
            "apps",
            "v1",
            "Deployment",
            "deployments",
            "FederatedDeployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "FederatedReplicaSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "batch",
            "v1",
            "Job",
            "jobs",
            "FederatedJob",
            json!({"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}),
        ),
        (
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            "FederatedIngress",
            json!({"spec": {"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}}}),
        ),
    ];
    for (_, _, _, plural, fkind, template) in &cases {
        create(
            &fleet.host_client,
            &federated(fkind, &format!("federated{plural}")),
            Some("all"),
            json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": fkind, "metadata": {"name": "x", "namespace": "all"}, "spec": {"template": template, "placement": {"clusterSelector": {}}}}),
        )
        .await;
    }
    create(
        &fleet.host_client,
        &federated("FederatedClusterRole", "federatedclusterroles"),
        None,
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole", "metadata": {"name": "fed-reader"}, "spec": {"template": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    for (group, version, kind, plural, _, _) in &cases {
        let obj = wait_present(
            member,
            &dynamic(group, version, kind, plural),
            Some("all"),
            "x",
            kind,
        )
        .await;
        assert_eq!(
            obj.metadata
                .labels
                .unwrap_or_default()
                .get("kubefed.io/managed")
                .map(String::as_str),
            Some("true"),
            "{kind} carries the managed label"
        );
    }
    let role = wait_present(
        member,
        &dynamic(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
        ),
        None,
        "fed-reader",
        "ClusterRole",
    )
    .await;
    assert_eq!(role.data["rules"][0]["verbs"], json!(["get"]));
    let secret = get(
        member,
        &dynamic("", "v1", "Secret", "secrets"),
        Some("all"),
        "x",
    )
    .await
    .unwrap();
    assert_eq!(secret.data["data"]["a"], json!("Yg=="));
}

#[tokio::test]
async fn adoption_managed_false_and_disabled_adoption() {
    // Adoption enabled (the default): an existing unlabelled object is taken over.
    let fleet = start(2).await;
    fleet.federate_namespace("adopt").await;
    for (cluster, value) in [("cluster1", None), ("cluster2", Some("false"))] {
        let mut meta = json!({"name": "cm", "namespace": "adopt"});
        if let Some(v) = value {
            meta["labels"] = json!({"kubefed.io/managed": v});
        }
        create(fleet.member(cluster), &configmaps(), Some("adopt"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "member"}})).await;
    }
    create(
        &fleet.host_client,
        &fcm(),
        Some("adopt"),
        federated_configmap("adopt", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    cluster_statuses(
        &fleet,
        &fcm(),
        "adopt",
        "cm",
        &[("cluster1", ""), ("cluster2", "ManagedLabelFalse")],
    )
    .await;
    let adopted = get(fleet.member("cluster1"), &configmaps(), Some("adopt"), "cm")
        .await
        .unwrap();
    assert_eq!(adopted.data["data"]["k"], "v");
    let untouched = get(fleet.member("cluster2"), &configmaps(), Some("adopt"), "cm")
        .await
        .unwrap();
    assert_eq!(untouched.data["data"]["k"], "member");

    // Adoption disabled: the existing object is reported, not touched.
    let fleet = start_with(
        1,
        |spec| {
            spec.sync_controller = Some(SyncControllerConfig {
                max_concurrent_reconciles: Some(2),
                adopt_resources: Some(ConfigurationMode::Disabled),
            })
        },
        |_| BTreeMap::new(),
    )
    .await;
    fleet.federate_namespace("adopt").await;
    create(fleet.member("cluster1"), &configmaps(), Some("adopt"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "adopt"}, "data": {"k": "member"}})).await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("adopt"),
        federated_configmap("adopt", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    cluster_statuses(
        &fleet,
        &fcm(),
        "adopt",
        "cm",
        &[("cluster1", "AlreadyExists")],
    )
    .await;
    let kept = get(fleet.member("cluster1"), &configmaps(), Some("adopt"), "cm")
        .await
        .unwrap();
    assert_eq!(kept.data["data"]["k"], "member");
}

#[tokio::test]
async fn orphaning_deletion_leaves_members_unmanaged() {
    let fleet = start(1).await;
    fleet.federate_namespace("orph").await;
    let mut obj = federated_configmap("orph", "cm", json!({"clusterSelector": {}}));
    obj["metadata"]["annotations"] = json!({"kubefed.io/orphan": "true"});
    create(&fleet.host_client, &fcm(), Some("orph"), obj).await;
    wait_present(
        fleet.member("cluster1"),
        &configmaps(),
        Some("orph"),
        "cm",
        "propagated",
    )
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "orph", &fcm());
    api.delete("cm", &DeleteParams::default()).await.unwrap();
    wait_absent(
        &fleet.host_client,
        &fcm(),
        Some("orph"),
        "cm",
        "federated object released",
    )
    .await;
    let left = get(fleet.member("cluster1"), &configmaps(), Some("orph"), "cm")
        .await
        .expect("member object kept");
    assert!(
        !left
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("kubefed.io/managed")
    );
}

/// Answers every request with 503, like an API server that is up but unhealthy.
struct Unavailable;

impl Middleware for Unavailable {
    fn before(&self, _req: &RequestInfo) -> Result<(), ApiError> {
        Err(ApiError::ServiceUnavailable("simulated outage".into()))
    }
}

#[tokio::test]
async fn a_failing_member_holds_deletion_until_it_recovers() {
    let fleet = start(2).await;
    fleet.federate_namespace("off").await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("off"),
        federated_configmap("off", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    for cluster in ["cluster1", "cluster2"] {
        wait_present(
            fleet.member(cluster),
            &configmaps(),
            Some("off"),
            "cm",
            "propagated",
        )
        .await;
    }
    fleet
        .member_cluster("cluster2")
        .add_middleware(Arc::new(Unavailable));

    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "off", &fcm());
    api.delete("cm", &DeleteParams::default()).await.unwrap();
    wait_absent(
        fleet.member("cluster1"),
        &configmaps(),
        Some("off"),
        "cm",
        "deleted in healthy member",
    )
    .await;
    cluster_statuses(
        &fleet,
        &fcm(),
        "off",
        "cm",
        &[("cluster2", "DeletionFailed")],
    )
    .await;
    assert!(
        get(&fleet.host_client, &fcm(), Some("off"), "cm")
            .await
            .is_some(),
        "finalizer must hold while a member that has the object cannot delete it"
    );
    fleet.member_cluster("cluster2").clear_middleware();
    wait_absent(
        fleet.member("cluster2"),
        &configmaps(),
        Some("off"),
        "cm",
        "deleted once the member recovers",
    )
    .await;
    wait_absent(
        &fleet.host_client,
        &fcm(),
        Some("off"),
        "cm",
        "federated object released",
    )
    .await;
}

#[tokio::test]
async fn bad_overrides_fail_only_their_cluster() {
    let fleet = start(2).await;
    fleet.federate_namespace("bad").await;
    let mut obj = federated_configmap("bad", "cm", json!({"clusterSelector": {}}));
    obj["spec"]["overrides"] = json!([{"clusterName": "cluster2", "clusterOverrides": [{"op": "replace", "path": "/data/missing/deeper", "value": "x"}]}]);
    create(&fleet.host_client, &fcm(), Some("bad"), obj).await;
    let status = cluster_statuses(
        &fleet,
        &fcm(),
        "bad",
        "cm",
        &[("cluster1", ""), ("cluster2", "ApplyOverridesFailed")],
    )
    .await;
    let cond = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Propagation")
        .unwrap()
        .clone();
    assert_eq!(cond["reason"], "CheckClusters");
    assert!(present(fleet.member("cluster1"), &configmaps(), Some("bad"), "cm").await);
    assert!(!present(fleet.member("cluster2"), &configmaps(), Some("bad"), "cm").await);
    // Fixing the override recovers.
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "bad", &fcm());
    api.patch("cm", &PatchParams::default(), &Patch::Merge(json!({"spec": {"overrides": [{"clusterName": "cluster2", "clusterOverrides": [{"path": "/data/k", "value": "two"}]}]}})))
        .await
        .unwrap();
    let cm = wait_present(
        fleet.member("cluster2"),
        &configmaps(),
        Some("bad"),
        "cm",
        "fixed override",
    )
    .await;
    assert_eq!(cm.data["data"]["k"], "two");
}

#[tokio::test]
async fn a_custom_type_enabled_by_a_new_type_config_propagates() {
    use kubefed::crds::federated_type_config::FederatedTypeConfig;
    let fleet = start(1).await;
    fleet.federate_namespace("custom").await;
    let target = custom_target("Widget", "widgets");
    create(fleet.member("cluster1"), &crds(), None, custom_crd(&target)).await;
    enable_type(&fleet.host_client, &target).await;
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(fleet.host_client.clone(), NS);
    create(
        &fleet.host_client,
        &federated("FederatedWidget", "federatedwidgets"),
        Some("custom"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedWidget", "metadata": {"name": "w", "namespace": "custom"},
               "spec": {"template": {"spec": {"size": 3}}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    let widget = wait_present(
        fleet.member("cluster1"),
        &dynamic("example.com", "v1", "Widget", "widgets"),
        Some("custom"),
        "w",
        "widget in cluster1",
    )
    .await;
    assert_eq!(widget.data["spec"]["size"], 3);
    // The type config reports its worker.
    let status = eventually("FTC Running", WAIT, || async {
        let f = ftcs.get(&target.type_config_name()).await.ok()?;
        let s = f.status?;
        (format!("{:?}", s.propagation_controller) == "Running").then_some(s)
    })
    .await;
    assert_eq!(status.observed_generation, 1);
}

#[tokio::test]
async fn delete_options_are_used_for_member_deletes() {
    let fleet = start(1).await;
    fleet.federate_namespace("delopt").await;
    let mut obj = federated_configmap("delopt", "cm", json!({"clusterSelector": {}}));
    obj["metadata"]["annotations"] =
        json!({"kubefed.io/deleteoption": "{\"propagationPolicy\":\"Orphan\"}"});
    create(&fleet.host_client, &fcm(), Some("delopt"), obj).await;
    let cm = wait_present(
        fleet.member("cluster1"),
        &configmaps(),
        Some("delopt"),
        "cm",
        "propagated",
    )
    .await;
    // A dependent of the member object: Orphan keeps it when its owner is deleted.
    create(
        fleet.member("cluster1"),
        &configmaps(),
        Some("delopt"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent", "namespace": "delopt",
               "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": cm.metadata.uid.clone().unwrap()}]}}),
    )
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "delopt", &fcm());
    api.delete("cm", &DeleteParams::default()).await.unwrap();
    wait_absent(
        fleet.member("cluster1"),
        &configmaps(),
        Some("delopt"),
        "cm",
        "member object deleted",
    )
    .await;
    // The member's garbage collector runs after the deletion; the dependent stays once the
    // operator has settled.
    fleet.settle().await;
    assert!(
        present(
            fleet.member("cluster1"),
            &configmaps(),
            Some("delopt"),
            "dependent"
        )
        .await,
        "propagationPolicy Orphan from kubefed.io/deleteoption must keep dependents"
    );
}

#[tokio::test]
async fn unknown_cluster_names_are_reported_once_and_do_not_block_the_rest() {
    let fleet = start(1).await;
    fleet.federate_namespace("unk").await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("unk"),
        federated_configmap(
            "unk",
            "cm",
            json!({"clusters": [{"name": "cluster1"}, {"name": "nope"}]}),
        ),
    )
    .await;
    wait_present(
        fleet.member("cluster1"),
        &configmaps(),
        Some("unk"),
        "cm",
        "propagated to the known cluster",
    )
    .await;
    let events = dynamic("events.k8s.io", "v1", "Event", "events");
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "unk", &events);
    let event = eventually("UnknownClusters event", WAIT, || async {
        let list = api.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.data["reason"] == "UnknownClusters")
    })
    .await;
    assert!(
        event.data["note"]
            .as_str()
            .unwrap_or_default()
            .contains("nope"),
        "{:?}",
        event.data
    );
    assert_eq!(event.data["regarding"]["name"], "cm");
    // Reported once, not on every pass: none more once the operator has settled.
    fleet.settle().await;
    let count = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.data["reason"] == "UnknownClusters")
        .count();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_template_the_member_rejects_is_reported_with_the_api_message() {
    let fleet = start(1).await;
    fleet.federate_namespace("rej").await;
    let fdeploy = federated("FederatedDeployment", "federateddeployments");
    // The selector does not match the pod template labels: the API server refuses it.
    create(
        &fleet.host_client,
        &fdeploy,
        Some("rej"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment", "metadata": {"name": "bad", "namespace": "rej"},
               "spec": {"template": {"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
                        "placement": {"clusterSelector": {}}}}),
    )
    .await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("rej"),
        federated_configmap("rej", "fine", json!({"clusterSelector": {}})),
    )
    .await;
    cluster_statuses(
        &fleet,
        &fdeploy,
        "rej",
        "bad",
        &[("cluster1", "CreationFailed")],
    )
    .await;
    wait_present(
        fleet.member("cluster1"),
        &configmaps(),
        Some("rej"),
        "fine",
        "other objects continue",
    )
    .await;
    let events = dynamic("events.k8s.io", "v1", "Event", "events");
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "rej", &events);
    let event = eventually("CreateInClusterFailed event", WAIT, || async {
        let list = api.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.data["reason"] == "CreateInClusterFailed")
    })
    .await;
    let note = event.data["note"].as_str().unwrap_or_default().to_string();
    assert!(
        note.contains("cluster1") && note.contains("selector"),
        "{note}"
    );
}
