//! How to reach a member cluster: the `kube::Config` built from a KubeFedCluster and its Secret.
//!
//! No I/O happens here, so every malformed-input path is unit-tested and ends up as a
//! `ConfigMalformed` condition naming the problem instead of a failed connection later. The
//! operator's cluster controller and `kubectl fed preview` connect to members the same way.

use crate::crds::kubefed_cluster::{KubeFedCluster, SECRET_TOKEN_KEY, TlsValidation};
use http::Uri;
use k8s_openapi::api::core::v1::Secret;
use kube::config::AuthInfo;
use rustls_pki_types::{CertificateDer, pem::PemObject};
use std::time::Duration;

/// The pieces of a KubeFedCluster (and its token Secret) that decide how to connect.
#[derive(Clone, Debug, Default)]
pub struct ConnectionSpec<'a> {
    /// `spec.apiEndpoint`: `host`, `host:port` or a URL.
    pub api_endpoint: &'a str,
    /// `spec.caBundle`, already base64-decoded: one or more PEM certificates.
    pub ca_bundle: Option<&'a [u8]>,
    /// `spec.disabledTLSValidations`.
    pub disabled_tls_validations: &'a [String],
    /// `spec.proxyURL`.
    pub proxy_url: Option<&'a str>,
    /// The `token` key of the Secret named by `spec.secretRef`.
    pub token: &'a str,
    /// Connect timeout for every request to the member.
    pub timeout: Duration,
}

/// Why a KubeFedCluster cannot be turned into a connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectionError {
    #[error("spec.apiEndpoint is empty")]
    EmptyEndpoint,
    #[error("spec.apiEndpoint {endpoint:?} is not a valid URL or host[:port]: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("spec.apiEndpoint {0:?} must use https or http")]
    UnsupportedScheme(String),
    #[error("spec.caBundle holds no PEM certificate")]
    EmptyCaBundle,
    #[error("spec.caBundle is not valid PEM: {0}")]
    InvalidCaBundle(String),
    #[error("spec.disabledTLSValidations: \"*\" must be the only entry, got {0:?}")]
    WildcardNotAlone(Vec<String>),
    #[error(
        "spec.disabledTLSValidations: unknown value {0:?} (allowed: \"*\", \"SubjectName\", \"ValidityPeriod\")"
    )]
    UnknownTlsValidation(String),
    #[error("spec.proxyURL {url:?} is invalid: {reason}")]
    InvalidProxy { url: String, reason: String },
    #[error("the token Secret has an empty \"token\" key")]
    EmptyToken,
}

/// Parses `spec.apiEndpoint`; a bare host or host:port means https, as in KubeFed.
pub fn parse_endpoint(endpoint: &str) -> Result<Uri, ConnectionError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(ConnectionError::EmptyEndpoint);
    }
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    let uri: Uri = with_scheme.parse().map_err(|e: http::uri::InvalidUri| {
        ConnectionError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        }
    })?;
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => return Err(ConnectionError::UnsupportedScheme(endpoint.to_string())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ConnectionError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason: "no host".into(),
        });
    }
    Ok(uri)
}

/// Which TLS checks stay on. Only "all" or "none" can be expressed with the TLS stack in use,
/// so disabling a single validation keeps verification on (the safe direction) and is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    pub verify: bool,
    /// Validations the user asked to disable that are still enforced.
    pub still_enforced: Vec<String>,
}

/// Validates `spec.disabledTLSValidations`.
pub fn tls_policy(disabled: &[String]) -> Result<TlsPolicy, ConnectionError> {
    let mut still_enforced = Vec::new();
    for value in disabled {
        match value.as_str() {
            "*" if disabled.len() > 1 => {
                return Err(ConnectionError::WildcardNotAlone(disabled.to_vec()));
            }
            "*" => {
                return Ok(TlsPolicy {
                    verify: false,
                    still_enforced: Vec::new(),
                });
            }
            "SubjectName" | "ValidityPeriod" => still_enforced.push(value.clone()),
            other => return Err(ConnectionError::UnknownTlsValidation(other.to_string())),
        }
    }
    Ok(TlsPolicy {
        verify: true,
        still_enforced,
    })
}

fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<Vec<u8>>, ConnectionError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|cert| cert.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConnectionError::InvalidCaBundle(e.to_string()))?;
    if certs.is_empty() {
        return Err(ConnectionError::EmptyCaBundle);
    }
    Ok(certs)
}

fn bearer_token(token: &str) -> Result<AuthInfo, ConnectionError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(ConnectionError::EmptyToken);
    }
    // AuthInfo keeps the token in a secret wrapper; building it through serde avoids depending
    // on that wrapper's crate directly.
    serde_json::from_value(serde_json::json!({ "token": token }))
        .map_err(|_| ConnectionError::EmptyToken)
}

/// A member connection: the client config plus what the user should be told about it.
#[derive(Clone, Debug)]
pub struct MemberConnection {
    pub config: kube::Config,
    pub tls: TlsPolicy,
}

/// Builds the client configuration for a member cluster, checking every field.
pub fn member_config(spec: &ConnectionSpec<'_>) -> Result<MemberConnection, ConnectionError> {
    let url = parse_endpoint(spec.api_endpoint)?;
    let tls = tls_policy(spec.disabled_tls_validations)?;
    let mut config = kube::Config::new(url);
    config.auth_info = bearer_token(spec.token)?;
    config.accept_invalid_certs = !tls.verify;
    if let Some(pem) = spec.ca_bundle.filter(|b| !b.is_empty()) {
        config.root_cert = Some(parse_ca_bundle(pem)?);
    }
    let plain = config.cluster_url.scheme_str() == Some("http");
    let proxy_tls = spec
        .proxy_url
        .is_some_and(|p| p.trim().starts_with("https"));
    if plain && !proxy_tls && config.root_cert.is_none() {
        // Nothing is verified over plain http; without this the client would load the
        // system's trust store, about 100 KB per member.
        config.root_cert = Some(Vec::new());
    }
    if let Some(proxy) = spec.proxy_url.map(str::trim).filter(|p| !p.is_empty()) {
        let uri: Uri =
            proxy
                .parse()
                .map_err(|e: http::uri::InvalidUri| ConnectionError::InvalidProxy {
                    url: proxy.to_string(),
                    reason: e.to_string(),
                })?;
        match uri.scheme_str() {
            Some("http") | Some("https") | Some("socks5") => {}
            _ => {
                return Err(ConnectionError::InvalidProxy {
                    url: proxy.to_string(),
                    reason: "scheme must be http, https or socks5".into(),
                });
            }
        }
        config.proxy_url = Some(uri);
    }
    // Only connecting (TCP and the TLS handshake) is bounded here: member watches are
    // long-lived reads, so every other request is bounded by its caller (probes by the health
    // timeout, writes by the member timeout, and a reconciliation waits for an answer at most
    // a few seconds before it goes on without it). A request cut by its timeout takes its
    // connection with it (a connection is pooled again only after a complete response), so a
    // member that stopped answering does not get later requests queued on a dead connection.
    // A watch that goes silent is not waited for either: the member's probes fail, it goes not
    // ready, its watches are stopped, and they start afresh once it is ready again (kube's
    // watcher also gives up on a stream idle for longer than the server's watch timeout).
    config.connect_timeout = Some(spec.timeout);
    // The controllers retry with their own backoff and must see a failure as it happens (a
    // 503 from /healthz is "not ready", not a slow answer), so no transparent retries here.
    config.default_retry = false;
    Ok(MemberConnection { config, tls })
}

/// The bearer token of a KubeFedCluster from its Secret (`secretRef.name`, key `token`), or
/// what is wrong with it. `secret` is the Secret of that name in the cluster's namespace.
pub fn cluster_token(cluster: &KubeFedCluster, secret: Option<&Secret>) -> Result<String, String> {
    let name = &cluster.spec.secret_ref.name;
    if name.is_empty() {
        return Err("spec.secretRef.name is empty".into());
    }
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or_default();
    let secret = secret.ok_or_else(|| format!("secret {namespace}/{name} not found"))?;
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get(SECRET_TOKEN_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(format!(
            "secret {namespace}/{name} has no \"{SECRET_TOKEN_KEY}\" key or it is empty"
        ));
    }
    Ok(token)
}

/// Requests awaiting an answer from one member, at most. The rest wait their turn (within
/// their callers' timeouts), so a slow or hung member holds a bounded number of requests and
/// connections however many reconciliations run at once, and the others are not starved of
/// sockets or tasks. A watch holds its slot only until the member starts streaming, not for
/// the life of the stream. Health probes take no slot (see [`super::in_flight`]). There is no
/// client-side rate limit (QPS) on top of this. The default of
/// `--member-max-requests-in-flight`.
pub const DEFAULT_MEMBER_IN_FLIGHT: usize = 16;

/// A member client as the operator builds it.
pub struct ClusterClient {
    pub client: kube::Client,
    /// Whether the member answers the requests sent on `client`.
    pub answers: super::in_flight::Answers,
    /// TLS validations that stay enforced although asked to be disabled.
    pub still_enforced: Vec<String>,
}

/// A client for a KubeFedCluster with its token, as the operator connects (`timeout` bounds
/// connecting, `in_flight` the requests awaiting an answer).
pub fn cluster_client(
    cluster: &KubeFedCluster,
    token: &str,
    timeout: Duration,
    in_flight: usize,
) -> Result<ClusterClient, String> {
    let tls: Vec<String> = cluster
        .spec
        .disabled_tls_validations
        .iter()
        .map(|v| {
            match v {
                TlsValidation::All => "*",
                TlsValidation::SubjectName => "SubjectName",
                TlsValidation::ValidityPeriod => "ValidityPeriod",
            }
            .to_string()
        })
        .collect();
    let spec = ConnectionSpec {
        api_endpoint: &cluster.spec.api_endpoint,
        ca_bundle: cluster.spec.ca_bundle.as_ref().map(|b| b.0.as_slice()),
        disabled_tls_validations: &tls,
        proxy_url: cluster.spec.proxy_url.as_deref(),
        token,
        timeout,
    };
    let connection = member_config(&spec).map_err(|e| e.to_string())?;
    let limit = super::in_flight::InFlightLimitLayer::new(in_flight);
    let client = super::transport::member_client(&connection.config, &limit)
        .map_err(|e| format!("cannot build a client: {e}"))?;
    Ok(ClusterClient {
        client,
        answers: limit.answers(),
        still_enforced: connection.tls.still_enforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(endpoint: &'a str, token: &'a str) -> ConnectionSpec<'a> {
        ConnectionSpec {
            api_endpoint: endpoint,
            token,
            timeout: Duration::from_secs(3),
            ..Default::default()
        }
    }

    #[test]
    fn endpoint_forms() {
        assert_eq!(
            parse_endpoint("10.0.0.1").unwrap().to_string(),
            "https://10.0.0.1/"
        );
        assert_eq!(
            parse_endpoint("api.example.com:6443").unwrap().to_string(),
            "https://api.example.com:6443/"
        );
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8080").unwrap().to_string(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(parse_endpoint(" "), Err(ConnectionError::EmptyEndpoint));
        assert!(matches!(
            parse_endpoint("ftp://x"),
            Err(ConnectionError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            parse_endpoint("https://"),
            Err(ConnectionError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            parse_endpoint("a b"),
            Err(ConnectionError::InvalidEndpoint { .. })
        ));
    }

    #[test]
    fn tls_validation_rules() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(tls_policy(&[]).unwrap().verify);
        assert!(!tls_policy(&s(&["*"])).unwrap().verify);
        assert_eq!(
            tls_policy(&s(&["*", "SubjectName"])),
            Err(ConnectionError::WildcardNotAlone(s(&["*", "SubjectName"])))
        );
        let partial = tls_policy(&s(&["SubjectName"])).unwrap();
        assert!(partial.verify);
        assert_eq!(partial.still_enforced, s(&["SubjectName"]));
        assert_eq!(
            tls_policy(&s(&["Everything"])),
            Err(ConnectionError::UnknownTlsValidation("Everything".into()))
        );
    }

    /// A plain-http member gets an empty trust store instead of the system's (loaded once per
    /// client otherwise); an https one without a CA bundle keeps the system's.
    #[test]
    fn plain_http_members_load_no_trust_store() {
        let plain = member_config(&spec("http://127.0.0.1:8080", "abc")).unwrap();
        assert_eq!(plain.config.root_cert, Some(Vec::new()));
        assert!(kube::client::ClientBuilder::try_from(plain.config).is_ok());
        let tls = member_config(&spec("127.0.0.1:6443", "abc")).unwrap();
        assert_eq!(tls.config.root_cert, None);
        let https_proxy = ConnectionSpec {
            proxy_url: Some("https://proxy:3128"),
            ..spec("http://127.0.0.1:8080", "abc")
        };
        assert_eq!(member_config(&https_proxy).unwrap().config.root_cert, None);
    }

    #[test]
    fn builds_a_config_with_token_and_timeouts() {
        let conn = member_config(&spec("127.0.0.1:6443", "abc")).unwrap();
        assert_eq!(
            conn.config.cluster_url.to_string(),
            "https://127.0.0.1:6443/"
        );
        assert!(!conn.config.accept_invalid_certs);
        assert!(conn.config.auth_info.token.is_some());
        assert_eq!(conn.config.connect_timeout, Some(Duration::from_secs(3)));
        // Watches must not be cut by a short read timeout.
        assert_ne!(conn.config.read_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn empty_token_is_rejected() {
        assert_eq!(
            member_config(&spec("h", " ")).unwrap_err(),
            ConnectionError::EmptyToken
        );
    }

    #[test]
    fn bad_ca_bundle_is_rejected() {
        let mut s = spec("h", "t");
        s.ca_bundle = Some(b"not a certificate");
        assert_eq!(
            member_config(&s).unwrap_err(),
            ConnectionError::EmptyCaBundle
        );
        s.ca_bundle = Some(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        assert!(matches!(
            member_config(&s).unwrap_err(),
            ConnectionError::InvalidCaBundle(_)
        ));
    }

    #[test]
    fn proxy_schemes() {
        let mut s = spec("h", "t");
        s.proxy_url = Some("socks5://127.0.0.1:1080");
        assert!(member_config(&s).unwrap().config.proxy_url.is_some());
        s.proxy_url = Some("gopher://x");
        assert!(matches!(
            member_config(&s).unwrap_err(),
            ConnectionError::InvalidProxy { .. }
        ));
    }
}
