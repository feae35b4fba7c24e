//! API semantics exercised through `kube::Client` over every transport.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{code, message, reason, targets};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use kube::core::ObjectMeta;
use kube::discovery::{Discovery, Scope};
use kube::runtime::wait::conditions;
use kube::{Client, ResourceExt};
use serde_json::json;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                {"name": "main", "image": "main:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "side:1"}
            ]}}
        }
    }))
    .expect("deployment")
}

async fn create_ns(client: &Client, name: &str) {
    let ns: Api<Namespace> = Api::all(client.clone());
    let n = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ns.create(&PostParams::default(), &n)
        .await
        .expect("create namespace");
}

fn rv(o: &impl ResourceExt) -> u64 {
    o.resource_version()
        .expect("rv")
        .parse()
        .expect("numeric rv")
}

#[tokio::test]
async fn version_health_and_discovery() {
    for t in targets().await {
        let v = t.client.apiserver_version().await.expect("version");
        assert_eq!(v.git_version, "v1.33.0", "{}", t.transport);
        let discovery = Discovery::new(t.client.clone())
            .run()
            .await
            .expect("discovery");
        let apps = discovery.get("apps").expect("apps group");
        let (ar, caps) = apps
            .recommended_resources()
            .into_iter()
            .find(|(ar, _)| ar.plural == "deployments")
            .expect("deployments");
        assert_eq!(ar.kind, "Deployment");
        assert_eq!(caps.scope, Scope::Namespaced);
        let subs: Vec<_> = caps
            .subresources
            .iter()
            .map(|(s, _)| s.plural.clone())
            .collect();
        assert!(
            subs.contains(&"status".to_string()) && subs.contains(&"scale".to_string()),
            "{subs:?}"
        );
        let core = discovery.get("").expect("core group");
        let (_, ns_caps) = core
            .recommended_resources()
            .into_iter()
            .find(|(ar, _)| ar.plural == "namespaces")
            .expect("ns");
        assert_eq!(ns_caps.scope, Scope::Cluster);
        let raw = t
            .client
            .request_text(
                http::Request::get("/apis/apps/v1")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .expect("resource list");
        let list: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let deploy = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments")
            .unwrap();
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["singularName"], json!("deployment"));
        assert!(
            deploy["verbs"]
                .as_array()
                .unwrap()
                .contains(&json!("watch"))
        );
        let health = t
            .client
            .request_text(http::Request::get("/healthz").body(Vec::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(health, "ok");
    }
}

#[tokio::test]
async fn authentication_is_required() {
    let cluster = kubefed_sim::Cluster::new("auth");
    let anon = Client::new(cluster.service_with_token(None), "default");
    let api: Api<ConfigMap> = Api::default_namespaced(anon);
    let e = api.list(&ListParams::default()).await.unwrap_err();
    assert_eq!((code(&e), reason(&e).as_str()), (401, "Unauthorized"));
    let wrong = Client::new(cluster.service_with_token(Some("nope")), "default");
    let e = Api::<ConfigMap>::default_namespaced(wrong)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), 401);
    // Over HTTP with a wrong token.
    let mut cfg = cluster.http_config().await.unwrap();
    cfg.auth_info.token = Some("wrong".to_string().into());
    let client = Client::try_from(cfg).unwrap();
    let e = Api::<ConfigMap>::default_namespaced(client)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), 401);
}

#[tokio::test]
async fn crud_errors_and_metadata() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        let created = api
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .expect("create");
        assert!(created.metadata.uid.is_some());
        assert!(created.metadata.creation_timestamp.is_some());
        let first = rv(&created);
        let e = api
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err();
        assert_eq!(
            (code(&e), reason(&e).as_str()),
            (409, "AlreadyExists"),
            "{}",
            t.transport
        );
        assert_eq!(message(&e), "configmaps \"a\" already exists");
        let e = api.get("missing").await.unwrap_err();
        assert_eq!((code(&e), reason(&e).as_str()), (404, "NotFound"));
        assert_eq!(message(&e), "configmaps \"missing\" not found");
        // Missing namespace.
        let other: Api<ConfigMap> = Api::namespaced(t.client.clone(), "nope");
        let e = other
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err();
        assert_eq!(code(&e), 404);
        assert_eq!(message(&e), "namespaces \"nope\" not found");
        // Missing name.
        let e = api
            .create(&PostParams::default(), &cm("", &[]))
            .await
            .unwrap_err();
        assert_eq!((code(&e), reason(&e).as_str()), (422, "Invalid"));
        // Name mismatch with the URL.
        let mut renamed = created.clone();
        renamed.metadata.name = Some("b".into());
        let e = api
            .replace("a", &PostParams::default(), &renamed)
            .await
            .unwrap_err();
        assert_eq!(code(&e), 400);
        // Wrong kind in the body.
        let wrong = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
        let dynapi: Api<DynamicObject> =
            Api::default_namespaced_with(t.client.clone(), &ApiResource::erase::<ConfigMap>(&()));
        let e = dynapi
            .create(
                &PostParams::default(),
                &serde_json::from_value(wrong).unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&e), 400);
        // Optimistic concurrency.
        let mut updated = created.clone();
        updated.data = Some(BTreeMap::from([("k".into(), "v2".into())]));
        let after = api
            .replace("a", &PostParams::default(), &updated)
            .await
            .expect("update");
        assert!(rv(&after) > first);
        let e = api
            .replace("a", &PostParams::default(), &updated)
            .await
            .unwrap_err();
        assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
        // A write that changes nothing keeps the resource version.
        let writes = t.cluster.counters().effective_writes;
        let same = api
            .replace("a", &PostParams::default(), &after)
            .await
            .expect("no-op update");
        assert_eq!(rv(&same), rv(&after));
        assert_eq!(t.cluster.counters().effective_writes, writes);
        // generateName.
        let mut gen_cm = cm("", &[]);
        gen_cm.metadata.generate_name = Some("gen-".into());
        let g = api
            .create(&PostParams::default(), &gen_cm)
            .await
            .expect("generateName");
        assert!(
            g.name_any().starts_with("gen-") && g.name_any().len() == 9,
            "{}",
            g.name_any()
        );
        // Cluster-scoped objects live outside namespaces.
        create_ns(&t.client, "extra").await;
        let e = Api::<Namespace>::all(t.client.clone())
            .get("nope")
            .await
            .unwrap_err();
        assert_eq!(message(&e), "namespaces \"nope\" not found");
    }
}

#[tokio::test]
async fn generation_and_status_subresource() {
    for t in targets().await {
        let api: Api<Deployment> = Api::default_namespaced(t.client.clone());
        let mut d = deployment("web");
        d.status = Some(serde_json::from_value(json!({"replicas": 9})).unwrap());
        let d = api.create(&PostParams::default(), &d).await.unwrap();
        assert_eq!(d.metadata.generation, Some(1));
        assert!(d.status.is_none(), "status is dropped on create");
        // Metadata-only change: no generation bump.
        let d = api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await
            .unwrap();
        assert_eq!(d.metadata.generation, Some(1));
        // Spec change bumps generation.
        let d = api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await
            .unwrap();
        assert_eq!(d.metadata.generation, Some(2));
        // The main endpoint ignores status.
        let d = api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"replicas": 3}})),
            )
            .await
            .unwrap();
        assert!(d.status.is_none());
        // /status ignores everything but status.
        let d = api
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 3, "observedGeneration": 2}})),
            )
            .await
            .unwrap();
        assert_eq!(d.status.as_ref().and_then(|s| s.replicas), Some(3));
        assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(3));
        assert_eq!(d.metadata.generation, Some(2));
        // Status survives a PUT on the main resource.
        let mut d2 = d.clone();
        d2.status = None;
        let d3 = api
            .replace("web", &PostParams::default(), &d2)
            .await
            .unwrap();
        assert_eq!(d3.status.as_ref().and_then(|s| s.replicas), Some(3));
        // Scale subresource.
        let s = api.get_scale("web").await.unwrap();
        assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(3));
        assert_eq!(
            s.status
                .as_ref()
                .and_then(|s| s.selector.clone())
                .as_deref(),
            Some("app=web")
        );
        api.patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
        let d = api.get("web").await.unwrap();
        assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));
        assert_eq!(d.metadata.generation, Some(3));
    }
}

#[tokio::test]
async fn finalizers_and_deletion() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        let mut c = cm("fin", &[]);
        c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        api.create(&PostParams::default(), &c).await.unwrap();
        let res = api.delete("fin", &DeleteParams::default()).await.unwrap();
        let obj = res.left().expect("object returned while finalizers remain");
        assert!(obj.metadata.deletion_timestamp.is_some());
        assert_eq!(obj.metadata.deletion_grace_period_seconds, Some(0));
        let still = api.get("fin").await.unwrap();
        assert!(still.metadata.deletion_timestamp.is_some());
        // No new finalizers while deleting.
        let e = api
            .patch(
                "fin",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"finalizers": ["example.com/hold", "example.com/other"]}}),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&e), 422);
        // Removing the last finalizer deletes.
        api.patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        assert_eq!(code(&api.get("fin").await.unwrap_err()), 404);
        // Immediate deletion of a built-in answers with a Success status.
        api.create(&PostParams::default(), &cm("plain", &[]))
            .await
            .unwrap();
        let status = api
            .delete("plain", &DeleteParams::default())
            .await
            .unwrap()
            .right()
            .expect("status");
        assert_eq!(
            status.status,
            Some(kube::core::response::StatusSummary::Success)
        );
        assert_eq!(status.details.unwrap().name, "plain");
        // Preconditions.
        let o = api
            .create(&PostParams::default(), &cm("pre", &[]))
            .await
            .unwrap();
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some("other".into()),
                resource_version: None,
            }),
            ..Default::default()
        };
        assert_eq!(code(&api.delete("pre", &dp).await.unwrap_err()), 409);
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: o.metadata.uid.clone(),
                resource_version: o.metadata.resource_version.clone(),
            }),
            ..Default::default()
        };
        api.delete("pre", &dp).await.unwrap();
        assert_eq!(
            code(
                &api.delete("pre", &DeleteParams::default())
                    .await
                    .unwrap_err()
            ),
            404
        );
    }
}

#[tokio::test]
async fn namespace_deletion_removes_contents() {
    for t in targets().await {
        create_ns(&t.client, "doomed").await;
        let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), "doomed");
        api.create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap();
        let mut held = cm("held", &[]);
        held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        api.create(&PostParams::default(), &held).await.unwrap();
        let nss: Api<Namespace> = Api::all(t.client.clone());
        nss.delete("doomed", &DeleteParams::default())
            .await
            .unwrap();
        let ns = nss.get("doomed").await.unwrap();
        assert_eq!(
            ns.status.and_then(|s| s.phase).as_deref(),
            Some("Terminating")
        );
        assert_eq!(code(&api.get("one").await.unwrap_err()), 404);
        // New content is refused while terminating.
        let e = api
            .create(&PostParams::default(), &cm("late", &[]))
            .await
            .unwrap_err();
        assert_eq!(code(&e), 403);
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
        assert_eq!(
            code(&nss.get("doomed").await.unwrap_err()),
            404,
            "{}",
            t.transport
        );
    }
}

#[tokio::test]
async fn garbage_collection() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        let owner = api
            .create(&PostParams::default(), &cm("owner", &[]))
            .await
            .unwrap();
        let oref = OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.clone().unwrap(),
            ..Default::default()
        };
        for name in ["dep1", "dep2"] {
            let mut d = cm(name, &[]);
            d.metadata.owner_references = Some(vec![oref.clone()]);
            api.create(&PostParams::default(), &d).await.unwrap();
        }
        // A grandchild goes too.
        let dep1 = api.get("dep1").await.unwrap();
        let mut gc = cm("grandchild", &[]);
        gc.metadata.owner_references = Some(vec![OwnerReference {
            uid: dep1.metadata.uid.clone().unwrap(),
            name: "dep1".into(),
            ..oref.clone()
        }]);
        api.create(&PostParams::default(), &gc).await.unwrap();
        api.delete("owner", &DeleteParams::background())
            .await
            .unwrap();
        // The garbage collector runs after the request, as on a real server.
        for name in ["dep1", "dep2", "grandchild"] {
            gone(&api, name).await;
        }
        // Orphan leaves dependents, without the owner reference.
        let owner = api
            .create(&PostParams::default(), &cm("owner2", &[]))
            .await
            .unwrap();
        let mut d = cm("kept", &[]);
        d.metadata.owner_references = Some(vec![OwnerReference {
            uid: owner.metadata.uid.clone().unwrap(),
            name: "owner2".into(),
            ..oref.clone()
        }]);
        api.create(&PostParams::default(), &d).await.unwrap();
        api.delete("owner2", &DeleteParams::orphan()).await.unwrap();
        gone(&api, "owner2").await;
        let kept = api.get("kept").await.unwrap();
        assert!(
            kept.metadata
                .owner_references
                .unwrap_or_default()
                .is_empty()
        );
        // Foreground deletes dependents as well.
        let owner = api
            .create(&PostParams::default(), &cm("owner3", &[]))
            .await
            .unwrap();
        let mut d = cm("fg", &[]);
        d.metadata.owner_references = Some(vec![OwnerReference {
            uid: owner.metadata.uid.clone().unwrap(),
            name: "owner3".into(),
            ..oref
        }]);
        api.create(&PostParams::default(), &d).await.unwrap();
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Default::default()
        };
        api.delete("owner3", &dp).await.unwrap();
        gone(&api, "fg").await;
        gone(&api, "owner3").await;
    }
}

/// Waits until the garbage collector has removed `name`.
async fn gone(api: &Api<ConfigMap>, name: &str) {
    let what = format!("{name} collected");
    kubefed_sim::testing::eventually(&what, std::time::Duration::from_secs(5), || async {
        match api.get(name).await {
            Err(e) if code(&e) == 404 => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test]
async fn selectors_paging_dry_run_and_delete_collection() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        for i in 0..10 {
            let tier = if i % 2 == 0 { "even" } else { "odd" };
            let labels: Vec<(&str, &str)> = if i < 8 {
                vec![("tier", tier), ("app", "x")]
            } else {
                vec![("tier", tier)]
            };
            api.create(&PostParams::default(), &cm(&format!("cm-{i}"), &labels))
                .await
                .unwrap();
        }
        let names = |l: kube::core::ObjectList<ConfigMap>| {
            l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
        };
        let count = |sel: &'static str| {
            let api = api.clone();
            async move {
                api.list(&ListParams::default().labels(sel))
                    .await
                    .unwrap()
                    .items
                    .len()
            }
        };
        assert_eq!(count("tier=even").await, 5);
        assert_eq!(count("tier==odd").await, 5);
        // Unlabelled objects (the namespace's kube-root-ca.crt) match negative requirements.
        assert_eq!(count("tier!=odd").await, 6);
        assert_eq!(count("tier in (odd,even)").await, 10);
        assert_eq!(count("tier notin (odd)").await, 6);
        assert_eq!(count("app").await, 8);
        assert_eq!(count("!app").await, 3);
        assert_eq!(count("app,tier=odd").await, 4);
        let by_name = api
            .list(&ListParams::default().fields("metadata.name=cm-3"))
            .await
            .unwrap();
        assert_eq!(names(by_name), vec!["cm-3"]);
        let all: Api<ConfigMap> = Api::all(t.client.clone());
        let by_ns = all
            .list(&ListParams::default().fields("metadata.namespace=default"))
            .await
            .unwrap();
        assert_eq!(by_ns.items.len(), 11);
        assert!(by_ns.metadata.resource_version.is_some());
        // Paging.
        let mut seen = Vec::new();
        let mut lp = ListParams::default().limit(3);
        loop {
            let page = api.list(&lp).await.unwrap();
            let cont = page.metadata.continue_.clone();
            seen.extend(names(page));
            match cont {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => break,
            }
        }
        assert_eq!(seen.len(), 11);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 11);
        // Dry run stores nothing.
        let rv_before = t.cluster.resource_version();
        let pp = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let dry = api.create(&pp, &cm("dry", &[])).await.unwrap();
        assert_eq!(dry.name_any(), "dry");
        assert_eq!(code(&api.get("dry").await.unwrap_err()), 404);
        let dp = DeleteParams {
            dry_run: true,
            ..Default::default()
        };
        api.delete("cm-1", &dp).await.unwrap();
        api.get("cm-1").await.unwrap();
        let patched = api
            .patch(
                "cm-1",
                &PatchParams {
                    dry_run: true,
                    ..Default::default()
                },
                &Patch::Merge(json!({"data": {"k": "dry"}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.data.unwrap()["k"], "dry");
        assert_eq!(api.get("cm-1").await.unwrap().data.unwrap()["k"], "v");
        assert_eq!(t.cluster.resource_version(), rv_before);
        // Delete collection by label.
        api.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=odd"),
        )
        .await
        .unwrap();
        assert_eq!(
            api.list(&ListParams::default().labels("tier"))
                .await
                .unwrap()
                .items
                .len(),
            5
        );
    }
}

#[tokio::test]
async fn patch_types() {
    for t in targets().await {
        let api: Api<Deployment> = Api::default_namespaced(t.client.clone());
        api.create(&PostParams::default(), &deployment("p"))
            .await
            .unwrap();
        // JSON patch.
        let jp: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}
        ]))
        .unwrap();
        let d = api
            .patch("p", &PatchParams::default(), &Patch::<()>::Json(jp))
            .await
            .unwrap();
        assert_eq!(d.spec.as_ref().unwrap().replicas, Some(4));
        // A failing JSON patch test op.
        let bad: json_patch::Patch =
            serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]))
                .unwrap();
        let e = api
            .patch("p", &PatchParams::default(), &Patch::<()>::Json(bad))
            .await
            .unwrap_err();
        assert_eq!(code(&e), 422);
        // Merge patch replaces lists wholesale.
        let d = api
            .patch(
                "p",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"a": null, "c": "d"}}})),
            )
            .await
            .unwrap();
        assert_eq!(
            d.metadata.labels.unwrap(),
            BTreeMap::from([("c".to_string(), "d".to_string())])
        );
        // Strategic merge patch merges containers and env by name.
        let d = api
            .patch(
                "p",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "main", "image": "main:2", "env": [{"name": "B", "value": "2"}]}
                ]}}}})),
            )
            .await
            .unwrap();
        let pod = d.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.containers.len(), 2);
        let main = &pod.containers[0];
        assert_eq!(main.image.as_deref(), Some("main:2"));
        let env: Vec<_> = main
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(env, vec!["A", "B"]);
        let d = api
            .patch(
                "p",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}})),
            )
            .await
            .unwrap();
        assert_eq!(d.spec.unwrap().template.spec.unwrap().containers.len(), 1);
        // Patching a missing object.
        let e = api
            .patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err();
        assert_eq!(code(&e), 404);
        // A merge patch that changes nothing keeps the resource version.
        let before = api.get("p").await.unwrap();
        let after = api
            .patch(
                "p",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 4}})),
            )
            .await
            .unwrap();
        assert_eq!(rv(&before), rv(&after));
    }
}

#[tokio::test]
async fn server_side_apply_with_two_managers() {
    for t in targets().await {
        let api: Api<ConfigMap> = Api::default_namespaced(t.client.clone());
        let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"owner": "a"}}, "data": {"a": "1", "b": "2"}});
        let a = PatchParams::apply("manager-a");
        // Apply creates.
        let first = api.patch("ssa", &a, &Patch::Apply(&cfg)).await.unwrap();
        let mf = first.metadata.managed_fields.clone().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0].manager.as_deref(), Some("manager-a"));
        assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
        assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
        let fields = serde_json::to_value(mf[0].fields_v1.as_ref().unwrap()).unwrap();
        assert!(fields["f:data"]["f:a"].is_object(), "{fields}");
        assert!(
            fields["f:metadata"]["f:labels"]["f:owner"].is_object(),
            "{fields}"
        );
        // Same config again: no change, same resource version.
        let again = api.patch("ssa", &a, &Patch::Apply(&cfg)).await.unwrap();
        assert_eq!(rv(&first), rv(&again), "{}", t.transport);
        // A second manager adds a field with apply; another with a merge patch.
        let b = PatchParams::apply("manager-b");
        api.patch("ssa", &b, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"c": "3"}})))
            .await
            .unwrap();
        let pp = PatchParams {
            field_manager: Some("manager-u".into()),
            ..Default::default()
        };
        api.patch("ssa", &pp, &Patch::Merge(json!({"data": {"u": "9"}})))
            .await
            .unwrap();
        // Manager a drops "b": removed; c and u (other managers') survive.
        let cfg2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"owner": "a"}}, "data": {"a": "1"}});
        let now = api.patch("ssa", &a, &Patch::Apply(&cfg2)).await.unwrap();
        let data = now.data.clone().unwrap();
        assert_eq!(
            data.keys().cloned().collect::<Vec<_>>(),
            vec!["a", "c", "u"],
            "{}",
            t.transport
        );
        let managers: Vec<_> = now
            .metadata
            .managed_fields
            .unwrap()
            .iter()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(
            managers.contains(&"manager-b".to_string())
                && managers.contains(&"manager-u".to_string()),
            "{managers:?}"
        );
        // Conflict: a changes c owned by b.
        let cfg3 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "c": "changed"}});
        let e = api
            .patch("ssa", &a, &Patch::Apply(&cfg3))
            .await
            .unwrap_err();
        assert_eq!((code(&e), reason(&e).as_str()), (409, "Conflict"));
        assert!(
            message(&e).contains("manager-b") && message(&e).contains(".data.c"),
            "{}",
            message(&e)
        );
        if let kube::Error::Api(status) = &e {
            let causes = status
                .details
                .as_ref()
                .map(|d| d.causes.clone())
                .unwrap_or_default();
            assert_eq!(causes.len(), 1, "{causes:?}");
            assert_eq!(causes[0].reason, "FieldManagerConflict");
            assert_eq!(causes[0].field, ".data.c");
        }
        // Setting the same value is shared ownership, not a conflict.
        let cfg4 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "c": "3"}});
        api.patch("ssa", &a, &Patch::Apply(&cfg4)).await.unwrap();
        // force takes ownership.
        let forced = api
            .patch("ssa", &a.clone().force(), &Patch::Apply(&cfg3))
            .await
            .unwrap();
        assert_eq!(forced.data.unwrap()["c"], "changed");
        // Apply bodies may be YAML.
        let yaml =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  y: \"1\"\n";
        let req = http::Request::patch(
            "/api/v1/namespaces/default/configmaps/from-yaml?fieldManager=yaml",
        )
        .header("Content-Type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .unwrap();
        let created: ConfigMap = t.client.request(req).await.unwrap();
        assert_eq!(created.data.unwrap()["y"], "1");
        // Apply without a field manager is rejected.
        let e = api
            .patch("ssa", &PatchParams::default(), &Patch::Apply(&cfg3))
            .await
            .unwrap_err();
        assert_eq!(code(&e), 400);
        // Keyed lists: containers are owned per item.
        let dapi: Api<Deployment> = Api::default_namespaced(t.client.clone());
        let mut dcfg = serde_json::to_value(deployment("ssa-d")).unwrap();
        dcfg["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "main", "image": "main:1"}]);
        dapi.patch("ssa-d", &PatchParams::apply("a"), &Patch::Apply(&dcfg))
            .await
            .unwrap();
        dapi.patch(
            "ssa-d",
            &PatchParams::apply("b"),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa-d"},
                "spec": {"template": {"spec": {"containers": [{"name": "extra", "image": "extra:1"}]}}}})),
        )
        .await
        .unwrap();
        dcfg["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "main", "image": "main:2"}]);
        let d = dapi
            .patch("ssa-d", &PatchParams::apply("a"), &Patch::Apply(&dcfg))
            .await
            .unwrap();
        let names: Vec<_> = d
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .into_iter()
            .map(|c| (c.name, c.image.unwrap()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("main".to_string(), "main:2".to_string()),
                ("extra".to_string(), "extra:1".to_string())
            ]
        );
    }
}

fn widget_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    Api::namespaced_with(client.clone(), ns, &ar)
}

#[tokio::test]
async fn custom_resource_definitions() {
    for t in targets().await {
        let crds: Api<CustomResourceDefinition> = Api::all(t.client.clone());
        let crd: CustomResourceDefinition = serde_json::from_str(common::WIDGET_CRD).unwrap();
        let created = crds.create(&PostParams::default(), &crd).await.unwrap();
        // As stored by the create: the stored version, no accepted names, no conditions yet.
        let status = created.status.unwrap();
        assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
        assert_eq!(status.accepted_names.unwrap().plural, "");
        assert!(status.conditions.unwrap_or_default().is_empty());
        // NamesAccepted comes first (the resource is served), Established later.
        let named =
            common::wait_crd(&t.client, "widgets.example.com", common::names_accepted).await;
        let named = named.status.unwrap();
        assert_eq!(named.accepted_names.as_ref().unwrap().kind, "Widget");
        let est = named.conditions.unwrap();
        let est = est.iter().find(|c| c.type_ == "Established").unwrap();
        assert_eq!(
            (est.status.as_str(), est.reason.as_deref()),
            ("False", Some("Installing")),
            "{est:?}"
        );
        let established = common::wait_crd(
            &t.client,
            "widgets.example.com",
            conditions::is_crd_established(),
        )
        .await;
        let conds = established.status.unwrap().conditions.unwrap();
        let est = conds.iter().find(|c| c.type_ == "Established").unwrap();
        assert_eq!(est.reason.as_deref(), Some("InitialNamesAccepted"));
        let discovery = Discovery::new(t.client.clone()).run().await.unwrap();
        let group = discovery.get("example.com").expect("served group");
        let (ar, caps) = group
            .recommended_resources()
            .into_iter()
            .find(|(ar, _)| ar.plural == "widgets")
            .unwrap();
        assert_eq!(ar.kind, "Widget");
        assert_eq!(caps.scope, Scope::Namespaced);
        let raw = t
            .client
            .request_text(
                http::Request::get("/apis/example.com/v1")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            raw.contains("\"widgets/status\"") && raw.contains("\"wd\""),
            "{raw}"
        );

        let api = widget_api(&t.client, "default");
        let w: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"replicas": 1, "list": [{"name": "x"}]}, "status": {"replicas": 5}
        }))
        .unwrap();
        let w = api.create(&PostParams::default(), &w).await.unwrap();
        assert_eq!(w.metadata.generation, Some(1));
        assert!(w.data.get("status").is_none());
        let w = api
            .patch_status(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"replicas": 1}})),
            )
            .await
            .unwrap();
        assert_eq!(w.data["status"]["replicas"], 1);
        assert_eq!(w.metadata.generation, Some(1));
        // Status owned through server-side apply on /status.
        let w = api
            .patch_status(
                "w",
                &PatchParams::apply("status-writer"),
                &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Ready"}})),
            )
            .await
            .unwrap();
        assert_eq!(w.data["status"]["phase"], "Ready");
        let mf = w.metadata.managed_fields.clone().unwrap_or_default();
        let entry = mf
            .iter()
            .find(|m| m.manager.as_deref() == Some("status-writer"))
            .expect("status manager");
        assert_eq!(entry.subresource.as_deref(), Some("status"));
        // Unconditional updates of custom resources are refused.
        let mut unconditional = w.clone();
        unconditional.metadata.resource_version = None;
        let e = api
            .replace("w", &PostParams::default(), &unconditional)
            .await
            .unwrap_err();
        assert_eq!(code(&e), 422);
        // Custom resources do not accept strategic merge patch.
        let e = api
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"replicas": 2}})),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&e), 415);
        let scale = api.get_scale("w").await.unwrap();
        assert_eq!(scale.spec.unwrap().replicas, Some(1));
        // Cluster-scoped paths for a namespaced kind do not exist; a missing namespace is 404.
        let e = widget_api(&t.client, "nope")
            .create(&PostParams::default(), &serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})).unwrap())
            .await
            .unwrap_err();
        assert_eq!(code(&e), 404);
        // Server-side apply merges lists by their schema's list-map keys.
        let placements = |items: serde_json::Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"placements": items}});
        api.patch(
            "w",
            &PatchParams::apply("a"),
            &Patch::Apply(placements(json!([{"cluster": "c1", "weight": 1}]))),
        )
        .await
        .unwrap();
        let w = api
            .patch(
                "w",
                &PatchParams::apply("b"),
                &Patch::Apply(placements(json!([{"cluster": "c2", "weight": 2}]))),
            )
            .await
            .unwrap();
        let clusters: Vec<_> = w.data["spec"]["placements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["cluster"].clone())
            .collect();
        assert_eq!(clusters, vec![json!("c1"), json!("c2")]);
        // Deleting the CRD stops serving the resource.
        crds.delete("widgets.example.com", &DeleteParams::default())
            .await
            .unwrap();
        let e = api.get("w").await.unwrap_err();
        assert_eq!(code(&e), 404);
        let e = api.list(&ListParams::default()).await.unwrap_err();
        assert_eq!(code(&e), 404);
        // Recreating serves an empty collection (once established again).
        crds.create(&PostParams::default(), &crd).await.unwrap();
        common::wait_crd(
            &t.client,
            "widgets.example.com",
            conditions::is_crd_established(),
        )
        .await;
        assert!(
            api.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        // A CRD whose name does not match its names is invalid.
        let mut bad = crd.clone();
        bad.metadata.name = Some("wrong.example.com".into());
        bad.metadata.resource_version = None;
        assert_eq!(
            code(&crds.create(&PostParams::default(), &bad).await.unwrap_err()),
            422
        );
    }
}

#[tokio::test]
async fn service_account_tokens_authenticate() {
    let cluster = kubefed_sim::Cluster::new("tokens");
    let client = cluster.client();
    let sas: Api<ServiceAccount> = Api::default_namespaced(client.clone());
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("robot".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let tr = k8s_openapi::api::authentication::v1::TokenRequest::default();
    let tr = sas
        .create_token_request("robot", &PostParams::default(), &tr)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let robot = Client::new(cluster.service_with_token(Some(&token)), "default");
    Api::<ConfigMap>::default_namespaced(robot)
        .list(&ListParams::default())
        .await
        .unwrap();
    let e = sas
        .create_token_request("ghost", &PostParams::default(), &Default::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), 404);
}

/// Status code and JSON body of a raw GET.
async fn raw_get(client: &Client, path: &str, accept: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header(http::header::ACCEPT, a);
    }
    let resp = client
        .send(req.body(Vec::new()).unwrap().map(Into::into))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (code, serde_json::from_slice(&body).unwrap_or(json!(null)))
}

const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// Whether `example.com/v1` `widgets` shows in legacy and aggregated discovery.
async fn widgets_discovered(client: &Client) -> (bool, bool) {
    let (_, groups) = raw_get(client, "/apis", None).await;
    let legacy = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "example.com");
    let (code, agg) = raw_get(client, "/apis", Some(AGGREGATED)).await;
    assert_eq!(code, 200);
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let aggregated = agg["items"].as_array().unwrap().iter().any(|g| {
        g["metadata"]["name"] == "example.com"
            && g["versions"][0]["resources"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["resource"] == "widgets"))
    });
    (legacy, aggregated)
}

/// A type served by some clusters and not others: where its CRD is missing, list and watch
/// answer 404 with the real server's generic Status, and discovery does not show it.
#[tokio::test]
async fn a_type_missing_on_a_cluster_is_404_and_absent_from_discovery() {
    let not_found = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound", "details": {}, "code": 404,
    });
    for t in targets().await {
        let c = &t.client;
        let tr = t.transport;
        for path in [
            "/apis/example.com/v1/namespaces/default/widgets",
            "/apis/example.com/v1/widgets",
            "/apis/example.com/v1/namespaces/default/widgets?watch=true",
            "/apis/example.com/v1/namespaces/default/widgets/w",
            "/apis/example.com/v1",
            "/apis/example.com",
        ] {
            assert_eq!(
                raw_get(c, path, None).await,
                (404, not_found.clone()),
                "{tr} {path}"
            );
        }
        let e = widget_api(c, "default")
            .list(&ListParams::default())
            .await
            .unwrap_err();
        assert_eq!(
            (code(&e), reason(&e)),
            (404, "NotFound".to_string()),
            "{tr}"
        );
        let e = widget_api(c, "default")
            .watch(&kube::api::WatchParams::default(), "0")
            .await
            .err()
            .expect("watch refused");
        assert_eq!(code(&e), 404, "{tr}");
        assert_eq!(widgets_discovered(c).await, (false, false), "{tr}");
        let discovery = Discovery::new(c.clone()).run().await.unwrap();
        assert!(discovery.get("example.com").is_none(), "{tr}");

        // Installed on this cluster: served and discovered, in both discovery forms.
        common::create_crd(c, common::WIDGET_CRD).await;
        assert_eq!(widgets_discovered(c).await, (true, true), "{tr}");
        let (code_, list) =
            raw_get(c, "/apis/example.com/v1/namespaces/default/widgets", None).await;
        assert_eq!(
            (code_, list["kind"].clone()),
            (200, json!("WidgetList")),
            "{tr}"
        );
        let (code_, _) = raw_get(c, "/apis/example.com/v1", None).await;
        assert_eq!(code_, 200, "{tr}");
    }
}

/// Between NamesAccepted and Established the resource is served but not discovered.
#[tokio::test]
async fn an_installing_crd_is_served_but_not_discovered() {
    let cluster = kubefed_sim::Cluster::with_config(
        "installing",
        kubefed_sim::ClusterConfig {
            crd_establish_delay: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    for client in [cluster.client(), cluster.https_client().await.unwrap()] {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        if crds.get_opt("widgets.example.com").await.unwrap().is_none() {
            let crd: CustomResourceDefinition = serde_json::from_str(common::WIDGET_CRD).unwrap();
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        let crd = common::wait_crd(&client, "widgets.example.com", common::names_accepted).await;
        let conds = crd.status.unwrap().conditions.unwrap();
        let est = conds.iter().find(|c| c.type_ == "Established").unwrap();
        assert_eq!(
            (est.status.as_str(), est.reason.as_deref()),
            ("False", Some("Installing"))
        );
        widget_api(&client, "default")
            .list(&ListParams::default())
            .await
            .expect("served once the names are accepted");
        assert_eq!(widgets_discovered(&client).await, (false, false));
        let (code_, _) = raw_get(&client, "/apis/example.com/v1", None).await;
        assert_eq!(code_, 404);
    }
}
