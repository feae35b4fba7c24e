//! Command-line options of `kubefed-operator run`, named after the flags of Kubernetes
//! controllers (kubeconfig, context, metrics and probe addresses, leader election).

use super::logging::LogFormat;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// Kubeconfig of the host cluster. Without it (and without $KUBECONFIG) the in-cluster
    /// service account is used.
    #[arg(long, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context of the host cluster (default: the current context).
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Namespace holding KubeFedClusters, their Secrets, FederatedTypeConfigs and the
    /// `kubefed` KubeFedConfig.
    #[arg(
        long,
        default_value = crate::crds::DEFAULT_FEDERATION_NAMESPACE,
        value_name = "NAMESPACE"
    )]
    pub kubefed_namespace: String,
    /// Apply the CRDs and the default FederatedTypeConfigs at start (server-side apply;
    /// a no-op when they are current). Use --install-crds=false when they are managed
    /// elsewhere.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub install_crds: bool,
    /// Address of the Prometheus /metrics endpoint; "0" disables it.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub metrics_bind_address: String,
    /// Address of the /healthz and /readyz endpoints; "0" disables them.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    pub health_probe_bind_address: String,
    /// Run controllers only while holding the leader Lease in the federation namespace, so
    /// several replicas can run with one active.
    #[arg(long)]
    pub leader_elect: bool,
    /// Identity in the leader Lease (default: the host name plus a random suffix).
    #[arg(long, env = "POD_NAME", value_name = "ID")]
    pub leader_elect_identity: Option<String>,
    /// Requests awaiting an answer from one member cluster, at most; the rest queue within
    /// their timeouts, so a slow or hung member cannot take every connection and task. Health
    /// probes are not counted. There is no client-side QPS limit: throughput is set by this
    /// and `syncController.maxConcurrentReconciles`.
    #[arg(
        long,
        default_value_t = crate::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
        value_name = "N"
    )]
    pub member_max_requests_in_flight: usize,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level or filter directive, e.g. `info` or `kubefed=debug,kube=warn`
    /// ($RUST_LOG wins when set).
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
}

/// Parses a bind address flag: `host:port`, `:port` (all interfaces) or `0` (disabled).
pub fn parse_bind_address(flag: &str, value: &str) -> Result<Option<SocketAddr>, String> {
    let value = value.trim();
    if value == "0" || value.is_empty() {
        return Ok(None);
    }
    let full = if let Some(port) = value.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        value.to_string()
    };
    full.parse()
        .map(Some)
        .map_err(|_| format!("--{flag}: {value:?} is not host:port, :port or 0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `kubefed-operator run …` as the binary declares it (src/bin/kubefed-operator.rs).
    #[derive(Parser)]
    #[command(name = "kubefed-operator")]
    enum Binary {
        Run(RunOptions),
    }

    /// The container args of config/manager/deployment.yaml.
    fn deployment_args() -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/manager/deployment.yaml"
        );
        let text = std::fs::read_to_string(path).expect("config/manager/deployment.yaml");
        let deployment: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let containers = deployment
            .pointer("/spec/template/spec/containers")
            .and_then(serde_json::Value::as_array)
            .expect("containers");
        assert_eq!(containers.len(), 1, "one container");
        assert!(
            containers[0].get("command").is_none(),
            "the image's entrypoint (the binary) runs the args"
        );
        containers[0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_string())
            .collect()
    }

    #[test]
    fn the_deployment_args_are_accepted_and_mean_what_the_manifests_need() {
        let args = deployment_args();
        let Binary::Run(options) =
            Binary::try_parse_from(std::iter::once("kubefed-operator".to_string()).chain(args))
                .unwrap_or_else(|e| panic!("the Deployment's args are refused: {e}"));
        assert_eq!(options.kubefed_namespace, "kube-federation-system");
        assert!(options.leader_elect);
        // The default FederatedTypeConfigs are created by the operator, not by the manifests.
        assert!(options.install_crds);
        // The probe and metrics ports must be reachable from outside the pod.
        assert_eq!(
            parse_bind_address("h", &options.health_probe_bind_address).unwrap(),
            Some("0.0.0.0:8081".parse().unwrap())
        );
        assert_eq!(
            parse_bind_address("m", &options.metrics_bind_address).unwrap(),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(options.log_format, LogFormat::Json);
        // In the pod the service account is used, not a kubeconfig context.
        assert!(options.context.is_none());
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(parse_bind_address("m", "0").unwrap(), None);
        assert_eq!(
            parse_bind_address("m", ":8080").unwrap(),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            parse_bind_address("m", "127.0.0.1:9").unwrap(),
            Some("127.0.0.1:9".parse().unwrap())
        );
        let err = parse_bind_address("metrics-bind-address", "nope").unwrap_err();
        assert!(err.contains("--metrics-bind-address"), "{err}");
    }
}
