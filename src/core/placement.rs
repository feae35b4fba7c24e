//! Which member clusters a federated object is placed on (`spec.placement`), with KubeFed's
//! rules, and the Cluster-scope rule that ties namespaced objects to their FederatedNamespace.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use thiserror::Error;

use crate::crds::federated::Placement;

/// What placement needs to know about a registered member cluster (a KubeFedCluster).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Name of the KubeFedCluster.
    pub name: String,
    /// Labels of the KubeFedCluster, matched by `spec.placement.clusterSelector`.
    pub labels: BTreeMap<String, String>,
}

/// The outcome of placement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlacementResult {
    /// Clusters the object should be propagated to.
    pub selected: BTreeSet<String>,
    /// Names listed in `spec.placement.clusters` that match no registered cluster; dropped, and
    /// returned so the controller can say so in an event.
    pub unknown: BTreeSet<String>,
}

/// Why placement could not be computed (reported as `ComputePlacementFailed` or
/// `NamespaceNotFederated`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PlacementError {
    /// A `matchExpressions` operator is not one of In, NotIn, Exists, DoesNotExist.
    #[error("invalid cluster selector: key {key:?}: unknown operator {operator:?}")]
    InvalidOperator {
        /// Label key of the requirement.
        key: String,
        /// The operator as written.
        operator: String,
    },
    /// The values do not fit the operator (In/NotIn need values, Exists/DoesNotExist none).
    #[error("invalid cluster selector: key {key:?}: operator {operator} {problem}")]
    InvalidValues {
        /// Label key of the requirement.
        key: String,
        /// The operator as written.
        operator: String,
        /// What is wrong with the values.
        problem: &'static str,
    },
    /// A requirement or matchLabels entry has an empty key.
    #[error("invalid cluster selector: empty label key")]
    EmptyKey,
    /// In Cluster scope, the namespace of a namespaced federated object has no FederatedNamespace.
    #[error("namespace {namespace:?} is not federated: no FederatedNamespace {namespace:?} exists")]
    NamespaceNotFederated {
        /// The namespace of the federated object.
        namespace: String,
    },
}

/// Why a member cluster is or is not chosen by `spec.placement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Named in `spec.placement.clusters`.
    Listed,
    /// Its labels match `spec.placement.clusterSelector`.
    Matched,
    /// `spec.placement.clusters` is present and does not name it.
    NotListed,
    /// Its labels do not match `spec.placement.clusterSelector`.
    SelectorMismatch,
    /// `spec.placement` has neither `clusters` nor `clusterSelector`: nothing is selected.
    NoPlacement,
    /// Selected by the object but not by its FederatedNamespace (Cluster scope).
    NamespaceNotPlaced,
}

impl Verdict {
    pub fn selected(&self) -> bool {
        matches!(self, Verdict::Listed | Verdict::Matched)
    }

    /// Why, in words.
    pub fn explain(&self) -> &'static str {
        match self {
            Verdict::Listed => "listed in spec.placement.clusters",
            Verdict::Matched => "labels match spec.placement.clusterSelector",
            Verdict::NotListed => "not listed in spec.placement.clusters",
            Verdict::SelectorMismatch => "labels do not match spec.placement.clusterSelector",
            Verdict::NoPlacement => "spec.placement has neither clusters nor clusterSelector",
            Verdict::NamespaceNotPlaced => {
                "the object's namespace is not federated there (FederatedNamespace placement)"
            }
        }
    }
}

/// Placement, cluster by cluster: a [`Verdict`] for every registered cluster, and the names
/// listed in `spec.placement.clusters` that match no registered cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    pub clusters: BTreeMap<String, Verdict>,
    pub unknown: BTreeSet<String>,
}

impl Verdicts {
    pub fn selected(&self) -> BTreeSet<String> {
        self.clusters
            .iter()
            .filter(|(_, v)| v.selected())
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// Decides every cluster with KubeFed's rules: an explicit `clusters` list (even empty) wins
/// over the selector; with no placement or no selector nothing is selected;
/// `clusterSelector: {}` selects every cluster; otherwise `matchLabels` AND
/// `matchExpressions` are matched against KubeFedCluster labels.
pub fn place_each(
    placement: Option<&Placement>,
    clusters: &[ClusterInfo],
) -> Result<Verdicts, PlacementError> {
    let every = |verdict: Verdict| Verdicts {
        clusters: clusters
            .iter()
            .map(|c| (c.name.clone(), verdict.clone()))
            .collect(),
        unknown: BTreeSet::new(),
    };
    let Some(placement) = placement else {
        return Ok(every(Verdict::NoPlacement));
    };
    if let Some(listed) = &placement.clusters {
        let names: BTreeSet<&str> = listed.iter().map(|r| r.name.as_str()).collect();
        let mut verdicts = every(Verdict::NotListed);
        for (name, verdict) in &mut verdicts.clusters {
            if names.contains(name.as_str()) {
                *verdict = Verdict::Listed;
            }
        }
        verdicts.unknown = names
            .into_iter()
            .filter(|n| !verdicts.clusters.contains_key(*n))
            .map(str::to_string)
            .collect();
        return Ok(verdicts);
    }
    let Some(selector) = &placement.cluster_selector else {
        return Ok(every(Verdict::NoPlacement));
    };
    // Validate once up front so an invalid selector fails even when no cluster is registered.
    validate_selector(selector)?;
    let mut verdicts = Verdicts::default();
    for cluster in clusters {
        let verdict = if selector_matches(selector, &cluster.labels)? {
            Verdict::Matched
        } else {
            Verdict::SelectorMismatch
        };
        verdicts.clusters.insert(cluster.name.clone(), verdict);
    }
    Ok(verdicts)
}

/// Computes the clusters a federated object is placed on (see [`place_each`]). Only clusters
/// that exist are selected; unknown names come back in `unknown`.
pub fn compute_placement(
    placement: Option<&Placement>,
    clusters: &[ClusterInfo],
) -> Result<PlacementResult, PlacementError> {
    let verdicts = place_each(placement, clusters)?;
    Ok(PlacementResult {
        selected: verdicts.selected(),
        unknown: verdicts.unknown,
    })
}

/// Applies the Cluster-scope namespace rule to a namespaced federated object's placement.
///
/// `namespace_placement` is the placement of the FederatedNamespace named `namespace`, or `None`
/// when that FederatedNamespace does not exist, in which case the object is placed nowhere and
/// `NamespaceNotFederated` is returned. (Not used in Namespaced scope, where the federation only
/// manages its own namespace.)
pub fn restrict_to_namespace(
    selected: &BTreeSet<String>,
    namespace: &str,
    namespace_placement: Option<&BTreeSet<String>>,
) -> Result<BTreeSet<String>, PlacementError> {
    let Some(ns_clusters) = namespace_placement else {
        return Err(PlacementError::NamespaceNotFederated {
            namespace: namespace.to_owned(),
        });
    };
    Ok(selected.intersection(ns_clusters).cloned().collect())
}

/// Checks a label selector against Kubernetes' rules without matching anything.
pub fn validate_selector(selector: &LabelSelector) -> Result<(), PlacementError> {
    if let Some(labels) = &selector.match_labels
        && labels.keys().any(String::is_empty)
    {
        return Err(PlacementError::EmptyKey);
    }
    for requirement in selector.match_expressions.iter().flatten() {
        validate_requirement(requirement)?;
    }
    Ok(())
}

/// Whether `labels` satisfy `selector` (an empty selector matches everything).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, PlacementError> {
    validate_selector(selector)?;
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !labels_ok {
        return Ok(false);
    }
    for requirement in selector.match_expressions.iter().flatten() {
        if !requirement_matches(requirement, labels) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn validate_requirement(r: &LabelSelectorRequirement) -> Result<(), PlacementError> {
    if r.key.is_empty() {
        return Err(PlacementError::EmptyKey);
    }
    let has_values = r.values.as_ref().is_some_and(|v| !v.is_empty());
    let invalid = |problem| PlacementError::InvalidValues {
        key: r.key.clone(),
        operator: r.operator.clone(),
        problem,
    };
    match r.operator.as_str() {
        "In" | "NotIn" if !has_values => Err(invalid("requires at least one value")),
        "Exists" | "DoesNotExist" if has_values => Err(invalid("must not have values")),
        "In" | "NotIn" | "Exists" | "DoesNotExist" => Ok(()),
        other => Err(PlacementError::InvalidOperator {
            key: r.key.clone(),
            operator: other.to_owned(),
        }),
    }
}

/// Kubernetes semantics: NotIn matches when the label is absent, like DoesNotExist.
fn requirement_matches(r: &LabelSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    let in_values = |v: &String| r.values.iter().flatten().any(|x| x == v);
    match r.operator.as_str() {
        "In" => value.is_some_and(in_values),
        "NotIn" => !value.is_some_and(in_values),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::federated::ClusterReference;

    fn cluster(name: &str, labels: &[(&str, &str)]) -> ClusterInfo {
        ClusterInfo {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    fn fleet() -> Vec<ClusterInfo> {
        vec![
            cluster("c1", &[("region", "eu"), ("tier", "prod")]),
            cluster("c2", &[("region", "us"), ("tier", "prod")]),
            cluster("c3", &[("region", "us")]),
        ]
    }

    fn names(s: &BTreeSet<String>) -> Vec<&str> {
        s.iter().map(String::as_str).collect()
    }

    fn by_selector(sel: serde_json::Value) -> Result<PlacementResult, PlacementError> {
        let placement = Placement {
            clusters: None,
            cluster_selector: Some(serde_json::from_value(sel).unwrap()),
        };
        compute_placement(Some(&placement), &fleet())
    }

    fn req(key: &str, op: &str, values: Option<&[&str]>) -> serde_json::Value {
        let mut r = serde_json::json!({"key": key, "operator": op});
        if let Some(v) = values {
            r["values"] = serde_json::json!(v);
        }
        r
    }

    #[test]
    fn no_placement_selects_nothing() {
        assert!(
            compute_placement(None, &fleet())
                .unwrap()
                .selected
                .is_empty()
        );
        let empty = Placement::default();
        assert!(
            compute_placement(Some(&empty), &fleet())
                .unwrap()
                .selected
                .is_empty()
        );
    }

    #[test]
    fn explicit_list_wins_over_selector_and_reports_unknown() {
        let p = Placement {
            clusters: Some(vec![
                ClusterReference { name: "c2".into() },
                ClusterReference {
                    name: "gone".into(),
                },
            ]),
            cluster_selector: Some(LabelSelector::default()),
        };
        let r = compute_placement(Some(&p), &fleet()).unwrap();
        assert_eq!(names(&r.selected), ["c2"]);
        assert_eq!(names(&r.unknown), ["gone"]);
    }

    #[test]
    fn empty_list_selects_nothing_even_with_selector() {
        let p = Placement {
            clusters: Some(vec![]),
            cluster_selector: Some(LabelSelector::default()),
        };
        assert!(
            compute_placement(Some(&p), &fleet())
                .unwrap()
                .selected
                .is_empty()
        );
    }

    #[test]
    fn empty_selector_selects_all() {
        let r = by_selector(serde_json::json!({})).unwrap();
        assert_eq!(names(&r.selected), ["c1", "c2", "c3"]);
        let r =
            by_selector(serde_json::json!({"matchLabels": {}, "matchExpressions": []})).unwrap();
        assert_eq!(r.selected.len(), 3);
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let r = by_selector(serde_json::json!({"matchLabels": {"tier": "prod"}})).unwrap();
        assert_eq!(names(&r.selected), ["c1", "c2"]);
        let r = by_selector(serde_json::json!({
            "matchLabels": {"tier": "prod"},
            "matchExpressions": [req("region", "In", Some(&["us", "ap"]))]
        }))
        .unwrap();
        assert_eq!(names(&r.selected), ["c2"]);
    }

    #[test]
    fn operators_follow_kubernetes_semantics() {
        let sel = |r| by_selector(serde_json::json!({ "matchExpressions": [r] })).unwrap();
        assert_eq!(
            names(&sel(req("region", "In", Some(&["eu"]))).selected),
            ["c1"]
        );
        // NotIn also matches clusters without the label.
        assert_eq!(
            names(&sel(req("tier", "NotIn", Some(&["prod"]))).selected),
            ["c3"]
        );
        assert_eq!(
            names(&sel(req("region", "NotIn", Some(&["eu"]))).selected),
            ["c2", "c3"]
        );
        assert_eq!(
            names(&sel(req("tier", "Exists", None)).selected),
            ["c1", "c2"]
        );
        assert_eq!(
            names(&sel(req("tier", "DoesNotExist", None)).selected),
            ["c3"]
        );
        assert!(sel(req("missing", "In", Some(&["x"]))).selected.is_empty());
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let sel = |r| by_selector(serde_json::json!({ "matchExpressions": [r] }));
        assert!(matches!(
            sel(req("region", "Gt", Some(&["1"]))),
            Err(PlacementError::InvalidOperator { .. })
        ));
        assert!(matches!(
            sel(req("region", "in", Some(&["eu"]))),
            Err(PlacementError::InvalidOperator { .. })
        ));
        assert!(matches!(
            sel(req("region", "In", None)),
            Err(PlacementError::InvalidValues { .. })
        ));
        assert!(matches!(
            sel(req("region", "NotIn", Some(&[]))),
            Err(PlacementError::InvalidValues { .. })
        ));
        assert!(matches!(
            sel(req("region", "Exists", Some(&["eu"]))),
            Err(PlacementError::InvalidValues { .. })
        ));
        assert_eq!(sel(req("", "Exists", None)), Err(PlacementError::EmptyKey));
        let e = sel(req("region", "Gt", Some(&["1"]))).unwrap_err();
        assert!(e.to_string().contains("region") && e.to_string().contains("Gt"));
    }

    #[test]
    fn invalid_selector_fails_without_clusters() {
        let placement = Placement {
            clusters: None,
            cluster_selector: Some(
                serde_json::from_value(serde_json::json!({
                    "matchExpressions": [req("a", "Bogus", None)]
                }))
                .unwrap(),
            ),
        };
        assert!(compute_placement(Some(&placement), &[]).is_err());
    }

    #[test]
    fn every_cluster_gets_a_verdict() {
        let listed = Placement {
            clusters: Some(vec![
                ClusterReference { name: "c1".into() },
                ClusterReference {
                    name: "gone".into(),
                },
            ]),
            cluster_selector: None,
        };
        let v = place_each(Some(&listed), &fleet()).unwrap();
        assert_eq!(v.clusters["c1"], Verdict::Listed);
        assert_eq!(v.clusters["c2"], Verdict::NotListed);
        assert_eq!(names(&v.unknown), ["gone"]);
        let sel = Placement {
            clusters: None,
            cluster_selector: Some(
                serde_json::from_value(serde_json::json!({"matchLabels": {"tier": "prod"}}))
                    .unwrap(),
            ),
        };
        let v = place_each(Some(&sel), &fleet()).unwrap();
        assert_eq!(
            v.clusters.values().cloned().collect::<Vec<_>>(),
            [
                Verdict::Matched,
                Verdict::Matched,
                Verdict::SelectorMismatch
            ]
        );
        assert_eq!(names(&v.selected()), ["c1", "c2"]);
        for placement in [None, Some(&Placement::default())] {
            let v = place_each(placement, &fleet()).unwrap();
            assert!(v.clusters.values().all(|v| *v == Verdict::NoPlacement));
        }
        assert!(Verdict::SelectorMismatch.explain().contains("do not match"));
    }

    #[test]
    fn namespace_rule_intersects_or_reports_missing_namespace() {
        let selected: BTreeSet<String> = ["c1", "c2"].iter().map(|s| s.to_string()).collect();
        let ns: BTreeSet<String> = ["c2", "c3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names(&restrict_to_namespace(&selected, "demo", Some(&ns)).unwrap()),
            ["c2"]
        );
        let err = restrict_to_namespace(&selected, "demo", None).unwrap_err();
        assert_eq!(
            err,
            PlacementError::NamespaceNotFederated {
                namespace: "demo".into()
            }
        );
        assert!(err.to_string().contains("demo"));
    }
}
