//! Rough load check: many clusters, many objects, one watch each.
//! `cargo run -p kubefed-sim --example load -- 100 200`

use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchParams};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let clusters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let objects: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let start = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clusters {
        handles.push(tokio::spawn(async move {
            let cluster = kubefed_sim::Cluster::new(&format!("c{c}"));
            let api: Api<ConfigMap> = Api::default_namespaced(cluster.client());
            let mut watch = api.watch(&WatchParams::default(), "0").await?.boxed();
            for i in 0..objects {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "labels": {"i": (i % 10).to_string()}},
                    "data": {"k": "v"}
                }))?;
                api.create(&PostParams::default(), &cm).await?;
            }
            for _ in 0..objects {
                watch.next().await;
            }
            let n = api
                .list(&ListParams::default().labels("i=3"))
                .await?
                .items
                .len();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((cluster, n))
        }));
    }
    let mut kept = Vec::new();
    for h in handles {
        kept.push(h.await??);
    }
    println!(
        "{clusters} clusters x {objects} objects created, watched and listed in {:?} ({} matched per cluster)",
        start.elapsed(),
        kept.first().map(|(_, n)| *n).unwrap_or_default()
    );
    Ok(())
}
