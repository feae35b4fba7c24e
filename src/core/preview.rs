//! What `kubectl fed preview` shows: the operator's own [`plan`] of a federated object, with
//! the placement of every member cluster explained ([`placement`]) and the object each
//! selected cluster would hold ([`desired_for`]). Nothing here is a copy of the operator's
//! rules: it only reads the plan and the placement verdicts the operator acts on.

use serde_json::Value;

use super::observation::{Observation, Reachability};
use super::plan::{
    Action, Disposition, Entry, PlanSettings, Unplaceable, Warning, desired_for, placement, plan,
};

/// The preview of one federated object.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Why nothing is planned for the object as a whole (input loading or unreadable, the
    /// namespace not federated, an excluded namespace).
    pub blocked: Option<String>,
    /// The object is being deleted: the actions are its deletion.
    pub deleting: bool,
    /// `kubefed.io/paused` holds every write back.
    pub paused: bool,
    /// One entry per member cluster, by name.
    pub clusters: Vec<ClusterPreview>,
    /// Names in `spec.placement.clusters` that are not joined.
    pub unknown: Vec<String>,
    /// What the operator would warn about (events).
    pub warnings: Vec<Warning>,
}

/// One member cluster in a preview.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterPreview {
    pub name: String,
    pub selected: bool,
    /// Why the cluster is (not) selected, and whether it can be written to.
    pub placement: String,
    /// What the operator would do: `create`, `update`, `delete`, …, `none`, `wait: <why>`.
    pub action: String,
    /// The action writes to the member.
    pub writes: bool,
    /// `status.clusters[].status` after the action (`""` when in sync), when it has an entry.
    pub status: Option<String>,
    pub message: Option<String>,
    /// The member object exactly as it would be applied (selected clusters), or why it
    /// cannot be built.
    pub desired: Option<Result<Value, String>>,
}

impl Preview {
    /// Whether the operator would write to any member.
    pub fn changes(&self) -> bool {
        self.clusters.iter().any(|c| c.writes)
    }
}

/// The preview of `obs` under `settings`.
pub fn preview(obs: &Observation, settings: &PlanSettings) -> Preview {
    let planned = plan(obs, settings);
    let spec = obs.object.spec.as_ref().ok();
    let verdicts = spec.map(|spec| placement(obs, spec, settings));
    let blocked = match (&planned.disposition, &planned.blocked, &verdicts) {
        (Disposition::Ignore, _, _) if obs.object.deleting => Some(
            "the object is being deleted and the operator no longer holds it (no finalizer)"
                .to_string(),
        ),
        (Disposition::Ignore, _, _) => Some(
            "the object is in a namespace that is never federated (kube-system, kube-public, default or the federation namespace)"
                .to_string(),
        ),
        (Disposition::Wait(why), _, _) => Some(format!("nothing can be decided yet: {why}")),
        (_, Some(blocked), _) => Some(blocked.message.clone()),
        (_, _, Some(Err(Unplaceable::Blocked(_, message, _)))) => Some(message.clone()),
        _ => None,
    };
    let mut clusters = Vec::new();
    for (name, member) in obs.members.iter().flatten() {
        let verdict = match &verdicts {
            Some(Ok(v)) => v.clusters.get(name).cloned(),
            _ => None,
        };
        let selected = verdict.as_ref().is_some_and(|v| v.selected()) && !obs.object.deleting;
        let mut why = match (&verdict, obs.object.deleting) {
            (_, true) => "the object is being deleted".to_string(),
            (Some(v), false) => v.explain().to_string(),
            (None, false) => "placement cannot be computed".to_string(),
        };
        match &member.reachability {
            Reachability::NotReady(reason) => why.push_str(&format!("; not ready: {reason}")),
            Reachability::Unprobed => why.push_str("; not probed yet"),
            Reachability::Unresponsive => why.push_str("; not answering since its last probe"),
            Reachability::Ready => {}
        }
        if let Some(problem) = member.cache.problem() {
            why.push_str(&format!("; {} {problem}", settings.target.resource));
        }
        let cluster_plan = planned.clusters.get(name);
        let action = cluster_plan.map(|c| &c.action);
        let (status, message) = match cluster_plan.map(|c| &c.entry) {
            Some(Entry::Show { status, message }) => {
                (Some(status.as_str().to_string()), message.clone())
            }
            _ => (None, None),
        };
        let desired = selected.then(|| match action {
            Some(Action::Create(d) | Action::Update { desired: d, .. }) => Ok(d.object.clone()),
            _ => match spec {
                Some(spec) => {
                    desired_for(&obs.object, spec, settings, name, member.object.as_deref())
                        .map(|d| d.object)
                        .map_err(|e| e.to_string())
                }
                None => Err("the spec cannot be read".to_string()),
            },
        });
        clusters.push(ClusterPreview {
            name: name.clone(),
            selected,
            placement: why,
            action: match action {
                Some(Action::Wait(why)) => format!("wait: {why}"),
                Some(a) => a.write_verb().unwrap_or("none").to_string(),
                None => "none".to_string(),
            },
            writes: action.is_some_and(Action::writes),
            status,
            message,
            desired,
        });
    }
    Preview {
        blocked,
        deleting: obs.object.deleting,
        paused: planned.paused.is_some(),
        clusters,
        unknown: match verdicts {
            Some(Ok(v)) => v.unknown.into_iter().collect(),
            _ => Vec::new(),
        },
        warnings: planned.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::observation::{FederatedObject, MemberView, NamespaceObservation};
    use crate::core::test_support::{configmap_settings as settings, member_view as member};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn observation(
        spec: Value,
        namespace: NamespaceObservation,
        members: Vec<(&str, MemberView)>,
    ) -> Observation {
        Observation {
            object: FederatedObject {
                namespace: Some("demo".into()),
                name: "cm".into(),
                generation: 1,
                deleting: false,
                has_finalizer: true,
                annotations: BTreeMap::new(),
                spec: serde_json::from_value(spec).map_err(|e| e.to_string()),
                status: None,
            },
            namespace,
            members: Some(
                members
                    .into_iter()
                    .map(|(n, m)| (n.to_string(), m))
                    .collect(),
            ),
        }
    }

    fn everywhere_but(cluster: &str) -> NamespaceObservation {
        NamespaceObservation::Found(Ok(serde_json::from_value(json!({"placement": {
            "clusterSelector": {"matchExpressions": [
                {"key": "name", "operator": "NotIn", "values": [cluster]}]}}}))
        .unwrap()))
    }

    #[test]
    fn every_cluster_is_explained_and_selected_ones_show_their_object() {
        let spec = json!({
            "template": {"data": {"k": "v"}},
            "placement": {"clusterSelector": {"matchLabels": {"tier": "prod"}}},
            "overrides": [{"clusterName": "c1", "clusterOverrides": [{"path": "/data/k", "value": "c1"}]}]
        });
        let obs = observation(
            spec,
            everywhere_but("c4"),
            vec![
                ("c1", member(&[("tier", "prod")], Reachability::Ready, None)),
                ("c2", member(&[("tier", "dev")], Reachability::Ready, None)),
                (
                    "c3",
                    member(
                        &[("tier", "prod")],
                        Reachability::NotReady("connection refused".into()),
                        None,
                    ),
                ),
                (
                    "c4",
                    member(
                        &[("tier", "prod"), ("name", "c4")],
                        Reachability::Ready,
                        None,
                    ),
                ),
            ],
        );
        let p = preview(&obs, &settings());
        assert_eq!(p.blocked, None);
        let by_name: BTreeMap<&str, &ClusterPreview> =
            p.clusters.iter().map(|c| (c.name.as_str(), c)).collect();
        let c1 = by_name["c1"];
        assert!(c1.selected && c1.writes);
        assert_eq!(c1.action, "create");
        assert_eq!(c1.placement, "labels match spec.placement.clusterSelector");
        let object = c1.desired.clone().unwrap().unwrap();
        assert_eq!(object["data"]["k"], "c1", "overrides applied");
        assert_eq!(object["metadata"]["labels"]["kubefed.io/managed"], "true");
        assert!(object["metadata"]["annotations"]["kubefed.io/desired-hash"].is_string());
        let c2 = by_name["c2"];
        assert!(!c2.selected && !c2.writes && c2.desired.is_none());
        assert_eq!(
            c2.placement,
            "labels do not match spec.placement.clusterSelector"
        );
        let c3 = by_name["c3"];
        assert!(c3.selected && !c3.writes);
        assert_eq!(
            c3.placement,
            "labels match spec.placement.clusterSelector; not ready: connection refused"
        );
        assert_eq!(c3.status.as_deref(), Some("ClusterNotReady"));
        assert_eq!(
            by_name["c4"].placement,
            "the object's namespace is not federated there (FederatedNamespace placement)"
        );
        assert!(p.changes());
    }

    #[test]
    fn an_object_in_sync_has_no_changes_and_still_shows_its_object() {
        let spec = json!({"template": {"data": {"k": "v"}}, "placement": {"clusters": [{"name": "c1"}, {"name": "c9"}]}});
        let obs = observation(
            spec.clone(),
            NamespaceObservation::NotNeeded,
            vec![("c1", member(&[], Reachability::Ready, None))],
        );
        let created = preview(&obs, &settings()).clusters[0]
            .desired
            .clone()
            .unwrap()
            .unwrap();
        let obs = observation(
            spec,
            NamespaceObservation::NotNeeded,
            vec![(
                "c1",
                member(&[], Reachability::Ready, Some(created.clone())),
            )],
        );
        let p = preview(&obs, &settings());
        assert!(!p.changes());
        assert_eq!(p.clusters[0].action, "none");
        assert_eq!(p.clusters[0].desired, Some(Ok(created)));
        assert_eq!(p.unknown, ["c9"]);
        assert_eq!(p.warnings[0].reason, "UnknownClusters");
    }

    #[test]
    fn a_paused_object_previews_no_changes_but_says_what_is_held_back() {
        let spec = json!({"template": {"data": {"k": "v"}}, "placement": {"clusterSelector": {}}});
        let mut obs = observation(
            spec,
            NamespaceObservation::NotNeeded,
            vec![("c1", member(&[], Reachability::Ready, None))],
        );
        obs.object
            .annotations
            .insert("kubefed.io/paused".into(), "true".into());
        let p = preview(&obs, &settings());
        assert!(p.paused && !p.changes());
        assert_eq!(p.clusters[0].status.as_deref(), Some("Paused"));
        assert_eq!(
            p.clusters[0].message.as_deref(),
            Some("paused; would create")
        );
    }

    #[test]
    fn blocked_objects_say_why() {
        let obs = observation(
            json!({"placement": {"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}}),
            NamespaceObservation::NotNeeded,
            vec![("c1", member(&[], Reachability::Ready, None))],
        );
        let p = preview(&obs, &settings());
        assert!(p.blocked.unwrap().contains("unknown operator \"Bogus\""));
        assert_eq!(p.clusters[0].placement, "placement cannot be computed");
        let obs = observation(
            json!({"placement": {"clusterSelector": {}}}),
            NamespaceObservation::Missing,
            vec![("c1", member(&[], Reachability::Ready, None))],
        );
        assert!(
            preview(&obs, &settings())
                .blocked
                .unwrap()
                .contains("is not federated")
        );
    }
}
