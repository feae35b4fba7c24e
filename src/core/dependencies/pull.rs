//! Dependencies in pull members. A pull member's copy of a dependency is a MemberWork in the
//! cluster's namespace on the host, one per (cluster, namespace, dependency), which its agent
//! applies like any other. The workloads sharing it are the `dependency-of.kubefed.io/…`
//! labels of its manifest, as they are on a push member's copy, so the reference count lives
//! with the object and nothing needs to survive a restart.
//!
//! Unlike a push member's copy, which every workload applies with its own field manager, the
//! MemberWork holds one manifest: each write is the whole manifest (every workload's label),
//! made from the MemberWork as it was read and refused when it changed meanwhile. Its hash
//! covers the labels too, so the agent applies a manifest that lost a label (it would leave a
//! member field the manifest no longer sets alone otherwise).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{DEPENDENCY_LABEL, DEPENDENT_LABEL_PREFIX, DependencyKind, DependencyRef};
use crate::core::desired::{DESIRED_HASH_ANNOTATION, DesiredObject};
use crate::core::hash::hash_value;
use crate::core::observation::MemberObject;
use crate::core::pull::{WorkTarget, current_report, work_name};
use crate::core::vocabulary::PropagationStatus;
use crate::crds::federated::MANAGED_LABEL;
use crate::crds::member_work::{MemberWork, WorkResource};

/// The group the MemberWork type labels of dependencies end in. A FederatedTypeConfig is
/// named `<plural>.<group>` of a real API group, so these never collide with a federated
/// type's MemberWorks.
const WORK_TYPE_GROUP: &str = "dependencies.kubefed.io";

/// The `work.kubefed.io/type` of a dependency kind's MemberWorks:
/// `configmaps.dependencies.kubefed.io`.
pub fn work_type(kind: DependencyKind) -> String {
    format!("{}.{WORK_TYPE_GROUP}", kind.plural())
}

/// The dependency kind whose MemberWorks carry the type `type_name`, if any.
pub fn kind_of_work_type(type_name: &str) -> Option<DependencyKind> {
    let plural = type_name.strip_suffix(WORK_TYPE_GROUP)?.strip_suffix('.')?;
    DependencyKind::ALL
        .into_iter()
        .find(|k| k.plural() == plural)
}

/// The name of the MemberWork of `dependency` in `namespace`.
pub fn dependency_work_name(dependency: &DependencyRef, namespace: &str) -> String {
    work_name(
        &work_type(dependency.kind),
        Some(namespace),
        &dependency.name,
    )
}

/// Which MemberWork `cluster` gets for a dependency of `kind`, and the rules its agent
/// applies: adoption as the federation has it, no replicas, no delete options, no status.
pub fn work_target(cluster: &str, kind: DependencyKind, adopt: bool) -> WorkTarget {
    WorkTarget {
        cluster: cluster.to_string(),
        type_name: work_type(kind),
        resource: WorkResource {
            group: String::new(),
            version: "v1".into(),
            kind: kind.as_str().into(),
            plural: kind.plural().into(),
            namespaced: true,
        },
        adopt,
        retain_replicas: false,
        delete_options: None,
        collect_status: false,
    }
}

/// `object` (a dependency's member copy) labelled for exactly `dependents`, with a hash of
/// everything it holds, labels included.
pub fn work_manifest(object: &Value, dependents: &BTreeSet<String>) -> DesiredObject {
    let mut object = object.clone();
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(meta) = meta.and_then(Value::as_object_mut) {
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(DESIRED_HASH_ANNOTATION);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.retain(|k, _| !k.starts_with(DEPENDENT_LABEL_PREFIX));
            for dependent in dependents {
                labels.insert(dependent.clone(), "true".into());
            }
        }
    }
    let hash = hash_value(&object);
    object["metadata"]["annotations"][DESIRED_HASH_ANNOTATION] = hash.clone().into();
    DesiredObject {
        object,
        hash,
        warnings: Vec::new(),
    }
}

/// The manifest a workload (`label`) writes for its dependency `desired` (as
/// [`super::dependency_object`] renders it) into a pull member holding `held`: the workloads
/// already labelled there keep their labels.
pub fn for_pull_member(
    desired: DesiredObject,
    held: Option<&MemberObject>,
    label: &str,
) -> DesiredObject {
    let mut dependents: BTreeSet<String> = held
        .map(|o| o.dependents.iter().cloned().collect())
        .unwrap_or_default();
    dependents.insert(label.to_string());
    work_manifest(&desired.object, &dependents)
}

/// A workload's release of a dependency MemberWork.
#[derive(Clone, Debug, PartialEq)]
pub enum Release {
    /// Other workloads still need it: the manifest without this workload's label.
    Rewrite(DesiredObject),
    /// No workload label is left: the MemberWork goes (as [`super::plan::WhenLast`] says).
    Last,
}

/// What releasing `label` does to the MemberWork holding `manifest`.
pub fn release(manifest: &Value, label: &str) -> Release {
    let others: BTreeSet<String> = manifest
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter(|k| k.starts_with(DEPENDENT_LABEL_PREFIX) && k.as_str() != label)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if others.is_empty() {
        Release::Last
    } else {
        Release::Rewrite(work_manifest(manifest, &others))
    }
}

/// The merge patch that marks the last MemberWork of a dependency before it is deleted:
/// `orphan` leaves the member copy to its cluster without the operator's labels; `keep`
/// (the dependency is federated explicitly now, its own MemberWork decides) drops the agent's
/// finalizer, so the MemberWork goes without the agent touching the member object. `None`:
/// deleted as it is (the agent deletes the copy). The patch carries the resourceVersion read,
/// so a workload that labelled it meanwhile wins.
pub fn last_patch(orphan: bool, keep: bool, resource_version: Option<&str>) -> Option<Value> {
    let mut patch = if keep {
        json!({"metadata": {"finalizers": null}})
    } else if orphan {
        json!({"metadata": {}, "spec": {"orphan": true}})
    } else {
        return None;
    };
    if let Some(version) = resource_version {
        patch["metadata"]["resourceVersion"] = version.into();
    }
    Some(patch)
}

/// What an agent reported it could not do with the current spec of a dependency MemberWork,
/// as a message naming it and the cluster. The outcomes the plan sees in the member object
/// itself (`kubefed.io/managed: "false"`) and a pending removal are not failures.
pub fn agent_failure(work: &MemberWork, dependency: &DependencyRef) -> Option<String> {
    let (word, message) = current_report(work)?;
    match word {
        PropagationStatus::Ok
        | PropagationStatus::ManagedLabelFalse
        | PropagationStatus::WaitingForRemoval => None,
        word => Some(match message {
            Some(message) => message.clone(),
            None => format!("{dependency} in {}: {}", work.spec.cluster, word.as_str()),
        }),
    }
}

/// The labels an agent removes from a member object it orphans: the managed label, and for a
/// dependency copy also the dependency label and every workload label its manifest carries,
/// as the host leaves a push member's orphaned copy.
pub fn orphan_patch(manifest: &Value) -> Value {
    let mut labels = Map::new();
    labels.insert(MANAGED_LABEL.into(), Value::Null);
    let declared = manifest
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    if declared.is_some_and(|l| l.contains_key(DEPENDENCY_LABEL)) {
        labels.insert(DEPENDENCY_LABEL.into(), Value::Null);
        for key in declared.into_iter().flat_map(|l| l.keys()) {
            if key.starts_with(DEPENDENT_LABEL_PREFIX) {
                labels.insert(key.clone(), Value::Null);
            }
        }
    }
    json!({"metadata": {"labels": labels}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dependencies::{dependency_object, dependent_label};
    use crate::core::observation::StatusCollection;
    use crate::crds::federated::AggregateKind;
    use crate::crds::member_work::{MemberWorkSpec, MemberWorkStatus, WorkPropagation};

    fn settings() -> DependencyRef {
        DependencyRef {
            kind: DependencyKind::ConfigMap,
            name: "settings".into(),
        }
    }

    fn desired_for(label: &str, value: &str) -> DesiredObject {
        let host = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "demo"}, "data": {"k": value}});
        dependency_object(&settings(), &host, "demo", label).unwrap()
    }

    fn held(object: &Value) -> MemberObject {
        MemberObject::from_object(
            object,
            StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
        )
    }

    fn labels_of(object: &Value) -> Vec<String> {
        object["metadata"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn work_types_name_their_kind_and_never_a_federated_type() {
        for kind in DependencyKind::ALL {
            assert_eq!(kind_of_work_type(&work_type(kind)), Some(kind));
        }
        assert_eq!(
            work_type(DependencyKind::Secret),
            "secrets.dependencies.kubefed.io"
        );
        for other in [
            "configmaps",
            "deployments.apps",
            "xconfigmaps.dependencies.kubefed.io",
            "",
        ] {
            assert_eq!(kind_of_work_type(other), None, "{other}");
        }
        assert_eq!(
            dependency_work_name(&settings(), "demo"),
            "configmaps.dependencies.kubefed.io.demo.settings"
        );
        let target = work_target("c2", DependencyKind::ServiceAccount, true);
        assert_eq!(target.resource.kind, "ServiceAccount");
        assert_eq!(target.resource.plural, "serviceaccounts");
        assert!(target.adopt && target.resource.namespaced && !target.collect_status);
    }

    #[test]
    fn the_manifest_keeps_every_workloads_label_and_its_hash_follows_them() {
        let web = dependent_label("Deployment", "web");
        let seed = dependent_label("Job", "seed");
        // (what the member holds, what the workload adds, labels after, same hash as alone)
        let alone = for_pull_member(desired_for(&web, "v"), None, &web);
        assert_eq!(
            labels_of(&alone.object),
            vec![
                web.clone(),
                "kubefed.io/dependency".to_string(),
                "kubefed.io/managed".to_string()
            ]
        );
        let shared = for_pull_member(desired_for(&seed, "v"), Some(&held(&alone.object)), &seed);
        assert_eq!(labels_of(&shared.object).len(), 4);
        assert_ne!(shared.hash, alone.hash, "the labels are in the hash");
        assert_eq!(
            shared.object["metadata"]["annotations"][DESIRED_HASH_ANNOTATION],
            json!(shared.hash)
        );
        // The same workloads and content give the same manifest, whoever writes it.
        let again = for_pull_member(desired_for(&web, "v"), Some(&held(&shared.object)), &web);
        assert_eq!(again, shared);
        assert!(!held(&shared.object).fields.needs_apply(&again.object));
        // New content is a new hash, labels kept.
        let changed = for_pull_member(desired_for(&web, "w"), Some(&held(&shared.object)), &web);
        assert_ne!(changed.hash, shared.hash);
        assert!(held(&shared.object).fields.needs_apply(&changed.object));
        assert_eq!(labels_of(&changed.object), labels_of(&shared.object));
    }

    #[test]
    fn releasing_rewrites_for_the_others_or_is_the_last() {
        let web = dependent_label("Deployment", "web");
        let seed = dependent_label("Job", "seed");
        let alone = for_pull_member(desired_for(&web, "v"), None, &web);
        let shared = for_pull_member(desired_for(&seed, "v"), Some(&held(&alone.object)), &seed);
        let seed_alone = for_pull_member(desired_for(&seed, "v"), None, &seed);
        // (manifest, released label, expected)
        let cases = [
            (&shared.object, &web, Release::Rewrite(seed_alone.clone())),
            (&shared.object, &seed, Release::Rewrite(alone.clone())),
            (&alone.object, &web, Release::Last),
            // Another workload's copy that lost every label (an interrupted release).
            (&alone.object, &seed, Release::Rewrite(alone.clone())),
        ];
        for (manifest, label, expected) in cases {
            assert_eq!(release(manifest, label), expected, "{label}");
        }
        let unlabelled = work_manifest(&alone.object, &BTreeSet::new());
        assert_eq!(release(&unlabelled.object, &web), Release::Last);
    }

    #[test]
    fn the_last_patch_says_how_the_member_copy_is_left() {
        // (orphan, keep, expected)
        let cases = [
            (false, false, None),
            (
                true,
                false,
                Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"orphan": true}})),
            ),
            (
                false,
                true,
                Some(json!({"metadata": {"finalizers": null, "resourceVersion": "7"}})),
            ),
            (
                true,
                true,
                Some(json!({"metadata": {"finalizers": null, "resourceVersion": "7"}})),
            ),
        ];
        for (orphan, keep, expected) in cases {
            assert_eq!(
                last_patch(orphan, keep, Some("7")),
                expected,
                "{orphan} {keep}"
            );
        }
        assert_eq!(
            last_patch(true, false, None),
            Some(json!({"metadata": {}, "spec": {"orphan": true}}))
        );
    }

    fn reported(status: &str, message: Option<&str>, observed: i64) -> MemberWork {
        let mut work = MemberWork::new(
            "configmaps.dependencies.kubefed.io.demo.settings",
            MemberWorkSpec {
                cluster: "c2".into(),
                ..Default::default()
            },
        );
        work.metadata.generation = Some(2);
        work.status = Some(MemberWorkStatus {
            observed_generation: Some(observed),
            propagation: Some(WorkPropagation {
                status: status.into(),
                message: message.map(str::to_string),
            }),
            ..Default::default()
        });
        work
    }

    #[test]
    fn agent_failures_of_the_current_spec_are_reported() {
        let exists =
            "ConfigMap settings already exists in cluster c2 and resource adoption is disabled";
        // (status word, message, observed generation, expected)
        let cases = [
            ("", None, 2, None),
            ("ManagedLabelFalse", None, 2, None),
            ("WaitingForRemoval", None, 2, None),
            ("AlreadyExists", Some(exists), 2, Some(exists.to_string())),
            ("AlreadyExists", Some(exists), 1, None),
            (
                "CreationFailed",
                None,
                2,
                Some("ConfigMap settings in c2: CreationFailed".to_string()),
            ),
            ("not a word", Some("x"), 2, None),
        ];
        for (word, message, observed, expected) in cases {
            assert_eq!(
                agent_failure(&reported(word, message, observed), &settings()),
                expected,
                "{word} {observed}"
            );
        }
        let mut silent = reported("", None, 2);
        silent.status = None;
        assert_eq!(agent_failure(&silent, &settings()), None);
    }

    #[test]
    fn an_orphaned_copy_loses_the_operators_labels_only() {
        let web = dependent_label("Deployment", "web");
        let copy = for_pull_member(desired_for(&web, "v"), None, &web);
        assert_eq!(
            orphan_patch(&copy.object),
            json!({"metadata": {"labels": {
                "kubefed.io/managed": null, "kubefed.io/dependency": null, web.as_str(): null}}})
        );
        let federated =
            json!({"metadata": {"labels": {"kubefed.io/managed": "true", "app": "web"}}});
        assert_eq!(
            orphan_patch(&federated),
            json!({"metadata": {"labels": {"kubefed.io/managed": null}}})
        );
        assert_eq!(
            orphan_patch(&json!({})),
            json!({"metadata": {"labels": {"kubefed.io/managed": null}}})
        );
    }
}
