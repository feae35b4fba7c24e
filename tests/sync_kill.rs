//! An operator killed in the middle of propagation catches up at once after a restart
//! instead of crawling. Its own test binary, so the timings it compares are not disturbed by
//! other tests running at the same time.

mod common;

use common::*;
use kube::api::{Api, DynamicObject, ListParams};
use kubefed_sim::Verb;
use std::time::{Duration, Instant};

const FCM_RESOURCE: &str = "federatedconfigmaps.types.kubefed.io";
const FNS_RESOURCE: &str = "federatednamespaces.types.kubefed.io";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_propagation_catches_up_at_once() {
    const COUNT: usize = 150;
    let mut t = start_fleet(2, |_| {}).await;
    t.federate_namespace("fresh").await;
    t.federate_namespace("killed").await;

    // A fresh propagation, for comparison.
    let started = Instant::now();
    create_many(&t.host_client, "fresh", COUNT).await;
    wait_converged(&t, "fresh", COUNT, Duration::from_secs(60)).await;
    let fresh = started.elapsed();

    // The same number of objects, with the operator killed (every request in flight dropped)
    // while they are created and propagated.
    let host = t.host_client.clone();
    let creating = tokio::spawn(async move { create_many(&host, "killed", COUNT).await });
    let members = t.fleet.members();
    eventually("propagation under way", Duration::from_secs(30), || async {
        let copied = members[0]
            .cluster()
            .list_objects("", "configmaps", Some("killed"))
            .len();
        (copied >= COUNT / 4).then_some(())
    })
    .await;
    t.stop_operator().await;
    creating.await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(t.host_client.clone(), "killed", &fcm());
    let without_finalizer = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|o| o.metadata.finalizers.as_ref().is_none_or(Vec::is_empty))
        .count() as u64;
    for cluster in t.fleet.clusters() {
        cluster.cluster().reset_counters();
    }
    let restarted = Instant::now();
    t.start_operator_again().await;
    wait_converged(&t, "killed", COUNT, Duration::from_secs(60)).await;
    let caught_up = restarted.elapsed();
    println!("fresh propagation of {COUNT}: {fresh:?}; after a kill and restart: {caught_up:?}");
    assert!(
        caught_up <= 3 * fresh,
        "after the restart {COUNT} objects took {caught_up:?}; a fresh propagation took {fresh:?}"
    );

    // About one status write per object (plus the finalizer of the objects created while the
    // operator was down), none to the namespaces, and events in proportion to the objects.
    let counters = t.fleet.host().cluster().counters();
    let patches = counters.of(Verb::Patch, FCM_RESOURCE);
    println!(
        "host patches of the {COUNT} objects after the restart: {patches} ({without_finalizer} needed a finalizer)"
    );
    let budget = COUNT as u64 + without_finalizer + COUNT as u64 / 10;
    assert!(
        patches <= budget,
        "{patches} patches of {COUNT} objects ({without_finalizer} without finalizer), budget {budget}: {counters:?}"
    );
    assert!(
        counters.of(Verb::Patch, FNS_RESOURCE) <= 2,
        "namespace writes: {counters:?}"
    );
    let events = counters.of(Verb::Create, "events.events.k8s.io")
        + counters.of(Verb::Patch, "events.events.k8s.io");
    assert!(
        events <= 2 * COUNT as u64,
        "{events} event writes for {COUNT} objects: {counters:?}"
    );
}
