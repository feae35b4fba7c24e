//! The loop shared by the controllers (the API server's own and the in-cluster ones): run a
//! reconcile pass whenever the cluster's resource version moves, when the pass asked to be
//! woken at a deadline, or when its settings changed.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::server::cluster::Cluster;

/// One controller. Passes run under no lock; they take the cluster's state lock themselves.
pub(crate) trait Reconciler: Send + 'static {
    /// Brings the cluster closer to the wanted state; returns when to run again at the latest.
    fn reconcile(&mut self, cluster: &Cluster) -> Option<Instant>;
}

/// Runs `r` until the cluster is dropped or the task is aborted.
pub(crate) fn spawn(
    cluster: &Cluster,
    mut r: impl Reconciler,
    wake: Arc<Notify>,
) -> JoinHandle<()> {
    let weak = Arc::downgrade(&cluster.inner);
    let mut changes = cluster.inner.state.lock().subscribe();
    tokio::spawn(async move {
        loop {
            changes.borrow_and_update();
            let next = {
                let Some(inner) = weak.upgrade() else { return };
                r.reconcile(&Cluster { inner })
            };
            let deadline = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = changes.changed() => if c.is_err() { return },
                _ = deadline => {}
                _ = wake.notified() => {}
            }
        }
    })
}
