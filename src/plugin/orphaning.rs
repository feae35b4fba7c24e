//! `kubectl fed orphaning-deletion`: the `kubefed.io/orphan` annotation of a federated object,
//! which makes deleting it leave the member objects in place.

use std::collections::BTreeMap;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::types::{self, DiscoveredType};
use super::{FederatedGroupOption, PluginError, Session, enable, progress};
use crate::crds::federated::ORPHAN_ANNOTATION;

pub const EXAMPLES: &str = "\
Examples:
  # Keep the member Deployments when FederatedDeployment web is deleted
  kubectl fed orphaning-deletion enable federateddeployment web -n demo

  # The target type works too
  kubectl fed orphaning-deletion status deployment web -n demo

  # Delete member objects with the federated object again (the default)
  kubectl fed orphaning-deletion disable FederatedDeployment web -n demo";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OrphaningAction {
    /// Set `kubefed.io/orphan: "true"`.
    Enable,
    /// Remove the annotation.
    Disable,
    /// Print `Enabled` or `Disabled`, as kubefedctl does.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct OrphaningArgs {
    /// What to do.
    #[arg(value_enum)]
    pub action: OrphaningAction,
    /// Federated type (`federateddeployment`, `FederatedDeployment`, `fdeploy`) or its target
    /// type (`deployment`).
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// Name of the federated object.
    pub name: String,
    /// Namespace of the federated object (default: the host context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub api: FederatedGroupOption,
}

/// Whether orphaning deletion is on, as KubeFed reads the annotation (exactly `"true"`).
pub fn is_orphaning(annotations: Option<&BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|a| a.get(ORPHAN_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// What `orphaning-deletion status` prints.
pub fn status_word(orphaning: bool) -> &'static str {
    if orphaning { "Enabled" } else { "Disabled" }
}

/// The merge patch setting annotation `key` to `value`, or removing it.
pub fn annotation_patch(key: &str, value: Option<&str>) -> Value {
    json!({ "metadata": { "annotations": { key: value } } })
}

/// The merge patch switching orphaning deletion on or off.
pub fn orphan_patch(enable: bool) -> Value {
    annotation_patch(ORPHAN_ANNOTATION, enable.then_some("true"))
}

/// Resolves a federated type by discovery on the host.
pub async fn federated_api(
    host: &Client,
    session: &Session,
    kind: &str,
    namespace: Option<&str>,
    federated_group: &str,
) -> Result<(DiscoveredType, Api<DynamicObject>), PluginError> {
    let discovered = enable::discover(host).await?;
    let found = types::resolve_federated(kind, &discovered, federated_group)?.clone();
    let client_api = if found.namespaced {
        Api::namespaced_with(
            host.clone(),
            &session.object_namespace(namespace),
            &found.dynamic(),
        )
    } else {
        Api::all_with(host.clone(), &found.dynamic())
    };
    Ok((found, client_api))
}

/// A federated object read from the host: its type, the API it lives in, and the object.
pub struct FoundObject {
    pub kind: DiscoveredType,
    pub api: Api<DynamicObject>,
    pub object: DynamicObject,
    /// `FederatedDeployment "web"`, for messages.
    pub label: String,
}

/// Reads the federated object `name` of type `kind` (a federated type or its target).
pub async fn get_federated(
    host: &Client,
    session: &Session,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    federated_group: &str,
) -> Result<FoundObject, PluginError> {
    let (found, api) = federated_api(host, session, kind, namespace, federated_group).await?;
    let label = format!("{} {name:?}", found.kind);
    let object = api
        .get(name)
        .await
        .map_err(|e| PluginError::api(format!("cannot get {label}"), &e))?;
    Ok(FoundObject {
        kind: found,
        api,
        object,
        label,
    })
}

pub async fn run(session: &Session, args: OrphaningArgs) -> Result<String, PluginError> {
    let host = session.host_client().await?;
    let FoundObject {
        api, object, label, ..
    } = get_federated(
        &host,
        session,
        &args.kind,
        &args.name,
        args.namespace.as_deref(),
        &args.api.federated_group,
    )
    .await?;
    let current = is_orphaning(object.metadata.annotations.as_ref());
    let state = |on: bool| if on { "enabled" } else { "disabled" };
    let wanted = match args.action {
        // The bare word, so scripts written for kubefedctl can compare it.
        OrphaningAction::Status => return Ok(status_word(current).to_string()),
        OrphaningAction::Enable => true,
        OrphaningAction::Disable => false,
    };
    if current == wanted {
        return Ok(format!(
            "orphaning deletion is already {} for {label}",
            state(wanted)
        ));
    }
    if session.dry_run {
        return Ok(format!(
            "would {} orphaning deletion for {label}",
            if wanted { "enable" } else { "disable" }
        ));
    }
    api.patch(
        &args.name,
        &PatchParams::default(),
        &Patch::Merge(orphan_patch(wanted)),
    )
    .await
    .map_err(|e| PluginError::api(format!("cannot update {label}"), &e))?;
    progress(format!("{label} annotated"));
    Ok(format!("orphaning deletion {} for {label}", state(wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_annotation_strictly() {
        let mut annotations = BTreeMap::new();
        assert!(!is_orphaning(None));
        assert!(!is_orphaning(Some(&annotations)));
        annotations.insert(ORPHAN_ANNOTATION.to_string(), "True".to_string());
        assert!(!is_orphaning(Some(&annotations)));
        annotations.insert(ORPHAN_ANNOTATION.to_string(), "true".to_string());
        assert!(is_orphaning(Some(&annotations)));
    }

    #[test]
    fn status_prints_kubefedctl_words() {
        assert_eq!(status_word(true), "Enabled");
        assert_eq!(status_word(false), "Disabled");
    }

    #[test]
    fn patches_set_and_remove() {
        assert_eq!(
            orphan_patch(true),
            json!({"metadata": {"annotations": {"kubefed.io/orphan": "true"}}})
        );
        assert_eq!(
            orphan_patch(false),
            json!({"metadata": {"annotations": {"kubefed.io/orphan": null}}})
        );
    }
}
