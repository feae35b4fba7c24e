//! Reading kube reflector stores without waiting on them, and keeping them lean.

use futures::FutureExt;
use kube::runtime::reflector::Store;

/// Whether a reflector store has completed its first list (without waiting for it: the stream
/// that fills it is driven elsewhere).
pub fn is_ready<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
}

/// Drops what no controller reads from an object before a store keeps it: `managedFields`,
/// the server's record of who set which field (for a federated object, several KB of nested
/// maps, more than its spec). Writes are merge patches, so nothing is sent back without it.
pub fn lean<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::DynamicObject;

    #[test]
    fn lean_drops_managed_fields_only() {
        let mut obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"k": "v"},
                "managedFields": [{"manager": "m", "operation": "Apply"}]},
            "spec": {"x": 1}
        }))
        .unwrap();
        let mut expected = obj.clone();
        expected.metadata.managed_fields = None;
        lean(&mut obj);
        assert_eq!(obj.metadata, expected.metadata);
        assert_eq!(obj.data, expected.data);
    }
}
