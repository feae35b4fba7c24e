//! DriftRepaired events for pull members: the agent counts the out-of-band changes it
//! reverts in its MemberWork's status (`driftRepairs`); the host remembers the count it last
//! saw per MemberWork and turns each increase into the event the push executor emits.

/// How many repairs `reported` adds to what the host saw last (`seen`). Nothing the first
/// time a MemberWork is seen (repairs made before, e.g. while the operator was down, are not
/// reported late) and nothing when the count went down (the MemberWork was recreated).
pub fn new_repairs(seen: Option<i64>, reported: i64) -> i64 {
    match seen {
        Some(seen) if reported > seen => reported - seen,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_increases_over_what_was_seen_are_new() {
        let cases = [
            (None, 0, 0),
            (None, 3, 0),
            (Some(0), 0, 0),
            (Some(0), 1, 1),
            (Some(2), 5, 3),
            (Some(5), 5, 0),
            (Some(5), 1, 0),
        ];
        for (seen, reported, new) in cases {
            assert_eq!(new_repairs(seen, reported), new, "{seen:?} -> {reported}");
        }
    }
}
