//! Fleet tests of what this project adds to a federated object beyond KubeFed: a preview that
//! writes nothing, pausing, readiness of any type, and dependencies that follow their workload.

mod common;

use common::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn fdeploy() -> kube::core::ApiResource {
    federated("FederatedDeployment", "federateddeployments")
}

fn status_of(obj: &DynamicObject) -> Value {
    obj.data.get("status").cloned().unwrap_or_default()
}

fn cluster_entry<'a>(status: &'a Value, cluster: &str) -> &'a Value {
    status["clusters"]
        .as_array()
        .and_then(|c| c.iter().find(|e| e["name"] == cluster))
        .unwrap_or(&Value::Null)
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|e| e["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// Waits until the federated object `name` satisfies `check`, returning its status.
async fn wait_status(
    host: &Client,
    resource: &kube::core::ApiResource,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, WAIT, || async {
        let obj = get(host, resource, Some(ns), name).await?;
        let status = status_of(&obj);
        check(&status).then_some(status)
    })
    .await
}

async fn patch_merge(
    client: &Client,
    resource: &kube::core::ApiResource,
    ns: &str,
    name: &str,
    patch: Value,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn web(ns: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
                    }
                }
            },
            "placement": {"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]}
        }
    })
}

fn member_replicas(t: &FleetTest, cluster: &str, ns: &str) -> Option<i64> {
    t.member(cluster)
        .cluster()
        .get_object("apps", "deployments", ns, "web")
        .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64))
}

#[tokio::test]
async fn a_paused_object_keeps_its_drift_while_its_status_still_updates() {
    let t = start_fleet(2, |_| {}).await;
    let ns = "paused";
    t.federate_namespace(ns).await;
    create(&t.host_client, &fdeploy(), Some(ns), web(ns, 1)).await;
    wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "web ready 2/2",
        |s| s["aggregate"]["ready"] == "2/2",
    )
    .await;

    patch_merge(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        json!({"metadata": {"annotations": {"kubefed.io/paused": "true"}}}),
    )
    .await;
    wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "Paused condition",
        |s| condition(s, "Paused")["status"] == "True",
    )
    .await;

    // Out of band, in cluster1: 1 replica becomes 3. The member's status follows (the
    // simulated deployment controller), and so must the federated status; the drift stays.
    let deployments = dynamic("apps", "v1", "Deployment", "deployments");
    patch_merge(
        &t.member("cluster1").client(),
        &deployments,
        ns,
        "web",
        json!({"spec": {"replicas": 3}}),
    )
    .await;
    let status = wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "cluster1's new replica count in the federated status",
        |s| cluster_entry(s, "cluster1")["remoteStatus"]["readyReplicas"] == 3,
    )
    .await;
    assert_eq!(member_replicas(&t, "cluster1", ns), Some(3), "drift kept");
    let entry = cluster_entry(&status, "cluster1");
    assert_eq!(entry["status"], "Paused", "{status}");
    assert_eq!(
        entry["message"],
        "paused; would update (changed out of band)"
    );
    assert_eq!(status["aggregate"]["ready"], "4/2");
    let paused = condition(&status, "Paused");
    assert_eq!(paused["reason"], "Paused");
    assert!(
        paused["message"]
            .as_str()
            .unwrap()
            .contains("would update (changed out of band) in cluster cluster1"),
        "{paused}"
    );

    // A template change is held back too (the federated status shows it pending).
    patch_merge(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        json!({"spec": {"template": {"spec": {"replicas": 2}}}}),
    )
    .await;
    wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "cluster2 paused",
        |s| cluster_entry(s, "cluster2")["status"] == "Paused",
    )
    .await;
    assert_eq!(member_replicas(&t, "cluster2", ns), Some(1));

    // Resumed: both members converge to the template, and the condition says so.
    patch_merge(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        json!({"metadata": {"annotations": {"kubefed.io/paused": null}}}),
    )
    .await;
    let status = wait_status(&t.host_client, &fdeploy(), ns, "web", "resumed, 4/4", |s| {
        s["aggregate"]["ready"] == "4/4" && condition(s, "Paused")["status"] == "False"
    })
    .await;
    assert_eq!(condition(&status, "Paused")["reason"], "Resumed");
    assert_eq!(member_replicas(&t, "cluster1", ns), Some(2));
    assert_eq!(member_replicas(&t, "cluster2", ns), Some(2));
}

#[tokio::test]
async fn deleting_a_paused_object_waits_with_its_members_kept() {
    let t = start_fleet(1, |_| {}).await;
    let ns = "paused-delete";
    t.federate_namespace(ns).await;
    let mut obj = federated_configmap(ns, "cm", json!({"clusterSelector": {}}));
    obj["metadata"]["annotations"] = json!({"kubefed.io/paused": "true"});
    create(&t.host_client, &fcm(), Some(ns), obj).await;
    // Paused from the start: nothing is created, and the status says what is held back.
    let status = wait_status(&t.host_client, &fcm(), ns, "cm", "held-back create", |s| {
        cluster_entry(s, "cluster1")["message"] == "paused; would create"
    })
    .await;
    assert_eq!(condition(&status, "Paused")["status"], "True");
    assert!(managed_in(t.member("cluster1").cluster(), ns) == 0);

    // Resume, converge, pause again, then delete: the member copy stays, the finalizer too.
    patch_merge(
        &t.host_client,
        &fcm(),
        ns,
        "cm",
        json!({"metadata": {"annotations": {"kubefed.io/paused": null}}}),
    )
    .await;
    eventually("cm in cluster1", WAIT, || async {
        (managed_in(t.member("cluster1").cluster(), ns) == 1).then_some(())
    })
    .await;
    patch_merge(
        &t.host_client,
        &fcm(),
        ns,
        "cm",
        json!({"metadata": {"annotations": {"kubefed.io/paused": "true"}}}),
    )
    .await;
    wait_status(&t.host_client, &fcm(), ns, "cm", "paused again", |s| {
        condition(s, "Paused")["status"] == "True"
    })
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(t.host_client.clone(), ns, &fcm());
    api.delete("cm", &Default::default()).await.unwrap();
    let status = wait_status(&t.host_client, &fcm(), ns, "cm", "held-back delete", |s| {
        cluster_entry(s, "cluster1")["message"] == "paused; would delete"
    })
    .await;
    assert!(
        condition(&status, "Paused")["message"]
            .as_str()
            .unwrap()
            .starts_with("the deletion waits"),
        "{status}"
    );
    assert_eq!(managed_in(t.member("cluster1").cluster(), ns), 1);
    assert!(api.get_opt("cm").await.unwrap().is_some(), "finalizer held");

    // Resumed: the deletion completes.
    patch_merge(
        &t.host_client,
        &fcm(),
        ns,
        "cm",
        json!({"metadata": {"annotations": {"kubefed.io/paused": null}}}),
    )
    .await;
    eventually("cm deleted everywhere", WAIT, || async {
        let gone = api.get_opt("cm").await.unwrap().is_none();
        (gone && managed_in(t.member("cluster1").cluster(), ns) == 0).then_some(())
    })
    .await;
}

/// A namespaced custom type whose objects report `Ready` conditions through a status
/// subresource.
fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {
                        "observedGeneration": {"type": "integer", "format": "int64"},
                        "conditions": {"type": "array", "items": {"type": "object",
                            "required": ["type", "status"],
                            "properties": {
                                "type": {"type": "string"},
                                "status": {"type": "string"},
                                "reason": {"type": "string"},
                                "message": {"type": "string"},
                                "lastTransitionTime": {"type": "string", "format": "date-time"}
                            }}}
                    }}
                }}}
            }]
        }
    })
}

async fn establish(client: &Client, crd: Value) {
    let name = crd["metadata"]["name"].as_str().unwrap().to_string();
    create(client, &crds(), None, crd).await;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    tokio::time::timeout(
        WAIT,
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} not established"))
    .unwrap();
}

#[tokio::test]
async fn a_custom_type_with_a_ready_condition_shows_ready_n_of_m() {
    let t = start_fleet(3, |_| {}).await;
    let target = custom_target("Widget", "widgets");
    establish(&t.host_client, widget_crd()).await;
    for member in t.fleet.members() {
        establish(&member.client(), widget_crd()).await;
    }
    enable_type(&t.host_client, &target).await;
    let fed_crds: Api<CustomResourceDefinition> = Api::all(t.host_client.clone());
    tokio::time::timeout(
        WAIT,
        await_condition(
            fed_crds.clone(),
            "federatedwidgets.types.kubefed.io",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    // The READY column of the generated CRD reads the aggregate.
    let crd = fed_crds
        .get("federatedwidgets.types.kubefed.io")
        .await
        .unwrap();
    let columns = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default();
    assert_eq!(columns[0].name, "Ready");
    assert_eq!(columns[0].json_path, ".status.aggregate.ready");

    let ns = "widgets";
    t.federate_namespace(ns).await;
    let fwidget = federated("FederatedWidget", "federatedwidgets");
    create(
        &t.host_client,
        &fwidget,
        Some(ns),
        json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedWidget",
            "metadata": {"name": "w", "namespace": ns},
            "spec": {"template": {"spec": {"size": 1}}, "placement": {"clusterSelector": {}}}
        }),
    )
    .await;
    let widgets = dynamic("example.com", "v1", "Widget", "widgets");
    for member in t.fleet.members() {
        eventually(&format!("widget in {}", member.name()), WAIT, || async {
            get(&member.client(), &widgets, Some(ns), "w")
                .await
                .map(|_| ())
        })
        .await;
    }
    // No member reports readiness yet: no READY value.
    let status = wait_status(&t.host_client, &fwidget, ns, "w", "in sync", |s| {
        s["aggregate"]["clusters"] == "3/3"
    })
    .await;
    assert!(status["aggregate"].get("ready").is_none(), "{status}");

    let set_ready = |cluster: String, ready: &'static str| {
        let client = t.member(&cluster).client();
        let widgets = widgets.clone();
        async move {
            let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &widgets);
            let current = api.get("w").await.unwrap();
            let status = json!({"status": {
                "observedGeneration": current.metadata.generation,
                "conditions": [{"type": "Ready", "status": ready, "reason": "Checked",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
            api.patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    };
    set_ready("cluster1".into(), "True").await;
    set_ready("cluster2".into(), "True").await;
    set_ready("cluster3".into(), "False").await;
    // 2/3 also holds while cluster3's status has not been collected yet: wait for its False.
    let status = wait_status(&t.host_client, &fwidget, ns, "w", "READY 2/3", |s| {
        s["aggregate"]["ready"] == "2/3"
            && cluster_entry(s, "cluster3")["remoteStatus"]["conditions"][0]["status"] == "False"
    })
    .await;
    let ready = condition(&status, "Ready");
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("ClustersNotReady"))
    );
    assert_eq!(
        cluster_entry(&status, "cluster3")["remoteStatus"]["conditions"][0]["status"],
        "False"
    );
    set_ready("cluster3".into(), "True").await;
    let status = wait_status(&t.host_client, &fwidget, ns, "w", "READY 3/3", |s| {
        s["aggregate"]["ready"] == "3/3"
    })
    .await;
    assert_eq!(condition(&status, "Ready")["reason"], "AllClustersReady");
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file(tag: &str, contents: &str) -> TempFile {
    let path = std::env::temp_dir().join(format!("kubefed-{tag}-{}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    TempFile(path)
}

/// Runs `kubectl fed` in-process: exit code and stdout (or the error).
async fn kubectl_fed(kubeconfig: &TempFile, args: &[&str]) -> (u8, String) {
    let mut argv = vec![
        "kubectl-fed",
        "--kubeconfig",
        kubeconfig.0.to_str().unwrap(),
        "--host-cluster-context",
        "host",
    ];
    argv.extend_from_slice(args);
    let cli = kubefed::plugin::parse_from(argv).unwrap();
    let error_code = cli.command.error_code();
    match kubefed::plugin::run(cli).await {
        Ok(reply) => (reply.code, reply.output),
        Err(err) => (error_code, err.to_string()),
    }
}

#[tokio::test]
async fn preview_shows_placement_and_objects_and_writes_nothing() {
    let mut t = start_fleet(2, |_| {}).await;
    let ns = "preview";
    t.federate_namespace(ns).await;
    let mut obj = federated_configmap(ns, "cm", json!({"clusters": [{"name": "cluster1"}]}));
    obj["spec"]["overrides"] = json!([{"clusterName": "cluster1",
        "clusterOverrides": [{"path": "/data/k", "value": "one"}]}]);
    create(&t.host_client, &fcm(), Some(ns), obj).await;
    wait_status(
        &t.host_client,
        &fcm(),
        ns,
        "cm",
        "in sync in cluster1",
        |s| s["aggregate"]["clusters"] == "1/1" && s["observedGeneration"] == 1,
    )
    .await;
    // The operator goes away: whatever is written from now on is the preview's.
    t.stop_operator().await;
    let kubeconfig = temp_file("preview-kubeconfig", "");
    t.fleet.write_kubeconfig(&kubeconfig.0).unwrap();
    for cluster in t.fleet.clusters() {
        cluster.cluster().reset_counters();
    }

    // In sync: nothing to do, exit 0, and cluster2 is explained.
    let (code, out) =
        kubectl_fed(&kubeconfig, &["preview", "federatedconfigmap/cm", "-n", ns]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("FederatedConfigMap preview/cm (configmaps)\n"),
        "{out}"
    );
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row("cluster1"),
        "cluster1 yes none in sync listed in spec.placement.clusters"
    );
    assert_eq!(
        row("cluster2"),
        "cluster2 no none - not listed in spec.placement.clusters"
    );
    assert!(out.contains("--- cluster1 (none):\n"), "{out}");
    assert!(out.contains("  k: one"), "overrides applied: {out}");
    assert!(out.contains("kubefed.io/managed: \"true\""), "{out}");

    // A file placing it on both clusters and one that is not joined, with new data.
    let file = temp_file(
        "preview-object",
        &format!(
            "apiVersion: types.kubefed.io/v1beta1\nkind: FederatedConfigMap\nmetadata:\n  name: cm\n  namespace: {ns}\nspec:\n  template:\n    data:\n      k: two\n  placement:\n    clusters:\n    - name: cluster1\n    - name: cluster2\n    - name: cluster9\n"
        ),
    );
    let path = file.0.to_str().unwrap();
    let (code, out) = kubectl_fed(&kubeconfig, &["preview", "-f", path, "--diff"]).await;
    assert_eq!(code, 1, "changes: {out}");
    assert!(
        out.contains("not joined (named in spec.placement.clusters): cluster9"),
        "{out}"
    );
    assert!(
        out.contains("--- cluster1/live\n+++ cluster1/desired\n"),
        "{out}"
    );
    assert!(out.contains("-  k: one\n+  k: two\n"), "{out}");
    assert!(out.contains("+++ cluster2/desired\n"), "{out}");
    let (code, out) = kubectl_fed(&kubeconfig, &["preview", "-f", path, "-o", "json"]).await;
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["changes"], true);
    let actions: Vec<(&str, &str)> = doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("cluster1", "update"), ("cluster2", "create")]);
    assert_eq!(doc["clusters"][1]["object"]["data"]["k"], "two");

    // Errors explain and exit 2.
    let (code, out) = kubectl_fed(
        &kubeconfig,
        &["preview", "federatedconfigmap/nope", "-n", ns],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        out.contains("FederatedConfigMap \"nope\" not found"),
        "{out}"
    );

    for cluster in t.fleet.clusters() {
        let counters = cluster.counters();
        assert_eq!(
            counters.writes(),
            0,
            "{} got writes from the preview: {:?}",
            cluster.name(),
            counters.requests
        );
    }
    assert!(
        t.fleet.host().counters().verb(kubefed_sim::Verb::Get) > 0,
        "it did read"
    );
}

fn workload_with_dependencies(ns: &str, name: &str, clusters: &[&str], config: &str) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": ns,
            "annotations": {"kubefed.io/propagate-dependencies": "true"}},
        "spec": {
            "template": {"spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{"name": "app", "image": "nginx:1.25",
                            "envFrom": [{"configMapRef": {"name": config}}]}],
                        "volumes": [{"name": "creds", "secret": {"secretName": format!("{name}-creds")}}]
                    }
                }
            }},
            "placement": {"clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}
        }
    })
}

/// The clusters whose `kind` `name` in `ns` is there, with its dependent labels.
fn copies(t: &FleetTest, resource: &str, ns: &str, name: &str) -> Vec<(String, Vec<String>)> {
    t.fleet
        .members()
        .iter()
        .filter_map(|m| {
            let object = m.cluster().get_object("", resource, ns, name)?;
            let labels = object["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let dependents = labels
                .keys()
                .filter(|k| k.starts_with("dependency-of.kubefed.io/"))
                .map(|k| {
                    k.trim_start_matches("dependency-of.kubefed.io/")
                        .to_string()
                })
                .collect();
            Some((m.name().to_string(), dependents))
        })
        .collect()
}

async fn wait_copies(
    t: &FleetTest,
    resource: &str,
    ns: &str,
    name: &str,
    expected: &[(&str, &[&str])],
) {
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(c, d)| (c.to_string(), d.iter().map(|s| s.to_string()).collect()))
        .collect();
    let what = format!("{resource}/{name} in exactly {expected:?}");
    eventually(&what, WAIT, || async {
        (copies(t, resource, ns, name) == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dependencies_follow_their_workloads_to_exactly_their_clusters() {
    let t = start_fleet(3, |_| {}).await;
    let ns = "deps";
    t.federate_namespace(ns).await;
    let cms = configmaps();
    let secrets = dynamic("", "v1", "Secret", "secrets");
    create(
        &t.host_client,
        &cms,
        Some(ns),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns, "labels": {"team": "web"}},
        "data": {"mode": "one"}}),
    )
    .await;
    for name in ["web-creds", "api-creds"] {
        create(
            &t.host_client,
            &secrets,
            Some(ns),
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns}, "type": "Opaque",
            "data": {"password": "c2VjcmV0"}}),
        )
        .await;
    }
    create(
        &t.host_client,
        &fdeploy(),
        Some(ns),
        workload_with_dependencies(ns, "web", &["cluster1", "cluster2"], "settings"),
    )
    .await;
    wait_copies(
        &t,
        "configmaps",
        ns,
        "settings",
        &[
            ("cluster1", &["deployment.web"]),
            ("cluster2", &["deployment.web"]),
        ],
    )
    .await;
    wait_copies(
        &t,
        "secrets",
        ns,
        "web-creds",
        &[
            ("cluster1", &["deployment.web"]),
            ("cluster2", &["deployment.web"]),
        ],
    )
    .await;
    let copy = t
        .member("cluster1")
        .cluster()
        .get_object("", "configmaps", ns, "settings")
        .unwrap();
    assert_eq!(copy["data"]["mode"], "one");
    assert_eq!(copy["metadata"]["labels"]["team"], "web");
    assert_eq!(copy["metadata"]["labels"]["kubefed.io/managed"], "true");
    assert_eq!(copy["metadata"]["labels"]["kubefed.io/dependency"], "true");
    let status = wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "Dependencies True",
        |s| condition(s, "Dependencies")["status"] == "True",
    )
    .await;
    assert_eq!(
        condition(&status, "Dependencies")["message"],
        "propagated with the workload: ConfigMap settings, Secret web-creds"
    );

    // A second workload shares the ConfigMap: one copy, two labels where both run.
    create(
        &t.host_client,
        &fdeploy(),
        Some(ns),
        workload_with_dependencies(ns, "api", &["cluster2", "cluster3"], "settings"),
    )
    .await;
    wait_copies(
        &t,
        "configmaps",
        ns,
        "settings",
        &[
            ("cluster1", &["deployment.web"]),
            ("cluster2", &["deployment.api", "deployment.web"]),
            ("cluster3", &["deployment.api"]),
        ],
    )
    .await;

    // A change on the host reaches every copy.
    patch_merge(
        &t.host_client,
        &cms,
        ns,
        "settings",
        json!({"data": {"mode": "two"}}),
    )
    .await;
    eventually("new data everywhere", WAIT, || async {
        t.fleet
            .members()
            .iter()
            .all(|m| {
                m.cluster()
                    .get_object("", "configmaps", ns, "settings")
                    .map(|o| o["data"]["mode"].clone())
                    == Some(json!("two"))
            })
            .then_some(())
    })
    .await;

    // web leaves cluster1 and cluster2 for cluster3: its copies go where nothing else needs
    // them, the shared one stays for api.
    patch_merge(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        json!({"spec": {"placement": {"clusters": [{"name": "cluster3"}]}}}),
    )
    .await;
    wait_copies(
        &t,
        "configmaps",
        ns,
        "settings",
        &[
            ("cluster2", &["deployment.api"]),
            ("cluster3", &["deployment.api", "deployment.web"]),
        ],
    )
    .await;
    wait_copies(
        &t,
        "secrets",
        ns,
        "web-creds",
        &[("cluster3", &["deployment.web"])],
    )
    .await;

    // A missing dependency is reported on the workload, with an event.
    patch_merge(&t.host_client, &fdeploy(), ns, "web", json!({"spec": {"template": {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:1.25", "envFrom": [{"configMapRef": {"name": "absent"}}]}],
                                    "volumes": null}}}}}})).await;
    let status = wait_status(
        &t.host_client,
        &fdeploy(),
        ns,
        "web",
        "DependencyMissing",
        |s| condition(s, "Dependencies")["reason"] == "DependencyMissing",
    )
    .await;
    assert_eq!(
        condition(&status, "Dependencies")["message"],
        "not in the host namespace: ConfigMap absent (needed in cluster3)"
    );
    wait_event(&t.host_client, ns, "DependencyMissing event", |e| {
        e.data["reason"] == "DependencyMissing" && e.data["regarding"]["name"] == "web"
    })
    .await;
    // Nothing references settings and web-creds in cluster3 any more for web.
    wait_copies(
        &t,
        "configmaps",
        ns,
        "settings",
        &[
            ("cluster2", &["deployment.api"]),
            ("cluster3", &["deployment.api"]),
        ],
    )
    .await;
    wait_copies(&t, "secrets", ns, "web-creds", &[]).await;

    // Deleting api removes the last copies of what only it needed, then its finalizer.
    let api: Api<DynamicObject> = Api::namespaced_with(t.host_client.clone(), ns, &fdeploy());
    api.delete("api", &Default::default()).await.unwrap();
    wait_copies(&t, "configmaps", ns, "settings", &[]).await;
    wait_copies(&t, "secrets", ns, "api-creds", &[]).await;
    eventually("api gone from the host", WAIT, || async {
        api.get_opt("api").await.unwrap().is_none().then_some(())
    })
    .await;
    // The host's own objects are untouched.
    assert!(
        get(&t.host_client, &cms, Some(ns), "settings")
            .await
            .is_some()
    );
}
