//! Extension points for a fleet layer: middleware (fault injection), counters, multi-cluster
//! kubeconfigs, tables and multi-version CRDs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::code;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Client, ResourceExt};
use kubefed_sim::{ApiError, Cluster, Kubeconfig, Middleware, RequestInfo, Verb};
use serde_json::json;

/// Fails every write with 503 while switched on.
struct FailWrites(AtomicBool);

impl Middleware for FailWrites {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError> {
        if self.0.load(Ordering::Relaxed) && req.verb.is_write() {
            return Err(ApiError::ServiceUnavailable("injected fault".into()));
        }
        Ok(())
    }
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

#[tokio::test]
async fn middleware_and_counters() {
    let cluster = Cluster::new("faults");
    let fault = Arc::new(FailWrites(AtomicBool::new(true)));
    cluster.add_middleware(fault.clone());
    let api: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    let e = api
        .create(&PostParams::default(), &cm("x"))
        .await
        .unwrap_err();
    assert_eq!(code(&e), 503);
    api.list(&ListParams::default()).await.unwrap();
    fault.0.store(false, Ordering::Relaxed);
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    api.replace("x", &PostParams::default(), &api.get("x").await.unwrap())
        .await
        .unwrap();
    let c = cluster.counters();
    assert_eq!(c.of(Verb::Create, "configmaps"), 2);
    assert_eq!(c.verb(Verb::List), 1);
    assert_eq!(c.of(Verb::Get, "configmaps"), 1);
    assert_eq!(c.of(Verb::Update, "configmaps"), 1);
    assert_eq!(c.writes(), 3);
    // Only the successful create changed anything; the failed one and the no-op update did not.
    assert_eq!(c.effective_writes, 1);
    cluster.reset_counters();
    assert_eq!(cluster.counters().writes(), 0);
}

#[tokio::test]
async fn kubeconfig_with_several_clusters() {
    let a = Cluster::new("alpha");
    let b = Cluster::new("beta");
    let mut kc = Kubeconfig::default();
    kc.push(a.kubeconfig_entry().await.unwrap());
    kc.push(b.kubeconfig_entry().await.unwrap());
    let yaml = kc.to_yaml().unwrap();
    assert!(yaml.contains("current-context: alpha"), "{yaml}");
    for (name, cluster) in [("alpha", &a), ("beta", &b)] {
        let client = Client::try_from(kc.kube_config(name).await.unwrap()).unwrap();
        let api: Api<ConfigMap> = Api::default_namespaced(client);
        api.create(&PostParams::default(), &cm(name)).await.unwrap();
        assert!(
            cluster
                .get_object("", "configmaps", "default", name)
                .is_some()
        );
    }
    assert!(a.get_object("", "configmaps", "default", "beta").is_none());
    let dir = std::env::temp_dir().join(format!("kubefed-sim-kc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config");
    kc.write(&path).unwrap();
    let loaded = kube::config::Kubeconfig::read_from(&path).unwrap();
    assert_eq!(loaded.contexts.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tables_for_kubectl() {
    let cluster = Cluster::new("tables");
    let client = cluster.client();
    common::create_crd(&client, common::WIDGET_CRD).await;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let api: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    api.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    api.patch_status(
        "w",
        &Default::default(),
        &kube::api::Patch::Merge(
            json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        ),
    )
    .await
    .unwrap();
    let req = http::Request::get("/apis/example.com/v1/namespaces/default/widgets")
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value =
        serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<_> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // Declared printer columns replace the default Age column, as on a real server.
    assert_eq!(cols, vec!["Name", "Ready"]);
    assert_eq!(table["rows"][0]["cells"][0], "w");
    assert_eq!(table["rows"][0]["cells"][1], "True");
}

#[tokio::test]
async fn crd_with_two_served_versions() {
    let cluster = Cluster::new("versions");
    let client = cluster.client();
    let mut crd: serde_json::Value = serde_json::from_str(common::WIDGET_CRD).unwrap();
    let mut v2 = crd["spec"]["versions"][0].clone();
    v2["name"] = json!("v1beta1");
    v2["storage"] = json!(false);
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    common::create_crd(&client, &crd.to_string()).await;
    let api = |v: &str| {
        let gvk = GroupVersionKind::gvk("example.com", v, "Widget");
        Api::<DynamicObject>::default_namespaced_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
        )
    };
    api("v1beta1")
        .create(&PostParams::default(), &serde_json::from_value(json!({"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w"}})).unwrap())
        .await
        .unwrap();
    let stored = cluster
        .get_object("example.com", "widgets", "default", "w")
        .unwrap();
    assert_eq!(stored["apiVersion"], "example.com/v1");
    let got = api("v1beta1").get("w").await.unwrap();
    assert_eq!(got.types.unwrap().api_version, "example.com/v1beta1");
    assert_eq!(api("v1").get("w").await.unwrap().name_any(), "w");
    let e = api("v2").get("w").await.unwrap_err();
    assert_eq!(code(&e), 404);
}
