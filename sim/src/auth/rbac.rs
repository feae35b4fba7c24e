//! RBAC authorization as a [`Middleware`]: Roles, ClusterRoles and their bindings are read
//! from the cluster's own store on every request. Members of `system:masters` (the admin
//! token) are always allowed, like the real server's superuser short-circuit.

use std::sync::{Arc, Weak};

use serde_json::{Value, json};

use crate::server::cluster::{Cluster, Inner, Middleware, RequestInfo, UserInfo};
use crate::server::counters::Verb;
use crate::server::error::ApiError;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Paths every authenticated user may GET (`system:discovery`, `system:public-info-viewer`).
const PUBLIC_PATHS: &[&str] = &[
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/openapi",
    "/openapi/*",
    "/version",
    "/version/",
    "/healthz",
    "/livez",
    "/readyz",
];

/// The authorizer of one cluster.
pub struct Rbac {
    cluster: Weak<Inner>,
}

impl Rbac {
    pub fn new(cluster: &Cluster) -> Self {
        Rbac {
            cluster: Arc::downgrade(&cluster.inner),
        }
    }
}

/// Creates the `cluster-admin` ClusterRole and its binding to `system:masters`, as a real
/// cluster has them from the start.
pub fn bootstrap(cluster: &Cluster) {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": "system:masters"}],
    });
    // Both already exist when the cluster was bootstrapped before; that is fine.
    let _ = cluster.create_object(RBAC_GROUP, "v1", "clusterroles", "", role);
    let _ = cluster.create_object(RBAC_GROUP, "v1", "clusterrolebindings", "", binding);
}

fn strs(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn subject_matches(s: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str().unwrap_or_default() {
        "User" => name == user.name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = s["namespace"].as_str().unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn binds(binding: &Value, user: &UserInfo) -> bool {
    let ns = binding["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    binding["subjects"]
        .as_array()
        .is_some_and(|subs| subs.iter().any(|s| subject_matches(s, user, ns)))
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one PolicyRule allows a resource request.
pub fn rule_allows_resource(rule: &Value, req: &RequestInfo) -> bool {
    let verb = req.verb.as_str();
    if !has(&strs(rule, "verbs"), verb) || !has(&strs(rule, "apiGroups"), &req.group) {
        return false;
    }
    let resources = strs(rule, "resources");
    let ok = if req.subresource.is_empty() {
        has(&resources, &req.resource)
    } else {
        let full = format!("{}/{}", req.resource, req.subresource);
        resources.iter().any(|r| {
            r == "*"
                || *r == full
                || *r == format!("*/{}", req.subresource)
                || *r == format!("{}/*", req.resource)
        })
    };
    if !ok {
        return false;
    }
    let names = strs(rule, "resourceNames");
    names.is_empty() || (!req.name.is_empty() && names.contains(&req.name))
}

/// Whether one PolicyRule allows a non-resource request (`/healthz`, `/apis/*`).
pub fn rule_allows_path(rule: &Value, verb: &str, path: &str) -> bool {
    has(&strs(rule, "verbs"), verb)
        && strs(rule, "nonResourceURLs")
            .iter()
            .any(|u| path_matches(u, path))
}

fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// The verb of a non-resource request, from its HTTP method.
fn path_verb(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET | http::Method::HEAD => "get",
        http::Method::POST => "post",
        http::Method::PUT => "put",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "options",
    }
}

/// The real server's message for a denied request.
pub fn forbidden(req: &RequestInfo, user: &str) -> ApiError {
    if req.verb == Verb::NonResource {
        let verb = path_verb(&req.method);
        return ApiError::Forbidden(format!(
            "forbidden: User {user:?} cannot {verb} path {:?}",
            req.path
        ));
    }
    let mut resource = req.resource.clone();
    if !req.subresource.is_empty() {
        resource = format!("{resource}/{}", req.subresource);
    }
    let qualified = if req.group.is_empty() {
        req.resource.clone()
    } else {
        format!("{}.{}", req.resource, req.group)
    };
    let subject = if req.name.is_empty() {
        qualified
    } else {
        format!("{qualified} {:?}", req.name)
    };
    let scope = if req.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", req.namespace)
    };
    ApiError::Forbidden(format!(
        "{subject} is forbidden: User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
        req.verb.as_str(),
        req.group
    ))
}

impl Rbac {
    /// Rules of every role bound to `user` that apply in `namespace` ("" for cluster scope).
    fn rules(&self, cluster: &Cluster, user: &UserInfo, namespace: &str) -> Vec<Value> {
        let mut rules = Vec::new();
        let mut add_role = |kind: &str, ns: &str, name: &str| {
            let role = match kind {
                "ClusterRole" => cluster.get_object(RBAC_GROUP, "clusterroles", "", name),
                "Role" => cluster.get_object(RBAC_GROUP, "roles", ns, name),
                _ => None,
            };
            if let Some(r) = role
                && let Some(rs) = r["rules"].as_array()
            {
                rules.extend(rs.iter().cloned());
            }
        };
        for b in cluster.list_objects(RBAC_GROUP, "clusterrolebindings", None) {
            if binds(&b, user) && b["roleRef"]["kind"] == "ClusterRole" {
                add_role(
                    "ClusterRole",
                    "",
                    b["roleRef"]["name"].as_str().unwrap_or_default(),
                );
            }
        }
        if !namespace.is_empty() {
            for b in cluster.list_objects(RBAC_GROUP, "rolebindings", Some(namespace)) {
                if binds(&b, user) {
                    add_role(
                        b["roleRef"]["kind"].as_str().unwrap_or_default(),
                        namespace,
                        b["roleRef"]["name"].as_str().unwrap_or_default(),
                    );
                }
            }
        }
        rules
    }
}

impl Middleware for Rbac {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError> {
        let Some(user) = &req.user else {
            return Ok(());
        };
        if user.groups.iter().any(|g| g == "system:masters") {
            return Ok(());
        }
        if req.verb == Verb::NonResource {
            // Discovery paths are open to every authenticated user. The request pipeline
            // holds the state lock while asking, so the store is not consulted here.
            if PUBLIC_PATHS.iter().any(|p| path_matches(p, &req.path)) {
                return Ok(());
            }
            return Err(forbidden(req, &user.name));
        }
        let Some(inner) = self.cluster.upgrade() else {
            return Err(ApiError::ServiceUnavailable("the cluster is gone".into()));
        };
        let cluster = Cluster { inner };
        let allowed = self
            .rules(&cluster, user, &req.namespace)
            .iter()
            .any(|r| rule_allows_resource(r, req));
        if allowed {
            Ok(())
        } else {
            Err(forbidden(req, &user.name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        verb: Verb,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> RequestInfo {
        RequestInfo {
            verb,
            method: http::Method::GET,
            path: String::new(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            user: None,
        }
    }

    #[test]
    fn matches_rules() {
        let rule = json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]});
        assert!(rule_allows_resource(
            &rule,
            &req(Verb::Get, "", "configmaps", "", "a", "x")
        ));
        assert!(!rule_allows_resource(
            &rule,
            &req(Verb::List, "", "configmaps", "", "a", "")
        ));
        assert!(!rule_allows_resource(
            &rule,
            &req(Verb::Get, "", "secrets", "", "a", "x")
        ));
        assert!(!rule_allows_resource(
            &rule,
            &req(Verb::Get, "apps", "configmaps", "", "a", "x")
        ));
        let named = json!({"apiGroups": ["*"], "resources": ["deployments/status"], "verbs": ["*"], "resourceNames": ["web"]});
        assert!(rule_allows_resource(
            &named,
            &req(Verb::Update, "apps", "deployments", "status", "a", "web")
        ));
        assert!(!rule_allows_resource(
            &named,
            &req(Verb::Update, "apps", "deployments", "", "a", "web")
        ));
        assert!(!rule_allows_resource(
            &named,
            &req(Verb::Update, "apps", "deployments", "status", "a", "db")
        ));
        let paths = json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]});
        assert!(rule_allows_path(&paths, "get", "/healthz"));
        assert!(rule_allows_path(&paths, "get", "/apis/apps/v1"));
        assert!(!rule_allows_path(&paths, "get", "/metrics"));
    }

    #[test]
    fn forbidden_messages() {
        let m = forbidden(&req(Verb::List, "", "secrets", "", "ns1", ""), "bob").to_string();
        assert_eq!(
            m,
            r#"secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "ns1""#
        );
        let m = forbidden(&req(Verb::Get, "apps", "deployments", "", "", "web"), "bob").to_string();
        assert_eq!(
            m,
            r#"deployments.apps "web" is forbidden: User "bob" cannot get resource "deployments" in API group "apps" at the cluster scope"#
        );
    }
}
