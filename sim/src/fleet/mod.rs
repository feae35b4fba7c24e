//! A fleet: one host cluster and any number of member clusters, each an independent
//! simulated API server with its own store, admin token, HTTPS listener on 127.0.0.1, fault
//! switches and in-cluster controllers, plus a kubeconfig with one context per cluster.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kubefed_sim::fleet::{Fleet, FleetConfig};
//! let fleet = Fleet::start(FleetConfig::with_members(3)).await?;
//! fleet.write_kubeconfig(std::path::Path::new("/tmp/fleet.kubeconfig"))?;
//! let member = fleet.get("cluster2")?;
//! let client = member.client(); // in-process, through the member's faults
//! fleet.stop("cluster2").await?; // connections refused, data kept
//! fleet.start_cluster("cluster2").await?; // same address again
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod faults;
pub mod persist;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::auth::rbac::Rbac;
use crate::controllers::token_controller;
use crate::controllers::workloads::{WorkloadConfig, Workloads};
use crate::server::cluster::{Cluster, ClusterConfig, UserInfo};
use crate::server::counters::CounterSnapshot;
use crate::transport::kubeconfig::{Kubeconfig, KubeconfigEntry, KubeconfigError};
use crate::transport::listener::Listener;
use faults::{FaultService, FaultSpec, Faults};
use persist::PersistError;

/// How to build a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Context (and cluster) name of the host cluster.
    pub host_name: String,
    /// Names of the member clusters.
    pub member_names: Vec<String>,
    /// API server tunables, shared by every cluster.
    pub cluster: ClusterConfig,
    /// Workload controller behaviour (every cluster starts with a copy).
    pub workloads: WorkloadConfig,
    /// Authorize non-admin users with RBAC (the admin token always has full access).
    pub rbac: bool,
    /// Seed of the random error injection; cluster `i` uses `seed + i`.
    pub seed: u64,
    /// Load each cluster from `<dir>/<name>.json` at start; [`Fleet::save`] writes there.
    pub data_dir: Option<PathBuf>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            host_name: "host".into(),
            member_names: Vec::new(),
            cluster: ClusterConfig::default(),
            workloads: WorkloadConfig::default(),
            rbac: true,
            seed: 1,
            data_dir: None,
        }
    }
}

impl FleetConfig {
    /// A host plus `n` members named `cluster1` … `clusterN`.
    pub fn with_members(n: usize) -> Self {
        FleetConfig {
            member_names: (1..=n).map(|i| format!("cluster{i}")).collect(),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("no cluster named {0:?} in the fleet")]
    UnknownCluster(String),
    #[error("cluster name {0:?} is used twice")]
    DuplicateName(String),
    #[error("listening for cluster {name}: {source}")]
    Listen {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(#[source] std::io::Error),
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// One cluster of the fleet with everything around it.
pub struct FleetCluster {
    cluster: Cluster,
    admin_token: String,
    faults: Faults,
    workloads: Workloads,
    addr: SocketAddr,
    tls: TlsAcceptor,
    listener: tokio::sync::Mutex<Option<Listener>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for FleetCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetCluster")
            .field("name", &self.name())
            .field("addr", &self.addr)
            .finish()
    }
}

impl FleetCluster {
    async fn launch(
        name: &str,
        config: &FleetConfig,
        seed: u64,
        tls: TlsAcceptor,
    ) -> Result<Self, FleetError> {
        let cluster = Cluster::with_config(name, config.cluster.clone());
        let mut admin_token = cluster.admin_token().to_string();
        let mut addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        if let Some(dir) = &config.data_dir
            && let Some(snap) = persist::load(&snapshot_path(dir, name))?
        {
            let skipped = persist::restore(&cluster, &snap);
            if skipped > 0 {
                tracing::warn!(
                    cluster = name,
                    skipped,
                    "objects of unknown resources were not restored"
                );
            }
            // Keep the old admin token valid so existing kubeconfigs still work.
            cluster.add_token(
                &snap.admin_token,
                UserInfo {
                    name: "kubernetes-admin".into(),
                    groups: vec!["system:masters".into(), "system:authenticated".into()],
                },
            );
            admin_token = snap.admin_token;
            if let Some(a) = snap.addr.and_then(|a| a.parse().ok()) {
                addr = a;
            }
        }
        crate::auth::rbac::bootstrap(&cluster);
        if config.rbac {
            cluster.add_middleware(std::sync::Arc::new(Rbac::new(&cluster)));
        }
        let faults = Faults::new(seed);
        let workloads = Workloads::new(config.workloads.clone());
        let tasks = vec![workloads.spawn(&cluster), token_controller::spawn(&cluster)];
        let handler = faults::handler(cluster.clone(), faults.clone());
        let stats = cluster.inner.connections.clone();
        let bind = |addr, handler| {
            Listener::bind(
                addr,
                handler,
                Some(tls.clone()),
                faults.pause(),
                stats.clone(),
            )
        };
        let bound = match bind(addr, handler.clone()).await {
            // The saved address is taken by now: any free port will do.
            Err(_) if addr.port() != 0 => bind(([127, 0, 0, 1], 0).into(), handler).await,
            other => other,
        };
        let listener = bound.map_err(|source| FleetError::Listen {
            name: name.to_string(),
            source,
        })?;
        Ok(FleetCluster {
            addr: listener.addr(),
            cluster,
            admin_token,
            faults,
            workloads,
            tls,
            listener: tokio::sync::Mutex::new(Some(listener)),
            tasks,
        })
    }

    pub fn name(&self) -> &str {
        self.cluster.name()
    }

    /// The simulated API server itself (direct object access, hooks, counters).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Capacity and delay of the simulated workloads.
    pub fn workloads(&self) -> &Workloads {
        &self.workloads
    }

    /// The listener address; stays the same across stop and start.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Bearer token with full access (kept across restarts with a data directory).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The cluster's objects, as [`Fleet::save`] writes them.
    pub fn snapshot(&self) -> persist::Snapshot {
        persist::snapshot(
            &self.cluster,
            &self.admin_token,
            Some(self.addr.to_string()),
        )
    }

    /// Request counters of the API server.
    pub fn counters(&self) -> CounterSnapshot {
        self.cluster.counters()
    }

    /// Watch events sent through the fleet transports (in-process and network).
    pub fn watch_events_sent(&self) -> u64 {
        self.faults.watch_events_sent()
    }

    pub async fn is_online(&self) -> bool {
        self.listener.lock().await.is_some()
    }

    /// The kubeconfig entry (admin token, CA) for this cluster.
    pub fn kubeconfig_entry(&self) -> KubeconfigEntry {
        KubeconfigEntry {
            name: self.name().to_string(),
            server: self.url(),
            token: self.admin_token().to_string(),
            namespace: None,
            certificate_authority: Some(crate::server::pki::CA_PEM.to_string()),
        }
    }

    /// An in-process service as the admin, through this cluster's faults.
    pub fn service(&self) -> FaultService {
        self.service_with_token(Some(self.admin_token()))
    }

    /// An in-process service sending `token` (None: unauthenticated), through the faults.
    pub fn service_with_token(&self, token: Option<&str>) -> FaultService {
        FaultService::new(
            self.cluster.clone(),
            self.faults.clone(),
            token.map(str::to_string),
        )
    }

    /// A `kube::Client` over the in-process transport, as the admin, through the faults.
    #[cfg(feature = "kube")]
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.service(), "default")
    }

    /// A `kube::Client` over the in-process transport with another bearer token.
    #[cfg(feature = "kube")]
    pub fn client_with_token(&self, token: &str) -> kube::Client {
        kube::Client::new(self.service_with_token(Some(token)), "default")
    }

    /// A `kube::Config` reaching this cluster over HTTPS as the admin.
    #[cfg(feature = "kube")]
    pub async fn kube_config(&self) -> Result<kube::Config, KubeconfigError> {
        let mut kc = Kubeconfig::default();
        kc.push(self.kubeconfig_entry());
        kc.kube_config(self.name()).await
    }

    /// A `kube::Client` reaching this cluster over HTTPS as the admin.
    #[cfg(feature = "kube")]
    pub async fn https_client(&self) -> Result<kube::Client, KubeconfigError> {
        Ok(kube::Client::try_from(self.kube_config().await?)?)
    }

    /// Closes the listener: connections are refused and open ones dropped. Data is kept.
    pub async fn stop(&self) {
        self.faults.set_offline(true);
        if let Some(l) = self.listener.lock().await.take() {
            l.close().await;
        }
    }

    /// Listens again on the same address.
    pub async fn start(&self) -> Result<(), FleetError> {
        let mut slot = self.listener.lock().await;
        if slot.is_none() {
            let handler = faults::handler(self.cluster.clone(), self.faults.clone());
            let l = Listener::bind(
                self.addr,
                handler,
                Some(self.tls.clone()),
                self.faults.pause(),
                self.cluster.inner.connections.clone(),
            )
            .await
            .map_err(|source| FleetError::Listen {
                name: self.name().to_string(),
                source,
            })?;
            *slot = Some(l);
        }
        self.faults.set_offline(false);
        Ok(())
    }

    /// Applies a fault; `Offline`, `Online` and `Clear` also close or reopen the listener.
    pub async fn apply_fault(&self, spec: &FaultSpec) -> Result<(), FleetError> {
        match spec {
            FaultSpec::Offline => self.stop().await,
            FaultSpec::Online => self.start().await?,
            FaultSpec::Clear => {
                self.faults.clear();
                self.start().await?;
            }
            other => self.faults.apply(other),
        }
        Ok(())
    }

    async fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(l) = self.listener.lock().await.take() {
            l.close().await;
        }
    }
}

fn snapshot_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// A host cluster and its members.
#[derive(Debug)]
pub struct Fleet {
    clusters: Vec<FleetCluster>,
    data_dir: Option<PathBuf>,
}

impl Fleet {
    /// Starts every cluster and its listener.
    pub async fn start(config: FleetConfig) -> Result<Fleet, FleetError> {
        let mut names = vec![config.host_name.clone()];
        names.extend(config.member_names.iter().cloned());
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(FleetError::DuplicateName(n.clone()));
            }
        }
        let tls = crate::transport::tls::acceptor().map_err(FleetError::Tls)?;
        if let Some(dir) = &config.data_dir {
            std::fs::create_dir_all(dir).map_err(|source| PersistError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let mut clusters = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let seed = config.seed.wrapping_add(i as u64);
            clusters.push(FleetCluster::launch(name, &config, seed, tls.clone()).await?);
        }
        Ok(Fleet {
            clusters,
            data_dir: config.data_dir,
        })
    }

    pub fn host(&self) -> &FleetCluster {
        // `start` always creates the host first.
        &self.clusters[0]
    }

    pub fn members(&self) -> &[FleetCluster] {
        &self.clusters[1..]
    }

    /// Host first, then the members.
    pub fn clusters(&self) -> &[FleetCluster] {
        &self.clusters
    }

    /// A cluster by name.
    pub fn get(&self, name: &str) -> Result<&FleetCluster, FleetError> {
        self.clusters
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| FleetError::UnknownCluster(name.to_string()))
    }

    /// One context per cluster, named like the clusters; the host is the current context.
    pub fn kubeconfig(&self) -> Kubeconfig {
        let mut kc = Kubeconfig::default();
        for c in &self.clusters {
            kc.push(c.kubeconfig_entry());
        }
        kc
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), FleetError> {
        Ok(self.kubeconfig().write(path)?)
    }

    /// Takes a cluster down (connection refused), keeping its data.
    pub async fn stop(&self, name: &str) -> Result<(), FleetError> {
        self.get(name)?.stop().await;
        Ok(())
    }

    /// Brings a stopped cluster back on its old address.
    pub async fn start_cluster(&self, name: &str) -> Result<(), FleetError> {
        self.get(name)?.start().await
    }

    pub async fn apply_fault(&self, name: &str, spec: &FaultSpec) -> Result<(), FleetError> {
        self.get(name)?.apply_fault(spec).await
    }

    /// Writes every cluster to the data directory (nothing without one).
    pub fn save(&self) -> Result<(), FleetError> {
        let Some(dir) = &self.data_dir else {
            return Ok(());
        };
        for c in &self.clusters {
            persist::save(&snapshot_path(dir, c.name()), &c.snapshot())?;
        }
        Ok(())
    }

    /// Stops controllers and listeners of every cluster.
    pub async fn shutdown(&self) {
        for c in &self.clusters {
            c.shutdown().await;
        }
    }
}

impl Drop for FleetCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
