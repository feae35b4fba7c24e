use super::*;
use crate::crds::member_work::MemberWorkSpec;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn configmap_resource() -> WorkResource {
    WorkResource {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
    }
}

fn manifest(data: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "demo",
            "labels": {MANAGED_LABEL: "true"},
            "annotations": {DESIRED_HASH_ANNOTATION: format!("h-{data}")}},
        "data": {"k": data}
    })
}

fn work(data: &str) -> MemberWork {
    let mut w = MemberWork::new(
        "configmaps.demo.cm",
        MemberWorkSpec {
            cluster: "c1".into(),
            resource: configmap_resource(),
            manifest: manifest(data),
            adopt: true,
            ..Default::default()
        },
    );
    w.metadata.generation = Some(1);
    w
}

fn collect() -> StatusCollection {
    StatusCollection {
        collect: true,
        kind: AggregateKind::Other,
    }
}

fn member(value: Value) -> MemberObject {
    MemberObject::from_object(&value, collect())
}

fn deleting(mut w: MemberWork) -> MemberWork {
    w.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    w
}

#[test]
fn names_are_readable_and_bounded() {
    assert_eq!(
        work_name("deployments.apps", Some("demo"), "web"),
        "deployments.apps.demo.web"
    );
    assert_eq!(work_name("namespaces", None, "demo"), "namespaces.demo");
    let long = "x".repeat(250);
    let a = work_name("configmaps", Some("demo"), &long);
    let b = work_name("configmaps", Some("demo2"), &long);
    assert!(a.len() <= MAX_NAME && b.len() <= MAX_NAME);
    assert_ne!(a, b);
}

#[test]
fn rendered_work_holds_the_member_object_in_the_cluster_namespace() {
    let target = WorkTarget {
        cluster: "c1".into(),
        type_name: "configmaps".into(),
        resource: configmap_resource(),
        adopt: false,
        retain_replicas: false,
        delete_options: Some(r#"{"propagationPolicy":"Orphan"}"#.into()),
        collect_status: false,
    };
    let desired = DesiredObject {
        object: manifest("v"),
        hash: "h-v".into(),
        warnings: vec![],
    };
    let body = render_work(&target, "configmaps.demo.cm", &desired);
    assert_eq!(body["metadata"]["namespace"], "kubefed-cluster-c1");
    assert_eq!(body["metadata"]["finalizers"], json!([AGENT_FINALIZER]));
    assert_eq!(body["spec"]["manifest"], manifest("v"));
    assert_eq!(body["spec"]["adopt"], false);
    assert_eq!(
        body["spec"]["deleteOptions"],
        r#"{"propagationPolicy":"Orphan"}"#
    );
    let parsed: MemberWork = serde_json::from_value(body).unwrap();
    assert_eq!(parsed.spec.cluster, "c1");
}

#[test]
fn observed_member_reads_as_the_push_cache_would() {
    let mut w = work("v");
    // Nothing reported yet: what was sent, managed, no status.
    let o = observed_member(&w, collect());
    assert_eq!(o.managed, ManagedLabel::True);
    assert_eq!(o.desired_hash.as_deref(), Some("h-v"));
    assert!(!o.fields.needs_apply(&manifest("v")));
    assert!(o.fields.needs_apply(&manifest("changed")));
    assert_eq!((o.generation, o.remote_status.clone()), (None, None));
    // The agent's report: generation, replicas, status.
    w.status = Some(MemberWorkStatus {
        observed_generation: Some(1),
        propagation: Some(word(PropagationStatus::Ok, None)),
        member: Some(WorkMemberObject {
            generation: Some(3),
            replicas: Some(2),
            remote_status: Some(json!({"readyReplicas": 2})),
            ..Default::default()
        }),
        drift_repairs: 0,
    });
    let o = observed_member(&w, collect());
    assert_eq!((o.generation, o.replicas), (Some(3), Some(2)));
    assert_eq!(
        o.remote_status.map(|s| s.value()),
        Some(json!({"readyReplicas": 2}))
    );
    let uncollected = StatusCollection {
        collect: false,
        ..collect()
    };
    assert_eq!(observed_member(&w, uncollected).remote_status, None);
    // What the agent may not touch shows as the member has it.
    let table = [
        (PropagationStatus::AlreadyExists, ManagedLabel::Absent),
        (PropagationStatus::ManagedLabelFalse, ManagedLabel::False),
        (PropagationStatus::UpdateFailed, ManagedLabel::True),
    ];
    for (status, managed) in table {
        w.status.as_mut().unwrap().propagation = Some(word(status, None));
        assert_eq!(observed_member(&w, collect()).managed, managed, "{status}");
    }
    assert!(observed_member(&deleting(w), collect()).deleting);
}

#[test]
fn reported_failures_count_only_for_the_current_spec() {
    let mut w = work("v");
    assert_eq!(reported_failure(&w), None);
    let failed = |generation| MemberWorkStatus {
        observed_generation: Some(generation),
        propagation: Some(word(PropagationStatus::UpdateFailed, Some("denied".into()))),
        ..Default::default()
    };
    w.status = Some(failed(1));
    assert_eq!(
        reported_failure(&w),
        Some(Entry::Show {
            status: PropagationStatus::UpdateFailed,
            message: Some("denied".into())
        })
    );
    w.status = Some(failed(0));
    assert_eq!(reported_failure(&w), None, "about an older spec");
    w.status = Some(MemberWorkStatus {
        observed_generation: Some(1),
        propagation: Some(word(PropagationStatus::AlreadyExists, None)),
        ..Default::default()
    });
    assert_eq!(reported_failure(&w), None, "shown by observed_member");
}

#[test]
fn lease_age_is_the_probe() {
    let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
    let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
    let max = Duration::from_secs(20);
    let table = [
        (at("2026-01-01T00:00:50Z"), true),
        (at("2026-01-01T00:00:40Z"), true),
        (at("2026-01-01T00:00:39Z"), false),
        (None, false),
    ];
    for (renewed, healthy) in table {
        let outcome = lease_outcome(renewed, now, max);
        assert_eq!(outcome == ProbeOutcome::Healthy, healthy, "{renewed:?}");
    }
}

#[test]
fn agent_applies_what_is_missing_or_changed_and_leaves_the_rest() {
    let w = work("v");
    let managed = |data: &str| member(manifest(data));
    let mut unlabelled = manifest("other");
    unlabelled["metadata"]["labels"] = json!({});
    let mut opted_out = manifest("other");
    opted_out["metadata"]["labels"] = json!({MANAGED_LABEL: "false"});
    let mut drifted = manifest("v");
    drifted["data"]["k"] = json!("edited");
    let mut no_adopt = work("v");
    no_adopt.spec.adopt = false;
    let apply = |create, drift| AgentAction::Apply {
        object: manifest("v"),
        create,
        drift,
    };
    let table: Vec<(
        &str,
        &MemberWork,
        Option<MemberObject>,
        AgentAction,
        PropagationStatus,
    )> = vec![
        (
            "missing",
            &w,
            None,
            apply(true, false),
            PropagationStatus::Ok,
        ),
        (
            "in sync",
            &w,
            Some(managed("v")),
            AgentAction::Leave,
            PropagationStatus::Ok,
        ),
        (
            "new spec",
            &w,
            Some(managed("old")),
            apply(false, false),
            PropagationStatus::Ok,
        ),
        (
            "drift",
            &w,
            Some(member(drifted)),
            apply(false, true),
            PropagationStatus::Ok,
        ),
        (
            "adopt",
            &w,
            Some(member(unlabelled.clone())),
            apply(false, false),
            PropagationStatus::Ok,
        ),
        (
            "no adoption",
            &no_adopt,
            Some(member(unlabelled)),
            AgentAction::Leave,
            PropagationStatus::AlreadyExists,
        ),
        (
            "managed false",
            &w,
            Some(member(opted_out)),
            AgentAction::Leave,
            PropagationStatus::ManagedLabelFalse,
        ),
    ];
    for (case, work, found, action, status) in table {
        let d = agent_decide(work, found.as_ref());
        assert_eq!(d.action, action, "{case}");
        assert_eq!(d.propagation.status, status.as_str(), "{case}");
    }
}

#[test]
fn agent_keeps_member_replicas_when_asked() {
    let mut w = work("v");
    w.spec.retain_replicas = true;
    w.spec.manifest["spec"] = json!({"replicas": 1});
    let mut scaled = w.spec.manifest.clone();
    scaled["spec"]["replicas"] = json!(5);
    let found = member(scaled);
    assert_eq!(agent_decide(&w, Some(&found)).action, AgentAction::Leave);
    w.spec.retain_replicas = false;
    assert!(matches!(
        agent_decide(&w, Some(&found)).action,
        AgentAction::Apply { .. }
    ));
}

#[test]
fn agent_deletes_orphans_and_releases() {
    let w = deleting(work("v"));
    let mut orphaning = w.clone();
    orphaning.spec.orphan = true;
    let mut bad_options = w.clone();
    bad_options.spec.delete_options = Some("{not json".into());
    let mut unlabelled = manifest("v");
    unlabelled["metadata"]["labels"] = json!({});
    let mut gone_soon = manifest("v");
    gone_soon["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let found = member(manifest("v"));
    let table: Vec<(&str, &MemberWork, Option<MemberObject>, AgentAction)> = vec![
        ("gone", &w, None, AgentAction::Release),
        (
            "present",
            &w,
            Some(found.clone()),
            AgentAction::Delete(DeleteParams::default()),
        ),
        (
            "member deleting",
            &w,
            Some(member(gone_soon)),
            AgentAction::Leave,
        ),
        (
            "orphan",
            &orphaning,
            Some(found.clone()),
            AgentAction::Unlabel,
        ),
        (
            "orphaned",
            &orphaning,
            Some(member(unlabelled)),
            AgentAction::Release,
        ),
        ("bad options", &bad_options, Some(found), AgentAction::Leave),
    ];
    for (case, work, found, action) in table {
        assert_eq!(agent_decide(work, found.as_ref()).action, action, "{case}");
    }
    let d = agent_decide(&bad_options, Some(&member(manifest("v"))));
    assert_eq!(
        d.propagation.status,
        PropagationStatus::DeletionFailed.as_str()
    );
}

#[test]
fn agent_status_reports_the_member_object() {
    let mut w = work("v");
    w.spec.collect_status = true;
    let mut live = manifest("v");
    live["metadata"]["resourceVersion"] = json!("42");
    live["metadata"]["generation"] = json!(2);
    live["status"] = json!({"phase": "x"});
    let s = agent_status(&w, Some(&live), word(PropagationStatus::Ok, None), 3);
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(s.drift_repairs, 3);
    let m = s.member.unwrap();
    assert_eq!(m.managed.as_deref(), Some("true"));
    assert_eq!(m.generation, Some(2));
    assert_eq!(m.remote_status, Some(json!({"phase": "x"})));
    assert_eq!(
        agent_status(&w, None, word(PropagationStatus::Ok, None), 0).member,
        None
    );
}

/// A report is written only when it differs from the stored one, so what goes into it decides
/// how many host writes the member's own churn costs: a write the host would not read (a new
/// resourceVersion, a status change of a type whose status the host does not collect) must
/// leave the report as it was.
#[test]
fn reports_change_only_with_what_the_host_reads() {
    let mut live = manifest("v");
    live["metadata"]["resourceVersion"] = json!("1");
    live["metadata"]["generation"] = json!(1);
    let ok = || word(PropagationStatus::Ok, None);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = live.clone();
        f(&mut v);
        v
    };
    let rv = with(&|v| v["metadata"]["resourceVersion"] = json!("2"));
    let status = with(&|v| v["status"] = json!({"readyReplicas": 1}));
    let generation = with(&|v| v["metadata"]["generation"] = json!(2));
    let replicas = with(&|v| v["spec"] = json!({"replicas": 3}));
    let unlabelled = with(&|v| v["metadata"]["labels"] = json!({}));
    let not_collected = work("v");
    let mut collected = work("v");
    collected.spec.collect_status = true;
    // (case, work, member after the change, a new report)
    let table: [(&str, &MemberWork, &Value, bool); 10] = [
        ("new resourceVersion", &not_collected, &rv, false),
        ("new resourceVersion, collected", &collected, &rv, false),
        ("status, not collected", &not_collected, &status, false),
        ("status, collected", &collected, &status, true),
        ("generation", &not_collected, &generation, true),
        ("generation, collected", &collected, &generation, true),
        ("replicas", &not_collected, &replicas, true),
        ("managed label", &not_collected, &unlabelled, true),
        ("nothing", &not_collected, &live, false),
        ("nothing, collected", &collected, &live, false),
    ];
    for (case, w, after, changes) in table {
        let before = agent_status(w, Some(&live), ok(), 0);
        let next = agent_status(w, Some(after), ok(), 0);
        assert_eq!(before != next, changes, "{case}");
    }
}

#[test]
fn the_agents_last_report_stands_until_the_cache_moves_on() {
    let ok = |n| MemberWorkStatus {
        observed_generation: Some(n),
        ..Default::default()
    };
    let at = |rv: Option<&str>, status: Option<MemberWorkStatus>| {
        let mut w = work("v");
        w.metadata.resource_version = rv.map(str::to_string);
        w.status = status;
        w
    };
    let written = |rv: Option<&str>, n| WrittenReport {
        read_version: rv.map(str::to_string),
        status: ok(n),
    };
    let stale = at(Some("5"), None);
    let caught_up = at(Some("6"), Some(ok(2)));
    let changed_since = at(Some("7"), Some(ok(1)));
    let unversioned = at(None, Some(ok(1)));
    // (case, work in the cache, the last report, what the host holds)
    let w5 = written(Some("5"), 2);
    let none = written(None, 2);
    let table: [(
        &str,
        &MemberWork,
        Option<&WrittenReport>,
        Option<MemberWorkStatus>,
    ); 5] = [
        ("nothing written", &stale, None, None),
        ("cache behind the write", &stale, Some(&w5), Some(ok(2))),
        ("cache caught up", &caught_up, Some(&w5), Some(ok(2))),
        (
            "changed after the write",
            &changed_since,
            Some(&w5),
            Some(ok(1)),
        ),
        (
            "no version to go by",
            &unversioned,
            Some(&none),
            Some(ok(1)),
        ),
    ];
    for (case, w, last, want) in table {
        assert_eq!(reported_base(w, last).cloned(), want, "{case}");
    }
}

#[test]
fn a_report_is_awaited_from_the_write_until_the_agent_acted_on_it() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    let at = |s: i64| Timestamp::from_second(s).unwrap();
    let entry = |manager: &str, subresource: Option<&str>, t: i64| ManagedFieldsEntry {
        manager: Some(manager.into()),
        subresource: subresource.map(str::to_string),
        time: Some(Time(at(t))),
        ..Default::default()
    };
    let with = |generation: i64, reported: Option<i64>, fields: Vec<ManagedFieldsEntry>| {
        let mut w = work("v");
        w.metadata.generation = Some(generation);
        w.metadata.creation_timestamp = Some(Time(at(10)));
        w.metadata.managed_fields = Some(fields);
        w.status = reported.map(|g| MemberWorkStatus {
            observed_generation: Some(g),
            ..Default::default()
        });
        w
    };
    let host = || entry("kubefed", None, 50);
    let table = [
        ("new, no report", with(1, None, vec![host()]), Some(at(50))),
        ("reported on it", with(1, Some(1), vec![host()]), None),
        (
            "report of an older spec",
            with(2, Some(1), vec![host()]),
            Some(at(50)),
        ),
        (
            "the agent's status write is not the host's",
            with(
                2,
                Some(1),
                vec![
                    entry("kubefed", None, 40),
                    entry("kubefed", Some("status"), 60),
                ],
            ),
            Some(at(40)),
        ),
        ("no apply recorded", with(1, None, vec![]), Some(at(10))),
        ("deleting", deleting(with(1, None, vec![host()])), None),
    ];
    for (case, w, want) in table {
        assert_eq!(awaiting_report(&w, "kubefed"), want, "{case}");
    }
}

#[test]
fn the_status_waits_for_reports_due_within_the_limit() {
    let at = |s: i64| Timestamp::from_second(s).unwrap();
    let limit = Duration::from_secs(5);
    let now = at(100);
    let table: [(&str, Vec<Timestamp>, Option<Duration>); 5] = [
        ("nothing pending", vec![], None),
        ("just written", vec![at(100)], Some(limit)),
        (
            "the latest write counts",
            vec![at(96), at(98)],
            Some(Duration::from_secs(3)),
        ),
        ("past the limit", vec![at(95), at(90)], None),
        (
            "one within, one past",
            vec![at(90), at(99)],
            Some(Duration::from_secs(4)),
        ),
    ];
    for (case, pending, want) in table {
        assert_eq!(report_wait(&pending, now, limit), want, "{case}");
    }
}

#[test]
fn a_type_the_agent_cannot_watch_is_reported_and_nothing_is_written() {
    let forbidden = CacheState::Forbidden("agent cannot list configmaps".into());
    let failing = CacheState::Failing("500 boom".into());
    let cannot = |w: &MemberWork, state: &CacheState| agent_cannot_watch(w, "c2", state);
    // (work, state, action, status, message contains)
    let cases: Vec<(MemberWork, &CacheState, Option<AgentAction>, &str, &str)> = vec![
        (work("v"), &CacheState::Synced, None, "", ""),
        (work("v"), &CacheState::Syncing, None, "", ""),
        (
            work("v"),
            &forbidden,
            Some(AgentAction::Leave),
            "CachedRetrievalFailed",
            "cannot watch configmaps in c2: forbidden: agent cannot list configmaps",
        ),
        (
            work("v"),
            &CacheState::NotServed,
            Some(AgentAction::Leave),
            "CachedRetrievalFailed",
            "not served",
        ),
        (
            work("v"),
            &failing,
            Some(AgentAction::Leave),
            "CachedRetrievalFailed",
            "failing: 500 boom",
        ),
        // Deleting: nothing can be there when the type is not served; with a forbidden
        // watch the object may still be there, so the deletion waits.
        (
            deleting(work("v")),
            &CacheState::NotServed,
            Some(AgentAction::Release),
            "WaitingForRemoval",
            "",
        ),
        (
            deleting(work("v")),
            &forbidden,
            Some(AgentAction::Leave),
            "CachedRetrievalFailed",
            "forbidden",
        ),
    ];
    for (w, state, action, status, message) in cases {
        let got = cannot(&w, state);
        assert_eq!(got.as_ref().map(|d| d.action.clone()), action, "{state:?}");
        if let Some(d) = got {
            assert_eq!(d.propagation.status, status, "{state:?}");
            let text = d.propagation.message.unwrap_or_default();
            assert!(text.contains(message), "{state:?}: {text}");
        }
    }
}

#[test]
fn messages_name_a_grouped_type_with_its_group() {
    let mut w = work("v");
    w.spec.resource = WorkResource {
        group: "apps".into(),
        version: "v1".into(),
        kind: "Deployment".into(),
        plural: "deployments".into(),
        namespaced: true,
    };
    let d = agent_cannot_watch(&w, "c2", &CacheState::NotServed).unwrap();
    assert!(
        d.propagation
            .message
            .unwrap_or_default()
            .starts_with("cannot watch deployments.apps in c2:")
    );
}
