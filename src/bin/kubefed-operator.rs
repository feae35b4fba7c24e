//! The kubefed operator: runs the federation controllers, or prints/writes its manifests.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kubefed::crds::{DEFAULT_FEDERATION_NAMESPACE, manifests, render_yaml, write_manifests};

/// mimalloc: under load glibc malloc took ~40 % of the CPU and kept freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "kubefed-operator",
    version,
    about = "Kubernetes multi-cluster federation operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every CRD and the default FederatedTypeConfigs as multi-document YAML.
    Crds {
        /// Write one file per CRD plus default-federatedtypeconfigs.yaml into this directory
        /// instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Namespace of the default FederatedTypeConfigs.
        #[arg(long, default_value = DEFAULT_FEDERATION_NAMESPACE)]
        namespace: String,
    },
    /// Run the federation controllers against the host cluster.
    ///
    /// Installs the CRDs (unless --install-crds=false), reads or creates the `kubefed`
    /// KubeFedConfig, then health-checks member clusters and propagates federated objects.
    Run(kubefed::operator::options::RunOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crds {
            output_dir,
            namespace,
        } => print_or_write_crds(output_dir, &namespace),
        Command::Run(options) => run(options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kubefed-operator: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: kubefed::operator::options::RunOptions) -> Result<(), String> {
    kubefed::operator::logging::init(options.log_format, &options.log_level)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime
        .block_on(kubefed::operator::run::run(options))
        .map_err(|error| error.to_string())
}

fn print_or_write_crds(output_dir: Option<PathBuf>, namespace: &str) -> Result<(), String> {
    match output_dir {
        Some(dir) => {
            write_manifests(&dir, namespace).map_err(|error| error.to_string())?;
            Ok(())
        }
        None => {
            let values = manifests(namespace).map_err(|error| error.to_string())?;
            let yaml = render_yaml(&values).map_err(|error| error.to_string())?;
            std::io::stdout()
                .write_all(yaml.as_bytes())
                .map_err(|error| format!("cannot write to stdout: {error}"))
        }
    }
}
