//! The replica planner behind ReplicaSchedulingPreference: how many replicas of a Deployment or
//! ReplicaSet each member cluster runs.
//!
//! Rules (KubeFed's, with deterministic tie-breaking and without its over-capacity overflow):
//! - a cluster's preferences are its own entry, else the `"*"` entry, else it gets nothing;
//!   an empty preference map means `{"*": {weight: 1}}`;
//! - minimums are satisfied first, then the rest is shared by weight, never above a cluster's
//!   `maxReplicas` or estimated capacity; what a capped cluster cannot take goes to the others;
//! - rounding remainders and minimums that cannot all be met are decided by a stable hash of
//!   object key and cluster name, so every object does not favour the same cluster;
//! - with `rebalance: false` the current layout is kept where valid and only the difference is
//!   placed: growth goes to clusters below their weighted share, shrinkage comes from clusters
//!   above it.
//!
//! Replicas that fit nowhere are reported as `unplaced` instead of being put on a cluster
//! beyond its capacity (KubeFed added them back as "overflow").

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::hash::fnv1a64;

/// The preference key that applies to every cluster without its own entry.
pub const WILDCARD: &str = "*";

/// Preferences for one cluster (`spec.clusters[name]` of a ReplicaSchedulingPreference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterPreferences {
    /// Replicas the cluster gets before any are shared by weight.
    pub min_replicas: i64,
    /// Upper bound for the cluster; `None` is unbounded.
    pub max_replicas: Option<i64>,
    /// Relative share of the replicas left after minimums; 0 means minimums only.
    pub weight: i64,
}

/// Everything the planner looks at.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// `spec.totalReplicas`.
    pub total_replicas: i64,
    /// `spec.clusters`: cluster name or `"*"` to preferences.
    pub preferences: &'a BTreeMap<String, ClusterPreferences>,
    /// Candidate clusters: ready, and selected when `intersectWithClusterSelector` is set.
    pub clusters: &'a BTreeSet<String>,
    /// Replicas each cluster runs now; absent means none or unknown.
    pub current: &'a BTreeMap<String, i64>,
    /// Estimated capacity per cluster (e.g. from unschedulable pods); absent means unbounded.
    pub capacity: &'a BTreeMap<String, i64>,
    /// `spec.rebalance`: compute a fresh layout instead of adjusting the current one.
    pub rebalance: bool,
    /// `namespace/name` of the object, for tie-breaking.
    pub key: &'a str,
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Replicas per candidate cluster. Every candidate is listed, with 0 when it gets none, as
    /// KubeFed did: the object stays placed there with a `/spec/replicas` override of 0.
    pub replicas: BTreeMap<String, i64>,
    /// Replicas that could not be placed within minimums, weights, maximums and capacities.
    pub unplaced: i64,
}

/// Invalid planner input.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    /// `totalReplicas` is negative.
    #[error("totalReplicas must not be negative, got {0}")]
    NegativeTotal(i64),
    /// A preference field is negative.
    #[error("clusters[{cluster:?}].{field} must not be negative, got {value}")]
    NegativePreference {
        /// The preference key (cluster name or `*`).
        cluster: String,
        /// The field.
        field: &'static str,
        /// The value.
        value: i64,
    },
}

/// A candidate cluster with its resolved preferences.
#[derive(Clone, Debug)]
struct Slot {
    name: String,
    weight: i64,
    /// Effective minimum (never above `cap`).
    min: i64,
    /// min(maxReplicas, capacity), `i64::MAX` when unbounded.
    cap: i64,
    current: i64,
}

/// Computes the replica layout.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    if input.total_replicas < 0 {
        return Err(PlanError::NegativeTotal(input.total_replicas));
    }
    for (cluster, p) in input.preferences {
        let fields = [
            ("minReplicas", p.min_replicas),
            ("maxReplicas", p.max_replicas.unwrap_or(0)),
            ("weight", p.weight),
        ];
        if let Some((field, value)) = fields.into_iter().find(|(_, v)| *v < 0) {
            return Err(PlanError::NegativePreference {
                cluster: cluster.clone(),
                field,
                value,
            });
        }
    }
    let default_prefs: BTreeMap<String, ClusterPreferences> = [(
        WILDCARD.to_owned(),
        ClusterPreferences {
            weight: 1,
            ..Default::default()
        },
    )]
    .into();
    let prefs = if input.preferences.is_empty() {
        &default_prefs
    } else {
        input.preferences
    };

    let mut replicas: BTreeMap<String, i64> =
        input.clusters.iter().map(|c| (c.clone(), 0)).collect();
    let mut slots: Vec<Slot> = input
        .clusters
        .iter()
        .filter_map(|name| {
            let p = prefs.get(name).or_else(|| prefs.get(WILDCARD))?;
            let capacity = input.capacity.get(name).map_or(i64::MAX, |c| (*c).max(0));
            let cap = p.max_replicas.unwrap_or(i64::MAX).min(capacity);
            Some(Slot {
                name: name.clone(),
                weight: p.weight,
                min: p.min_replicas.min(cap),
                cap,
                current: input.current.get(name).copied().unwrap_or(0).max(0),
            })
        })
        .collect();
    // Stable, per-object order: decides remainders and which minimums win when short.
    slots.sort_by_cached_key(|s| (tie_hash(input.key, &s.name), s.name.clone()));

    let fresh = fresh_layout(&slots, input.total_replicas);
    let layout = if input.rebalance {
        fresh
    } else {
        adjust_layout(&slots, &fresh, input.total_replicas)
    };
    for (slot, n) in slots.iter().zip(&layout) {
        replicas.insert(slot.name.clone(), *n);
    }
    let placed: i64 = layout.iter().sum();
    Ok(Plan {
        replicas,
        unplaced: input.total_replicas - placed,
    })
}

fn tie_hash(key: &str, cluster: &str) -> u64 {
    let mut bytes = Vec::with_capacity(key.len() + cluster.len() + 1);
    bytes.extend_from_slice(key.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(cluster.as_bytes());
    fnv1a64(&bytes)
}

/// Minimums in slot order, then the rest by weight.
fn fresh_layout(slots: &[Slot], total: i64) -> Vec<i64> {
    let mut layout = vec![0; slots.len()];
    let mut remaining = total;
    for (n, s) in layout.iter_mut().zip(slots) {
        let give = s.min.min(remaining);
        *n = give;
        remaining -= give;
    }
    let shares: Vec<(i64, i64)> = slots
        .iter()
        .zip(&layout)
        .map(|(s, n)| (s.weight, s.cap - n))
        .collect();
    let (give, _) = distribute(remaining, &shares);
    for (n, g) in layout.iter_mut().zip(give) {
        *n += g;
    }
    layout
}

/// rebalance=false: keep what is valid, place only the difference.
fn adjust_layout(slots: &[Slot], fresh: &[i64], total: i64) -> Vec<i64> {
    let mut layout: Vec<i64> = slots
        .iter()
        .map(|s| {
            // Above max or capacity is trimmed; a weight-0 cluster holds only its minimum.
            let kept = if s.weight == 0 {
                s.current.min(s.min)
            } else {
                s.current.min(s.cap)
            };
            kept.max(s.min)
        })
        .collect();
    let sum: i64 = layout.iter().sum();
    if sum < total {
        // Grow the clusters furthest below their share of the new total first.
        let deficits: Vec<(i64, i64)> = layout
            .iter()
            .zip(fresh)
            .map(|(n, f)| {
                let d = (f - n).max(0);
                (d, d)
            })
            .collect();
        let (give, rest) = distribute(total - sum, &deficits);
        add(&mut layout, &give);
        // Only when capacities kept the fresh layout short of the total.
        let room: Vec<(i64, i64)> = slots
            .iter()
            .zip(&layout)
            .map(|(s, n)| (s.weight, s.cap - n))
            .collect();
        let (give, _) = distribute(rest, &room);
        add(&mut layout, &give);
    } else if sum > total {
        // Shrink the clusters furthest above their share; never below it, so minimums hold.
        let surplus: Vec<(i64, i64)> = layout
            .iter()
            .zip(fresh)
            .map(|(n, f)| {
                let s = (n - f).max(0);
                (s, s)
            })
            .collect();
        let (take, rest) = distribute(sum - total, &surplus);
        sub(&mut layout, &take);
        // Unreachable in practice (fresh never exceeds the total); kept so the sum is exact.
        let all: Vec<(i64, i64)> = layout.iter().map(|n| (*n, *n)).collect();
        let (take, _) = distribute(rest, &all);
        sub(&mut layout, &take);
    }
    layout
}

fn add(layout: &mut [i64], give: &[i64]) {
    for (n, g) in layout.iter_mut().zip(give) {
        *n += g;
    }
}

fn sub(layout: &mut [i64], take: &[i64]) {
    for (n, t) in layout.iter_mut().zip(take) {
        *n -= t;
    }
}

/// Shares `amount` over entries `(weight, room)` in proportion to weight, never more than an
/// entry's room. Entries whose exact share would not fit get their full room and the rest is
/// shared again among the others (water-filling); the final shares are rounded by largest
/// remainder, ties going to the earlier entry. Returns the amounts and what was left over.
fn distribute(amount: i64, entries: &[(i64, i64)]) -> (Vec<i64>, i64) {
    let mut given = vec![0i64; entries.len()];
    let mut full = vec![false; entries.len()];
    // i128: pool * weight can exceed i64.
    let mut pool = i128::from(amount.max(0));
    loop {
        let active: Vec<usize> = (0..entries.len())
            .filter(|&i| !full[i] && entries[i].0 > 0 && entries[i].1 > 0)
            .collect();
        if pool == 0 || active.is_empty() {
            break;
        }
        let total_weight: i128 = active.iter().map(|&i| i128::from(entries[i].0)).sum();
        // Exact comparison: pool * w / W >= room.
        let saturated: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&i| pool * i128::from(entries[i].0) >= i128::from(entries[i].1) * total_weight)
            .collect();
        if !saturated.is_empty() {
            for i in saturated {
                full[i] = true;
                given[i] = entries[i].1;
                pool -= i128::from(entries[i].1);
            }
            continue;
        }
        // Every share is below its room, so floor + 1 still fits.
        let mut shares: Vec<(usize, i128, i128)> = active
            .iter()
            .map(|&i| {
                let p = pool * i128::from(entries[i].0);
                (i, p / total_weight, p % total_weight)
            })
            .collect();
        let mut left = pool - shares.iter().map(|s| s.1).sum::<i128>();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
        for k in order {
            if left == 0 {
                break;
            }
            shares[k].1 += 1;
            left -= 1;
        }
        for (i, share, _) in shares {
            given[i] = i64::try_from(share)
                .unwrap_or(entries[i].1)
                .min(entries[i].1);
        }
        pool = 0;
    }
    (given, i64::try_from(pool).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pref(weight: i64) -> ClusterPreferences {
        ClusterPreferences {
            weight,
            ..Default::default()
        }
    }

    fn prefs(v: &[(&str, i64, i64, Option<i64>)]) -> BTreeMap<String, ClusterPreferences> {
        v.iter()
            .map(|(n, w, min, max)| {
                (
                    (*n).to_owned(),
                    ClusterPreferences {
                        weight: *w,
                        min_replicas: *min,
                        max_replicas: *max,
                    },
                )
            })
            .collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn map(v: &[(&str, i64)]) -> BTreeMap<String, i64> {
        v.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect()
    }

    struct Case<'a> {
        prefs: BTreeMap<String, ClusterPreferences>,
        total: i64,
        clusters: &'a [&'a str],
        current: &'a [(&'a str, i64)],
        capacity: &'a [(&'a str, i64)],
        rebalance: bool,
    }

    impl Case<'_> {
        fn run(&self) -> Plan {
            plan(&PlanInput {
                total_replicas: self.total,
                preferences: &self.prefs,
                clusters: &set(self.clusters),
                current: &map(self.current),
                capacity: &map(self.capacity),
                rebalance: self.rebalance,
                key: "demo/web",
            })
            .unwrap()
        }
    }

    fn fresh(prefs: BTreeMap<String, ClusterPreferences>, total: i64, clusters: &[&str]) -> Plan {
        Case {
            prefs,
            total,
            clusters,
            current: &[],
            capacity: &[],
            rebalance: true,
        }
        .run()
    }

    fn sorted_values(p: &Plan) -> Vec<i64> {
        let mut v: Vec<i64> = p.replicas.values().copied().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn weights() {
        let p = fresh(
            prefs(&[("A", 2, 0, None), ("B", 3, 0, None)]),
            10,
            &["A", "B"],
        );
        assert_eq!(p.replicas, map(&[("A", 4), ("B", 6)]));
        let p = fresh(
            prefs(&[("A", 1, 0, None), ("B", 2, 0, None)]),
            60,
            &["A", "B", "C"],
        );
        assert_eq!(p.replicas, map(&[("A", 20), ("B", 40), ("C", 0)]));
        let p = fresh(
            prefs(&[("A", 10000, 0, None), ("B", 1, 0, None)]),
            50,
            &["A", "B", "C"],
        );
        assert_eq!(p.replicas, map(&[("A", 50), ("B", 0), ("C", 0)]));
        let p = fresh(
            prefs(&[("A", 10000, 0, None), ("B", 1, 0, None)]),
            50,
            &["B", "C"],
        );
        assert_eq!(p.replicas, map(&[("B", 50), ("C", 0)]));
    }

    #[test]
    fn weights_with_max() {
        let p = fresh(
            prefs(&[
                ("A", 10000, 0, Some(10)),
                ("B", 1, 0, None),
                ("C", 1, 0, None),
            ]),
            50,
            &["A", "B", "C"],
        );
        assert_eq!(p.replicas, map(&[("A", 10), ("B", 20), ("C", 20)]));
        let p = fresh(
            prefs(&[
                ("A", 10000, 0, Some(10)),
                ("B", 1, 0, None),
                ("C", 1, 0, Some(10)),
            ]),
            50,
            &["A", "B", "C"],
        );
        assert_eq!(p.replicas, map(&[("A", 10), ("B", 30), ("C", 10)]));
        let p = fresh(
            prefs(&[
                ("A", 10000, 0, Some(10)),
                ("B", 1, 0, None),
                ("C", 1, 0, Some(21)),
                ("D", 1, 0, Some(10)),
            ]),
            71,
            &["A", "B", "C", "D"],
        );
        assert_eq!(
            p.replicas,
            map(&[("A", 10), ("B", 30), ("C", 21), ("D", 10)])
        );
        let p = fresh(
            prefs(&[
                ("A", 10000, 0, Some(10)),
                ("B", 1, 0, None),
                ("C", 1, 0, Some(21)),
                ("D", 1, 0, Some(10)),
                ("E", 1, 0, None),
            ]),
            91,
            &["A", "B", "C", "D", "E"],
        );
        assert_eq!(
            p.replicas,
            map(&[("A", 10), ("B", 25), ("C", 21), ("D", 10), ("E", 25)])
        );
    }

    #[test]
    fn wildcard_min_and_max() {
        let abc = ["A", "B", "C"];
        let p = fresh(prefs(&[("*", 1, 0, None)]), 50, &["A", "B"]);
        assert_eq!(p.replicas, map(&[("A", 25), ("B", 25)]));
        let p = fresh(prefs(&[("*", 1, 0, None)]), 50, &abc);
        assert_eq!(sorted_values(&p), [16, 17, 17]);
        let p = fresh(prefs(&[("*", 0, 2, None)]), 50, &abc);
        assert_eq!(p.replicas, map(&[("A", 2), ("B", 2), ("C", 2)]));
        assert_eq!(p.unplaced, 44);
        let p = fresh(prefs(&[("*", 1, 0, Some(2))]), 50, &abc);
        assert_eq!(p.replicas, map(&[("A", 2), ("B", 2), ("C", 2)]));
        let p = fresh(prefs(&[("*", 0, 0, Some(2))]), 50, &abc);
        assert_eq!(p.replicas, map(&[("A", 0), ("B", 0), ("C", 0)]));
        assert_eq!(p.unplaced, 50);
        let p = fresh(prefs(&[("*", 1, 10, Some(12))]), 50, &abc);
        assert_eq!(p.replicas, map(&[("A", 12), ("B", 12), ("C", 12)]));
        assert_eq!(p.unplaced, 14);
        // Minimums that cannot all be met: which cluster is short depends on the hash.
        let p = fresh(prefs(&[("*", 0, 20, None)]), 50, &abc);
        assert_eq!(sorted_values(&p), [10, 20, 20]);
        // Own entry wins over "*".
        let p = fresh(prefs(&[("*", 1, 0, None), ("A", 3, 0, None)]), 40, &abc);
        assert_eq!(p.replicas, map(&[("A", 24), ("B", 8), ("C", 8)]));
    }

    #[test]
    fn empty_preferences_mean_equal_weights() {
        let p = fresh(BTreeMap::new(), 9, &["A", "B", "C"]);
        assert_eq!(p.replicas, map(&[("A", 3), ("B", 3), ("C", 3)]));
    }

    #[test]
    fn no_candidates_places_nothing() {
        let p = fresh(prefs(&[("*", 1, 0, None)]), 5, &[]);
        assert!(p.replicas.is_empty());
        assert_eq!(p.unplaced, 5);
        let p = fresh(prefs(&[("*", 1, 0, None)]), 0, &["A"]);
        assert_eq!(p.replicas, map(&[("A", 0)]));
    }

    #[test]
    fn single_replica_goes_to_one_cluster() {
        let p = fresh(prefs(&[("*", 1, 0, None)]), 1, &["A", "B", "C", "D"]);
        assert_eq!(sorted_values(&p), [0, 0, 0, 1]);
    }

    #[test]
    fn capacity_caps_and_spills_over() {
        let p = Case {
            prefs: prefs(&[("*", 1, 0, None)]),
            total: 50,
            clusters: &["A", "B", "C"],
            current: &[],
            capacity: &[("C", 10)],
            rebalance: true,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 20), ("B", 20), ("C", 10)]));
        let p = Case {
            prefs: prefs(&[("A", 10000, 0, None), ("B", 1, 0, None)]),
            total: 50,
            clusters: &["B", "C"],
            current: &[],
            capacity: &[("B", 10)],
            rebalance: true,
        }
        .run();
        assert_eq!(p.replicas, map(&[("B", 10), ("C", 0)]));
        assert_eq!(p.unplaced, 40, "not put beyond capacity");
        let p = Case {
            prefs: prefs(&[("A", 1, 0, None), ("B", 2, 0, None)]),
            total: 60,
            clusters: &["A", "B", "C"],
            current: &[],
            capacity: &[("B", 10)],
            rebalance: true,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 50), ("B", 10), ("C", 0)]));
    }

    fn keep(current: &[(&str, i64)], total: i64, clusters: &[&str]) -> Plan {
        Case {
            prefs: prefs(&[("*", 1, 0, None)]),
            total,
            clusters,
            current,
            capacity: &[],
            rebalance: false,
        }
        .run()
    }

    #[test]
    fn without_rebalance_existing_layout_is_kept() {
        let ab = ["A", "B"];
        assert_eq!(
            keep(&[("C", 30)], 50, &["A", "B", "C"]).replicas,
            map(&[("A", 10), ("B", 10), ("C", 30)])
        );
        assert_eq!(
            keep(&[("A", 30)], 50, &ab).replicas,
            map(&[("A", 30), ("B", 20)])
        );
        for a in [0, 1, 4, 5, 6, 7] {
            assert_eq!(
                keep(&[("A", a), ("B", 8)], 15, &ab).replicas,
                map(&[("A", 7), ("B", 8)]),
                "A={a}"
            );
        }
        assert_eq!(
            keep(&[("A", 300_000)], 500_000, &ab).replicas,
            map(&[("A", 300_000), ("B", 200_000)])
        );
        assert_eq!(
            keep(&[("A", 10)], 50, &ab).replicas,
            map(&[("A", 25), ("B", 25)])
        );
        assert_eq!(
            keep(&[("A", 10), ("B", 20)], 50, &ab).replicas,
            map(&[("A", 25), ("B", 25)])
        );
        assert_eq!(
            keep(&[("A", 30)], 1, &ab).replicas,
            map(&[("A", 1), ("B", 0)])
        );
        // KubeFed gave 0/50 here (its own tests call 10/40 the better answer).
        assert_eq!(
            keep(&[("A", 10), ("B", 70)], 50, &ab).replicas,
            map(&[("A", 10), ("B", 40)])
        );
    }

    #[test]
    fn scale_down_removes_from_clusters_above_share() {
        let p = keep(&[("a", 15), ("b", 15), ("c", 0)], 9, &["a", "b", "c"]);
        assert_eq!(p.replicas["c"], 0);
        let mut ab = [p.replicas["a"], p.replicas["b"]];
        ab.sort_unstable();
        assert_eq!(ab, [4, 5]);
    }

    #[test]
    fn rebalance_reshuffles() {
        let p = Case {
            prefs: prefs(&[("*", 1, 0, None)]),
            total: 50,
            clusters: &["A", "B"],
            current: &[("A", 10), ("B", 70)],
            capacity: &[],
            rebalance: true,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 25), ("B", 25)]));
    }

    #[test]
    fn without_rebalance_capacity_and_minimums() {
        let p = Case {
            prefs: prefs(&[("A", 1, 0, None), ("B", 1, 0, None)]),
            total: 60,
            clusters: &["A", "B", "C"],
            current: &[],
            capacity: &[("A", 10), ("B", 10)],
            rebalance: false,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 10), ("B", 10), ("C", 0)]));
        assert_eq!(p.unplaced, 40);
        let p = Case {
            prefs: prefs(&[("A", 1, 0, None), ("B", 5, 0, None)]),
            total: 60,
            clusters: &["A", "B", "C"],
            current: &[],
            capacity: &[("B", 10)],
            rebalance: false,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 50), ("B", 10), ("C", 0)]));
        let p = Case {
            prefs: prefs(&[("*", 0, 20, None)]),
            total: 50,
            clusters: &["A", "B", "C"],
            current: &[],
            capacity: &[("B", 10)],
            rebalance: false,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 20), ("B", 10), ("C", 20)]));
        // A cluster over its new maximum is trimmed, the rest goes elsewhere.
        let p = Case {
            prefs: prefs(&[("A", 1, 0, Some(5)), ("B", 1, 0, None)]),
            total: 20,
            clusters: &["A", "B"],
            current: &[("A", 15), ("B", 5)],
            capacity: &[],
            rebalance: false,
        }
        .run();
        assert_eq!(p.replicas, map(&[("A", 5), ("B", 15)]));
        // Clusters that left the candidate set lose their replicas.
        let p = keep(&[("gone", 10), ("A", 5)], 10, &["A", "B"]);
        assert_eq!(p.replicas, map(&[("A", 5), ("B", 5)]));
    }

    #[test]
    fn invalid_input() {
        let bad = |prefs, total| {
            plan(&PlanInput {
                total_replicas: total,
                preferences: &prefs,
                clusters: &set(&["A"]),
                current: &BTreeMap::new(),
                capacity: &BTreeMap::new(),
                rebalance: true,
                key: "k",
            })
        };
        assert_eq!(bad(BTreeMap::new(), -1), Err(PlanError::NegativeTotal(-1)));
        assert!(matches!(
            bad(prefs(&[("A", -1, 0, None)]), 1),
            Err(PlanError::NegativePreference {
                field: "weight",
                ..
            })
        ));
        assert!(matches!(
            bad(prefs(&[("A", 1, -1, None)]), 1),
            Err(PlanError::NegativePreference {
                field: "minReplicas",
                ..
            })
        ));
        assert!(matches!(
            bad(prefs(&[("A", 1, 0, Some(-3))]), 1),
            Err(PlanError::NegativePreference {
                field: "maxReplicas",
                ..
            })
        ));
    }

    #[test]
    fn tie_breaking_depends_on_object_key() {
        let prefs = prefs(&[("*", 1, 0, None)]);
        let clusters = set(&["A", "B", "C", "D", "E", "F", "G", "H"]);
        let winners: BTreeSet<String> = (0..32)
            .map(|i| {
                let key = format!("ns/obj-{i}");
                let p = plan(&PlanInput {
                    total_replicas: 1,
                    preferences: &prefs,
                    clusters: &clusters,
                    current: &BTreeMap::new(),
                    capacity: &BTreeMap::new(),
                    rebalance: true,
                    key: &key,
                })
                .unwrap();
                p.replicas
                    .into_iter()
                    .find(|(_, n)| *n == 1)
                    .map(|(c, _)| c)
                    .unwrap()
            })
            .collect();
        assert!(
            winners.len() > 1,
            "single replicas should not all land on one cluster"
        );
    }

    // ---- properties ----

    #[derive(Debug, Clone)]
    struct Scenario {
        prefs: BTreeMap<String, ClusterPreferences>,
        clusters: BTreeSet<String>,
        current: BTreeMap<String, i64>,
        capacity: BTreeMap<String, i64>,
        total: i64,
        rebalance: bool,
        key: String,
    }

    impl Scenario {
        fn input(&self) -> PlanInput<'_> {
            PlanInput {
                total_replicas: self.total,
                preferences: &self.prefs,
                clusters: &self.clusters,
                current: &self.current,
                capacity: &self.capacity,
                rebalance: self.rebalance,
                key: &self.key,
            }
        }

        /// Effective preferences of a candidate, as the planner resolves them.
        fn resolved(&self, c: &str) -> Option<(ClusterPreferences, i64)> {
            let default = pref(1);
            let p = if self.prefs.is_empty() {
                Some(&default)
            } else {
                self.prefs.get(c).or_else(|| self.prefs.get(WILDCARD))
            }?;
            let cap = p
                .max_replicas
                .unwrap_or(i64::MAX)
                .min(self.capacity.get(c).copied().unwrap_or(i64::MAX));
            Some((*p, cap))
        }
    }

    fn arb_pref() -> impl Strategy<Value = ClusterPreferences> {
        (
            0i64..4,
            prop_oneof![Just(0i64), 0i64..8],
            proptest::option::of(0i64..25),
        )
            .prop_map(|(weight, min_replicas, max_replicas)| ClusterPreferences {
                min_replicas,
                max_replicas,
                weight,
            })
    }

    fn arb_scenario() -> impl Strategy<Value = Scenario> {
        const NAMES: &[&str] = &["a", "b", "c", "d", "e"];
        (
            proptest::collection::btree_map(
                prop_oneof![
                    Just("*".to_owned()),
                    proptest::sample::select(NAMES).prop_map(str::to_owned)
                ],
                arb_pref(),
                0..4,
            ),
            proptest::collection::btree_set(
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                0..5,
            ),
            proptest::collection::btree_map(
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                0i64..30,
                0..5,
            ),
            proptest::collection::btree_map(
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                0i64..25,
                0..3,
            ),
            0i64..80,
            any::<bool>(),
            "[a-z]{1,8}",
        )
            .prop_map(
                |(prefs, clusters, current, capacity, total, rebalance, key)| Scenario {
                    prefs,
                    clusters,
                    current,
                    capacity,
                    total,
                    rebalance,
                    key,
                },
            )
    }

    proptest! {
        #[test]
        fn plan_properties(s in arb_scenario()) {
            let p = plan(&s.input()).unwrap();
            // Deterministic.
            prop_assert_eq!(&plan(&s.input()).unwrap(), &p);
            // Every candidate listed, nothing else.
            prop_assert_eq!(p.replicas.keys().cloned().collect::<BTreeSet<_>>(), s.clusters.clone());
            let sum: i64 = p.replicas.values().sum();
            prop_assert!(p.unplaced >= 0);
            prop_assert_eq!(sum + p.unplaced, s.total);

            let mut placeable = 0i64;
            let mut min_sum = 0i64;
            for c in &s.clusters {
                let n = p.replicas[c];
                prop_assert!(n >= 0);
                match s.resolved(c) {
                    None => prop_assert_eq!(n, 0, "no preference for {}", c),
                    Some((pr, cap)) => {
                        prop_assert!(n <= cap, "{} above cap {}", n, cap);
                        let min = pr.min_replicas.min(cap);
                        min_sum += min;
                        placeable = placeable.saturating_add(if pr.weight > 0 { cap } else { min });
                        if pr.weight == 0 {
                            prop_assert!(n <= min, "weight 0 gets only its minimum");
                        }
                    }
                }
            }
            if placeable >= s.total {
                prop_assert_eq!(p.unplaced, 0, "everything fits");
            }
            if s.total >= min_sum {
                for c in &s.clusters {
                    if let Some((pr, cap)) = s.resolved(c) {
                        prop_assert!(p.replicas[c] >= pr.min_replicas.min(cap), "min of {}", c);
                    }
                }
            }
        }

        #[test]
        fn no_rebalance_never_takes_from_valid_clusters_when_growing(s in arb_scenario()) {
            let mut s = Scenario { rebalance: false, ..s };
            // Make every current value valid (within cap; weight-0 clusters at most their
            // minimum) and the total at least the starting layout: a pure scale-up or no-op.
            let mut kept = BTreeMap::new();
            let mut current = BTreeMap::new();
            for c in &s.clusters {
                if let Some((pr, cap)) = s.resolved(c) {
                    let min = pr.min_replicas.min(cap);
                    let bound = if pr.weight > 0 { cap } else { min };
                    let cur = s.current.get(c).copied().unwrap_or(0).min(bound);
                    current.insert(c.clone(), cur);
                    kept.insert(c.clone(), cur.max(min));
                }
            }
            s.current = current;
            s.total = s.total.max(kept.values().sum());
            let p = plan(&s.input()).unwrap();
            for (c, v) in &kept {
                prop_assert!(p.replicas[c] >= *v, "{} shrank from {} to {}", c, v, p.replicas[c]);
            }
        }
    }
}
