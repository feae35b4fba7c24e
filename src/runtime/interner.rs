//! One shared copy of equal values that many caches hold.
//!
//! A federated object becomes the same member object in every cluster it is placed on, so the
//! summaries the member caches keep of it (fingerprint, desired hash, status) are equal in
//! most members. Interned, the caches of N members share one allocation instead of N.
//!
//! Values are handed out as plain [`Arc`]s, so holders need not know they are shared. The
//! table keeps only [`Weak`] references: a value's contents are freed when its last holder
//! drops it; the `Arc`'s own block (counts and the value's inline part) goes with the table's
//! reference, at the next sweep.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Weak};

/// Independent locks, so caches of different members rarely wait for each other.
const SHARDS: usize = 16;

/// A sweep runs when a shard has this many more entries than it had live at its last sweep
/// (and at least twice as many): the table stays within about twice the live values, and
/// sweeping costs O(1) per intern on average.
const SWEEP_SLACK: usize = 64;

pub struct Interner<T> {
    hasher: RandomState,
    shards: [Mutex<Shard<T>>; SHARDS],
}

struct Shard<T> {
    /// Values by hash; values with equal hashes but unequal contents share a bucket.
    by_hash: HashMap<u64, Vec<Weak<T>>>,
    /// Entries (weak references) the shard holds, live or not.
    entries: usize,
    /// Entries left live by the last sweep.
    live_at_sweep: usize,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Shard {
            by_hash: HashMap::new(),
            entries: 0,
            live_at_sweep: 0,
        }
    }
}

impl<T: Eq + Hash> Default for Interner<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Eq + Hash> Interner<T> {
    pub fn new() -> Self {
        Interner {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }

    /// The shared copy of `value`: one handed out earlier and still held, or `value` itself,
    /// now shared.
    pub fn intern(&self, value: T) -> Arc<T> {
        let hash = self.hasher.hash_one(&value);
        let mut shard = self.shards[hash as usize % SHARDS].lock();
        let bucket = shard.by_hash.entry(hash).or_default();
        if let Some(existing) = bucket
            .iter()
            .filter_map(Weak::upgrade)
            .find(|held| **held == value)
        {
            return existing;
        }
        let shared = Arc::new(value);
        bucket.push(Arc::downgrade(&shared));
        shard.entries += 1;
        if shard.entries >= (2 * shard.live_at_sweep).max(shard.live_at_sweep + SWEEP_SLACK) {
            shard.sweep();
        }
        shared
    }

    /// Distinct values the table still refers to, freed or not (for tests and sizing).
    pub fn entries(&self) -> usize {
        self.shards.iter().map(|s| s.lock().entries).sum()
    }
}

impl<T> Shard<T> {
    /// Forgets the values no one holds any more.
    fn sweep(&mut self) {
        self.by_hash.retain(|_, bucket| {
            bucket.retain(|weak| weak.strong_count() > 0);
            !bucket.is_empty()
        });
        self.entries = self.by_hash.values().map(Vec::len).sum();
        self.live_at_sweep = self.entries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_unequal_ones_do_not() {
        let interner = Interner::new();
        let a = interner.intern(String::from("spec"));
        let b = interner.intern(String::from("spec"));
        let c = interner.intern(String::from("other"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, "other");
    }

    #[test]
    fn a_value_no_one_holds_is_freed_and_interned_anew() {
        let interner = Interner::new();
        let first = interner.intern(vec![1u8, 2, 3]);
        let weak = Arc::downgrade(&first);
        drop(first);
        assert!(
            weak.upgrade().is_none(),
            "the table must not keep values alive"
        );
        let again = interner.intern(vec![1u8, 2, 3]);
        assert_eq!(*again, vec![1, 2, 3]);
    }

    #[test]
    fn dropped_values_are_swept_so_the_table_stays_near_the_live_count() {
        let interner = Interner::new();
        let kept: Vec<Arc<u64>> = (0..100).map(|i| interner.intern(i)).collect();
        for i in 100..100_000u64 {
            drop(interner.intern(i));
        }
        let entries = interner.entries();
        assert!(
            entries <= 2 * kept.len() + SHARDS * SWEEP_SLACK,
            "{entries} entries for {} live values",
            kept.len()
        );
        // The live ones are still found.
        assert!(Arc::ptr_eq(&interner.intern(7), &kept[7]));
    }

    #[test]
    fn values_with_one_hash_but_different_contents_stay_apart() {
        /// Hashes alike whatever it holds.
        #[derive(PartialEq, Eq, Debug)]
        struct Colliding(u32);
        impl Hash for Colliding {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                0u8.hash(state);
            }
        }
        let interner = Interner::new();
        let one = interner.intern(Colliding(1));
        let two = interner.intern(Colliding(2));
        assert_eq!((one.0, two.0), (1, 2));
        assert!(Arc::ptr_eq(&interner.intern(Colliding(2)), &two));
    }
}
