//! Scenarios that change the whole fleet (a member offline, a member unjoined). They get their
//! own fleets and operators (this test binary), run one at a time per fleet, and restore the
//! fleet after. Each runs on the push-only fleet and on the mixed fleet, where the member they
//! change (the last) is the pull member.

use kubefed_e2e::harness::{FEDERATION_NAMESPACE, Fleet, Member, cluster_status, wait_for};
use kubefed_e2e::on_each_fleet;
use serde_json::{Value, json};

on_each_fleet!(
    member_offline_keeps_objects_and_reconverges,
    unjoin_removes_registration_and_member_credentials,
);

fn deployment(ns: &str, image: &str) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "app"}},
                    "template": {
                        "metadata": {"labels": {"app": "app"}},
                        "spec": {"containers": [{"name": "app", "image": image}]}
                    }
                }
            },
            "placement": {"clusterSelector": {}}
        }
    })
}

fn image(d: &Value) -> &str {
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

fn get_deployment(
    f: &Fleet,
    member: &Member,
    ns: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(
        &format!("deployment app in {}: {what}", member.name),
        f.timeouts.wait,
        || {
            f.get_json(&member.context, &["deployment", "app", "-n", ns])
                .filter(|d| check(d))
        },
    )
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()))
}

/// Brings the member back online however the scenario ends.
struct Online<'a>(&'a Fleet, &'a Member);

impl Drop for Online<'_> {
    fn drop(&mut self) {
        let _ = self.0.bring_online(self.1);
    }
}

/// A push member goes offline by its endpoint refusing the host, a pull member by its agent
/// stopping (the host gets no heartbeat); both work on real clusters too.
fn member_offline_keeps_objects_and_reconverges(f: &Fleet) {
    let _serial = f.exclusive();
    let (m1, m2) = (f.members[0].clone(), f.members[1].clone());
    let scenario = f
        .federated_scenario_namespace("e2e-offline")
        .expect("namespace");
    let ns = scenario.name.as_str();
    f.apply(&f.host, &deployment(ns, "nginx:1.25"))
        .expect("apply");
    get_deployment(f, &m1, ns, "created", |_| true);
    let before = get_deployment(f, &m2, ns, "created", |_| true);

    let _online = Online(f, &m2);
    f.take_offline(&m2).expect("offline");
    f.wait_cluster_ready(&m2.name, false)
        .expect("cluster2 not ready");
    f.apply(&f.host, &deployment(ns, "nginx:1.26"))
        .expect("update while offline");
    get_deployment(f, &m1, ns, "updated", |d| image(d) == "nginx:1.26");
    let fed = wait_for("cluster2 reported ClusterNotReady", f.timeouts.wait, || {
        f.get_json(&f.host, &["federateddeployment", "app", "-n", ns])
            .filter(|o| {
                cluster_status(o, &m2.name).is_some_and(|c| c["status"] == "ClusterNotReady")
            })
    })
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
    assert_eq!(
        cluster_status(&fed, &m1.name).expect("cluster1 entry")["status"]
            .as_str()
            .unwrap_or(""),
        ""
    );

    f.bring_online(&m2).expect("online");
    f.wait_cluster_ready(&m2.name, true)
        .expect("cluster2 ready again");
    let after = get_deployment(f, &m2, ns, "reconverged", |d| image(d) == "nginx:1.26");
    assert_eq!(
        after["metadata"]["uid"], before["metadata"]["uid"],
        "deleted while offline"
    );
    assert_eq!(after["spec"]["replicas"], 2);
    wait_for("cluster2 propagated again", f.timeouts.wait, || {
        f.get_json(&f.host, &["federateddeployment", "app", "-n", ns])
            .filter(|o| {
                cluster_status(o, &m2.name)
                    .is_some_and(|c| c["status"].as_str().unwrap_or("").is_empty())
            })
    })
    .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
}

/// Unjoin removes both sides: for a push member the KubeFedCluster and the member's
/// ServiceAccount, for a pull member also the host's cluster namespace (MemberWorks, agent
/// credential, Lease) and the agent's namespace and RBAC in the member. Member objects stay.
fn unjoin_removes_registration_and_member_credentials(f: &Fleet) {
    let _serial = f.exclusive();
    let member = f.members.last().expect("a member").clone();
    // A previous failed run may have left it unjoined.
    f.join(&member).check("join").expect("join");
    f.wait_cluster_ready(&member.name, true).expect("ready");
    let scenario = f
        .federated_scenario_namespace("e2e-unjoin")
        .expect("namespace");
    let ns = scenario.name.as_str();
    f.apply(&f.host, &deployment(ns, "nginx:1.25"))
        .expect("apply");
    let placed = get_deployment(f, &member, ns, "created", |_| true);

    // What join left on each side: (context, kind, namespace, name).
    let service_account = format!("{}-{}", member.name, f.host);
    let cluster_ns = format!("kubefed-cluster-{}", member.name);
    let joined: Vec<(&str, &str, &str, &str)> = if member.is_pull() {
        vec![
            (f.host.as_str(), "namespace", "", cluster_ns.as_str()),
            (
                f.host.as_str(),
                "serviceaccount",
                cluster_ns.as_str(),
                "kubefed-agent",
            ),
            (member.context.as_str(), "namespace", "", "kubefed-agent"),
            (
                member.context.as_str(),
                "clusterrolebinding",
                "",
                "kubefed-agent",
            ),
            (member.context.as_str(), "clusterrole", "", "kubefed-agent"),
        ]
    } else {
        vec![(
            member.context.as_str(),
            "serviceaccount",
            FEDERATION_NAMESPACE,
            service_account.as_str(),
        )]
    };
    let get = |context: &str, kind: &str, namespace: &str, name: &str| {
        let mut args = vec!["get", kind, name];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        f.kubectl(context, &args)
    };
    for (context, kind, namespace, name) in &joined {
        let out = get(context, kind, namespace, name);
        assert!(
            out.success(),
            "{kind} {name} missing in {context} after join: {out}"
        );
    }

    let out = f.unjoin(&member);
    assert_eq!(out.code, 0, "{out}");
    let kfc = f.kubectl(
        &f.host,
        &[
            "get",
            "kubefedcluster",
            &member.name,
            "-n",
            FEDERATION_NAMESPACE,
        ],
    );
    assert!(
        kfc.stderr.contains("NotFound"),
        "KubeFedCluster still there: {kfc}"
    );
    for (context, kind, namespace, name) in &joined {
        wait_for(
            &format!("{kind} {name} to go from {context}"),
            f.timeouts.cleanup,
            || {
                let out = get(context, kind, namespace, name);
                (!out.success() && out.stderr.contains("NotFound")).then_some(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}; operator log: {}", f.operator_log()));
    }
    let status = f.fed(&["status"]);
    assert!(
        !status
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(member.name.as_str())),
        "{status}"
    );
    let kept = f
        .get_json(&member.context, &["deployment", "app", "-n", ns])
        .expect("the member's Deployment is kept by unjoin");
    assert_eq!(kept["metadata"]["uid"], placed["metadata"]["uid"]);

    // Restore the fleet.
    f.join(&member).check("join again").expect("rejoin");
    f.wait_cluster_ready(&member.name, true)
        .expect("ready after rejoin");
}
