//! The simulated workload controllers: readiness after a delay, capacity, Jobs, Services.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_sim::fleet::{Fleet, FleetConfig};
use serde_json::json;

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }))
    .unwrap()
}

async fn wait_for<T, F>(api: &Api<T>, name: &str, what: &str, cond: F) -> T
where
    T: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&T) -> bool,
{
    let what = format!("{name} to become {what}");
    kubefed_sim::testing::eventually(&what, Duration::from_secs(5), || async {
        Some(api.get(name).await.unwrap()).filter(|o| cond(o))
    })
    .await
}

fn condition(d: &Deployment, kind: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_become_ready_after_the_delay_and_stop_writing() {
    let fleet = Fleet::start(FleetConfig::with_members(1)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    member
        .workloads()
        .set_ready_delay(Duration::from_millis(300));
    let deploys: Api<Deployment> = Api::namespaced(member.client(), "default");

    // Status changes arrive as ordinary watch events.
    let events = watcher(deploys.clone(), watcher::Config::default())
        .applied_objects()
        .take_while(|d| {
            let ready = d
                .as_ref()
                .ok()
                .and_then(|d| d.status.as_ref()?.ready_replicas)
                .unwrap_or(0);
            futures::future::ready(ready < 3)
        })
        .try_collect::<Vec<_>>();
    let events = tokio::spawn(events);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let created = deploys
        .create(&PostParams::default(), &deployment("web", 3))
        .await
        .unwrap();
    let pending = wait_for(&deploys, "web", "observed", |d| {
        d.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
    })
    .await;
    let s = pending.status.clone().unwrap();
    assert_eq!(s.replicas, Some(3));
    assert_eq!(s.ready_replicas, None, "not ready before the delay");
    assert_eq!(
        condition(&pending, "Available").unwrap(),
        ("False".into(), "MinimumReplicasUnavailable".into())
    );
    let age = std::time::Instant::now();
    let ready = wait_for(&deploys, "web", "ready", |d| {
        d.status.as_ref().and_then(|s| s.ready_replicas) == Some(3)
    })
    .await;
    assert!(age.elapsed() >= Duration::from_millis(150));
    let s = ready.status.clone().unwrap();
    assert_eq!(s.available_replicas, Some(3));
    assert_eq!(s.updated_replicas, Some(3));
    assert_eq!(s.unavailable_replicas, None);
    assert_eq!(
        condition(&ready, "Available").unwrap(),
        ("True".into(), "MinimumReplicasAvailable".into())
    );
    assert_eq!(
        condition(&ready, "Progressing").unwrap(),
        ("True".into(), "NewReplicaSetAvailable".into())
    );
    assert_ne!(
        ready.metadata.resource_version,
        created.metadata.resource_version
    );
    let seen = tokio::time::timeout(Duration::from_secs(5), events)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(seen.len() >= 2, "watchers see the status updates: {seen:?}");

    // Settled: nothing is rewritten.
    kubefed_sim::testing::assert_unchanged(
        std::slice::from_ref(member.cluster()),
        Duration::from_millis(600),
    )
    .await;

    // A new generation is observed and settles again.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    let scaled = wait_for(&deploys, "web", "scaled", |d| {
        d.status.as_ref().and_then(|s| s.ready_replicas) == Some(5)
    })
    .await;
    assert_eq!(scaled.status.unwrap().observed_generation, Some(2));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_beyond_capacity_stay_unavailable() {
    let mut config = FleetConfig::with_members(1);
    config.workloads.ready_delay = Duration::from_millis(20);
    config.workloads.capacity = Some(5);
    let fleet = Fleet::start(config).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let deploys: Api<Deployment> = Api::namespaced(member.client(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(member.client(), "default");

    deploys
        .create(&PostParams::default(), &deployment("first", 3))
        .await
        .unwrap();
    wait_for(&deploys, "first", "ready", |d| {
        d.status.as_ref().and_then(|s| s.ready_replicas) == Some(3)
    })
    .await;
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "second"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "second"}},
            "template": {"metadata": {"labels": {"app": "second"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &rs).await.unwrap();
    let second = wait_for(&sets, "second", "partly ready", |r| {
        r.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    let s = second.status.unwrap();
    assert_eq!(s.replicas, 4);
    assert_eq!(s.available_replicas, Some(2));

    deploys
        .create(&PostParams::default(), &deployment("third", 2))
        .await
        .unwrap();
    let third = wait_for(&deploys, "third", "observed", |d| {
        d.status.as_ref().and_then(|s| s.unavailable_replicas) == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = deploys.get("third").await.unwrap_or(third);
    let s = third.status.clone().unwrap();
    assert_eq!(s.ready_replicas, None, "a full cluster runs nothing more");
    assert_eq!(s.replicas, Some(2));
    assert_eq!(
        condition(&third, "Available").unwrap(),
        ("False".into(), "MinimumReplicasUnavailable".into())
    );

    // More capacity lets the waiting replicas run.
    member.workloads().set_capacity(Some(9));
    wait_for(&deploys, "third", "ready", |d| {
        d.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    wait_for(&sets, "second", "ready", |r| {
        r.status.as_ref().and_then(|s| s.ready_replicas) == Some(4)
    })
    .await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_and_load_balancers_get_an_ip() {
    let mut config = FleetConfig::with_members(1);
    config.workloads.ready_delay = Duration::from_millis(50);
    let fleet = Fleet::start(config).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let jobs: Api<Job> = Api::namespaced(member.client(), "default");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {"completions": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let done = wait_for(&jobs, "once", "complete", |j| {
        j.status
            .as_ref()
            .and_then(|s| s.completion_time.as_ref())
            .is_some()
    })
    .await;
    let s = done.status.unwrap();
    assert_eq!(s.succeeded, Some(2));
    assert!(s.start_time.is_some());
    let complete = s
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Complete")
        .unwrap();
    assert_eq!(complete.status, "True");

    let services: Api<Service> = Api::namespaced(member.client(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "edge"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "edge"}},
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let lb = wait_for(&services, "edge", "exposed", |s| {
        s.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty())
    })
    .await;
    let ip = lb.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
        .ip
        .clone()
        .unwrap();
    assert!(ip.starts_with("10."), "{ip}");
    fleet.shutdown().await;
}
