//! `kubectl fed pause` / `resume`: the `kubefed.io/paused` annotation of a federated object.
//! While it is `"true"` the operator writes nothing to member clusters for the object (no
//! creation, update, drift repair or deletion) and keeps collecting its status.

use kube::api::{Patch, PatchParams};

use super::orphaning::{FoundObject, annotation_patch, get_federated};
use super::{FederatedGroupOption, PluginError, Session, kind_and_name, progress};
use crate::crds::federated::PAUSED_ANNOTATION;

pub const PAUSE_EXAMPLES: &str = "\
Examples:
  # Stop every member write for FederatedDeployment web (status is still collected)
  kubectl fed pause federateddeployment/web -n demo

  # The target type works too
  kubectl fed pause deployment/web -n demo";

pub const RESUME_EXAMPLES: &str = "\
Examples:
  # Reconcile FederatedDeployment web again, at once
  kubectl fed resume federateddeployment/web -n demo";

#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// A federated object as `KIND/NAME` (KIND may also be the target type, e.g. `deployment/web`).
    #[arg(value_name = "KIND/NAME")]
    pub object: String,
    /// Namespace of the object (default: the host context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub api: FederatedGroupOption,
}

/// Whether annotations say the object is paused (exactly `"true"`, as the operator reads it).
pub fn is_paused(annotations: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    annotations
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// What the command prints: the object is now (or already was) in the wanted state.
pub fn outcome(label: &str, pause: bool, changed: bool, dry_run: bool) -> String {
    match (pause, changed, dry_run) {
        (true, false, _) => format!("{label} is already paused"),
        (false, false, _) => format!("{label} is not paused"),
        (true, true, true) => format!("would pause {label}"),
        (false, true, true) => format!("would resume {label}"),
        (true, true, false) => format!(
            "{label} paused: no member cluster is written to for it until `kubectl fed resume`; its status is still collected"
        ),
        (false, true, false) => format!("{label} resumed: the operator reconciles it now"),
    }
}

pub async fn run(session: &Session, args: PauseArgs, pause: bool) -> Result<String, PluginError> {
    let (kind, name) = kind_and_name(&args.object)?;
    let host = session.host_client().await?;
    let FoundObject {
        api, object, label, ..
    } = get_federated(
        &host,
        session,
        kind,
        name,
        args.namespace.as_deref(),
        &args.api.federated_group,
    )
    .await?;
    let changed = is_paused(object.metadata.annotations.as_ref()) != pause;
    if changed && !session.dry_run {
        let value = pause.then_some("true");
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(annotation_patch(PAUSED_ANNOTATION, value)),
        )
        .await
        .map_err(|e| PluginError::api(format!("cannot update {label}"), &e))?;
        progress(format!("{label} annotated"));
    }
    Ok(outcome(&label, pause, changed, session.dry_run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn reads_the_annotation_strictly() {
        let with = |v: &str| BTreeMap::from([(PAUSED_ANNOTATION.to_string(), v.to_string())]);
        assert!(!is_paused(None));
        assert!(!is_paused(Some(&with("True"))));
        assert!(is_paused(Some(&with("true"))));
    }

    #[test]
    fn patches_set_and_remove_the_annotation() {
        assert_eq!(
            annotation_patch(PAUSED_ANNOTATION, Some("true")),
            json!({"metadata": {"annotations": {"kubefed.io/paused": "true"}}})
        );
        assert_eq!(
            annotation_patch(PAUSED_ANNOTATION, None),
            json!({"metadata": {"annotations": {"kubefed.io/paused": null}}})
        );
    }

    #[test]
    fn outcomes_say_what_happened() {
        let l = "FederatedDeployment \"web\"";
        assert_eq!(
            outcome(l, true, false, false),
            format!("{l} is already paused")
        );
        assert_eq!(outcome(l, false, true, true), format!("would resume {l}"));
        assert!(outcome(l, true, true, false).contains("status is still collected"));
        assert!(outcome(l, false, true, false).ends_with("reconciles it now"));
    }
}
