//! A host and member clusters on loopback: kubeconfig contexts for kubectl and kube,
//! stopping and restarting a member, startup cost of a large fleet.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};
use kubefed_sim::fleet::{Fleet, FleetConfig};
use serde_json::json;

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kubefed-sim-{}-{name}", std::process::id()))
}

async fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .expect("the kubectl binary must be on PATH for this test");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_work_with_kubectl_and_kube() {
    let fleet = Fleet::start(FleetConfig::with_members(3)).await.unwrap();
    let path = temp_path("contexts.kubeconfig");
    fleet.write_kubeconfig(&path).unwrap();
    let names: Vec<&str> = fleet.clusters().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["host", "cluster1", "cluster2", "cluster3"]);

    // Each context reaches its own cluster with its own store.
    for (i, c) in fleet.members().iter().enumerate() {
        let cms: Api<ConfigMap> = Api::namespaced(c.https_client().await.unwrap(), "default");
        cms.create(
            &PostParams::default(),
            &configmap(&format!("only-in-{}", i + 1)),
        )
        .await
        .unwrap();
    }
    let (ok, out, err) = kubectl(&path, &["config", "get-contexts", "-o", "name"]).await;
    assert!(ok, "{err}");
    for n in &names {
        assert!(out.lines().any(|l| l == *n), "context {n} missing in {out}");
    }
    let (ok, out, err) = kubectl(&path, &["--context", "cluster2", "get", "ns"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("kube-system"), "{out}");
    let (ok, out, err) = kubectl(
        &path,
        &["--context", "cluster2", "get", "configmaps", "-o", "name"],
    )
    .await;
    assert!(ok, "{err}");
    // Besides the root CA ConfigMap every namespace has, only cluster2's own object.
    let own: Vec<&str> = out
        .lines()
        .filter(|l| *l != "configmap/kube-root-ca.crt")
        .collect();
    assert_eq!(own, ["configmap/only-in-2"]);
    let (ok, out, _) = kubectl(
        &path,
        &["--context", "host", "get", "configmaps", "-o", "name"],
    )
    .await;
    assert!(ok);
    assert!(
        out.lines().all(|l| l == "configmap/kube-root-ca.crt"),
        "host has no configmaps of its own: {out}"
    );

    // kube reads the same file.
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let opts = kube::config::KubeConfigOptions {
        context: Some("cluster3".into()),
        ..Default::default()
    };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let own: Vec<_> = list
        .items
        .iter()
        .filter_map(|cm| cm.metadata.name.as_deref())
        .filter(|n| *n != "kube-root-ca.crt")
        .collect();
    assert_eq!(own, ["only-in-3"]);

    fleet.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_member_refuses_connections_and_keeps_data_after_restart() {
    let fleet = Fleet::start(FleetConfig::with_members(2)).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let addr = member.addr();
    let client = member.https_client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &configmap("kept"))
        .await
        .unwrap();

    fleet.stop("cluster1").await.unwrap();
    assert!(!member.is_online().await);
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    let err = cms.get("kept").await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a stopped cluster fails at the connection, not with an API error: {err:?}"
    );
    // The in-process client fails the same way.
    let in_process: Api<ConfigMap> = Api::namespaced(member.client(), "default");
    assert!(!matches!(
        in_process.get("kept").await.unwrap_err(),
        kube::Error::Api(_)
    ));
    // Other members are unaffected.
    let other: Api<Namespace> = Api::all(fleet.get("cluster2").unwrap().client());
    other.get("default").await.unwrap();

    fleet.start_cluster("cluster1").await.unwrap();
    assert_eq!(member.addr(), addr);
    let cm = cms.get("kept").await.unwrap();
    assert_eq!(cm.data.unwrap()["k"], "v");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_members_start_quickly() {
    let rss_before = rss_kib();
    let started = Instant::now();
    let fleet = Fleet::start(FleetConfig::with_members(100)).await.unwrap();
    let elapsed = started.elapsed();
    // Let the controllers settle, then measure the idle footprint.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = rss_kib();
    let counters_before: u64 = fleet.clusters().iter().map(|c| c.counters().writes()).sum();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counters_after: u64 = fleet.clusters().iter().map(|c| c.counters().writes()).sum();
    println!(
        "101 clusters (1 host + 100 members) started in {elapsed:?}; resident memory {} KiB before, {} KiB after ({} KiB per cluster)",
        rss_before,
        rss_after,
        rss_after.saturating_sub(rss_before) / 101
    );
    assert_eq!(fleet.members().len(), 100);
    assert_eq!(
        counters_before, counters_after,
        "an idle fleet does not write"
    );
    let c = fleet.get("cluster100").unwrap();
    let ns: Api<Namespace> = Api::all(c.client());
    ns.get("kube-system").await.unwrap();
    fleet.shutdown().await;
}

/// Resident set size of this process (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_keeps_state_across_restarts() {
    let dir = temp_path("data");
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = FleetConfig::with_members(1);
    config.data_dir = Some(dir.clone());

    let fleet = Fleet::start(config.clone()).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(member.client());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(member.client(), "default");
    let cm = cms
        .create(&PostParams::default(), &configmap("saved"))
        .await
        .unwrap();
    // The CRD's resource is served once its names are accepted, which takes a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match member.cluster().create_object(
            "example.com",
            "v1",
            "widgets",
            "default",
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}),
        ) {
            Ok(_) => break,
            Err(kubefed_sim::ApiError::NoRoute) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("create widget: {e}"),
        }
    }
    let token = member.admin_token().to_string();
    let addr = member.addr();
    let rv = member.cluster().resource_version();
    fleet.save().unwrap();
    fleet.shutdown().await;
    drop(fleet);

    let fleet = Fleet::start(config).await.unwrap();
    let member = fleet.get("cluster1").unwrap();
    assert_eq!(member.admin_token(), token, "old kubeconfigs keep working");
    assert_eq!(member.addr(), addr, "the address is reused when free");
    let cms: Api<ConfigMap> = Api::namespaced(member.https_client().await.unwrap(), "default");
    let back = cms.get("saved").await.unwrap();
    assert_eq!(back.metadata.uid, cm.metadata.uid);
    assert_eq!(back.metadata.resource_version, cm.metadata.resource_version);
    let widget = member
        .cluster()
        .get_object("example.com", "widgets", "default", "w")
        .expect("custom objects are restored");
    assert_eq!(widget["spec"]["size"], 3);
    let next = cms
        .create(&PostParams::default(), &configmap("later"))
        .await
        .unwrap();
    let next_rv: u64 = next.metadata.resource_version.unwrap().parse().unwrap();
    assert!(next_rv > rv, "resource versions continue after a restart");
    fleet.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
