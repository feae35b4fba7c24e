//! `kubectl fed enable` / `disable`: the Federated<Kind> CRD and FederatedTypeConfig of a type.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::apply::{covers_serialized, delete, ensure};
use super::rbac::{self, RbacMode};
use super::types::{self, DiscoveredType};
use super::{
    FederatedApiOptions, OutputFormat, PluginError, Session, kubeconfig, progress, render_yaml,
};
use crate::crds::KubeFedCluster;
use crate::crds::federated::{FEDERATED_GROUP, FEDERATED_VERSION};
use crate::crds::manifests::default_type_config;
use crate::crds::target_type::default_status_collection;
use crate::crds::{
    ConfigurationMode, ControllerStatus, DefaultTargetType, FederatedCrdOptions,
    FederatedTypeConfig, TargetType, federated_crd,
};

pub const ENABLE_EXAMPLES: &str = "\
Examples:
  # Federate Deployments (resource name, short name, kind or kind.group all work)
  kubectl fed enable deployments.apps

  # Federate a custom resource
  kubectl fed enable widgets.example.com

  # Print the CRD and FederatedTypeConfig instead of creating them
  kubectl fed enable deploy -o yaml

  # A given version of the target type, federated in another API group (kubefedctl flags)
  kubectl fed enable deployments.example.com --version v1beta1 --federated-group kubefed.example.com

  # Read the type from a kubefedctl EnableTypeDirective file
  kubectl fed enable -f deployment.yaml";

pub const DISABLE_EXAMPLES: &str = "\
Examples:
  # Stop propagating Deployments (federated objects stay)
  kubectl fed disable deployments.apps

  # Also delete the FederatedDeployment CRD (and with it every FederatedDeployment)
  kubectl fed disable deployments.apps --delete-crd

  # Delete a federated CRD in another group whose FederatedTypeConfig is already gone
  kubectl fed disable deployments.example.com --delete-crd --federated-group kubefed.example.com";

#[derive(Debug, clap::Args)]
pub struct EnableArgs {
    /// The type to federate: resource name, short name, kind, or `<resource>.<group>`.
    #[arg(value_name = "TYPE", required_unless_present = "filename")]
    pub type_name: Option<String>,
    /// API version of the target type (default: the version the server prefers).
    #[arg(long = "version", value_name = "VERSION")]
    pub target_version: Option<String>,
    #[command(flatten)]
    pub api: FederatedApiOptions,
    /// Print the CRD and FederatedTypeConfig instead of applying them.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// Read the type from a kubefedctl `EnableTypeDirective` YAML file (`metadata.name`, and
    /// `spec.targetVersion`, `spec.federatedGroup`, `spec.federatedVersion`); only
    /// `--output` may be given with it.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with_all = ["type_name", "target_version", "federated_group", "federated_version"]
    )]
    pub filename: Option<String>,
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
    /// API group of the federated CRD to delete when the FederatedTypeConfig no longer exists
    /// (only with --delete-crd).
    #[arg(long, default_value = FEDERATED_GROUP, value_name = "GROUP")]
    pub federated_group: String,
    /// API version of the target type, to find it when the FederatedTypeConfig no longer
    /// exists (only with --delete-crd).
    #[arg(long = "version", value_name = "VERSION")]
    pub target_version: Option<String>,
}

/// What to enable, from the command line or an `EnableTypeDirective` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnableRequest {
    pub type_name: String,
    pub target_version: Option<String>,
    pub api: FederatedApiOptions,
}

impl EnableRequest {
    /// Reads the request from the arguments, or from the file they name.
    pub fn from_args(args: &EnableArgs) -> Result<Self, PluginError> {
        match &args.filename {
            Some(path) => directive_from_yaml(&super::read_input(path)?),
            None => Ok(EnableRequest {
                type_name: args.type_name.clone().unwrap_or_default(),
                target_version: args.target_version.clone(),
                api: args.api.clone(),
            }),
        }
    }
}

/// Parses kubefedctl's `EnableTypeDirective`; missing spec fields take the defaults.
pub fn directive_from_yaml(text: &str) -> Result<EnableRequest, PluginError> {
    let value: Value = serde_saphyr::from_str(text)
        .map_err(|e| PluginError::Invalid(format!("invalid EnableTypeDirective YAML: {e}")))?;
    let field = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let type_name = field("/metadata/name").ok_or_else(|| {
        PluginError::Invalid(
            "the EnableTypeDirective has no metadata.name (the type to enable)".to_string(),
        )
    })?;
    Ok(EnableRequest {
        type_name,
        target_version: field("/spec/targetVersion"),
        api: FederatedApiOptions {
            federated_group: field("/spec/federatedGroup")
                .unwrap_or_else(|| FEDERATED_GROUP.to_string()),
            federated_version: field("/spec/federatedVersion")
                .unwrap_or_else(|| FEDERATED_VERSION.to_string()),
        },
    })
}

/// The CRD and FederatedTypeConfig enabling `target`. The 10 default types keep their default
/// status collection; any other type collects status, since the member watch it needs exists
/// for propagation anyway.
pub fn enable_manifests(
    target: &TargetType,
    api: &FederatedApiOptions,
    namespace: &str,
) -> (CustomResourceDefinition, FederatedTypeConfig) {
    let default = DefaultTargetType {
        target: target.clone(),
        status_collection: default_status_collection(target),
    };
    let mut config = default_type_config(&default, namespace);
    config.spec.federated_type.group = api.federated_group.clone();
    config.spec.federated_type.version = api.federated_version.clone();

    let mut crd = federated_crd(target, &FederatedCrdOptions::for_target(target));
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

/// The type `query` names, in `version` when one is asked for (discovery lists preferred
/// versions only, so another version is looked up in its own group version).
pub async fn resolve_versioned(
    host: &Client,
    discovered: &[DiscoveredType],
    query: &str,
    version: Option<&str>,
) -> Result<DiscoveredType, PluginError> {
    let found = types::resolve(query, discovered)?.clone();
    let Some(version) = version.filter(|v| *v != found.version) else {
        return Ok(found);
    };
    let group_version = if found.group.is_empty() {
        version.to_string()
    } else {
        format!("{}/{version}", found.group)
    };
    let not_served = || {
        PluginError::NotFound(format!(
            "version {version:?} of {} is not served (preferred version: {})",
            found.qualified_plural(),
            found.version
        ))
    };
    let list = if found.group.is_empty() {
        host.list_core_api_resources(version).await
    } else {
        host.list_api_group_resources(&group_version).await
    };
    match list {
        Ok(list) => types::from_resource_list(&list)
            .into_iter()
            .find(|t| t.plural == found.plural)
            .ok_or_else(not_served),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(not_served()),
        Err(e) => Err(PluginError::api(
            format!("cannot discover {group_version}"),
            &e,
        )),
    }
}

/// Members joined `--rbac minimal` whose recorded grant does not cover `type_config_name`,
/// with the command that grants it. `clusters` are KubeFedCluster objects as JSON.
pub fn members_lacking(
    clusters: &[Value],
    type_config_name: &str,
    context_of: impl Fn(&str) -> Option<String>,
    host_context: &str,
) -> Vec<(String, String)> {
    let mut lacking: Vec<(String, String)> = clusters
        .iter()
        .filter_map(|cluster| {
            let annotations = cluster.pointer("/metadata/annotations");
            let annotation = |key: &str| annotations?.get(key)?.as_str();
            if annotation(rbac::RBAC_ANNOTATION) != Some(RbacMode::Minimal.as_str()) {
                return None;
            }
            let granted = annotation(rbac::RBAC_TYPES_ANNOTATION).unwrap_or_default();
            if rbac::annotation_grants(granted, type_config_name) {
                return None;
            }
            let name = cluster.pointer("/metadata/name")?.as_str()?.to_string();
            let endpoint = cluster
                .pointer("/spec/apiEndpoint")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let context = context_of(endpoint).unwrap_or_else(|| format!("<context of {name}>"));
            let command = format!(
                "kubectl fed join {name} --cluster-context {context} --host-cluster-context {host_context} --rbac minimal"
            );
            Some((name, command))
        })
        .collect();
    lacking.sort();
    lacking
}

/// The closing note of `enable`: which minimal members cannot serve the type yet, and how to
/// fix each. Empty when there are none.
pub fn lacking_note(type_config_name: &str, lacking: &[(String, String)]) -> String {
    if lacking.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = lacking.iter().map(|(name, _)| name.as_str()).collect();
    let mut note = format!(
        "warning: joined with --rbac minimal and not granted {type_config_name} yet: {}. Grant it by re-running join:",
        names.join(", ")
    );
    for (_, command) in lacking {
        note.push_str("\n  ");
        note.push_str(command);
    }
    note
}

/// [`lacking_note`] for the members registered on the host.
pub async fn lacking_members_note(
    session: &Session,
    host: &Client,
    type_config_name: &str,
) -> Result<String, PluginError> {
    let clusters = list_clusters(host, &session.namespace).await?;
    let lacking = members_lacking(
        &clusters,
        type_config_name,
        |server| kubeconfig::context_for_server(&session.kubeconfig, server),
        &session.host_context,
    );
    Ok(lacking_note(type_config_name, &lacking))
}

/// Reads the KubeFedClusters as JSON (their status may carry conditions of newer operators).
pub async fn list_clusters(host: &Client, namespace: &str) -> Result<Vec<Value>, PluginError> {
    let resource = kube::core::ApiResource::erase::<KubeFedCluster>(&());
    let list = Api::<DynamicObject>::namespaced_with(host.clone(), namespace, &resource)
        .list(&Default::default())
        .await
        .map_err(|e| PluginError::api(format!("cannot list KubeFedClusters in {namespace}"), &e))?;
    list.items
        .iter()
        .map(|c| serde_json::to_value(c).map_err(|e| PluginError::Render(e.to_string())))
        .collect()
}

/// How long `enable` waits for the API server to establish a new federated CRD.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until the API server serves the federated CRD in discovery, so that a `kubectl apply`
/// of federated objects right after `enable` finds the kind (servers establish a new CRD a
/// moment after accepting it).
async fn wait_established(host: &Client, crd_name: &str) -> Result<(), PluginError> {
    let crds = Api::<CustomResourceDefinition>::all(host.clone());
    let established = await_condition(crds.clone(), crd_name, conditions::is_crd_established());
    match tokio::time::timeout(ESTABLISH_TIMEOUT, established).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(PluginError::Api {
            action: format!("cannot watch CustomResourceDefinition {crd_name}"),
            message: err.to_string(),
        }),
        Err(_) => {
            // Say why, from the CRD's own conditions (e.g. NamesAccepted=False on a name clash).
            let why = crds
                .get_opt(crd_name)
                .await
                .ok()
                .flatten()
                .and_then(|crd| crd.status)
                .and_then(|status| status.conditions)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.status != "True")
                .map(|c| {
                    format!(
                        "{}={} ({})",
                        c.type_,
                        c.status,
                        c.message.unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            Err(PluginError::Api {
                action: format!(
                    "CustomResourceDefinition {crd_name} was not established within {}s",
                    ESTABLISH_TIMEOUT.as_secs()
                ),
                message: if why.is_empty() {
                    "no conditions reported".into()
                } else {
                    why
                },
            })
        }
    }
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
    wait_established(host, &crd_name).await?;

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
    let request = EnableRequest::from_args(&args)?;
    let host = session.host_client().await?;
    let discovered = discover(&host).await?;
    resolve_target(
        &request.type_name,
        &discovered,
        &request.api.federated_group,
    )?;
    let found = resolve_versioned(
        &host,
        &discovered,
        &request.type_name,
        request.target_version.as_deref(),
    )
    .await?;
    let target = found.target_type();
    let (crd, config) = enable_manifests(&target, &request.api, &session.namespace);
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
    let done = format!(
        "federation of {} enabled (federated type {})",
        target.type_config_name(),
        target.federated_kind()
    );
    let note = lacking_members_note(session, &host, &target.type_config_name()).await?;
    Ok(if note.is_empty() {
        done
    } else {
        format!("{done}\n{note}")
    })
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

/// kubefedctl's rule: `--version` and `--federated-group` only mean something with
/// `--delete-crd`.
pub fn check_disable_args(args: &DisableArgs) -> Result<(), PluginError> {
    if !args.delete_crd
        && (args.target_version.is_some() || args.federated_group != FEDERATED_GROUP)
    {
        return Err(PluginError::Invalid(
            "--version and --federated-group are only valid with --delete-crd".to_string(),
        ));
    }
    Ok(())
}

/// `disable --delete-crd` of a type without FederatedTypeConfig: the federated CRD is found
/// from the target type (in `--version`) and `--federated-group`, as kubefedctl did.
async fn delete_orphaned_crd(
    session: &Session,
    host: &Client,
    args: &DisableArgs,
    not_found: String,
) -> Result<String, PluginError> {
    progress(not_found);
    let discovered = discover(host).await?;
    let found = resolve_versioned(
        host,
        &discovered,
        &args.type_name,
        args.target_version.as_deref(),
    )
    .await?;
    let crd_name = format!(
        "{}.{}",
        found.target_type().federated_plural(),
        args.federated_group
    );
    if session.dry_run {
        return Ok(format!("would delete CustomResourceDefinition {crd_name}"));
    }
    delete_crd(host, &crd_name).await
}

/// Deletes a CRD, saying whether it was there.
async fn delete_crd(host: &Client, crd_name: &str) -> Result<String, PluginError> {
    let deleted = delete(
        &Api::<CustomResourceDefinition>::all(host.clone()),
        crd_name,
    )
    .await
    .map_err(|e| {
        PluginError::api(
            format!("cannot delete CustomResourceDefinition {crd_name}"),
            &e,
        )
    })?;
    Ok(format!(
        "CustomResourceDefinition {crd_name} {}",
        if deleted { "deleted" } else { "already absent" }
    ))
}

pub async fn run_disable(session: &Session, args: DisableArgs) -> Result<String, PluginError> {
    check_disable_args(&args)?;
    let host = session.host_client().await?;
    let config = match find_type_config(session, &host, &args.type_name).await {
        Ok(config) => config,
        Err(PluginError::NotFound(message)) if args.delete_crd => {
            return delete_orphaned_crd(session, &host, &args, message).await;
        }
        Err(err) => return Err(err),
    };
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
        progress(delete_crd(&host, &crd_name).await?);
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
    use crate::crds::structural::crd_violations;
    use crate::crds::{Scope, default_target_types};

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
    fn enable_type_directives_are_read_like_kubefedctl() {
        let full = "apiVersion: core.kubefed.io/v1beta1\nkind: EnableTypeDirective\nmetadata:\n  name: deployments.example.com\nspec:\n  targetVersion: v1beta1\n  federatedGroup: kubefed.example.com\n  federatedVersion: v1\n";
        assert_eq!(
            directive_from_yaml(full).unwrap(),
            EnableRequest {
                type_name: "deployments.example.com".into(),
                target_version: Some("v1beta1".into()),
                api: api("kubefed.example.com", "v1"),
            }
        );
        let bare = "kind: EnableTypeDirective\nmetadata: {name: deployments.apps}\n";
        assert_eq!(
            directive_from_yaml(bare).unwrap(),
            EnableRequest {
                type_name: "deployments.apps".into(),
                target_version: None,
                api: api("types.kubefed.io", "v1beta1"),
            }
        );
        let err = directive_from_yaml("kind: EnableTypeDirective\nspec: {}\n").unwrap_err();
        assert!(err.to_string().contains("metadata.name"), "{err}");
    }

    #[test]
    fn disable_flags_for_the_crd_need_delete_crd() {
        let args = |delete_crd: bool, group: &str, version: Option<&str>| DisableArgs {
            type_name: "deployments.apps".into(),
            delete_crd,
            federated_group: group.into(),
            target_version: version.map(str::to_string),
        };
        assert!(check_disable_args(&args(false, FEDERATED_GROUP, None)).is_ok());
        assert!(check_disable_args(&args(true, "kubefed.example.com", Some("v1"))).is_ok());
        assert!(check_disable_args(&args(false, "kubefed.example.com", None)).is_err());
        let err = check_disable_args(&args(false, FEDERATED_GROUP, Some("v1"))).unwrap_err();
        assert!(err.to_string().contains("--delete-crd"), "{err}");
    }

    fn cluster(name: &str, endpoint: &str, annotations: Value) -> Value {
        json!({"metadata": {"name": name, "annotations": annotations},
               "spec": {"apiEndpoint": endpoint}})
    }

    #[test]
    fn enable_names_the_minimal_members_without_the_type() {
        let clusters = vec![
            cluster("full", "https://f", json!({"kubefed.io/rbac": "full"})),
            cluster("old", "https://o", json!({})),
            cluster(
                "has-it",
                "https://h",
                json!({"kubefed.io/rbac": "minimal", "kubefed.io/rbac-types": "configmaps,widgets.example.com"}),
            ),
            cluster(
                "m2",
                "https://m2",
                json!({"kubefed.io/rbac": "minimal", "kubefed.io/rbac-types": "configmaps"}),
            ),
            cluster("m1", "https://m1", json!({"kubefed.io/rbac": "minimal"})),
        ];
        let context_of = |server: &str| (server == "https://m1").then(|| "kind-m1".to_string());
        let lacking = members_lacking(&clusters, "widgets.example.com", context_of, "kind-host");
        assert_eq!(
            lacking,
            vec![
                (
                    "m1".to_string(),
                    "kubectl fed join m1 --cluster-context kind-m1 --host-cluster-context kind-host --rbac minimal".to_string()
                ),
                (
                    "m2".to_string(),
                    "kubectl fed join m2 --cluster-context <context of m2> --host-cluster-context kind-host --rbac minimal".to_string()
                ),
            ]
        );
        assert_eq!(
            lacking_note("widgets.example.com", &lacking),
            "warning: joined with --rbac minimal and not granted widgets.example.com yet: m1, m2. Grant it by re-running join:\n  \
             kubectl fed join m1 --cluster-context kind-m1 --host-cluster-context kind-host --rbac minimal\n  \
             kubectl fed join m2 --cluster-context <context of m2> --host-cluster-context kind-host --rbac minimal"
        );
        assert_eq!(lacking_note("configmaps", &[]), "");
        assert!(members_lacking(&clusters, "configmaps", |_| None, "h").len() == 1);
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
