//! `kubectl fed enable` / `disable`: the Federated<Kind> CRD and FederatedTypeConfig of a type.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::apply::{covers_serialized, delete, ensure};
use super::types::{self, DiscoveredType};
use super::{FederatedApiOptions, OutputFormat, PluginError, Session, progress, render_yaml};
use crate::crds::federated::FEDERATED_GROUP;
use crate::crds::manifests::default_type_config;
use crate::crds::{
    ConfigurationMode, ControllerStatus, DefaultTargetType, FederatedCrdOptions,
    FederatedTypeConfig, TargetType, default_target_types, federated_crd,
};

pub const ENABLE_EXAMPLES: &str = "\
Examples:
  # Federate Deployments (resource name, short name, kind or kind.group all work)
  kubectl fed enable deployments.apps

  # Federate a custom resource
  kubectl fed enable widgets.example.com

  # Print the CRD and FederatedTypeConfig instead of creating them
  kubectl fed enable deploy -o yaml";

pub const DISABLE_EXAMPLES: &str = "\
Examples:
  # Stop propagating Deployments (federated objects stay)
  kubectl fed disable deployments.apps

  # Also delete the FederatedDeployment CRD (and with it every FederatedDeployment)
  kubectl fed disable deployments.apps --delete-crd";

#[derive(Debug, clap::Args)]
pub struct EnableArgs {
    /// The type to federate: resource name, short name, kind, or `<resource>.<group>`.
    #[arg(value_name = "TYPE")]
    pub type_name: String,
    #[command(flatten)]
    pub api: FederatedApiOptions,
    /// Print the CRD and FederatedTypeConfig instead of applying them.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
}

#[derive(Debug, clap::Args)]
pub struct DisableArgs {
    /// The federated type's target: resource name, short name, kind, or `<resource>.<group>`.
    #[arg(value_name = "TYPE")]
    pub type_name: String,
    /// Also delete the FederatedTypeConfig and the federated CRD, which deletes every object
    /// of the federated type.
    #[arg(long)]
    pub delete_crd: bool,
}

/// The CRD and FederatedTypeConfig enabling `target`. The 10 default types keep their default
/// status collection; any other type collects status, since the member watch it needs exists
/// for propagation anyway.
pub fn enable_manifests(
    target: &TargetType,
    api: &FederatedApiOptions,
    namespace: &str,
) -> (CustomResourceDefinition, FederatedTypeConfig) {
    let status_collection = default_target_types()
        .into_iter()
        .find(|d| d.target.type_config_name() == target.type_config_name())
        .map(|d| d.status_collection)
        .unwrap_or(ConfigurationMode::Enabled);
    let default = DefaultTargetType {
        target: target.clone(),
        status_collection,
    };
    let mut config = default_type_config(&default, namespace);
    config.spec.federated_type.group = api.federated_group.clone();
    config.spec.federated_type.version = api.federated_version.clone();

    let mut crd = federated_crd(target, &FederatedCrdOptions::default());
    crd.spec.group = api.federated_group.clone();
    crd.metadata.name = Some(format!(
        "{}.{}",
        target.federated_plural(),
        api.federated_group
    ));
    for version in &mut crd.spec.versions {
        version.name = api.federated_version.clone();
    }
    (crd, config)
}

/// The manifests as JSON values, CRD first.
pub fn manifest_values(
    crd: &CustomResourceDefinition,
    config: &FederatedTypeConfig,
) -> Result<Vec<Value>, PluginError> {
    let render = |e: serde_json::Error| PluginError::Render(e.to_string());
    Ok(vec![
        serde_json::to_value(crd).map_err(render)?,
        serde_json::to_value(config).map_err(render)?,
    ])
}

/// Resolves a type to federate; refuses federated types themselves.
pub fn resolve_target<'a>(
    query: &str,
    discovered: &'a [DiscoveredType],
    federated_group: &str,
) -> Result<&'a DiscoveredType, PluginError> {
    let found = types::resolve(query, discovered)?;
    if found.group == federated_group || found.group == FEDERATED_GROUP {
        return Err(PluginError::Invalid(format!(
            "{query:?} is already a federated type ({}); name the type it federates",
            found.kind
        )));
    }
    Ok(found)
}

/// Discovers the host's types.
pub async fn discover(host: &Client) -> Result<Vec<DiscoveredType>, PluginError> {
    types::discover(host)
        .await
        .map_err(|e| PluginError::api("cannot discover the host's API types", &e))
}

/// Creates or updates the federated CRD and FederatedTypeConfig of `target` on the host.
pub async fn apply(
    host: &Client,
    crd: &CustomResourceDefinition,
    config: &FederatedTypeConfig,
    namespace: &str,
) -> Result<(), PluginError> {
    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    let outcome = ensure(
        &Api::<CustomResourceDefinition>::all(host.clone()),
        crd,
        |existing: &CustomResourceDefinition, desired: &CustomResourceDefinition| {
            !covers_serialized(&existing.spec, &desired.spec)
        },
    )
    .await
    .map_err(|e| {
        PluginError::api(
            format!("cannot apply CustomResourceDefinition {crd_name}"),
            &e,
        )
    })?;
    progress(format!(
        "CustomResourceDefinition {crd_name} {}",
        outcome.verb()
    ));

    let config_name = config.metadata.name.clone().unwrap_or_default();
    let outcome = ensure(
        &Api::<FederatedTypeConfig>::namespaced(host.clone(), namespace),
        config,
        |existing: &FederatedTypeConfig, desired: &FederatedTypeConfig| {
            !covers_serialized(&existing.spec, &desired.spec)
        },
    )
    .await
    .map_err(|e| {
        PluginError::api(
            format!("cannot apply FederatedTypeConfig {namespace}/{config_name} (is the federation installed on the host?)"),
            &e,
        )
    })?;
    progress(format!(
        "FederatedTypeConfig {namespace}/{config_name} {}",
        outcome.verb()
    ));
    Ok(())
}

pub async fn run_enable(session: &Session, args: EnableArgs) -> Result<String, PluginError> {
    let host = session.host_client().await?;
    let discovered = discover(&host).await?;
    let found = resolve_target(&args.type_name, &discovered, &args.api.federated_group)?;
    let target = found.target_type();
    let (crd, config) = enable_manifests(&target, &args.api, &session.namespace);
    if args.output.is_some() {
        return render_yaml(&manifest_values(&crd, &config)?);
    }
    if session.dry_run {
        return Ok(format!(
            "would ensure CustomResourceDefinition {} and FederatedTypeConfig {}/{} (propagation Enabled)",
            crd.metadata.name.unwrap_or_default(),
            session.namespace,
            target.type_config_name()
        ));
    }
    apply(&host, &crd, &config, &session.namespace).await?;
    Ok(format!(
        "federation of {} enabled (federated type {})",
        target.type_config_name(),
        target.federated_kind()
    ))
}

/// Finds the FederatedTypeConfig of a type: by discovery when the type is still served, else
/// by matching the configs' own target types (e.g. after its CRD was removed).
async fn find_type_config(
    session: &Session,
    host: &Client,
    query: &str,
) -> Result<FederatedTypeConfig, PluginError> {
    let ns = &session.namespace;
    let configs = Api::<FederatedTypeConfig>::namespaced(host.clone(), ns)
        .list(&Default::default())
        .await
        .map_err(|e| PluginError::api(format!("cannot list FederatedTypeConfigs in {ns}"), &e))?
        .items;
    let as_discovered: Vec<DiscoveredType> = configs
        .iter()
        .map(|c| DiscoveredType {
            group: c.spec.target_type.group.clone(),
            version: c.spec.target_type.version.clone(),
            kind: c.spec.target_type.kind.clone(),
            plural: c.spec.target_type.plural_name.clone(),
            singular: c.spec.target_type.kind.to_lowercase(),
            ..Default::default()
        })
        .collect();
    let name = match discover(host).await.ok().and_then(|d| {
        types::resolve(query, &d)
            .ok()
            .map(DiscoveredType::qualified_plural)
    }) {
        Some(name) => name,
        None => types::resolve(query, &as_discovered)?.qualified_plural(),
    };
    configs
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name.as_str()))
        .ok_or_else(|| {
            PluginError::NotFound(format!(
                "federation of {name} is not enabled (no FederatedTypeConfig {ns}/{name})"
            ))
        })
}

/// Whether the operator has stopped propagating a disabled type: `None` when no operator has
/// ever reported on the config (nothing to wait for), else whether it reports `NotRunning` for
/// the current generation.
pub fn sync_stopped(config: &FederatedTypeConfig) -> Option<bool> {
    let status = config.status.as_ref()?;
    let generation = config.metadata.generation.unwrap_or(0);
    Some(
        status.observed_generation >= generation
            && status.propagation_controller == ControllerStatus::NotRunning,
    )
}

/// How long `disable --delete-crd` waits for the sync controller to stop.
const SYNC_STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until the type's sync controller has stopped, so that deleting the CRD does not race
/// with a controller still acting on the federated objects.
async fn wait_for_sync_stop(
    configs: &Api<FederatedTypeConfig>,
    name: &str,
) -> Result<(), PluginError> {
    let deadline = Instant::now() + SYNC_STOP_TIMEOUT;
    let mut announced = false;
    loop {
        let config = configs
            .get(name)
            .await
            .map_err(|e| PluginError::api(format!("cannot read FederatedTypeConfig {name}"), &e))?;
        match sync_stopped(&config) {
            None | Some(true) => return Ok(()),
            Some(false) if Instant::now() >= deadline => {
                return Err(PluginError::Invalid(format!(
                    "the sync controller for {name} did not stop within {}s; the CRD was not deleted (is the operator running?)",
                    SYNC_STOP_TIMEOUT.as_secs()
                )));
            }
            Some(false) => {
                if !announced {
                    progress(format!("waiting for the sync controller of {name} to stop"));
                    announced = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

pub async fn run_disable(session: &Session, args: DisableArgs) -> Result<String, PluginError> {
    let host = session.host_client().await?;
    let config = find_type_config(session, &host, &args.type_name).await?;
    let ns = &session.namespace;
    let name = config.metadata.name.clone().unwrap_or_default();
    let crd_name = config.spec.federated_type.qualified_plural();
    if session.dry_run {
        let mut text = format!("would set propagation Disabled on FederatedTypeConfig {ns}/{name}");
        if args.delete_crd {
            text.push_str(&format!(
                "\nwould delete FederatedTypeConfig {ns}/{name} and CustomResourceDefinition {crd_name}"
            ));
        }
        return Ok(text);
    }
    let configs = Api::<FederatedTypeConfig>::namespaced(host.clone(), ns);
    if config.spec.propagation != ConfigurationMode::Disabled {
        configs
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"propagation": "Disabled"}})),
            )
            .await
            .map_err(|e| {
                PluginError::api(
                    format!("cannot disable FederatedTypeConfig {ns}/{name}"),
                    &e,
                )
            })?;
        progress(format!(
            "FederatedTypeConfig {ns}/{name}: propagation Disabled"
        ));
    } else {
        progress(format!(
            "FederatedTypeConfig {ns}/{name}: propagation already Disabled"
        ));
    }
    if args.delete_crd {
        wait_for_sync_stop(&configs, &name).await?;
        let deleted = delete(
            &Api::<CustomResourceDefinition>::all(host.clone()),
            &crd_name,
        )
        .await
        .map_err(|e| {
            PluginError::api(
                format!("cannot delete CustomResourceDefinition {crd_name}"),
                &e,
            )
        })?;
        progress(format!(
            "CustomResourceDefinition {crd_name} {}",
            if deleted { "deleted" } else { "already absent" }
        ));
        let deleted = delete(&configs, &name).await.map_err(|e| {
            PluginError::api(format!("cannot delete FederatedTypeConfig {ns}/{name}"), &e)
        })?;
        progress(format!(
            "FederatedTypeConfig {ns}/{name} {}",
            if deleted { "deleted" } else { "already absent" }
        ));
    }
    Ok(format!("federation of {name} disabled"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::Scope;
    use crate::crds::structural::crd_violations;

    fn api(group: &str, version: &str) -> FederatedApiOptions {
        FederatedApiOptions {
            federated_group: group.into(),
            federated_version: version.into(),
        }
    }

    fn widget() -> TargetType {
        TargetType {
            group: "example.com".into(),
            version: "v1alpha1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            scope: Scope::Namespaced,
            short_name: Some("wd".into()),
            has_replicas: false,
        }
    }

    #[test]
    fn custom_type_manifests() {
        let (crd, config) = enable_manifests(&widget(), &api("types.kubefed.io", "v1beta1"), "fed");
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("federatedwidgets.types.kubefed.io")
        );
        assert_eq!(crd.spec.names.kind, "FederatedWidget");
        assert_eq!(crd.spec.names.short_names, Some(vec!["fwd".to_string()]));
        assert!(crd_violations(&crd).is_empty());
        assert_eq!(config.metadata.name.as_deref(), Some("widgets.example.com"));
        assert_eq!(config.metadata.namespace.as_deref(), Some("fed"));
        assert_eq!(config.spec.propagation, ConfigurationMode::Enabled);
        assert_eq!(config.spec.federated_type.kind, "FederatedWidget");
        assert_eq!(config.spec.target_type.version, "v1alpha1");
        assert_eq!(
            config.spec.status_collection,
            Some(ConfigurationMode::Enabled)
        );
    }

    #[test]
    fn default_types_keep_their_status_collection() {
        let configmaps = default_target_types()
            .into_iter()
            .find(|d| d.target.plural == "configmaps")
            .unwrap();
        let (_, config) = enable_manifests(
            &configmaps.target,
            &api("types.kubefed.io", "v1beta1"),
            "fed",
        );
        assert_eq!(
            config.spec.status_collection,
            Some(ConfigurationMode::Disabled)
        );
    }

    #[test]
    fn federated_group_and_version_are_honoured() {
        let (crd, config) = enable_manifests(&widget(), &api("fed.example.org", "v1"), "fed");
        assert_eq!(crd.spec.group, "fed.example.org");
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("federatedwidgets.fed.example.org")
        );
        assert_eq!(crd.spec.versions[0].name, "v1");
        assert_eq!(
            config.spec.federated_type.api_version(),
            "fed.example.org/v1"
        );
        let values = manifest_values(&crd, &config).unwrap();
        assert_eq!(values[0]["kind"], "CustomResourceDefinition");
        assert_eq!(values[1]["kind"], "FederatedTypeConfig");
    }

    #[test]
    fn sync_stop_is_judged_from_status_and_generation() {
        let (_, mut config) =
            enable_manifests(&widget(), &api("types.kubefed.io", "v1beta1"), "fed");
        assert_eq!(sync_stopped(&config), None);
        config.metadata.generation = Some(2);
        config.status = Some(crate::crds::FederatedTypeConfigStatus {
            observed_generation: 1,
            propagation_controller: ControllerStatus::NotRunning,
            status_controller: None,
        });
        assert_eq!(sync_stopped(&config), Some(false));
        if let Some(status) = config.status.as_mut() {
            status.observed_generation = 2;
            status.propagation_controller = ControllerStatus::Running;
        }
        assert_eq!(sync_stopped(&config), Some(false));
        if let Some(status) = config.status.as_mut() {
            status.propagation_controller = ControllerStatus::NotRunning;
        }
        assert_eq!(sync_stopped(&config), Some(true));
    }

    #[test]
    fn federated_types_are_not_federated_again() {
        let discovered = vec![DiscoveredType {
            group: "types.kubefed.io".into(),
            version: "v1beta1".into(),
            kind: "FederatedDeployment".into(),
            plural: "federateddeployments".into(),
            singular: "federateddeployment".into(),
            ..Default::default()
        }];
        let err =
            resolve_target("federateddeployments", &discovered, "types.kubefed.io").unwrap_err();
        assert!(err.to_string().contains("already a federated type"));
    }
}
