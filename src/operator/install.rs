//! Installing the CRDs and the default FederatedTypeConfigs at start (`--install-crds`).
//!
//! Server-side apply makes this idempotent: applying what is already there changes nothing and
//! bumps no resourceVersion. CRDs are applied with force because the operator owns their
//! schema; default FederatedTypeConfigs are applied without force, so a field an admin changed
//! (e.g. `propagation: Disabled`) is kept and reported instead of overwritten.

use crate::crds::{FederatedTypeConfig, all_crds, default_type_configs};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use std::time::Duration;

/// Field manager of everything the operator writes on the host.
pub const FIELD_MANAGER: &str = "kubefed-operator";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot apply CRD {name}: {source}")]
    Crd {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("CRD {0} did not become Established within {1:?}")]
    NotEstablished(String, Duration),
    #[error("cannot apply FederatedTypeConfig {name}: {source}")]
    TypeConfig {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Applies every CRD, waits until each is served, then applies the default type configs.
pub async fn install(
    client: &Client,
    namespace: &str,
    timeout: Duration,
) -> Result<(), InstallError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let force = PatchParams::apply(FIELD_MANAGER).force();
    for crd in all_crds() {
        let name = crd.name_any();
        crds.patch(&name, &force, &Patch::Apply(&crd))
            .await
            .map_err(|source| InstallError::Crd {
                name: name.clone(),
                source,
            })?;
    }
    for crd in all_crds() {
        let name = crd.name_any();
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, established).await {
            Ok(Ok(_)) => {}
            _ => return Err(InstallError::NotEstablished(name, timeout)),
        }
    }
    let configs: Api<FederatedTypeConfig> = Api::namespaced(client.clone(), namespace);
    let polite = PatchParams::apply(FIELD_MANAGER);
    for ftc in default_type_configs(namespace) {
        let name = ftc.name_any();
        match configs.patch(&name, &polite, &Patch::Apply(&ftc)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(
                    federatedtypeconfig = %name,
                    "keeping fields of the default FederatedTypeConfig changed by another manager: {}",
                    status.message
                );
            }
            Err(source) => return Err(InstallError::TypeConfig { name, source }),
        }
    }
    Ok(())
}
