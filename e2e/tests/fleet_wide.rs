//! Scenarios that change the whole fleet (a member offline, a member unjoined). They get their
//! own fleet and operator (this test binary), run one at a time, and restore the fleet after.

use std::sync::Mutex;

use kubefed_e2e::harness::{
    FEDERATION_NAMESPACE, Fleet, Member, cluster_status, shared_fleet, wait_for,
};
use serde_json::{Value, json};

static SERIAL: Mutex<()> = Mutex::new(());

fn fleet() -> &'static Fleet {
    shared_fleet().expect("the e2e fleet must start")
}

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
        let _ = self.0.fault(self.1, "clear");
    }
}

#[test]
fn member_offline_keeps_objects_and_reconverges() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let f = fleet();
    if !f.simulated {
        println!(
            "SKIPPED: taking a member offline needs the simulated fleet (KUBEFED_E2E_KUBECONFIG is set)"
        );
        return;
    }
    let scenario = f
        .federated_scenario_namespace("e2e-offline")
        .expect("namespace");
    let ns = scenario.name.as_str();
    let (m1, m2) = (f.members[0].clone(), f.members[1].clone());
    f.apply(&f.host, &deployment(ns, "nginx:1.25"))
        .expect("apply");
    get_deployment(f, &m1, ns, "created", |_| true);
    let before = get_deployment(f, &m2, ns, "created", |_| true);

    let _online = Online(f, &m2);
    f.fault(&m2, "offline").expect("offline");
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

    f.fault(&m2, "online").expect("online");
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

#[test]
fn unjoin_removes_registration_and_member_credentials() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let f = fleet();
    let member = f.members.last().expect("a member").clone();
    // A previous failed run may have left it unjoined.
    f.join(&member).check("join").expect("join");
    f.wait_cluster_ready(&member.name, true).expect("ready");
    let service_account = format!("{}-{}", member.name, f.host);
    assert!(
        f.get_json(
            &member.context,
            &[
                "serviceaccount",
                &service_account,
                "-n",
                FEDERATION_NAMESPACE
            ]
        )
        .is_some(),
        "member-side ServiceAccount {service_account} missing after join"
    );

    let out = f.fed(&["unjoin", &member.name, "--cluster-context", &member.context]);
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
    wait_for(
        "the member-side ServiceAccount to go",
        f.timeouts.wait,
        || {
            let sa = f.kubectl(
                &member.context,
                &[
                    "get",
                    "serviceaccount",
                    &service_account,
                    "-n",
                    FEDERATION_NAMESPACE,
                ],
            );
            (!sa.success() && sa.stderr.contains("NotFound")).then_some(())
        },
    )
    .expect("ServiceAccount deleted");
    let status = f.fed(&["status"]);
    assert!(
        !status
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(member.name.as_str())),
        "{status}"
    );

    // Restore the fleet.
    f.join(&member).check("join again").expect("rejoin");
    f.wait_cluster_ready(&member.name, true)
        .expect("ready after rejoin");
}
