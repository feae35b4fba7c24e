//! Exponential backoff with a cap: how long to wait before trying again after consecutive
//! failures, for one thing ([`Backoff`]) or per key ([`Backoffs`]).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// `initial`, doubling per consecutive failure, never above `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl BackoffPolicy {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        BackoffPolicy { initial, max }
    }

    /// The delay after `failures` consecutive failures (the first failure waits `initial`).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// The backoff of one thing (e.g. one member watch).
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Backoff per key (e.g. per federated object), shared by concurrent reconciliations.
#[derive(Debug)]
pub struct Backoffs<K> {
    policy: BackoffPolicy,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K: Eq + Hash + Clone> Backoffs<K> {
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoffs {
            policy,
            failures: Mutex::default(),
        }
    }

    /// Records a failure of `key` and returns how long to wait before retrying it.
    pub fn next_delay(&self, key: &K) -> Duration {
        let mut failures = self.failures.lock();
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        self.policy.delay(*n)
    }

    /// `key` succeeded: its next failure starts from the initial delay again.
    pub fn reset(&self, key: &K) {
        self.failures.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy =
        BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(30));

    #[test]
    fn doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=7).map(|n| POLICY.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(POLICY.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn per_key_backoff_is_independent_and_resets() {
        let b = Backoffs::new(POLICY);
        assert_eq!(b.next_delay(&"a"), Duration::from_secs(1));
        assert_eq!(b.next_delay(&"a"), Duration::from_secs(2));
        assert_eq!(b.next_delay(&"b"), Duration::from_secs(1));
        b.reset(&"a");
        assert_eq!(b.next_delay(&"a"), Duration::from_secs(1));
        let mut one = Backoff::new(POLICY);
        one.next_delay();
        assert_eq!(one.next_delay(), Duration::from_secs(2));
        one.reset();
        assert_eq!(one.next_delay(), Duration::from_secs(1));
    }
}
