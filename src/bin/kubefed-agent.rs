//! kubefed-agent: the member side of a pull member (see `kubefed::agent`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// mimalloc: under load glibc malloc took ~40 % of the CPU and kept freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "kubefed-agent",
    version,
    about = "Member agent of a kubefed pull member: applies what the host places on this cluster",
    long_about = "Member agent of a kubefed pull member.\n\n\
        Runs in the member cluster (in-cluster credentials, or --kubeconfig). It dials out to the \
        host with a credential that can only reach the host namespace kubefed-cluster-<NAME>: it \
        reads the MemberWorks the operator renders there for this cluster, server-side applies \
        each member object (field manager `kubefed`), watches the managed objects and repairs \
        drift, deletes or orphans what the host removes, reports each object's status on its \
        MemberWork, and renews the heartbeat Lease `kubefed-agent` there.\n\n\
        The host never connects to this cluster and stores no credential for it. When the host \
        cannot be reached the agent keeps every member object, keeps repairing drift from the \
        last MemberWorks it saw, deletes nothing, and catches up when the host answers again.\n\n\
        Install it with `kubectl fed join NAME --mode pull` (`-o yaml` prints the manifests)."
)]
struct Cli {
    /// Name of this member cluster (its KubeFedCluster on the host).
    #[arg(long, env = "KUBEFED_CLUSTER_NAME")]
    cluster_name: String,
    /// Kubeconfig for the host (the scoped credential `kubectl fed join --mode pull` made).
    #[arg(long, env = "KUBEFED_HOST_KUBECONFIG")]
    host_kubeconfig: PathBuf,
    /// Context of --host-kubeconfig to use (default: its current context).
    #[arg(long)]
    host_context: Option<String>,
    /// Kubeconfig for this member cluster (default: in-cluster, then $KUBECONFIG).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Context of --kubeconfig to use.
    #[arg(long)]
    context: Option<String>,
    /// How often the heartbeat Lease is renewed, in seconds (keep it at the host's
    /// clusterHealthCheck period).
    #[arg(long, default_value_t = 10)]
    heartbeat_seconds: u64,
    /// Time allowed for one request, in seconds.
    #[arg(long, default_value_t = 10)]
    request_timeout_seconds: u64,
}

async fn client(path: Option<&PathBuf>, context: Option<&String>) -> Result<Client, String> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| format!("cannot read kubeconfig {}: {e}", path.display()))?;
            let options = KubeConfigOptions {
                context: context.cloned(),
                ..Default::default()
            };
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None => Config::infer()
            .await
            .map_err(|e| format!("no in-cluster configuration or kubeconfig: {e}"))?,
    };
    Client::try_from(config).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .json()
        .init();
    let host = client(Some(&cli.host_kubeconfig), cli.host_context.as_ref()).await;
    let member = client(cli.kubeconfig.as_ref(), cli.context.as_ref()).await;
    let (host, member) = match (host, member) {
        (Ok(h), Ok(m)) => (h, m),
        (Err(e), _) => {
            eprintln!("error: host: {e}");
            return ExitCode::FAILURE;
        }
        (_, Err(e)) => {
            eprintln!("error: member: {e}");
            return ExitCode::FAILURE;
        }
    };
    let heartbeat = Duration::from_secs(cli.heartbeat_seconds.max(1));
    let config = kubefed::agent::AgentConfig {
        cluster: cli.cluster_name,
        host,
        member,
        heartbeat,
        grace: heartbeat / 2,
        timeout: Duration::from_secs(cli.request_timeout_seconds.max(1)),
    };
    tracing::info!(cluster = %config.cluster, "kubefed-agent started");
    match kubefed::agent::run(config, kubefed::agent::AgentStats::default()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
