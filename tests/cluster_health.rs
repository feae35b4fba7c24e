//! Member cluster registry and health against simulated clusters: conditions, bad input,
//! no rewrites after a restart, leader election.

mod common;

use common::*;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kubefed::crds::kubefed_cluster::{
    KubeFedCluster, KubeFedClusterSpec, LocalSecretReference, TlsValidation,
};
use kubefed::operator::leader::{LeaseTimings, run_while_leader};
use kubefed::operator::run::Operator;
use kubefed::runtime::metrics::Metrics;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn add_secret(host: &kube::Client, name: &str, token: &str) {
    let secrets: Api<Secret> = Api::namespaced(host.clone(), NS);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

async fn add_cluster(host: &kube::Client, name: &str, spec: KubeFedClusterSpec) {
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    clusters
        .create(&PostParams::default(), &KubeFedCluster::new(name, spec))
        .await
        .unwrap();
}

/// Waits until the cluster has a condition of `type_` with `status`, returning its message.
async fn condition(host: &kube::Client, name: &str, type_: &str, status: &str) -> String {
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    eventually(&format!("{name}: {type_}={status}"), WAIT, || async {
        let c = clusters.get(name).await.ok()?;
        let cond = c.status?.condition(type_)?.clone();
        (cond.status == status).then(|| cond.message.unwrap_or_default())
    })
    .await
}

fn spec(endpoint: &str, secret: &str) -> KubeFedClusterSpec {
    KubeFedClusterSpec {
        api_endpoint: endpoint.into(),
        secret_ref: LocalSecretReference {
            name: secret.into(),
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn joined_member_becomes_ready_with_its_version() {
    let fleet = start(1).await;
    condition(&fleet.host_client, "cluster1", "Ready", "True").await;
    condition(&fleet.host_client, "cluster1", "Offline", "False").await;
    let clusters: Api<KubeFedCluster> = Api::namespaced(fleet.host_client.clone(), NS);
    let c = clusters.get("cluster1").await.unwrap();
    assert_eq!(
        c.status.unwrap().kubernetes_version.as_deref(),
        Some("v1.33.0")
    );
}

#[tokio::test]
async fn bad_cluster_input_gives_clear_conditions_and_spares_the_others() {
    let fleet = start(1).await;
    let host = &fleet.host_client;
    let url = fleet.member_cluster("cluster1").http_url().unwrap();

    add_secret(host, "wrong-token", "not-a-valid-token").await;
    add_cluster(host, "wrong-token", spec(&url, "wrong-token")).await;
    add_cluster(host, "no-secret", spec(&url, "missing")).await;
    add_secret(host, "empty", " ").await;
    add_cluster(host, "empty-token", spec(&url, "empty")).await;
    add_secret(
        host,
        "ok-token",
        fleet.member_cluster("cluster1").admin_token(),
    )
    .await;
    add_cluster(host, "bad-endpoint", spec("ftp://somewhere", "ok-token")).await;
    let mut tls = spec(&url, "ok-token");
    tls.disabled_tls_validations = vec![TlsValidation::All, TlsValidation::SubjectName];
    add_cluster(host, "bad-tls", tls).await;
    add_cluster(host, "unreachable", spec("http://127.0.0.1:1", "ok-token")).await;

    let m = condition(host, "wrong-token", "Ready", "False").await;
    assert!(m.contains("401"), "{m}");
    let m = condition(host, "no-secret", "ConfigMalformed", "True").await;
    assert!(m.contains("missing") && m.contains("not found"), "{m}");
    let m = condition(host, "empty-token", "ConfigMalformed", "True").await;
    assert!(m.contains("token"), "{m}");
    let m = condition(host, "bad-endpoint", "ConfigMalformed", "True").await;
    assert!(m.contains("apiEndpoint"), "{m}");
    let m = condition(host, "bad-tls", "ConfigMalformed", "True").await;
    assert!(m.contains("disabledTLSValidations"), "{m}");
    let m = condition(host, "unreachable", "Offline", "True").await;
    assert!(m.contains("not reachable"), "{m}");

    // The good member is unaffected, and fixing a bad one recovers it.
    condition(host, "cluster1", "Ready", "True").await;
    add_secret(
        host,
        "missing",
        fleet.member_cluster("cluster1").admin_token(),
    )
    .await;
    condition(host, "no-secret", "Ready", "True").await;
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), NS);
    let fixed = clusters.get("no-secret").await.unwrap();
    assert!(fixed.status.unwrap().condition("ConfigMalformed").is_none());
}

#[tokio::test]
async fn restarting_the_operator_rewrites_no_cluster_status() {
    let fleet = start(2).await;
    for name in ["cluster1", "cluster2"] {
        condition(&fleet.host_client, name, "Ready", "True").await;
    }
    // Several probe periods without restart: no writes either.
    fleet.assert_quiet(Duration::from_secs(1)).await;
    fleet.host.reset_counters();

    fleet.operator.abort();
    let operator = Operator::prepare(fleet.host_client.clone(), NS, false, Metrics::new())
        .await
        .unwrap();
    let pool = operator.pool.clone();
    let second = tokio::spawn(async move { operator.run_controllers().await });
    eventually("both members ready again", WAIT, || async {
        let snap = pool.snapshot();
        (snap.len() == 2 && snap.values().all(|m| m.is_ready())).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writes = fleet.host.counters();
    second.abort();
    assert_eq!(
        writes.of(kubefed_sim::Verb::Patch, "kubefedclusters.core.kubefed.io"),
        0,
        "cluster statuses rewritten after restart: {writes:?}"
    );
}

#[tokio::test]
async fn only_the_leader_runs_and_a_standby_takes_over() {
    let host = kubefed_sim::Cluster::new("host");
    let client = host.client();
    create_namespace(&client, NS).await;
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let spawn = |identity: &'static str| {
        let client = client.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let metrics = Metrics::new();
            run_while_leader(
                client,
                NS,
                identity,
                timings,
                &metrics,
                std::future::pending(),
                || {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(identity);
                        std::future::pending::<()>().await
                    }
                },
            )
            .await
        })
    };
    let a = spawn("a");
    let first = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let b = spawn("b");
    // The other instance must not start while the first holds the lease.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .is_err(),
        "two leaders at once"
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    let lease = leases.get("kubefed-operator").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(first)
    );
    // Kill the leader (no release): the standby takes over within the lease duration.
    if first == "a" {
        a.abort()
    } else {
        b.abort()
    }
    let second = tokio::time::timeout(Duration::from_secs(8), rx.recv())
        .await
        .expect("standby took over within the lease duration")
        .unwrap();
    assert_ne!(first, second);
}
