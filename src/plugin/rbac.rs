//! Names and RBAC rules of what `join` creates in a member cluster. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::crds::ApiResource;

/// How much the federation's service account may do in the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RbacMode {
    /// Everything (`*` on `*/*`), as KubeFed granted.
    Full,
    /// Only the resources of the federated types enabled on the host.
    Minimal,
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

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Propagating a role grants what the role holds, and propagating a binding grants what its
/// role holds; API servers refuse both unless the granter already holds those permissions or
/// may `escalate` the role (`bind` it, for bindings), and what templates grant is not known
/// when joining.
fn grant_rules(by_group: &BTreeMap<&str, Vec<&str>>) -> Vec<PolicyRule> {
    let rbac = by_group
        .get(RBAC_GROUP)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let roles: Vec<&str> = ["clusterroles", "roles"]
        .into_iter()
        .filter(|r| rbac.contains(r))
        .collect();
    let mut out = Vec::new();
    if !roles.is_empty() {
        out.push(rule(&[RBAC_GROUP], &roles, &["escalate"]));
    }
    if rbac
        .iter()
        .any(|r| matches!(*r, "clusterrolebindings" | "rolebindings"))
    {
        out.push(rule(&[RBAC_GROUP], &["clusterroles", "roles"], &["bind"]));
    }
    out
}

/// Least privilege: the given target types' resources, one rule per API group (sorted, without
/// duplicates), plus what the cluster controller reads: the `kube-system` namespace (its UID
/// identifies the cluster) and the health and version endpoints.
pub fn minimal_rules(targets: &[ApiResource]) -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for target in targets {
        let resources = by_group.entry(target.group.as_str()).or_default();
        if !resources.contains(&target.plural_name.as_str()) {
            resources.push(target.plural_name.as_str());
        }
    }
    let grants = grant_rules(&by_group);
    let mut rules: Vec<PolicyRule> = by_group
        .into_iter()
        .map(|(group, mut resources)| {
            resources.sort_unstable();
            rule(&[group], &resources, &MINIMAL_VERBS)
        })
        .collect();
    rules.extend(grants);
    rules.push(PolicyRule {
        resource_names: Some(vec!["kube-system".to_string()]),
        ..rule(&[""], &["namespaces"], &["get"])
    });
    rules.push(non_resource_rule(&["/healthz", "/version"]));
    rules
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
    fn propagating_bindings_needs_bind() {
        let target = |plural: &str| ApiResource {
            group: RBAC_GROUP.into(),
            version: "v1".into(),
            kind: String::new(),
            plural_name: plural.into(),
            scope: Scope::Namespaced,
        };
        let rules = minimal_rules(&[target("rolebindings")]);
        let bind = &rules[1];
        assert_eq!(bind.verbs, ["bind"]);
        assert_eq!(
            bind.resources.as_deref(),
            Some(&["clusterroles".to_string(), "roles".to_string()][..])
        );
        let rules = minimal_rules(&[target("roles"), target("clusterrolebindings")]);
        let verbs: Vec<&[String]> = rules[1..3].iter().map(|r| r.verbs.as_slice()).collect();
        assert_eq!(verbs, [["escalate".to_string()], ["bind".to_string()]]);
        assert_eq!(
            rules[1].resources.as_deref(),
            Some(&["roles".to_string()][..])
        );
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
        let summary: Vec<(String, Vec<String>)> = rules[..rules.len() - 2]
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
                // escalate, to propagate ClusterRoles granting what the token lacks
                (
                    "rbac.authorization.k8s.io".to_string(),
                    vec!["clusterroles".to_string()]
                ),
            ]
        );
        assert!(
            rules[..rules.len() - 3]
                .iter()
                .all(|r| r.verbs == MINIMAL_VERBS)
        );
        assert_eq!(rules[rules.len() - 3].verbs, ["escalate"]);
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

    #[test]
    fn minimal_rules_without_types_only_allow_probes() {
        let rules = minimal_rules(&[]);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].verbs, ["get"]);
        assert!(rules[1].resources.is_none());
    }
}
