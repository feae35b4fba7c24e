//! The API server's naming and establishing steps for CustomResourceDefinitions, run as a
//! controller next to the store as the real API server runs them: a new CRD first gets its
//! names accepted (`NamesAccepted`; its resource is served from then on), then, after the
//! cluster's `crd_establish_delay`, `Established` (from then on it shows in discovery).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::server::cluster::Cluster;
use crate::server::crd;
use crate::server::engine::{At, State, Sub, WriteOpts};
use crate::server::meta;
use crate::server::reconciler::{self, Reconciler};

/// Starts the controller for `cluster`; it ends with the cluster.
pub(crate) fn spawn(cluster: &Cluster, delay: Duration) {
    let controller = Establishing {
        delay,
        seen: None,
        installing: HashMap::new(),
    };
    // Detached: the loop ends when the cluster is dropped.
    drop(reconciler::spawn(
        cluster,
        controller,
        Arc::new(Notify::new()),
    ));
}

struct Establishing {
    delay: Duration,
    /// `State::changes_of` CRDs at the last pass.
    seen: Option<u64>,
    /// CRD uid → when its names were accepted, for CRDs waiting to be established.
    installing: HashMap<String, Instant>,
}

impl Reconciler for Establishing {
    fn reconcile(&mut self, cluster: &Cluster) -> Option<Instant> {
        let mut st = cluster.inner.state.lock();
        let def = st
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
        let changes = st.changes_of(&def.gr());
        if self.seen == Some(changes) && self.installing.is_empty() {
            return None;
        }
        self.seen = Some(changes);
        let crds: Vec<Arc<Value>> = st
            .store
            .list(&def.gr(), None, None)
            .map(|(_, o)| Arc::new(o.to_value()))
            .collect();
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut live = Vec::new();
        for current in crds {
            let uid = meta::uid(&current).to_string();
            live.push(uid.clone());
            let Ok(wanted) = crd::def_from_crd(&current) else {
                continue;
            };
            let taken = st.registry.by_gr(&wanted.gr()).is_some_and(|d| !d.is_crd);
            if let Some(named) = crd::accept_names(&current, &wanted, taken) {
                write_status(&mut st, &def, &current, named);
                continue;
            }
            if !crd::condition_true(&current, "NamesAccepted")
                || crd::condition_true(&current, "Established")
            {
                self.installing.remove(&uid);
                continue;
            }
            let due = *self.installing.entry(uid.clone()).or_insert(now) + self.delay;
            if due <= now {
                write_status(&mut st, &def, &current, crd::establish(&current));
                self.installing.remove(&uid);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        self.installing.retain(|uid, _| live.contains(uid));
        next
    }
}

/// Writes a CRD's status as the API server's own controllers do.
fn write_status(
    st: &mut State,
    def: &Arc<crate::server::resources::ResourceDef>,
    current: &Arc<Value>,
    next: Value,
) {
    let opts = WriteOpts {
        manager: "kube-apiserver".into(),
        dry_run: false,
        sub: Sub::Status,
        apply: None,
    };
    let at = At {
        def,
        ns: "",
        name: meta::name(current),
        version: "v1",
    };
    if let Err(e) = st.update(&at, current, next, &opts) {
        tracing::debug!(crd = %meta::name(current), error = %e, "updating CRD status failed");
    }
}
