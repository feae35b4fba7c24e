//! RBAC escalation prevention: a ServiceAccount may grant (in a role) or bind (in a binding)
//! only what it holds, unless it has `escalate` or `bind` on the role.

use http::Method;
use serde_json::{Value, json};

use crate::target::{Raw, Target, send_with, targets, unique};

const JSON: &str = "application/json";
const RBAC: &str = "rbac.authorization.k8s.io";

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name}, "rules": rules})
}

fn binding(name: &str, role: &str, ns: &str, sa: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": name},
           "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]})
}

const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

fn created(r: &Raw, what: &str) {
    assert_eq!(r.code, 201, "{what}: {}", r.body);
}

/// The real server's refusal: the missing rules, compacted, one per line.
fn not_held(resource: &str, name: &str, ns: &str, sa: &str, missing: &[&str]) -> String {
    format!(
        "{resource}.rbac.authorization.k8s.io {name:?} is forbidden: user \"system:serviceaccount:{ns}:{sa}\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:{ns}\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{}",
        missing.join("\n")
    )
}

struct Limited {
    ns: String,
    sa: String,
    /// The role bound to the ServiceAccount; the admin widens it during the test.
    own_role: String,
    client: kube::Client,
    names: Vec<String>,
}

/// A ServiceAccount that may create and update ClusterRoles and ClusterRoleBindings and read
/// ConfigMaps, with a token from the TokenRequest API.
async fn limited(t: &Target) -> Limited {
    let ns = t.namespace("strict-rbac").await;
    let sa = "limited".to_string();
    let id = unique("strict");
    let own_role = format!("{id}-own");
    let r = t
        .send(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            JSON,
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}}),
        )
        .await;
    created(&r, "service account");
    let rules = json!([
        {"apiGroups": [RBAC], "resources": ["clusterroles", "clusterrolebindings"], "verbs": ["create", "update", "get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
    ]);
    created(
        &t.send(Method::POST, ROLES, JSON, &cluster_role(&own_role, rules))
            .await,
        "own role",
    );
    created(
        &t.send(
            Method::POST,
            BINDINGS,
            JSON,
            &binding(&own_role, &own_role, &ns, &sa),
        )
        .await,
        "own binding",
    );
    let token = t
        .send(Method::POST, &format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token"), JSON,
              &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}))
        .await;
    created(&token, "token");
    let token = token.body["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    Limited {
        client: t.client_as(&token),
        names: vec![id],
        ns,
        sa,
        own_role,
    }
}

impl Limited {
    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.names[0])
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> Raw {
        send_with(&self.client, method, path, JSON, body).await
    }

    /// The admin adds rules to the ServiceAccount's own role.
    async fn grant(&self, t: &Target, extra: Value) {
        let path = format!("{ROLES}/{}", self.own_role);
        let mut role = t.send(Method::GET, &path, "", &Value::Null).await.body;
        role["rules"].as_array_mut().expect("rules").push(extra);
        let r = t.send(Method::PUT, &path, JSON, &role).await;
        assert_eq!(r.code, 200, "grant: {}", r.body);
    }

    async fn cleanup(&self, t: &Target, roles: &[String], bindings: &[String]) {
        let mut paths: Vec<String> = roles.iter().map(|r| format!("{ROLES}/{r}")).collect();
        paths.extend(bindings.iter().map(|b| format!("{BINDINGS}/{b}")));
        paths.push(format!("{ROLES}/{}", self.own_role));
        paths.push(format!("{BINDINGS}/{}", self.own_role));
        paths.push(format!("/api/v1/namespaces/{}", self.ns));
        t.cleanup(&paths).await;
    }
}

#[tokio::test]
async fn cluster_role_granting_more_than_held_needs_escalate() {
    for t in targets().await {
        let sa = limited(&t).await;
        let held = sa.name("held");
        let wider = sa.name("wider");
        let r = sa
            .send(
                Method::POST,
                ROLES,
                &cluster_role(
                    &held,
                    json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
                ),
            )
            .await;
        created(
            &r,
            &format!("{}: a role within what the account holds", t.transport),
        );
        let rules = json!([
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "delete"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"], "resourceNames": ["web"]},
        ]);
        let r = sa
            .send(Method::POST, ROLES, &cluster_role(&wider, rules.clone()))
            .await;
        r.expect(403, "Forbidden", &t.transport);
        assert_eq!(
            r.message(),
            not_held(
                "clusterroles",
                &wider,
                &sa.ns,
                &sa.sa,
                &[
                    r#"{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}"#,
                    r#"{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get"]}"#,
                ]
            ),
            "{}",
            t.transport
        );
        // Widening an existing role is refused the same way.
        let mut update = t
            .send(Method::GET, &format!("{ROLES}/{held}"), "", &Value::Null)
            .await
            .body;
        update["rules"] = rules.clone();
        let r = sa
            .send(Method::PUT, &format!("{ROLES}/{held}"), &update)
            .await;
        r.expect(403, "Forbidden", &t.transport);
        assert!(
            r.message().starts_with(&format!(
                "clusterroles.rbac.authorization.k8s.io {held:?} is forbidden: user "
            )),
            "{}",
            r.message()
        );
        sa.grant(
            &t,
            json!({"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["escalate"]}),
        )
        .await;
        let r = sa
            .send(Method::POST, ROLES, &cluster_role(&wider, rules))
            .await;
        created(&r, &format!("{}: with escalate", t.transport));
        let r = sa
            .send(Method::PUT, &format!("{ROLES}/{held}"), &update)
            .await;
        assert_eq!(
            r.code, 200,
            "{}: update with escalate: {}",
            t.transport, r.body
        );
        sa.cleanup(&t, &[held, wider], &[]).await;
    }
}

#[tokio::test]
async fn binding_a_role_not_held_needs_bind() {
    for t in targets().await {
        let sa = limited(&t).await;
        let reader = sa.name("reader");
        let secrets = sa.name("secrets");
        let roles = [
            (
                reader.clone(),
                json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
            ),
            (
                secrets.clone(),
                json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
            ),
        ];
        for (name, rules) in &roles {
            created(
                &t.send(
                    Method::POST,
                    ROLES,
                    JSON,
                    &cluster_role(name, rules.clone()),
                )
                .await,
                "role",
            );
        }
        let reader_binding = sa.name("reader-binding");
        let r = sa
            .send(
                Method::POST,
                BINDINGS,
                &binding(&reader_binding, &reader, &sa.ns, "someone"),
            )
            .await;
        created(
            &r,
            &format!(
                "{}: binding a role within what the account holds",
                t.transport
            ),
        );
        let secrets_binding = sa.name("secrets-binding");
        let body = binding(&secrets_binding, &secrets, &sa.ns, "someone");
        let r = sa.send(Method::POST, BINDINGS, &body).await;
        r.expect(403, "Forbidden", &t.transport);
        assert_eq!(
            r.message(),
            not_held(
                "clusterrolebindings",
                &secrets_binding,
                &sa.ns,
                &sa.sa,
                &[r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}"#,]
            ),
            "{}",
            t.transport
        );
        // `bind` on another role does not help: resourceNames are honoured.
        sa.grant(&t, json!({"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": [reader]})).await;
        sa.send(Method::POST, BINDINGS, &body)
            .await
            .expect(403, "Forbidden", &t.transport);
        sa.grant(&t, json!({"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": [secrets]})).await;
        let r = sa.send(Method::POST, BINDINGS, &body).await;
        created(&r, &format!("{}: with bind on the role", t.transport));
        // A binding to a role that does not exist cannot be checked: NotFound.
        let r = sa
            .send(
                Method::POST,
                BINDINGS,
                &binding(
                    &sa.name("ghost-binding"),
                    &sa.name("ghost"),
                    &sa.ns,
                    "someone",
                ),
            )
            .await;
        r.expect(404, "NotFound", &t.transport);
        assert_eq!(
            r.message(),
            format!(
                "clusterroles.rbac.authorization.k8s.io {:?} not found",
                sa.name("ghost")
            ),
            "{}",
            t.transport
        );
        sa.cleanup(&t, &[reader, secrets], &[reader_binding, secrets_binding])
            .await;
    }
}
