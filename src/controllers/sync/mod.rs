//! Propagation of federated objects to member clusters: the pure functions the sync controller
//! is built around (placement, overrides, the member object, drift detection, status).

pub mod compare;
pub mod context;
pub mod delete_options;
pub mod desired;
pub mod member_ops;
pub mod overrides;
pub mod placement;
pub mod reconcile;
pub mod status;
pub mod worker;

/// FNV-1a 64-bit hash: stable across processes and releases (unlike std's `RandomState`), so it
/// can be persisted in annotations and used for deterministic tie-breaking.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::fnv1a64;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
