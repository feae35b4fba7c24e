//! Member objects the operator created that the member's cache does not show yet.
//!
//! A pass brought back by one of its own writes (the finalizer it added, another member's
//! create) can run before a member's watch shows what the previous pass created there: it
//! would plan the create again, be refused (AlreadyExists) and read the object back. The
//! member's answer to the create stands in for the cache's view until the cache catches up.
//!
//! It yields as soon as the cache can tell something the answer cannot: the cache shows the
//! object, or the cache removed any object (a deletion event or a re-list) since before the
//! create was sent, or it is not synced. A member object deleted out of band after the create
//! therefore shows as missing (and is created again) once its deletion event arrives.

use super::observation::{CacheState, MemberObject};
use std::sync::Arc;

/// The member's answer to a create, and how many removals its cache had seen before the
/// create was sent.
#[derive(Clone, Debug)]
pub struct OwnCreate {
    pub object: Arc<MemberObject>,
    pub removals: u64,
}

/// Whether `create` still stands in for the cache's view, given the cache's `state`, whether
/// it shows the object (`shown`) and how many removals it has seen (`removals`). When not,
/// the record is dropped and the cache's view is used.
pub fn stands(create: &OwnCreate, state: &CacheState, shown: bool, removals: u64) -> bool {
    !shown && *state == CacheState::Synced && removals == create.removals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::observation::StatusCollection;
    use crate::crds::federated::AggregateKind;

    fn create(removals: u64) -> OwnCreate {
        OwnCreate {
            object: Arc::new(MemberObject::from_object(
                &serde_json::json!({"metadata": {"name": "a", "labels": {"kubefed.io/managed": "true"}}}),
                StatusCollection {
                    collect: false,
                    kind: AggregateKind::Other,
                },
            )),
            removals,
        }
    }

    #[test]
    fn the_answer_stands_only_until_the_cache_can_tell_more() {
        let synced = CacheState::Synced;
        let forbidden = CacheState::Forbidden("no".into());
        let cases = [
            // (recorded removals, state, shown, removals now, stands)
            (3, &synced, false, 3, true),
            // The cache caught up: its view is used.
            (3, &synced, true, 3, false),
            // A deletion (or re-list) since the create: absence may be a real deletion.
            (3, &synced, false, 4, false),
            (3, &synced, true, 4, false),
            // A cache that is not synced tells nothing reliable; the plan waits on it.
            (3, &CacheState::Syncing, false, 3, false),
            (3, &CacheState::Stopped, false, 3, false),
            (3, &forbidden, false, 3, false),
        ];
        for (recorded, state, shown, now, expected) in cases {
            assert_eq!(
                stands(&create(recorded), state, shown, now),
                expected,
                "recorded {recorded}, {state:?}, shown {shown}, now {now}"
            );
        }
    }
}
