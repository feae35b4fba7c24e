//! The one transition rule for every condition the operator writes (federated objects,
//! KubeFedClusters, ReplicaSchedulingPreferences), following the Kubernetes API conventions:
//!
//! - `lastTransitionTime` moves only when `status` changes;
//! - `lastUpdateTime` (where the type has it) moves only when the content — status, reason or
//!   message — changes;
//! - an unchanged condition is returned unchanged, so recomputing it costs no write.

/// What a condition should say, before timestamps are attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub type_: &'a str,
    /// `True`, `False` or `Unknown`.
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

impl Wanted<'_> {
    /// `True` or `False`.
    pub fn status_word(holds: bool) -> &'static str {
        if holds { "True" } else { "False" }
    }
}

/// A condition type of the API, with its own timestamp representation.
pub trait Condition: Sized {
    type Time: Clone;

    fn type_(&self) -> &str;
    fn status(&self) -> &str;
    fn reason(&self) -> &str;
    fn message(&self) -> &str;
    fn last_transition(&self) -> Option<Self::Time>;
    /// `lastUpdateTime`, for types that have it.
    fn last_update(&self) -> Option<Self::Time>;
    /// Builds the condition; `now` is for fields set on every computation (`lastProbeTime`).
    fn make(
        wanted: &Wanted<'_>,
        last_transition: Self::Time,
        last_update: Self::Time,
        now: &Self::Time,
    ) -> Self;
}

/// The condition `wanted` should become, given the one of the same type it replaces.
pub fn next_condition<C: Condition>(existing: Option<&C>, wanted: &Wanted<'_>, now: &C::Time) -> C {
    let same_status = existing.is_some_and(|c| c.status() == wanted.status);
    let same_content = same_status
        && existing.is_some_and(|c| c.reason() == wanted.reason && c.message() == wanted.message);
    let keep = |t: Option<C::Time>, same: bool| match t {
        Some(t) if same => t,
        _ => now.clone(),
    };
    C::make(
        wanted,
        keep(existing.and_then(C::last_transition), same_status),
        keep(existing.and_then(C::last_update), same_content),
        now,
    )
}

/// `conditions` with the condition of `wanted.type_` set by the rule above (appended when
/// missing); every other condition is kept as it is.
pub fn set_condition<C: Condition + Clone>(
    conditions: &[C],
    wanted: &Wanted<'_>,
    now: &C::Time,
) -> Vec<C> {
    let mut out = conditions.to_vec();
    match out.iter_mut().find(|c| c.type_() == wanted.type_) {
        Some(c) => *c = next_condition(Some(c), wanted, now),
        None => out.push(next_condition(None, wanted, now)),
    }
    out
}

impl Condition for crate::crds::federated::FederatedCondition {
    type Time = String;

    fn type_(&self) -> &str {
        &self.type_
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn reason(&self) -> &str {
        &self.reason
    }
    fn message(&self) -> &str {
        &self.message
    }
    fn last_transition(&self) -> Option<String> {
        self.last_transition_time.clone()
    }
    fn last_update(&self) -> Option<String> {
        self.last_update_time.clone()
    }
    fn make(wanted: &Wanted<'_>, transition: String, update: String, _now: &String) -> Self {
        Self {
            type_: wanted.type_.to_owned(),
            status: wanted.status.to_owned(),
            reason: wanted.reason.to_owned(),
            message: wanted.message.to_owned(),
            last_update_time: Some(update),
            last_transition_time: Some(transition),
        }
    }
}

impl Condition for crate::crds::kubefed_cluster::ClusterCondition {
    type Time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn type_(&self) -> &str {
        &self.type_
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or_default()
    }
    fn message(&self) -> &str {
        self.message.as_deref().unwrap_or_default()
    }
    fn last_transition(&self) -> Option<Self::Time> {
        self.last_transition_time.clone()
    }
    /// KubeFedCluster conditions have no `lastUpdateTime`.
    fn last_update(&self) -> Option<Self::Time> {
        None
    }
    fn make(
        wanted: &Wanted<'_>,
        transition: Self::Time,
        _update: Self::Time,
        now: &Self::Time,
    ) -> Self {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            type_: wanted.type_.to_owned(),
            status: wanted.status.to_owned(),
            last_probe_time: now.clone(),
            last_transition_time: Some(transition),
            reason: text(wanted.reason),
            message: text(wanted.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::federated::FederatedCondition;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-01T00:01:00Z";

    fn wanted<'a>(status: &'a str, reason: &'a str, message: &'a str) -> Wanted<'a> {
        Wanted {
            type_: "Ready",
            status,
            reason,
            message,
        }
    }

    fn set(list: &[FederatedCondition], w: Wanted<'_>, now: &str) -> Vec<FederatedCondition> {
        set_condition(list, &w, &now.to_owned())
    }

    #[test]
    fn a_new_condition_gets_both_timestamps() {
        let c = set(&[], wanted("True", "Ok", ""), T0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time.as_deref(), Some(T0));
        assert_eq!(c[0].last_update_time.as_deref(), Some(T0));
    }

    #[test]
    fn unchanged_content_keeps_everything() {
        let first = set(&[], wanted("False", "Down", "x"), T0);
        assert_eq!(set(&first, wanted("False", "Down", "x"), T1), first);
    }

    #[test]
    fn reason_or_message_change_moves_only_the_update_time() {
        let first = set(&[], wanted("False", "Down", "x"), T0);
        for next in [wanted("False", "Other", "x"), wanted("False", "Down", "y")] {
            let c = set(&first, next, T1);
            assert_eq!(c[0].last_transition_time.as_deref(), Some(T0));
            assert_eq!(c[0].last_update_time.as_deref(), Some(T1));
        }
    }

    #[test]
    fn status_change_is_a_transition() {
        let first = set(&[], wanted("False", "Down", ""), T0);
        let c = set(&first, wanted("True", "Up", ""), T1);
        assert_eq!(c[0].last_transition_time.as_deref(), Some(T1));
        assert_eq!(c[0].last_update_time.as_deref(), Some(T1));
    }

    #[test]
    fn other_conditions_are_kept_in_place() {
        let other = FederatedCondition {
            type_: "Propagation".into(),
            status: "True".into(),
            ..Default::default()
        };
        let c = set(std::slice::from_ref(&other), wanted("True", "Ok", ""), T0);
        assert_eq!(c[0], other);
        assert_eq!(c[1].type_, "Ready");
    }
}
