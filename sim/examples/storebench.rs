//! Storage and read-path figures of one simulated member: heap bytes per stored object and
//! the time to list and to watch (from scratch) every object, for objects shaped like
//! fedbench's member Deployment (applied with server-side apply, then given a status by the
//! workload controller).
//!
//! `cargo run --release -p kubefed-sim --example storebench -- [objects] [payload-bytes]`

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kubefed_sim::fleet::{Fleet, FleetConfig};
use kubefed_sim::heap::{CountingAlloc, heap_bytes};
use serde_json::json;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn deployment(name: &str, payload: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "bench",
            "labels": {"app": name, "bench.kubefed.io/revision": "1", "kubefed.io/managed": "true"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                    "env": [{"name": "BENCH_PAYLOAD", "value": payload}]}]}
            }
        }
    })
}

async fn settle(cluster: &kubefed_sim::Cluster) {
    // Quiet once the resource version stops moving for a while.
    let mut last = cluster.resource_version();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = cluster.resource_version();
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let objects: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let payload = "x".repeat(args.next().and_then(|a| a.parse().ok()).unwrap_or(256));
    let mut config = FleetConfig::with_members(1);
    config.workloads.ready_delay = Duration::from_millis(10);
    let fleet = Fleet::start(config).await?;
    let member = fleet.get("cluster1")?;
    let client = member.cluster().client();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &Default::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bench"}}))?,
    )
    .await?;
    let ar = ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "bench", &ar);
    settle(member.cluster()).await;
    let before = heap_bytes();
    let started = Instant::now();
    let pp = PatchParams::apply("fedbench").force();
    futures::stream::iter(0..objects)
        .map(|i| {
            let (api, pp) = (api.clone(), pp.clone());
            let obj = deployment(&format!("d{i}"), &payload);
            async move { api.patch(&format!("d{i}"), &pp, &Patch::Apply(obj)).await }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let applied = started.elapsed();
    settle(member.cluster()).await;
    let after = heap_bytes();
    let sample = member
        .cluster()
        .get_object("apps", "deployments", "bench", "d0")
        .ok_or("no object")?;
    println!(
        "{objects} objects: applied in {applied:.2?}; simulator heap {:.0} B/object; object JSON {} B",
        (after - before) as f64 / objects as f64,
        serde_json::to_vec(&sample)?.len()
    );

    // Raw requests: the figures are the server's, not a client's decoding.
    let raw = member.cluster().client();
    let path = "/apis/apps/v1/namespaces/bench/deployments";
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        let body = raw
            .request_text(http::Request::get(path).body(Vec::new())?)
            .await?;
        assert!(body.len() > objects * 100);
    }
    let list = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        let req =
            http::Request::get(format!("{path}?watch=true&resourceVersion=0")).body(Vec::new())?;
        let mut body = raw.send(req.map(Into::into)).await?.into_body();
        let mut seen = 0;
        while seen < objects {
            let frame = http_body_util::BodyExt::frame(&mut body)
                .await
                .ok_or("watch ended")??;
            if let Some(data) = frame.data_ref() {
                seen += data.windows(7).filter(|w| w == b"\"ADDED\"").count();
            }
        }
    }
    let watch = started.elapsed() / rounds;
    println!(
        "list of {objects}: {:.1} ms ({:.1} µs/object); watch from scratch: {:.1} ms ({:.1} µs/object)",
        list.as_secs_f64() * 1e3,
        list.as_secs_f64() * 1e6 / objects as f64,
        watch.as_secs_f64() * 1e3,
        watch.as_secs_f64() * 1e6 / objects as f64,
    );
    fleet.shutdown().await;
    Ok(())
}
