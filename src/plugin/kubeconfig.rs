//! Kubeconfig handling: loading, resolving contexts, building clients, and mapping a member
//! context to the `KubeFedCluster.spec` that lets the operator reach it.

use std::time::Duration;

use k8s_openapi::ByteString;
use kube::Client;
use kube::config::{Cluster, KubeConfigOptions, Kubeconfig};

use super::PluginError;
use crate::crds::kubefed_cluster::{KubeFedClusterSpec, LocalSecretReference, TlsValidation};

/// How long to wait for a connection before calling a cluster unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for any single answer from an API server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the kubeconfig from `--kubeconfig` / `$KUBECONFIG` (a `:`-separated list, merged in
/// order as kubectl does) or `~/.kube/config`.
pub fn load(path: Option<&str>) -> Result<Kubeconfig, PluginError> {
    match path.filter(|p| !p.is_empty()) {
        Some(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            for path in std::env::split_paths(paths) {
                let next = Kubeconfig::read_from(&path).map_err(|e| PluginError::Kubeconfig {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                merged = Some(match merged {
                    None => next,
                    Some(previous) => {
                        previous.merge(next).map_err(|e| PluginError::Kubeconfig {
                            path: path.display().to_string(),
                            reason: e.to_string(),
                        })?
                    }
                });
            }
            merged.ok_or_else(|| PluginError::Kubeconfig {
                path: paths.to_string(),
                reason: "no file given".to_string(),
            })
        }
        None => Kubeconfig::read().map_err(|e| PluginError::Kubeconfig {
            path: "~/.kube/config".to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Names of all contexts, in file order.
pub fn context_names(config: &Kubeconfig) -> Vec<String> {
    config.contexts.iter().map(|c| c.name.clone()).collect()
}

/// Checks that `context` exists (or picks the current context when `None`).
pub fn resolve_context(config: &Kubeconfig, context: Option<&str>) -> Result<String, PluginError> {
    let name = match context {
        Some(name) => name.to_string(),
        None => config
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or(PluginError::NoCurrentContext)?,
    };
    if config.contexts.iter().any(|c| c.name == name) {
        Ok(name)
    } else {
        Err(PluginError::UnknownContext {
            context: name,
            available: context_names(config).join(", "),
        })
    }
}

/// The kubeconfig cluster entry a context points at.
pub fn context_cluster<'a>(
    config: &'a Kubeconfig,
    context: &str,
) -> Result<(&'a str, &'a Cluster), PluginError> {
    let named = config
        .contexts
        .iter()
        .find(|c| c.name == context)
        .ok_or_else(|| PluginError::UnknownContext {
            context: context.to_string(),
            available: context_names(config).join(", "),
        })?;
    let cluster_name = named
        .context
        .as_ref()
        .map(|c| c.cluster.as_str())
        .unwrap_or_default();
    config
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref().map(|cluster| (c.name.as_str(), cluster)))
        .ok_or_else(|| PluginError::InvalidKubeconfig {
            context: context.to_string(),
            reason: format!("cluster {cluster_name:?} is not defined"),
        })
}

/// The default namespace of a context (`default` when it names none).
pub fn context_namespace(config: &Kubeconfig, context: &str) -> String {
    config
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// Whether two contexts reach the same API server (then the member is the host itself).
pub fn same_server(config: &Kubeconfig, a: &str, b: &str) -> bool {
    match (context_cluster(config, a), context_cluster(config, b)) {
        (Ok((_, a)), Ok((_, b))) => a.server.is_some() && a.server == b.server,
        _ => false,
    }
}

/// The first context (in file order) whose cluster's server is `server`.
pub fn context_for_server(config: &Kubeconfig, server: &str) -> Option<String> {
    config
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .find(|name| {
            context_cluster(config, name)
                .is_ok_and(|(_, cluster)| cluster.server.as_deref() == Some(server))
        })
        .map(str::to_string)
}

/// Builds a client for one context, with bounded timeouts so an unreachable cluster fails fast.
pub async fn client(config: &Kubeconfig, context: &str) -> Result<Client, PluginError> {
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        cluster: None,
        user: None,
    };
    let mut client_config = kube::Config::from_custom_kubeconfig(config.clone(), &options)
        .await
        .map_err(|e| PluginError::InvalidKubeconfig {
            context: context.to_string(),
            reason: e.to_string(),
        })?;
    client_config.connect_timeout = Some(CONNECT_TIMEOUT);
    client_config.read_timeout = Some(READ_TIMEOUT);
    Client::try_from(client_config).map_err(|e| PluginError::InvalidKubeconfig {
        context: context.to_string(),
        reason: e.to_string(),
    })
}

/// Asks the API server for its version, so an unreachable or misconfigured cluster is reported
/// before anything is written.
pub async fn check_reachable(
    client: &Client,
    config: &Kubeconfig,
    context: &str,
    side: &str,
) -> Result<(), PluginError> {
    client.apiserver_version().await.map(|_| ()).map_err(|e| {
        let server = context_cluster(config, context)
            .ok()
            .and_then(|(_, c)| c.server.clone())
            .unwrap_or_default();
        PluginError::Unreachable {
            side: format!("{side} (context {context})"),
            server,
            message: super::describe(&e),
        }
    })
}

/// What the kubeconfig says about how to reach a member, before any token exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEndpoint {
    /// `server` of the context's cluster.
    pub server: String,
    /// PEM CA certificates from `certificate-authority-data` or the `certificate-authority` file.
    pub ca_bundle: Option<Vec<u8>>,
    /// `insecure-skip-tls-verify`.
    pub insecure: bool,
    /// `proxy-url`.
    pub proxy_url: Option<String>,
}

/// Reads the member endpoint of `context`. A CA file is read here so the plan is complete.
pub fn member_endpoint(config: &Kubeconfig, context: &str) -> Result<MemberEndpoint, PluginError> {
    let (_, cluster) = context_cluster(config, context)?;
    let invalid = |reason: String| PluginError::InvalidKubeconfig {
        context: context.to_string(),
        reason,
    };
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("the cluster has no server URL".to_string()))?;
    let ca_bundle = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) if !data.is_empty() => Some(
            decode_base64(data)
                .ok_or_else(|| invalid("certificate-authority-data is not base64".to_string()))?,
        ),
        (_, Some(path)) if !path.is_empty() => Some(
            std::fs::read(path)
                .map_err(|e| invalid(format!("cannot read certificate-authority {path:?}: {e}")))?,
        ),
        _ => None,
    };
    Ok(MemberEndpoint {
        server,
        ca_bundle,
        insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
        proxy_url: cluster.proxy_url.clone().filter(|p| !p.is_empty()),
    })
}

/// The KubeFedCluster spec for a member. The kubeconfig's CA wins over the token Secret's
/// `ca.crt`, which is the service-account CA and may not be the one serving the API endpoint.
pub fn cluster_spec(
    endpoint: &MemberEndpoint,
    secret_name: &str,
    secret_ca: Option<&[u8]>,
) -> KubeFedClusterSpec {
    let ca = endpoint
        .ca_bundle
        .clone()
        .or_else(|| secret_ca.map(<[u8]>::to_vec))
        .filter(|ca| !ca.is_empty());
    KubeFedClusterSpec {
        api_endpoint: endpoint.server.clone(),
        ca_bundle: ca.map(ByteString),
        secret_ref: LocalSecretReference {
            name: secret_name.to_string(),
        },
        disabled_tls_validations: if endpoint.insecure {
            vec![TlsValidation::All]
        } else {
            Vec::new()
        },
        proxy_url: endpoint.proxy_url.clone(),
    }
}

/// Standard base64 (with or without padding, whitespace ignored).
pub fn decode_base64(input: &str) -> Option<Vec<u8>> {
    // Round-trip through ByteString's serde, which speaks standard base64.
    let cleaned: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    let padded = match cleaned.len() % 4 {
        2 => format!("{cleaned}=="),
        3 => format!("{cleaned}="),
        _ => cleaned,
    };
    serde_json::from_value::<ByteString>(serde_json::Value::String(padded))
        .ok()
        .map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: host
clusters:
- name: host-cluster
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTg==
- name: member-cluster
  cluster:
    server: https://10.0.0.2:6443
    insecure-skip-tls-verify: true
    proxy-url: socks5://proxy:1080
contexts:
- name: host
  context: {cluster: host-cluster, user: u, namespace: apps}
- name: member
  context: {cluster: member-cluster, user: u}
- name: host-again
  context: {cluster: host-cluster, user: u}
users:
- name: u
  user: {token: abc}
"#;

    fn config() -> Kubeconfig {
        Kubeconfig::from_yaml(KUBECONFIG).unwrap()
    }

    #[test]
    fn resolves_current_and_named_contexts() {
        let config = config();
        assert_eq!(resolve_context(&config, None).unwrap(), "host");
        assert_eq!(resolve_context(&config, Some("member")).unwrap(), "member");
        let err = resolve_context(&config, Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nope\""), "{err}");
        assert!(err.contains("host, member, host-again"), "{err}");
    }

    #[test]
    fn context_namespace_defaults_to_default() {
        let config = config();
        assert_eq!(context_namespace(&config, "host"), "apps");
        assert_eq!(context_namespace(&config, "member"), "default");
    }

    #[test]
    fn detects_the_host_as_member() {
        let config = config();
        assert!(same_server(&config, "host", "host-again"));
        assert!(!same_server(&config, "host", "member"));
    }

    #[test]
    fn finds_the_first_context_of_a_server() {
        let config = config();
        assert_eq!(
            context_for_server(&config, "https://127.0.0.1:6443").as_deref(),
            Some("host")
        );
        assert_eq!(context_for_server(&config, "https://elsewhere"), None);
    }

    #[test]
    fn maps_a_secure_member_with_kubeconfig_ca() {
        let endpoint = member_endpoint(&config(), "host").unwrap();
        assert_eq!(endpoint.ca_bundle.as_deref(), Some(&b"-----BEGIN"[..]));
        let spec = cluster_spec(&endpoint, "c1-token", Some(b"other"));
        assert_eq!(spec.api_endpoint, "https://127.0.0.1:6443");
        assert_eq!(spec.ca_bundle, Some(ByteString(b"-----BEGIN".to_vec())));
        assert_eq!(spec.secret_ref.name, "c1-token");
        assert!(spec.disabled_tls_validations.is_empty());
        assert_eq!(spec.proxy_url, None);
    }

    #[test]
    fn maps_an_insecure_proxied_member_with_secret_ca() {
        let endpoint = member_endpoint(&config(), "member").unwrap();
        let spec = cluster_spec(&endpoint, "s", Some(b"sa-ca"));
        assert_eq!(spec.ca_bundle, Some(ByteString(b"sa-ca".to_vec())));
        assert_eq!(spec.disabled_tls_validations, vec![TlsValidation::All]);
        assert_eq!(spec.proxy_url.as_deref(), Some("socks5://proxy:1080"));
        let none = cluster_spec(&endpoint, "s", None);
        assert_eq!(none.ca_bundle, None);
    }

    #[test]
    fn base64_accepts_missing_padding() {
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert!(decode_base64("!!!").is_none());
    }
}
