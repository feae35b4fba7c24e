//! Names and RBAC rules of what `join` creates in a member cluster, and how a KubeFedCluster
//! records the grant. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::crds::ApiResource;

/// Annotation on a KubeFedCluster: the `--rbac` mode it was joined with (`full` / `minimal`).
pub const RBAC_ANNOTATION: &str = "kubefed.io/rbac";
/// Annotation on a KubeFedCluster joined `--rbac minimal`: the FederatedTypeConfig names
/// (`deployments.apps`, `configmaps`, …) its grant covers, comma-separated and sorted.
pub const RBAC_TYPES_ANNOTATION: &str = "kubefed.io/rbac-types";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// How much the federation's service account may do in the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RbacMode {
    /// Everything (`*` on `*/*`), as KubeFed granted.
    Full,
    /// Only the resources of the federated types enabled on the host.
    Minimal,
}

impl RbacMode {
    /// The value of [`RBAC_ANNOTATION`].
    pub fn as_str(self) -> &'static str {
        match self {
            RbacMode::Full => "full",
            RbacMode::Minimal => "minimal",
        }
    }

    /// Reads [`RBAC_ANNOTATION`]; unknown values are ignored.
    pub fn from_annotation(value: &str) -> Option<Self> {
        match value {
            "full" => Some(RbacMode::Full),
            "minimal" => Some(RbacMode::Minimal),
            _ => None,
        }
    }
}

/// The FederatedTypeConfig names a minimal grant covers, for [`RBAC_TYPES_ANNOTATION`].
pub fn granted_types_annotation(targets: &[ApiResource]) -> String {
    targets
        .iter()
        .map(ApiResource::qualified_plural)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a [`RBAC_TYPES_ANNOTATION`] value covers the type `type_config_name`.
pub fn annotation_grants(value: &str, type_config_name: &str) -> bool {
    value.split(',').any(|t| t.trim() == type_config_name)
}

/// Verbs the sync controller needs on a propagated type.
pub const MINIMAL_VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// Turns an arbitrary string into a DNS-1123 subdomain: lower case, runs of other characters
/// become `-`, trimmed to alphanumerics at both ends, at most 253 characters. Context names
/// such as `arn:aws:eks:…/prod` or `admin@kind` are common, and kubefedctl used them verbatim.
pub fn dns_subdomain(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() || ch == '.' {
            out.push(ch);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: &str = out.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(253).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    name
}

/// `<cluster>-<host cluster name>`, the member-side ServiceAccount, as kubefedctl named it.
pub fn service_account_name(cluster: &str, host_cluster_name: &str) -> String {
    dns_subdomain(&format!("{cluster}-{host_cluster_name}"))
}

/// The long-lived token Secret of the ServiceAccount.
pub fn token_secret_name(service_account: &str) -> String {
    format!("{service_account}-token")
}

/// The ClusterRole and ClusterRoleBinding granting the ServiceAccount its rights.
pub fn role_name(service_account: &str) -> String {
    format!("kubefed-controller-manager:{service_account}")
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn non_resource_rule(urls: &[&str]) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
        verbs: vec!["get".to_string()],
        ..Default::default()
    }
}

/// KubeFed's grant: every verb on every resource, plus the health endpoint.
pub fn full_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["*"], &["*"], &["*"]),
        non_resource_rule(&["/healthz"]),
    ]
}

/// What propagating RBAC objects needs beyond writing them. An API server refuses to let a
/// subject create a Role or ClusterRole granting more than the subject holds unless it may
/// `escalate` on that kind, and a binding to a role whose permissions the subject lacks unless
/// it may `bind` that role. Only the kinds whose types are enabled get the verb. (With either,
/// the service account can grant itself more in the member: federating RBAC means trusting the
/// federation with the member's permissions.)
pub fn privilege_rules(targets: &[ApiResource]) -> Vec<PolicyRule> {
    let enabled = |plural: &str| {
        targets
            .iter()
            .any(|t| t.group == RBAC_GROUP && t.plural_name == plural)
    };
    let mut escalate = Vec::new();
    if enabled("clusterroles") {
        escalate.push("clusterroles");
    }
    if enabled("roles") {
        escalate.push("roles");
    }
    // A ClusterRoleBinding refers to a ClusterRole; a RoleBinding to a Role or a ClusterRole.
    let mut bind = Vec::new();
    if enabled("clusterrolebindings") || enabled("rolebindings") {
        bind.push("clusterroles");
    }
    if enabled("rolebindings") {
        bind.push("roles");
    }
    [(escalate, "escalate"), (bind, "bind")]
        .into_iter()
        .filter(|(resources, _)| !resources.is_empty())
        .map(|(resources, verb)| rule(&[RBAC_GROUP], &resources, &[verb]))
        .collect()
}

/// Least privilege: the given target types' resources, one rule per API group (sorted, without
/// duplicates), `escalate`/`bind` when RBAC types are among them ([`privilege_rules`]), plus
/// what the cluster controller reads: the `kube-system` namespace (its UID identifies the
/// cluster) and the health and version endpoints.
pub fn minimal_rules(targets: &[ApiResource]) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for target in targets {
        let resources = by_group.entry(target.group.as_str()).or_default();
        if !resources.contains(&target.plural_name.as_str()) {
            resources.push(target.plural_name.as_str());
        }
    }
    let mut rules: Vec<PolicyRule> = by_group
        .into_iter()
        .map(|(group, mut resources)| {
            resources.sort_unstable();
            rule(&[group], &resources, &MINIMAL_VERBS)
        })
        .collect();
    rules.extend(privilege_rules(targets));
    rules.push(PolicyRule {
        resource_names: Some(vec!["kube-system".to_string()]),
        ..rule(&[""], &["namespaces"], &["get"])
    });
    rules.push(non_resource_rule(&["/healthz", "/version"]));
    rules
}

/// Every permission a set of rules grants, as `resource[.group][/name]` (or a URL path) mapped
/// to its verbs.
fn grants(rules: &[PolicyRule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules {
        let verbs = rule.verbs.iter().cloned();
        for url in rule.non_resource_urls.iter().flatten() {
            grants.entry(url.clone()).or_default().extend(verbs.clone());
        }
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                let qualified = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                let names = rule.resource_names.as_deref().unwrap_or_default();
                if names.is_empty() {
                    grants
                        .entry(qualified.clone())
                        .or_default()
                        .extend(verbs.clone());
                }
                for name in names {
                    grants
                        .entry(format!("{qualified}/{name}"))
                        .or_default()
                        .extend(verbs.clone());
                }
            }
        }
    }
    grants
}

/// What changes between two grants, one `+ resource: verbs` / `- resource: verbs` entry per
/// resource, for the progress line of an updated ClusterRole.
pub fn grant_changes(old: &[PolicyRule], new: &[PolicyRule]) -> Vec<String> {
    let (old, new) = (grants(old), grants(new));
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = BTreeSet::new();
    let mut changes = Vec::new();
    for key in keys {
        let before = old.get(key).unwrap_or(&empty);
        let after = new.get(key).unwrap_or(&empty);
        let join = |verbs: Vec<&String>| {
            verbs
                .into_iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(",")
        };
        let added: Vec<&String> = after.difference(before).collect();
        let removed: Vec<&String> = before.difference(after).collect();
        if !added.is_empty() {
            changes.push(format!("+ {key}: {}", join(added)));
        }
        if !removed.is_empty() {
            changes.push(format!("- {key}: {}", join(removed)));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::{Scope, default_target_types};

    #[test]
    fn names_follow_kubefedctl() {
        assert_eq!(service_account_name("cluster2", "host"), "cluster2-host");
        assert_eq!(token_secret_name("cluster2-host"), "cluster2-host-token");
        assert_eq!(
            role_name("cluster2-host"),
            "kubefed-controller-manager:cluster2-host"
        );
    }

    #[test]
    fn context_names_become_valid_object_names() {
        assert_eq!(
            service_account_name("c1", "kubernetes-admin@Kind_Host"),
            "c1-kubernetes-admin-kind-host"
        );
        assert_eq!(
            dns_subdomain("arn:aws:eks:eu-west-1:123:cluster/prod"),
            "arn-aws-eks-eu-west-1-123-cluster-prod"
        );
        assert_eq!(dns_subdomain("--x--"), "x");
        assert_eq!(dns_subdomain(&"a".repeat(300)).len(), 253);
    }

    #[test]
    fn full_rules_grant_everything_and_healthz() {
        let rules = full_rules();
        assert_eq!(rules[0].api_groups.as_deref(), Some(&["*".to_string()][..]));
        assert_eq!(rules[0].resources.as_deref(), Some(&["*".to_string()][..]));
        assert_eq!(rules[0].verbs, ["*"]);
        assert_eq!(
            rules[1].non_resource_urls.as_deref(),
            Some(&["/healthz".to_string()][..])
        );
        assert_eq!(rules[1].verbs, ["get"]);
    }

    #[test]
    fn minimal_rules_group_resources_per_api_group() {
        let mut targets: Vec<ApiResource> = default_target_types()
            .into_iter()
            .map(|d| d.target.api_resource())
            .collect();
        // A duplicate must not produce a duplicate resource.
        targets.push(targets[1].clone());
        targets.push(ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural_name: "widgets".into(),
            scope: Scope::Namespaced,
        });
        let rules = minimal_rules(&targets);
        // Per-type rules, then `escalate` on clusterroles, then the identity and probe rules.
        let typed = &rules[..rules.len() - 3];
        assert_eq!(rules[rules.len() - 3].verbs, ["escalate"]);
        let summary: Vec<(String, Vec<String>)> = typed
            .iter()
            .filter_map(|r| Some((r.api_groups.as_ref()?[0].clone(), r.resources.clone()?)))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "".to_string(),
                    vec![
                        "configmaps".to_string(),
                        "namespaces".to_string(),
                        "secrets".to_string(),
                        "serviceaccounts".to_string(),
                        "services".to_string()
                    ]
                ),
                (
                    "apps".to_string(),
                    vec!["deployments".to_string(), "replicasets".to_string()]
                ),
                ("batch".to_string(), vec!["jobs".to_string()]),
                ("example.com".to_string(), vec!["widgets".to_string()]),
                (
                    "networking.k8s.io".to_string(),
                    vec!["ingresses".to_string()]
                ),
                (
                    "rbac.authorization.k8s.io".to_string(),
                    vec!["clusterroles".to_string()]
                ),
            ]
        );
        assert!(typed.iter().all(|r| r.verbs == MINIMAL_VERBS));
        let identity = &rules[rules.len() - 2];
        assert_eq!(
            identity.resources.as_deref(),
            Some(&["namespaces".to_string()][..])
        );
        assert_eq!(
            identity.resource_names.as_deref(),
            Some(&["kube-system".to_string()][..])
        );
        assert_eq!(identity.verbs, ["get"]);
        let last = rules.last().unwrap();
        assert_eq!(
            last.non_resource_urls.as_deref(),
            Some(&["/healthz".to_string(), "/version".to_string()][..])
        );
        assert_eq!(last.verbs, ["get"]);
    }

    fn rbac_target(plural: &str, kind: &str, scope: Scope) -> ApiResource {
        ApiResource {
            group: RBAC_GROUP.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural_name: plural.into(),
            scope,
        }
    }

    fn privileges(targets: &[ApiResource]) -> Vec<(String, Vec<String>)> {
        privilege_rules(targets)
            .into_iter()
            .map(|r| {
                assert_eq!(r.api_groups.as_deref(), Some(&[RBAC_GROUP.to_string()][..]));
                assert!(r.resource_names.is_none());
                (r.verbs.join(","), r.resources.unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn rbac_types_get_escalate_and_bind_on_their_roles_only() {
        let cluster_roles = rbac_target("clusterroles", "ClusterRole", Scope::Cluster);
        let roles = rbac_target("roles", "Role", Scope::Namespaced);
        let crb = rbac_target("clusterrolebindings", "ClusterRoleBinding", Scope::Cluster);
        let rb = rbac_target("rolebindings", "RoleBinding", Scope::Namespaced);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        type Grants = Vec<(String, Vec<String>)>;
        let cases: Vec<(Vec<ApiResource>, Grants)> = vec![
            (vec![], vec![]),
            (
                vec![cluster_roles.clone()],
                vec![("escalate".into(), s(&["clusterroles"]))],
            ),
            (
                vec![crb.clone()],
                vec![("bind".into(), s(&["clusterroles"]))],
            ),
            (
                vec![rb.clone()],
                vec![("bind".into(), s(&["clusterroles", "roles"]))],
            ),
            (
                vec![cluster_roles, roles, crb, rb],
                vec![
                    ("escalate".into(), s(&["clusterroles", "roles"])),
                    ("bind".into(), s(&["clusterroles", "roles"])),
                ],
            ),
        ];
        for (targets, expected) in cases {
            assert_eq!(privileges(&targets), expected, "{targets:?}");
        }
        // A type named like an RBAC kind in another group is no RBAC type.
        let lookalike = ApiResource {
            group: "example.com".into(),
            ..rbac_target("clusterroles", "ClusterRole", Scope::Cluster)
        };
        assert!(privilege_rules(&[lookalike]).is_empty());
    }

    #[test]
    fn the_default_types_include_clusterroles_so_minimal_may_escalate_them() {
        let targets: Vec<ApiResource> = default_target_types()
            .into_iter()
            .map(|d| d.target.api_resource())
            .collect();
        let rules = minimal_rules(&targets);
        let escalate: Vec<&PolicyRule> = rules
            .iter()
            .filter(|r| r.verbs.iter().any(|v| v == "escalate" || v == "bind"))
            .collect();
        assert_eq!(escalate.len(), 1, "{rules:?}");
        assert_eq!(escalate[0].verbs, ["escalate"]);
        assert_eq!(
            escalate[0].resources.as_deref(),
            Some(&["clusterroles".to_string()][..])
        );
    }

    #[test]
    fn grant_changes_name_resources_and_verbs() {
        let widget = ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural_name: "widgets".into(),
            scope: Scope::Namespaced,
        };
        let configmaps = ApiResource {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural_name: "configmaps".into(),
            scope: Scope::Namespaced,
        };
        let crb = rbac_target("clusterrolebindings", "ClusterRoleBinding", Scope::Cluster);
        let before = minimal_rules(std::slice::from_ref(&configmaps));
        let after = minimal_rules(&[widget, crb]);
        assert_eq!(
            grant_changes(&before, &after),
            vec![
                "+ clusterrolebindings.rbac.authorization.k8s.io: create,delete,get,list,patch,update,watch",
                "+ clusterroles.rbac.authorization.k8s.io: bind",
                "- configmaps: create,delete,get,list,patch,update,watch",
                "+ widgets.example.com: create,delete,get,list,patch,update,watch",
            ]
        );
        assert!(grant_changes(&after, &after).is_empty());
        // Narrowing verbs on one resource shows only what went.
        let mut fewer = after.clone();
        for rule in &mut fewer {
            if rule.api_groups.as_deref() == Some(&[RBAC_GROUP.to_string()][..])
                && rule.verbs.len() > 1
            {
                rule.verbs.retain(|v| v != "delete");
            }
        }
        assert_eq!(
            grant_changes(&after, &fewer),
            vec!["- clusterrolebindings.rbac.authorization.k8s.io: delete"]
        );
        // Full to minimal names the wildcard and the named namespace.
        let changes = grant_changes(&full_rules(), &before);
        assert!(changes.contains(&"- *.*: *".to_string()), "{changes:?}");
        assert!(
            changes.contains(&"+ namespaces/kube-system: get".to_string()),
            "{changes:?}"
        );
        assert!(
            changes.contains(&"+ /version: get".to_string()),
            "{changes:?}"
        );
    }

    #[test]
    fn the_annotations_round_trip() {
        for mode in [RbacMode::Full, RbacMode::Minimal] {
            assert_eq!(RbacMode::from_annotation(mode.as_str()), Some(mode));
        }
        assert_eq!(RbacMode::from_annotation("Minimal"), None);
        let targets: Vec<ApiResource> = default_target_types()
            .into_iter()
            .map(|d| d.target.api_resource())
            .collect();
        let value = granted_types_annotation(&targets);
        assert!(value.starts_with("clusterroles.rbac.authorization.k8s.io,configmaps,"));
        assert!(annotation_grants(&value, "deployments.apps"));
        assert!(annotation_grants(&value, "configmaps"));
        assert!(!annotation_grants(&value, "apps"));
        assert!(!annotation_grants(&value, "widgets.example.com"));
        assert!(!annotation_grants("", "configmaps"));
    }

    #[test]
    fn minimal_rules_without_types_only_allow_probes() {
        let rules = minimal_rules(&[]);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].verbs, ["get"]);
        assert!(rules[1].resources.is_none());
    }
}
