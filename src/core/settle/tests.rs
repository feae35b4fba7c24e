//! Table tests of when a pass has nothing to do, and of the status a settled pass writes.

use super::*;
use crate::core::observation::{FederatedObject, MemberView, StatusCollection};
use crate::core::plan::{ClusterPlan, FinalizerStep, PlanSettings, desired_for, plan};
use crate::core::report::next_status;
use crate::core::vocabulary::PropagationStatus;
use crate::crds::federated::AggregateKind;
use serde_json::{Value, json};

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:05:00Z";

fn settings() -> PlanSettings {
    crate::core::test_support::configmap_settings()
}

fn collection() -> StatusCollection {
    StatusCollection {
        collect: true,
        kind: AggregateKind::Other,
    }
}

fn object(generation: i64) -> FederatedObject {
    FederatedObject {
        namespace: Some("demo".into()),
        name: "cm".into(),
        generation,
        deleting: false,
        has_finalizer: true,
        annotations: BTreeMap::new(),
        spec: serde_json::from_value(json!({
            "template": {"data": {"k": "v"}},
            "placement": {"clusterSelector": {}}
        }))
        .map_err(|e: serde_json::Error| e.to_string()),
        status: None,
    }
}

/// What `cluster` holds once the operator applied the object's template to it.
fn applied_value(cluster: &str, status: Option<Value>) -> Value {
    let fed = object(1);
    let desired =
        desired_for(&fed, fed.spec.as_ref().unwrap(), &settings(), cluster, None).unwrap();
    let mut obj = desired.object;
    obj["metadata"]["uid"] = json!(format!("uid-{cluster}"));
    obj["metadata"]["resourceVersion"] = json!("7");
    obj["metadata"]["generation"] = json!(1);
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

fn member_object(value: &Value) -> Arc<MemberObject> {
    Arc::new(MemberObject::from_object(value, collection()))
}

fn view(object: Option<Arc<MemberObject>>) -> MemberView {
    MemberView {
        labels: BTreeMap::new(),
        reachability: Reachability::Ready,
        is_host: false,
        cache: CacheState::Synced,
        object,
    }
}

fn observe(object: FederatedObject, members: Vec<(&str, MemberView)>) -> Observation {
    Observation {
        object,
        namespace: NamespaceObservation::Found(Ok(serde_json::from_value(
            json!({"placement": {"clusterSelector": {}}}),
        )
        .unwrap())),
        members: Some(
            members
                .into_iter()
                .map(|(n, m)| (n.to_string(), m))
                .collect(),
        ),
    }
}

/// Two members; c1 already holds the object, c2 does not yet.
fn before_create() -> Observation {
    observe(
        object(1),
        vec![
            ("c1", view(Some(member_object(&applied_value("c1", None))))),
            ("c2", view(None)),
        ],
    )
}

/// The members' answers to the pass over [`before_create`]: c2's create.
fn answers() -> BTreeMap<String, Arc<MemberObject>> {
    BTreeMap::from([("c2".to_string(), member_object(&applied_value("c2", None)))])
}

/// What the caches show once the create of c2 came back through the watch: an equal object
/// (another copy).
fn after_create() -> Observation {
    let mut obs = before_create();
    let members = obs.members.as_mut().unwrap();
    members.get_mut("c2").unwrap().object = Some(member_object(&applied_value("c2", None)));
    obs
}

fn no_failures() -> BTreeMap<String, Entry> {
    BTreeMap::new()
}

fn settled_record() -> Settled {
    record(
        &before_create(),
        Some("u1"),
        false,
        &no_failures(),
        &answers(),
    )
    .unwrap()
}

fn is_unchanged(obs: &Observation) -> bool {
    unchanged(&mut settled_record(), obs, Some("u1"), &no_failures())
}

#[test]
fn own_writes_coming_back_change_nothing() {
    let mut settled = settled_record();
    let obs = after_create();
    assert!(unchanged(&mut settled, &obs, Some("u1"), &no_failures()));
    // The record now shares the cache's copies instead of keeping the answers.
    let c2 = obs.members.as_ref().unwrap()["c2"].object.clone().unwrap();
    assert!(Arc::ptr_eq(settled.objects[1].as_ref().unwrap(), &c2));
    // The pass before the write saw no object in c2: that is not what the record expects.
    assert!(!is_unchanged(&before_create()));
}

#[test]
fn the_finalizer_the_pass_added_is_expected() {
    let mut obs = before_create();
    obs.object.has_finalizer = false;
    let settled = record(&obs, Some("u1"), true, &no_failures(), &answers()).unwrap();
    let mut later = after_create();
    assert!(unchanged(
        &mut settled.clone(),
        &later,
        Some("u1"),
        &no_failures()
    ));
    later.object.has_finalizer = false;
    assert!(!unchanged(
        &mut settled.clone(),
        &later,
        Some("u1"),
        &no_failures()
    ));
}

/// Every change the plan or the status reads makes the pass run in full.
#[test]
fn any_other_change_runs_the_pass() {
    type Change = fn(&mut Observation);
    let with_c2 = |obs: &mut Observation, value: Option<Value>| {
        obs.members.as_mut().unwrap().get_mut("c2").unwrap().object =
            value.map(|v| member_object(&v));
    };
    let cases: Vec<(&str, Change)> = vec![
        ("template changed (generation)", |o| o.object.generation = 2),
        ("being deleted", |o| o.object.deleting = true),
        ("annotation added", |o| {
            o.object
                .annotations
                .insert("kubefed.io/paused".into(), "true".into());
        }),
        ("namespace placement changed", |o| {
            o.namespace = NamespaceObservation::Missing;
        }),
        ("member object deleted", |o| {
            o.members.as_mut().unwrap().get_mut("c1").unwrap().object = None;
        }),
        ("template field drifted in a member", |o| {
            let mut drifted = applied_value("c1", None);
            drifted["data"]["k"] = json!("changed");
            o.members.as_mut().unwrap().get_mut("c1").unwrap().object =
                Some(member_object(&drifted));
        }),
        ("member status changed", |o| {
            let c2 = applied_value("c2", Some(json!({"phase": "Ready"})));
            o.members.as_mut().unwrap().get_mut("c2").unwrap().object = Some(member_object(&c2));
        }),
        ("member not ready", |o| {
            o.members
                .as_mut()
                .unwrap()
                .get_mut("c1")
                .unwrap()
                .reachability = Reachability::NotReady("down".into());
        }),
        ("member cache re-listing", |o| {
            o.members.as_mut().unwrap().get_mut("c1").unwrap().cache = CacheState::Syncing;
        }),
        ("member labels changed", |o| {
            o.members
                .as_mut()
                .unwrap()
                .get_mut("c1")
                .unwrap()
                .labels
                .insert("region".into(), "eu".into());
        }),
        ("member joined", |o| {
            o.members.as_mut().unwrap().insert("c3".into(), view(None));
        }),
        ("member list unknown", |o| o.members = None),
    ];
    for (what, change) in cases {
        let mut obs = after_create();
        with_c2(&mut obs, Some(applied_value("c2", None)));
        assert!(is_unchanged(&obs), "{what}: the base case is unchanged");
        change(&mut obs);
        assert!(!is_unchanged(&obs), "{what}: must run the pass");
    }
    // Another object of the same name, or an agent's new failure report.
    assert!(!unchanged(
        &mut settled_record(),
        &after_create(),
        Some("u2"),
        &no_failures()
    ));
    let failures = BTreeMap::from([(
        "c1".to_string(),
        Entry::Show {
            status: PropagationStatus::UpdateFailed,
            message: None,
        },
    )]);
    assert!(!unchanged(
        &mut settled_record(),
        &after_create(),
        Some("u1"),
        &failures
    ));
}

/// A member event is worth a pass only when the cache shows something other than what the
/// settled record expects of that member.
#[test]
fn a_member_event_brings_nothing_when_the_cache_shows_the_record() {
    let settled = settled_record();
    let answer = || member_object(&applied_value("c2", None));
    let mut drifted = applied_value("c2", None);
    drifted["data"]["k"] = json!("changed");
    let with_status = applied_value("c2", Some(json!({"phase": "Ready"})));
    let cases: Vec<(&str, &str, Option<Arc<MemberObject>>, bool)> = vec![
        (
            "the echo of the create (another copy)",
            "c2",
            Some(answer()),
            true,
        ),
        ("the very answer", "c2", settled.objects[1].clone(), true),
        (
            "the object the pass left alone",
            "c1",
            Some(member_object(&applied_value("c1", None))),
            true,
        ),
        ("created object deleted", "c2", None, false),
        ("left-alone object deleted", "c1", None, false),
        (
            "template field drifted",
            "c2",
            Some(member_object(&drifted)),
            false,
        ),
        (
            "member status moved",
            "c2",
            Some(member_object(&with_status)),
            false,
        ),
        ("a member the record does not know", "c3", None, false),
    ];
    for (what, cluster, shown, expected) in cases {
        assert_eq!(settled.expects(cluster, shown.as_ref()), expected, "{what}");
    }
}

/// A host event is worth a pass only when the federated object shows something a pass reads
/// other than what the settled record expects.
#[test]
fn a_host_event_brings_nothing_when_the_object_shows_the_record() {
    let mut obs = before_create();
    obs.object.has_finalizer = false;
    // The pass added the finalizer: its echo is what the record expects.
    let settled = record(&obs, Some("u1"), true, &no_failures(), &answers()).unwrap();
    let base = || ObjectMeta {
        uid: Some("u1".into()),
        generation: Some(1),
        finalizers: Some(vec![crate::crds::federated::SYNC_FINALIZER.into()]),
        ..ObjectMeta::default()
    };
    type Change = fn(&mut ObjectMeta);
    let cases: Vec<(&str, Change, bool)> = vec![
        ("the finalizer's echo", |_| {}, true),
        (
            "labels changed",
            |m| {
                m.labels = Some(BTreeMap::from([("team".into(), "blue".into())]));
            },
            true,
        ),
        (
            "another finalizer added",
            |m| {
                m.finalizers
                    .get_or_insert_default()
                    .push("example.com/other".into());
            },
            true,
        ),
        (
            "template changed (generation)",
            |m| m.generation = Some(2),
            false,
        ),
        (
            "another object of the same name",
            |m| m.uid = Some("u2".into()),
            false,
        ),
        (
            "being deleted",
            |m| {
                m.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::UNIX_EPOCH,
                ));
            },
            false,
        ),
        ("the sync finalizer removed", |m| m.finalizers = None, false),
        (
            "annotation added",
            |m| {
                m.annotations = Some(BTreeMap::from([(
                    "kubefed.io/paused".into(),
                    "true".into(),
                )]));
            },
            false,
        ),
    ];
    for (what, change, expected) in cases {
        let mut meta = base();
        change(&mut meta);
        assert_eq!(settled.expects_federated(&meta), expected, "{what}");
    }
}

#[test]
fn records_of_the_same_members_share_one_list_of_names() {
    let (mut first, mut second) = (settled_record(), settled_record());
    let mut shared: Arc<[String]> = Arc::from(Vec::new());
    first.share_names(&mut shared);
    second.share_names(&mut shared);
    assert!(Arc::ptr_eq(&first.names, &second.names));
    // Other members: the record keeps its own list, which the next ones share.
    let mut obs = before_create();
    obs.members
        .as_mut()
        .unwrap()
        .insert("c3".into(), view(None));
    let mut third = record(&obs, Some("u1"), false, &no_failures(), &answers()).unwrap();
    third.share_names(&mut shared);
    assert_eq!(&*third.names, ["c1", "c2", "c3"]);
    assert!(Arc::ptr_eq(&shared, &third.names));
    assert!(third.expects("c3", None));
}

fn cluster_plan(action: Action) -> ClusterPlan {
    let mut planned = plan(&before_create(), &settings()).clusters["c1"].clone();
    planned.action = action;
    planned
}

#[test]
fn which_passes_settle() {
    let desired = || match &plan(&before_create(), &settings()).clusters["c2"].action {
        Action::Create(d) => d.clone(),
        other => panic!("c2 should be created: {other:?}"),
    };
    let failed = Outcome::Failed {
        status: PropagationStatus::CreationFailed,
        message: "no".into(),
    };
    let answered = answers();
    let none = BTreeMap::new();
    let cases: Vec<(&str, Action, Option<Outcome>, &BTreeMap<_, _>, bool)> = vec![
        ("nothing to write", Action::LeaveAlone, None, &none, true),
        (
            "created, answer known",
            Action::Create(desired()),
            Some(Outcome::Done),
            &answered,
            true,
        ),
        (
            "created, no answer (pull member)",
            Action::Create(desired()),
            Some(Outcome::Done),
            &none,
            false,
        ),
        (
            "create failed",
            Action::Create(desired()),
            Some(failed.clone()),
            &none,
            false,
        ),
        (
            "create still in flight",
            Action::Create(desired()),
            Some(Outcome::InFlight),
            &none,
            false,
        ),
        (
            "create met an object left alone",
            Action::Create(desired()),
            Some(Outcome::Settled(Entry::Hidden)),
            &none,
            true,
        ),
        (
            "deleted",
            Action::Delete(Default::default()),
            Some(Outcome::Done),
            &none,
            false,
        ),
        (
            "unlabelled",
            Action::Unlabel,
            Some(Outcome::Done),
            &none,
            false,
        ),
        (
            "waiting",
            Action::Wait("syncing".into()),
            None,
            &none,
            false,
        ),
    ];
    for (what, action, outcome, applied, expected) in cases {
        let mut p = plan(&before_create(), &settings());
        p.clusters.insert("c2".into(), cluster_plan(action));
        let outcomes: BTreeMap<String, Outcome> =
            outcome.into_iter().map(|o| ("c2".to_string(), o)).collect();
        assert_eq!(settles(&p, &outcomes, applied), expected, "{what}");
    }
    let mut deleting = plan(&before_create(), &settings());
    deleting.disposition = Disposition::Delete;
    deleting.finalizer = FinalizerStep::Remove;
    assert!(!settles(&deleting, &BTreeMap::new(), &BTreeMap::new()));
}

/// The status a pass writes from the members' answers is the one the next pass computes
/// from its observation: it is written once.
#[test]
fn the_status_is_written_once() {
    let with_status = |status: Option<Value>| {
        let mut answers = BTreeMap::new();
        answers.insert(
            "c2".to_string(),
            member_object(&applied_value("c2", status)),
        );
        answers
    };
    for status in [None, Some(json!({"phase": "Pending"}))] {
        let first = before_create();
        let p = plan(&first, &settings());
        assert!(matches!(p.clusters["c2"].action, Action::Create(_)));
        let outcomes = BTreeMap::from([("c2".to_string(), Outcome::Done)]);
        let answers = with_status(status.clone());
        let written = next_status(None, &after_writes(p.clone(), &answers), &outcomes, T0)
            .expect("a first status");
        let c2 = written.clusters.iter().find(|c| c.name == "c2").unwrap();
        assert_eq!(c2.generation, Some(1), "the generation the member answered");

        // The next pass, once the watch brought c2's object: nothing more to write.
        let mut second = first.clone();
        second.object.status = Some(written.clone());
        second
            .members
            .as_mut()
            .unwrap()
            .get_mut("c2")
            .unwrap()
            .object = answers.get("c2").cloned();
        let p2 = plan(&second, &settings());
        assert!(p2.clusters.values().all(|c| c.action == Action::LeaveAlone));
        assert_eq!(
            next_status(Some(&written), &p2, &BTreeMap::new(), T1),
            None,
            "status {status:?}"
        );

        // Without the answers the pass writes a status the next pass has to correct.
        let unanswered = next_status(None, &p, &outcomes, T0).unwrap();
        assert!(next_status(Some(&unanswered), &p2, &BTreeMap::new(), T1).is_some());
    }
}

#[test]
fn only_written_clusters_take_an_answer() {
    let p = plan(&before_create(), &settings());
    let mut answers = answers();
    answers.insert(
        "c1".into(),
        member_object(&applied_value("c1", Some(json!({"phase": "Other"})))),
    );
    let after = after_writes(p.clone(), &answers);
    // c1 was left alone: what the cache showed stands.
    assert_eq!(after.clusters["c1"], p.clusters["c1"]);
    assert_eq!(after.clusters["c2"].generation, Some(1));
    assert_eq!(p.clusters["c2"].generation, None);
}

#[test]
fn status_waits_only_for_starting_members() {
    let waiting = |reachability: Reachability, cache: CacheState| {
        let mut obs = after_create();
        let c2 = obs.members.as_mut().unwrap().get_mut("c2").unwrap();
        c2.reachability = reachability;
        c2.cache = cache;
        let p = plan(&obs, &settings());
        (obs, p)
    };
    let short = Duration::from_secs(1);
    let cases = [
        (Reachability::Unprobed, CacheState::Synced, short, true),
        (Reachability::Ready, CacheState::Syncing, short, true),
        (Reachability::Ready, CacheState::Stopped, short, true),
        (
            Reachability::Ready,
            CacheState::Syncing,
            STATUS_DEFERRAL,
            false,
        ),
        (Reachability::Unresponsive, CacheState::Synced, short, false),
        (Reachability::Ready, CacheState::Synced, short, false),
        (
            Reachability::NotReady("down".into()),
            CacheState::Synced,
            short,
            false,
        ),
    ];
    for (reachability, cache, waited, expected) in cases {
        let what = format!("{reachability:?} {cache:?} {waited:?}");
        let (obs, p) = waiting(reachability, cache);
        assert_eq!(defers_status(&obs, &p, waited), expected, "{what}");
    }
}
