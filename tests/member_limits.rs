//! Requests to one member are bounded: a hanging member holds at most
//! `DEFAULT_MEMBER_IN_FLIGHT` requests (and one health probe) however many reconciliations run
//! at once, and the other members converge meanwhile. A member that answers slowly while its
//! limit is full still passes its health probes, which do not queue behind the writes.

mod common;

use common::*;
use kubefed::crds::kubefed_config::{
    ClusterHealthCheckConfig, KubeFedConfigSpec, SyncControllerConfig,
};
use kubefed::members::connection::DEFAULT_MEMBER_IN_FLIGHT;
use std::time::{Duration, Instant};

const OBJECTS: usize = 60;

/// Requests are abandoned (and their slots freed) only after 10 s (the member request and
/// probe timeouts here), but the hanging member keeps counting an abandoned request until the
/// hang ends; so it is watched for less than that.
const SAMPLED: Duration = Duration::from_secs(8);

/// Probes every second with `timeout`; a member goes not ready after `failures` failed
/// probes and ready again after one success.
fn probes(spec: &mut KubeFedConfigSpec, timeout: &str, failures: i64) {
    spec.cluster_health_check = Some(ClusterHealthCheckConfig {
        period: Some("1s".into()),
        timeout: Some(timeout.into()),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
    });
}

/// More reconciliations at once than a member may have requests in flight, so only the
/// per-member bound keeps a member's share of them small.
fn many_at_once(spec: &mut KubeFedConfigSpec) {
    spec.sync_controller = Some(SyncControllerConfig {
        max_concurrent_reconciles: Some(64),
        ..spec.sync_controller.clone().unwrap_or_default()
    });
}

/// Creates `cm-001` … up to `count` (exclusive) in `ns` all at once, so that their
/// reconciliations overlap.
async fn create_at_once(host: &kube::Client, ns: &str, count: usize) {
    let creates = (1..count).map(|i| {
        let name = format!("cm-{i:03}");
        let obj = federated_configmap(ns, &name, serde_json::json!({"clusterSelector": {}}));
        async move { create(host, &fcm(), Some(ns), obj).await }
    });
    futures::future::join_all(creates).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_member_holds_a_bounded_number_of_requests() {
    let t = start_fleet(3, |spec| {
        many_at_once(spec);
        probes(spec, "10s", 3);
    })
    .await;
    let host = &t.host_client;
    t.federate_namespace("limits").await;
    create_many(host, "limits", 1).await;
    wait_converged(&t, "limits", 1, Duration::from_secs(30)).await;

    let hanging = t.member("cluster1").faults();
    hanging.set_hang(true);
    let start = Instant::now();
    create_at_once(host, "limits", OBJECTS).await;

    let mut most_held = 0;
    loop {
        if start.elapsed() < SAMPLED {
            most_held = most_held.max(hanging.held_requests());
        }
        let done = ["cluster2", "cluster3"].iter().all(|c| {
            t.member(c)
                .cluster()
                .list_objects("", "configmaps", Some("limits"))
                .len()
                >= OBJECTS
        });
        if done && start.elapsed() >= SAMPLED {
            break;
        }
        assert!(
            done || start.elapsed() < Duration::from_secs(60),
            "the healthy members did not get all {OBJECTS} objects while cluster1 hung"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("the hanging member held at most {most_held} requests");
    assert!(
        most_held > 0,
        "no request reached the hanging member: the bound was not exercised"
    );
    // Health probes take no slot (they must not wait behind writes), and a member has one
    // probe out at a time.
    let bound = DEFAULT_MEMBER_IN_FLIGHT + 1;
    assert!(
        most_held as usize <= bound,
        "the hanging member held {most_held} requests (bound {DEFAULT_MEMBER_IN_FLIGHT} and a probe)"
    );

    hanging.set_hang(false);
    wait_converged(&t, "limits", OBJECTS, Duration::from_secs(60)).await;
}

/// A member that answers every request in 1 s while more writes are queued for it than its
/// limit lets out (so they wait longer than the probe timeout) stays Ready: the probes are
/// answered in 1 s too, because they do not wait for a slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_member_stays_ready() {
    const BUSY_OBJECTS: usize = 120;
    let latency = Duration::from_secs(1);
    let probe_timeout = Duration::from_secs(3);
    let t = start_fleet(2, |spec| {
        many_at_once(spec);
        probes(spec, "3s", 1);
    })
    .await;
    let host = &t.host_client;
    t.federate_namespace("busy").await;
    create_many(host, "busy", 1).await;
    wait_converged(&t, "busy", 1, Duration::from_secs(30)).await;

    t.member("cluster1").faults().set_latency(latency);
    let start = Instant::now();
    create_at_once(host, "busy", BUSY_OBJECTS).await;

    let clusters: kube::Api<kubefed::crds::kubefed_cluster::KubeFedCluster> =
        kube::Api::namespaced(host.clone(), NS);
    let mut samples = 0;
    loop {
        let cluster = clusters.get("cluster1").await.unwrap();
        let ready = cluster
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
        assert!(
            matches!(&ready, Some((status, _, _)) if status == "True"),
            "cluster1 left Ready after {:?} while its writes queued: {ready:?}",
            start.elapsed()
        );
        samples += 1;
        if managed_in(t.member("cluster1").cluster(), "busy") >= BUSY_OBJECTS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "cluster1 did not get all {BUSY_OBJECTS} objects"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = start.elapsed();
    println!(
        "{BUSY_OBJECTS} objects on the busy member in {took:?}, Ready in all {samples} samples"
    );
    // The writes must have waited for slots longer than a probe may take, or this shows
    // nothing about probes queued behind them.
    assert!(
        took > probe_timeout * 2,
        "the busy member's writes never queued beyond the probe timeout ({took:?})"
    );
}

/// A member slower than a reconciliation waits (2 s) gets one request per write all the same:
/// a pass that comes while the create is still unanswered (here: the template changed) sends
/// that member nothing until the answer is in, then updates it. Without that, the second
/// pass writes again while the create is unanswered (three patches, or a 409 and a GET).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_member_gets_one_request_per_write() {
    use kubefed_sim::Verb;
    let t = start_fleet(2, |spec| probes(spec, "10s", 3)).await;
    let host = &t.host_client;
    t.federate_namespace("slow").await;
    let slow = t.member("cluster1");
    slow.faults().set_latency(Duration::from_secs(3));
    slow.cluster().reset_counters();

    let obj = federated_configmap("slow", "cm", serde_json::json!({"clusterSelector": {}}));
    create(host, &fcm(), Some("slow"), obj).await;
    // cluster2 has it: the pass sent cluster1's create at the same time, unanswered for 3 s.
    eventually(
        "cluster2 has the object",
        Duration::from_secs(10),
        || async { (managed_in(t.member("cluster2").cluster(), "slow") == 1).then_some(()) },
    )
    .await;
    let fcms: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(host.clone(), "slow", &fcm());
    fcms.patch(
        "cm",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"template": {"data": {"k": "new"}}}})),
    )
    .await
    .unwrap();
    eventually("both members updated", Duration::from_secs(30), || async {
        t.fleet
            .members()
            .iter()
            .all(|m| {
                m.cluster()
                    .get_object("", "configmaps", "slow", "cm")
                    .is_some_and(|cm| cm["data"]["k"] == "new")
            })
            .then_some(())
    })
    .await;
    wait_converged(&t, "slow", 1, Duration::from_secs(30)).await;
    let counters = slow.cluster().counters();
    let requests = (
        counters.of(Verb::Patch, "configmaps"),
        counters.of(Verb::Get, "configmaps"),
    );
    assert_eq!(
        requests,
        (2, 0),
        "cluster1's (patches, GETs) of config maps: one create and one update expected; all its requests: {:?}",
        counters.requests
    );
}

/// A member whose watch lags behind its answers gets one request per update all the same:
/// the passes that come before its cache shows the update (the operator's own status write
/// brings one) take the member's answer for its object instead of the cache's older view.
/// Without that, such a pass updates the member again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_watch_lags_gets_one_request_per_update() {
    use futures::StreamExt;
    use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
    use kubefed_sim::Verb;
    let t = start_fleet(2, |_| {}).await;
    let host = &t.host_client;
    t.federate_namespace("lag").await;
    let obj = federated_configmap("lag", "cm", serde_json::json!({"clusterSelector": {}}));
    create(host, &fcm(), Some("lag"), obj).await;
    wait_converged(&t, "lag", 1, Duration::from_secs(30)).await;
    t.settle().await;

    // A watch of our own through cluster1's faults lags as the operator's does.
    let lagging = t.member("cluster1");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(lagging.https_client().await.unwrap(), "lag");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version;
    let mut ours = cms
        .watch(&WatchParams::default(), &rv.unwrap_or_default())
        .await
        .unwrap()
        .boxed();
    lagging.faults().set_watch_latency(Duration::from_secs(2));
    lagging.cluster().reset_counters();
    let fcms: Api<kube::api::DynamicObject> = Api::namespaced_with(host.clone(), "lag", &fcm());
    fcms.patch(
        "cm",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"template": {"data": {"k": "new"}}}})),
    )
    .await
    .unwrap();
    wait_converged(&t, "lag", 1, Duration::from_secs(30)).await;
    // The update's event reaches the watches of cluster1 only now; the passes it brings, and
    // any the status writes brought, are done once the operator settles.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ours.next()).await {
            Ok(Some(Ok(WatchEvent::Modified(cm))))
                if cm
                    .data
                    .as_ref()
                    .and_then(|d| d.get("k"))
                    .map(String::as_str)
                    == Some("new") =>
            {
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("cluster1's lagging watch: {other:?}"),
        }
    }
    t.settle().await;
    let counters = lagging.cluster().counters();
    assert_eq!(
        (
            counters.of(Verb::Patch, "configmaps"),
            counters.of(Verb::Get, "configmaps")
        ),
        (1, 0),
        "cluster1's (patches, GETs) of config maps: one update expected; all its requests: {:?}",
        counters.requests
    );
}
