//! API discovery and resolving a user's type name (`deploy`, `deployments`, `Deployment`,
//! `deployments.apps`, `federateddeployment`, …) to one served type. Resolution is pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::discovery::ApiResource as DynamicResource;

use crate::crds::{Scope, TargetType};

/// One resource served by an API server, in its preferred version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveredType {
    /// API group; empty for the core group.
    pub group: String,
    /// The preferred version.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Short names, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether the resource has a `scale` subresource.
    pub has_scale: bool,
}

impl DiscoveredType {
    /// `plural[.group]`.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The type as the source of a `Federated<Kind>`. `has_replicas` (which adds
    /// `spec.retainReplicas`) holds for Deployment and ReplicaSet, as in KubeFed, and for any
    /// type with a `scale` subresource, which is how a type declares an int32 `spec.replicas`.
    pub fn target_type(&self) -> TargetType {
        let workload =
            self.group == "apps" && (self.kind == "Deployment" || self.kind == "ReplicaSet");
        TargetType {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            scope: if self.namespaced {
                Scope::Namespaced
            } else {
                Scope::Cluster
            },
            short_name: self.short_names.first().cloned(),
            has_replicas: workload || self.has_scale,
        }
    }

    /// The type for `kube::Api<DynamicObject>`.
    pub fn dynamic(&self) -> DynamicResource {
        DynamicResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }
}

/// Why a type name did not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("the server doesn't have a resource type {0:?}")]
    Unknown(String),
    #[error("{query:?} is ambiguous, use one of: {candidates}")]
    Ambiguous { query: String, candidates: String },
    #[error(
        "{query:?} ({kind}) has no federated type {federated_kind}; enable it first with `kubectl fed enable {query}`"
    )]
    NotFederated {
        query: String,
        kind: String,
        federated_kind: String,
    },
}

/// The resources of one discovery document, without subresources.
pub fn from_resource_list(list: &APIResourceList) -> Vec<DiscoveredType> {
    let (group, version) = match list.group_version.split_once('/') {
        Some((group, version)) => (group.to_string(), version.to_string()),
        None => (String::new(), list.group_version.clone()),
    };
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| DiscoveredType {
            group: group.clone(),
            version: version.clone(),
            kind: r.kind.clone(),
            plural: r.name.clone(),
            singular: if r.singular_name.is_empty() {
                r.kind.to_lowercase()
            } else {
                r.singular_name.clone()
            },
            short_names: r.short_names.clone().unwrap_or_default(),
            namespaced: r.namespaced,
            has_scale: list
                .resources
                .iter()
                .any(|sub| sub.name == format!("{}/scale", r.name)),
        })
        .collect()
}

fn matches_name(t: &DiscoveredType, name: &str) -> bool {
    t.plural.eq_ignore_ascii_case(name)
        || t.singular.eq_ignore_ascii_case(name)
        || t.kind.eq_ignore_ascii_case(name)
        || t.short_names.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Resolves `name`, `name.group` (name being plural, singular, kind or short name) as kubectl
/// does. When a bare name matches in several groups, the core group wins; otherwise the user
/// has to qualify it.
pub fn resolve<'a>(
    query: &str,
    types: &'a [DiscoveredType],
) -> Result<&'a DiscoveredType, ResolveError> {
    let query = query.trim();
    if let Some((name, group)) = query.split_once('.')
        && let Some(found) = types
            .iter()
            .find(|t| t.group.eq_ignore_ascii_case(group) && matches_name(t, name))
    {
        return Ok(found);
    }
    let candidates: Vec<&DiscoveredType> =
        types.iter().filter(|t| matches_name(t, query)).collect();
    match candidates.as_slice() {
        [] => Err(ResolveError::Unknown(query.to_string())),
        [one] => Ok(one),
        many => match many
            .iter()
            .filter(|t| t.group.is_empty())
            .collect::<Vec<_>>()[..]
        {
            [core] => Ok(core),
            _ => Err(ResolveError::Ambiguous {
                query: query.to_string(),
                candidates: many
                    .iter()
                    .map(|t| t.qualified_plural())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        },
    }
}

/// Resolves `query` to a federated type in `federated_group`: either the federated type itself
/// (`federateddeployments`, `FederatedDeployment`, `fdeploy`) or its target (`deployment`).
pub fn resolve_federated<'a>(
    query: &str,
    types: &'a [DiscoveredType],
    federated_group: &str,
) -> Result<&'a DiscoveredType, ResolveError> {
    let found = resolve(query, types)?;
    if found.group == federated_group && found.kind.starts_with("Federated") {
        return Ok(found);
    }
    let federated_kind = format!("Federated{}", found.kind);
    types
        .iter()
        .find(|t| t.group == federated_group && t.kind == federated_kind)
        .ok_or_else(|| ResolveError::NotFederated {
            query: query.to_string(),
            kind: found.kind.clone(),
            federated_kind,
        })
}

/// Discovers every served resource (preferred versions). Groups whose discovery fails, such as
/// an unavailable aggregated API, are skipped, as kubectl does.
pub async fn discover(client: &Client) -> Result<Vec<DiscoveredType>, kube::Error> {
    let mut types = Vec::new();
    let core = client.list_core_api_versions().await?;
    if let Some(version) = core.versions.first() {
        types.extend(from_resource_list(
            &client.list_core_api_resources(version).await?,
        ));
    }
    let groups = client.list_api_groups().await?;
    let versions: Vec<String> = groups
        .groups
        .iter()
        .filter_map(|g| {
            g.preferred_version
                .as_ref()
                .map(|v| v.group_version.clone())
                .or_else(|| g.versions.first().map(|v| v.group_version.clone()))
        })
        .collect();
    let lists = futures::future::join_all(
        versions
            .iter()
            .map(|gv| client.list_api_group_resources(gv)),
    )
    .await;
    for list in lists.into_iter().flatten() {
        types.extend(from_resource_list(&list));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn resource(name: &str, kind: &str, short: &[&str], namespaced: bool) -> APIResource {
        APIResource {
            name: name.to_string(),
            kind: kind.to_string(),
            namespaced,
            short_names: if short.is_empty() {
                None
            } else {
                Some(short.iter().map(|s| s.to_string()).collect())
            },
            singular_name: String::new(),
            verbs: vec!["get".into()],
            ..Default::default()
        }
    }

    fn discovery() -> Vec<DiscoveredType> {
        let core = APIResourceList {
            group_version: "v1".into(),
            resources: vec![
                resource("configmaps", "ConfigMap", &["cm"], true),
                resource("events", "Event", &["ev"], true),
                resource("namespaces", "Namespace", &["ns"], false),
            ],
        };
        let apps = APIResourceList {
            group_version: "apps/v1".into(),
            resources: vec![
                resource("deployments", "Deployment", &["deploy"], true),
                resource("deployments/scale", "Scale", &[], true),
                resource("statefulsets", "StatefulSet", &["sts"], true),
                resource("statefulsets/scale", "Scale", &[], true),
            ],
        };
        let events = APIResourceList {
            group_version: "events.k8s.io/v1".into(),
            resources: vec![resource("events", "Event", &["ev"], true)],
        };
        let widgets = APIResourceList {
            group_version: "example.com/v1alpha1".into(),
            resources: vec![resource("widgets", "Widget", &[], false)],
        };
        let other_widgets = APIResourceList {
            group_version: "other.io/v1".into(),
            resources: vec![resource("widgets", "Widget", &[], true)],
        };
        let federated = APIResourceList {
            group_version: "types.kubefed.io/v1beta1".into(),
            resources: vec![
                resource(
                    "federateddeployments",
                    "FederatedDeployment",
                    &["fdeploy"],
                    true,
                ),
                resource(
                    "federateddeployments/status",
                    "FederatedDeployment",
                    &[],
                    true,
                ),
            ],
        };
        [core, apps, events, widgets, other_widgets, federated]
            .iter()
            .flat_map(from_resource_list)
            .collect()
    }

    #[test]
    fn discovery_skips_subresources_and_notes_scale() {
        let types = discovery();
        assert_eq!(types.len(), 9);
        let sts = resolve("sts", &types).unwrap();
        assert!(sts.has_scale);
        assert_eq!(sts.singular, "statefulset");
        assert!(!resolve("cm", &types).unwrap().has_scale);
    }

    #[test]
    fn resolves_every_name_form() {
        let types = discovery();
        for query in [
            "deploy",
            "deployment",
            "deployments",
            "Deployment",
            "deployments.apps",
            "Deployment.apps",
        ] {
            let found = resolve(query, &types).unwrap();
            assert_eq!(found.qualified_plural(), "deployments.apps", "{query}");
        }
        assert_eq!(
            resolve("widgets.example.com", &types).unwrap().group,
            "example.com"
        );
    }

    #[test]
    fn ambiguity_prefers_core_or_fails_clearly() {
        let types = discovery();
        assert_eq!(resolve("events", &types).unwrap().group, "");
        assert_eq!(
            resolve("events.events.k8s.io", &types).unwrap().group,
            "events.k8s.io"
        );
        let err = resolve("widget", &types).unwrap_err();
        assert_eq!(
            err,
            ResolveError::Ambiguous {
                query: "widget".into(),
                candidates: "widgets.example.com, widgets.other.io".into()
            }
        );
        assert_eq!(
            resolve("gadgets", &types).unwrap_err(),
            ResolveError::Unknown("gadgets".into())
        );
    }

    #[test]
    fn target_types_from_discovery() {
        let types = discovery();
        let deploy = resolve("deploy", &types).unwrap().target_type();
        assert!(deploy.has_replicas);
        assert_eq!(deploy.short_name.as_deref(), Some("deploy"));
        assert_eq!(deploy.scope, Scope::Namespaced);
        assert!(resolve("sts", &types).unwrap().target_type().has_replicas);
        let widget = resolve("widgets.example.com", &types)
            .unwrap()
            .target_type();
        assert!(!widget.has_replicas);
        assert_eq!(widget.scope, Scope::Cluster);
        assert_eq!(widget.type_config_name(), "widgets.example.com");
        assert_eq!(widget.version, "v1alpha1");
    }

    #[test]
    fn resolves_federated_types_from_either_side() {
        let types = discovery();
        for query in [
            "federateddeployment",
            "FederatedDeployment",
            "federateddeployments.types.kubefed.io",
            "fdeploy",
            "deployment",
            "deployments.apps",
        ] {
            let found = resolve_federated(query, &types, "types.kubefed.io").unwrap();
            assert_eq!(found.kind, "FederatedDeployment", "{query}");
        }
        let err = resolve_federated("cm", &types, "types.kubefed.io").unwrap_err();
        assert!(matches!(err, ResolveError::NotFederated { .. }));
        assert!(err.to_string().contains("FederatedConfigMap"));
    }
}
