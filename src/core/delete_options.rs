//! The `kubefed.io/deleteoption` annotation: DeleteOptions (JSON) used when deleting member
//! objects, e.g. `{"propagationPolicy": "Orphan"}` to keep a Deployment's ReplicaSets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use kube::api::{DeleteParams, PropagationPolicy};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeleteOptionError {
    #[error("annotation kubefed.io/deleteoption is not valid DeleteOptions JSON: {0}")]
    Json(String),
    #[error(
        "annotation kubefed.io/deleteoption: propagationPolicy {0:?} is not Orphan, Background or Foreground"
    )]
    Policy(String),
    #[error("annotation kubefed.io/deleteoption: gracePeriodSeconds must not be negative")]
    NegativeGrace,
}

/// Parses the annotation (absent = default options). Preconditions are not carried over: they
/// name the federated object, not the member objects.
pub fn delete_params(annotation: Option<&str>) -> Result<DeleteParams, DeleteOptionError> {
    let Some(raw) = annotation.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DeleteParams::default());
    };
    let options: DeleteOptions =
        serde_json::from_str(raw).map_err(|e| DeleteOptionError::Json(e.to_string()))?;
    let propagation_policy = match options.propagation_policy.as_deref() {
        None => None,
        Some("Orphan") => Some(PropagationPolicy::Orphan),
        Some("Background") => Some(PropagationPolicy::Background),
        Some("Foreground") => Some(PropagationPolicy::Foreground),
        Some(other) => return Err(DeleteOptionError::Policy(other.to_string())),
    };
    let grace_period_seconds = match options.grace_period_seconds {
        None => None,
        Some(s) => Some(u32::try_from(s).map_err(|_| DeleteOptionError::NegativeGrace)?),
    };
    Ok(DeleteParams {
        dry_run: false,
        grace_period_seconds,
        propagation_policy,
        preconditions: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_empty_means_defaults() {
        assert_eq!(delete_params(None).unwrap(), DeleteParams::default());
        assert_eq!(delete_params(Some(" ")).unwrap(), DeleteParams::default());
    }

    #[test]
    fn policy_and_grace_are_carried_over() {
        let p = delete_params(Some(
            r#"{"propagationPolicy":"Orphan","gracePeriodSeconds":5}"#,
        ))
        .unwrap();
        assert_eq!(p.propagation_policy, Some(PropagationPolicy::Orphan));
        assert_eq!(p.grace_period_seconds, Some(5));
    }

    #[test]
    fn bad_values_are_named() {
        assert!(matches!(
            delete_params(Some("{not json")),
            Err(DeleteOptionError::Json(_))
        ));
        assert_eq!(
            delete_params(Some(r#"{"propagationPolicy":"Later"}"#)),
            Err(DeleteOptionError::Policy("Later".into()))
        );
        assert_eq!(
            delete_params(Some(r#"{"gracePeriodSeconds":-1}"#)),
            Err(DeleteOptionError::NegativeGrace)
        );
    }
}
