//! Member objects the operator wrote that the member's cache does not show yet.
//!
//! A pass can run before a member's watch shows what an earlier pass wrote there: brought
//! back by one of its own writes (the finalizer it added, another member's answer), or by a
//! write answered after the pass stopped waiting for it. It would write again: a create is
//! refused (AlreadyExists) and read back, an update is sent twice. The member's answer
//! stands in for the cache's view until the cache catches up.
//!
//! It yields as soon as the cache can tell something the answer cannot: the cache shows
//! anything but what it showed before the write (the write's own watch event, or anyone
//! else's change), or it removed any object since (a deletion event or a re-list), or it is
//! not synced. A member object changed or deleted out of band after the write therefore
//! shows once its event arrives. The record itself goes with the first event of the object
//! after the answer, and an event while the write is under way leaves none (see
//! `controllers::sync::member_writes`): a change and its revert would otherwise look like
//! "nothing happened since". Records are read before the caches are, so an event in between
//! finds the cache showing it.

use super::observation::{CacheState, MemberObject};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The member's answer to the operator's last write, and what the cache showed before the
/// first write the answer stands for.
#[derive(Clone, Debug)]
pub struct OwnWrite {
    pub object: Arc<MemberObject>,
    pub before: Before,
}

/// What a member's cache showed of an object before the operator wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Before {
    /// The object as the cache showed it (`None`: not at all, before a create).
    pub object: Option<Arc<MemberObject>>,
    /// The cache's removal mark, read before the pass observed.
    pub removals: u64,
}

impl OwnWrite {
    /// The record after a further write answered with `object`: it stands while the cache
    /// shows what it showed before the first one.
    pub fn followed_by(self, object: Arc<MemberObject>) -> Self {
        OwnWrite {
            object,
            before: self.before,
        }
    }
}

/// Whether an answer is worth recording: one equal to what the cache showed before changed
/// nothing the cache would show, and no event would ever drop its record.
pub fn worth_recording(answer: &MemberObject, before: &Before) -> bool {
    before.object.as_deref() != Some(answer)
}

/// Whether `write` still stands in for the cache's view, given the cache's `state`, the
/// object it shows (`shown`) and how many removals it has seen (`removals`). When not, the
/// cache's view is used.
pub fn stands(
    write: &OwnWrite,
    state: &CacheState,
    shown: Option<&Arc<MemberObject>>,
    removals: u64,
) -> bool {
    *state == CacheState::Synced
        && removals == write.before.removals
        && shown == write.before.object.as_ref()
}

/// What a member's cache shows of an object now.
pub struct CacheNow<'a> {
    pub state: &'a CacheState,
    pub object: Option<&'a Arc<MemberObject>>,
    pub removals: u64,
}

/// Of the `recorded` answers by cluster, those that stand in for the caches as they are
/// `now` (`None`: the member is gone).
pub fn standing<'a>(
    recorded: &BTreeMap<String, OwnWrite>,
    now: impl Fn(&str) -> Option<CacheNow<'a>>,
) -> BTreeMap<String, Arc<MemberObject>> {
    recorded
        .iter()
        .filter(|(cluster, write)| {
            now(cluster)
                .is_some_and(|cache| stands(write, cache.state, cache.object, cache.removals))
        })
        .map(|(cluster, write)| (cluster.clone(), write.object.clone()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::observation::StatusCollection;
    use crate::crds::federated::AggregateKind;

    /// A managed config map-like member object whose data is `data`.
    pub(crate) fn object(data: &str) -> Arc<MemberObject> {
        Arc::new(MemberObject::from_object(
            &serde_json::json!({
                "metadata": {"name": "a", "labels": {"kubefed.io/managed": "true"}},
                "data": {"k": data},
            }),
            StatusCollection {
                collect: false,
                kind: AggregateKind::Other,
            },
        ))
    }

    fn write(before: Option<Arc<MemberObject>>, removals: u64) -> OwnWrite {
        OwnWrite {
            object: object("answer"),
            before: Before {
                object: before,
                removals,
            },
        }
    }

    #[test]
    fn a_create_stands_only_until_the_cache_can_tell_more() {
        let synced = CacheState::Synced;
        let forbidden = CacheState::Forbidden("no".into());
        let shown = object("answer");
        let cases = [
            // (recorded removals, state, shown, removals now, stands)
            (3, &synced, None, 3, true),
            // The cache caught up: its view is used.
            (3, &synced, Some(&shown), 3, false),
            // A deletion (or re-list) since the create: absence may be a real deletion.
            (3, &synced, None, 4, false),
            (3, &synced, Some(&shown), 4, false),
            // A cache that is not synced tells nothing reliable; the plan waits on it.
            (3, &CacheState::Syncing, None, 3, false),
            (3, &CacheState::Stopped, None, 3, false),
            (3, &forbidden, None, 3, false),
        ];
        for (recorded, state, shown, now, expected) in cases {
            assert_eq!(
                stands(&write(None, recorded), state, shown, now),
                expected,
                "recorded {recorded}, {state:?}, shown {shown:?}, now {now}"
            );
        }
    }

    #[test]
    fn an_update_stands_only_while_the_cache_shows_what_it_showed_before() {
        let synced = CacheState::Synced;
        let old = object("old");
        let cases = [
            // (shown, removals now, state, stands)
            (Some(object("old")), 3, &synced, true),
            // The update's own event, or anyone else's change.
            (Some(object("answer")), 3, &synced, false),
            (Some(object("other")), 3, &synced, false),
            // Deleted since.
            (None, 3, &synced, false),
            (Some(object("old")), 4, &synced, false),
            (Some(object("old")), 3, &CacheState::Syncing, false),
        ];
        for (shown, now, state, expected) in cases {
            assert_eq!(
                stands(&write(Some(old.clone()), 3), state, shown.as_ref(), now),
                expected,
                "shown {shown:?}, removals {now}, {state:?}"
            );
        }
    }

    #[test]
    fn a_later_write_keeps_what_the_cache_showed_before_the_first() {
        // An update of an object the cache does not show yet: the record still stands only
        // while the cache shows nothing.
        let created = write(None, 3);
        let updated = created.followed_by(object("new"));
        assert_eq!(updated.object, object("new"));
        assert!(stands(&updated, &CacheState::Synced, None, 3));
        assert!(!stands(
            &updated,
            &CacheState::Synced,
            Some(&object("answer")),
            3
        ));
    }

    #[test]
    fn only_the_answers_that_stand_are_shown() {
        let old = object("old");
        let recorded = BTreeMap::from([
            ("created".to_string(), write(None, 0)),
            ("updated".to_string(), write(Some(old.clone()), 0)),
            ("caught-up".to_string(), write(None, 0)),
            ("gone".to_string(), write(None, 0)),
        ]);
        let shown = object("answer");
        let shows = |cluster: &str| {
            let object = match cluster {
                "created" => None,
                "updated" => Some(&old),
                "caught-up" => Some(&shown),
                _ => return None,
            };
            Some(CacheNow {
                state: &CacheState::Synced,
                object,
                removals: 0,
            })
        };
        let standing = standing(&recorded, shows);
        assert_eq!(
            standing.keys().map(String::as_str).collect::<Vec<_>>(),
            ["created", "updated"]
        );
    }

    #[test]
    fn an_answer_equal_to_what_the_cache_showed_is_not_recorded() {
        let before = |object| Before {
            object,
            removals: 0,
        };
        assert!(!worth_recording(
            &object("same"),
            &before(Some(object("same")))
        ));
        assert!(worth_recording(
            &object("new"),
            &before(Some(object("same")))
        ));
        assert!(worth_recording(&object("new"), &before(None)));
    }
}
