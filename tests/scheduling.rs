//! ReplicaSchedulingPreference against a simulated fleet: the plan lands in the target's
//! placement and overrides, and in the RSP status.

mod common;

use common::*;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn rsps() -> kube::core::ApiResource {
    dynamic(
        "scheduling.kubefed.io",
        "v1alpha1",
        "ReplicaSchedulingPreference",
        "replicaschedulingpreferences",
    )
}

fn fdeploy() -> kube::core::ApiResource {
    federated("FederatedDeployment", "federateddeployments")
}

/// Member replicas per cluster once they match `want`.
async fn member_replicas(fleet: &TestFleet, ns: &str, name: &str, want: &[(&str, i64)]) {
    for (cluster, replicas) in want {
        let client = fleet.member(cluster).clone();
        eventually(&format!("{replicas} replicas in {cluster}"), WAIT, || {
            let client = client.clone();
            async move {
                let d = get(&client, &deployments(), Some(ns), name).await?;
                (d.data.pointer("/spec/replicas") == Some(&json!(replicas))).then_some(())
            }
        })
        .await;
    }
}

#[tokio::test]
async fn replicas_are_divided_by_weight_and_written_to_the_target() {
    let fleet = start(2).await;
    fleet.federate_namespace("rsp").await;
    create(
        &fleet.host_client,
        &fdeploy(),
        Some("rsp"),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "rsp"},
            "spec": {
                "template": {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                "placement": {"clusterSelector": {}},
                "overrides": [{"clusterName": "cluster1", "clusterOverrides": [{"path": "/spec/template/spec/containers/0/image", "value": "nginx:1"}]}]
            }
        }),
    )
    .await;
    create(
        &fleet.host_client,
        &rsps(),
        Some("rsp"),
        json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": "rsp"},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": 10, "clusters": {"*": {"weight": 1}}}
        }),
    )
    .await;
    member_replicas(&fleet, "rsp", "web", &[("cluster1", 5), ("cluster2", 5)]).await;
    // The user's own override survives next to the planner's.
    let target = get(&fleet.host_client, &fdeploy(), Some("rsp"), "web")
        .await
        .unwrap();
    let c1 = target.data["spec"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["clusterName"] == "cluster1")
        .unwrap()
        .clone();
    assert_eq!(c1["clusterOverrides"].as_array().unwrap().len(), 2, "{c1}");
    let d1 = get(fleet.member("cluster1"), &deployments(), Some("rsp"), "web")
        .await
        .unwrap();
    assert_eq!(
        d1.data.pointer("/spec/template/spec/containers/0/image"),
        Some(&json!("nginx:1"))
    );

    // Weights 2:3 over 10 replicas give 4/6 (KubeFed's documented example).
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "rsp", &rsps());
    api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"rebalance": true, "clusters": {"*": null, "cluster1": {"weight": 2}, "cluster2": {"weight": 3}}}})))
        .await
        .unwrap();
    member_replicas(&fleet, "rsp", "web", &[("cluster1", 4), ("cluster2", 6)]).await;
    let status = eventually("RSP status plan", WAIT, || async {
        let r = get(&fleet.host_client, &rsps(), Some("rsp"), "web").await?;
        let plan: BTreeMap<String, i64> =
            serde_json::from_value(r.data.pointer("/status/plan")?.clone()).ok()?;
        (plan == BTreeMap::from([("cluster1".to_string(), 4), ("cluster2".to_string(), 6)]))
            .then(|| r.data["status"].clone())
    })
    .await;
    assert_eq!(status["conditions"][0]["type"], "Scheduled");
    assert_eq!(status["conditions"][0]["status"], "True");
}

#[tokio::test]
async fn a_missing_target_is_reported_not_retried_in_a_loop() {
    let fleet = start(1).await;
    fleet.federate_namespace("rsp").await;
    create(
        &fleet.host_client,
        &rsps(),
        Some("rsp"),
        json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "ghost", "namespace": "rsp"},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": 3}
        }),
    )
    .await;
    let cond: Value = eventually("TargetNotFound", WAIT, || async {
        let r = get(&fleet.host_client, &rsps(), Some("rsp"), "ghost").await?;
        let c = r.data.pointer("/status/conditions/0")?.clone();
        (c["reason"] == "TargetNotFound").then_some(c)
    })
    .await;
    assert_eq!(cond["status"], "False");
    fleet.assert_quiet(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_target_whose_spec_cannot_be_read_is_left_as_it_is() {
    let fleet = start(2).await;
    fleet.federate_namespace("murky").await;
    accept_anything(&fleet.host_client, "federateddeployments.types.kubefed.io").await;
    // The user's overrides, in a spec the operator cannot read (placement is not an object).
    let spec = json!({
        "template": {"spec": {"replicas": 1}},
        "placement": "everywhere",
        "overrides": [{"clusterName": "cluster1", "clusterOverrides": [{"path": "/spec/template/spec/containers/0/image", "value": "nginx:1"}]}]
    });
    create(
        &fleet.host_client,
        &fdeploy(),
        Some("murky"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
               "metadata": {"name": "web", "namespace": "murky"}, "spec": spec}),
    )
    .await;
    create(
        &fleet.host_client,
        &rsps(),
        Some("murky"),
        json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": "murky"},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": 4}
        }),
    )
    .await;
    let cond: Value = eventually("TargetSpecUnreadable", WAIT, || async {
        let r = get(&fleet.host_client, &rsps(), Some("murky"), "web").await?;
        let c = r.data.pointer("/status/conditions/0")?.clone();
        (c["reason"] == "TargetSpecUnreadable").then_some(c)
    })
    .await;
    assert_eq!(cond["status"], "False");
    assert!(
        cond["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be read")),
        "{cond}"
    );
    let target = get(&fleet.host_client, &fdeploy(), Some("murky"), "web")
        .await
        .unwrap();
    assert_eq!(target.data["spec"], spec, "the user's spec is untouched");
}

/// Replicas of `web` per member as the federated object's overrides say (the plan written).
async fn planned(fleet: &FleetTest, ns: &str, want: &[(&str, i64)]) {
    let want: BTreeMap<String, i64> = want.iter().map(|(c, r)| (c.to_string(), *r)).collect();
    eventually(&format!("plan {want:?}"), WAIT, || async {
        let r = get(&fleet.host_client, &rsps(), Some(ns), "web").await?;
        let plan: BTreeMap<String, i64> =
            serde_json::from_value(r.data.pointer("/status/plan")?.clone()).ok()?;
        (plan == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicas_move_away_from_offline_and_full_members_and_back() {
    let fleet = start_fleet(2, |_| {}).await;
    fleet.federate_namespace("move").await;
    create(
        &fleet.host_client,
        &fdeploy(),
        Some("move"),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "move"},
            "spec": {
                "template": {"spec": {"replicas": 1, "progressDeadlineSeconds": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                "placement": {"clusterSelector": {}}
            }
        }),
    )
    .await;
    create(
        &fleet.host_client,
        &rsps(),
        Some("move"),
        json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "web", "namespace": "move"},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": 10, "rebalance": true, "clusters": {"*": {"weight": 1}}}
        }),
    )
    .await;
    planned(&fleet, "move", &[("cluster1", 5), ("cluster2", 5)]).await;

    // cluster2 goes offline: everything moves to cluster1.
    fleet.fleet.stop("cluster2").await.unwrap();
    planned(&fleet, "move", &[("cluster1", 10)]).await;
    // Back, with rebalance: spread again.
    fleet.fleet.start_cluster("cluster2").await.unwrap();
    planned(&fleet, "move", &[("cluster1", 5), ("cluster2", 5)]).await;

    // cluster2 can only run 3: once its rollout is stuck, the rest goes to cluster1.
    fleet.member("cluster2").workloads().set_capacity(Some(3));
    planned(&fleet, "move", &[("cluster1", 7), ("cluster2", 3)]).await;
}
