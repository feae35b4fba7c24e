//! Which watch events bring a federated object back for a pass.
//!
//! An event that shows what the object's last settled pass left behind brings nothing to do:
//! mostly the echoes of the operator's own writes (the finalizer it added, the member objects
//! it applied). One that comes while a pass of its object runs is held and looked at when the
//! pass ends (see [`super::passes`]). Every event looked at is counted by whether it brought
//! the object back (`kubefed_sync_wakeups_total`).
//!
//! Of the member events that do, each object's first is forwarded at once, later ones at most
//! once per window: a member that keeps changing still gets its status written regularly, at a
//! bounded rate (the controller's debounce alone postpones the object for as long as the
//! changes go on).

use super::context::{SyncContext, key_of};
use super::passes::HeldEvents;
use crate::core::coalesce::Coalescer;
use crate::crds::stored_federated::StoredFederated;
use crate::members::cache::{MemberEvent, ObjectKey};
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// After forwarding a member event for an object, further events for it within this window
/// are forwarded together at its end.
const MEMBER_EVENT_WINDOW: Duration = Duration::from_millis(500);

/// The counters of events from one source: `[nothing new, brought a pass]`.
type Counted = [Counter; 2];

fn counted(ctx: &SyncContext, source: &str) -> Counted {
    [
        ctx.metrics.wakeups(source, false),
        ctx.metrics.wakeups(source, true),
    ]
}

fn object_ref(
    (namespace, name): &ObjectKey,
    federated: &ApiResource,
) -> ObjectRef<StoredFederated> {
    let key = ObjectRef::new_with(name, federated.clone());
    match namespace {
        Some(ns) => key.within(ns),
        None => key,
    }
}

/// The filter of the host watch's events (after the predicate on what a pass reads): drops
/// those that show what the last settled pass left, and holds those that come during a pass.
pub fn host_events(
    ctx: Arc<SyncContext>,
) -> impl FnMut(&Result<StoredFederated, watcher::Error>) -> Ready<bool> {
    let counted = counted(&ctx, "host");
    move |event| {
        let Ok(obj) = event else {
            return ready(true);
        };
        let key = key_of(obj);
        // A held event is counted when its pass ends.
        if ctx.passes.hold_host(&key) {
            return ready(false);
        }
        let news = !ctx.federated_shows_settled(&key, &obj.metadata);
        counted[usize::from(news)].inc();
        ready(news)
    }
}

/// What wakes the forwarder.
enum Input {
    Event(MemberEvent),
    /// A pass ended that held events of its object.
    PassEnded(ObjectKey, HeldEvents),
    /// A held object's window ended.
    Due,
}

/// Forwards the member events (and the events passes held) that bring an object back to
/// `objects`, and member and cache state changes to `all`, until either is closed.
pub async fn forward_member_events(
    ctx: Arc<SyncContext>,
    mut events: mpsc::UnboundedReceiver<MemberEvent>,
    objects: mpsc::UnboundedSender<ObjectRef<StoredFederated>>,
    all: mpsc::UnboundedSender<()>,
    store: Store<StoredFederated>,
) {
    let federated = ctx.synced.federated.clone();
    // A cluster-scoped target (Namespace) names its federated object by namespace and name.
    let namespace_type = ctx.synced.is_namespace();
    let send = |key: &ObjectKey| objects.send(object_ref(key, &federated)).is_ok();
    let (member_counted, host_counted) = (counted(&ctx, "member"), counted(&ctx, "host"));
    let mut ended = ctx.passes.take_ended();
    let mut last_sent: HashMap<ObjectKey, Instant> = HashMap::new();
    let mut held: Coalescer<ObjectKey, Instant> = Coalescer::new(MEMBER_EVENT_WINDOW);
    let mut next_prune = Instant::now() + MEMBER_EVENT_WINDOW;
    loop {
        let deadline = held.next_deadline();
        let input = tokio::select! {
            event = events.recv() => match event {
                Some(event) => Input::Event(event),
                None => return,
            },
            Some((key, held)) = async {
                match ended.as_mut() {
                    Some(ended) => ended.recv().await,
                    None => std::future::pending().await,
                }
            } => Input::PassEnded(key, held),
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => Input::Due,
        };
        let now = Instant::now();
        let news = match input {
            Input::Event(MemberEvent::Object {
                cluster,
                namespace,
                name,
            }) => {
                let namespace = match namespace {
                    None if namespace_type => Some(name.clone()),
                    other => other,
                };
                let key = (namespace, name);
                ctx.writes.changed(&key, &cluster);
                // A held event is counted when its pass ends.
                if ctx.passes.hold(&key, &cluster) {
                    None
                } else {
                    let news = !ctx.shows_settled(&key, &cluster);
                    member_counted[usize::from(news)].inc();
                    news.then_some(key)
                }
            }
            Input::Event(MemberEvent::State { .. }) => {
                if all.send(()).is_err() {
                    return;
                }
                None
            }
            Input::PassEnded(key, events) => {
                let mut news = false;
                if events.host {
                    let host_news = !store
                        .get(&object_ref(&key, &federated))
                        .is_some_and(|obj| ctx.federated_shows_settled(&key, &obj.metadata));
                    host_counted[usize::from(host_news)].inc();
                    news |= host_news;
                }
                for cluster in &events.members {
                    let member_news = !ctx.shows_settled(&key, cluster);
                    member_counted[usize::from(member_news)].inc();
                    news |= member_news;
                }
                news.then_some(key)
            }
            Input::Due => None,
        };
        if let Some(key) = news {
            match last_sent.get(&key) {
                Some(at) if now < *at + MEMBER_EVENT_WINDOW => held.mark(key, *at),
                _ => {
                    if !send(&key) {
                        return;
                    }
                    last_sent.insert(key, now);
                }
            }
        }
        for key in held.due(now) {
            if !send(&key) {
                return;
            }
            last_sent.insert(key, now);
        }
        if now >= next_prune {
            last_sent.retain(|_, at| now < *at + MEMBER_EVENT_WINDOW);
            next_prune = now + MEMBER_EVENT_WINDOW;
        }
    }
}
