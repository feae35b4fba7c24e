//! Table tests of which dependency objects each cluster gets.

use super::*;
use crate::core::dependencies::pull::work_manifest;
use crate::core::dependencies::{DEPENDENCY_LABEL, dependent_label};
use crate::core::observation::{
    FederatedObject, MemberView, NamespaceObservation, StatusCollection,
};
use crate::core::plan::{TargetInfo, plan as plan_workload};
use crate::core::test_support::member_view;
use crate::crds::Scope;
use crate::crds::federated::{AggregateKind, MANAGED_LABEL};
use serde_json::json;

const NS: &str = "demo";

fn web_label() -> String {
    dependent_label("Deployment", "web")
}

fn cm(name: &str) -> DependencyRef {
    DependencyRef {
        kind: DependencyKind::ConfigMap,
        name: name.into(),
    }
}

fn secret(name: &str) -> DependencyRef {
    DependencyRef {
        kind: DependencyKind::Secret,
        name: name.into(),
    }
}

fn host_cm(name: &str, value: &str) -> HostDependency {
    HostDependency::Found(Arc::new(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS}, "data": {"k": value}
    })))
}

/// The member copy of `dep` as the operator applied it for the workloads `labels`.
fn member_copy(dep: &DependencyRef, value: &str, labels: &[String]) -> Arc<MemberObject> {
    let HostDependency::Found(source) = host_cm(&dep.name, value) else {
        unreachable!()
    };
    let mut object = dependency_object(dep, &source, NS, &web_label())
        .unwrap()
        .object;
    let all = object["metadata"]["labels"].as_object_mut().unwrap();
    all.retain(|k, _| !k.starts_with(crate::core::dependencies::DEPENDENT_LABEL_PREFIX));
    for label in labels {
        all.insert(label.clone(), json!("true"));
    }
    Arc::new(MemberObject::from_object(
        &object,
        StatusCollection {
            collect: false,
            kind: AggregateKind::Other,
        },
    ))
}

fn synced_member(objects: Vec<(DependencyRef, Arc<MemberObject>)>) -> MemberDependencies {
    MemberDependencies {
        writable: true,
        pull: false,
        caches: DependencyKind::ALL
            .iter()
            .map(|k| (*k, CacheState::Synced))
            .collect(),
        objects: objects.into_iter().collect(),
        works: BTreeMap::new(),
    }
}

fn input(
    wanted: Vec<(&str, Wanted)>,
    host: Vec<(DependencyRef, HostDependency)>,
    members: Vec<(&str, MemberDependencies)>,
) -> DependencyInput {
    DependencyInput {
        namespace: NS.into(),
        label: web_label(),
        orphan: false,
        wanted: wanted
            .into_iter()
            .map(|(c, w)| (c.to_string(), w))
            .collect(),
        host: Some(host.into_iter().collect()),
        members: members
            .into_iter()
            .map(|(c, m)| (c.to_string(), m))
            .collect(),
    }
}

fn needs(refs: &[(DependencyRef, bool)]) -> Wanted {
    Wanted::Known(refs.iter().cloned().collect())
}

fn actions(p: &DependencyPlan) -> Vec<(String, String, String)> {
    p.steps
        .iter()
        .map(|s| {
            let action = match &s.action {
                DependencyAction::Create(_) => "create".to_string(),
                DependencyAction::Update(_) => "update".to_string(),
                DependencyAction::Release(w) => format!("release ({w:?})"),
            };
            (s.cluster.clone(), s.dependency.to_string(), action)
        })
        .collect()
}

fn row(cluster: &str, dep: &str, action: &str) -> (String, String, String) {
    (cluster.into(), dep.into(), action.into())
}

#[test]
fn created_where_needed_and_missing_updated_where_different() {
    let p = plan(&input(
        vec![
            ("c1", needs(&[(cm("settings"), true)])),
            ("c2", needs(&[(cm("settings"), true)])),
            ("c3", needs(&[(cm("settings"), true)])),
        ],
        vec![(cm("settings"), host_cm("settings", "v2"))],
        vec![
            ("c1", synced_member(vec![])),
            (
                "c2",
                synced_member(vec![(
                    cm("settings"),
                    member_copy(&cm("settings"), "v1", &[web_label()]),
                )]),
            ),
            (
                "c3",
                synced_member(vec![(
                    cm("settings"),
                    member_copy(&cm("settings"), "v2", &[web_label()]),
                )]),
            ),
        ],
    ));
    assert_eq!(
        actions(&p),
        [
            row("c1", "ConfigMap settings", "create"),
            row("c2", "ConfigMap settings", "update"),
        ]
    );
    let DependencyAction::Create(desired) = &p.steps[0].action else {
        panic!()
    };
    assert_eq!(desired.object["data"]["k"], "v2");
    assert_eq!(
        desired.object["metadata"]["labels"][DEPENDENCY_LABEL],
        "true"
    );
    assert_eq!(desired.object["metadata"]["labels"][MANAGED_LABEL], "true");
    assert_eq!(
        desired.object["metadata"]["labels"][web_label().as_str()],
        "true"
    );
    assert!(p.missing.is_empty() && p.problems.is_empty() && !p.waiting);
    assert_eq!(condition(&p, &[]).map(|c| c.1), Some("Propagated"));
}

#[test]
fn a_copy_shared_with_another_workload_gets_this_workloads_label_added() {
    let job = dependent_label("Job", "seed");
    let p = plan(&input(
        vec![("c1", needs(&[(cm("settings"), true)]))],
        vec![(cm("settings"), host_cm("settings", "v"))],
        vec![(
            "c1",
            synced_member(vec![(
                cm("settings"),
                member_copy(&cm("settings"), "v", &[job]),
            )]),
        )],
    ));
    assert_eq!(actions(&p), [row("c1", "ConfigMap settings", "update")]);
}

#[test]
fn released_when_no_longer_needed_deleted_only_by_the_last() {
    let job = dependent_label("Job", "seed");
    let p = plan(&input(
        vec![("c1", needs(&[])), ("c2", needs(&[]))],
        vec![],
        vec![
            // Only this workload: released, then deleted.
            (
                "c1",
                synced_member(vec![(
                    cm("settings"),
                    member_copy(&cm("settings"), "v", &[web_label()]),
                )]),
            ),
            // Shared with a Job, and one of the Job's own: the label goes, the object stays.
            (
                "c2",
                synced_member(vec![
                    (
                        cm("settings"),
                        member_copy(&cm("settings"), "v", &[web_label(), job.clone()]),
                    ),
                    (cm("jobs-only"), member_copy(&cm("jobs-only"), "v", &[job])),
                ]),
            ),
        ],
    ));
    assert_eq!(
        actions(&p),
        [
            row("c1", "ConfigMap settings", "release (Delete)"),
            row("c2", "ConfigMap settings", "release (Delete)"),
        ]
    );
    // What "last" means is decided by the labels left after the release, in the member.
}

#[test]
fn a_copy_without_any_workload_label_is_cleaned_up() {
    let p = plan(&input(
        vec![("c1", needs(&[]))],
        vec![],
        vec![(
            "c1",
            synced_member(vec![(cm("stray"), member_copy(&cm("stray"), "v", &[]))]),
        )],
    ));
    assert_eq!(
        actions(&p),
        [row("c1", "ConfigMap stray", "release (Delete)")]
    );
}

#[test]
fn missing_on_the_host_is_reported_and_member_copies_are_kept() {
    let p = plan(&input(
        vec![
            (
                "c1",
                needs(&[(cm("settings"), true), (secret("maybe"), false)]),
            ),
            ("c2", needs(&[(cm("settings"), true)])),
        ],
        vec![(cm("settings"), HostDependency::Missing)],
        vec![
            ("c1", synced_member(vec![])),
            (
                "c2",
                synced_member(vec![(
                    cm("settings"),
                    member_copy(&cm("settings"), "old", &[web_label()]),
                )]),
            ),
        ],
    ));
    assert!(p.steps.is_empty(), "{:?}", actions(&p));
    assert_eq!(
        p.missing,
        BTreeMap::from([(
            cm("settings"),
            BTreeSet::from(["c1".to_string(), "c2".to_string()])
        )])
    );
    let (holds, reason, message) = condition(&p, &[]).unwrap();
    assert!(!holds);
    assert_eq!(reason, "DependencyMissing");
    assert_eq!(
        message,
        "not in the host namespace: ConfigMap settings (needed in c1, c2)"
    );
}

#[test]
fn a_dependency_federated_explicitly_is_left_to_its_own_object() {
    let p = plan(&input(
        vec![("c1", needs(&[(cm("shared"), true)])), ("c2", needs(&[]))],
        vec![(cm("shared"), HostDependency::Federated)],
        vec![
            ("c1", synced_member(vec![])),
            (
                "c2",
                synced_member(vec![(
                    cm("shared"),
                    member_copy(&cm("shared"), "v", &[web_label()]),
                )]),
            ),
        ],
    ));
    // Not created; where this workload held it, its label goes but the object stays.
    assert_eq!(
        actions(&p),
        [row("c2", "ConfigMap shared", "release (Keep)")]
    );
    assert!(p.missing.is_empty());
}

#[test]
fn unknown_or_unwritable_clusters_are_left_alone_and_hold_a_deletion() {
    let held = synced_member(vec![(
        cm("settings"),
        member_copy(&cm("settings"), "v", &[web_label()]),
    )]);
    let mut unwritable = held.clone();
    unwritable.writable = false;
    let p = plan(&input(
        vec![
            ("c1", Wanted::Unknown),
            ("c2", needs(&[])),
            ("c3", needs(&[])),
        ],
        vec![],
        vec![
            ("c1", held.clone()),
            ("c2", unwritable),
            ("c3", synced_member(vec![])),
        ],
    ));
    assert!(p.steps.is_empty(), "{:?}", actions(&p));
    assert!(p.holds_deletion);
    // Nothing known anywhere: the condition says nothing new.
    let p = plan(&input(
        vec![("c1", Wanted::Unknown)],
        vec![],
        vec![("c1", synced_member(vec![]))],
    ));
    assert_eq!(condition(&p, &[]), None);
    assert_eq!(
        condition_change(true, false, &p, &[]),
        ConditionChange::Keep
    );
    assert_eq!(
        condition_change(false, false, &p, &[]),
        ConditionChange::Remove
    );
}

#[test]
fn caches_that_cannot_serve_a_kind_are_reported_and_loading_waits() {
    let mut forbidden = synced_member(vec![]);
    forbidden
        .caches
        .insert(DependencyKind::Secret, CacheState::Forbidden("no".into()));
    let mut syncing = synced_member(vec![]);
    syncing
        .caches
        .insert(DependencyKind::ConfigMap, CacheState::Syncing);
    let mut i = input(
        vec![
            ("c1", needs(&[(secret("tls"), true)])),
            ("c2", needs(&[(cm("settings"), true)])),
        ],
        vec![
            (
                secret("tls"),
                HostDependency::Found(Arc::new(json!({"type": "Opaque", "data": {}}))),
            ),
            (cm("settings"), host_cm("settings", "v")),
        ],
        vec![("c1", forbidden), ("c2", syncing)],
    );
    let p = plan(&i);
    assert!(p.steps.is_empty());
    assert!(p.waiting);
    assert_eq!(
        p.problems,
        BTreeSet::from(["cannot watch secrets in c1: forbidden: no".to_string()])
    );
    assert_eq!(
        condition(&p, &[]).map(|c| c.1),
        Some("DependenciesUnavailable")
    );
    // The host namespace still loading: nothing yet, and no condition change.
    i.host = None;
    i.members
        .get_mut("c1")
        .unwrap()
        .caches
        .insert(DependencyKind::Secret, CacheState::Synced);
    let p = plan(&i);
    assert!(p.steps.is_empty() && p.waiting && p.problems.is_empty());
    assert_eq!(condition(&p, &[]), None);
    // Nor is anything released: whether it is federated explicitly is not known yet.
    let mut releasing = input(
        vec![("c1", needs(&[]))],
        vec![],
        vec![(
            "c1",
            synced_member(vec![(
                cm("settings"),
                member_copy(&cm("settings"), "v", &[web_label()]),
            )]),
        )],
    );
    releasing.host = None;
    let p = plan(&releasing);
    assert!(p.steps.is_empty() && p.waiting);
}

#[test]
fn orphaning_leaves_the_last_copy_unlabelled() {
    let mut i = input(
        vec![("c1", needs(&[]))],
        vec![],
        vec![(
            "c1",
            synced_member(vec![(
                cm("settings"),
                member_copy(&cm("settings"), "v", &[web_label()]),
            )]),
        )],
    );
    i.orphan = true;
    assert_eq!(
        actions(&plan(&i)),
        [row("c1", "ConfigMap settings", "release (Orphan)")]
    );
}

#[test]
fn service_account_tokens_are_not_copied() {
    let token = HostDependency::Found(Arc::new(
        json!({"type": "kubernetes.io/service-account-token", "data": {}}),
    ));
    let p = plan(&input(
        vec![("c1", needs(&[(secret("sa-token"), true)]))],
        vec![(secret("sa-token"), token)],
        vec![("c1", synced_member(vec![]))],
    ));
    assert!(p.steps.is_empty());
    assert!(
        p.problems
            .iter()
            .next()
            .unwrap()
            .contains("service account token")
    );
}

fn settings() -> PlanSettings {
    PlanSettings {
        scope: Scope::Namespaced,
        federation_namespace: "kube-federation-system".into(),
        adopt_resources: true,
        target: TargetInfo {
            group: "apps".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            resource: "deployments.apps".into(),
            namespaced: true,
        },
        aggregate: AggregateKind::Replicated,
    }
}

fn workload(spec: Value, deleting: bool) -> FederatedObject {
    FederatedObject {
        namespace: Some(NS.into()),
        name: "web".into(),
        generation: 1,
        deleting,
        has_finalizer: true,
        annotations: BTreeMap::from([(
            "kubefed.io/propagate-dependencies".to_string(),
            "true".to_string(),
        )]),
        spec: serde_json::from_value(spec).map_err(|e| e.to_string()),
        status: None,
    }
}

fn observation(object: FederatedObject, members: Vec<(&str, MemberView)>) -> Observation {
    Observation {
        object,
        namespace: NamespaceObservation::NotNeeded,
        members: Some(
            members
                .into_iter()
                .map(|(n, m)| (n.to_string(), m))
                .collect(),
        ),
    }
}

fn web_spec() -> Value {
    json!({
        "template": {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                "envFrom": [{"configMapRef": {"name": "settings"}}]}]}}}},
        "placement": {"clusters": [{"name": "c1"}, {"name": "c2"}]},
        "overrides": [{"clusterName": "c2", "clusterOverrides": [{
            "path": "/spec/template/spec/containers/0/envFrom/0/configMapRef/name",
            "value": "settings-c2"}]}]
    })
}

#[test]
fn wanted_follows_placement_and_each_clusters_overrides() {
    use crate::core::observation::Reachability;
    let ready = |object: Option<Value>| member_view(&[], Reachability::Ready, object);
    let obs = observation(
        workload(web_spec(), false),
        vec![
            ("c1", ready(None)),
            ("c2", ready(None)),
            ("c3", ready(None)),
            (
                "c4",
                member_view(&[], Reachability::NotReady("down".into()), None),
            ),
        ],
    );
    let p = plan_workload(&obs, &settings());
    let w = wanted(&obs, &settings(), &p, true);
    assert_eq!(w["c1"], needs(&[(cm("settings"), true)]));
    assert_eq!(
        w["c2"],
        needs(&[(cm("settings-c2"), true)]),
        "after c2's override"
    );
    assert_eq!(w["c3"], needs(&[]), "not placed there");
    assert_eq!(w["c4"], Wanted::Unknown, "cannot be seen");
    // Opted out: nothing is needed anywhere it can be seen.
    let opted_out = wanted(&obs, &settings(), &p, false);
    assert!(
        ["c1", "c2", "c3"]
            .iter()
            .all(|c| opted_out[*c] == needs(&[]))
    );
    assert_eq!(opted_out["c4"], Wanted::Unknown);
}

#[test]
fn a_leaving_or_deleted_workload_keeps_its_dependencies_until_its_copy_is_gone() {
    use crate::core::observation::Reachability;
    let still_there = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": {MANAGED_LABEL: "true"}}});
    let obs = observation(
        workload(web_spec(), true),
        vec![
            (
                "c1",
                member_view(&[], Reachability::Ready, Some(still_there)),
            ),
            ("c2", member_view(&[], Reachability::Ready, None)),
        ],
    );
    let p = plan_workload(&obs, &settings());
    let w = wanted(&obs, &settings(), &p, true);
    assert_eq!(w["c1"], Wanted::Unknown);
    assert_eq!(w["c2"], needs(&[]));
    // An unreadable spec decides nothing.
    let mut broken = obs.clone();
    broken.object.deleting = false;
    broken.object.spec = Err("bad".into());
    let p = plan_workload(&broken, &settings());
    assert!(
        wanted(&broken, &settings(), &p, true)
            .values()
            .all(|w| *w == Wanted::Unknown)
    );
}

#[test]
fn the_condition_is_written_only_when_it_changes() {
    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:05:00Z";
    let set = ConditionChange::Set {
        holds: true,
        reason: "Propagated",
        message: "propagated with the workload: ConfigMap settings".into(),
    };
    let first = with_condition(None, None, &set, T0).expect("a new condition");
    let c = &first.conditions[0];
    assert_eq!(
        (c.type_.as_str(), c.status.as_str()),
        (DEPENDENCIES_CONDITION, "True")
    );
    // The same again (e.g. after a restart): nothing to write.
    assert_eq!(with_condition(Some(&first), None, &set, T1), None);
    assert_eq!(
        with_condition(Some(&first), None, &ConditionChange::Keep, T1),
        None
    );
    // A status the report wants to write carries the condition along.
    let mut next = first.clone();
    next.observed_generation = Some(2);
    let written = with_condition(Some(&first), Some(next), &set, T1).unwrap();
    assert_eq!(written.conditions, first.conditions, "timestamps kept");
    assert_eq!(written.observed_generation, Some(2));
    let removed = with_condition(Some(&first), None, &ConditionChange::Remove, T1).unwrap();
    assert!(removed.conditions.is_empty());
}

/// A pull member whose dependency MemberWorks hold `copies`, each for the workloads named.
fn pull_member(copies: Vec<(DependencyRef, &str, Vec<String>)>) -> MemberDependencies {
    let mut member = synced_member(vec![]);
    member.pull = true;
    for (dep, value, labels) in copies {
        let HostDependency::Found(source) = host_cm(&dep.name, value) else {
            unreachable!()
        };
        let desired = dependency_object(&dep, &source, NS, &web_label()).unwrap();
        let manifest = work_manifest(&desired.object, &labels.into_iter().collect());
        let copy = MemberObject::from_object(
            &manifest.object,
            StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
        );
        member.objects.insert(dep.clone(), Arc::new(copy));
        let work = MemberWork::new(
            &format!("configmaps.dependencies.kubefed.io.{NS}.{}", dep.name),
            crate::crds::member_work::MemberWorkSpec {
                cluster: "c".into(),
                manifest: manifest.object,
                ..Default::default()
            },
        );
        member.works.insert(dep, Arc::new(work));
    }
    member
}

#[test]
fn pull_members_get_whole_manifests_with_every_workloads_label() {
    let job = dependent_label("Job", "seed");
    let both = vec![web_label(), job.clone()];
    let settings = || vec![(cm("settings"), true)];
    let p = plan(&input(
        vec![
            ("c1", needs(&settings())),
            ("c2", needs(&settings())),
            ("c3", needs(&settings())),
            ("c4", needs(&settings())),
            ("c5", needs(&[])),
            ("c6", needs(&[])),
        ],
        vec![(cm("settings"), host_cm("settings", "v"))],
        vec![
            // (cluster, what its MemberWorks hold) → expected below
            ("c1", pull_member(vec![])),
            (
                "c2",
                pull_member(vec![(cm("settings"), "v", vec![job.clone()])]),
            ),
            ("c3", pull_member(vec![(cm("settings"), "v", both.clone())])),
            (
                "c4",
                pull_member(vec![(cm("settings"), "old", both.clone())]),
            ),
            ("c5", pull_member(vec![(cm("settings"), "v", both.clone())])),
            (
                "c6",
                pull_member(vec![(cm("settings"), "v", vec![web_label()])]),
            ),
        ],
    ));
    assert_eq!(
        actions(&p),
        [
            row("c1", "ConfigMap settings", "create"),
            row("c2", "ConfigMap settings", "update"),
            row("c4", "ConfigMap settings", "update"),
            row("c5", "ConfigMap settings", "release (Delete)"),
            row("c6", "ConfigMap settings", "release (Delete)"),
        ]
    );
    let labels = |i: usize| -> Vec<String> {
        let (DependencyAction::Create(d) | DependencyAction::Update(d)) = &p.steps[i].action else {
            panic!("{i}")
        };
        assert_eq!(d.object["data"]["k"], "v");
        d.object["metadata"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(crate::core::dependencies::DEPENDENT_LABEL_PREFIX))
            .cloned()
            .collect()
    };
    assert_eq!(labels(0), [web_label()], "created for this workload");
    assert_eq!(labels(1), both, "the Job keeps its label");
    assert_eq!(labels(2), both);
    assert!(p.problems.is_empty() && p.agent_failures.is_empty());
    assert_eq!(p.known, 6);
    assert_eq!(
        condition(&p, &[]),
        Some((
            true,
            "Propagated",
            "propagated with the workload: ConfigMap settings".to_string()
        ))
    );
}

#[test]
fn a_pull_members_agent_failure_shows_in_the_condition() {
    let mut member = pull_member(vec![(cm("settings"), "v", vec![web_label()])]);
    let exists =
        "ConfigMap settings already exists in cluster c2 and resource adoption is disabled";
    let work = Arc::make_mut(member.works.get_mut(&cm("settings")).unwrap());
    work.metadata.generation = Some(1);
    work.status = Some(crate::crds::member_work::MemberWorkStatus {
        observed_generation: Some(1),
        propagation: Some(crate::crds::member_work::WorkPropagation {
            status: "AlreadyExists".into(),
            message: Some(exists.into()),
        }),
        ..Default::default()
    });
    // Unwritable (the agent is offline): nothing is written, what it holds keeps a deletion.
    let mut offline = pull_member(vec![(cm("settings"), "v", vec![web_label()])]);
    offline.writable = false;
    let p = plan(&input(
        vec![("c2", needs(&[(cm("settings"), true)])), ("c3", needs(&[]))],
        vec![(cm("settings"), host_cm("settings", "v"))],
        vec![("c2", member), ("c3", offline)],
    ));
    assert!(p.steps.is_empty(), "{:?}", actions(&p));
    assert!(p.holds_deletion);
    assert_eq!(
        condition(&p, &[]),
        Some((false, "PropagationFailed", exists.to_string()))
    );
}

#[test]
fn a_pull_members_copy_of_a_dependency_federated_explicitly_goes_while_still_referenced() {
    let job = dependent_label("Job", "seed");
    let needed = || needs(&[(cm("settings"), true)]);
    let p = plan(&input(
        vec![("c1", needed()), ("c2", needed()), ("c3", needed())],
        vec![(cm("settings"), HostDependency::Federated)],
        vec![
            // (cluster, what its MemberWorks hold)
            (
                "c1",
                pull_member(vec![(cm("settings"), "v", vec![web_label()])]),
            ),
            ("c2", pull_member(vec![(cm("settings"), "v", vec![job])])),
            ("c3", pull_member(vec![])),
        ],
    ));
    assert_eq!(
        actions(&p),
        [
            row("c1", "ConfigMap settings", "release (Keep)"),
            row("c2", "ConfigMap settings", "release (Keep)"),
        ]
    );
    // A push member's copy is left to the federated object (its field manager takes over).
    let p = plan(&input(
        vec![("c1", needed())],
        vec![(cm("settings"), HostDependency::Federated)],
        vec![(
            "c1",
            synced_member(vec![(
                cm("settings"),
                member_copy(&cm("settings"), "v", &[web_label()]),
            )]),
        )],
    ));
    assert!(p.steps.is_empty(), "{:?}", actions(&p));
}
