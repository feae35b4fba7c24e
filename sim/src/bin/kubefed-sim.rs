//! `kubefed-sim`: run a simulated fleet of Kubernetes API servers in the foreground and
//! control its faults from another terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kubefed_sim::fleet::admin;
use kubefed_sim::fleet::faults::{FaultSpec, parse_duration};
use kubefed_sim::fleet::{Fleet, FleetConfig};

/// mimalloc: under load glibc malloc took ~40 % of the CPU and kept freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kubefed-sim",
    version,
    about = "A simulated fleet of Kubernetes API servers (one host and N member clusters) on 127.0.0.1",
    long_about = "A simulated fleet of Kubernetes API servers on 127.0.0.1.\n\n\
        `kubefed-sim up` starts a host cluster and N member clusters and writes a kubeconfig \
        with one context per cluster; kubectl, kube clients and the kubefed binaries use it \
        like real clusters. While it runs, `kubefed-sim fault` takes clusters offline, makes \
        them hang, freeze or fail, and `kubefed-sim capacity` limits how many replicas they run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a fleet in the foreground (Ctrl-C or SIGTERM stops it).
    Up(UpArgs),
    /// Change the faults of one cluster of a running fleet.
    #[command(after_help = "FAULTS:\n  \
        offline          close the listener (connection refused), keeping the data\n  \
        online           listen again on the same address\n  \
        hang             accept requests but never answer them (until `clear`)\n  \
        freeze           like a stopped (SIGSTOP) server: connections are accepted by the\n                   kernel, but nothing is answered, not even the TLS handshake; open\n                   connections and watch streams go silent without closing\n  \
        thaw             resume a frozen cluster; queued requests are answered late\n  \
        unhealthy        /healthz, /livez and /readyz answer 500; other requests work\n  \
        healthy          undo `unhealthy`\n  \
        latency=50ms     add latency to every request (ms, s, m)\n  \
        watch-latency=2s delay every watch event, as a lagging watch cache does: a write\n                   is answered before its event arrives\n  \
        errors=0.2       fail this fraction of requests with 500 (errors=0.2:429 for 429)\n  \
        cut-watches      end every open watch stream once\n  \
        clear            remove every fault and bring the cluster online\n\n\
        EXAMPLE:\n  kubefed-sim fault --kubeconfig ./fleet.kubeconfig --cluster cluster2 offline")]
    Fault {
        #[command(flatten)]
        target: Target,
        /// The fault to apply (see FAULTS below).
        fault: String,
    },
    /// Set the replica capacity of one cluster of a running fleet.
    Capacity {
        #[command(flatten)]
        target: Target,
        /// Total ready replicas the cluster can run, or `unlimited`.
        capacity: String,
    },
    /// Show the clusters of a running fleet, their addresses and faults.
    Status {
        /// Kubeconfig written by `kubefed-sim up`.
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
    },
}

#[derive(Args)]
struct Target {
    /// Kubeconfig written by `kubefed-sim up` (its admin address is read from `<path>.admin`).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Context name of the cluster, e.g. `cluster2` or `host`.
    #[arg(long)]
    cluster: String,
}

#[derive(Args)]
struct UpArgs {
    /// Number of member clusters.
    #[arg(long, default_value_t = 2)]
    members: usize,
    /// Where to write the kubeconfig (one context per cluster).
    #[arg(long, default_value = "./fleet.kubeconfig")]
    kubeconfig: PathBuf,
    /// Context name of the host cluster.
    #[arg(long, default_value = "host")]
    host_name: String,
    /// Member names are this prefix followed by 1..N.
    #[arg(long, default_value = "cluster")]
    member_prefix: String,
    /// Replica capacity of every member (default unlimited).
    #[arg(long)]
    capacity: Option<u64>,
    /// Delay before workloads become ready and Jobs complete.
    #[arg(long, default_value = "200ms", value_parser = parse_delay)]
    ready_delay: Duration,
    /// Let every authenticated user do everything (skip RBAC for non-admin tokens).
    #[arg(long)]
    no_rbac: bool,
    /// Keep cluster state in this directory (JSON files): loaded at start, saved
    /// periodically and on shutdown. In memory only when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How often to save to --data-dir.
    #[arg(long, default_value = "10s", value_parser = parse_delay)]
    save_interval: Duration,
    /// How long a new CRD is installing (served, but not in discovery) before it is
    /// Established.
    #[arg(long, default_value = "300ms", value_parser = parse_delay)]
    crd_establish_delay: Duration,
}

fn parse_delay(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Fleet(#[from] kubefed_sim::FleetError),
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    #[error(transparent)]
    Fault(#[from] kubefed_sim::fleet::faults::FaultParseError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let context = context.into();
    move |source| CliError::Io { context, source }
}

async fn wait_for_signal() -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(io_err("installing SIGTERM handler"))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(io_err("waiting for Ctrl-C"))?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .map_err(io_err("waiting for Ctrl-C"))?;
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

async fn up(args: UpArgs) -> Result<(), CliError> {
    let mut config = FleetConfig {
        host_name: args.host_name,
        member_names: (1..=args.members)
            .map(|i| format!("{}{i}", args.member_prefix))
            .collect(),
        rbac: !args.no_rbac,
        data_dir: args.data_dir.clone(),
        ..Default::default()
    };
    config.workloads.ready_delay = args.ready_delay;
    config.cluster.crd_establish_delay = args.crd_establish_delay;
    let fleet = Arc::new(Fleet::start(config).await?);
    if let Some(c) = args.capacity {
        for m in fleet.members() {
            m.workloads().set_capacity(Some(c));
        }
    }
    let kubeconfig = absolute(&args.kubeconfig);
    fleet.write_kubeconfig(&kubeconfig)?;
    let (admin_addr, admin_task) = admin::serve(fleet.clone())
        .await
        .map_err(io_err("starting the admin endpoint"))?;
    let admin_file = admin::address_file(&kubeconfig);
    std::fs::write(&admin_file, format!("http://{admin_addr}\n"))
        .map_err(io_err(format!("writing {}", admin_file.display())))?;

    let k = kubeconfig.display();
    println!("Fleet is up ({} members). Contexts:", fleet.members().len());
    for c in fleet.clusters() {
        let role = if c.name() == fleet.host().name() {
            "host"
        } else {
            "member"
        };
        println!("  {:<12} {:<7} {}", c.name(), role, c.url());
    }
    let first = fleet
        .members()
        .first()
        .map_or(fleet.host().name(), |m| m.name());
    println!();
    println!("Use it:");
    println!("  export KUBECONFIG={k}");
    println!("  kubectl --context {first} get ns");
    println!();
    println!("Control it (admin endpoint http://{admin_addr}):");
    println!("  kubefed-sim fault --kubeconfig {k} --cluster {first} offline");
    println!("  kubefed-sim fault --kubeconfig {k} --cluster {first} clear");
    println!("  kubefed-sim capacity --kubeconfig {k} --cluster {first} 10");
    println!("  kubefed-sim status --kubeconfig {k}");
    println!();
    let saver = match &args.data_dir {
        Some(dir) => {
            println!(
                "State is kept in {} (saved every {:?} and on exit). Ctrl-C to stop.",
                dir.display(),
                args.save_interval
            );
            let fleet = fleet.clone();
            let every = args.save_interval;
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = fleet.save() {
                        eprintln!("kubefed-sim: saving state: {e}");
                    }
                }
            }))
        }
        None => {
            println!("In memory only: state is lost when this process ends. Ctrl-C to stop.");
            None
        }
    };

    wait_for_signal().await?;
    println!("Stopping the fleet...");
    admin_task.abort();
    if let Some(s) = saver {
        s.abort();
    }
    fleet.shutdown().await;
    fleet.save()?;
    let _ = std::fs::remove_file(&admin_file);
    Ok(())
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Up(args) => up(args).await,
        Command::Fault { target, fault } => {
            // Validate locally for a clear message before contacting the fleet.
            let _: FaultSpec = fault.parse()?;
            let addr = admin::read_address(&target.kubeconfig)?;
            let path = format!("/clusters/{}/fault", target.cluster);
            println!(
                "{}",
                admin::call(addr, http::Method::POST, &path, &fault).await?
            );
            Ok(())
        }
        Command::Capacity { target, capacity } => {
            let addr = admin::read_address(&target.kubeconfig)?;
            let path = format!("/clusters/{}/capacity", target.cluster);
            println!(
                "{}",
                admin::call(addr, http::Method::POST, &path, &capacity).await?
            );
            Ok(())
        }
        Command::Status { kubeconfig } => {
            let addr = admin::read_address(&kubeconfig)?;
            let body = admin::call(addr, http::Method::GET, "/clusters", "").await?;
            let clusters: serde_json::Value =
                serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
            for c in clusters.as_array().into_iter().flatten() {
                let f = &c["faults"];
                let mut faults = Vec::new();
                for flag in ["hang", "frozen", "unhealthy"] {
                    if f[flag] == true {
                        faults.push(flag.to_string());
                    }
                }
                for (field, fault) in [
                    ("latency_ms", "latency"),
                    ("watch_latency_ms", "watch-latency"),
                ] {
                    if f[field].as_u64().unwrap_or(0) > 0 {
                        faults.push(format!("{fault}={}ms", f[field]));
                    }
                }
                if f["error_rate"].as_f64().unwrap_or(0.0) > 0.0 {
                    faults.push(format!("errors={}:{}", f["error_rate"], f["error_code"]));
                }
                println!(
                    "{:<12} {:<28} {:<8} capacity={:<10} {}",
                    c["name"].as_str().unwrap_or_default(),
                    c["url"].as_str().unwrap_or_default(),
                    if c["online"] == true {
                        "online"
                    } else {
                        "offline"
                    },
                    c["capacity"]
                        .as_u64()
                        .map_or("unlimited".to_string(), |n| n.to_string()),
                    if faults.is_empty() {
                        "-".to_string()
                    } else {
                        faults.join(",")
                    },
                );
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubefed-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
