//! An object a member keeps refusing is retried with growing delays, costs one event per
//! change of outcome, and does not slow down the other objects of its type. Its own test
//! binary, so the timings it compares are not disturbed by other tests.

mod common;

use common::*;
use kube::api::{Api, DynamicObject};
use kubefed_sim::{ApiError, Middleware, RequestInfo};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const COUNT: usize = 200;

/// Refuses every write of the config map `refused`, as a member whose admission (or schema)
/// rejects it would, and records when it was tried.
#[derive(Default)]
struct Refuse {
    attempts: Mutex<Vec<Instant>>,
}

impl Middleware for Refuse {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError> {
        if req.resource == "configmaps" && req.name == "refused" && req.verb.is_write() {
            self.attempts.lock().push(Instant::now());
            return Err(ApiError::invalid(
                "",
                "ConfigMap",
                "refused",
                "data.k: Invalid value: \"v\": refused by policy",
            ));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_object_backs_off_and_does_not_slow_the_others() {
    let fleet = start(2).await;
    for ns in ["base", "refuse"] {
        fleet.federate_namespace(ns).await;
    }
    let refuse = Arc::new(Refuse::default());
    fleet
        .member_cluster("cluster2")
        .add_middleware(refuse.clone());

    // Without a refused object.
    let started = Instant::now();
    create_many(&fleet.host_client, "base", COUNT).await;
    wait_converged_in(&fleet, "base", COUNT, [COUNT, COUNT]).await;
    let baseline = started.elapsed();

    // A refused object: retried with growing delays, not in a loop.
    create(
        &fleet.host_client,
        &fcm(),
        Some("refuse"),
        federated_configmap("refuse", "refused", json!({"clusterSelector": {}})),
    )
    .await;
    eventually("four attempts", Duration::from_secs(30), || async {
        (refuse.attempts.lock().len() >= 4).then_some(())
    })
    .await;
    let attempts = refuse.attempts.lock().clone();
    let delays: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    println!("delays between attempts: {delays:?}");
    // The first retry may follow at once (the object's own finalizer update brings it back);
    // from then on each delay is longer than the one before.
    let retries = &delays[1..];
    assert!(
        retries[0] >= Duration::from_millis(900)
            && retries.windows(2).all(|d| d[1] >= d[0] * 3 / 2),
        "growing delays: {delays:?}"
    );

    // Other objects of the type next to it.
    let started = Instant::now();
    create_many(&fleet.host_client, "refuse", COUNT).await;
    wait_converged_in(&fleet, "refuse", COUNT + 1, [COUNT + 1, COUNT]).await;
    let with_refused = started.elapsed();
    println!("{COUNT} objects: {baseline:?} alone, {with_refused:?} next to a refused object");
    assert!(
        with_refused <= baseline * 3 / 2 + Duration::from_millis(500),
        "{COUNT} objects took {with_refused:?} next to a refused object, {baseline:?} without"
    );

    // Its status says why, with the member's message.
    let obj = get(&fleet.host_client, &fcm(), Some("refuse"), "refused")
        .await
        .unwrap();
    let entry = obj.data["status"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cluster2")
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "CreationFailed");
    assert!(
        entry["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused by policy")),
        "{entry}"
    );

    // One event for the failure however often it was retried: published once, never again
    // (the recorder would have turned a repeat into a series on the same event).
    let events = dynamic("events.k8s.io", "v1", "Event", "events");
    let api: Api<DynamicObject> =
        Api::namespaced_with(fleet.host_client.clone(), "refuse", &events);
    let failures: Vec<DynamicObject> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.data["reason"] == "CreateInClusterFailed" && e.data["regarding"]["name"] == "refused"
        })
        .collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].data.get("series").is_none_or(|s| s.is_null()),
        "published once, not once per retry: {:#?}",
        failures[0]
    );
    let note = failures[0].data["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("cluster2")
            && note.contains("rejected")
            && note.contains("refused by policy"),
        "{note}"
    );
}

/// Waits until `count` objects in `ns` are in sync (the refused one is not) and the members
/// hold `held` managed config maps.
async fn wait_converged_in(fleet: &TestFleet, ns: &str, count: usize, held: [usize; 2]) {
    let api: Api<DynamicObject> = Api::namespaced_with(fleet.host_client.clone(), ns, &fcm());
    eventually(
        &format!("{count} objects in {ns}"),
        Duration::from_secs(60),
        || async {
            let list = api.list(&Default::default()).await.ok()?;
            let synced = list
                .items
                .iter()
                .filter(|o| in_sync(o, 2) || o.metadata.name.as_deref() == Some("refused"))
                .count();
            let copied = fleet
                .members
                .iter()
                .zip(held)
                .all(|((_, m, _), want)| managed_in(m, ns) == want);
            (synced >= count && copied).then_some(())
        },
    )
    .await;
}
