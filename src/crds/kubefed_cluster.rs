//! `KubeFedCluster` (`core.kubefed.io/v1beta1`): one registered member cluster.

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type: the member answers its health check.
pub const CONDITION_READY: &str = "Ready";
/// Condition type: the member could not be reached at all.
pub const CONDITION_OFFLINE: &str = "Offline";
/// Condition type: the KubeFedCluster or its Secret cannot be turned into a client.
pub const CONDITION_CONFIG_MALFORMED: &str = "ConfigMalformed";

/// Condition type: whether every enabled type can be watched in the member.
pub const CONDITION_TYPES_AVAILABLE: &str = "TypesAvailable";

/// `Ready` reason when the health check passed.
pub const REASON_CLUSTER_READY: &str = "ClusterReady";
/// `Ready` reason when the health check answered but reported not ok.
pub const REASON_CLUSTER_NOT_READY: &str = "ClusterNotReady";
/// `Offline` reason when the API server could not be reached.
pub const REASON_CLUSTER_NOT_REACHABLE: &str = "ClusterNotReachable";
/// `Offline` reason (status `False`) when the API server could be reached.
pub const REASON_CLUSTER_REACHABLE: &str = "ClusterReachable";

/// `TypesAvailable` reason (status `True`) when every enabled type can be watched.
pub const REASON_ALL_TYPES_AVAILABLE: &str = "AllTypesAvailable";
/// `TypesAvailable` reason (status `False`): the message names the types and why.
pub const REASON_TYPES_UNAVAILABLE: &str = "TypesUnavailable";

/// Key of the bearer token in the Secret named by `spec.secretRef`.
pub const SECRET_TOKEN_KEY: &str = "token";

/// A member cluster of the federation. The Secret it references lives in the same namespace.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "core.kubefed.io",
    version = "v1beta1",
    kind = "KubeFedCluster",
    plural = "kubefedclusters",
    shortname = "kfc",
    namespaced,
    status = "KubeFedClusterStatus",
    derive = "PartialEq",
    doc = "KubeFedCluster configures KubeFed to be aware of a Kubernetes cluster and how to reach it.",
    // Raw JSON columns: the structured form trips clippy's duplicated-attributes lint.
    printcolumn = r#"{"name":"Ready", "type":"string", "jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Offline", "type":"string", "jsonPath":".status.conditions[?(@.type=='Offline')].status"}"#,
    printcolumn = r#"{"name":"Version", "type":"string", "jsonPath":".status.kubernetesVersion"}"#,
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedClusterSpec {
    /// The address of the member's API server: `host`, `host:port` or an `https://` URL.
    pub api_endpoint: String,
    /// PEM-encoded CA certificates (base64 on the wire) trusted for the API server. When empty,
    /// the system trust roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "caBundle")]
    #[schemars(with = "Option<String>", extend("format" = "byte"))]
    pub ca_bundle: Option<ByteString>,
    /// The Secret, in the KubeFedCluster's namespace, holding the bearer token under `token`.
    pub secret_ref: LocalSecretReference,
    /// TLS checks to skip when talking to the member: `*` (all; only alone), `SubjectName`,
    /// `ValidityPeriod`. Verification is on by default.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "disabledTLSValidations"
    )]
    pub disabled_tls_validations: Vec<TlsValidation>,
    /// Proxy used to reach the member: an `http`, `https` or `socks5` URL.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "proxyURL")]
    pub proxy_url: Option<String>,
}

/// A reference to a Secret in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalSecretReference {
    /// Name of the Secret.
    pub name: String,
}

/// A TLS validation that may be disabled for a member cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TlsValidation {
    /// Every validation.
    #[serde(rename = "*")]
    All,
    /// The certificate's subject name / SANs.
    SubjectName,
    /// The certificate's notBefore / notAfter.
    ValidityPeriod,
}

/// Observed state of a member cluster, written by the cluster health controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeFedClusterStatus {
    /// Latest observations of the cluster: `Ready`, `Offline`, `ConfigMalformed`,
    /// `TypesAvailable`.
    #[serde(default)]
    pub conditions: Vec<ClusterCondition>,
    /// The member's Kubernetes version as reported by `/version`, e.g. `v1.33.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Zones the member's nodes run in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Region the member's nodes run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One health condition of a member cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCondition {
    /// `Ready`, `Offline`, `ConfigMalformed` or `TypesAvailable`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the cluster was last probed.
    pub last_probe_time: Time,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason of the last transition, e.g. `ClusterReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details of the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl KubeFedClusterStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&ClusterCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition(CONDITION_READY)
            .is_some_and(|c| c.status == "True")
    }
}
