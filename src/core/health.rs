//! Debouncing of member health probes.
//!
//! A single failed `/healthz` must not flip a cluster to not-ready (and trigger rescheduling of
//! replicas away from it), so the observed state only changes after `failureThreshold`
//! consecutive failures or `successThreshold` consecutive successes, as KubeFed does.

/// What one probe of a member cluster found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// `/healthz` answered `ok`.
    Healthy,
    /// The API server answered, but not `ok` (message says what it answered).
    Unhealthy(String),
    /// The API server could not be reached or did not answer in time.
    Unreachable(String),
}

impl ProbeOutcome {
    fn is_success(&self) -> bool {
        matches!(self, ProbeOutcome::Healthy)
    }
}

/// The debounced health of a member cluster, as published to the other controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    NotReady(String),
    Offline(String),
}

impl Health {
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }

    fn from_outcome(outcome: &ProbeOutcome) -> Health {
        match outcome {
            ProbeOutcome::Healthy => Health::Ready,
            ProbeOutcome::Unhealthy(msg) => Health::NotReady(msg.clone()),
            ProbeOutcome::Unreachable(msg) => Health::Offline(msg.clone()),
        }
    }
}

/// Probe thresholds from `KubeFedConfig.spec.clusterHealthCheck`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: u32,
    pub success: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failure: 3,
            success: 1,
        }
    }
}

/// Per-cluster probe history: the debounced state plus the current streak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthTracker {
    state: Option<Health>,
    /// Consecutive probes that disagree with `state` (successes while not ready, failures
    /// while ready).
    streak: u32,
}

impl Default for HealthTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthTracker {
    /// A tracker with no history: the first probe decides the state.
    pub fn new() -> Self {
        HealthTracker {
            state: None,
            streak: 0,
        }
    }

    /// A tracker resuming from a state read back from the cluster's status, so an operator
    /// restart does not reset (and rewrite) a known state.
    pub fn resume(state: Health) -> Self {
        HealthTracker {
            state: Some(state),
            streak: 0,
        }
    }

    pub fn state(&self) -> Option<&Health> {
        self.state.as_ref()
    }

    /// Records one probe and returns the debounced state after it.
    pub fn observe(&mut self, outcome: &ProbeOutcome, thresholds: Thresholds) -> &Health {
        let candidate = Health::from_outcome(outcome);
        let next = match self.state.take() {
            None => candidate,
            Some(current) if current.is_ready() == outcome.is_success() => {
                // Agreement resets the streak; a change between NotReady and Offline (both
                // failures) is taken at once so the reason shown stays accurate.
                self.streak = 0;
                candidate
            }
            Some(current) => {
                self.streak += 1;
                let needed = if outcome.is_success() {
                    thresholds.success
                } else {
                    thresholds.failure
                };
                if self.streak >= needed.max(1) {
                    self.streak = 0;
                    candidate
                } else {
                    current
                }
            }
        };
        self.state.insert(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> ProbeOutcome {
        ProbeOutcome::Unhealthy("/healthz responded without ok".into())
    }

    fn gone() -> ProbeOutcome {
        ProbeOutcome::Unreachable("connection refused".into())
    }

    const T: Thresholds = Thresholds {
        failure: 3,
        success: 2,
    };

    #[test]
    fn first_probe_decides_the_state() {
        let mut t = HealthTracker::new();
        assert!(matches!(t.observe(&down(), T), Health::NotReady(_)));
        let mut t = HealthTracker::new();
        assert_eq!(t.observe(&ProbeOutcome::Healthy, T), &Health::Ready);
    }

    #[test]
    fn failures_below_threshold_keep_ready() {
        let mut t = HealthTracker::resume(Health::Ready);
        assert_eq!(t.observe(&down(), T), &Health::Ready);
        assert_eq!(t.observe(&gone(), T), &Health::Ready);
        assert!(matches!(t.observe(&gone(), T), Health::Offline(_)));
    }

    #[test]
    fn a_success_in_between_resets_the_failure_streak() {
        let mut t = HealthTracker::resume(Health::Ready);
        t.observe(&down(), T);
        t.observe(&down(), T);
        t.observe(&ProbeOutcome::Healthy, T);
        t.observe(&down(), T);
        assert_eq!(t.observe(&down(), T), &Health::Ready);
        assert!(matches!(t.observe(&down(), T), Health::NotReady(_)));
    }

    #[test]
    fn recovery_needs_success_threshold() {
        let mut t = HealthTracker::resume(Health::Offline("x".into()));
        assert!(matches!(
            t.observe(&ProbeOutcome::Healthy, T),
            Health::Offline(_)
        ));
        assert_eq!(t.observe(&ProbeOutcome::Healthy, T), &Health::Ready);
    }

    #[test]
    fn switching_between_failure_kinds_is_immediate() {
        let mut t = HealthTracker::resume(Health::NotReady("x".into()));
        assert!(matches!(t.observe(&gone(), T), Health::Offline(_)));
        assert!(matches!(t.observe(&down(), T), Health::NotReady(_)));
    }

    #[test]
    fn zero_thresholds_behave_like_one() {
        let zero = Thresholds {
            failure: 0,
            success: 0,
        };
        let mut t = HealthTracker::resume(Health::Ready);
        assert!(matches!(t.observe(&down(), zero), Health::NotReady(_)));
        assert_eq!(t.observe(&ProbeOutcome::Healthy, zero), &Health::Ready);
    }
}
