//! Pausing (`kubefed.io/paused`) for pull members. The host carries the pause to each of the
//! object's MemberWorks (`spec.paused`, without a new manifest, so what the pause holds back
//! stays unsent), and the agent holds back its member writes as the push executor does,
//! reporting what it would do in the words the host's plan uses for push members.

use serde_json::{Value, json};
use std::sync::Arc;

use super::observation::MemberObject;
use super::plan::{Entry, decide_placed};
use super::pull::{AgentAction, AgentDecision, agent_decide, desired_of, settings_for};
use super::vocabulary::PropagationStatus;
use crate::crds::member_work::{MemberWork, WorkPropagation};

/// The merge patch that makes `work` carry the pause as the plan has it; `None` when it does
/// already, or when the MemberWork is being deleted (that deletion was decided unpaused).
pub fn pause_patch(work: &MemberWork, paused: bool) -> Option<Value> {
    if work.spec.paused == paused || work.metadata.deletion_timestamp.is_some() {
        return None;
    }
    // `null` removes the field, as a MemberWork that was never paused has it.
    let value = if paused { json!(true) } else { Value::Null };
    Some(json!({"spec": {"paused": value}}))
}

/// [`agent_decide`], except that a paused live MemberWork makes no member write: the agent
/// leaves the object and reports `Paused` with what it would do (`paused; would update
/// (changed out of band)`), so drift is reported and left, as for push members.
pub fn agent_decide_paused(work: &MemberWork, member: Option<&MemberObject>) -> AgentDecision {
    if work.spec.paused && work.metadata.deletion_timestamp.is_none() {
        let placed = decide_placed(
            &work.spec.cluster,
            &Arc::new(desired_of(work, member)),
            member,
            &settings_for(work),
        );
        if let Some(verb) = placed.action.write_verb() {
            return AgentDecision {
                action: AgentAction::Leave,
                propagation: WorkPropagation {
                    status: PropagationStatus::Paused.as_str().to_string(),
                    message: Some(format!("paused; would {verb}")),
                },
            };
        }
    }
    agent_decide(work, member)
}

/// Whether an agent's report (see [`crate::core::pull::reported_failure`]) still stands: a
/// `Paused` one only while the object is paused, since the agent may not have seen the
/// resume yet and the plan then has its own entry for the cluster.
pub fn report_stands(entry: &Entry, paused: bool) -> bool {
    paused
        || !matches!(
            entry,
            Entry::Show {
                status: PropagationStatus::Paused,
                ..
            }
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::DESIRED_HASH_ANNOTATION;
    use crate::core::observation::StatusCollection;
    use crate::core::pull::reported_failure;
    use crate::crds::federated::{AggregateKind, MANAGED_LABEL};
    use crate::crds::member_work::{MemberWorkSpec, MemberWorkStatus, WorkResource};
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn configmap(data: &str, hash: &str, managed: Option<&str>) -> Value {
        let mut labels = serde_json::Map::new();
        if let Some(m) = managed {
            labels.insert(MANAGED_LABEL.into(), json!(m));
        }
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "demo", "labels": labels,
                "annotations": {DESIRED_HASH_ANNOTATION: hash}},
            "data": {"k": data}
        })
    }

    fn work(paused: bool, deleting: bool) -> MemberWork {
        let mut w = MemberWork::new(
            "configmaps.demo.cm",
            MemberWorkSpec {
                cluster: "c1".into(),
                resource: WorkResource {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "ConfigMap".into(),
                    plural: "configmaps".into(),
                    namespaced: true,
                },
                manifest: configmap("a", "h-a", Some("true")),
                adopt: false,
                paused,
                ..Default::default()
            },
        );
        w.metadata.generation = Some(1);
        if deleting {
            w.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        }
        w
    }

    fn member(value: Value) -> MemberObject {
        MemberObject::from_object(
            &value,
            StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
        )
    }

    fn paused_word(verb: &str) -> WorkPropagation {
        WorkPropagation {
            status: "Paused".into(),
            message: Some(format!("paused; would {verb}")),
        }
    }

    #[test]
    fn a_paused_work_holds_back_every_member_write_and_says_which() {
        let in_sync = member(configmap("a", "h-a", Some("true")));
        let drifted = member(configmap("edited", "h-a", Some("true")));
        let outdated = member(configmap("old", "h-old", Some("true")));
        let unlabelled = member(configmap("a", "h-a", None));
        let refused = member(configmap("a", "h-a", Some("false")));
        let cases: [(&str, Option<&MemberObject>, Option<&str>); 5] = [
            ("missing", None, Some("create")),
            (
                "drifted",
                Some(&drifted),
                Some("update (changed out of band)"),
            ),
            ("outdated", Some(&outdated), Some("update")),
            ("in sync", Some(&in_sync), None),
            ("managed: false", Some(&refused), None),
        ];
        for (case, found, verb) in cases {
            let paused = agent_decide_paused(&work(true, false), found);
            let unpaused = agent_decide(&work(false, false), found);
            assert_eq!(
                agent_decide_paused(&work(false, false), found),
                unpaused,
                "{case}: unpaused is agent_decide"
            );
            match verb {
                Some(verb) => {
                    assert_eq!(paused.action, AgentAction::Leave, "{case}");
                    assert_eq!(paused.propagation, paused_word(verb), "{case}");
                    assert_ne!(
                        unpaused.action,
                        AgentAction::Leave,
                        "{case}: writes unpaused"
                    );
                }
                None => assert_eq!(paused, unpaused, "{case}: nothing to hold back"),
            }
        }
        // Adoption is held back too (with adoption allowed).
        let mut adopting = work(true, false);
        adopting.spec.adopt = true;
        assert_eq!(
            agent_decide_paused(&adopting, Some(&unlabelled)).propagation,
            paused_word("adopt the existing object")
        );
    }

    #[test]
    fn a_deletion_decided_before_the_pause_goes_on() {
        let found = member(configmap("a", "h-a", Some("true")));
        let w = work(true, true);
        assert_eq!(
            agent_decide_paused(&w, Some(&found)),
            agent_decide(&w, Some(&found))
        );
        assert!(matches!(
            agent_decide_paused(&w, Some(&found)).action,
            AgentAction::Delete(_)
        ));
    }

    #[test]
    fn the_host_reads_the_agents_held_back_drift_as_the_clusters_entry() {
        let mut w = work(true, false);
        let held = agent_decide_paused(&w, Some(&member(configmap("x", "h-a", Some("true")))));
        w.status = Some(MemberWorkStatus {
            observed_generation: Some(1),
            propagation: Some(held.propagation),
            ..Default::default()
        });
        assert_eq!(
            reported_failure(&w),
            Some(Entry::Show {
                status: PropagationStatus::Paused,
                message: Some("paused; would update (changed out of band)".into()),
            })
        );
    }

    #[test]
    fn a_held_back_report_stands_only_while_paused() {
        let held = Entry::Show {
            status: PropagationStatus::Paused,
            message: Some("paused; would update".into()),
        };
        let failed = Entry::Show {
            status: PropagationStatus::UpdateFailed,
            message: Some("refused".into()),
        };
        let cases = [
            (&held, true, true),
            (&held, false, false),
            (&failed, true, true),
            (&failed, false, true),
        ];
        for (entry, paused, stands) in cases {
            assert_eq!(
                report_stands(entry, paused),
                stands,
                "{entry:?}, paused {paused}"
            );
        }
    }

    #[test]
    fn the_pause_is_patched_only_when_it_differs_and_never_onto_a_deletion() {
        let cases = [
            (false, false, false, None),
            (true, true, false, None),
            (false, true, false, Some(json!({"spec": {"paused": true}}))),
            (true, false, false, Some(json!({"spec": {"paused": null}}))),
            (false, true, true, None),
            (true, false, true, None),
        ];
        for (carried, wanted, deleting, patch) in cases {
            assert_eq!(
                pause_patch(&work(carried, deleting), wanted),
                patch,
                "carried {carried}, wanted {wanted}, deleting {deleting}"
            );
        }
    }
}
