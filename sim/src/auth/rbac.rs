//! RBAC authorization as a [`Middleware`]: Roles, ClusterRoles and their bindings are read
//! from the cluster's own store on every request. Members of `system:masters` (the admin
//! token) are always allowed, like the real server's superuser short-circuit.

use std::sync::{Arc, Weak};

use serde_json::{Value, json};

use crate::auth::escalation::{self, Rule};
use crate::server::cluster::{Cluster, Inner, Middleware, RequestInfo, UserInfo};
use crate::server::counters::Verb;
use crate::server::engine::State;
use crate::server::error::{ApiError, Target};
use crate::server::meta;
use crate::server::resources::GroupResource;

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
    rule_allows(
        rule,
        req.verb.as_str(),
        &req.group,
        &req.resource,
        &req.subresource,
        &req.name,
    )
}

/// Whether one PolicyRule allows `verb` on a (sub)resource, by name when `name` is set.
fn rule_allows(
    rule: &Value,
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    name: &str,
) -> bool {
    if !has(&meta::strings(rule, "verbs"), verb) || !has(&meta::strings(rule, "apiGroups"), group) {
        return false;
    }
    let resources = meta::strings(rule, "resources");
    let ok = if sub.is_empty() {
        has(&resources, resource)
    } else {
        let full = format!("{resource}/{sub}");
        resources.iter().any(|r| {
            r == "*" || *r == full || *r == format!("*/{sub}") || *r == format!("{resource}/*")
        })
    };
    if !ok {
        return false;
    }
    let names = meta::strings(rule, "resourceNames");
    names.is_empty() || (!name.is_empty() && names.iter().any(|n| n == name))
}

/// Whether one PolicyRule allows a non-resource request (`/healthz`, `/apis/*`).
pub fn rule_allows_path(rule: &Value, verb: &str, path: &str) -> bool {
    has(&meta::strings(rule, "verbs"), verb)
        && meta::strings(rule, "nonResourceURLs")
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

/// The rules granted to `user` in `namespace` ("" for cluster scope), with the bindings
/// whose role is missing, worded as the real rule resolver words them.
pub fn rules_for(st: &State, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut add_role = |kind: &str, ns: &str, name: &str| match role_rules(st, kind, ns, name) {
        Ok(rs) => rules.extend(rs),
        Err(e) => errors.push(e.to_string()),
    };
    let crbs = GroupResource::new(RBAC_GROUP, "clusterrolebindings");
    for (_, b) in st.store.list(&crbs, None, None) {
        let b = b.to_value();
        if binds(&b, user) {
            add_role(
                b["roleRef"]["kind"].as_str().unwrap_or_default(),
                "",
                b["roleRef"]["name"].as_str().unwrap_or_default(),
            );
        }
    }
    if !namespace.is_empty() {
        let rbs = GroupResource::new(RBAC_GROUP, "rolebindings");
        for (_, b) in st.store.list(&rbs, Some(namespace), None) {
            let b = b.to_value();
            if binds(&b, user) {
                add_role(
                    b["roleRef"]["kind"].as_str().unwrap_or_default(),
                    namespace,
                    b["roleRef"]["name"].as_str().unwrap_or_default(),
                );
            }
        }
    }
    (rules, errors)
}

/// The rules of the role a binding refers to: a Role in the binding's namespace or a
/// ClusterRole.
fn role_rules(st: &State, kind: &str, ns: &str, name: &str) -> Result<Vec<Value>, ApiError> {
    let (resource, ns) = match kind {
        "ClusterRole" => ("clusterroles", ""),
        "Role" if !ns.is_empty() => ("roles", ns),
        other => {
            return Err(ApiError::Internal(format!(
                "unsupported role reference kind: {other:?}"
            )));
        }
    };
    let role = st
        .store
        .get(&GroupResource::new(RBAC_GROUP, resource), ns, name)
        .ok_or_else(|| ApiError::NotFound(Target::new(RBAC_GROUP, resource, name)))?;
    Ok(role.to_value()["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn is_superuser(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == "system:masters")
}

/// Whether `user` may `verb` the named object of `resource` in the RBAC group (the `escalate`
/// and `bind` checks).
fn may(st: &State, user: &UserInfo, verb: &str, resource: &str, ns: &str, name: &str) -> bool {
    rules_for(st, user, ns)
        .0
        .iter()
        .any(|r| rule_allows(r, verb, RBAC_GROUP, resource, "", name))
}

/// Whether an update only touches what garbage collection needs (owner references and
/// finalizers); such updates are never escalations.
fn only_gc_fields(obj: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "ownerReferences",
                "finalizers",
                "resourceVersion",
                "managedFields",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                m.remove(f);
            }
        }
        v
    };
    strip(obj) == strip(old)
}

/// Roles: every rule granted must be held already, unless the user may `escalate`.
fn admit_role(st: &State, req: &RequestInfo, user: &UserInfo, obj: &Value) -> Result<(), ApiError> {
    if may(
        st,
        user,
        "escalate",
        &req.resource,
        &req.namespace,
        &req.name,
    ) {
        return Ok(());
    }
    let denied = |msg: String| forbidden_grant(req, obj, msg);
    confirm_no_escalation(st, user, &req.namespace, &Rule::all_of(obj)).map_err(denied)?;
    let aggregates = obj.get("aggregationRule").is_some_and(|a| !a.is_null());
    if aggregates {
        confirm_no_escalation(st, user, &req.namespace, &Rule::full_authority()).map_err(|_| {
            denied("must have cluster-admin privileges to use the aggregationRule".into())
        })?;
    }
    Ok(())
}

/// Bindings: the user must hold the referenced role's permissions where the binding
/// applies, unless the user may `bind` that role.
fn admit_binding(
    st: &State,
    req: &RequestInfo,
    user: &UserInfo,
    obj: &Value,
) -> Result<(), ApiError> {
    let role_ref = &obj["roleRef"];
    let kind = role_ref["kind"].as_str().unwrap_or_default();
    let role = role_ref["name"].as_str().unwrap_or_default();
    let role_resource = match kind {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return Ok(()),
    };
    if may(st, user, "bind", role_resource, &req.namespace, role) {
        return Ok(());
    }
    let granted = role_rules(st, kind, &req.namespace, role)?;
    let servant: Vec<Rule> = granted.iter().map(Rule::from_json).collect();
    confirm_no_escalation(st, user, &req.namespace, &servant)
        .map_err(|msg| forbidden_grant(req, obj, msg))
}

/// Whether the rules `user` holds in `namespace` cover `servant`; the refusal otherwise.
fn confirm_no_escalation(
    st: &State,
    user: &UserInfo,
    namespace: &str,
    servant: &[Rule],
) -> Result<(), String> {
    let (owner, errors) = rules_for(st, user, namespace);
    let owner: Vec<Rule> = owner.iter().map(Rule::from_json).collect();
    let missing = escalation::uncovered(&owner, servant);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(escalation::not_held(
            &user.name,
            &user.groups,
            missing,
            &errors,
        ))
    }
}

/// `clusterroles.rbac.authorization.k8s.io "x" is forbidden: <why>`.
fn forbidden_grant(req: &RequestInfo, obj: &Value, why: String) -> ApiError {
    ApiError::Forbidden(format!(
        "{}.{RBAC_GROUP} {:?} is forbidden: {why}",
        req.resource,
        meta::name(obj)
    ))
}

impl Middleware for Rbac {
    fn before(&self, req: &RequestInfo) -> Result<(), ApiError> {
        let Some(user) = &req.user else {
            return Ok(());
        };
        if is_superuser(user) {
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
        let allowed = {
            let st = inner.state.lock();
            rules_for(&st, user, &req.namespace)
                .0
                .iter()
                .any(|r| rule_allows_resource(r, req))
        };
        if allowed {
            Ok(())
        } else {
            Err(forbidden(req, &user.name))
        }
    }

    /// RBAC escalation prevention for writes of roles and bindings.
    fn admit(
        &self,
        st: &State,
        req: &RequestInfo,
        obj: &Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(user) = &req.user else {
            return Ok(());
        };
        if is_superuser(user) || req.group != RBAC_GROUP || !req.subresource.is_empty() {
            return Ok(());
        }
        if old.is_some_and(|o| only_gc_fields(obj, o)) {
            return Ok(());
        }
        match req.resource.as_str() {
            "roles" | "clusterroles" => admit_role(st, req, user, obj),
            "rolebindings" | "clusterrolebindings" => admit_binding(st, req, user, obj),
            _ => Ok(()),
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
