//! Bounds status writes: however often an object's members change, its status is written at
//! most once per window.

use std::collections::BTreeMap;
use std::ops::Add;
use std::time::Duration;

/// Objects whose status needs writing, each due one window after it first became dirty.
///
/// Generic over the clock (`Instant` in the controller, `Duration` since an arbitrary epoch in
/// tests) so it stays pure. Marking an already pending key keeps its first-dirty time, so a
/// constantly changing object is still written once per window instead of being starved; a
/// key marked after [`Coalescer::due`] returned it is due a full window later, so two writes
/// of one object are at least a window apart.
#[derive(Clone, Debug)]
pub struct Coalescer<K, T> {
    window: Duration,
    pending: BTreeMap<K, T>,
}

impl<K, T> Coalescer<K, T>
where
    K: Ord + Clone,
    T: Copy + Ord + Add<Duration, Output = T>,
{
    /// An empty coalescer writing each object at most once per `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            pending: BTreeMap::new(),
        }
    }

    /// Records that `key`'s status changed at `now`.
    pub fn mark(&mut self, key: K, now: T) {
        self.pending.entry(key).or_insert(now);
    }

    /// Drops `key`, e.g. because the object was deleted.
    pub fn forget(&mut self, key: &K) {
        self.pending.remove(key);
    }

    /// The keys due at `now`, in key order; they are no longer pending.
    pub fn due(&mut self, now: T) -> Vec<K> {
        let window = self.window;
        let due: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, first)| **first + window <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &due {
            self.pending.remove(key);
        }
        due
    }

    /// When the next key becomes due, if any is pending: what the controller sleeps until.
    pub fn next_deadline(&self) -> Option<T> {
        self.pending
            .values()
            .min()
            .map(|first| *first + self.window)
    }

    /// Number of pending keys.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn key_is_due_one_window_after_first_mark() {
        let mut c = Coalescer::new(secs(2));
        assert_eq!(c.next_deadline(), None);
        c.mark("a", secs(10));
        c.mark("a", secs(11));
        assert_eq!(c.next_deadline(), Some(secs(12)));
        assert!(c.due(secs(11)).is_empty());
        assert_eq!(c.due(secs(12)), ["a"]);
        assert!(c.is_empty());
        assert!(c.due(secs(30)).is_empty(), "written once");
    }

    #[test]
    fn constant_churn_is_written_once_per_window() {
        let mut c = Coalescer::new(secs(1));
        let mut writes = Vec::new();
        // Marked every 100ms for 5s: one write per second, not 50.
        for tick in 0..50u64 {
            let now = Duration::from_millis(tick * 100);
            c.mark("hot", now);
            writes.extend(c.due(now).into_iter().map(|_| now));
        }
        assert_eq!(writes.len(), 4);
        for pair in writes.windows(2) {
            assert!(pair[1] - pair[0] >= secs(1));
        }
    }

    #[test]
    fn keys_are_independent_and_forgettable() {
        let mut c = Coalescer::new(secs(5));
        c.mark("b", secs(3));
        c.mark("a", secs(1));
        c.mark("c", secs(2));
        assert_eq!(c.len(), 3);
        c.forget(&"c");
        assert_eq!(c.next_deadline(), Some(secs(6)));
        assert_eq!(c.due(secs(6)), ["a"]);
        assert_eq!(c.next_deadline(), Some(secs(8)));
        assert_eq!(c.due(secs(100)), ["b"]);
    }

    #[test]
    fn works_with_instant() {
        let start = std::time::Instant::now();
        let mut c = Coalescer::new(secs(1));
        c.mark(1u32, start);
        assert!(c.due(start).is_empty());
        assert_eq!(c.due(start + secs(1)), [1]);
    }
}
