//! Member health under faults, against a simulated fleet over HTTPS: failure and success
//! thresholds, offline members, a hanging member not delaying the others, and the sync
//! controller leaving an unready member's objects alone.

mod common;

use common::*;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kubefed::crds::kubefed_cluster::KubeFedCluster;
use kubefed::crds::kubefed_config::{ClusterHealthCheckConfig, KubeFedConfigSpec};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const PERIOD: Duration = Duration::from_millis(200);

fn health(failure: i64, success: i64) -> impl FnOnce(&mut KubeFedConfigSpec) {
    move |spec| {
        spec.cluster_health_check = Some(ClusterHealthCheckConfig {
            period: Some("200ms".into()),
            timeout: Some("2s".into()),
            failure_threshold: Some(failure),
            success_threshold: Some(success),
        })
    }
}

/// The `(status, reason)` of a condition of a KubeFedCluster, if present.
async fn condition_of(host: &Client, name: &str, type_: &str) -> Option<(String, String)> {
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    let c = clusters.get(name).await.ok()?;
    let cond = c.status?.condition(type_)?.clone();
    Some((cond.status, cond.reason.unwrap_or_default()))
}

/// Waits for `type_=status` on a cluster and returns its reason.
async fn wait_condition(host: &Client, name: &str, type_: &str, status: &str) -> String {
    eventually(&format!("{name}: {type_}={status}"), WAIT, || async {
        condition_of(host, name, type_)
            .await
            .filter(|(s, _)| s == status)
            .map(|(_, reason)| reason)
    })
    .await
}

async fn is_ready(host: &Client, name: &str) -> bool {
    condition_of(host, name, "Ready")
        .await
        .is_some_and(|(s, _)| s == "True")
}

#[tokio::test]
async fn ready_flips_only_after_the_thresholds() {
    let t = start_fleet(2, health(3, 2)).await;
    let host = &t.host_client;
    for name in ["cluster1", "cluster2"] {
        wait_condition(host, name, "Ready", "True").await;
    }

    // Three failed probes are needed: after about one period it is still Ready.
    // Failed probes are counted where they are answered (a probe in flight when the fault is
    // set fails too, so a wall-clock bound would be off by its latency).
    let faults = t.member("cluster1").faults();
    let failed_before = faults.unhealthy_answers();
    faults.set_unhealthy(true);
    tokio::time::sleep(PERIOD + PERIOD / 4).await;
    assert!(
        is_ready(host, "cluster1").await,
        "Ready went False before failureThreshold probes"
    );
    let reason = wait_condition(host, "cluster1", "Ready", "False").await;
    let failed = faults.unhealthy_answers() - failed_before;
    assert_eq!(reason, "ClusterNotReady");
    assert!(
        failed >= 3,
        "Ready=False after {failed} failed probes, before three probes could fail"
    );
    assert_eq!(
        condition_of(host, "cluster1", "Offline").await.map(|c| c.0),
        Some("False".to_string()),
        "an unhealthy member is reachable, not offline"
    );
    assert!(
        is_ready(host, "cluster2").await,
        "the other member is unaffected"
    );

    // Two successful probes are needed to be Ready again.
    t.member("cluster1").faults().set_unhealthy(false);
    let healed_at = Instant::now();
    tokio::time::sleep(PERIOD * 3 / 4).await;
    assert!(
        !is_ready(host, "cluster1").await,
        "Ready went True before successThreshold probes"
    );
    let reason = wait_condition(host, "cluster1", "Ready", "True").await;
    let took = healed_at.elapsed();
    assert_eq!(reason, "ClusterReady");
    assert!(took >= PERIOD, "Ready=True after {took:?}");
}

#[tokio::test]
async fn stopped_member_is_offline_and_comes_back() {
    let t = start_fleet(2, |_| {}).await;
    let host = &t.host_client;
    wait_condition(host, "cluster2", "Ready", "True").await;
    t.fleet.stop("cluster2").await.unwrap();
    let reason = wait_condition(host, "cluster2", "Offline", "True").await;
    assert_eq!(reason, "ClusterNotReachable");
    wait_condition(host, "cluster2", "Ready", "False").await;
    assert!(is_ready(host, "cluster1").await);

    t.fleet.start_cluster("cluster2").await.unwrap();
    wait_condition(host, "cluster2", "Ready", "True").await;
    wait_condition(host, "cluster2", "Offline", "False").await;
}

#[tokio::test]
async fn a_hanging_member_does_not_delay_the_others() {
    let t = start_fleet(3, health(3, 1)).await;
    let host = &t.host_client;
    for name in ["cluster1", "cluster2", "cluster3"] {
        wait_condition(host, name, "Ready", "True").await;
    }
    t.member("cluster1").faults().set_hang(true);
    t.member("cluster3").faults().set_unhealthy(true);
    let start = Instant::now();
    wait_condition(host, "cluster3", "Ready", "False").await;
    let took = start.elapsed();
    // Three failing probes take about two periods after the first; allow a period of jitter
    // and time for the status write on a busy machine. Probing behind the hung member would
    // take at least 3 × the 2s probe timeout.
    assert!(
        took <= PERIOD * 5 + Duration::from_secs(1),
        "cluster3 Ready=False took {took:?} with cluster1 hanging"
    );
    assert!(
        is_ready(host, "cluster2").await,
        "cluster2 still probed and Ready"
    );
    // The hung member itself times out eventually.
    wait_condition(host, "cluster1", "Ready", "False").await;
    assert!(is_ready(host, "cluster2").await);

    t.member("cluster1").faults().set_hang(false);
    t.member("cluster3").faults().set_unhealthy(false);
    wait_condition(host, "cluster1", "Ready", "True").await;
    wait_condition(host, "cluster3", "Ready", "True").await;
}

fn member_deployment(t: &FleetTest, cluster: &str) -> Option<Value> {
    t.member(cluster)
        .cluster()
        .get_object("apps", "deployments", "faults", "web")
}

async fn cluster_status(host: &Client, cluster: &str) -> Option<String> {
    let fd = get(
        host,
        &federated("FederatedDeployment", "federateddeployments"),
        Some("faults"),
        "web",
    )
    .await?;
    fd.data
        .pointer("/status/clusters")?
        .as_array()?
        .iter()
        .find(|c| c["name"] == json!(cluster))
        .map(|c| c["status"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn sync_marks_unready_member_and_leaves_its_objects() {
    let t = start_fleet(2, |_| {}).await;
    let host = &t.host_client;
    t.federate_namespace("faults").await;
    create(
        host,
        &federated("FederatedDeployment", "federateddeployments"),
        Some("faults"),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "faults"},
            "spec": {
                "template": {
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
                        }
                    }
                },
                "placement": {"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]}
            }
        }),
    )
    .await;
    for cluster in ["cluster1", "cluster2"] {
        eventually(&format!("{cluster} in sync"), WAIT, || async {
            (cluster_status(host, cluster).await.as_deref() == Some("")).then_some(())
        })
        .await;
    }
    let uid = member_deployment(&t, "cluster2").expect("deployment on cluster2")["metadata"]["uid"]
        .clone();

    t.member("cluster2").faults().set_unhealthy(true);
    wait_condition(host, "cluster2", "Ready", "False").await;
    eventually("cluster2 ClusterNotReady", WAIT, || async {
        (cluster_status(host, "cluster2").await.as_deref() == Some("ClusterNotReady")).then_some(())
    })
    .await;

    // A template change reaches cluster1 only; cluster2's object is kept as it was.
    let fds: Api<kube::api::DynamicObject> = Api::namespaced_with(
        host.clone(),
        "faults",
        &federated("FederatedDeployment", "federateddeployments"),
    );
    fds.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"replicas": 4}}}})),
    )
    .await
    .unwrap();
    eventually("cluster1 updated", WAIT, || async {
        member_deployment(&t, "cluster1")
            .filter(|d| d["spec"]["replicas"] == json!(4))
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let kept = member_deployment(&t, "cluster2").expect("cluster2 keeps its deployment");
    assert_eq!(kept["metadata"]["uid"], uid);
    assert_eq!(
        kept["spec"]["replicas"],
        json!(2),
        "unready member not written"
    );
    assert!(kept["metadata"]["deletionTimestamp"].is_null());
    assert_eq!(
        cluster_status(host, "cluster2").await.as_deref(),
        Some("ClusterNotReady")
    );

    // Healthy again: the change is applied to the same object.
    t.member("cluster2").faults().set_unhealthy(false);
    eventually("cluster2 updated", WAIT, || async {
        member_deployment(&t, "cluster2")
            .filter(|d| d["spec"]["replicas"] == json!(4))
            .map(|_| ())
    })
    .await;
    eventually("cluster2 in sync", WAIT, || async {
        (cluster_status(host, "cluster2").await.as_deref() == Some("")).then_some(())
    })
    .await;
    assert_eq!(
        member_deployment(&t, "cluster2").unwrap()["metadata"]["uid"],
        uid
    );
}

#[tokio::test]
async fn members_are_verified_against_their_ca_bundle() {
    let t = start_fleet(1, |_| {}).await;
    let host = &t.host_client;
    // cluster1 was joined with the fleet CA as caBundle and is Ready; the same endpoint and
    // token without a caBundle is not trusted.
    wait_condition(host, "cluster1", "Ready", "True").await;
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    let mut spec = clusters.get("cluster1").await.unwrap().spec;
    spec.ca_bundle = None;
    clusters
        .create(
            &kube::api::PostParams::default(),
            &KubeFedCluster::new("untrusted", spec),
        )
        .await
        .unwrap();
    // The TLS handshake fails: to the operator the member is not reachable.
    wait_condition(host, "untrusted", "Ready", "False").await;
    let reason = wait_condition(host, "untrusted", "Offline", "True").await;
    assert_eq!(reason, "ClusterNotReachable");
    tokio::time::sleep(PERIOD * 3).await;
    assert!(!is_ready(host, "untrusted").await);
    assert!(is_ready(host, "cluster1").await);
}

/// The config map `name` in `ns` of a fleet member, read directly.
fn member_configmap(t: &FleetTest, cluster: &str, ns: &str, name: &str) -> Option<Value> {
    t.member(cluster)
        .cluster()
        .get_object("", "configmaps", ns, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_member_is_caught_up_when_it_resumes() {
    use kubefed_sim::FaultSpec;
    let t = start_fleet(2, |_| {}).await;
    let host = &t.host_client;
    t.federate_namespace("frozen").await;
    for name in ["kept", "gone"] {
        create(
            host,
            &fcm(),
            Some("frozen"),
            federated_configmap("frozen", name, json!({"clusterSelector": {}})),
        )
        .await;
    }
    wait_converged(&t, "frozen", 2, WAIT).await;

    // cluster2 stops like a SIGSTOPped API server: connections accepted, nothing answered,
    // its watch streams silent. An update and a deletion are issued meanwhile.
    t.fleet
        .apply_fault("cluster2", &FaultSpec::Freeze)
        .await
        .unwrap();
    let frozen_at = Instant::now();
    let fcms: Api<kube::api::DynamicObject> = Api::namespaced_with(host.clone(), "frozen", &fcm());
    fcms.patch(
        "kept",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"data": {"k": "new"}}}})),
    )
    .await
    .unwrap();
    fcms.delete("gone", &Default::default()).await.unwrap();
    // The healthy member gets both at once.
    eventually("cluster1 updated and cleaned up", WAIT, || async {
        let updated = member_configmap(&t, "cluster1", "frozen", "kept")
            .is_some_and(|cm| cm["data"]["k"] == "new");
        let deleted = member_configmap(&t, "cluster1", "frozen", "gone").is_none();
        (updated && deleted).then_some(())
    })
    .await;
    let healthy_done = frozen_at.elapsed();
    assert!(
        healthy_done <= Duration::from_secs(5),
        "the healthy member waited {healthy_done:?} for the frozen one"
    );
    // The deletion waits for the frozen member: the host object is kept by its finalizer.
    assert!(get(host, &fcm(), Some("frozen"), "gone").await.is_some());
    wait_condition(host, "cluster2", "Ready", "False").await;

    // Resumed: the member is ready again, then caught up within a health period or so.
    t.fleet
        .apply_fault("cluster2", &FaultSpec::Thaw)
        .await
        .unwrap();
    let pool = t.pool.clone();
    eventually("cluster2 ready again", WAIT, || async {
        pool.snapshot()
            .get("cluster2")
            .filter(|m| m.is_ready() && !m.unresponsive)
            .map(|_| ())
    })
    .await;
    let ready_at = Instant::now();
    eventually("cluster2 caught up", WAIT, || async {
        let updated = member_configmap(&t, "cluster2", "frozen", "kept")
            .is_some_and(|cm| cm["data"]["k"] == "new");
        let deleted = member_configmap(&t, "cluster2", "frozen", "gone").is_none();
        (updated && deleted).then_some(())
    })
    .await;
    let caught_up = ready_at.elapsed();
    println!(
        "healthy member done {healthy_done:?} after the freeze; frozen one caught up {caught_up:?} after it was ready again"
    );
    assert!(
        caught_up <= PERIOD * 5,
        "cluster2 took {caught_up:?} after it was ready again (health period {PERIOD:?})"
    );
    // The deletion completes: the finalizer is released.
    eventually("federated object gone", WAIT, || async {
        get(host, &fcm(), Some("frozen"), "gone")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    wait_converged(&t, "frozen", 1, WAIT).await;
}
