//! Dependencies that follow their workload: with `kubefed.io/propagate-dependencies: "true"`
//! on a FederatedDeployment, FederatedReplicaSet or FederatedJob, the ConfigMaps, Secrets and
//! ServiceAccounts its pod template references ([`references`]) are copied from the host
//! namespace to every cluster the workload is placed on ([`plan`]).
//!
//! In a member, a dependency carries `kubefed.io/managed: "true"`, `kubefed.io/dependency:
//! "true"` and one label per workload that needs it there, `dependency-of.kubefed.io/<kind>.<name>:
//! "true"` ([`dependent_label`]). Each workload applies it with its own field manager
//! ([`dependent_manager`]), so several workloads share one object without undoing each
//! other's labels; a workload that no longer needs it removes only its label, and the one
//! that removes the last label deletes the object (only if nothing changed meanwhile: the
//! delete carries the resourceVersion it saw). The labels in the member are the reference
//! count, so it survives restarts and needs no coordination between workloads. A pull
//! member's copy is a MemberWork on the host whose manifest carries the same labels
//! ([`pull`]).

pub mod plan;
pub mod pull;
pub mod references;

use serde_json::{Map, Value};

use super::desired::{DESIRED_HASH_ANNOTATION, DesiredObject};
use super::hash::hash_value;
use crate::crds::federated::MANAGED_LABEL;

/// Annotation on a federated workload opting in.
pub const PROPAGATE_DEPENDENCIES_ANNOTATION: &str = "kubefed.io/propagate-dependencies";
/// Label on every dependency object in members (what the member caches of dependencies watch).
pub const DEPENDENCY_LABEL: &str = "kubefed.io/dependency";
/// Prefix of the per-workload labels on a dependency object.
pub const DEPENDENT_LABEL_PREFIX: &str = "dependency-of.kubefed.io/";
/// Condition type on the workload reporting its dependencies.
pub const DEPENDENCIES_CONDITION: &str = "Dependencies";

/// The kinds a pod template depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DependencyKind {
    ConfigMap,
    Secret,
    ServiceAccount,
}

impl DependencyKind {
    pub const ALL: [DependencyKind; 3] = [
        DependencyKind::ConfigMap,
        DependencyKind::Secret,
        DependencyKind::ServiceAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::ConfigMap => "ConfigMap",
            DependencyKind::Secret => "Secret",
            DependencyKind::ServiceAccount => "ServiceAccount",
        }
    }

    /// The core-group resource name.
    pub fn plural(self) -> &'static str {
        match self {
            DependencyKind::ConfigMap => "configmaps",
            DependencyKind::Secret => "secrets",
            DependencyKind::ServiceAccount => "serviceaccounts",
        }
    }

    /// The kind of the federated type that federates it explicitly.
    pub fn federated_kind(self) -> String {
        format!("Federated{}", self.as_str())
    }

    /// The fields copied from the host object (besides name, namespace and labels).
    fn content_fields(self) -> &'static [&'static str] {
        match self {
            DependencyKind::ConfigMap => &["data", "binaryData", "immutable"],
            DependencyKind::Secret => &["type", "data", "immutable"],
            DependencyKind::ServiceAccount => &["automountServiceAccountToken", "imagePullSecrets"],
        }
    }
}

/// One dependency of a workload, in the workload's namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DependencyRef {
    pub kind: DependencyKind,
    pub name: String,
}

impl std::fmt::Display for DependencyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// Whether dependency propagation applies to a target kind (by API group and kind).
pub fn is_workload(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("apps", "Deployment" | "ReplicaSet") | ("batch", "Job")
    )
}

/// The label naming a workload (`Deployment` `web`) on its dependencies:
/// `dependency-of.kubefed.io/deployment.web`. Names too long for a label key (63 characters)
/// are shortened and end with a hash of the whole.
pub fn dependent_label(kind: &str, name: &str) -> String {
    let full = format!("{}.{name}", kind.to_lowercase());
    let part = if full.len() <= 63 {
        full
    } else {
        let hash = hash_value(&Value::String(full.clone()));
        let keep: String = full.chars().take(63 - 1 - hash.len()).collect();
        format!("{}-{hash}", keep.trim_end_matches(['.', '-']))
    };
    format!("{DEPENDENT_LABEL_PREFIX}{part}")
}

/// The field manager a workload applies its dependencies with (one per workload, so that
/// each owns only its own label).
pub fn dependent_manager(label: &str) -> String {
    format!(
        "kubefed/{}",
        label.trim_start_matches(DEPENDENT_LABEL_PREFIX)
    )
}

/// Why a host object is not propagated as a dependency.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DependencyObjectError {
    #[error("{0} is a service account token; each cluster issues its own, so it is not propagated")]
    ServiceAccountToken(DependencyRef),
}

/// The object a member gets for the host object `host` of `dependency`, labelled for the
/// workload `label`. Its hash leaves out the workload's label, so every workload sharing the
/// dependency computes the same one.
pub fn dependency_object(
    dependency: &DependencyRef,
    host: &Value,
    namespace: &str,
    label: &str,
) -> Result<DesiredObject, DependencyObjectError> {
    if dependency.kind == DependencyKind::Secret
        && host.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
    {
        return Err(DependencyObjectError::ServiceAccountToken(
            dependency.clone(),
        ));
    }
    let mut labels: Map<String, Value> = host
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter(|(k, _)| {
                    !k.starts_with("kubefed.io/") && !k.starts_with(DEPENDENT_LABEL_PREFIX)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    labels.insert(MANAGED_LABEL.into(), "true".into());
    labels.insert(DEPENDENCY_LABEL.into(), "true".into());
    let mut object = Map::new();
    object.insert("apiVersion".into(), "v1".into());
    object.insert("kind".into(), dependency.kind.as_str().into());
    for field in dependency.kind.content_fields() {
        if let Some(value) = host.get(*field).filter(|v| !v.is_null()) {
            object.insert((*field).to_string(), value.clone());
        }
    }
    object.insert(
        "metadata".into(),
        serde_json::json!({"name": dependency.name, "namespace": namespace, "labels": labels}),
    );
    let mut object = Value::Object(object);
    let hash = hash_value(&object);
    object["metadata"]["labels"][label] = "true".into();
    object["metadata"]["annotations"] = serde_json::json!({ DESIRED_HASH_ANNOTATION: hash });
    Ok(DesiredObject {
        object,
        hash,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_name_the_workload_within_label_limits() {
        assert_eq!(
            dependent_label("Deployment", "web"),
            "dependency-of.kubefed.io/deployment.web"
        );
        let long = "a".repeat(80);
        let label = dependent_label("ReplicaSet", &long);
        let part = label.trim_start_matches(DEPENDENT_LABEL_PREFIX);
        assert!(part.len() <= 63, "{part}");
        assert!(part.starts_with("replicaset.aaa"));
        assert_ne!(label, dependent_label("ReplicaSet", &"a".repeat(81)));
        assert_eq!(
            dependent_manager(&dependent_label("Job", "migrate")),
            "kubefed/job.migrate"
        );
        assert!(is_workload("apps", "Deployment") && is_workload("batch", "Job"));
        assert!(!is_workload("", "ConfigMap") && !is_workload("apps", "StatefulSet"));
    }

    #[test]
    fn the_member_copy_carries_content_labels_and_a_shared_hash() {
        let host = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "demo", "uid": "u", "resourceVersion": "3",
                "labels": {"app": "web", "kubefed.io/managed": "false"},
                "annotations": {"note": "host only"}},
            "data": {"k": "v"}, "immutable": false
        });
        let dep = DependencyRef {
            kind: DependencyKind::ConfigMap,
            name: "settings".into(),
        };
        let web =
            dependency_object(&dep, &host, "demo", &dependent_label("Deployment", "web")).unwrap();
        let job = dependency_object(&dep, &host, "demo", &dependent_label("Job", "seed")).unwrap();
        assert_eq!(web.hash, job.hash, "one hash for every workload");
        assert_eq!(
            web.object,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "demo",
                    "labels": {"app": "web", "kubefed.io/managed": "true", "kubefed.io/dependency": "true",
                        "dependency-of.kubefed.io/deployment.web": "true"},
                    "annotations": {"kubefed.io/desired-hash": web.hash}},
                "data": {"k": "v"}, "immutable": false
            })
        );
        let token = json!({"type": "kubernetes.io/service-account-token", "data": {}});
        let secret = DependencyRef {
            kind: DependencyKind::Secret,
            name: "t".into(),
        };
        assert!(dependency_object(&secret, &token, "demo", "x").is_err());
        let account = json!({"metadata": {"name": "runner"}, "secrets": [{"name": "runner-token"}],
            "imagePullSecrets": [{"name": "registry"}]});
        let sa = DependencyRef {
            kind: DependencyKind::ServiceAccount,
            name: "runner".into(),
        };
        let copy = dependency_object(&sa, &account, "demo", "x")
            .unwrap()
            .object;
        assert!(
            copy.get("secrets").is_none(),
            "token secrets are the member's own"
        );
        assert_eq!(copy["imagePullSecrets"], json!([{"name": "registry"}]));
    }
}
