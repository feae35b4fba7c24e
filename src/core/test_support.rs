//! Fixtures shared by the core's table tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::observation::{CacheState, MemberObject, MemberView, Reachability, StatusCollection};
use super::plan::{PlanSettings, TargetInfo};
use crate::crds::Scope;
use crate::crds::federated::AggregateKind;

/// Cluster scope, adoption on, ConfigMaps.
pub fn configmap_settings() -> PlanSettings {
    PlanSettings {
        scope: Scope::Cluster,
        federation_namespace: "kube-federation-system".into(),
        adopt_resources: true,
        target: TargetInfo {
            group: String::new(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            resource: "configmaps".into(),
            namespaced: true,
        },
        aggregate: AggregateKind::Other,
    }
}

/// A member with `labels` whose cache of the type is synced and holds `object`.
pub fn member_view(
    labels: &[(&str, &str)],
    reachability: Reachability,
    object: Option<Value>,
) -> MemberView {
    MemberView {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        reachability,
        is_host: false,
        cache: CacheState::Synced,
        object: object.map(|o| {
            Arc::new(MemberObject::from_object(
                &o,
                StatusCollection {
                    collect: false,
                    kind: AggregateKind::Other,
                },
            ))
        }),
    }
}
