//! The garbage collector, run as a controller next to the store as on a real cluster: a
//! DELETE only records what is to be collected, and this controller collects it afterwards.
//!
//! - Background: the owner goes at once; its dependents whose owners are all gone are deleted
//!   later (a dependent that still has a live owner only loses the dangling reference).
//! - Foreground: the owner stays, deleting, with the `foregroundDeletion` finalizer until the
//!   dependents that block it (`blockOwnerDeletion`) are gone; the others are deleted too.
//! - Orphan: the owner stays, deleting, with the `orphan` finalizer until every dependent's
//!   reference to it is removed.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::server::cluster::Cluster;
use crate::server::engine::{DeleteOpts, Propagation, State};
use crate::server::meta;
use crate::server::reconciler::{self, Reconciler};
use crate::server::store::ObjKey;

pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Work recorded by deletions for the collector.
#[derive(Debug, Default)]
pub struct GcQueue {
    /// Uids of removed objects whose dependents are to be looked at.
    owners_gone: Vec<String>,
    /// Deleting objects holding a collector finalizer; kept until the finalizer is removed.
    finalizing: Vec<ObjKey>,
}

impl GcQueue {
    pub fn owner_gone(&mut self, uid: &str) {
        self.owners_gone.push(uid.to_string());
    }

    pub fn finalize(&mut self, key: ObjKey) {
        if !self.finalizing.contains(&key) {
            self.finalizing.push(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.owners_gone.is_empty() && self.finalizing.is_empty()
    }
}

/// Starts the collector for `cluster`; it ends with the cluster.
pub(crate) fn spawn(cluster: &Cluster) {
    // Detached: the loop ends when the cluster is dropped.
    drop(reconciler::spawn(
        cluster,
        Collector,
        Arc::new(Notify::new()),
    ));
}

struct Collector;

impl Reconciler for Collector {
    fn reconcile(&mut self, cluster: &Cluster) -> Option<Instant> {
        let mut st = cluster.inner.state.lock();
        let before = st.changes;
        // A pass can make more work (a collected dependent may own others): go on until
        // nothing is left but owners still waiting for their dependents.
        for _ in 0..64 {
            let changes = st.changes;
            collect(&mut st);
            if st.changes == changes {
                break;
            }
        }
        if st.changes != before {
            tracing::debug!(changes = st.changes - before, "garbage collected");
        }
        None
    }
}

fn collect(st: &mut State) {
    let gone = std::mem::take(&mut st.gc.owners_gone);
    for uid in gone {
        for dep in st.store.dependents_of(&uid) {
            collect_dependent(st, &dep, &uid);
        }
    }
    let finalizing = std::mem::take(&mut st.gc.finalizing);
    for key in finalizing {
        finalize(st, key);
    }
}

/// A dependent of a removed owner: deleted when no owner is left, else the dangling
/// reference is removed.
fn collect_dependent(st: &mut State, dep: &ObjKey, gone_uid: &str) {
    let Some(obj) = st.store.get(&dep.gr, &dep.namespace, &dep.name).cloned() else {
        return;
    };
    let owners = obj.meta().owner_uids();
    let live: Vec<&String> = owners.iter().filter(|u| st.store.uid_exists(u)).collect();
    let Some(def) = st.registry.by_gr(&dep.gr) else {
        return;
    };
    if live.is_empty() {
        // Only NotFound is possible here (removed by an earlier cascade); nothing to do.
        let _ = st.delete(&def, &dep.namespace, &dep.name, &DeleteOpts::default());
        return;
    }
    let mut next = obj.to_value();
    if let Some(refs) = meta::meta_mut(&mut next)
        .get_mut("ownerReferences")
        .and_then(Value::as_array_mut)
    {
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(gone_uid));
    }
    meta::drop_empty(&mut next, "ownerReferences");
    st.gc_commit(dep, next);
}

/// A deleting object holding a collector finalizer: does what the finalizer waits for, and
/// removes it once done.
fn finalize(st: &mut State, key: ObjKey) {
    let Some(obj) = st.store.get(&key.gr, &key.namespace, &key.name).cloned() else {
        return;
    };
    let current = obj.to_value();
    let finalizers = meta::finalizers(&current);
    let uid = meta::uid(&current).to_string();
    let mut done = Vec::new();
    if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
        st.orphan_dependents(&uid);
        done.push(ORPHAN_FINALIZER);
    }
    if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
        if delete_dependents(st, &uid) {
            done.push(FOREGROUND_FINALIZER);
        } else {
            // Looked at again on the next change, when a blocking dependent may be gone.
            st.gc.finalize(key.clone());
        }
    }
    if done.is_empty() {
        return;
    }
    let mut next = current;
    let left: Vec<String> = finalizers
        .into_iter()
        .filter(|f| !done.contains(&f.as_str()))
        .collect();
    meta::meta_mut(&mut next).insert("finalizers".into(), json!(left));
    meta::drop_empty(&mut next, "finalizers");
    st.gc_commit(&key, next);
}

/// Deletes the dependents of a foreground deletion (in the foreground themselves when they
/// own others); true once none that blocks its owner is left.
fn delete_dependents(st: &mut State, owner_uid: &str) -> bool {
    for dep in st.store.dependents_of(owner_uid) {
        let Some(obj) = st.store.get(&dep.gr, &dep.namespace, &dep.name).cloned() else {
            continue;
        };
        let Some(def) = st
            .registry
            .by_gr(&dep.gr)
            .filter(|_| !obj.meta().is_deleting())
        else {
            continue;
        };
        let propagation = if st.store.dependents_of(obj.meta().uid()).is_empty() {
            Propagation::Background
        } else {
            Propagation::Foreground
        };
        let opts = DeleteOpts {
            propagation,
            ..DeleteOpts::default()
        };
        // Only NotFound is possible here (removed by an earlier cascade); nothing to do.
        let _ = st.delete(&def, &dep.namespace, &dep.name, &opts);
    }
    !st.store.dependents_of(owner_uid).iter().any(|d| {
        st.store
            .get(&d.gr, &d.namespace, &d.name)
            .is_some_and(|o| blocks(&o.to_value(), owner_uid))
    })
}

/// Whether `dep` holds its reference to `owner_uid` with `blockOwnerDeletion`.
fn blocks(dep: &Value, owner_uid: &str) -> bool {
    meta::meta(dep)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(owner_uid)
                    && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
            })
        })
}
