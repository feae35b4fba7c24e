//! The shared view of member clusters that every controller reads.
//!
//! The cluster controller writes health, labels and clients; the sync workers mark a member
//! unresponsive when the requests sent to it get no answer (until its next successful probe),
//! so one frozen member costs one timeout, not one per object. The sync and scheduling
//! controllers subscribe and are woken on every change (a cluster joining, leaving, becoming
//! ready or not) without polling. Each change publishes a new immutable snapshot, so readers never hold a
//! lock while they talk to a member.

use super::in_flight::Answers;
use crate::core::health::Health;
use crate::core::placement::ClusterInfo;
use crate::runtime::error::ErrorCategory;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How long the requests sent to a member may go without any answer before it is taken as
/// unresponsive. Shorter than the time a reconciliation waits for a member (the sync
/// controller's `PATIENCE`, 2 s), so that the first request that waited that long, for a
/// member that answered nothing since it went out, marks the member.
pub const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(1);

/// One member cluster as the controllers see it.
#[derive(Clone)]
pub struct Member {
    pub name: String,
    /// Labels of the KubeFedCluster, matched by `placement.clusterSelector`.
    pub labels: BTreeMap<String, String>,
    /// Debounced health; `None` until the first probe (or while the config is malformed).
    pub health: Option<Health>,
    /// Client for the member, absent while its configuration is malformed.
    pub client: Option<kube::Client>,
    /// UID of the member's `kube-system` namespace: equal to the host's when the host cluster
    /// itself is joined as a member (whose namespaces must never be deleted by propagation).
    pub kube_system_uid: Option<String>,
    /// Bumped every time the client is rebuilt, so watchers know to restart their member
    /// watches (clients cannot be compared directly).
    pub client_epoch: u64,
    /// Whether the member answers the requests sent on `client`.
    pub answers: Answers,
    /// A request got no answer in time (or no connection) since the last successful probe:
    /// writes wait for the member to answer a probe again. Its watches keep running (a member
    /// that stays silent goes not ready by its probes, which stops them).
    pub unresponsive: bool,
    /// A pull member: its agent dials the host, which writes MemberWorks instead of member
    /// objects and has no client for it.
    pub pull: bool,
}

impl Member {
    /// A member whose objects can be read and written now (by its probes).
    pub fn ready_client(&self) -> Option<&kube::Client> {
        match (&self.health, &self.client) {
            (Some(h), Some(c)) if h.is_ready() => Some(c),
            _ => None,
        }
    }

    /// Ready by its probes (a pull member: by its agent's heartbeat) and usable.
    pub fn is_ready(&self) -> bool {
        if self.pull {
            return self.health.as_ref().is_some_and(Health::is_ready);
        }
        self.ready_client().is_some()
    }

    /// Equality of everything readers react to.
    fn same_as(&self, other: &Member) -> bool {
        self.name == other.name
            && self.labels == other.labels
            && self.health == other.health
            && self.client.is_some() == other.client.is_some()
            && self.client_epoch == other.client_epoch
            && self.kube_system_uid == other.kube_system_uid
            && self.unresponsive == other.unresponsive
            && self.pull == other.pull
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("health", &self.health)
            .field("has_client", &self.client.is_some())
            .field("client_epoch", &self.client_epoch)
            .field("kube_system_uid", &self.kube_system_uid)
            .field("unresponsive", &self.unresponsive)
            .field("pull", &self.pull)
            .finish()
    }
}

/// An immutable snapshot of all members, by name.
pub type Members = Arc<BTreeMap<String, Member>>;

/// Name and labels of every member, as placement matches them.
pub fn cluster_infos(members: &Members) -> Vec<ClusterInfo> {
    members
        .values()
        .map(|m| ClusterInfo {
            name: m.name.clone(),
            labels: m.labels.clone(),
        })
        .collect()
}

/// The registry handle: cheap to clone, shared by all controllers.
#[derive(Clone)]
pub struct MemberPool {
    tx: Arc<watch::Sender<Members>>,
    /// Set once the cluster controller has read every KubeFedCluster: before that an empty
    /// pool means "not known yet", not "no members".
    loaded: Arc<AtomicBool>,
}

impl Default for MemberPool {
    fn default() -> Self {
        Self::new()
    }
}

impl MemberPool {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(Members::default());
        MemberPool {
            tx: Arc::new(tx),
            loaded: Arc::default(),
        }
    }

    /// Whether every KubeFedCluster has been read once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Marks the member list as read (and wakes the readers).
    pub fn set_loaded(&self) {
        if !self.loaded.swap(true, Ordering::SeqCst) {
            self.tx.send_modify(|_| {});
        }
    }

    /// The current members.
    pub fn snapshot(&self) -> Members {
        self.tx.borrow().clone()
    }

    /// A receiver woken whenever the members change in a way readers care about.
    pub fn subscribe(&self) -> watch::Receiver<Members> {
        self.tx.subscribe()
    }

    /// Changes one member through `f` (creating it when missing); publishes only on change.
    pub fn update(&self, name: &str, f: impl FnOnce(&mut Member)) {
        self.tx.send_if_modified(|members| {
            let previous = members.get(name).cloned();
            let mut member = previous.clone().unwrap_or_else(|| Member {
                name: name.to_string(),
                labels: BTreeMap::new(),
                health: None,
                client: None,
                kube_system_uid: None,
                client_epoch: 0,
                answers: Answers::default(),
                unresponsive: false,
                pull: false,
            });
            f(&mut member);
            if previous.is_some_and(|p| p.same_as(&member)) {
                return false;
            }
            Arc::make_mut(members).insert(name.to_string(), member);
            true
        });
    }

    /// Installs a new client for a member (its connection settings changed).
    pub fn set_client(&self, name: &str, client: Option<(kube::Client, Answers)>) {
        self.update(name, |m| {
            let (client, answers) = client.unzip();
            m.client = client;
            m.answers = answers.unwrap_or_default();
            m.client_epoch += 1;
            // A new connection has not been probed yet.
            m.health = None;
            m.unresponsive = false;
        });
    }

    /// Records the debounced health after a probe; `answered` (the probe itself succeeded)
    /// clears [`Member::unresponsive`].
    pub fn set_health(&self, name: &str, health: Option<Health>, answered: bool) {
        self.update(name, |m| {
            if answered {
                m.unresponsive = false;
            }
            m.health = health;
        });
    }

    /// A request to the member (on the client of `epoch`) failed: a connection failure marks
    /// it unresponsive at once, a timeout as [`MemberPool::still_waiting`] does.
    pub fn request_failed(&self, name: &str, epoch: u64, category: ErrorCategory) {
        match category {
            ErrorCategory::Unreachable => self.mark_unresponsive(name, epoch),
            ErrorCategory::Timeout => self.still_waiting(name, epoch),
            _ => {}
        }
    }

    /// A request to the member (on the client of `epoch`) has waited long for an answer: the
    /// member is unresponsive if the requests sent to it have had no answer for
    /// [`UNRESPONSIVE_AFTER`]. A member busy answering the operator's queued requests is not.
    pub fn still_waiting(&self, name: &str, epoch: u64) {
        let silent = self
            .tx
            .borrow()
            .get(name)
            .is_some_and(|m| m.answers.silent_for() >= UNRESPONSIVE_AFTER);
        if silent {
            self.mark_unresponsive(name, epoch);
        }
    }

    /// A request to the member (on the client of `epoch`) got no answer.
    pub fn mark_unresponsive(&self, name: &str, epoch: u64) {
        self.tx.send_if_modified(|members| match members.get(name) {
            Some(m) if m.client_epoch == epoch && !m.unresponsive => {
                let mut m = m.clone();
                m.unresponsive = true;
                Arc::make_mut(members).insert(name.to_string(), m);
                true
            }
            _ => false,
        });
    }

    pub fn set_kube_system_uid(&self, name: &str, uid: Option<String>) {
        self.update(name, |m| m.kube_system_uid = uid);
    }

    /// Marks a member as pull (or push) mode.
    pub fn set_pull(&self, name: &str, pull: bool) {
        self.update(name, |m| m.pull = pull);
    }

    pub fn set_labels(&self, name: &str, labels: BTreeMap<String, String>) {
        self.update(name, |m| m.labels = labels);
    }

    /// Forgets a member (its KubeFedCluster was deleted).
    pub fn remove(&self, name: &str) {
        self.tx.send_if_modified(|members| {
            if members.contains_key(name) {
                Arc::make_mut(members).remove(name);
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_only_real_changes() {
        let pool = MemberPool::new();
        let mut rx = pool.subscribe();
        pool.set_labels("a", BTreeMap::from([("region".into(), "eu".into())]));
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        pool.set_labels("a", BTreeMap::from([("region".into(), "eu".into())]));
        assert!(!rx.has_changed().unwrap());
        pool.set_health("a", Some(Health::Ready), true);
        assert!(rx.has_changed().unwrap());
        let snap = rx.borrow_and_update().clone();
        // Ready but without a client is not usable.
        assert!(!snap["a"].is_ready());
        pool.remove("a");
        assert!(rx.has_changed().unwrap());
        assert!(pool.snapshot().is_empty());
        rx.borrow_and_update();
        pool.remove("a");
        assert!(!rx.has_changed().unwrap());
    }

    /// A timeout marks a member only when it has left the requests sent to it unanswered
    /// (here nothing was sent, so it answered all); a connection failure always does, and
    /// other failures never.
    #[test]
    fn which_failures_make_a_member_unresponsive() {
        let pool = MemberPool::new();
        pool.set_client("a", None);
        pool.set_health("a", Some(Health::Ready), true);
        let epoch = pool.snapshot()["a"].client_epoch;
        for category in [
            ErrorCategory::Timeout,
            ErrorCategory::Rejected,
            ErrorCategory::Conflict,
            ErrorCategory::ServerError,
        ] {
            pool.request_failed("a", epoch, category);
            assert!(!pool.snapshot()["a"].unresponsive, "{category}");
        }
        pool.still_waiting("a", epoch);
        assert!(!pool.snapshot()["a"].unresponsive);
        pool.request_failed("a", epoch, ErrorCategory::Unreachable);
        assert!(pool.snapshot()["a"].unresponsive);
    }

    #[test]
    fn unresponsive_until_the_next_successful_probe() {
        let pool = MemberPool::new();
        pool.set_client("a", None);
        pool.set_health("a", Some(Health::Ready), true);
        let epoch = pool.snapshot()["a"].client_epoch;
        pool.mark_unresponsive("a", epoch + 1);
        assert!(
            !pool.snapshot()["a"].unresponsive,
            "another client's timeout"
        );
        pool.mark_unresponsive("a", epoch);
        assert!(pool.snapshot()["a"].unresponsive);
        pool.set_health("a", Some(Health::Ready), false);
        assert!(
            pool.snapshot()["a"].unresponsive,
            "a failed probe below the threshold"
        );
        pool.set_health("a", Some(Health::Ready), true);
        assert!(!pool.snapshot()["a"].unresponsive);
    }

    #[test]
    fn loaded_once() {
        let pool = MemberPool::new();
        let mut rx = pool.subscribe();
        assert!(!pool.is_loaded());
        pool.set_loaded();
        assert!(pool.is_loaded());
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        pool.set_loaded();
        assert!(!rx.has_changed().unwrap());
    }

    #[test]
    fn snapshots_are_immutable() {
        let pool = MemberPool::new();
        pool.set_health("a", Some(Health::Ready), true);
        let before = pool.snapshot();
        pool.set_health("a", Some(Health::Offline("down".into())), false);
        assert_eq!(before["a"].health, Some(Health::Ready));
        assert!(matches!(
            pool.snapshot()["a"].health,
            Some(Health::Offline(_))
        ));
    }
}
