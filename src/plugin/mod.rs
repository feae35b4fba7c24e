//! `kubectl fed`: the kubectl plugin that joins member clusters and federates types.
//!
//! The binary (`src/bin/kubectl-fed.rs`) only parses arguments and prints errors; each command
//! lives in its own module here. Pure parts (names, RBAC rules, conversions, type resolution,
//! tables) are separated from the code talking to API servers and unit-tested.

pub mod apply;
pub mod enable;
pub mod federate;
pub mod flags;
pub mod join;
pub mod kubeconfig;
pub mod orphaning;
pub mod pause;
pub mod preview;
pub mod pull_join;
pub mod rbac;
pub mod status;
pub mod types;
pub mod unjoin;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use kube::Client;
use kube::config::Kubeconfig;

use crate::crds::federated::{FEDERATED_GROUP, FEDERATED_VERSION};

/// Default namespace of the federation control plane on the host cluster.
pub const DEFAULT_KUBEFED_NAMESPACE: &str = "kube-federation-system";

/// Manage a KubeFed-compatible federation of Kubernetes clusters.
///
/// Run as `kubectl fed <command>` with this binary on PATH, or directly as `kubectl-fed`.
/// Command lines written for kubefedctl work unchanged: boolean flags take `--flag`,
/// `--flag=true` or `--flag=false`, a repeated flag keeps its last value, and `_` may stand for
/// `-` in flag names.
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
#[derive(Debug, Clone, clap::Args)]
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
    /// Print what would be done without changing anything.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Log verbosity, as kubefedctl's `--v=2`; 2 and above also print the resolved contexts
    /// and namespace of the command.
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        default_value_t = 0,
        value_name = "LEVEL"
    )]
    pub verbosity: u8,
}

/// Parses a command line with kubefedctl's flag conventions (see [`flags`]).
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let args = flags::normalize_word_separators(args);
    let mut command = flags::go_style(Cli::command());
    let mut matches = match command.try_get_matches_from_mut(args.clone()) {
        Ok(matches) => matches,
        Err(err) => return Err(flags::explain_separate_bool(err, &args, &mut command)),
    };
    Cli::from_arg_matches_mut(&mut matches)
}

/// `-o yaml`: print objects instead of applying them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// YAML, one document per object.
    Yaml,
}

/// `--federated-group` / `--federated-version`, shared by the commands that name federated
/// types.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct FederatedApiOptions {
    /// API group of the federated types.
    #[arg(long, default_value = FEDERATED_GROUP, value_name = "GROUP")]
    pub federated_group: String,
    /// API version of the federated types.
    #[arg(long, default_value = FEDERATED_VERSION, value_name = "VERSION")]
    pub federated_version: String,
}

/// `--federated-group`, for commands that find an existing federated type by discovery.
#[derive(Debug, Clone, clap::Args)]
pub struct FederatedGroupOption {
    /// API group of the federated types.
    #[arg(long, default_value = FEDERATED_GROUP, value_name = "GROUP")]
    pub federated_group: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register a cluster with the federation (member-side credentials + host-side KubeFedCluster).
    #[command(after_help = join::EXAMPLES)]
    Join(join::JoinArgs),
    /// Remove a cluster from the federation, undoing what `join` created on both sides.
    #[command(after_help = unjoin::EXAMPLES)]
    Unjoin(unjoin::UnjoinArgs),
    /// Enable propagation of a type: create its Federated<Kind> CRD and FederatedTypeConfig.
    #[command(after_help = enable::ENABLE_EXAMPLES)]
    Enable(enable::EnableArgs),
    /// Disable propagation of a type (and optionally delete its federated CRD).
    #[command(after_help = enable::DISABLE_EXAMPLES)]
    Disable(enable::DisableArgs),
    /// Turn an existing resource (or a YAML file) into its Federated<Kind>, placed on all clusters.
    #[command(after_help = federate::EXAMPLES)]
    Federate(federate::FederateArgs),
    /// Enable, disable or show orphaning deletion (`kubefed.io/orphan`) of a federated object.
    #[command(name = "orphaning-deletion", after_help = orphaning::EXAMPLES)]
    OrphaningDeletion(orphaning::OrphaningArgs),
    /// Stop every member write for a federated object (`kubefed.io/paused`); status is still collected.
    #[command(after_help = pause::PAUSE_EXAMPLES)]
    Pause(pause::PauseArgs),
    /// Remove `kubefed.io/paused` from a federated object: it is reconciled at once.
    #[command(after_help = pause::RESUME_EXAMPLES)]
    Resume(pause::PauseArgs),
    /// Show what the operator would do with a federated object (placement and per-cluster objects), changing nothing.
    #[command(after_help = preview::EXAMPLES)]
    Preview(preview::PreviewArgs),
    /// Show member clusters, or the per-cluster status of one federated object.
    #[command(after_help = status::EXAMPLES)]
    Status(status::StatusArgs),
    /// Print the version of the plugin.
    #[command(after_help = "Example:\n  kubectl fed version")]
    Version,
}

/// What a command prints on stdout, and its exit code (0 unless the command says more, as
/// `preview` does: 1 when there are changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub output: String,
    pub code: u8,
}

impl From<String> for Reply {
    fn from(output: String) -> Self {
        Reply { output, code: 0 }
    }
}

impl Command {
    /// The exit code of a failure: 1, except for `preview`, whose 1 means "changes" (as with
    /// `kubectl diff`), so its failures exit 2.
    pub fn error_code(&self) -> u8 {
        match self {
            Command::Preview(_) => 2,
            _ => 1,
        }
    }
}

/// Runs a parsed command line, returning what to print on stdout on success. Progress goes to
/// stderr as it happens.
pub async fn run(cli: Cli) -> Result<Reply, PluginError> {
    let global = cli.global;
    if let Command::Preview(args) = cli.command {
        return preview::run(&Session::new(&global)?, args).await;
    }
    run_command(global, cli.command).await.map(Reply::from)
}

async fn run_command(global: GlobalOptions, command: Command) -> Result<String, PluginError> {
    match command {
        Command::Version => Ok(format!("kubectl-fed {}", env!("CARGO_PKG_VERSION"))),
        Command::Join(args) => join::run(&Session::new(&global)?, args).await,
        Command::Unjoin(args) => unjoin::run(&Session::new(&global)?, args).await,
        Command::Enable(args) => enable::run_enable(&Session::new(&global)?, args).await,
        Command::Disable(args) => enable::run_disable(&Session::new(&global)?, args).await,
        Command::Federate(args) => federate::run(&global, args).await,
        Command::OrphaningDeletion(args) => orphaning::run(&Session::new(&global)?, args).await,
        Command::Status(args) => status::run(&Session::new(&global)?, args).await,
        Command::Pause(args) => pause::run(&Session::new(&global)?, args, true).await,
        Command::Resume(args) => pause::run(&Session::new(&global)?, args, false).await,
        Command::Preview(_) => Err(PluginError::Invalid("preview is run by `run`".to_string())),
    }
}

/// The loaded kubeconfig plus the global options every command needs.
pub struct Session {
    pub kubeconfig: Kubeconfig,
    /// The resolved host context.
    pub host_context: String,
    /// The federation namespace on the host.
    pub namespace: String,
    pub dry_run: bool,
}

impl Session {
    /// Loads the kubeconfig and resolves the host context.
    pub fn new(global: &GlobalOptions) -> Result<Self, PluginError> {
        let kubeconfig = kubeconfig::load(global.kubeconfig.as_deref())?;
        let host_context =
            kubeconfig::resolve_context(&kubeconfig, global.host_cluster_context.as_deref())?;
        if global.verbosity >= 2 {
            progress(format!(
                "host context {host_context:?}, federation namespace {:?}, kubeconfig {}",
                global.kubefed_namespace,
                global.kubeconfig.as_deref().unwrap_or("(default)")
            ));
        }
        Ok(Self {
            kubeconfig,
            host_context,
            namespace: global.kubefed_namespace.clone(),
            dry_run: global.dry_run,
        })
    }

    /// A client for the host cluster.
    pub async fn host_client(&self) -> Result<Client, PluginError> {
        kubeconfig::client(&self.kubeconfig, &self.host_context).await
    }

    /// The namespace for a namespaced object: `-n`, else the host context's namespace.
    pub fn object_namespace(&self, namespace: Option<&str>) -> String {
        namespace
            .map(str::to_string)
            .unwrap_or_else(|| kubeconfig::context_namespace(&self.kubeconfig, &self.host_context))
    }
}

/// Splits `KIND/NAME` as kubectl writes an object on the command line.
pub fn kind_and_name(object: &str) -> Result<(&str, &str), PluginError> {
    match object.split_once('/') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((kind, name))
        }
        _ => Err(PluginError::Invalid(format!(
            "expected KIND/NAME (e.g. federateddeployment/web), got {object:?}"
        ))),
    }
}

/// Prints one progress line on stderr.
pub fn progress(message: impl std::fmt::Display) {
    eprintln!("{message}");
}

/// The message of an API error: the server's own message for API statuses, the whole source
/// chain (on one line) for connection failures.
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => {
            // The innermost cause is the informative part (`Connection refused`, a TLS
            // verification failure); the outer layers only name the client stack.
            let mut message = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !text.is_empty() {
                    message = text;
                }
                source = cause.source();
            }
            message
        }
    }
}

/// A failure of a plugin command, printed as one `error: …` line.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot load kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("no current context in the kubeconfig; pass --host-cluster-context")]
    NoCurrentContext,
    #[error("context {context:?} not found in the kubeconfig (available: {available})")]
    UnknownContext { context: String, available: String },
    #[error("context {context:?}: {reason}")]
    InvalidKubeconfig { context: String, reason: String },
    #[error("{action}: {message}")]
    Api { action: String, message: String },
    #[error("cannot reach the {side} at {server}: {message}")]
    Unreachable {
        side: String,
        server: String,
        message: String,
    },
    #[error(
        "timed out after {seconds}s waiting for the token controller to fill Secret {namespace}/{name} in the member cluster; is kube-controller-manager running there?"
    )]
    TokenTimeout {
        namespace: String,
        name: String,
        seconds: u64,
    },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Resolve(#[from] types::ResolveError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot render YAML: {0}")]
    Render(String),
    #[error("{failure} (created or updated so far: {done}); to clean up run: {cleanup}")]
    Partial {
        failure: Box<PluginError>,
        done: String,
        cleanup: String,
    },
}

impl PluginError {
    /// An API failure while doing `action`.
    pub fn api(action: impl Into<String>, err: &kube::Error) -> Self {
        Self::Api {
            action: action.into(),
            message: describe(err),
        }
    }
}

/// Reads a file named on the command line, `-` being stdin.
pub fn read_input(path: &str) -> Result<String, PluginError> {
    let read = |e: std::io::Error| PluginError::Read {
        path: path.to_string(),
        reason: e.to_string(),
    };
    if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(read)
    } else {
        std::fs::read_to_string(path).map_err(read)
    }
}

/// Renders values as multi-document YAML.
pub fn render_yaml(values: &[serde_json::Value]) -> Result<String, PluginError> {
    crate::crds::render_yaml(values)
        .map(|yaml| yaml.trim_end().to_string())
        .map_err(|e| PluginError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        flags::go_style(Cli::command()).debug_assert();
    }

    #[tokio::test]
    async fn version_prints_the_crate_version() {
        let cli = parse_from(["kubectl-fed", "version"]).unwrap();
        assert_eq!(
            run(cli).await.unwrap().output,
            format!("kubectl-fed {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn every_command_has_an_example() {
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("kubectl fed"),
                "{} has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn api_errors_use_the_server_message() {
        let status =
            kube::core::Status::failure("secrets \"x\" not found", "NotFound").with_code(404);
        let err = kube::Error::Api(status.boxed());
        assert_eq!(describe(&err), "secrets \"x\" not found");
    }
}
