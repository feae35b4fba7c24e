//! DriftRepaired events for pull members: the agent counts the out-of-band changes it
//! reverts in its MemberWork's status (`driftRepairs`); the host remembers the count it last
//! saw per MemberWork and turns each increase into the event the push executor emits.
//!
//! Only counts above zero are remembered (a MemberWork without repairs costs the host no
//! memory), so "nothing remembered" means zero seen. The counts of the MemberWorks the host
//! finds when it starts watching are remembered as they are: repairs made before (while the
//! operator was down, say) are not reported late.

/// How many repairs `reported` adds to what the host saw last (`seen`; `None`: none). A count
/// that went down (the MemberWork was recreated) adds none.
pub fn new_repairs(seen: Option<i64>, reported: i64) -> i64 {
    (reported - seen.unwrap_or(0)).max(0)
}

/// What to remember after seeing `reported`: nothing for zero.
pub fn remembered(reported: i64) -> Option<i64> {
    (reported > 0).then_some(reported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_increases_over_what_was_seen_are_new() {
        let cases = [
            (None, 0, 0),
            (None, 1, 1),
            (None, 3, 3),
            (Some(1), 1, 0),
            (Some(2), 5, 3),
            (Some(5), 5, 0),
            (Some(5), 1, 0),
        ];
        for (seen, reported, new) in cases {
            assert_eq!(new_repairs(seen, reported), new, "{seen:?} -> {reported}");
        }
    }

    #[test]
    fn only_counts_above_zero_are_remembered() {
        assert_eq!(remembered(0), None);
        assert_eq!(remembered(-1), None);
        assert_eq!(remembered(4), Some(4));
    }
}
