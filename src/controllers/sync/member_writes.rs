//! The member writes of each object under way, and the answers the members' caches do not
//! show yet (see [`crate::core::own_writes`] for when an answer stands in for the cache).
//!
//! A write is under way from its start until it ends, answered or not: meanwhile no other
//! write of the object goes to that member. A watch event of the object in that member while
//! the write is under way marks it, and its answer is then not recorded: the event may be of
//! a change after the write (or its revert), which the answer would hide. The first event
//! after the answer drops the record: from then on the cache shows at least as much.
//!
//! A pass reads which writes are under way together with the answers, before it observes:
//! a write under way then is not sent again by that pass even if it ends before the pass
//! writes, since what the pass observed may predate its answer (its end brings the object
//! back for another look).

use crate::core::observation::MemberObject;
use crate::core::own_writes::{self, Before, OwnWrite};
use crate::members::cache::ObjectKey;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Default)]
pub struct MemberWrites {
    /// Per object, the members a write is under way to, and whether the member's cache
    /// reported a change of the object since it started.
    writing: Mutex<HashMap<ObjectKey, BTreeMap<String, bool>>>,
    /// Per object and member, the answer to a write the member's cache does not show yet.
    answers: Mutex<HashMap<ObjectKey, BTreeMap<String, OwnWrite>>>,
}

impl MemberWrites {
    /// Starts a write of `key` to `cluster`; `false` if one is under way already.
    pub fn start(&self, key: &ObjectKey, cluster: &str) -> bool {
        let mut writing = self.writing.lock();
        let clusters = writing.entry(key.clone()).or_default();
        if clusters.contains_key(cluster) {
            return false;
        }
        clusters.insert(cluster.to_string(), false);
        true
    }

    pub fn end(&self, key: &ObjectKey, cluster: &str) {
        let mut writing = self.writing.lock();
        if let Some(clusters) = writing.get_mut(key) {
            clusters.remove(cluster);
            if clusters.is_empty() {
                writing.remove(key);
            }
        }
    }

    /// Records the answer to a write under way, with what the cache showed `before` the pass
    /// that sent it observed. An answer to a write that is not under way (the object was
    /// forgotten meanwhile) is not kept: nothing would drop it.
    pub fn answered(
        &self,
        key: &ObjectKey,
        cluster: &str,
        object: Arc<MemberObject>,
        before: Before,
    ) {
        let writing = self.writing.lock();
        let touched = writing.get(key).and_then(|clusters| clusters.get(cluster));
        let mut answers = self.answers.lock();
        match touched {
            None => return,
            Some(true) => {
                drop_answer(&mut answers, key, cluster);
                return;
            }
            Some(false) => {}
        }
        if !own_writes::worth_recording(&object, &before) {
            // The write changed nothing: what stood for the cache's view before still does.
            return;
        }
        let writes = answers.entry(key.clone()).or_default();
        let write = match writes.remove(cluster) {
            Some(earlier) => earlier.followed_by(object),
            None => OwnWrite { object, before },
        };
        writes.insert(cluster.to_string(), write);
    }

    /// The member's cache reported a change of `key`'s object in `cluster`: it shows more
    /// than a recorded answer, and a write under way may be answered with less.
    pub fn changed(&self, key: &ObjectKey, cluster: &str) {
        let mut writing = self.writing.lock();
        if let Some(touched) = writing.get_mut(key).and_then(|c| c.get_mut(cluster)) {
            *touched = true;
        }
        drop_answer(&mut self.answers.lock(), key, cluster);
    }

    /// What a pass of `key` must know of its writes; read before the caches, so that an
    /// event that drops an answer after this finds the cache showing it.
    pub fn seen(&self, key: &ObjectKey) -> Seen {
        // Both under one hold of `writing`, as `answered` takes them: a write seen ended
        // here has its answer recorded (or dropped by an event the caches show).
        let writing = self.writing.lock();
        let under_way = writing
            .get(key)
            .map(|clusters| clusters.keys().cloned().collect())
            .unwrap_or_default();
        let answers = self.answers.lock().get(key).cloned();
        Seen { under_way, answers }
    }

    /// Forgets everything about `key`; its writes still under way end unrecorded.
    pub fn forget(&self, key: &ObjectKey) {
        self.writing.lock().remove(key);
        self.answers.lock().remove(key);
    }
}

/// What a pass read of its object's writes before it observed.
#[derive(Debug, Default)]
pub struct Seen {
    /// The members a write was under way to: this pass sends them nothing.
    pub under_way: BTreeSet<String>,
    /// The answers recorded, by cluster.
    pub answers: Option<BTreeMap<String, OwnWrite>>,
}

fn drop_answer(
    answers: &mut HashMap<ObjectKey, BTreeMap<String, OwnWrite>>,
    key: &ObjectKey,
    cluster: &str,
) {
    if let Some(writes) = answers.get_mut(key) {
        writes.remove(cluster);
        if writes.is_empty() {
            answers.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::own_writes::tests::object;

    fn key() -> ObjectKey {
        (Some("ns".into()), "web".into())
    }

    fn before(object: Option<Arc<MemberObject>>) -> Before {
        Before {
            object,
            removals: 0,
        }
    }

    /// The answers recorded for `key`, by cluster.
    fn recorded(writes: &MemberWrites) -> Vec<(String, Arc<MemberObject>)> {
        writes
            .seen(&key())
            .answers
            .unwrap_or_default()
            .into_iter()
            .map(|(cluster, write)| (cluster, write.object))
            .collect()
    }

    fn one(object: Arc<MemberObject>) -> Vec<(String, Arc<MemberObject>)> {
        vec![("cluster1".to_string(), object)]
    }

    #[test]
    fn one_write_per_object_and_member_at_a_time() {
        let writes = MemberWrites::default();
        assert!(writes.start(&key(), "cluster1"));
        assert!(!writes.start(&key(), "cluster1"), "under way");
        assert!(writes.start(&key(), "cluster2"), "another member");
        writes.end(&key(), "cluster1");
        assert!(writes.start(&key(), "cluster1"), "ended");
    }

    #[test]
    fn a_pass_sees_the_writes_under_way_and_the_answers_of_those_that_ended() {
        let writes = MemberWrites::default();
        writes.start(&key(), "cluster1");
        writes.start(&key(), "cluster2");
        let seen = writes.seen(&key());
        assert_eq!(
            seen.under_way,
            BTreeSet::from(["cluster1".to_string(), "cluster2".to_string()])
        );
        assert!(seen.answers.is_none());
        // cluster1's write ends answered: a later pass sees its answer, not the write.
        writes.answered(
            &key(),
            "cluster1",
            object("new"),
            before(Some(object("old"))),
        );
        writes.end(&key(), "cluster1");
        let seen = writes.seen(&key());
        assert_eq!(seen.under_way, BTreeSet::from(["cluster2".to_string()]));
        assert_eq!(recorded(&writes), one(object("new")));
    }

    #[test]
    fn an_answer_is_kept_until_the_cache_reports_a_change() {
        let writes = MemberWrites::default();
        write(&writes, "new", Some("old"));
        assert_eq!(recorded(&writes), one(object("new")));
        // The update's event.
        writes.changed(&key(), "cluster1");
        assert!(recorded(&writes).is_empty(), "dropped by the event");
    }

    #[test]
    fn an_event_while_the_write_is_under_way_leaves_no_record() {
        // A change and its revert before the answer: the cache shows what it showed before,
        // but the answer is not what the member holds.
        let writes = MemberWrites::default();
        writes.start(&key(), "cluster1");
        writes.changed(&key(), "cluster1");
        writes.changed(&key(), "cluster1");
        writes.answered(
            &key(),
            "cluster1",
            object("new"),
            before(Some(object("old"))),
        );
        assert!(recorded(&writes).is_empty());
    }

    #[test]
    fn an_answer_after_the_object_was_forgotten_is_not_kept() {
        let writes = MemberWrites::default();
        writes.start(&key(), "cluster1");
        writes.forget(&key());
        writes.answered(&key(), "cluster1", object("new"), before(None));
        assert!(recorded(&writes).is_empty());
    }

    /// A write of cluster1 answered with `answer`, the cache having shown `shown` before.
    fn write(writes: &MemberWrites, answer: &str, shown: Option<&str>) {
        writes.start(&key(), "cluster1");
        writes.answered(
            &key(),
            "cluster1",
            object(answer),
            before(shown.map(object)),
        );
        writes.end(&key(), "cluster1");
    }

    #[test]
    fn later_writes_keep_what_the_cache_showed_before_the_first() {
        // (second answer, the record's object afterwards): an update of the unseen create
        // (the pass saw the create's answer in place of the cache's view), and one that
        // changed nothing.
        for (second, expected) in [("updated", "updated"), ("created", "created")] {
            let writes = MemberWrites::default();
            write(&writes, "created", None);
            write(&writes, second, Some("created"));
            let all = writes.seen(&key()).answers.unwrap_or_default();
            assert_eq!(all["cluster1"].object, object(expected), "{second}");
            assert_eq!(all["cluster1"].before.object, None, "{second}");
        }
    }
}
