//! Test support that needs nothing but the simulator: bounded waits for a result, "no writes
//! happened" checks over the request counters, and one cluster per transport. The operator's
//! harnesses build on it in `kubefed-testkit`.

pub mod quiet;
pub mod targets;
pub mod wait;

pub use quiet::{Quiet, assert_quiet, assert_unchanged};
pub use targets::{Target, targets};
pub use wait::{Timeout, eventually, eventually_blocking, poll};
