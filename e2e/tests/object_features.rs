//! Scenarios of what a federated object gets beyond KubeFed, through kubectl and the plugin
//! with the examples of `examples/features/`: preview, pause, readiness of a custom type, and
//! dependencies that follow their workload. Each works in its own namespace, on the push-only
//! fleet and on the mixed fleet whose cluster2 is a pull member.

use kubefed_e2e::harness::{Fleet, Member, cluster_status, condition, repo_root, wait_for};
use kubefed_e2e::on_each_fleet;
use serde_json::Value;

on_each_fleet!(
    preview_shows_what_applying_would_do_and_changes_nothing,
    pause_holds_back_member_writes_and_resume_catches_up,
    drift_while_paused_is_reported_and_left,
    a_custom_type_reports_ready_clusters_in_its_ready_column,
    dependencies_follow_the_workload_to_its_clusters,
);

fn example(name: &str) -> String {
    repo_root()
        .join("examples/features")
        .join(name)
        .display()
        .to_string()
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
            f.get_json(context, &["-n", ns, kind, name])
                .filter(|o| check(o))
        },
    )
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()))
}

fn absent(f: &Fleet, context: &str, kind: &str, ns: &str, name: &str) -> bool {
    let out = f.kubectl(context, &["get", kind, name, "-n", ns]);
    !out.success() && out.stderr.contains("NotFound")
}

fn wait_absent(f: &Fleet, context: &str, kind: &str, ns: &str, name: &str) {
    wait_for(
        &format!("{kind}/{name} gone from {context}"),
        f.timeouts.wait,
        || absent(f, context, kind, ns, name).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
}

fn condition_is(object: &Value, type_: &str, status: &str) -> bool {
    condition(object, type_).is_some_and(|c| c["status"] == status)
}

fn preview_shows_what_applying_would_do_and_changes_nothing(f: &Fleet) {
    let scenario = f.federated_scenario_namespace("preview").unwrap();
    let ns = scenario.name.as_str();
    let file = example("preview-federateddeployment.yaml");
    let (c1, c2) = (&f.members[0], &f.members[1]);

    let out = f.fed(&["preview", "-f", &file, "-n", ns]);
    assert_eq!(out.code, 1, "changes to make: {out}");
    let row = |stdout: &str, cluster: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(cluster))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(
        row(&out.stdout, &c1.name).starts_with(&format!("{} yes create", c1.name)),
        "{out}"
    );
    assert!(
        row(&out.stdout, &c2.name).contains("no none - not listed in spec.placement.clusters"),
        "{out}"
    );
    assert!(
        out.stdout.contains("replicas: 3"),
        "override applied: {out}"
    );
    assert!(absent(f, &c1.context, "deployment", ns, "preview-web"));
    assert!(absent(f, &f.host, "federateddeployment", ns, "preview-web"));

    // Applied and propagated: the same preview has nothing to do.
    f.kubectl(&f.host, &["apply", "-n", ns, "-f", &file])
        .check("applying the example")
        .unwrap();
    wait_object(
        f,
        &c1.context,
        "deployment",
        ns,
        "preview-web",
        "3 replicas",
        |d| d["spec"]["replicas"] == 3,
    );
    wait_object(
        f,
        &f.host,
        "federateddeployment",
        ns,
        "preview-web",
        "in sync",
        |o| {
            o["status"]["observedGeneration"] == o["metadata"]["generation"]
                && o["status"]["aggregate"]["clusters"] == "1/1"
        },
    );
    let out = f.fed(&[
        "preview",
        "federateddeployment/preview-web",
        "-n",
        ns,
        "--diff",
    ]);
    assert_eq!(out.code, 0, "nothing to change: {out}");
    assert!(!out.stdout.contains("+++"), "no diff: {out}");
    let out = f.fed(&["preview", "deployment/preview-web", "-n", ns, "-o", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(doc["changes"], false);
    assert_eq!(doc["clusters"][0]["object"]["spec"]["replicas"], 3);
    let out = f.fed(&["preview", "federateddeployment/missing", "-n", ns]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("not found"), "{out}");
}

/// The paused example applied in `ns`: nothing created while paused, created on resume, then
/// paused again. Returns the member it checks (the last: on the mixed fleet the pull member).
fn paused_then_resumed_then_paused<'f>(f: &'f Fleet, ns: &str) -> &'f Member {
    // The last member: on the mixed fleet the pull member, whose agent must hold back too.
    let c1 = f.members.last().expect("a member");
    let name = "paused-settings";
    f.kubectl(
        &f.host,
        &[
            "apply",
            "-n",
            ns,
            "-f",
            &example("paused-federatedconfigmap.yaml"),
        ],
    )
    .check("applying the example")
    .unwrap();
    let object = wait_object(f, &f.host, "federatedconfigmap", ns, name, "Paused", |o| {
        condition_is(o, "Paused", "True")
            && cluster_status(o, &c1.name).is_some_and(|c| c["status"] == "Paused")
    });
    assert_eq!(
        cluster_status(&object, &c1.name).unwrap()["message"],
        "paused; would create"
    );
    assert!(
        absent(f, &c1.context, "configmap", ns, name),
        "nothing created while paused"
    );

    let out = f.fed(&["resume", &format!("federatedconfigmap/{name}"), "-n", ns]);
    assert_eq!(out.code, 0, "{out}");
    wait_object(f, &c1.context, "configmap", ns, name, "created", |c| {
        c["data"]["mode"] == "maintenance"
    });
    let out = f.fed(&["pause", &format!("configmap/{name}"), "-n", ns]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("paused"), "{out}");
    wait_object(
        f,
        &f.host,
        "federatedconfigmap",
        ns,
        name,
        "Paused again",
        |o| condition_is(o, "Paused", "True"),
    );

    c1
}

fn pause_holds_back_member_writes_and_resume_catches_up(f: &Fleet) {
    let scenario = f.federated_scenario_namespace("pause").unwrap();
    let ns = scenario.name.as_str();
    let c1 = paused_then_resumed_then_paused(f, ns);
    let name = "paused-settings";
    // A template change while paused is held back, and reported.
    f.kubectl(
        &f.host,
        &[
            "patch",
            "federatedconfigmap",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"template":{"data":{"mode":"active"}}}}"#,
        ],
    )
    .check("changing the template")
    .unwrap();
    wait_object(
        f,
        &f.host,
        "federatedconfigmap",
        ns,
        name,
        "update held back",
        |o| {
            cluster_status(o, &c1.name).is_some_and(|c| {
                c["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("paused; would update"))
            })
        },
    );
    let member = f
        .get_json(&c1.context, &["-n", ns, "configmap", name])
        .unwrap();
    assert_eq!(
        member["data"]["mode"], "maintenance",
        "updated while paused"
    );
    resume_until(f, ns, c1, "active");
}

fn drift_while_paused_is_reported_and_left(f: &Fleet) {
    let scenario = f.federated_scenario_namespace("pause-drift").unwrap();
    let ns = scenario.name.as_str();
    let c1 = paused_then_resumed_then_paused(f, ns);
    let name = "paused-settings";
    // Drift while paused is seen, reported, and left.
    f.kubectl(
        &c1.context,
        &[
            "patch",
            "configmap",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"data":{"mode":"edited"}}"#,
        ],
    )
    .check("editing the member copy")
    .unwrap();
    wait_object(
        f,
        &f.host,
        "federatedconfigmap",
        ns,
        name,
        "drift held back",
        |o| {
            cluster_status(o, &c1.name)
                .is_some_and(|c| c["message"] == "paused; would update (changed out of band)")
        },
    );
    let member = f
        .get_json(&c1.context, &["-n", ns, "configmap", name])
        .unwrap();
    assert_eq!(
        member["data"]["mode"], "edited",
        "not repaired while paused"
    );

    resume_until(f, ns, c1, "maintenance");
}

/// `kubectl fed resume` of the paused example; waits until `member`'s copy has `mode` and the
/// object is no longer Paused.
fn resume_until(f: &Fleet, ns: &str, member: &Member, mode: &str) {
    let name = "paused-settings";
    f.fed(&["resume", &format!("federatedconfigmap/{name}"), "-n", ns])
        .check("resume")
        .unwrap();
    wait_object(f, &member.context, "configmap", ns, name, "resumed", |c| {
        c["data"]["mode"] == mode
    });
    wait_object(f, &f.host, "federatedconfigmap", ns, name, "Resumed", |o| {
        condition_is(o, "Paused", "False")
    });
}

fn a_custom_type_reports_ready_clusters_in_its_ready_column(f: &Fleet) {
    let scenario = f.federated_scenario_namespace("gizmo").unwrap();
    let ns = scenario.name.as_str();
    let crd = example("gizmo-crd.yaml");
    let contexts: Vec<&str> = std::iter::once(f.host.as_str())
        .chain(f.members.iter().map(|m| m.context.as_str()))
        .collect();
    for context in &contexts {
        f.kubectl(context, &["apply", "-f", &crd])
            .check("the Gizmo CRD")
            .unwrap();
        f.kubectl(
            context,
            &[
                "wait",
                "--for=condition=Established",
                "crd/gizmos.example.com",
                &f.timeouts.kubectl_wait(),
            ],
        )
        .check("the Gizmo CRD established")
        .unwrap();
    }
    f.fed(&["enable", "gizmos.example.com"])
        .check("enable")
        .unwrap();
    f.kubectl(
        &f.host,
        &[
            "wait",
            "--for=condition=Established",
            "crd/federatedgizmos.types.kubefed.io",
            &f.timeouts.kubectl_wait(),
        ],
    )
    .check("the FederatedGizmo CRD established")
    .unwrap();
    f.kubectl(
        &f.host,
        &["apply", "-n", ns, "-f", &example("federatedgizmo.yaml")],
    )
    .check("applying the example")
    .unwrap();
    let mut generations = Vec::new();
    for member in &f.members {
        let gizmo = wait_object(f, &member.context, "gizmo", ns, "gizmo", "created", |_| {
            true
        });
        generations.push(gizmo["metadata"]["generation"].as_i64().unwrap_or(1));
    }
    // The first member is ready, the others are not.
    for (i, member) in f.members.iter().enumerate() {
        let ready = if i == 0 { "True" } else { "False" };
        let status = format!(
            r#"{{"status":{{"observedGeneration":{},"conditions":[{{"type":"Ready","status":"{ready}","reason":"Checked","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}}]}}}}"#,
            generations[i]
        );
        f.kubectl(
            &member.context,
            &[
                "patch",
                "gizmo",
                "gizmo",
                "-n",
                ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status,
            ],
        )
        .check("setting the Gizmo's status")
        .unwrap();
    }
    let expected = format!("1/{}", f.members.len());
    wait_object(
        f,
        &f.host,
        "federatedgizmo",
        ns,
        "gizmo",
        &format!("ready {expected}"),
        |o| o["status"]["aggregate"]["ready"] == expected.as_str(),
    );
    let table = f.kubectl(&f.host, &["get", "federatedgizmos", "-n", ns]);
    assert!(table.success(), "{table}");
    let header = table.stdout.lines().next().unwrap_or_default();
    assert!(header.split_whitespace().any(|c| c == "READY"), "{table}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("gizmo"))
        .unwrap_or_default();
    assert!(row.split_whitespace().any(|c| c == expected), "{table}");
}

fn dependencies_follow_the_workload_to_its_clusters(f: &Fleet) {
    let scenario = f.federated_scenario_namespace("deps").unwrap();
    let ns = scenario.name.as_str();
    let (c1, c2) = (&f.members[0], &f.members[1]);
    f.kubectl(
        &f.host,
        &["apply", "-n", ns, "-f", &example("dependencies.yaml")],
    )
    .check("applying the example")
    .unwrap();
    for member in [c1, c2] {
        for (kind, name) in [
            ("configmap", "shop-settings"),
            ("secret", "shop-db"),
            ("serviceaccount", "shop"),
        ] {
            let copy = wait_object(f, &member.context, kind, ns, name, "propagated", |_| true);
            let labels = &copy["metadata"]["labels"];
            assert_eq!(labels["kubefed.io/dependency"], "true", "{kind}/{name}");
            assert_eq!(
                labels["dependency-of.kubefed.io/deployment.shop"], "true",
                "{kind}/{name}"
            );
        }
    }
    let shop = wait_object(
        f,
        &f.host,
        "federateddeployment",
        ns,
        "shop",
        "Dependencies True",
        |o| condition_is(o, "Dependencies", "True"),
    );
    assert_eq!(
        condition(&shop, "Dependencies").unwrap()["message"],
        "propagated with the workload: ConfigMap shop-settings, Secret shop-db, ServiceAccount shop"
    );

    // The workload leaves the second cluster: so do its dependencies, and only there.
    let placement = format!(
        r#"{{"spec":{{"placement":{{"clusters":[{{"name":"{}"}}]}}}}}}"#,
        c1.name
    );
    f.kubectl(
        &f.host,
        &[
            "patch",
            "federateddeployment",
            "shop",
            "-n",
            ns,
            "--type=merge",
            "-p",
            &placement,
        ],
    )
    .check("moving shop")
    .unwrap();
    for (kind, name) in [
        ("configmap", "shop-settings"),
        ("secret", "shop-db"),
        ("serviceaccount", "shop"),
    ] {
        wait_absent(f, &c2.context, kind, ns, name);
        assert!(
            !absent(f, &c1.context, kind, ns, name),
            "{kind}/{name} stays in {}",
            c1.name
        );
    }
    // The host's own objects are untouched.
    assert!(!absent(f, &f.host, "configmap", ns, "shop-settings"));
}
