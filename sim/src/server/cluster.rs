//! The handle to one simulated cluster: state, authentication, hooks and counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::server::counters::{ConnectionCounts, ConnectionStats, CounterSnapshot, Counters, Verb};
use crate::server::engine::State;
use crate::server::error::ApiError;

/// Tunables of a simulated API server.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// How many changes the watch history keeps; older resource versions get 410 Expired.
    pub history_size: usize,
    /// Interval of BOOKMARK events for watches that allow them.
    pub bookmark_interval: Duration,
    /// Reported by `/version`.
    pub git_version: String,
    /// Mimic the controller manager: every namespace gets a `default` ServiceAccount and a
    /// `kube-root-ca.crt` ConfigMap, and `default` has the `kubernetes` Service.
    pub namespace_defaults: bool,
    /// How long a new CRD stays `Established=False` (Installing) after its names are
    /// accepted. Its resource is served from the acceptance on, but discovery (and with it
    /// kubectl) sees it only once it is established, as on a real API server.
    pub crd_establish_delay: Duration,
}

/// Default of [`ClusterConfig::crd_establish_delay`]: small, but long enough that a kubectl
/// call applying a CRD and its custom resources together fails as it does on real servers.
pub const DEFAULT_CRD_ESTABLISH_DELAY: Duration = Duration::from_millis(300);

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            history_size: 1024,
            bookmark_interval: Duration::from_secs(5),
            git_version: "v1.33.0".into(),
            namespace_defaults: true,
            crd_establish_delay: DEFAULT_CRD_ESTABLISH_DELAY,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// What a request is about, as seen by hooks.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub verb: Verb,
    pub method: http::Method,
    pub path: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub user: Option<UserInfo>,
}

impl RequestInfo {
    /// `deployments.apps` / `configmaps` — the key used by the counters.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// A hook run for every request after authentication: authorization, fault injection,
/// latency. Returning an error answers the request with it.
pub trait Middleware: Send + Sync {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError>;

    /// Extra latency for this request (resource requests only).
    fn delay(&self, _req: &RequestInfo) -> Duration {
        Duration::ZERO
    }

    /// Validating admission of a write, given the object as it will be stored (before
    /// defaulting) and the current one for updates; runs under the state lock, so it reads
    /// the store through `st`.
    fn admit(
        &self,
        _st: &State,
        _req: &RequestInfo,
        _obj: &serde_json::Value,
        _old: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}

pub(crate) struct Inner {
    pub name: String,
    pub config: ClusterConfig,
    pub state: Mutex<State>,
    pub tokens: RwLock<HashMap<String, UserInfo>>,
    pub admin_token: String,
    pub middleware: RwLock<Vec<Arc<dyn Middleware>>>,
    pub counters: Counters,
    /// Connections the cluster's listeners accepted, by protocol.
    pub connections: Arc<ConnectionStats>,
    pub http_addr: Mutex<Option<SocketAddr>>,
    pub https_addr: Mutex<Option<SocketAddr>>,
    /// The transports' listeners; dropping them closes the listeners and their connections.
    pub listeners: Mutex<Vec<Box<dyn Send>>>,
}

/// One simulated Kubernetes API server. Cheap to clone; clones share the server.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Cluster {
    pub fn new(name: &str) -> Self {
        Self::with_config(name, ClusterConfig::default())
    }

    pub fn with_config(name: &str, config: ClusterConfig) -> Self {
        let admin_token = format!("admin-{}", crate::server::meta::new_uid());
        let mut tokens = HashMap::new();
        tokens.insert(
            admin_token.clone(),
            UserInfo {
                name: "kubernetes-admin".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        );
        let cluster = Cluster {
            inner: Arc::new(Inner {
                name: name.to_string(),
                state: Mutex::new(State::new(config.history_size, config.namespace_defaults)),
                config,
                tokens: RwLock::new(tokens),
                admin_token,
                middleware: RwLock::new(Vec::new()),
                counters: Counters::default(),
                connections: Arc::default(),
                http_addr: Mutex::new(None),
                https_addr: Mutex::new(None),
                listeners: Mutex::new(Vec::new()),
            }),
        };
        cluster.bootstrap();
        if tokio::runtime::Handle::try_current().is_ok() {
            crate::server::establishing::spawn(&cluster, cluster.inner.config.crd_establish_delay);
            crate::server::garbage_collector::spawn(&cluster);
        } else {
            tracing::warn!(
                cluster = name,
                "no Tokio runtime: CustomResourceDefinitions will not be established, nor garbage collected"
            );
        }
        cluster
    }

    /// The namespaces every cluster starts with.
    fn bootstrap(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            // Creating into a fresh store cannot fail; ignore the impossible error.
            let _ = self.create_object("", "v1", "namespaces", "", obj);
        }
        if self.inner.config.namespace_defaults {
            let svc = serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
            });
            let _ = self.create_object("", "v1", "services", "default", svc);
        }
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// Bearer token of the cluster-admin user.
    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    /// Registers a bearer token for a user.
    pub fn add_token(&self, token: &str, user: UserInfo) {
        self.inner.tokens.write().insert(token.to_string(), user);
    }

    pub fn revoke_token(&self, token: &str) {
        self.inner.tokens.write().remove(token);
    }

    pub fn add_middleware(&self, m: Arc<dyn Middleware>) {
        self.inner.middleware.write().push(m);
    }

    pub fn clear_middleware(&self) {
        self.inner.middleware.write().clear();
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.inner.counters.snapshot()
    }

    /// Connections accepted by the cluster's HTTP(S) listeners so far, by protocol.
    pub fn connections(&self) -> ConnectionCounts {
        self.inner.connections.snapshot()
    }

    pub fn reset_counters(&self) {
        self.inner.counters.reset()
    }

    /// The current resource version of the cluster.
    pub fn resource_version(&self) -> u64 {
        self.inner.state.lock().rv
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.inner.state.lock().store.len()
    }

    /// Drops the watch history, so every watch from an older version gets 410 Expired.
    pub fn compact_history(&self) {
        let mut st = self.inner.state.lock();
        let rv = st.rv;
        st.history.compact(rv);
    }

    /// Changes the size of the watch history window.
    pub fn set_history_size(&self, size: usize) {
        self.inner.state.lock().history.set_capacity(size);
    }

    /// Closes the HTTP(S) listeners and their open connections; `serve_http`/`serve_https`
    /// start fresh listeners on new ports afterwards.
    pub fn stop_listeners(&self) {
        self.inner.listeners.lock().clear();
        *self.inner.http_addr.lock() = None;
        *self.inner.https_addr.lock() = None;
    }

    /// Address of the plain-HTTP listener, once `serve_http` ran.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        *self.inner.http_addr.lock()
    }

    /// Address of the HTTPS listener, once `serve_https` ran.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        *self.inner.https_addr.lock()
    }

    /// Direct read of a stored object, bypassing the API (for test assertions).
    pub fn get_object(
        &self,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Option<serde_json::Value> {
        let st = self.inner.state.lock();
        let gr = crate::server::resources::GroupResource::new(group, resource);
        let ns = match st.registry.by_gr(&gr) {
            Some(d) if !d.namespaced => "",
            _ => namespace,
        };
        st.store.get(&gr, ns, name).map(|o| o.to_value())
    }

    /// Direct list of stored objects of a resource (all namespaces when `namespace` is None),
    /// bypassing the API (for assertions and persistence).
    pub fn list_objects(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Vec<serde_json::Value> {
        let st = self.inner.state.lock();
        let gr = crate::server::resources::GroupResource::new(group, resource);
        st.store
            .list(&gr, namespace, None)
            .map(|(_, o)| o.to_value())
            .collect()
    }

    /// Direct create, bypassing authentication and counters (for fixtures).
    pub fn create_object(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: &str,
        obj: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let mut st = self.inner.state.lock();
        let def = st
            .registry
            .get(group, version, resource)
            .ok_or(ApiError::NoRoute)?;
        let opts = crate::server::engine::WriteOpts {
            manager: "kubefed-sim".into(),
            dry_run: false,
            sub: crate::server::engine::Sub::Main,
            apply: None,
        };
        st.create(&def, namespace, version, obj, &opts)
    }
}
