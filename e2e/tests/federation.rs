//! Scenarios sharing one fleet and operator; each works in its own namespace. Each runs on the
//! push-only fleet (`push::`) and on the mixed fleet whose cluster2 is a pull member
//! (`mixed::`).

use base64::Engine;
use kubefed_e2e::harness::{FEDERATION_NAMESPACE, Fleet, cluster_status, repo_root, wait_for};
use kubefed_e2e::on_each_fleet;
use serde_json::{Value, json};

on_each_fleet!(
    join_members_ready_and_rejoin_is_noop,
    federate_namespace,
    examples_propagate_field_by_field,
    override_change_reaches_only_its_cluster,
    placement_change_deletes_only_where_removed,
    drift_on_a_member_is_repaired_and_reported,
    orphaning_deletion_keeps_member_objects,
    deletion_removes_member_objects_first,
);

fn c1(f: &Fleet) -> String {
    f.members[0].context.clone()
}

fn c2(f: &Fleet) -> String {
    f.members[1].context.clone()
}

fn federated_deployment(
    ns: &str,
    name: &str,
    replicas: i64,
    placement: Value,
    overrides: Value,
) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": name, "image": "nginx:1.25"}]}
                    }
                }
            },
            "placement": placement,
            "overrides": overrides
        }
    })
}

fn federated_configmap(ns: &str, name: &str, clusters: &[&str]) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {"data": {"key": "value"}},
            "placement": {"clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}
        }
    })
}

/// Waits until `kind/name` in `ns` on `context` satisfies `check`, returning it.
fn wait_object(
    f: &Fleet,
    context: &str,
    kind: &str,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(
        &format!("{kind}/{name} in {context}: {what}"),
        f.timeouts.wait,
        || {
            f.get_json(context, &[kind, name, "-n", ns])
                .filter(|o| check(o))
        },
    )
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()))
}

fn wait_gone(f: &Fleet, context: &str, kind: &str, ns: &str, name: &str) {
    wait_for(
        &format!("{kind}/{name} gone from {context}"),
        f.timeouts.wait,
        || {
            let out = f.kubectl(context, &["get", kind, name, "-n", ns]);
            (!out.success() && out.stderr.contains("NotFound")).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
}

fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().expect("uid").to_string()
}

fn join_members_ready_and_rejoin_is_noop(f: &Fleet) {
    for member in &f.members {
        let before = f
            .get_json(
                &f.host,
                &["kubefedcluster", &member.name, "-n", FEDERATION_NAMESPACE],
            )
            .expect("KubeFedCluster after join");
        assert_eq!(f.cluster_ready(&member.name).as_deref(), Some("True"));
        let endpoint = before["spec"]["apiEndpoint"].as_str().unwrap_or_default();
        let secret = before["spec"]["secretRef"]["name"]
            .as_str()
            .unwrap_or_default();
        if member.is_pull() {
            // The host has no address of the member and no credential for it.
            assert_eq!(
                before["metadata"]["annotations"]["kubefed.io/mode"], "pull",
                "{before}"
            );
            assert!(
                !endpoint.starts_with("http://") && !endpoint.starts_with("https://"),
                "a pull member's apiEndpoint must not be dialable: {before}"
            );
            assert!(
                secret.is_empty()
                    || f.get_json(&f.host, &["secret", secret, "-n", FEDERATION_NAMESPACE])
                        .is_none(),
                "the host stores a Secret {secret} for pull member {}",
                member.name
            );
            let cluster_ns = format!("kubefed-cluster-{}", member.name);
            assert!(
                f.get_json(
                    &f.host,
                    &["serviceaccount", "kubefed-agent", "-n", &cluster_ns]
                )
                .is_some(),
                "the agent's ServiceAccount in {cluster_ns} on the host"
            );
            assert!(
                f.get_json(
                    &member.context,
                    &["secret", "kubefed-agent-host", "-n", "kubefed-agent"]
                )
                .is_some(),
                "the agent's host kubeconfig in the member"
            );
        } else {
            assert!(!endpoint.is_empty(), "{before}");
            let token = f
                .get_json(&f.host, &["secret", secret, "-n", FEDERATION_NAMESPACE])
                .expect("token Secret on the host");
            assert!(
                token["data"]["token"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            );
        }

        let again = f.join(member);
        assert_eq!(again.code, 0, "joining again: {again}");
        let after = f
            .get_json(
                &f.host,
                &["kubefedcluster", &member.name, "-n", FEDERATION_NAMESPACE],
            )
            .expect("KubeFedCluster after the second join");
        assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
        assert_eq!(
            after["metadata"]["generation"],
            before["metadata"]["generation"]
        );
        assert_eq!(after["spec"], before["spec"]);
        assert_eq!(f.cluster_ready(&member.name).as_deref(), Some("True"));
    }
    let status = f.fed(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.starts_with("NAME"), "{status}");
    for member in &f.members {
        let row = status
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(member.name.as_str()))
            .unwrap_or_else(|| panic!("no row for {}: {status}", member.name));
        assert_eq!(row.split_whitespace().nth(1), Some("True"), "{row}");
    }
}

fn federate_namespace(f: &Fleet) {
    let scenario = f.scenario_namespace("e2e-fedns").expect("namespace");
    let ns = scenario.name.as_str();
    let out = f.fed(&["federate", "namespace", ns]);
    assert_eq!(out.code, 0, "{out}");
    let fedns = f
        .get_json(&f.host, &["federatednamespace", ns, "-n", ns])
        .expect("FederatedNamespace created by federate");
    // An empty selector (all clusters), however it is spelled.
    let selector = &fedns["spec"]["placement"]["clusterSelector"];
    assert!(selector.is_object(), "{fedns}");
    assert!(
        selector["matchLabels"]
            .as_object()
            .is_none_or(|m| m.is_empty())
            && selector["matchExpressions"]
                .as_array()
                .is_none_or(|m| m.is_empty()),
        "{fedns}"
    );
    for member in &f.members {
        let ns_obj = wait_object(f, &member.context, "namespace", ns, ns, "created", |_| true);
        assert_eq!(ns_obj["metadata"]["labels"]["kubefed.io/managed"], "true");
    }
    let fedns = wait_object(
        f,
        &f.host,
        "federatednamespace",
        ns,
        ns,
        "propagated",
        |o| {
            o["status"]["clusters"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        },
    );
    for member in &f.members {
        assert_eq!(
            cluster_status(&fedns, &member.name).expect("cluster entry")["status"]
                .as_str()
                .unwrap_or(""),
            ""
        );
    }
}

fn deployment_image(d: &Value) -> &str {
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

fn examples_propagate_field_by_field(f: &Fleet) {
    // The examples name their namespace; start from nothing.
    let scenario = f
        .reset_namespace("demo")
        .expect("cleanup of an earlier run");
    let ns = scenario.name.as_str();
    let examples = repo_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "examples: {files:?}");
    for file in &files {
        let out = f.kubectl(&f.host, &["apply", "-f", &file.display().to_string()]);
        assert_eq!(out.code, 0, "applying {}: {out}", file.display());
    }
    let (c1, c2) = (c1(f), c2(f));

    let web1 = wait_object(f, &c1, "deployment", ns, "web", "3 replicas", |d| {
        d["spec"]["replicas"] == 3
    });
    assert_eq!(deployment_image(&web1), "nginx:1.25");
    assert_eq!(web1["metadata"]["labels"]["kubefed.io/managed"], "true");
    assert_eq!(web1["metadata"]["labels"]["app"], "web");
    assert!(web1["metadata"]["annotations"]["team"].is_null());
    let web2 = wait_object(f, &c2, "deployment", ns, "web", "5 replicas", |d| {
        d["spec"]["replicas"] == 5
    });
    assert_eq!(deployment_image(&web2), "nginx:1.26");
    assert_eq!(web2["metadata"]["annotations"]["team"], "blue");
    assert_eq!(
        web2["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );

    for (context, feature) in [(&c1, "off"), (&c2, "on")] {
        let cm = wait_object(f, context, "configmap", ns, "web-config", "data", |c| {
            !c["data"].is_null()
        });
        assert_eq!(cm["data"]["FEATURE_X"], feature, "{context}");
        assert_eq!(cm["data"]["LOG_LEVEL"], "info", "{context}");

        let secret = wait_object(f, context, "secret", ns, "web-credentials", "data", |s| {
            !s.is_null()
        });
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["data"]["username"], b64.encode("web"), "{context}");
        assert_eq!(
            secret["data"]["password"],
            b64.encode("change-me"),
            "{context}"
        );

        let svc = wait_object(f, context, "service", ns, "web", "exists", |_| true);
        assert_eq!(svc["spec"]["selector"]["app"], "web");
        assert_eq!(svc["spec"]["ports"][0]["port"], 80);
        assert_eq!(svc["spec"]["ports"][0]["name"], "http");

        let absent = f.kubectl(context, &["get", "configmap", "production-only", "-n", ns]);
        assert!(
            absent.stderr.contains("NotFound"),
            "production-only placed on {context}: {absent}"
        );
    }

    let api1 = wait_object(f, &c1, "deployment", ns, "api", "4 replicas", |d| {
        d["spec"]["replicas"] == 4
    });
    let api2 = wait_object(f, &c2, "deployment", ns, "api", "6 replicas", |d| {
        d["spec"]["replicas"] == 6
    });
    assert_eq!(deployment_image(&api1), "nginx:1.25");
    assert_eq!(deployment_image(&api2), "nginx:1.25");

    let web = wait_object(
        f,
        &f.host,
        "federateddeployment",
        ns,
        "web",
        "ready 8/8",
        |o| o["status"]["aggregate"]["ready"] == "8/8",
    );
    for member in &f.members {
        let entry = cluster_status(&web, &member.name).expect("status.clusters entry");
        assert_eq!(entry["status"].as_str().unwrap_or(""), "", "{entry}");
    }
    wait_object(
        f,
        &f.host,
        "federateddeployment",
        ns,
        "api",
        "ready 10/10",
        |o| o["status"]["aggregate"]["ready"] == "10/10",
    );

    let table = f.kubectl(&f.host, &["get", "federateddeployments", "-n", ns]);
    assert_eq!(table.code, 0, "{table}");
    let header = table.stdout.lines().next().unwrap_or_default();
    assert!(
        header.contains("READY") && header.contains("CLUSTERS"),
        "{table}"
    );
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("no web row: {table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(cells.contains(&"8/8") && cells.contains(&"2/2"), "{row}");

    let status = f.fed(&["status", "federateddeployment/web", "-n", ns]);
    assert_eq!(status.code, 0, "{status}");
    let rows: Vec<Vec<&str>> = status
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["CLUSTER", "STATUS", "READY"], "{status}");
    assert!(
        rows.contains(&vec!["cluster1", "Propagated", "3/3"]),
        "{status}"
    );
    assert!(
        rows.contains(&vec!["cluster2", "Propagated", "5/5"]),
        "{status}"
    );
    assert!(status.stdout.contains("Propagation: True"), "{status}");
}

fn override_change_reaches_only_its_cluster(f: &Fleet) {
    let scenario = f
        .federated_scenario_namespace("e2e-override")
        .expect("namespace");
    let ns = scenario.name.as_str();
    let (c1, c2) = (c1(f), c2(f));
    let placement = json!({"clusterSelector": {}});
    let overrides = json!([{"clusterName": "cluster2", "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]}]);
    f.apply(
        &f.host,
        &federated_deployment(ns, "app", 1, placement.clone(), overrides),
    )
    .expect("apply");
    let before1 = wait_object(f, &c1, "deployment", ns, "app", "1 replica", |d| {
        d["spec"]["replicas"] == 1
    });
    wait_object(f, &c2, "deployment", ns, "app", "2 replicas", |d| {
        d["spec"]["replicas"] == 2
    });

    let overrides = json!([{"clusterName": "cluster2", "clusterOverrides": [
        {"path": "/spec/replicas", "value": 4},
        {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.27"}
    ]}]);
    f.apply(
        &f.host,
        &federated_deployment(ns, "app", 1, placement, overrides),
    )
    .expect("apply");
    let after2 = wait_object(f, &c2, "deployment", ns, "app", "4 replicas", |d| {
        d["spec"]["replicas"] == 4
    });
    assert_eq!(deployment_image(&after2), "nginx:1.27");
    let after1 = f
        .get_json(&c1, &["deployment", "app", "-n", ns])
        .expect("cluster1 deployment");
    assert_eq!(after1["spec"]["replicas"], 1);
    assert_eq!(deployment_image(&after1), "nginx:1.25");
    assert_eq!(uid(&after1), uid(&before1));
    assert_eq!(
        after1["metadata"]["generation"], before1["metadata"]["generation"],
        "cluster1 was rewritten"
    );
}

fn placement_change_deletes_only_where_removed(f: &Fleet) {
    let scenario = f
        .federated_scenario_namespace("e2e-placement")
        .expect("namespace");
    let ns = scenario.name.as_str();
    let (c1, c2) = (c1(f), c2(f));
    f.apply(
        &f.host,
        &federated_configmap(ns, "settings", &["cluster1", "cluster2"]),
    )
    .expect("apply");
    let before = wait_object(f, &c1, "configmap", ns, "settings", "data", |c| {
        c["data"]["key"] == "value"
    });
    wait_object(f, &c2, "configmap", ns, "settings", "data", |c| {
        c["data"]["key"] == "value"
    });

    f.apply(&f.host, &federated_configmap(ns, "settings", &["cluster1"]))
        .expect("apply");
    wait_gone(f, &c2, "configmap", ns, "settings");
    let after = f
        .get_json(&c1, &["configmap", "settings", "-n", ns])
        .expect("still in cluster1");
    assert_eq!(uid(&after), uid(&before));
    assert_eq!(after["data"]["key"], "value");
    let fed = wait_object(
        f,
        &f.host,
        "federatedconfigmap",
        ns,
        "settings",
        "one cluster",
        |o| {
            o["status"]["clusters"]
                .as_array()
                .is_some_and(|c| c.len() == 1)
        },
    );
    assert!(cluster_status(&fed, "cluster1").is_some());
    assert!(cluster_status(&fed, "cluster2").is_none());
}

fn drift_on_a_member_is_repaired_and_reported(f: &Fleet) {
    let scenario = f
        .federated_scenario_namespace("e2e-drift")
        .expect("namespace");
    let ns = scenario.name.as_str();
    f.apply(
        &f.host,
        &federated_deployment(ns, "app", 2, json!({"clusterSelector": {}}), json!([])),
    )
    .expect("apply");
    // The last member drifts: on the mixed fleet the pull member, whose agent repairs it.
    let member = f.members.last().expect("a member");
    let context = member.context.as_str();
    wait_object(f, context, "deployment", ns, "app", "2 replicas", |d| {
        d["spec"]["replicas"] == 2
    });
    let scaled = f.kubectl(
        context,
        &["scale", "deployment/app", "-n", ns, "--replicas=1"],
    );
    assert_eq!(scaled.code, 0, "{scaled}");
    wait_object(
        f,
        context,
        "deployment",
        ns,
        "app",
        "reverted to 2 replicas",
        |d| d["spec"]["replicas"] == 2,
    );
    if member.is_pull() {
        // The agent repaired it and reports the repair on the object's MemberWork in the
        // cluster namespace; the host turns that into the same event as for push members.
        let work = format!("deployments.apps.{ns}.app");
        let cluster_ns = format!("kubefed-cluster-{}", member.name);
        wait_for(
            "the agent's drift repair reported on the host",
            f.timeouts.wait,
            || {
                f.get_json(&f.host, &["memberwork", &work, "-n", &cluster_ns])
                    .filter(|w| w["status"]["driftRepairs"].as_i64().unwrap_or(0) >= 1)
            },
        )
        .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
    }
    let event = wait_for("a DriftRepaired event", f.timeouts.wait, || {
        f.get_json(&f.host, &["events.events.k8s.io", "-n", ns])?["items"]
            .as_array()?
            .iter()
            .find(|e| e["reason"] == "DriftRepaired")
            .cloned()
    })
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
    assert_eq!(event["regarding"]["name"], "app");
    assert_eq!(event["regarding"]["kind"], "FederatedDeployment");
    assert_eq!(event["type"], "Warning");
    assert!(
        event["note"]
            .as_str()
            .is_some_and(|n| n.contains(member.name.as_str())),
        "{event}"
    );
}

fn orphaning_deletion_keeps_member_objects(f: &Fleet) {
    let scenario = f
        .federated_scenario_namespace("e2e-orphan")
        .expect("namespace");
    let ns = scenario.name.as_str();
    f.apply(
        &f.host,
        &federated_configmap(ns, "keep", &["cluster1", "cluster2"]),
    )
    .expect("apply");
    let mut before = Vec::new();
    for member in &f.members {
        before.push(wait_object(
            f,
            &member.context,
            "configmap",
            ns,
            "keep",
            "managed",
            |c| c["metadata"]["labels"]["kubefed.io/managed"] == "true",
        ));
    }
    let out = f.fed(&[
        "orphaning-deletion",
        "enable",
        "federatedconfigmap",
        "keep",
        "-n",
        ns,
    ]);
    assert_eq!(out.code, 0, "{out}");
    let fed = f
        .get_json(&f.host, &["federatedconfigmap", "keep", "-n", ns])
        .expect("federated object");
    assert_eq!(fed["metadata"]["annotations"]["kubefed.io/orphan"], "true");
    let deleted = f.kubectl(
        &f.host,
        &[
            "delete",
            "federatedconfigmap",
            "keep",
            "-n",
            ns,
            &f.timeouts.kubectl_wait(),
        ],
    );
    assert_eq!(deleted.code, 0, "{deleted}");
    wait_gone(f, &f.host, "federatedconfigmap", ns, "keep");
    for (member, before) in f.members.iter().zip(&before) {
        let after = wait_object(
            f,
            &member.context,
            "configmap",
            ns,
            "keep",
            "unmanaged",
            |c| c["metadata"]["labels"]["kubefed.io/managed"].is_null(),
        );
        assert_eq!(
            uid(&after),
            uid(before),
            "{} object was recreated",
            member.name
        );
        assert_eq!(after["data"]["key"], "value");
    }
}

/// Deleting a federated object deletes its member copies first: once the host object is gone,
/// so are they (push: the operator's finalizer; pull: the MemberWork's, which the agent holds).
fn deletion_removes_member_objects_first(f: &Fleet) {
    let scenario = f
        .federated_scenario_namespace("e2e-delete")
        .expect("namespace");
    let ns = scenario.name.as_str();
    f.apply(
        &f.host,
        &federated_configmap(ns, "doomed", &["cluster1", "cluster2"]),
    )
    .expect("apply");
    for member in &f.members {
        wait_object(f, &member.context, "configmap", ns, "doomed", "data", |c| {
            c["data"]["key"] == "value"
        });
    }
    let deleted = f.kubectl(
        &f.host,
        &[
            "delete",
            "federatedconfigmap",
            "doomed",
            "-n",
            ns,
            &f.timeouts.kubectl_wait(),
        ],
    );
    assert_eq!(deleted.code, 0, "{deleted}");
    wait_gone(f, &f.host, "federatedconfigmap", ns, "doomed");
    for member in &f.members {
        let out = f.kubectl(&member.context, &["get", "configmap", "doomed", "-n", ns]);
        assert!(
            !out.success() && out.stderr.contains("NotFound"),
            "{} still has the ConfigMap after the federated object is gone: {out}",
            member.name
        );
    }
}
