//! Test support every kubefed harness builds on: a fleet of simulated clusters (in-process or
//! behind HTTPS listeners), joining members the way `kubectl fed join` does, the operator
//! running in-process, and waits that end on a signal rather than after a fixed time.
//!
//! - [`wait`] (from `kubefed_sim::testing`): [`eventually`] and its blocking and fallible forms.
//! - [`quiet`]: [`settle`] on the operator's reconcile counter and [`assert_quiet`] over the
//!   simulator's write counters, for "nothing happened" checks.
//! - [`operator`]: a host prepared for the operator, and the operator's controllers in-process.
//! - [`join`]: registering a member with the host.
//! - [`fleet`]: [`FleetBuilder`], giving an [`OperatorFleet`] over [`InProcess`] or [`Https`]
//!   clusters.

pub mod error;
pub mod fleet;
pub mod join;
pub mod operator;
pub mod quiet;
pub use kubefed_sim::testing::wait;

pub use error::TestkitError;
pub use fleet::{Clusters, FleetBuilder, Https, InProcess, OperatorFleet};
pub use join::{Join, join};
pub use kubefed_sim::testing::{Target, targets};
pub use operator::{
    HealthCheck, RunningOperator, all_reconciles, create_namespace, init_test_logging,
    prepare_host, reconciles, run_elected_operator_with, run_operator, run_operator_with,
    sync_reconciles,
};
pub use quiet::{Quiet, assert_quiet, settle, wait_sync_idle};
pub use wait::{Timeout, eventually, eventually_blocking, poll};

/// The federation namespace on the host.
pub const FEDERATION_NAMESPACE: &str = "kube-federation-system";
