//! Propagation against a simulated fleet: the operator's controllers in-process, members as
//! separate simulated API servers reached over HTTP.

mod common;

use common::*;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn federated_deployment(ns: &str) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
                    }
                }
            },
            "placement": {"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]},
            "overrides": [{
                "clusterName": "cluster2",
                "clusterOverrides": [
                    {"path": "/spec/replicas", "value": 5},
                    {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.26"},
                    {"op": "add", "path": "/metadata/annotations", "value": {"team": "blue"}}
                ]
            }]
        }
    })
}

async fn wait_member<F>(
    fleet: &TestFleet,
    cluster: &str,
    ns: &str,
    name: &str,
    what: &str,
    pred: F,
) -> DynamicObject
where
    F: Fn(&DynamicObject) -> bool,
{
    let client = fleet.member(cluster).clone();
    eventually(what, WAIT, || {
        let client = client.clone();
        let pred = &pred;
        async move {
            get(&client, &deployments(), Some(ns), name)
                .await
                .filter(|d| pred(d))
        }
    })
    .await
}

fn at<'a>(obj: &'a DynamicObject, pointer: &str) -> Option<&'a Value> {
    obj.data.pointer(pointer)
}

#[tokio::test]
async fn federated_deployment_with_overrides_reaches_each_member_exactly() {
    let fleet = start(3).await;
    fleet.federate_namespace("demo").await;
    create(
        &fleet.host_client,
        &federated("FederatedDeployment", "federateddeployments"),
        Some("demo"),
        federated_deployment("demo"),
    )
    .await;

    let d1 = wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "deployment in cluster1",
        |_| true,
    )
    .await;
    assert_eq!(at(&d1, "/spec/replicas"), Some(&json!(3)));
    assert_eq!(
        at(&d1, "/spec/template/spec/containers/0/image"),
        Some(&json!("nginx:1.25"))
    );
    let labels = d1.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kubefed.io/managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    assert!(
        !d1.metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .contains_key("team")
    );

    let d2 = wait_member(
        &fleet,
        "cluster2",
        "demo",
        "web",
        "deployment in cluster2",
        |_| true,
    )
    .await;
    assert_eq!(at(&d2, "/spec/replicas"), Some(&json!(5)));
    assert_eq!(
        at(&d2, "/spec/template/spec/containers/0/image"),
        Some(&json!("nginx:1.26"))
    );
    assert_eq!(
        d2.metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    // Not placed on cluster3, once the operator has done what it does.
    fleet.settle().await;
    assert!(
        get(
            fleet.member("cluster3"),
            &deployments(),
            Some("demo"),
            "web"
        )
        .await
        .is_none()
    );

    // Status: propagated everywhere, one entry per placed cluster.
    let fed = eventually("propagation status", WAIT, || async {
        let obj = get(
            &fleet.host_client,
            &federated("FederatedDeployment", "federateddeployments"),
            Some("demo"),
            "web",
        )
        .await?;
        let cond = obj
            .data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Propagation")?
            .clone();
        (cond["status"] == "True").then_some(obj)
    })
    .await;
    let clusters = fed
        .data
        .pointer("/status/clusters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap();
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["cluster1", "cluster2"]);
    assert!(
        fed.metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .contains(&"kubefed.io/sync-controller".to_string())
    );
}

#[tokio::test]
async fn template_override_and_placement_changes_propagate() {
    let fleet = start(2).await;
    fleet.federate_namespace("demo").await;
    let fed_ar = federated("FederatedDeployment", "federateddeployments");
    create(
        &fleet.host_client,
        &fed_ar,
        Some("demo"),
        federated_deployment("demo"),
    )
    .await;
    wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "initial deployment",
        |_| true,
    )
    .await;
    wait_member(
        &fleet,
        "cluster2",
        "demo",
        "web",
        "initial deployment",
        |_| true,
    )
    .await;

    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "demo", &fed_ar);
    // Template change reaches cluster1; cluster2 keeps its override.
    api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}}})))
        .await
        .unwrap();
    wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "new image in cluster1",
        |d| at(d, "/spec/template/spec/containers/0/image") == Some(&json!("nginx:1.27")),
    )
    .await;
    // Override change.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "replace", "path": "/spec/overrides/0/clusterOverrides/0/value", "value": 7}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    wait_member(
        &fleet,
        "cluster2",
        "demo",
        "web",
        "override replicas 7",
        |d| at(d, "/spec/replicas") == Some(&json!(7)),
    )
    .await;
    // Removing cluster2 from placement deletes only there.
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"placement": {"clusters": [{"name": "cluster1"}]}}})),
    )
    .await
    .unwrap();
    let c2 = fleet.member("cluster2").clone();
    eventually("deployment removed from cluster2", WAIT, || {
        let c2 = c2.clone();
        async move {
            get(&c2, &deployments(), Some("demo"), "web")
                .await
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert!(
        get(
            fleet.member("cluster1"),
            &deployments(),
            Some("demo"),
            "web"
        )
        .await
        .is_some()
    );
}

#[tokio::test]
async fn drift_is_reverted_and_deletion_cleans_up_members() {
    let fleet = start(2).await;
    fleet.federate_namespace("demo").await;
    let fed_ar = federated("FederatedDeployment", "federateddeployments");
    create(
        &fleet.host_client,
        &fed_ar,
        Some("demo"),
        federated_deployment("demo"),
    )
    .await;
    wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "initial deployment",
        |_| true,
    )
    .await;

    // Out-of-band edit on the member is reverted.
    let member: Api<DynamicObject> =
        Api::namespaced_with(fleet.member("cluster1").clone(), "demo", &deployments());
    member
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "replicas restored",
        |d| at(d, "/spec/replicas") == Some(&json!(3)),
    )
    .await;
    // Out-of-band delete is reverted.
    member
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_member(
        &fleet,
        "cluster1",
        "demo",
        "web",
        "deployment recreated",
        |_| true,
    )
    .await;

    // Deleting the federated object deletes every member object, then the object itself.
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), "demo", &fed_ar);
    api.delete("web", &DeleteParams::default()).await.unwrap();
    for cluster in ["cluster1", "cluster2"] {
        let client = fleet.member(cluster).clone();
        eventually("member deployment deleted", WAIT, || {
            let client = client.clone();
            async move {
                get(&client, &deployments(), Some("demo"), "web")
                    .await
                    .is_none()
                    .then_some(())
            }
        })
        .await;
    }
    eventually("federated object gone", WAIT, || async {
        get(&fleet.host_client, &fed_ar, Some("demo"), "web")
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn steady_state_costs_no_writes() {
    let fleet = start(2).await;
    fleet.federate_namespace("demo").await;
    let fed_ar = federated("FederatedDeployment", "federateddeployments");
    create(
        &fleet.host_client,
        &fed_ar,
        Some("demo"),
        federated_deployment("demo"),
    )
    .await;
    wait_member(
        &fleet,
        "cluster2",
        "demo",
        "web",
        "deployment in cluster2",
        |_| true,
    )
    .await;
    eventually("propagation status", WAIT, || async {
        let obj = get(&fleet.host_client, &fed_ar, Some("demo"), "web").await?;
        let cond = obj
            .data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Propagation")?
            .clone();
        (cond["status"] == "True").then_some(())
    })
    .await;
    // Once everything has settled, nothing is written anywhere.
    fleet.assert_quiet(Duration::from_secs(3)).await;
}

/// The plan a tool would show without any cache (e.g. a preview): the same observation,
/// read live, planned by the same function, with no write anywhere.
#[tokio::test]
async fn a_live_observation_plans_like_the_operator_and_writes_nothing() {
    use kubefed::controllers::sync::observe::{LiveSources, live};
    use kubefed::core::observation::StatusCollection;
    use kubefed::core::plan::{Action, PlanSettings, TargetInfo, plan};
    use kubefed::crds::Scope;
    use kubefed::crds::federated::AggregateKind;
    let mut fleet = start(2).await;
    fleet.federate_namespace("live").await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("live"),
        federated_configmap("live", "synced", json!({"clusterSelector": {}})),
    )
    .await;
    for (_, member, _) in &fleet.members {
        eventually("propagated", WAIT, || async {
            (managed_in(member, "live") == 1).then_some(())
        })
        .await;
    }
    // The operator stops; an object it never saw, and one already in sync.
    fleet.stop_operator().await;
    create(
        &fleet.host_client,
        &fcm(),
        Some("live"),
        federated_configmap("live", "new", json!({"clusters": [{"name": "cluster1"}]})),
    )
    .await;
    fleet.host.reset_counters();
    for (_, member, _) in &fleet.members {
        member.reset_counters();
    }
    let settings = PlanSettings {
        scope: Scope::Cluster,
        federation_namespace: NS.into(),
        adopt_resources: true,
        target: TargetInfo {
            group: String::new(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            resource: "configmaps".into(),
            namespaced: true,
        },
        aggregate: AggregateKind::Other,
    };
    let members = fleet.pool.snapshot();
    let federated_namespace = federated("FederatedNamespace", "federatednamespaces");
    let sources = LiveSources {
        host: &fleet.host_client,
        federated: &fcm(),
        federated_namespace: Some(&federated_namespace),
        target: &configmaps(),
        collection: StatusCollection {
            collect: true,
            kind: AggregateKind::Other,
        },
        members: &members,
        host_kube_system_uid: None,
        timeout: Duration::from_secs(5),
    };
    let synced = live(&sources, &settings, Some("live"), "synced")
        .await
        .unwrap()
        .expect("exists");
    let p = plan(&synced, &settings);
    for cluster in ["cluster1", "cluster2"] {
        assert_eq!(p.clusters[cluster].action, Action::LeaveAlone, "{p:#?}");
    }
    let new = live(&sources, &settings, Some("live"), "new")
        .await
        .unwrap()
        .expect("exists");
    let p = plan(&new, &settings);
    assert!(matches!(p.clusters["cluster1"].action, Action::Create(_)));
    assert!(!p.clusters.contains_key("cluster2"));
    assert!(
        live(&sources, &settings, Some("live"), "missing")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(fleet.host.counters().writes(), 0);
    for (name, member, _) in &fleet.members {
        assert_eq!(member.counters().writes(), 0, "{name}");
    }
}

/// Events of a federated object and of its member objects seen by the sync, from `source`,
/// that brought the object back for a pass (`reconcile`) or not.
fn wakeups(fleet: &TestFleet, source: &str, reconcile: bool) -> u64 {
    fleet.metrics.wakeups(source, reconcile).get()
}

fn member_wakeups(fleet: &TestFleet) -> u64 {
    wakeups(fleet, "member", false) + wakeups(fleet, "member", true)
}

/// The watch events of the operator's own writes (the finalizer it adds, the member objects
/// it creates) bring the object back for no pass: they show what its pass left behind. An
/// out-of-band change does bring it back.
#[tokio::test]
async fn the_echoes_of_own_writes_bring_no_pass() {
    let fleet = start(3).await;
    fleet.federate_namespace("demo").await;
    // The FederatedNamespace's own events first: its three member objects, and its creation
    // and finalizer on the host.
    let host_wakeups =
        |fleet: &TestFleet| wakeups(fleet, "host", false) + wakeups(fleet, "host", true);
    eventually("the namespace's events", WAIT, || async {
        (member_wakeups(&fleet) >= 3 && host_wakeups(&fleet) >= 2).then_some(())
    })
    .await;
    let before = |source, reconcile| wakeups(&fleet, source, reconcile);
    let (members_quiet, members_woke) = (before("member", false), before("member", true));
    let (host_quiet, host_woke) = (before("host", false), before("host", true));

    create(
        &fleet.host_client,
        &fcm(),
        Some("demo"),
        federated_configmap("demo", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    // One event per member (its create), and the creation's and the finalizer's host events,
    // looked at.
    eventually("the creates' and the finalizer's events", WAIT, || async {
        (member_wakeups(&fleet) >= members_quiet + members_woke + 3
            && host_wakeups(&fleet) >= host_quiet + host_woke + 2)
            .then_some(())
    })
    .await;
    assert_eq!(
        wakeups(&fleet, "member", true),
        members_woke,
        "a create's watch event brought the object back"
    );
    assert_eq!(wakeups(&fleet, "member", false), members_quiet + 3);
    assert_eq!(
        wakeups(&fleet, "host", true),
        host_woke + 1,
        "only the creation of the federated object brings it to a pass"
    );
    assert_eq!(
        wakeups(&fleet, "host", false),
        host_quiet + 1,
        "the finalizer's event is nothing new"
    );

    // A change in a member is news.
    let member: Api<DynamicObject> =
        Api::namespaced_with(fleet.member("cluster1").clone(), "demo", &configmaps());
    member
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "drifted"}})),
        )
        .await
        .unwrap();
    eventually("drift reverted", WAIT, || async {
        let cm = get(fleet.member("cluster1"), &configmaps(), Some("demo"), "cm").await?;
        (at(&cm, "/data/k") == Some(&json!("v"))).then_some(())
    })
    .await;
    assert_eq!(wakeups(&fleet, "member", true), members_woke + 1);
}
