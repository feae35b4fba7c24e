//! Leader election: the controllers run only while this instance holds the Lease.

use crate::runtime::metrics::Metrics;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Name of the Lease in the federation namespace.
pub const LEASE_NAME: &str = "kubefed-operator";

/// Lease timings, from `KubeFedConfig.spec.leaderElect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "leaderElect: leaseDuration ({lease:?}) must be longer than renewDeadline ({renew:?}) by at least one second"
    )]
    InvalidTimings { lease: Duration, renew: Duration },
    #[error("cannot set up the leader Lease: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("the leader election loop stopped unexpectedly")]
    Stopped,
}

impl LeaseTimings {
    /// The lease manager works in whole seconds: the Lease is held for `lease_duration` and
    /// renewed `lease_duration - renew_deadline` before it expires.
    fn params(&self, identity: &str) -> Result<LeaseParams, LeaderError> {
        let duration = self.lease_duration.as_secs();
        let grace = duration.saturating_sub(self.renew_deadline.as_secs());
        if duration == 0 || grace == 0 || grace >= duration {
            return Err(LeaderError::InvalidTimings {
                lease: self.lease_duration,
                renew: self.renew_deadline,
            });
        }
        Ok(LeaseParams::new(identity, duration, grace))
    }
}

async fn wait_until(rx: &mut watch::Receiver<bool>, leading: bool) -> Result<(), LeaderError> {
    rx.wait_for(|state| *state == leading)
        .await
        .map(|_| ())
        .map_err(|_| LeaderError::Stopped)
}

/// Runs `work` each time this instance becomes leader and drops it (cancelling every task it
/// owns) as soon as leadership is lost. Returns when `work` finishes on its own or `stop`
/// resolves (SIGTERM); a leader then releases the Lease, so a standby need not wait for it to
/// expire.
pub async fn run_while_leader<F, Fut>(
    client: Client,
    namespace: &str,
    identity: &str,
    timings: LeaseTimings,
    metrics: &Metrics,
    stop: impl Future<Output = ()>,
    mut work: F,
) -> Result<(), LeaderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_parameters(timings.params(identity)?)
        .build()
        .await?;
    let (mut rx, task) = manager.watch().await;
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            became = wait_until(&mut rx, true) => became?,
            // A standby holds nothing to hand over.
            () = &mut stop => return Ok(()),
        }
        metrics.leader.set(1);
        tracing::info!(identity, "became leader; starting controllers");
        let outcome = tokio::select! {
            () = work() => None,
            () = &mut stop => None,
            lost = wait_until(&mut rx, false) => Some(lost),
        };
        metrics.leader.set(0);
        match outcome {
            None => {
                // Hand the Lease over instead of making the standby wait for its expiry.
                drop(rx);
                if let Ok(Ok(manager)) = task.await
                    && let Err(err) = manager.release().await
                {
                    tracing::warn!(%err, "could not release the leader Lease");
                }
                return Ok(());
            }
            Some(Ok(())) => tracing::warn!(identity, "lost leadership; controllers stopped"),
            Some(Err(err)) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_must_leave_a_renewal_window() {
        let ok = LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
        };
        assert!(ok.params("a").is_ok());
        let equal = LeaseTimings {
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(10),
        };
        assert!(matches!(
            equal.params("a"),
            Err(LeaderError::InvalidTimings { .. })
        ));
        let zero = LeaseTimings {
            lease_duration: Duration::from_millis(500),
            renew_deadline: Duration::ZERO,
        };
        assert!(zero.params("a").is_err());
    }
}
