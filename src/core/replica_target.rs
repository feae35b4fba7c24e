//! Reading the current layout from, and writing a plan into, the federated workload an RSP
//! drives: `spec.placement.clusters` plus one `/spec/replicas` override per cluster, leaving
//! every other override of the user in place.

use crate::crds::federated::{
    ClusterOverride, ClusterReference, FederatedSpec, OverrideItem, Placement,
};
use serde_json::Value;
use std::collections::BTreeMap;

const REPLICAS_PATH: &str = "/spec/replicas";

/// Replicas per cluster as the target is laid out now: each placed cluster's `/spec/replicas`
/// override, else the template's replicas (1 when unset, the API default).
pub fn current_layout(spec: &FederatedSpec) -> BTreeMap<String, i64> {
    let template_replicas = spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/spec/replicas"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let placed: Vec<String> = spec
        .placement
        .as_ref()
        .and_then(|p| p.clusters.as_ref())
        .map(|c| c.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    placed
        .into_iter()
        .map(|cluster| {
            let replicas = spec
                .overrides
                .iter()
                .filter(|o| o.cluster_name == cluster)
                .flat_map(|o| o.cluster_overrides.iter())
                .filter(|o| o.path == REPLICAS_PATH && o.op != "remove")
                .filter_map(|o| o.value.as_ref().and_then(Value::as_i64))
                .next_back()
                .unwrap_or(template_replicas);
            (cluster, replicas)
        })
        .collect()
}

/// The spec with `plan` written in, or `None` when it already holds it (no write needed).
pub fn with_plan(spec: &FederatedSpec, plan: &BTreeMap<String, i64>) -> Option<FederatedSpec> {
    let mut next = spec.clone();
    let placement = next.placement.get_or_insert_with(Placement::default);
    placement.clusters = Some(
        plan.keys()
            .map(|name| ClusterReference { name: name.clone() })
            .collect(),
    );
    // Drop the replica overrides this controller owns, keep everything else.
    for item in &mut next.overrides {
        item.cluster_overrides.retain(|o| o.path != REPLICAS_PATH);
    }
    for (cluster, replicas) in plan {
        let op = ClusterOverride {
            op: String::new(),
            path: REPLICAS_PATH.to_string(),
            value: Some(Value::from(*replicas)),
        };
        match next
            .overrides
            .iter_mut()
            .find(|o| &o.cluster_name == cluster)
        {
            Some(item) => item.cluster_overrides.push(op),
            None => next.overrides.push(OverrideItem {
                cluster_name: cluster.clone(),
                cluster_overrides: vec![op],
            }),
        }
    }
    next.overrides.retain(|o| !o.cluster_overrides.is_empty());
    next.overrides
        .sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
    (normalized(&next) != normalized(spec)).then_some(next)
}

/// A comparable form: overrides sorted by cluster, so order alone is not a change.
fn normalized(spec: &FederatedSpec) -> FederatedSpec {
    let mut s = spec.clone();
    s.overrides
        .sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
    s
}

/// Capacity estimates from the target's collected status. A member whose rollout is stuck
/// (`Progressing=False`, reason `ProgressDeadlineExceeded`: replicas that cannot become
/// available, e.g. pods nobody can schedule) is full at its available count. A rollout that is
/// merely slow is not: treating every momentary shortfall as capacity would move replicas back
/// and forth.
pub fn capacity_from_status(
    status: Option<&Value>,
    layout: &BTreeMap<String, i64>,
) -> BTreeMap<String, i64> {
    let Some(entries) = status
        .and_then(|s| s.get("clusters"))
        .and_then(Value::as_array)
    else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let name = entry.get("name")?.as_str()?;
            if entry.get("stale").and_then(Value::as_bool) == Some(true) {
                return None;
            }
            let remote = entry.get("remoteStatus")?;
            let desired = *layout.get(name)?;
            let available = remote
                .get("availableReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let stuck = remote
                .get("conditions")
                .and_then(Value::as_array)
                .is_some_and(|conditions| {
                    conditions.iter().any(|c| {
                        c["type"] == "Progressing"
                            && c["status"] == "False"
                            && c["reason"] == "ProgressDeadlineExceeded"
                    })
                });
            (stuck && available < desired).then(|| (name.to_string(), available))
        })
        .collect()
}

/// The capacity to plan with: what was remembered for the same RSP generation, lowered or
/// extended by what the members show now.
pub fn remembered_capacity(
    remembered: &BTreeMap<String, i64>,
    observed: &BTreeMap<String, i64>,
) -> BTreeMap<String, i64> {
    let mut capacity = remembered.clone();
    for (cluster, available) in observed {
        capacity.insert(cluster.clone(), *available);
    }
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> FederatedSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn layout_reads_overrides_and_template() {
        let s = spec(json!({
            "template": {"spec": {"replicas": 4}},
            "placement": {"clusters": [{"name": "a"}, {"name": "b"}]},
            "overrides": [{"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 7}]}]
        }));
        assert_eq!(
            current_layout(&s),
            BTreeMap::from([("a".into(), 7), ("b".into(), 4)])
        );
    }

    #[test]
    fn plan_is_written_keeping_user_overrides() {
        let s = spec(json!({
            "template": {"spec": {"replicas": 4}},
            "placement": {"clusterSelector": {}},
            "overrides": [{"clusterName": "a", "clusterOverrides": [
                {"path": "/spec/template/spec/containers/0/image", "value": "x"},
                {"path": "/spec/replicas", "value": 9}
            ]}]
        }));
        let plan = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 0)]);
        let next = with_plan(&s, &plan).unwrap();
        let v = serde_json::to_value(&next).unwrap();
        assert_eq!(
            v["placement"]["clusters"],
            json!([{"name": "a"}, {"name": "b"}])
        );
        assert_eq!(
            v["overrides"],
            json!([
                {"clusterName": "a", "clusterOverrides": [
                    {"path": "/spec/template/spec/containers/0/image", "value": "x"},
                    {"path": "/spec/replicas", "value": 5}
                ]},
                {"clusterName": "b", "clusterOverrides": [{"path": "/spec/replicas", "value": 0}]}
            ])
        );
        // Writing the same plan again is not a change.
        assert!(with_plan(&next, &plan).is_none());
        assert_eq!(current_layout(&next), plan);
    }

    #[test]
    fn clusters_leaving_the_plan_lose_their_replica_override() {
        let s = spec(json!({
            "placement": {"clusters": [{"name": "a"}, {"name": "b"}]},
            "overrides": [
                {"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]},
                {"clusterName": "b", "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}
            ]
        }));
        let next = with_plan(&s, &BTreeMap::from([("a".to_string(), 10)])).unwrap();
        let v = serde_json::to_value(&next).unwrap();
        assert_eq!(v["placement"]["clusters"], json!([{"name": "a"}]));
        assert_eq!(
            v["overrides"],
            json!([{"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 10}]}])
        );
    }

    #[test]
    fn capacity_is_remembered_and_updated() {
        let remembered = BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 2)]);
        let observed = BTreeMap::from([("b".to_string(), 4)]);
        assert_eq!(
            remembered_capacity(&remembered, &observed),
            BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 4)])
        );
    }

    #[test]
    fn capacity_only_from_stuck_rollouts() {
        let layout = BTreeMap::from([
            ("a".to_string(), 5),
            ("b".to_string(), 5),
            ("c".to_string(), 5),
        ]);
        let stuck = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        let slow =
            json!([{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]);
        let status = json!({"clusters": [
            {"name": "a", "remoteStatus": {"replicas": 5, "availableReplicas": 3, "conditions": stuck}},
            {"name": "b", "remoteStatus": {"replicas": 5, "availableReplicas": 1, "conditions": slow}},
            {"name": "c", "stale": true, "remoteStatus": {"replicas": 5, "availableReplicas": 0, "conditions": stuck}}
        ]});
        assert_eq!(
            capacity_from_status(Some(&status), &layout),
            BTreeMap::from([("a".to_string(), 3)])
        );
    }
}
