//! Event aggregation: at most one event per reason per reconciliation of a federated object,
//! naming the clusters it concerns, so the host's event load does not grow with the fleet.
//! The per-cluster details are in the object's `status.clusters[]`.

use std::collections::BTreeMap;

/// How many cluster names an event lists before it only counts the rest.
pub const LISTED_CLUSTERS: usize = 10;

/// Severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Normal,
    Warning,
}

/// One event to publish: its reason and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    pub severity: Severity,
    pub reason: String,
    pub note: String,
}

/// `cluster1, cluster2, … (+87)`: the first [`LISTED_CLUSTERS`] names, then a count.
pub fn list_clusters(clusters: &[String]) -> String {
    let shown: Vec<&str> = clusters
        .iter()
        .take(LISTED_CLUSTERS)
        .map(String::as_str)
        .collect();
    let rest = clusters.len().saturating_sub(LISTED_CLUSTERS);
    if rest == 0 {
        shown.join(", ")
    } else {
        format!("{}, … (+{rest})", shown.join(", "))
    }
}

/// `created in 3 clusters: a, b, c` / `created in cluster a`.
pub fn in_clusters(what: &str, clusters: &[String]) -> String {
    match clusters {
        [one] => format!("{what} in cluster {one}"),
        _ => format!(
            "{what} in {} clusters: {}",
            clusters.len(),
            list_clusters(clusters)
        ),
    }
}

/// Collects what happened per cluster during one reconciliation and turns it into one event
/// per reason.
#[derive(Clone, Debug, Default)]
pub struct EventBatch {
    /// (severity, reason) → (what happened, clusters, details per cluster).
    entries: BTreeMap<(Severity, String), Entry>,
}

#[derive(Clone, Debug, Default)]
struct Entry {
    what: String,
    clusters: Vec<String>,
    /// Distinct detail messages, each with the clusters it was seen in.
    details: BTreeMap<String, Vec<String>>,
}

impl EventBatch {
    /// Records that `what` (e.g. `created ConfigMap`) happened in `cluster`, with an optional
    /// detail (e.g. the member API's error message).
    pub fn add(
        &mut self,
        severity: Severity,
        reason: &str,
        what: &str,
        cluster: &str,
        detail: Option<&str>,
    ) {
        let entry = self
            .entries
            .entry((severity, reason.to_string()))
            .or_default();
        if entry.what.is_empty() {
            entry.what = what.to_string();
        }
        entry.clusters.push(cluster.to_string());
        if let Some(detail) = detail {
            entry
                .details
                .entry(detail.to_string())
                .or_default()
                .push(cluster.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One note per reason: `what in N clusters: …`, followed by the distinct details (the
    /// first few, each naming its clusters when more than one detail exists).
    pub fn notes(&self) -> Vec<EventNote> {
        self.entries
            .iter()
            .map(|((severity, reason), entry)| {
                let mut clusters = entry.clusters.clone();
                clusters.sort();
                clusters.dedup();
                let mut note = in_clusters(&entry.what, &clusters);
                match entry.details.len() {
                    0 => {}
                    1 => {
                        let detail = entry.details.keys().next().map(String::as_str);
                        note.push_str(&format!(": {}", detail.unwrap_or_default()));
                    }
                    _ => {
                        for (detail, where_) in entry.details.iter().take(3) {
                            let mut where_ = where_.clone();
                            where_.sort();
                            note.push_str(&format!("; {}: {detail}", list_clusters(&where_)));
                        }
                        if entry.details.len() > 3 {
                            note.push_str(&format!("; … (+{} more)", entry.details.len() - 3));
                        }
                    }
                }
                EventNote {
                    severity: *severity,
                    reason: reason.clone(),
                    note,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("cluster{i}")).collect()
    }

    #[test]
    fn one_event_per_reason_naming_the_clusters() {
        let mut batch = EventBatch::default();
        for c in names(97) {
            batch.add(
                Severity::Normal,
                "CreateInCluster",
                "created ConfigMap",
                &c,
                None,
            );
        }
        batch.add(
            Severity::Normal,
            "UpdateInCluster",
            "updated ConfigMap",
            "cluster98",
            None,
        );
        let notes = batch.notes();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0].reason, "CreateInCluster");
        assert_eq!(
            notes[0].note,
            "created ConfigMap in 97 clusters: cluster1, cluster10, cluster11, cluster12, \
             cluster13, cluster14, cluster15, cluster16, cluster17, cluster18, … (+87)"
        );
        assert_eq!(notes[1].note, "updated ConfigMap in cluster cluster98");
    }

    #[test]
    fn nothing_happened_means_no_event() {
        assert!(EventBatch::default().is_empty());
        assert!(EventBatch::default().notes().is_empty());
    }

    #[test]
    fn details_are_kept_and_grouped() {
        let mut batch = EventBatch::default();
        batch.add(
            Severity::Warning,
            "CreateInClusterFailed",
            "cannot create ConfigMap",
            "b",
            Some("quota exceeded"),
        );
        batch.add(
            Severity::Warning,
            "CreateInClusterFailed",
            "cannot create ConfigMap",
            "a",
            Some("quota exceeded"),
        );
        let notes = batch.notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(
            notes[0].note,
            "cannot create ConfigMap in 2 clusters: a, b: quota exceeded"
        );
        batch.add(
            Severity::Warning,
            "CreateInClusterFailed",
            "cannot create ConfigMap",
            "c",
            Some("forbidden"),
        );
        assert_eq!(
            batch.notes()[0].note,
            "cannot create ConfigMap in 3 clusters: a, b, c; c: forbidden; a, b: quota exceeded"
        );
    }

    #[test]
    fn short_lists_are_complete() {
        assert_eq!(list_clusters(&names(3)), "cluster1, cluster2, cluster3");
        assert_eq!(list_clusters(&names(10)).matches(", ").count(), 9);
        assert!(list_clusters(&names(11)).ends_with("… (+1)"));
    }
}
