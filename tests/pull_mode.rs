//! Pull mode on the simulator: a fleet of one push member (cluster1) and one pull member
//! (cluster2) whose agent runs in-process with the scoped host credential `kubectl fed join
//! --mode pull` makes. The host never gets a client for cluster2.

mod common;

use common::*;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kubefed::agent::{AgentConfig, AgentStats};
use kubefed::crds::member_work::MemberWork;
use kubefed::plugin::pull_join::{HostSide, agent_token, ensure_host_side};
use kubefed_sim::{FaultSpec, Fleet, FleetConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

struct PullFleet {
    test: FleetTest,
    agent: tokio::task::JoinHandle<()>,
    stats: AgentStats,
}

impl Drop for PullFleet {
    fn drop(&mut self) {
        self.agent.abort();
    }
}

fn side(cluster: &str) -> HostSide {
    HostSide {
        cluster: cluster.into(),
        federation_namespace: NS.into(),
    }
}

/// The scoped host client of a pull member's agent.
async fn agent_host_client(fleet: &Fleet, cluster: &str) -> Client {
    let host = fleet.host().client();
    ensure_host_side(&host, &side(cluster), BTreeMap::new())
        .await
        .unwrap();
    let token = agent_token(&host, &side(cluster), 3600).await.unwrap();
    assert!(!token.is_empty());
    fleet.host().client_with_token(&token)
}

/// cluster1 joined push, cluster2 joined pull with its agent running; both Ready.
async fn start() -> PullFleet {
    start_with(Duration::from_millis(200), Duration::from_millis(800)).await
}

/// [`start`] with the agent's heartbeat period and grace.
async fn start_with(heartbeat: Duration, grace: Duration) -> PullFleet {
    let fleet = Fleet::start(FleetConfig::with_members(2)).await.unwrap();
    let host = fleet.host().client();
    prepare_host(&host, |_| {}).await;
    let running = kubefed_testkit::run_operator(&host).await.unwrap();
    join_fleet_member(&host, &fleet.members()[0]).await;
    let agent_host = agent_host_client(&fleet, "cluster2").await;
    let stats = AgentStats::default();
    let config = AgentConfig {
        cluster: "cluster2".into(),
        host: agent_host,
        member: fleet.members()[1].client(),
        heartbeat,
        grace,
        timeout: Duration::from_secs(1),
    };
    let agent = tokio::spawn({
        let stats = stats.clone();
        async move {
            let _ = kubefed::agent::run(config, stats).await;
        }
    });
    for name in ["cluster1", "cluster2"] {
        let pool = running.pool.clone();
        eventually(&format!("{name} ready"), WAIT, || async {
            pool.snapshot()
                .get(name)
                .filter(|m| m.is_ready())
                .map(|_| ())
        })
        .await;
    }
    let test = FleetTest {
        clusters: kubefed_testkit::Https { fleet },
        host_client: host,
        pool: running.pool.clone(),
        metrics: running.metrics.clone(),
        operator: running,
    };
    PullFleet { test, agent, stats }
}

/// [`start`], with FederatedConfigMap demo/cm on both members (in the pull member too).
async fn start_with_configmap() -> (PullFleet, Client) {
    with_configmap(start().await).await
}

async fn with_configmap(f: PullFleet) -> (PullFleet, Client) {
    let c2 = f.test.client("cluster2");
    f.test.federate_namespace("demo").await;
    create(
        &f.test.host_client,
        &fcm(),
        Some("demo"),
        federated_configmap("demo", "cm", json!({"clusterSelector": {}})),
    )
    .await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("v"),
        "propagated to the pull member",
    )
    .await;
    (f, c2)
}

/// Merge-patches `ns/name` of type `ar`.
async fn merge(client: &Client, ar: &kube::core::ApiResource, ns: &str, name: &str, patch: Value) {
    Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), ns, ar)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn configmap_data(client: &Client, ns: &str, name: &str) -> Option<Value> {
    get(client, &configmaps(), Some(ns), name)
        .await
        .map(|cm| cm.data["data"]["k"].clone())
}

async fn wait_data(client: &Client, ns: &str, name: &str, want: Option<&str>, what: &str) {
    eventually(what, WAIT, || async {
        let data = configmap_data(client, ns, name).await;
        (data.as_ref().and_then(Value::as_str) == want).then_some(())
    })
    .await;
}

fn works(f: &PullFleet) -> Api<MemberWork> {
    Api::namespaced(f.test.host_client.clone(), "kubefed-cluster-cluster2")
}

/// The federated object's status entry of a cluster, once it shows `status`.
async fn wait_cluster_status(f: &PullFleet, ns: &str, name: &str, cluster: &str, status: &str) {
    let host = f.test.host_client.clone();
    eventually(&format!("{cluster} shows {status:?}"), WAIT, || async {
        let obj = get(&host, &fcm(), Some(ns), name).await?;
        let clusters = obj.data["status"]["clusters"].as_array()?.clone();
        clusters
            .iter()
            .any(|c| c["name"] == cluster && c["status"].as_str().unwrap_or("") == status)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn mixed_fleet_propagates_overrides_placement_drift_and_deletion() {
    let f = start().await;
    let (c1, c2) = (f.test.client("cluster1"), f.test.client("cluster2"));
    f.test.federate_namespace("demo").await;
    let mut fed = federated_configmap("demo", "cm", json!({"clusterSelector": {}}));
    fed["spec"]["overrides"] = json!([{"clusterName": "cluster2",
        "clusterOverrides": [{"path": "/data/k", "value": "pulled"}]}]);
    create(&f.test.host_client, &fcm(), Some("demo"), fed).await;
    wait_data(&c1, "demo", "cm", Some("v"), "template in the push member").await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("pulled"),
        "override in the pull member",
    )
    .await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "").await;
    let cm = get(&c2, &configmaps(), Some("demo"), "cm").await.unwrap();
    assert_eq!(
        cm.metadata
            .labels
            .unwrap()
            .get("kubefed.io/managed")
            .map(String::as_str),
        Some("true")
    );

    // Drift in the pull member: its agent restores it and counts it.
    let patch = json!({"data": {"k": "edited"}});
    merge(&c2, &configmaps(), "demo", "cm", patch).await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("pulled"),
        "drift repaired by the agent",
    )
    .await;
    let api = works(&f);
    eventually("drift reported on the MemberWork", WAIT, || async {
        let w = api.get("configmaps.demo.cm").await.ok()?;
        (w.status?.drift_repairs >= 1).then_some(())
    })
    .await;
    // The report alone (nothing else changed) brings the push path's DriftRepaired warning.
    let event = wait_event(&f.test.host_client, "demo", "DriftRepaired event", |e| {
        e.data["reason"] == "DriftRepaired" && e.data["regarding"]["name"] == "cm"
    })
    .await;
    assert_eq!(event.data["type"], "Warning", "{event:?}");
    let note = event.data["note"].as_str().unwrap_or_default();
    assert!(note.contains("cluster2"), "names the pull member: {note}");

    // Placement change: off the pull member (MemberWork and member object go).
    let placement = json!({"spec": {"placement": {"clusters": [{"name": "cluster1"}]}}});
    merge(&f.test.host_client, &fcm(), "demo", "cm", placement).await;
    wait_data(&c2, "demo", "cm", None, "removed from the pull member").await;
    eventually("MemberWork gone", WAIT, || async {
        api.get_opt("configmaps.demo.cm")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(configmap_data(&c1, "demo", "cm").await, Some(json!("v")));

    // Back on both, then deleted: gone everywhere, and the federated object with them.
    let placement =
        json!({"spec": {"placement": {"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]}}});
    merge(&f.test.host_client, &fcm(), "demo", "cm", placement).await;
    wait_data(&c2, "demo", "cm", Some("pulled"), "back in the pull member").await;
    Api::<kube::api::DynamicObject>::namespaced_with(f.test.host_client.clone(), "demo", &fcm())
        .delete("cm", &DeleteParams::default())
        .await
        .unwrap();
    wait_data(&c1, "demo", "cm", None, "deleted in the push member").await;
    wait_data(&c2, "demo", "cm", None, "deleted in the pull member").await;
    let host = f.test.host_client.clone();
    eventually("federated object released", WAIT, || async {
        get(&host, &fcm(), Some("demo"), "cm")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert!(f.stats.get().deletes >= 2);

    // Orphaning: the member objects stay, without the managed label.
    let mut kept = federated_configmap("demo", "kept", json!({"clusterSelector": {}}));
    kept["metadata"]["annotations"] = json!({"kubefed.io/orphan": "true"});
    create(&f.test.host_client, &fcm(), Some("demo"), kept).await;
    wait_data(&c2, "demo", "kept", Some("v"), "orphaned object propagated").await;
    Api::<kube::api::DynamicObject>::namespaced_with(f.test.host_client.clone(), "demo", &fcm())
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    eventually("orphaned in the pull member", WAIT, || async {
        let cm = get(&c2, &configmaps(), Some("demo"), "kept").await?;
        let labels = cm.metadata.labels.unwrap_or_default();
        (!labels.contains_key("kubefed.io/managed")).then_some(())
    })
    .await;
    let host = f.test.host_client.clone();
    eventually("orphaned federated object released", WAIT, || async {
        get(&host, &fcm(), Some("demo"), "kept")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(configmap_data(&c1, "demo", "kept").await, Some(json!("v")));
}

#[tokio::test]
async fn host_frozen_agent_keeps_and_repairs_then_reconverges() {
    let (f, c2) = start_with_configmap().await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "").await;

    let host = f.test.fleet.host();
    host.faults().apply(&FaultSpec::Freeze);
    // Drift while the host is frozen: repaired from the last known MemberWork.
    let repairs = f.stats.get().drift_repairs;
    let patch = json!({"data": {"k": "edited"}});
    merge(&c2, &configmaps(), "demo", "cm", patch).await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("v"),
        "drift repaired with the host frozen",
    )
    .await;
    assert!(f.stats.get().drift_repairs > repairs);
    // Several more passes (each a heartbeat or a retry) leave the member object in place.
    let passes = f.stats.get().passes;
    let stats = f.stats.clone();
    eventually("the agent keeps running passes", WAIT, || async {
        (stats.get().passes >= passes + 2).then_some(())
    })
    .await;
    assert_eq!(configmap_data(&c2, "demo", "cm").await, Some(json!("v")));
    assert!(
        f.stats.get().host_failures > 0,
        "the host was not reachable"
    );

    // The host returns: a change made on it reaches the pull member.
    host.faults().apply(&FaultSpec::Thaw);
    let template = json!({"spec": {"template": {"data": {"k": "after"}}}});
    merge(&f.test.host_client, &fcm(), "demo", "cm", template).await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("after"),
        "reconverged after the thaw",
    )
    .await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "").await;
}

/// The acceptance case: the host away for a whole minute. The member object stays as it was
/// (same uid and resourceVersion, nothing deleted), drift made during the outage is repaired
/// from the last known MemberWork, and within one heartbeat of the host's return the agent's
/// report of that repair is on the host; a change made on the host then reaches the member.
#[tokio::test]
async fn host_away_for_a_minute_then_reconverged_within_one_heartbeat() {
    const HEARTBEAT: Duration = Duration::from_secs(2);
    const OUTAGE: Duration = Duration::from_secs(60);
    // Scheduling and one round trip on a shared test machine.
    const MARGIN: Duration = Duration::from_secs(1);
    let (f, c2) = with_configmap(start_with(HEARTBEAT, Duration::from_secs(1)).await).await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "").await;
    let works = works(&f);
    let work = "configmaps.demo.cm";
    let reported = |w: MemberWork| w.status.map_or(0, |s| s.drift_repairs);
    let reported_before = reported(works.get(work).await.unwrap());
    let before = f.stats.get();

    let host = f.test.fleet.host();
    host.faults().apply(&FaultSpec::Freeze);
    let frozen = tokio::time::Instant::now();
    let stats = f.stats.clone();
    eventually("the agent finds the host away", WAIT, || async {
        (stats.get().host_failures > before.host_failures).then_some(())
    })
    .await;
    // Halfway through, with the agent's retries backed off: drift, repaired from the last
    // known MemberWork.
    tokio::time::sleep_until(frozen + OUTAGE / 2).await;
    let patch = json!({"data": {"k": "edited"}});
    merge(&c2, &configmaps(), "demo", "cm", patch).await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("v"),
        "drift repaired with the host away",
    )
    .await;
    assert_eq!(f.stats.get().drift_repairs, before.drift_repairs + 1);
    let repaired = get(&c2, &configmaps(), Some("demo"), "cm").await.unwrap();
    // The rest of the minute leaves the member object alone.
    tokio::time::sleep_until(frozen + OUTAGE).await;
    let kept = get(&c2, &configmaps(), Some("demo"), "cm").await.unwrap();
    assert_eq!(kept.metadata.uid, repaired.metadata.uid);
    assert_eq!(
        kept.metadata.resource_version, repaired.metadata.resource_version,
        "the member object was written after the repair"
    );
    let during = f.stats.get();
    assert_eq!(
        during.deletes, before.deletes,
        "the agent deleted with the host away"
    );
    assert!(
        during.passes > before.passes,
        "the agent ran no pass with the host away"
    );

    // The host returns: within one heartbeat the agent's report of the repair is there.
    host.faults().apply(&FaultSpec::Thaw);
    let thawed = tokio::time::Instant::now();
    let deadline = HEARTBEAT + MARGIN;
    let works_api = works.clone();
    eventually(
        "the outage's repair reported on the host",
        deadline,
        || async {
            let w = works_api.get(work).await.ok()?;
            (reported(w) == reported_before + 1).then_some(())
        },
    )
    .await;
    assert!(
        thawed.elapsed() <= deadline,
        "reconverged after {:?}",
        thawed.elapsed()
    );
    // A change made on the host reaches the pull member and its status comes back.
    let template = json!({"spec": {"template": {"data": {"k": "after"}}}});
    merge(&f.test.host_client, &fcm(), "demo", "cm", template).await;
    wait_data(
        &c2,
        "demo",
        "cm",
        Some("after"),
        "host change after the return",
    )
    .await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "").await;
}

#[tokio::test]
async fn agent_gone_makes_the_pull_member_offline_and_keeps_its_objects() {
    let (f, c2) = start_with_configmap().await;
    f.agent.abort();
    let pool = f.test.pool.clone();
    eventually("cluster2 offline without heartbeat", WAIT, || async {
        pool.snapshot()
            .get("cluster2")
            .filter(|m| !m.is_ready())
            .map(|_| ())
    })
    .await;
    let clusters: Api<kubefed::crds::KubeFedCluster> =
        Api::namespaced(f.test.host_client.clone(), NS);
    eventually("KubeFedCluster Offline", WAIT, || async {
        let c = clusters.get("cluster2").await.ok()?;
        let offline = c
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Offline")?;
        (offline.status == "True").then_some(())
    })
    .await;
    wait_cluster_status(&f, "demo", "cm", "cluster2", "ClusterNotReady").await;
    assert_eq!(configmap_data(&c2, "demo", "cm").await, Some(json!("v")));
}

/// Two pull members' host sides and the first one's agent credential, with no operator.
async fn scoped() -> (Fleet, Client) {
    let fleet = Fleet::start(FleetConfig::with_members(0)).await.unwrap();
    let host = fleet.host().client();
    prepare_host(&host, |_| {}).await;
    ensure_host_side(&host, &side("other"), BTreeMap::new())
        .await
        .unwrap();
    let agent = agent_host_client(&fleet, "mine").await;
    // What it may do works: read its MemberWorks and create its Lease.
    let own: Api<MemberWork> = Api::namespaced(agent.clone(), "kubefed-cluster-mine");
    own.list(&ListParams::default()).await.unwrap();
    (fleet, agent)
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn agent_credential_cannot_read_another_clusters_member_works() {
    let (_fleet, agent) = scoped().await;
    let theirs: Api<MemberWork> = Api::namespaced(agent.clone(), "kubefed-cluster-other");
    forbidden(theirs.list(&ListParams::default()).await, "list");
    forbidden(theirs.get("configmaps.demo.cm").await, "get");
    let all: Api<MemberWork> = Api::all(agent);
    forbidden(
        all.list(&ListParams::default()).await,
        "list across namespaces",
    );
}

#[tokio::test]
async fn agent_credential_cannot_read_secrets() {
    let (_fleet, agent) = scoped().await;
    for ns in [NS, "kubefed-cluster-mine"] {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(agent.clone(), ns);
        forbidden(secrets.list(&ListParams::default()).await, ns);
    }
}

#[tokio::test]
async fn agent_credential_cannot_read_federated_objects() {
    let (fleet, agent) = scoped().await;
    let host = fleet.host().client();
    create_namespace(&host, "demo").await;
    create(
        &host,
        &fcm(),
        Some("demo"),
        federated_configmap("demo", "cm", json!({"clusters": [{"name": "mine"}]})),
    )
    .await;
    let fed: Api<kube::api::DynamicObject> = Api::namespaced_with(agent.clone(), "demo", &fcm());
    forbidden(fed.get("cm").await, "get a federated object placed on it");
    let clusters: Api<kubefed::crds::KubeFedCluster> = Api::namespaced(agent, NS);
    forbidden(
        clusters.list(&ListParams::default()).await,
        "KubeFedClusters",
    );
}

#[tokio::test]
async fn agent_credential_cannot_write_cluster_scoped_objects() {
    let (_fleet, agent) = scoped().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(agent.clone());
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "sneaky"}})).unwrap();
    forbidden(
        namespaces.create(&PostParams::default(), &ns).await,
        "create Namespace",
    );
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(agent);
    let role: k8s_openapi::api::rbac::v1::ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": "sneaky"}, "rules": []})).unwrap();
    forbidden(
        roles.create(&PostParams::default(), &role).await,
        "create ClusterRole",
    );
}

/// A type the pull member does not serve: its agent writes nothing and reports why, the
/// federated object's status shows it as for a push member, and installing the CRD on the
/// member converges it without a restart.
#[tokio::test]
async fn a_type_the_pull_member_does_not_serve_is_reported_then_converges_once_served() {
    let f = start().await;
    let (host, c2) = (f.test.host_client.clone(), f.test.client("cluster2"));
    f.test.federate_namespace("served").await;
    let target = custom_target("Gadget", "gadgets");
    create(&host, &crds(), None, custom_crd(&target)).await;
    create(
        &f.test.client("cluster1"),
        &crds(),
        None,
        custom_crd(&target),
    )
    .await;
    enable_type(&host, &target).await;
    let fg = federated("FederatedGadget", "federatedgadgets");
    create(
        &host,
        &fg,
        Some("served"),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedGadget",
               "metadata": {"name": "g", "namespace": "served"},
               "spec": {"template": {"spec": {"n": 1}}, "placement": {"clusterSelector": {}}}}),
    )
    .await;
    let entry = |status: &'static str| {
        let (host, fg) = (host.clone(), fg.clone());
        async move {
            eventually(
                &format!("cluster2 {status:?}"),
                Duration::from_secs(45),
                || async {
                    let obj = get(&host, &fg, Some("served"), "g").await?;
                    let clusters = obj.data["status"]["clusters"].as_array()?.clone();
                    clusters.into_iter().find(|c| {
                        c["name"] == "cluster2" && c["status"].as_str().unwrap_or("") == status
                    })
                },
            )
            .await
        }
    };
    let failed = entry("CachedRetrievalFailed").await;
    assert_eq!(
        failed["message"],
        "cannot watch gadgets.example.com in cluster2: not served (not in the cluster's discovery)"
    );

    create(&c2, &crds(), None, custom_crd(&target)).await;
    entry("").await;
    let gadgets = dynamic("example.com", "v1", "Gadget", "gadgets");
    let gadget = get(&c2, &gadgets, Some("served"), "g")
        .await
        .expect("gadget in the pull member");
    assert_eq!(gadget.data["spec"]["n"], 1);
}

/// A MemberWork that goes without its agent's release (its finalizer removed by hand) leaves
/// no state behind in the agent.
#[tokio::test]
async fn a_member_work_gone_without_its_release_leaves_no_agent_state() {
    let (f, _c2) = start_with_configmap().await;
    let stats = f.stats.clone();
    // The namespace's MemberWork and the config map's.
    eventually("agent state for both MemberWorks", WAIT, || async {
        (stats.get().remembered == 2).then_some(())
    })
    .await;
    let api = works(&f);
    api.patch(
        "configmaps.demo.cm",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    Api::<kube::api::DynamicObject>::namespaced_with(f.test.host_client.clone(), "demo", &fcm())
        .delete("cm", &DeleteParams::default())
        .await
        .unwrap();
    eventually("MemberWork gone", WAIT, || async {
        api.get_opt("configmaps.demo.cm")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    eventually(
        "agent state only for the namespace's MemberWork",
        WAIT,
        || async { (stats.get().remembered == 1).then_some(()) },
    )
    .await;
}

/// A change of one federated object makes the agent handle that object's MemberWork, not
/// every MemberWork its cluster holds.
#[tokio::test]
async fn the_agent_handles_only_the_member_works_a_change_concerns() {
    let (f, c2) = start_with_configmap().await;
    const MORE: usize = 20;
    for i in 0..MORE {
        let obj = federated_configmap("demo", &format!("cm{i}"), json!({"clusterSelector": {}}));
        create(&f.test.host_client, &fcm(), Some("demo"), obj).await;
    }
    for i in 0..MORE {
        wait_data(&c2, "demo", &format!("cm{i}"), Some("v"), "propagated").await;
    }
    let api = works(&f);
    eventually("every MemberWork reported", WAIT, || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        (list.items.len() == MORE + 2
            && list.items.iter().all(|w| {
                w.status.as_ref().and_then(|s| s.observed_generation) == w.metadata.generation
            }))
        .then_some(())
    })
    .await;
    let before = f.stats.get();
    let template = json!({"spec": {"template": {"data": {"k": "changed"}}}});
    merge(&f.test.host_client, &fcm(), "demo", "cm3", template).await;
    wait_data(
        &c2,
        "demo",
        "cm3",
        Some("changed"),
        "the change reached the member",
    )
    .await;
    eventually("the change reported", WAIT, || async {
        let w = api.get("configmaps.demo.cm3").await.ok()?;
        (w.status?.observed_generation == w.metadata.generation).then_some(())
    })
    .await;
    let after = f.stats.get();
    let handled = after.handled - before.handled;
    assert!(after.passes > before.passes, "{before:?} {after:?}");
    // Fewer than one pass over all of them (a pass over all would handle MORE + 2).
    assert!(
        handled < MORE as u64,
        "{handled} MemberWorks handled in {} passes, of {} MemberWorks",
        after.passes - before.passes,
        MORE + 2
    );
}

fn fdeploy() -> kube::core::ApiResource {
    federated("FederatedDeployment", "federateddeployments")
}

/// A FederatedDeployment propagating its dependencies: ConfigMap `settings` (envFrom).
fn workload(name: &str, clusters: &[&str]) -> Value {
    json!({
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": name, "namespace": "demo",
            "annotations": {"kubefed.io/propagate-dependencies": "true"}},
        "spec": {
            "template": {"spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                        "envFrom": [{"configMapRef": {"name": "settings"}}]}]}
                }
            }},
            "placement": {"clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}
        }
    })
}

/// The `dependency-of.kubefed.io/…` labels of `configmaps/settings` in `client`'s cluster,
/// `None` when it is not there.
/// [`start`], with the namespace demo federated and the host ConfigMap demo/settings
/// (`data.k`) that the workloads of these tests reference.
async fn with_settings(data: &str) -> (PullFleet, Client) {
    let f = start().await;
    let host = f.test.host_client.clone();
    f.test.federate_namespace("demo").await;
    create(
        &host,
        &configmaps(),
        Some("demo"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "demo"}, "data": {"k": data}}),
    )
    .await;
    (f, host)
}

async fn settings_dependents(client: &Client) -> Option<Vec<String>> {
    let cm = get(client, &configmaps(), Some("demo"), "settings").await?;
    Some(
        cm.metadata
            .labels
            .unwrap_or_default()
            .into_keys()
            .filter_map(|k| {
                k.strip_prefix("dependency-of.kubefed.io/")
                    .map(str::to_string)
            })
            .collect(),
    )
}

async fn wait_dependents(client: &Client, want: Option<&[&str]>, what: &str) {
    let want: Option<Vec<String>> = want.map(|w| w.iter().map(|s| s.to_string()).collect());
    eventually(what, WAIT, || async {
        (settings_dependents(client).await == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dependencies_follow_workloads_into_the_pull_member_and_leave_with_them() {
    let (f, host) = with_settings("one").await;
    let (c1, c2) = (f.test.client("cluster1"), f.test.client("cluster2"));
    create(
        &host,
        &fdeploy(),
        Some("demo"),
        workload("web", &["cluster1", "cluster2"]),
    )
    .await;
    create(
        &host,
        &fdeploy(),
        Some("demo"),
        workload("api", &["cluster2"]),
    )
    .await;

    // One copy in the pull member, applied by its agent, labelled for both workloads.
    wait_dependents(
        &c2,
        Some(&["deployment.api", "deployment.web"]),
        "shared copy in the pull member",
    )
    .await;
    wait_dependents(&c1, Some(&["deployment.web"]), "copy in the push member").await;
    let cm = get(&c2, &configmaps(), Some("demo"), "settings")
        .await
        .unwrap();
    let labels = cm.metadata.labels.unwrap_or_default();
    assert_eq!(labels["kubefed.io/managed"], "true");
    assert_eq!(labels["kubefed.io/dependency"], "true");
    let work_name = "configmaps.dependencies.kubefed.io.demo.settings";
    let work = works(&f).get(work_name).await.unwrap();
    assert_eq!(work.spec.manifest["data"]["k"], "one");
    let api = Api::<kube::api::DynamicObject>::namespaced_with(host.clone(), "demo", &fdeploy());
    eventually("Dependencies True on web", WAIT, || async {
        let web = api.get("web").await.ok()?;
        let conditions = web.data["status"]["conditions"].as_array()?.clone();
        conditions
            .iter()
            .any(|c| {
                c["type"] == "Dependencies"
                    && c["status"] == "True"
                    && c["message"] == "propagated with the workload: ConfigMap settings"
            })
            .then_some(())
    })
    .await;

    // A change on the host reaches the pull member's copy too.
    merge(
        &host,
        &configmaps(),
        "demo",
        "settings",
        json!({"data": {"k": "two"}}),
    )
    .await;
    wait_data(
        &c2,
        "demo",
        "settings",
        Some("two"),
        "new data in the pull member",
    )
    .await;
    wait_data(
        &c1,
        "demo",
        "settings",
        Some("two"),
        "new data in the push member",
    )
    .await;

    // web leaves the pull member: its label goes there, the copy stays for api.
    merge(
        &host,
        &fdeploy(),
        "demo",
        "web",
        json!({"spec": {"placement": {"clusters": [{"name": "cluster1"}]}}}),
    )
    .await;
    wait_dependents(&c2, Some(&["deployment.api"]), "web's label released").await;

    // api is deleted: the last copy goes with its MemberWork, then api's finalizer.
    api.delete("api", &DeleteParams::default()).await.unwrap();
    wait_dependents(&c2, None, "copy deleted in the pull member").await;
    eventually("dependency MemberWork gone", WAIT, || async {
        works(&f)
            .get_opt(work_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    eventually("api released", WAIT, || async {
        api.get_opt("api").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        settings_dependents(&c1).await,
        Some(vec!["deployment.web".to_string()]),
        "the push member's copy is web's"
    );
    assert!(
        get(&host, &configmaps(), Some("demo"), "settings")
            .await
            .is_some()
    );
    assert!(f.stats.get().deletes >= 1);

    // Orphaning deletion: the pull member keeps the last copy, without the operator's labels.
    let mut kept = workload("kept", &["cluster2"]);
    kept["metadata"]["annotations"]["kubefed.io/orphan"] = json!("true");
    create(&host, &fdeploy(), Some("demo"), kept).await;
    wait_dependents(
        &c2,
        Some(&["deployment.kept"]),
        "copy for the orphaning workload",
    )
    .await;
    api.delete("kept", &DeleteParams::default()).await.unwrap();
    eventually("kept released", WAIT, || async {
        api.get_opt("kept").await.ok()?.is_none().then_some(())
    })
    .await;
    eventually("copy orphaned in the pull member", WAIT, || async {
        let cm = get(&c2, &configmaps(), Some("demo"), "settings").await?;
        let labels = cm.metadata.labels.unwrap_or_default();
        let operators = labels
            .keys()
            .any(|k| k.starts_with("kubefed.io/") || k.starts_with("dependency-of.kubefed.io/"));
        (!operators).then_some(())
    })
    .await;
    eventually("its MemberWork gone", WAIT, || async {
        works(&f)
            .get_opt(work_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        configmap_data(&c2, "demo", "settings").await,
        Some(json!("two"))
    );
}

#[tokio::test]
async fn a_dependency_federated_explicitly_leaves_the_pull_members_copy_to_its_own_object() {
    let (f, host) = with_settings("host").await;
    let c2 = f.test.client("cluster2");
    create(
        &host,
        &fdeploy(),
        Some("demo"),
        workload("web", &["cluster2"]),
    )
    .await;
    wait_data(
        &c2,
        "demo",
        "settings",
        Some("host"),
        "the dependency's copy",
    )
    .await;
    let work_name = "configmaps.dependencies.kubefed.io.demo.settings";
    assert!(works(&f).get_opt(work_name).await.unwrap().is_some());
    let deletes = f.stats.get().deletes;

    // Federated explicitly while web still references it: its own object decides.
    create(
        &host,
        &fcm(),
        Some("demo"),
        federated_configmap(
            "demo",
            "settings",
            json!({"clusters": [{"name": "cluster2"}]}),
        ),
    )
    .await;
    eventually("the dependency MemberWork gone", WAIT, || async {
        works(&f)
            .get_opt(work_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    wait_data(&c2, "demo", "settings", Some("v"), "the federated template").await;
    wait_cluster_status(&f, "demo", "settings", "cluster2", "").await;
    assert_eq!(f.stats.get().deletes, deletes, "the copy was never deleted");
    assert!(
        works(&f)
            .get_opt("configmaps.demo.settings")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn workloads_sharing_a_dependency_in_the_pull_member_all_keep_their_labels() {
    let (f, host) = with_settings("one").await;
    let c2 = f.test.client("cluster2");
    // Created at once, so their writes of the one MemberWork race.
    let names: Vec<String> = (0..6).map(|i| format!("w{i}")).collect();
    futures::future::join_all(names.iter().map(|name| {
        let host = host.clone();
        async move {
            create(
                &host,
                &fdeploy(),
                Some("demo"),
                workload(name, &["cluster2"]),
            )
            .await;
        }
    }))
    .await;
    let labels: Vec<String> = names.iter().map(|n| format!("deployment.{n}")).collect();
    let all: Vec<&str> = labels.iter().map(String::as_str).collect();
    wait_dependents(&c2, Some(&all), "every workload's label on the one copy").await;

    // Half of them go at once: only their labels go.
    let api = Api::<kube::api::DynamicObject>::namespaced_with(host.clone(), "demo", &fdeploy());
    futures::future::join_all(names[..3].iter().map(|name| {
        let api = api.clone();
        async move { api.delete(name, &DeleteParams::default()).await.unwrap() }
    }))
    .await;
    wait_dependents(&c2, Some(&all[3..]), "the others' labels kept").await;
    let work = works(&f)
        .get("configmaps.dependencies.kubefed.io.demo.settings")
        .await
        .unwrap();
    let kept: Vec<&String> = work.spec.manifest["metadata"]["labels"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("dependency-of.kubefed.io/"))
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
}
