//! The few built-in validations of the real API server that clients depend on: a workload's
//! selector is required and must match its pod template labels. Anything else is accepted.

use crate::server::error::ApiError;
use crate::server::meta;
use serde_json::Value;

/// Validates apps/v1 Deployments and ReplicaSets the way the API server does, with its
/// messages (`spec.selector: Required value`, `spec.template.metadata.labels: Invalid value`).
pub fn workload(group: &str, kind: &str, obj: &Value) -> Result<(), ApiError> {
    let name = meta::name(obj);
    let invalid = |msg: String| Err(ApiError::invalid(group, kind, name, msg));
    let Some(selector) = meta::get_path(obj, "spec.selector").and_then(Value::as_object) else {
        return invalid("spec.selector: Required value".into());
    };
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let has_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty());
    if match_labels.is_none_or(|m| m.is_empty()) && !has_expressions {
        return invalid(
            "spec.selector: Invalid value: \"null\": empty selector is invalid for deployment"
                .into(),
        );
    }
    let labels = meta::get_path(obj, "spec.template.metadata.labels").and_then(Value::as_object);
    if let Some(wanted) = match_labels {
        let matches = wanted
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            return invalid(format!(
                "spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
                labels.map_or("null".to_string(), |l| Value::Object(l.clone()).to_string())
            ));
        }
    }
    Ok(())
}
