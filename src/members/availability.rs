//! Which enabled types each member can serve, as the member caches find out: the source of the
//! KubeFedCluster's `TypesAvailable` condition. The sync workers' caches write it, the type
//! config controller says which types are enabled, the cluster controller reads it.

use crate::core::cluster_status::TypesObservation;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

/// What a member's cache found out about one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeState {
    /// Not tried yet, or failing in a way that says nothing lasting about the member.
    Pending,
    Available,
    /// A lasting reason, e.g. `forbidden` or `not served`.
    Unavailable(&'static str),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Registry {
    /// Types with a running sync worker.
    enabled: BTreeSet<String>,
    /// Cluster → type → state.
    states: BTreeMap<String, BTreeMap<String, TypeState>>,
}

/// The shared registry; cheap to clone.
#[derive(Clone)]
pub struct TypeAvailability {
    tx: Arc<watch::Sender<Registry>>,
}

impl Default for TypeAvailability {
    fn default() -> Self {
        TypeAvailability {
            tx: Arc::new(watch::channel(Registry::default()).0),
        }
    }
}

/// A receiver woken on every change.
pub struct AvailabilityWatch(watch::Receiver<Registry>);

impl AvailabilityWatch {
    /// Waits for the next change; `false` when the registry is gone.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }

    /// What is known about `cluster` now.
    pub fn observe(&mut self, cluster: &str) -> TypesObservation {
        observe(&self.0.borrow_and_update(), cluster)
    }
}

fn observe(registry: &Registry, cluster: &str) -> TypesObservation {
    let states = registry.states.get(cluster);
    let mut problems = Vec::new();
    for type_name in &registry.enabled {
        match states.and_then(|s| s.get(type_name)) {
            None | Some(TypeState::Pending) => return TypesObservation::Pending,
            Some(TypeState::Available) => {}
            Some(TypeState::Unavailable(why)) => {
                problems.push((type_name.clone(), (*why).to_string()));
            }
        }
    }
    if registry.enabled.is_empty() {
        return TypesObservation::Pending;
    }
    TypesObservation::Known(problems)
}

impl TypeAvailability {
    /// Records the state of `type_name` in `cluster`.
    pub fn set(&self, cluster: &str, type_name: &str, state: TypeState) {
        self.tx.send_if_modified(|r| {
            let states = r.states.entry(cluster.to_string()).or_default();
            if states.get(type_name) == Some(&state) {
                return false;
            }
            states.insert(type_name.to_string(), state);
            true
        });
    }

    /// The types whose workers run; states of other types are dropped.
    pub fn set_enabled(&self, enabled: BTreeSet<String>) {
        self.tx.send_if_modified(|r| {
            if r.enabled == enabled {
                return false;
            }
            for states in r.states.values_mut() {
                states.retain(|t, _| enabled.contains(t));
            }
            r.enabled = enabled;
            true
        });
    }

    /// Forgets a member that left the federation.
    pub fn remove_cluster(&self, cluster: &str) {
        self.tx
            .send_if_modified(|r| r.states.remove(cluster).is_some());
    }

    pub fn subscribe(&self) -> AvailabilityWatch {
        AvailabilityWatch(self.tx.subscribe())
    }

    /// What is known about `cluster` now.
    pub fn observe(&self, cluster: &str) -> TypesObservation {
        observe(&self.tx.borrow(), cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(types: &[&str]) -> BTreeSet<String> {
        types.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn pending_until_every_enabled_type_has_an_answer() {
        let a = TypeAvailability::default();
        assert_eq!(a.observe("c1"), TypesObservation::Pending);
        a.set_enabled(enabled(&["configmaps", "widgets.example.com"]));
        a.set("c1", "configmaps", TypeState::Available);
        assert_eq!(a.observe("c1"), TypesObservation::Pending);
        a.set(
            "c1",
            "widgets.example.com",
            TypeState::Unavailable("not served"),
        );
        assert_eq!(
            a.observe("c1"),
            TypesObservation::Known(vec![("widgets.example.com".into(), "not served".into())])
        );
        // Disabling the type drops it.
        a.set_enabled(enabled(&["configmaps"]));
        assert_eq!(a.observe("c1"), TypesObservation::Known(vec![]));
        a.remove_cluster("c1");
        assert_eq!(a.observe("c1"), TypesObservation::Pending);
    }

    #[tokio::test]
    async fn subscribers_are_woken_on_change_only() {
        let a = TypeAvailability::default();
        let mut rx = a.subscribe();
        a.set("c1", "configmaps", TypeState::Available);
        assert!(rx.changed().await);
        rx.observe("c1");
        a.set("c1", "configmaps", TypeState::Available);
        assert!(!rx.0.has_changed().unwrap());
    }
}
