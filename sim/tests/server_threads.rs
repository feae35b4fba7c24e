//! `serve_on` moves the listeners, their connections and requests onto a runtime of their
//! own, whose threads count their heap apart: what the API servers hold for a client's
//! watches shows in `server_heap_bytes`, and goes back out of it when the client goes.
//! (Its own test binary: `serve_on` is process-wide.)

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::WatchParams;
use kubefed_sim::heap::{CountingAlloc, count_thread_as_server, server_heap_bytes};
use kubefed_sim::transport::listener::serve_on;
use kubefed_sim::{Cluster, ClusterConfig};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const WATCHES: usize = 20;

#[test]
fn the_servers_side_of_open_watches_is_counted_on_the_servers_threads() {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(count_thread_as_server)
        .enable_all()
        .build()
        .unwrap();
    serve_on(servers.handle().clone());
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    clients.block_on(async {
        // Over HTTP/1 the server finds a closed watch connection at its next write: bookmarks
        // every 20 ms make that soon.
        let config = ClusterConfig {
            bookmark_interval: Duration::from_millis(20),
            ..ClusterConfig::default()
        };
        let cluster = Cluster::with_config("servers", config);
        let client = kube::Client::try_from(cluster.http_config().await.unwrap()).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        api.list(&Default::default()).await.unwrap();
        let idle = server_heap_bytes();

        // Over HTTP/1 every watch holds a connection, its buffers and a watch task on the
        // server.
        let mut watches = Vec::new();
        for _ in 0..WATCHES {
            let params = WatchParams::default();
            watches.push(api.watch(&params, "0").await.unwrap().boxed());
        }
        let held = server_heap_bytes() - idle;
        assert!(
            held > (WATCHES * 4096) as i64,
            "{held} B counted on the server threads for {WATCHES} open watches"
        );

        // Closing them frees that memory on the server threads again.
        drop(watches);
        drop(api);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server_heap_bytes() - idle > held / 4 {
            assert!(
                Instant::now() < deadline,
                "{} B still counted on the server threads 10 s after the watches closed ({held} B while open)",
                server_heap_bytes() - idle
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
