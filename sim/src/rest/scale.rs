//! The `autoscaling/v1` Scale view of objects with a scale subresource.

use serde_json::{Value, json};

use crate::server::error::{ApiError, ApiResult};
use crate::server::meta;
use crate::server::resources::ResourceDef;

/// The `autoscaling/v1` Scale view of an object.
pub(super) fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let Some(sd) = &def.scale else {
        return json!({});
    };
    let md = meta::meta(obj).cloned().unwrap_or_default();
    let mut smeta = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = md.get(f) {
            smeta.insert(f.into(), v.clone());
        }
    }
    let replicas = meta::get_path(obj, &sd.spec_replicas_path)
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = meta::get_path(obj, &sd.status_replicas_path)
        .cloned()
        .unwrap_or(json!(0));
    let selector = sd
        .label_selector_path
        .as_deref()
        .and_then(|p| meta::get_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", meta::value_string(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
            _ => String::new(),
        });
    let mut status = json!({"replicas": status_replicas});
    if let Some(s) = selector {
        status["selector"] = json!(s);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": smeta,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// The object with `spec.replicas` taken from a (patched) Scale.
pub(super) fn apply_scale(def: &ResourceDef, current: &Value, scale: Value) -> ApiResult<Value> {
    let Some(sd) = &def.scale else {
        return Err(ApiError::NoRoute);
    };
    let replicas = scale
        .pointer("/spec/replicas")
        .filter(|v| v.is_i64() || v.is_u64())
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                meta::name(current),
                "spec.replicas: Required value",
            )
        })?;
    let mut next = current.clone();
    meta::set_path(&mut next, &sd.spec_replicas_path, replicas);
    if let Some(rv) = meta::meta_str(&scale, "resourceVersion") {
        meta::meta_mut(&mut next).insert("resourceVersion".into(), json!(rv));
    }
    Ok(next)
}
