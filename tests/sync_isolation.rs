//! Every member fails on its own: a type one member may not watch, a type one member does not
//! serve, an override that is wrong for one cluster. The others converge, the failing one says
//! why on the federated object and on its KubeFedCluster, and it converges without a restart
//! once fixed. Input that cannot be read deletes nothing.

mod common;

use common::*;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubefed_sim::UserInfo;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
/// A member recheck happens at most 30 s after the fix (the backoff cap), plus propagation.
const RECHECK_WAIT: Duration = Duration::from_secs(45);

const LIMITED_USER: &str = "system:serviceaccount:kube-federation-system:cluster2-limited";
const LIMITED_TOKEN: &str = "cluster2-limited-token";

fn kubefedclusters() -> kube::core::ApiResource {
    dynamic(
        "core.kubefed.io",
        "v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
    )
}

/// The entry of `cluster` in a federated object's `status.clusters`.
async fn cluster_entry(
    host: &kube::Client,
    ar: &kube::core::ApiResource,
    ns: &str,
    name: &str,
    cluster: &str,
) -> Option<Value> {
    let obj = get(host, ar, Some(ns), name).await?;
    obj.data["status"]["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == cluster)
        .cloned()
}

async fn wait_entry(
    host: &kube::Client,
    ar: &kube::core::ApiResource,
    (ns, name): (&str, &str),
    cluster: &str,
    status: &str,
    timeout: Duration,
) -> Value {
    eventually(
        &format!("{cluster} {status:?} on {ns}/{name}"),
        timeout,
        || async {
            let entry = cluster_entry(host, ar, ns, name, cluster).await?;
            (entry["status"].as_str().unwrap_or_default() == status).then_some(entry)
        },
    )
    .await
}

async fn types_available(host: &kube::Client, cluster: &str) -> Option<Value> {
    let kfc = get(host, &kubefedclusters(), Some(NS), cluster).await?;
    kfc.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "TypesAvailable")
        .cloned()
}

async fn wait_types_available(host: &kube::Client, cluster: &str, status: &str) -> Value {
    eventually(
        &format!("{cluster} TypesAvailable {status}"),
        RECHECK_WAIT,
        || async {
            types_available(host, cluster)
                .await
                .filter(|c| c["status"] == status)
        },
    )
    .await
}

/// A fleet whose cluster2 is joined with a credential that may do everything with the
/// built-in types but nothing with `example.com` types.
async fn fleet_with_a_limited_member() -> FleetTest {
    let fleet = limited_fleet().await;
    start_fleet_with(
        fleet,
        |_| {},
        |member| (member.name() == "cluster2").then(|| LIMITED_TOKEN.to_string()),
    )
    .await
}

/// Two members; cluster2's `LIMITED_TOKEN` may use the built-in types only.
async fn limited_fleet() -> kubefed_sim::Fleet {
    use kubefed_sim::{Fleet, FleetConfig};
    let fleet = Fleet::start(FleetConfig::with_members(2)).await.unwrap();
    let limited = fleet.get("cluster2").unwrap();
    limited.cluster().add_token(
        LIMITED_TOKEN,
        UserInfo {
            name: LIMITED_USER.into(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
        },
    );
    grant(
        &limited.client(),
        "builtin",
        json!([{"apiGroups": ["", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io"],
                "resources": ["*"], "verbs": ["*"]}]),
    )
    .await;
    fleet
}

/// Grants the limited user `rules` in a member (as an admin would, or a re-run join).
async fn grant(admin: &kube::Client, name: &str, rules: Value) {
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": format!("limited-{name}")}, "rules": rules
    }))
    .unwrap();
    roles.create(&PostParams::default(), &role).await.unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("limited-{name}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("limited-{name}")},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": LIMITED_USER}]
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

fn widget(ns: &str) -> Value {
    json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedWidget",
           "metadata": {"name": "w", "namespace": ns},
           "spec": {"template": {"spec": {"size": 3}}, "placement": {"clusterSelector": {}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_permission_for_a_type_is_reported_and_spares_the_others() {
    let t = fleet_with_a_limited_member().await;
    t.federate_namespace("perm").await;
    let target = custom_target("Widget", "widgets");
    for cluster in t.fleet.clusters() {
        create(&cluster.client(), &crds(), None, custom_crd(&target)).await;
    }
    enable_type(&t.host_client, &target).await;
    let fw = federated("FederatedWidget", "federatedwidgets");
    create(&t.host_client, &fw, Some("perm"), widget("perm")).await;
    // A config map in the same namespace is not held up either.
    let fcm = fcm();
    let everywhere = json!({"clusterSelector": {}});
    let obj = federated_configmap("perm", "cm", everywhere);
    create(&t.host_client, &fcm, Some("perm"), obj).await;

    let widgets = dynamic("example.com", "v1", "Widget", "widgets");
    wait_entry(&t.host_client, &fw, ("perm", "w"), "cluster1", "", WAIT).await;
    assert!(
        get(&t.client("cluster1"), &widgets, Some("perm"), "w")
            .await
            .is_some()
    );
    let entry = wait_entry(
        &t.host_client,
        &fw,
        ("perm", "w"),
        "cluster2",
        "CachedRetrievalFailed",
        WAIT,
    )
    .await;
    let message = entry["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cannot watch widgets.example.com in cluster2: forbidden")
            && message.contains("cannot list resource \"widgets\" in API group \"example.com\""),
        "{message}"
    );
    for cluster in ["cluster1", "cluster2"] {
        wait_entry(&t.host_client, &fcm, ("perm", "cm"), cluster, "", WAIT).await;
    }
    let condition = wait_types_available(&t.host_client, "cluster2", "False").await;
    assert_eq!(condition["reason"], "TypesUnavailable");
    assert_eq!(
        condition["message"],
        "cannot watch widgets.example.com: forbidden"
    );
    assert_eq!(
        wait_types_available(&t.host_client, "cluster1", "True").await["reason"],
        "AllTypesAvailable"
    );
    // The KubeFedCluster's event names the type.
    wait_event(&t.host_client, NS, "TypesUnavailable event", |e| {
        e.data["reason"] == "TypesUnavailable"
            && e.data["regarding"]["name"] == "cluster2"
            && e.data["note"]
                .as_str()
                .is_some_and(|n| n.contains("widgets.example.com"))
    })
    .await;

    // Granting the permission converges the member, without a restart.
    grant(
        &t.client("cluster2"),
        "widgets",
        json!([{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["*"]}]),
    )
    .await;
    wait_entry(
        &t.host_client,
        &fw,
        ("perm", "w"),
        "cluster2",
        "",
        RECHECK_WAIT,
    )
    .await;
    assert!(
        get(&t.client("cluster2"), &widgets, Some("perm"), "w")
            .await
            .is_some()
    );
    assert_eq!(
        wait_types_available(&t.host_client, "cluster2", "True").await["reason"],
        "AllTypesAvailable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_served_by_one_member_only_is_reported_as_not_served() {
    let t = start_fleet(2, |_| {}).await;
    t.federate_namespace("served").await;
    let target = custom_target("Gadget", "gadgets");
    create(&t.host_client, &crds(), None, custom_crd(&target)).await;
    create(&t.client("cluster1"), &crds(), None, custom_crd(&target)).await;
    enable_type(&t.host_client, &target).await;
    let fg = federated("FederatedGadget", "federatedgadgets");
    create(
        &t.host_client,
        &fg,
        Some("served"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedGadget",
               "metadata": {"name": "g", "namespace": "served"},
               "spec": {"template": {"spec": {"n": 1}}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    wait_entry(&t.host_client, &fg, ("served", "g"), "cluster1", "", WAIT).await;
    let entry = wait_entry(
        &t.host_client,
        &fg,
        ("served", "g"),
        "cluster2",
        "CachedRetrievalFailed",
        WAIT,
    )
    .await;
    assert_eq!(
        entry["message"],
        "cannot watch gadgets.example.com in cluster2: not served (not in the cluster's discovery)"
    );
    let condition = wait_types_available(&t.host_client, "cluster2", "False").await;
    assert_eq!(
        condition["message"],
        "cannot watch gadgets.example.com: not served"
    );

    // The CRD is installed on the member: found by the next discovery check.
    create(&t.client("cluster2"), &crds(), None, custom_crd(&target)).await;
    wait_entry(
        &t.host_client,
        &fg,
        ("served", "g"),
        "cluster2",
        "",
        RECHECK_WAIT,
    )
    .await;
    let gadget = get(
        &t.client("cluster2"),
        &dynamic("example.com", "v1", "Gadget", "gadgets"),
        Some("served"),
        "g",
    )
    .await
    .expect("gadget in cluster2");
    assert_eq!(gadget.data["spec"]["n"], 1);
    wait_types_available(&t.host_client, "cluster2", "True").await;
}

#[tokio::test]
async fn an_override_of_the_name_for_one_cluster_fails_only_that_cluster() {
    let fleet = start(2).await;
    fleet.federate_namespace("rename").await;
    let fcm = fcm();
    let mut obj = federated_configmap("rename", "cm", json!({"clusterSelector": {}}));
    obj["spec"]["overrides"] = json!([{"clusterName": "cluster2", "clusterOverrides": [
        {"path": "/metadata/name", "value": "other"}]}]);
    create(&fleet.host_client, &fcm, Some("rename"), obj).await;
    wait_entry(
        &fleet.host_client,
        &fcm,
        ("rename", "cm"),
        "cluster1",
        "",
        WAIT,
    )
    .await;
    let entry = wait_entry(
        &fleet.host_client,
        &fcm,
        ("rename", "cm"),
        "cluster2",
        "ApplyOverridesFailed",
        WAIT,
    )
    .await;
    assert!(
        entry["message"]
            .as_str()
            .is_some_and(|m| m.contains("/metadata/name")),
        "{entry}"
    );
    let configmaps = dynamic("", "v1", "ConfigMap", "configmaps");
    assert!(
        get(fleet.member("cluster1"), &configmaps, Some("rename"), "cm")
            .await
            .is_some()
    );
    assert!(
        get(fleet.member("cluster2"), &configmaps, Some("rename"), "cm")
            .await
            .is_none()
    );
    assert!(
        get(
            fleet.member("cluster2"),
            &configmaps,
            Some("rename"),
            "other"
        )
        .await
        .is_none()
    );
    // The Warning event names cluster2 only.
    let event = wait_event(
        &fleet.host_client,
        "rename",
        "ApplyOverridesFailed event",
        |e| e.data["reason"] == "ApplyOverridesFailed",
    )
    .await;
    let note = event.data["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("cluster2") && !note.contains("cluster1"),
        "{note}"
    );
}

#[tokio::test]
async fn an_unreadable_federated_namespace_spec_deletes_nothing() {
    let fleet = start(2).await;
    fleet.federate_namespace("murky").await;
    let fcm = fcm();
    let obj = federated_configmap("murky", "cm", json!({"clusterSelector": {}}));
    create(&fleet.host_client, &fcm, Some("murky"), obj).await;
    for cluster in ["cluster1", "cluster2"] {
        wait_entry(&fleet.host_client, &fcm, ("murky", "cm"), cluster, "", WAIT).await;
    }
    // A FederatedNamespace CRD that no longer checks the spec (e.g. another version's), and a
    // spec the operator cannot read.
    accept_anything(&fleet.host_client, "federatednamespaces.types.kubefed.io").await;
    let fns = federated("FederatedNamespace", "federatednamespaces");
    let fns_api: Api<DynamicObject> =
        Api::namespaced_with(fleet.host_client.clone(), "murky", &fns);
    fns_api
        .patch(
            "murky",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"placement": {"clusters": "cluster1", "clusterSelector": null}}}),
            ),
        )
        .await
        .unwrap();

    // The config map says why nothing changes, and so does the namespace itself.
    for (ar, name) in [(&fcm, "cm"), (&fns, "murky")] {
        eventually(
            &format!("{name} reports the unreadable spec"),
            WAIT,
            || async {
                let obj = get(&fleet.host_client, ar, Some("murky"), name).await?;
                obj.data["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| {
                        c["type"] == "Propagation"
                            && c["reason"] == "ComputePlacementFailed"
                            && c["message"]
                                .as_str()
                                .is_some_and(|m| m.contains("cannot be read"))
                    })
                    .cloned()
            },
        )
        .await;
    }
    let configmaps = configmaps();
    let namespaces = dynamic("", "v1", "Namespace", "namespaces");
    for cluster in ["cluster1", "cluster2"] {
        let cm = get(fleet.member(cluster), &configmaps, Some("murky"), "cm")
            .await
            .expect("config map kept");
        assert!(cm.metadata.deletion_timestamp.is_none());
        let ns = get(fleet.member(cluster), &namespaces, None, "murky")
            .await
            .expect("namespace kept");
        assert!(ns.metadata.deletion_timestamp.is_none(), "{cluster}");
        // The entries stay as they were.
        let entry = cluster_entry(&fleet.host_client, &fcm, "murky", "cm", cluster)
            .await
            .unwrap();
        assert_eq!(entry.get("status"), None, "{entry}");
    }

    // Readable again: back in sync, still everywhere.
    fns_api
        .patch(
            "murky",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"placement": {"clusters": null, "clusterSelector": {}}}}),
            ),
        )
        .await
        .unwrap();
    eventually("back in sync", WAIT, || async {
        let obj = get(&fleet.host_client, &fcm, Some("murky"), "cm").await?;
        obj.data["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Propagation" && c["status"] == "True")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_member_watch_costs_a_few_log_lines_not_one_per_retry() {
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncBufReadExt;
    let fleet = limited_fleet().await;
    let host = fleet.host().client();
    prepare_host(&host, |_| {}).await;
    let limited = fleet.get("cluster2").unwrap();
    join_fleet_member(&host, fleet.get("cluster1").unwrap()).await;
    join_fleet_member_with_token(&host, limited, LIMITED_TOKEN).await;
    let target = custom_target("Widget", "widgets");
    for cluster in fleet.clusters() {
        create(&cluster.client(), &crds(), None, custom_crd(&target)).await;
    }
    enable_type(&host, &target).await;
    let dir = std::env::temp_dir().join(format!("kubefed-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("fleet.kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).unwrap();

    // The real binary, so its output is exactly what an operator's log shows.
    let mut operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubefed-operator"))
        .args(["run", "--context", "host", "--install-crds=false"])
        .args([
            "--metrics-bind-address",
            "0",
            "--health-probe-bind-address",
            "0",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    for output in [
        Box::new(operator.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        Box::new(operator.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(output).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().unwrap().push(line);
            }
        });
    }
    wait_types_available(&host, "cluster2", "False").await;

    let before = lines.lock().unwrap().len();
    let lists = || {
        limited
            .counters()
            .of(kubefed_sim::Verb::List, "widgets.example.com")
    };
    let lists_before = lists();
    // The signal: three retries of the forbidden list, however long their backoff takes.
    let retries = eventually(
        "three retries of the forbidden watch",
        Duration::from_secs(90),
        || {
            let retries = lists() - lists_before;
            std::future::ready((retries >= 3).then_some(retries))
        },
    )
    .await;
    let window: Vec<String> = lines.lock().unwrap()[before..].to_vec();
    let all = lines.lock().unwrap().clone();
    let _ = operator.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        window.len() <= 3,
        "{} log lines during {retries} retries of the forbidden watch:\n{}",
        window.len(),
        window.join("\n")
    );
    let forbidden: Vec<&String> = all
        .iter()
        .filter(|l| l.contains("forbidden") && l.contains("widgets.example.com"))
        .collect();
    assert_eq!(forbidden.len(), 1, "said once, on one line: {forbidden:#?}");
    assert!(forbidden[0].len() < 200, "a short line: {}", forbidden[0]);
}
