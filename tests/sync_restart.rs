//! A converged operator restarted costs nothing: no write on the host or the members.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

/// Every one of the 12 objects of the test below looked at, then nothing left to do.
async fn settled(metrics: &kubefed::runtime::metrics::Metrics) {
    wait_sync_idle(metrics, 12, Duration::from_secs(3), Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_operator_restarted_writes_nothing() {
    let mut t = start_fleet(2, |_| {}).await;
    t.federate_namespace("calm").await;
    create_many(&t.host_client, "calm", 10).await;
    create(
        &t.host_client,
        &federated("FederatedDeployment", "federateddeployments"),
        Some("calm"),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "calm"},
            "spec": {
                "template": {"spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
                }},
                "placement": {"clusterSelector": {}}
            }
        }),
    )
    .await;
    wait_converged(&t, "calm", 10, Duration::from_secs(20)).await;
    let fd = federated("FederatedDeployment", "federateddeployments");
    eventually(
        "deployment ready everywhere",
        Duration::from_secs(20),
        || async {
            let obj = get(&t.host_client, &fd, Some("calm"), "web").await?;
            (obj.data["status"]["aggregate"]["ready"] == json!("4/4") && in_sync(&obj, 2))
                .then_some(())
        },
    )
    .await;
    // Every member reports which types it can serve.
    for member in ["cluster1", "cluster2"] {
        eventually("TypesAvailable", Duration::from_secs(10), || async {
            let kfc = get(
                &t.host_client,
                &dynamic(
                    "core.kubefed.io",
                    "v1beta1",
                    "KubeFedCluster",
                    "kubefedclusters",
                ),
                Some(NS),
                member,
            )
            .await?;
            kfc.data["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| {
                    c["type"] == "TypesAvailable"
                        && c["status"] == "True"
                        && c["reason"] == "AllTypesAvailable"
                })
                .then_some(())
        })
        .await;
    }
    // 10 config maps, the deployment and the namespace, each looked at; then nothing to do.
    settled(&t.metrics).await;

    t.stop_operator().await;
    for cluster in t.fleet.clusters() {
        cluster.cluster().reset_counters();
    }
    t.start_operator_again().await;
    // Every object is looked at again, with every member probed and every cache synced.
    settled(&t.metrics).await;
    for member in ["cluster1", "cluster2"] {
        assert!(t.pool.snapshot()[member].is_ready());
    }
    for cluster in t.fleet.clusters() {
        let counters = cluster.counters();
        assert_eq!(
            counters.writes(),
            0,
            "{} writes after a restart: {:?}",
            cluster.name(),
            counters
                .requests
                .iter()
                .filter(|((v, _), _)| v.is_write())
                .collect::<Vec<_>>()
        );
    }
    assert!(
        sync_reconciles(&t.metrics) >= 12,
        "the new operator did look at everything"
    );
}
