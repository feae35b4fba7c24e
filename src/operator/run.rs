//! `kubefed-operator run`: connect to the host, install the API, read the settings, then run
//! the controllers (under leader election when asked).

use super::install::{FIELD_MANAGER, install};
use super::leader::{LeaseTimings, run_while_leader};
use super::options::{RunOptions, parse_bind_address};
use super::probes::{self, Readiness};
use super::settings::{Settings, settings_from};
use crate::controllers;
use crate::controllers::dependencies::DependencyHub;
use crate::controllers::sync::context::SyncSettings;
use crate::crds::kubefed_config::{KUBEFED_CONFIG_NAME, KubeFedConfig, KubeFedConfigSpec};
use crate::members::availability::TypeAvailability;
use crate::members::pool::MemberPool;
use crate::runtime::metrics::Metrics;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Config, Resource};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot load the host cluster configuration: {0}")]
    HostConfig(String),
    #[error("cannot reach the host cluster: {0}")]
    Host(#[source] kube::Error),
    #[error(transparent)]
    Install(#[from] super::install::InstallError),
    #[error("KubeFedConfig {namespace}/{name} is invalid:\n  - {}", problems.join("\n  - "))]
    InvalidConfig {
        namespace: String,
        name: String,
        problems: Vec<String>,
    },
    #[error("cannot serve {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Leader(#[from] super::leader::LeaderError),
}

/// Builds the host client from --kubeconfig/--context, else the in-cluster service account.
pub async fn host_client(options: &RunOptions) -> Result<Client, RunError> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| RunError::HostConfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| RunError::HostConfig(e.to_string()))?
        }
        None if options.context.is_some() => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|e| RunError::HostConfig(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| RunError::HostConfig(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| RunError::HostConfig(e.to_string()))
}

/// Reads the `kubefed` KubeFedConfig, creating it with defaults when missing, and validates it.
/// An invalid config is also reported as a Warning event on it.
pub async fn load_settings(
    client: &Client,
    namespace: &str,
    recorder: &Recorder,
) -> Result<Settings, RunError> {
    let configs: Api<KubeFedConfig> = Api::namespaced(client.clone(), namespace);
    let config = match configs
        .get_opt(KUBEFED_CONFIG_NAME)
        .await
        .map_err(RunError::Host)?
    {
        Some(config) => config,
        None => {
            let fresh = KubeFedConfig::new(KUBEFED_CONFIG_NAME, KubeFedConfigSpec::with_defaults());
            match configs.create(&PostParams::default(), &fresh).await {
                Ok(created) => {
                    tracing::info!(
                        namespace,
                        "created KubeFedConfig {KUBEFED_CONFIG_NAME} with defaults"
                    );
                    created
                }
                // Another replica created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => configs
                    .get(KUBEFED_CONFIG_NAME)
                    .await
                    .map_err(RunError::Host)?,
                Err(e) => return Err(RunError::Host(e)),
            }
        }
    };
    settings_from(&config.spec).map_err(|problems| {
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidConfig".into(),
            note: Some(problems.join("; ")),
            action: "LoadConfig".into(),
            secondary: None,
        };
        let reference = config.object_ref(&());
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(err) = recorder.publish(&event, &reference).await {
                tracing::debug!(%err, "cannot publish event");
            }
        });
        RunError::InvalidConfig {
            namespace: namespace.to_string(),
            name: KUBEFED_CONFIG_NAME.to_string(),
            problems,
        }
    })
}

fn identity(options: &RunOptions) -> String {
    options.leader_elect_identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kubefed-operator".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!("{host}-{nanos:08x}")
    })
}

/// Everything a running operator is made of, for the binary and for in-process tests.
pub struct Operator {
    pub client: Client,
    pub namespace: String,
    pub settings: Settings,
    pub metrics: Metrics,
    pub pool: MemberPool,
    /// Which enabled types each member can serve (KubeFedCluster `TypesAvailable`).
    pub availability: TypeAvailability,
    pub recorder: Recorder,
    /// UID of the host's `kube-system` namespace (recognises the host among members).
    pub host_kube_system_uid: Option<String>,
}

/// How long one member operation may take before it counts as timed out.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(10);
/// Triggers for one federated object within this window are merged into one reconciliation;
/// bursts of member events are additionally coalesced by the sync worker, so this stays short
/// (it is added to every propagation).
const SYNC_DEBOUNCE: Duration = Duration::from_millis(10);

impl Operator {
    /// Gets an operator ready on a host: installs the API when asked, then reads the settings.
    /// Used by `run` and by in-process tests.
    pub async fn prepare(
        client: Client,
        namespace: &str,
        install_crds: bool,
        metrics: Metrics,
    ) -> Result<Operator, RunError> {
        if install_crds {
            install(&client, namespace, Duration::from_secs(60)).await?;
            tracing::info!("CRDs and default FederatedTypeConfigs are installed");
        }
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance: None,
            },
        );
        let settings = load_settings(&client, namespace, &recorder).await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let host_kube_system_uid = namespaces
            .get_opt("kube-system")
            .await
            .ok()
            .flatten()
            .and_then(|ns| ns.metadata.uid);
        Ok(Operator {
            client,
            namespace: namespace.to_string(),
            settings,
            metrics,
            pool: MemberPool::new(),
            availability: TypeAvailability::default(),
            recorder,
            host_kube_system_uid,
        })
    }

    pub fn sync_settings(&self) -> SyncSettings {
        SyncSettings {
            scope: self.settings.scope,
            federation_namespace: self.namespace.clone(),
            adopt_resources: self.settings.adopt_resources,
            member_timeout: MEMBER_TIMEOUT,
            concurrency: self.settings.sync_concurrency,
            debounce: SYNC_DEBOUNCE,
            host_kube_system_uid: self.host_kube_system_uid.clone(),
        }
    }

    /// Runs every controller until one of them stops.
    pub async fn run_controllers(&self) {
        let cluster = controllers::cluster::run(controllers::cluster::Dependencies {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            pool: self.pool.clone(),
            availability: self.availability.clone(),
            metrics: self.metrics.clone(),
            recorder: self.recorder.clone(),
            settings: self.settings.health,
        });
        let types = controllers::type_config::run(controllers::type_config::Dependencies {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            sync: self.sync_settings(),
            pool: self.pool.clone(),
            availability: self.availability.clone(),
            metrics: self.metrics.clone(),
            recorder: self.recorder.clone(),
            dependency_hub: DependencyHub::new(
                self.client.clone(),
                self.pool.clone(),
                MEMBER_TIMEOUT,
            ),
        });
        let scheduling = controllers::scheduling::run(
            self.client.clone(),
            self.settings.scope,
            &self.namespace,
            self.pool.clone(),
            self.metrics.clone(),
            self.recorder.clone(),
        );
        tokio::select! {
            result = cluster => if let Err(err) = result {
                tracing::error!(%err, "cluster controller stopped");
            },
            result = types => if let Err(err) = result {
                tracing::error!(%err, "type config controller stopped");
            },
            () = scheduling => tracing::error!("scheduling controller stopped"),
        }
    }
}

/// The whole `run` command.
pub async fn run(options: RunOptions) -> Result<(), RunError> {
    let metrics_addr = parse_bind_address("metrics-bind-address", &options.metrics_bind_address)
        .map_err(RunError::Usage)?;
    let probe_addr = parse_bind_address(
        "health-probe-bind-address",
        &options.health_probe_bind_address,
    )
    .map_err(RunError::Usage)?;
    let client = host_client(&options).await?;
    let namespace = options.kubefed_namespace.clone();
    client.apiserver_version().await.map_err(RunError::Host)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces
        .get_opt(&namespace)
        .await
        .map_err(RunError::Host)?
        .is_none()
    {
        return Err(RunError::Usage(format!(
            "the federation namespace {namespace:?} does not exist on the host cluster; create it (kubectl create namespace {namespace}) or pass --kubefed-namespace"
        )));
    }

    let metrics = Metrics::new();
    let readiness = Readiness::default();
    let router = probes::router(metrics.clone(), readiness.clone());
    for (what, addr) in [("metrics", metrics_addr), ("health probes", probe_addr)] {
        if let Some(addr) = addr {
            let bound = probes::serve(addr, router.clone())
                .await
                .map_err(|source| RunError::Bind { what, addr, source })?;
            tracing::info!(%bound, "serving {what}");
        }
    }

    let mut operator = Operator::prepare(
        client.clone(),
        &namespace,
        options.install_crds,
        metrics.clone(),
    )
    .await?;
    operator.settings.health.max_in_flight = options.member_max_requests_in_flight.max(1);
    readiness.set(true);
    if options.leader_elect {
        let timings = LeaseTimings {
            lease_duration: operator.settings.timings.lease_duration,
            renew_deadline: operator.settings.timings.renew_deadline,
        };
        // On SIGTERM the leader stops its controllers and releases the Lease before exiting.
        run_while_leader(
            client.clone(),
            &namespace,
            &identity(&options),
            timings,
            &metrics,
            async {
                shutdown_signal().await;
                tracing::info!("shutting down");
            },
            || operator.run_controllers(),
        )
        .await?;
    } else {
        tokio::select! {
            () = operator.run_controllers() => {},
            _ = shutdown_signal() => tracing::info!("shutting down"),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
