//! Registering a member with the host the way `kubectl fed join` does: its token in a Secret
//! and a KubeFedCluster naming its URL (and, over HTTPS, the CA to trust).

use crate::{FEDERATION_NAMESPACE, TestkitError};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use kubefed::crds::kubefed_cluster::{KubeFedCluster, KubeFedClusterSpec, LocalSecretReference};
use std::collections::BTreeMap;

/// What the host is told about one member.
#[derive(Clone, Debug, Default)]
pub struct Join {
    pub name: String,
    pub url: String,
    /// The bearer token the operator uses for the member.
    pub token: String,
    /// PEM of the CA the member's serving certificate chains to.
    pub ca_bundle: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Join {
    /// A member of an in-process fleet, over its plain-HTTP listener with its admin token.
    pub fn http(member: &kubefed_sim::Cluster) -> Result<Join, TestkitError> {
        let name = member.name().to_string();
        let url = member
            .http_url()
            .ok_or_else(|| TestkitError::Setup(format!("{name} serves no HTTP")))?;
        Ok(Join {
            token: member.admin_token().to_string(),
            name,
            url,
            ..Join::default()
        })
    }

    /// A member of an in-process fleet, over its HTTPS listener trusting the simulator's CA,
    /// with its admin token.
    pub fn tls(member: &kubefed_sim::Cluster) -> Result<Join, TestkitError> {
        let name = member.name().to_string();
        let url = member
            .https_url()
            .ok_or_else(|| TestkitError::Setup(format!("{name} serves no HTTPS")))?;
        Ok(Join {
            token: member.admin_token().to_string(),
            name,
            url,
            ca_bundle: Some(kubefed_sim::server::pki::CA_PEM.to_string()),
            ..Join::default()
        })
    }

    /// A member of a [`kubefed_sim::Fleet`], over HTTPS trusting the fleet CA.
    pub fn https(member: &kubefed_sim::FleetCluster) -> Result<Join, TestkitError> {
        let ca = member
            .kubeconfig_entry()
            .certificate_authority
            .ok_or_else(|| TestkitError::Setup(format!("{} has no CA", member.name())))?;
        Ok(Join {
            name: member.name().to_string(),
            url: member.url(),
            token: member.admin_token().to_string(),
            ca_bundle: Some(ca),
            labels: BTreeMap::new(),
        })
    }
}

/// Creates the member's token Secret and its KubeFedCluster on the host.
pub async fn join(host: &Client, member: &Join) -> Result<(), TestkitError> {
    let secret_name = format!("{}-token", member.name);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(secret_name.clone()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(member.token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(host.clone(), FEDERATION_NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(TestkitError::kube(format!("create Secret {secret_name}")))?;
    let mut kfc = KubeFedCluster::new(
        &member.name,
        KubeFedClusterSpec {
            api_endpoint: member.url.clone(),
            ca_bundle: member
                .ca_bundle
                .as_ref()
                .map(|ca| ByteString(ca.as_bytes().to_vec())),
            secret_ref: LocalSecretReference { name: secret_name },
            ..Default::default()
        },
    );
    if !member.labels.is_empty() {
        kfc.metadata.labels = Some(member.labels.clone());
    }
    Api::<KubeFedCluster>::namespaced(host.clone(), FEDERATION_NAMESPACE)
        .create(&PostParams::default(), &kfc)
        .await
        .map_err(TestkitError::kube(format!(
            "create KubeFedCluster {}",
            member.name
        )))?;
    Ok(())
}
