//! What one sync worker (one federated type) shares across its reconciliations.

use crate::crds::Scope;
use crate::crds::federated::AggregateKind;
use crate::members::cache::MemberCaches;
use crate::members::pool::{Member, MemberPool};
use crate::operator::metrics::Metrics;
use kube::Client;
use kube::api::DynamicObject;
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// Field manager of every member write, so server-side apply tracks exactly the fields the
/// operator sets.
pub const MEMBER_FIELD_MANAGER: &str = "kubefed";

/// Identity of a federated object: namespace (if any) and name.
pub type ObjectKey = (Option<String>, String);

pub fn key_of(obj: &DynamicObject) -> ObjectKey {
    (
        obj.metadata.namespace.clone(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// The type a worker syncs.
#[derive(Clone, Debug)]
pub struct SyncedType {
    /// FederatedTypeConfig name, e.g. `deployments.apps`.
    pub name: String,
    pub target: ApiResource,
    pub target_namespaced: bool,
    pub federated: ApiResource,
    /// Whether `status.clusters[].remoteStatus` is collected.
    pub collect_status: bool,
    /// Which totals `status.aggregate` carries for this type.
    pub aggregate: AggregateKind,
}

impl SyncedType {
    pub fn is_namespace(&self) -> bool {
        self.target.group.is_empty() && self.target.kind == "Namespace"
    }
}

/// Settings of the sync controller, from the KubeFedConfig and flags.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    pub scope: Scope,
    pub federation_namespace: String,
    pub adopt_resources: bool,
    /// Time allowed for one member operation before it counts as timed out.
    pub member_timeout: Duration,
    pub concurrency: u16,
    /// Window in which triggers for one object are merged into one reconciliation (and one
    /// status write).
    pub debounce: Duration,
    /// UID of the host's `kube-system` namespace, to recognise the host among members.
    pub host_kube_system_uid: Option<String>,
}

/// Namespaces whose objects are never federated (KubeFed's list plus the federation's own).
pub fn is_excluded_namespace(settings: &SyncSettings, namespace: &str) -> bool {
    matches!(namespace, "kube-system" | "kube-public" | "default")
        || namespace == settings.federation_namespace
}

pub struct SyncContext {
    pub host: Client,
    pub synced: SyncedType,
    pub settings: SyncSettings,
    pub pool: MemberPool,
    pub caches: MemberCaches,
    /// FederatedNamespaces, for the namespace placement rule (Cluster scope, namespaced types).
    pub federated_namespaces: Option<(Store<DynamicObject>, ApiResource)>,
    pub metrics: Metrics,
    pub recorder: Recorder,
    /// Last warning set reported per object, so a warning is emitted once, not per reconcile.
    warned: Mutex<HashMap<ObjectKey, String>>,
    /// Consecutive failed reconciliations per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectKey, u32>>,
}

impl SyncContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: Client,
        synced: SyncedType,
        settings: SyncSettings,
        pool: MemberPool,
        caches: MemberCaches,
        federated_namespaces: Option<(Store<DynamicObject>, ApiResource)>,
        metrics: Metrics,
        recorder: Recorder,
    ) -> Self {
        SyncContext {
            host,
            synced,
            settings,
            pool,
            caches,
            federated_namespaces,
            metrics,
            recorder,
            warned: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// Whether `member` is the host cluster itself.
    pub fn is_host(&self, member: &Member) -> bool {
        matches!(
            (&self.settings.host_kube_system_uid, &member.kube_system_uid),
            (Some(host), Some(uid)) if host == uid
        )
    }

    /// Publishes an event on a federated object; failures to publish are only logged.
    pub async fn event(&self, obj: &DynamicObject, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: "Sync".to_string(),
            secondary: None,
        };
        let reference = kube::Resource::object_ref(obj, &self.synced.federated);
        if let Err(err) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(%err, "cannot publish event");
        }
    }

    /// Emits the warnings of a reconciliation once: only when the set differs from the last
    /// one reported for this object.
    pub async fn warn_once(&self, obj: &DynamicObject, warnings: &[(String, String)]) {
        let key = key_of(obj);
        let digest = warnings
            .iter()
            .map(|(r, m)| format!("{r}:{m}"))
            .collect::<Vec<_>>()
            .join("\n");
        {
            let mut warned = self.warned.lock();
            if warned.get(&key) == Some(&digest) {
                return;
            }
            if digest.is_empty() {
                warned.remove(&key);
            } else {
                warned.insert(key, digest);
            }
        }
        for (reason, message) in warnings {
            self.event(obj, EventType::Warning, reason, message.clone())
                .await;
        }
    }

    /// Forgets per-object memory when the object is gone.
    pub fn forget(&self, key: &ObjectKey) {
        self.warned.lock().remove(key);
        self.failures.lock().remove(key);
    }

    /// The delay before retrying an object that failed, doubling per consecutive failure.
    pub fn backoff(&self, key: &ObjectKey) -> Duration {
        let mut failures = self.failures.lock();
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let secs = 1u64 << (*n - 1).min(8);
        Duration::from_secs(secs.min(300))
    }

    pub fn succeeded(&self, key: &ObjectKey) {
        self.failures.lock().remove(key);
    }
}
