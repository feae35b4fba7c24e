//! Building the [`Observation`] a plan reads: from the worker's caches (every reconciliation),
//! or from live reads without any cache (for tools that run the same plan once, e.g. a
//! preview of what the operator would do).

use super::context::SyncContext;
use crate::core::health::Health;
use crate::core::observation::{
    CacheState, FederatedObject, MemberObject, MemberView, NamespaceObservation, Observation,
    Reachability, StatusCollection,
};
use crate::core::plan::PlanSettings;
use crate::core::pull_pause::report_stands;
use crate::crds::stored_federated::StoredFederated;
use crate::members::pool::{Member, Members};
use crate::runtime::store::is_ready;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Whether a member can be written to, from the pool's view of it.
pub fn reachability(member: &Member) -> Reachability {
    if member.pull {
        // A pull member has no client: its agent's heartbeat is its health.
        return match &member.health {
            None => Reachability::Unprobed,
            Some(Health::NotReady(why) | Health::Offline(why)) => {
                Reachability::NotReady(why.clone())
            }
            Some(_) => Reachability::Ready,
        };
    }
    match (&member.client, &member.health) {
        (None, _) => Reachability::NotReady("its configuration is malformed".into()),
        (Some(_), None) => Reachability::Unprobed,
        (Some(_), Some(Health::NotReady(why) | Health::Offline(why))) => {
            Reachability::NotReady(why.clone())
        }
        (Some(_), Some(_)) if member.unresponsive => Reachability::Unresponsive,
        (Some(_), Some(_)) => Reachability::Ready,
    }
}

/// The observation of `obj` from the worker's caches and the member snapshot `members`.
pub fn from_caches(obj: &StoredFederated, ctx: &SyncContext, members: &Members) -> Observation {
    let object = FederatedObject::from_stored(obj);
    let namespace = if !ctx.plan_settings.namespace_rule_applies() {
        NamespaceObservation::NotNeeded
    } else {
        match (&ctx.federated_namespaces, object.namespace.as_deref()) {
            (Some((store, resource)), Some(ns)) if is_ready(store) => {
                let key = ObjectRef::new_with(ns, resource.clone()).within(ns);
                NamespaceObservation::from_federated_namespace(store.get(&key).as_deref())
            }
            (Some(_), Some(_)) => NamespaceObservation::Loading,
            _ => NamespaceObservation::Missing,
        }
    };
    // Member objects of cluster-scoped targets (e.g. Namespaces) have no namespace.
    let target_namespace = object
        .namespace
        .as_deref()
        .filter(|_| ctx.synced.target_namespaced);
    let views = ctx.pool.is_loaded().then(|| {
        members
            .iter()
            .map(|(name, member)| {
                let (cache, object) = match &ctx.works {
                    Some(works) if member.pull => works.view(
                        name,
                        &ctx.synced.name,
                        target_namespace,
                        &object.name,
                        ctx.synced.collection(),
                    ),
                    _ => ctx.caches.view(name, target_namespace, &object.name),
                };
                let view = MemberView {
                    labels: member.labels.clone(),
                    reachability: reachability(member),
                    is_host: ctx.is_host(member),
                    cache,
                    object,
                };
                (name.clone(), view)
            })
            .collect()
    });
    Observation {
        object,
        namespace,
        members: views,
    }
}

/// What the agents of pull members reported failing for the current spec of their MemberWork,
/// as those clusters' entries.
pub fn agent_failures(
    obj: &StoredFederated,
    paused: bool,
    ctx: &SyncContext,
    members: &Members,
) -> BTreeMap<String, crate::core::plan::Entry> {
    let Some(works) = &ctx.works else {
        return BTreeMap::new();
    };
    let (namespace, name) = super::context::key_of(obj);
    let namespace = namespace
        .as_deref()
        .filter(|_| ctx.synced.target_namespaced);
    members
        .values()
        .filter(|m| m.pull)
        .filter_map(|m| {
            let entry = works.reported_failure(&m.name, &ctx.synced.name, namespace, &name)?;
            report_stands(&entry, paused).then(|| (m.name.clone(), entry))
        })
        .collect()
}

/// When the MemberWorks of `obj` whose reports are still due were written: for each ready
/// pull member, now if this pass wrote it (`wrote`), else the cache's record of a MemberWork
/// its agent has not reported on yet.
pub fn pending_reports(
    obj: &StoredFederated,
    ctx: &SyncContext,
    members: &Members,
    wrote: impl Fn(&str) -> bool,
    now: jiff::Timestamp,
) -> Vec<jiff::Timestamp> {
    let Some(works) = &ctx.works else {
        return Vec::new();
    };
    let (namespace, name) = super::context::key_of(obj);
    let namespace = namespace
        .as_deref()
        .filter(|_| ctx.synced.target_namespaced);
    members
        .values()
        .filter(|m| m.pull && reachability(m) == Reachability::Ready)
        .filter_map(|m| {
            if wrote(&m.name) {
                return Some(now);
            }
            works.awaiting_report(
                &m.name,
                &ctx.synced.name,
                namespace,
                &name,
                super::context::MEMBER_FIELD_MANAGER,
            )
        })
        .collect()
}

/// What a live read of one member finds: the state it implies and the object.
pub async fn read_member(
    client: &Client,
    target: &ApiResource,
    namespace: Option<&str>,
    name: &str,
    collection: StatusCollection,
    timeout: Duration,
) -> (CacheState, Option<Arc<MemberObject>>) {
    let (state, found) = get_member(client, target, namespace, name, timeout).await;
    let object = found.map(|o| {
        let value = serde_json::to_value(&o).unwrap_or_default();
        Arc::new(MemberObject::from_object(&value, collection))
    });
    (state, object)
}

/// A GET of the member object: the state it implies and the whole object.
pub async fn get_member(
    client: &Client,
    target: &ApiResource,
    namespace: Option<&str>,
    name: &str,
    timeout: Duration,
) -> (CacheState, Option<DynamicObject>) {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, target),
        None => Api::all_with(client.clone(), target),
    };
    match tokio::time::timeout(timeout, api.get_opt(name)).await {
        Ok(Ok(found)) => (CacheState::Synced, found),
        Ok(Err(kube::Error::Api(s))) if s.code == 403 => (CacheState::Forbidden(s.message), None),
        // get_opt turns an absent object into None: a 404 here is the type itself.
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => (CacheState::NotServed, None),
        Ok(Err(err)) => (CacheState::Failing(err.to_string()), None),
        Err(_) => (
            CacheState::Failing(format!("no answer within {timeout:?}")),
            None,
        ),
    }
}

/// What a live observation reads on the host and in the members.
pub struct LiveSources<'a> {
    pub host: &'a Client,
    /// The federated type.
    pub federated: &'a ApiResource,
    /// The FederatedNamespace type, when the namespace rule applies.
    pub federated_namespace: Option<&'a ApiResource>,
    pub target: &'a ApiResource,
    pub collection: StatusCollection,
    pub members: &'a Members,
    pub host_kube_system_uid: Option<&'a str>,
    pub timeout: Duration,
}

/// The observation of one federated object from live reads: the host's objects and a GET of
/// the member object in every member (no caches, no watches). `None` when the federated
/// object does not exist. Unlike a cache, a GET also sees member objects without the managed
/// label, so the plan shows adoption decisions directly.
pub async fn live(
    sources: &LiveSources<'_>,
    settings: &PlanSettings,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Observation>, kube::Error> {
    let Some(obj) = host_api(sources, sources.federated, namespace)
        .get_opt(name)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(live_object(sources, settings, &obj).await?.0))
}

fn host_api(
    sources: &LiveSources<'_>,
    resource: &ApiResource,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    match ns {
        Some(ns) => Api::namespaced_with(sources.host.clone(), ns, resource),
        None => Api::all_with(sources.host.clone(), resource),
    }
}

/// Like [`live`] for a federated object at hand (read from the host, or not created yet),
/// also returning every member object as it was read (for a diff).
pub async fn live_object(
    sources: &LiveSources<'_>,
    settings: &PlanSettings,
    obj: &DynamicObject,
) -> Result<(Observation, BTreeMap<String, DynamicObject>), kube::Error> {
    let object = FederatedObject::from_dynamic(obj);
    let namespace = object.namespace.clone();
    let namespace_observation = match (sources.federated_namespace, namespace.as_deref()) {
        (Some(resource), Some(ns)) if settings.namespace_rule_applies() => {
            let fed_ns = host_api(sources, resource, Some(ns)).get_opt(ns).await?;
            NamespaceObservation::from_federated_namespace(fed_ns.as_ref())
        }
        _ => NamespaceObservation::NotNeeded,
    };
    let target_namespace = namespace.as_deref().filter(|_| settings.target.namespaced);
    let name = object.name.as_str();
    let reads = sources.members.iter().map(|(cluster, member)| async move {
        let read = match member.ready_client() {
            Some(client) => {
                get_member(
                    client,
                    sources.target,
                    target_namespace,
                    name,
                    sources.timeout,
                )
                .await
            }
            None => (CacheState::Stopped, None),
        };
        (cluster, member, read)
    });
    let mut members = BTreeMap::new();
    let mut raw = BTreeMap::new();
    for (cluster, member, (cache, found)) in futures::future::join_all(reads).await {
        let is_host = matches!(
            (sources.host_kube_system_uid, member.kube_system_uid.as_deref()),
            (Some(host), Some(uid)) if host == uid
        );
        let view_object = found.as_ref().map(|o| {
            let value = serde_json::to_value(o).unwrap_or_default();
            Arc::new(MemberObject::from_object(&value, sources.collection))
        });
        if let Some(found) = found {
            raw.insert(cluster.clone(), found);
        }
        members.insert(
            cluster.clone(),
            MemberView {
                labels: member.labels.clone(),
                reachability: reachability(member),
                is_host,
                cache,
                object: view_object,
            },
        );
    }
    let observation = Observation {
        object,
        namespace: namespace_observation,
        members: Some(members),
    };
    Ok((observation, raw))
}
