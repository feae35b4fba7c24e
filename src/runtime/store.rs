//! Reading kube reflector stores without waiting on them.

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
