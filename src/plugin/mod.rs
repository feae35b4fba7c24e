//! `kubectl fed`: the kubectl plugin that joins member clusters and federates types.
//!
//! The binary (`src/bin/kubectl-fed.rs`) only parses arguments and prints errors; each command
//! lives in its own module here.

use clap::{Parser, Subcommand};

/// Default namespace of the federation control plane on the host cluster.
pub const DEFAULT_KUBEFED_NAMESPACE: &str = "kube-federation-system";

/// Manage a KubeFed-compatible federation of Kubernetes clusters.
///
/// Run as `kubectl fed <command>` with this binary on PATH, or directly as `kubectl-fed`.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-fed",
    bin_name = "kubectl fed",
    version,
    about,
    long_about
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command, named as kubectl and kubefedctl name them.
#[derive(Debug, clap::Args)]
pub struct GlobalOptions {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<String>,
    /// Kubeconfig context of the host cluster (default: the current context).
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub host_cluster_context: Option<String>,
    /// Namespace of the federation control plane on the host cluster.
    #[arg(long, global = true, default_value = DEFAULT_KUBEFED_NAMESPACE, value_name = "NAMESPACE")]
    pub kubefed_namespace: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version of the plugin.
    Version,
}

/// Runs a parsed command line, returning what to print on success.
pub fn run(cli: Cli) -> Result<String, PluginError> {
    match cli.command {
        Command::Version => Ok(format!("kubectl-fed {}", env!("CARGO_PKG_VERSION"))),
    }
}

/// A failure of a plugin command, printed as one `error: …` line.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_prints_the_crate_version() {
        let cli = Cli::try_parse_from(["kubectl-fed", "version"]).unwrap();
        assert_eq!(
            run(cli).unwrap(),
            format!("kubectl-fed {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
