//! The `KubeFedCluster.status` a cluster should have, from what the probes and the member
//! caches found.
//!
//! Pure: the controller reads, calls [`next_status`] and writes only when
//! [`status_changed`] says something other than the probe time moved, so a healthy fleet costs
//! no status writes.
//!
//! Conditions, in this order: `Ready`, then `Offline` (or `ConfigMalformed`), then
//! `TypesAvailable`: `True` (reason `AllTypesAvailable`) when every enabled type can be watched
//! in the member, `False` (reason `TypesUnavailable`) with a message naming each type that
//! cannot, e.g. `cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden;
//! widgets.example.com: not served`.

use super::condition::{Wanted as WantedCondition, next_condition};
use super::health::Health;
use crate::crds::kubefed_cluster::{
    CONDITION_CONFIG_MALFORMED, CONDITION_OFFLINE, CONDITION_READY, CONDITION_TYPES_AVAILABLE,
    ClusterCondition, KubeFedClusterStatus, REASON_ALL_TYPES_AVAILABLE,
    REASON_CLUSTER_NOT_REACHABLE, REASON_CLUSTER_NOT_READY, REASON_CLUSTER_REACHABLE,
    REASON_CLUSTER_READY, REASON_TYPES_UNAVAILABLE,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Reason of the `ConfigMalformed` condition.
pub const REASON_CONFIG_MALFORMED: &str = "ConfigMalformed";

/// What is known about a member cluster right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The KubeFedCluster or its Secret cannot be turned into a connection.
    Malformed(String),
    /// The debounced probe result, and the version `/version` reported (when known).
    Probed {
        health: Health,
        version: Option<String>,
    },
}

/// What the member caches found about the enabled types in a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypesObservation {
    /// Not every enabled type has been tried yet: the condition is left as it is, so a
    /// restart does not flip it (and write) before the caches have caught up.
    Pending,
    /// Each type the member cannot serve, with why (`forbidden`, `not served`); empty when all
    /// can be watched. Sorted by type.
    Known(Vec<(String, String)>),
}

impl TypesObservation {
    /// The `TypesAvailable` condition's message.
    pub fn message(problems: &[(String, String)]) -> String {
        if problems.is_empty() {
            return "every enabled type can be watched".to_string();
        }
        let listed: Vec<String> = problems
            .iter()
            .map(|(t, why)| format!("{t}: {why}"))
            .collect();
        format!("cannot watch {}", listed.join("; "))
    }
}

struct Wanted {
    type_: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
}

fn types_condition(types: &TypesObservation) -> Option<Wanted> {
    let TypesObservation::Known(problems) = types else {
        return None;
    };
    Some(Wanted {
        type_: CONDITION_TYPES_AVAILABLE,
        status: WantedCondition::status_word(problems.is_empty()),
        reason: if problems.is_empty() {
            REASON_ALL_TYPES_AVAILABLE
        } else {
            REASON_TYPES_UNAVAILABLE
        },
        message: TypesObservation::message(problems),
    })
}

fn wanted_conditions(observation: &Observation) -> Vec<Wanted> {
    match observation {
        Observation::Malformed(problem) => vec![
            Wanted {
                type_: CONDITION_READY,
                status: "False",
                reason: REASON_CLUSTER_NOT_READY,
                message: format!("cluster configuration is malformed: {problem}"),
            },
            Wanted {
                type_: CONDITION_CONFIG_MALFORMED,
                status: "True",
                reason: REASON_CONFIG_MALFORMED,
                message: problem.clone(),
            },
        ],
        Observation::Probed { health, .. } => {
            let (ready, offline) = match health {
                Health::Ready => (
                    (
                        "True",
                        REASON_CLUSTER_READY,
                        "/healthz responded with ok".to_string(),
                    ),
                    (
                        "False",
                        REASON_CLUSTER_REACHABLE,
                        "cluster is reachable".to_string(),
                    ),
                ),
                Health::NotReady(why) => (
                    (
                        "False",
                        REASON_CLUSTER_NOT_READY,
                        format!("/healthz responded without ok: {why}"),
                    ),
                    (
                        "False",
                        REASON_CLUSTER_REACHABLE,
                        "cluster is reachable".to_string(),
                    ),
                ),
                Health::Offline(why) => (
                    (
                        "False",
                        REASON_CLUSTER_NOT_READY,
                        "cluster is not reachable".to_string(),
                    ),
                    (
                        "True",
                        REASON_CLUSTER_NOT_REACHABLE,
                        format!("cluster is not reachable: {why}"),
                    ),
                ),
            };
            vec![
                Wanted {
                    type_: CONDITION_READY,
                    status: ready.0,
                    reason: ready.1,
                    message: ready.2,
                },
                Wanted {
                    type_: CONDITION_OFFLINE,
                    status: offline.0,
                    reason: offline.1,
                    message: offline.2,
                },
            ]
        }
    }
}

/// The status to write: conditions in a fixed order (see the module documentation),
/// timestamps by the one transition rule of [`super::condition`], `kubernetesVersion` kept when
/// this observation has none.
pub fn next_status(
    previous: Option<&KubeFedClusterStatus>,
    observation: &Observation,
    types: &TypesObservation,
    now: &Time,
) -> KubeFedClusterStatus {
    let mut conditions: Vec<ClusterCondition> = wanted_conditions(observation)
        .into_iter()
        .chain(types_condition(types))
        .map(|w| {
            let before = previous.and_then(|p| p.condition(w.type_));
            let wanted = WantedCondition {
                type_: w.type_,
                status: w.status,
                reason: w.reason,
                message: &w.message,
            };
            next_condition(before, &wanted, now)
        })
        .collect();
    if *types == TypesObservation::Pending
        && let Some(kept) = previous.and_then(|p| p.condition(CONDITION_TYPES_AVAILABLE))
    {
        conditions.push(kept.clone());
    }
    let version = match observation {
        Observation::Probed {
            version: Some(v), ..
        } => Some(v.clone()),
        _ => previous.and_then(|p| p.kubernetes_version.clone()),
    };
    KubeFedClusterStatus {
        conditions,
        kubernetes_version: version,
        zones: previous.map(|p| p.zones.clone()).unwrap_or_default(),
        region: previous.and_then(|p| p.region.clone()),
    }
}

/// Whether `next` differs from `previous` in anything but `lastProbeTime`.
pub fn status_changed(
    previous: Option<&KubeFedClusterStatus>,
    next: &KubeFedClusterStatus,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    let strip = |s: &KubeFedClusterStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_probe_time = Time(jiff::Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(previous) != strip(next)
}

/// The health a cluster had according to its status, to resume debouncing after a restart.
pub fn health_from_status(status: Option<&KubeFedClusterStatus>) -> Option<Health> {
    let status = status?;
    if status
        .condition(CONDITION_CONFIG_MALFORMED)
        .is_some_and(|c| c.status == "True")
    {
        return None;
    }
    let message = |type_: &str| {
        status
            .condition(type_)
            .and_then(|c| c.message.clone())
            .unwrap_or_default()
    };
    if status
        .condition(CONDITION_OFFLINE)
        .is_some_and(|c| c.status == "True")
    {
        let m = message(CONDITION_OFFLINE);
        let why = m.strip_prefix("cluster is not reachable: ").unwrap_or(&m);
        return Some(Health::Offline(why.to_string()));
    }
    match status.condition(CONDITION_READY)?.status.as_str() {
        "True" => Some(Health::Ready),
        "False" => {
            let m = message(CONDITION_READY);
            let why = m
                .strip_prefix("/healthz responded without ok: ")
                .unwrap_or(&m);
            Some(Health::NotReady(why.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PENDING: TypesObservation = TypesObservation::Pending;

    fn at(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn probed(health: Health) -> Observation {
        Observation::Probed {
            health,
            version: Some("v1.33.0".into()),
        }
    }

    #[test]
    fn ready_cluster_conditions() {
        let s = next_status(None, &probed(Health::Ready), &PENDING, &at(10));
        let ready = s.condition(CONDITION_READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.reason.as_deref(), Some("ClusterReady"));
        assert_eq!(ready.last_transition_time, Some(at(10)));
        let offline = s.condition(CONDITION_OFFLINE).unwrap();
        assert_eq!(offline.status, "False");
        assert_eq!(offline.reason.as_deref(), Some("ClusterReachable"));
        assert_eq!(s.kubernetes_version.as_deref(), Some("v1.33.0"));
        assert!(s.is_ready());
    }

    #[test]
    fn probe_time_alone_is_not_a_change() {
        let first = next_status(None, &probed(Health::Ready), &PENDING, &at(10));
        let second = next_status(Some(&first), &probed(Health::Ready), &PENDING, &at(20));
        assert_eq!(
            second
                .condition(CONDITION_READY)
                .unwrap()
                .last_transition_time,
            Some(at(10))
        );
        assert_eq!(
            second.condition(CONDITION_READY).unwrap().last_probe_time,
            at(20)
        );
        assert!(!status_changed(Some(&first), &second));
    }

    #[test]
    fn going_offline_flips_both_conditions() {
        let first = next_status(None, &probed(Health::Ready), &PENDING, &at(10));
        let off = next_status(
            Some(&first),
            &Observation::Probed {
                health: Health::Offline("connection refused".into()),
                version: None,
            },
            &PENDING,
            &at(40),
        );
        assert!(status_changed(Some(&first), &off));
        let offline = off.condition(CONDITION_OFFLINE).unwrap();
        assert_eq!(offline.status, "True");
        assert_eq!(offline.reason.as_deref(), Some("ClusterNotReachable"));
        assert_eq!(offline.last_transition_time, Some(at(40)));
        assert_eq!(off.condition(CONDITION_READY).unwrap().status, "False");
        // The last known version is kept while the cluster cannot be asked.
        assert_eq!(off.kubernetes_version.as_deref(), Some("v1.33.0"));
        assert_eq!(
            health_from_status(Some(&off)),
            Some(Health::Offline("connection refused".into()))
        );
    }

    #[test]
    fn malformed_config_names_the_problem() {
        let s = next_status(
            None,
            &Observation::Malformed("secret \"c1-token\" not found".into()),
            &PENDING,
            &at(1),
        );
        let malformed = s.condition(CONDITION_CONFIG_MALFORMED).unwrap();
        assert_eq!(malformed.status, "True");
        assert!(malformed.message.as_deref().unwrap().contains("c1-token"));
        assert!(!s.is_ready());
        assert_eq!(health_from_status(Some(&s)), None);
        // Fixing the config removes the condition.
        let fixed = next_status(Some(&s), &probed(Health::Ready), &PENDING, &at(2));
        assert!(fixed.condition(CONDITION_CONFIG_MALFORMED).is_none());
        assert!(status_changed(Some(&s), &fixed));
    }

    #[test]
    fn health_round_trips_through_status() {
        for h in [
            Health::Ready,
            Health::NotReady("500 Internal Server Error".into()),
        ] {
            let s = next_status(None, &probed(h.clone()), &PENDING, &at(1));
            assert_eq!(health_from_status(Some(&s)), Some(h));
        }
    }

    #[test]
    fn types_available_names_each_type_and_waits_while_pending() {
        let problems = vec![
            (
                "clusterrolebindings.rbac.authorization.k8s.io".to_string(),
                "forbidden".to_string(),
            ),
            ("widgets.example.com".to_string(), "not served".to_string()),
        ];
        let s = next_status(
            None,
            &probed(Health::Ready),
            &TypesObservation::Known(problems),
            &at(1),
        );
        let c = s.condition(CONDITION_TYPES_AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("TypesUnavailable"))
        );
        assert_eq!(
            c.message.as_deref(),
            Some(
                "cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden; widgets.example.com: not served"
            )
        );
        // Until every type has been tried again (e.g. after a restart) the condition is kept.
        let restarted = next_status(Some(&s), &probed(Health::Ready), &PENDING, &at(2));
        assert!(!status_changed(Some(&s), &restarted));
        let fixed = next_status(
            Some(&s),
            &probed(Health::Ready),
            &TypesObservation::Known(vec![]),
            &at(3),
        );
        let c = fixed.condition(CONDITION_TYPES_AVAILABLE).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some("AllTypesAvailable"))
        );
        assert_eq!(c.last_transition_time, Some(at(3)));
        assert_eq!(fixed.conditions.len(), 3);
    }
}
