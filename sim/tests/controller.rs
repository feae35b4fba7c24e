//! A kube-runtime Controller reconciling against the simulator sees changes through its
//! watch: the initial list is never repeated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kubefed_sim::{Cluster, Verb};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Error(#[from] kube::Error);

struct Ctx {
    client: Client,
}

/// Copies `data.v` into the `seen` annotation.
async fn reconcile(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let v = cm
        .data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default();
    if cm.annotations().get("seen") != Some(&v) {
        let api: Api<ConfigMap> =
            Api::namespaced(ctx.client.clone(), &cm.namespace().unwrap_or_default());
        api.patch(
            &cm.name_any(),
            &PatchParams::apply("reconciler"),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": cm.name_any(), "annotations": {"seen": v}},
            })),
        )
        .await?;
    }
    Ok(Action::await_change())
}

fn error_policy(_: Arc<ConfigMap>, _: &Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

async fn wait_seen(api: &Api<ConfigMap>, name: &str, want: &str) {
    let what = format!("{name} reconciled to {want}");
    kubefed_sim::testing::eventually(&what, Duration::from_secs(5), || async {
        let cm = api.get(name).await.unwrap();
        (cm.annotations().get("seen").map(String::as_str) == Some(want)).then_some(())
    })
    .await;
}

async fn run_case(cluster: Cluster, client: Client) {
    let api: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..5 {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("c{i}")),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("v".to_string(), "1".to_string())])),
            ..Default::default()
        };
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    for i in 0..5 {
        wait_seen(&api, &format!("c{i}"), "1").await;
    }
    // Updates arrive through the watch.
    for round in 2..5 {
        for i in 0..5 {
            api.patch(
                &format!("c{i}"),
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"v": round.to_string()}})),
            )
            .await
            .unwrap();
        }
        for i in 0..5 {
            wait_seen(&api, &format!("c{i}"), &round.to_string()).await;
        }
    }
    // Steady state: the reconciler's no-op applies change nothing.
    kubefed_sim::testing::assert_unchanged(
        std::slice::from_ref(&cluster),
        Duration::from_millis(300),
    )
    .await;
    let c = cluster.counters();
    assert_eq!(c.of(Verb::List, "configmaps"), 1, "{c:?}");
    assert!(c.of(Verb::Watch, "configmaps") >= 1);
    handle.abort();
}

#[tokio::test]
async fn controller_reconciles_through_watches() {
    let c = Cluster::new("controller");
    run_case(c.clone(), c.client()).await;
    let c = Cluster::new("controller-http");
    let client = c.http_client().await.unwrap();
    run_case(c, client).await;
}
