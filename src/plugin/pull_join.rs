//! `kubectl fed join NAME --mode pull`: the host side of a pull member (its cluster namespace,
//! the agent's ServiceAccount, a Role and RoleBinding scoped to that namespace, the
//! KubeFedCluster marked pull, a short-lived token from the TokenRequest API) and the agent's
//! manifests for the member (printed with `-o yaml`, or installed with `--cluster-context`).
//! The host keeps no credential for the member and needs no address of it.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use serde_json::{Value, json};

use super::apply::{Outcome, delete, ensure};
use super::join::JoinArgs;
use super::rbac::{self, RbacMode};
use super::{PluginError, Session, kubeconfig, progress, render_yaml};
use crate::crds::kubefed_cluster::LocalSecretReference;
use crate::crds::member_work::{AGENT_FINALIZER, MemberWork};
use crate::crds::member_work::{AGENT_LEASE, MODE_ANNOTATION, MODE_PULL, cluster_namespace};
use crate::crds::{KubeFedCluster, KubeFedClusterSpec};
use crate::runtime::finalizer;

/// The agent's ServiceAccount on the host (in the cluster namespace) and in the member.
pub const AGENT_SERVICE_ACCOUNT: &str = "kubefed-agent";
/// The member namespace the agent runs in.
pub const AGENT_NAMESPACE: &str = "kubefed-agent";
/// The Secret in the member holding the agent's host kubeconfig.
pub const HOST_KUBECONFIG_SECRET: &str = "kubefed-agent-host";
/// Pod-template annotation of the agent's Deployment: a hash of its host kubeconfig.
pub const HOST_KUBECONFIG_HASH_ANNOTATION: &str = "kubefed.io/host-kubeconfig-hash";

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_string(),
            "kubefed-agent".to_string(),
        )])),
        ..Default::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        ..Default::default()
    }
}

/// The host objects of a pull member, named after the cluster.
pub struct HostSide {
    pub cluster: String,
    pub federation_namespace: String,
}

impl HostSide {
    pub fn namespace_name(&self) -> String {
        cluster_namespace(&self.cluster)
    }

    pub fn namespace(&self) -> Namespace {
        Namespace {
            metadata: meta(&self.namespace_name(), None),
            ..Default::default()
        }
    }

    pub fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: meta(AGENT_SERVICE_ACCOUNT, Some(&self.namespace_name())),
            ..Default::default()
        }
    }

    /// What the agent may do on the host: its MemberWorks (read, report, release) and its
    /// Lease, in its own namespace; nothing else anywhere.
    pub fn role(&self) -> Role {
        Role {
            metadata: meta(AGENT_SERVICE_ACCOUNT, Some(&self.namespace_name())),
            rules: Some(vec![
                rule(
                    "work.kubefed.io",
                    &["memberworks"],
                    &["get", "list", "watch", "update", "patch"],
                    &[],
                ),
                rule(
                    "work.kubefed.io",
                    &["memberworks/status"],
                    &["get", "update", "patch"],
                    &[],
                ),
                rule("coordination.k8s.io", &["leases"], &["create"], &[]),
                rule(
                    "coordination.k8s.io",
                    &["leases"],
                    &["get", "update", "patch"],
                    &[AGENT_LEASE],
                ),
            ]),
        }
    }

    pub fn role_binding(&self) -> RoleBinding {
        let ns = self.namespace_name();
        RoleBinding {
            metadata: meta(AGENT_SERVICE_ACCOUNT, Some(&ns)),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: AGENT_SERVICE_ACCOUNT.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: AGENT_SERVICE_ACCOUNT.into(),
                namespace: Some(ns),
                ..Default::default()
            }]),
        }
    }

    /// The KubeFedCluster, valid for KubeFed v0.10's schema: the required `apiEndpoint` and
    /// `secretRef` name nothing the host ever uses.
    pub fn kubefed_cluster(&self, labels: BTreeMap<String, String>) -> KubeFedCluster {
        let mut cluster = KubeFedCluster::new(
            &self.cluster,
            KubeFedClusterSpec {
                api_endpoint: format!("pull://{}", self.cluster),
                secret_ref: LocalSecretReference {
                    name: String::new(),
                },
                ..Default::default()
            },
        );
        cluster.metadata.namespace = Some(self.federation_namespace.clone());
        cluster.metadata.annotations = Some(BTreeMap::from([(
            MODE_ANNOTATION.to_string(),
            MODE_PULL.to_string(),
        )]));
        cluster.metadata.labels = Some(labels);
        cluster
    }
}

/// What creating the host side did, by object.
pub type Done = Vec<(String, Outcome)>;

/// Creates (or leaves as they are) the host objects of a pull member.
pub async fn ensure_host_side(
    host: &Client,
    side: &HostSide,
    labels: BTreeMap<String, String>,
) -> Result<Done, (String, kube::Error)> {
    let ns = side.namespace_name();
    let at = |what: String| move |e| (what, e);
    let mut done = Vec::new();
    let o = ensure(&Api::all(host.clone()), &side.namespace(), |_, _| false)
        .await
        .map_err(at(format!("Namespace {ns}")))?;
    done.push((format!("Namespace {ns}"), o));
    let sa_api: Api<ServiceAccount> = Api::namespaced(host.clone(), &ns);
    let o = ensure(&sa_api, &side.service_account(), |_, _| false)
        .await
        .map_err(at(format!("ServiceAccount {ns}/{AGENT_SERVICE_ACCOUNT}")))?;
    done.push((format!("ServiceAccount {ns}/{AGENT_SERVICE_ACCOUNT}"), o));
    let role = side.role();
    let o = ensure(&Api::namespaced(host.clone(), &ns), &role, |a: &Role, b| {
        a.rules != b.rules
    })
    .await
    .map_err(at(format!("Role {ns}/{AGENT_SERVICE_ACCOUNT}")))?;
    done.push((format!("Role {ns}/{AGENT_SERVICE_ACCOUNT}"), o));
    let binding = side.role_binding();
    let o = ensure(&Api::namespaced(host.clone(), &ns), &binding, |_, _| false)
        .await
        .map_err(at(format!("RoleBinding {ns}/{AGENT_SERVICE_ACCOUNT}")))?;
    done.push((format!("RoleBinding {ns}/{AGENT_SERVICE_ACCOUNT}"), o));
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), &side.federation_namespace);
    let cluster = side.kubefed_cluster(labels);
    let o = ensure(&clusters, &cluster, |a: &KubeFedCluster, b| {
        a.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MODE_ANNOTATION))
            != b.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(MODE_ANNOTATION))
    })
    .await
    .map_err(at(format!("KubeFedCluster {}", side.cluster)))?;
    done.push((format!("KubeFedCluster {}", side.cluster), o));
    Ok(done)
}

/// A token for the agent's host ServiceAccount from the TokenRequest API, valid for
/// `seconds`.
pub async fn agent_token(
    host: &Client,
    side: &HostSide,
    seconds: i64,
) -> Result<String, kube::Error> {
    let api: Api<ServiceAccount> = Api::namespaced(host.clone(), &side.namespace_name());
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(seconds),
            ..Default::default()
        },
        ..Default::default()
    };
    let issued = api
        .create_token_request(AGENT_SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?;
    Ok(issued.status.map(|s| s.token).unwrap_or_default())
}

/// A kubeconfig for the agent: the host's address and CA, the scoped token, and the cluster
/// namespace as its default namespace.
pub fn host_kubeconfig(server: &str, ca_pem: Option<&str>, token: &str, namespace: &str) -> Value {
    use base64::Engine;
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "host", "cluster": cluster}],
        "users": [{"name": "kubefed-agent", "user": {"token": token}}],
        "contexts": [{"name": "host", "context": {"cluster": "host", "user": "kubefed-agent", "namespace": namespace}}],
        "current-context": "host",
    })
}

/// The agent's manifests for the member cluster: its namespace, ServiceAccount and the
/// ClusterRole with `rules` (what a push member grants the host: `--rbac full` or `minimal`),
/// the Secret with the host kubeconfig, and the Deployment. The pod template carries a hash of
/// the kubeconfig, so applying manifests with a new token (a re-join) restarts the agent with
/// it: the agent reads its host credential once, at start.
pub fn agent_manifests(
    cluster: &str,
    image: &str,
    host_kubeconfig: &Value,
    rules: &[PolicyRule],
) -> Vec<Value> {
    let kubeconfig = serde_json::to_string(host_kubeconfig).unwrap_or_default();
    let kubeconfig_hash = crate::core::hash::hash_value(host_kubeconfig);
    let labels = json!({"app.kubernetes.io/name": "kubefed-agent"});
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AGENT_NAMESPACE, "labels": labels}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": AGENT_SERVICE_ACCOUNT, "namespace": AGENT_NAMESPACE, "labels": labels}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "kubefed-agent", "labels": labels},
            "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubefed-agent", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubefed-agent"},
            "subjects": [{"kind": "ServiceAccount", "name": AGENT_SERVICE_ACCOUNT, "namespace": AGENT_NAMESPACE}]}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": HOST_KUBECONFIG_SECRET, "namespace": AGENT_NAMESPACE, "labels": labels},
            "stringData": {"kubeconfig": kubeconfig}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "kubefed-agent", "namespace": AGENT_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {HOST_KUBECONFIG_HASH_ANNOTATION: kubeconfig_hash},
                },
                "spec": {
                    "serviceAccountName": AGENT_SERVICE_ACCOUNT,
                    "containers": [{
                        "name": "agent",
                        "image": image,
                        "command": ["kubefed-agent"],
                        "args": ["--cluster-name", cluster, "--host-kubeconfig", "/etc/kubefed-agent/kubeconfig"],
                        "volumeMounts": [{"name": "host", "mountPath": "/etc/kubefed-agent", "readOnly": true}],
                    }],
                    "volumes": [{"name": "host", "secret": {"secretName": HOST_KUBECONFIG_SECRET}}],
                }
            }
        }}),
    ]
}

/// `kubectl fed join NAME --mode pull`.
pub async fn run(session: &Session, args: &JoinArgs) -> Result<String, PluginError> {
    let side = HostSide {
        cluster: args.cluster.clone(),
        federation_namespace: session.namespace.clone(),
    };
    let ns = side.namespace_name();
    if session.dry_run {
        return Ok(format!(
            "would create in host (context {}): Namespace {ns}, ServiceAccount, Role and RoleBinding {ns}/{AGENT_SERVICE_ACCOUNT}, KubeFedCluster {}/{} ({MODE_ANNOTATION}: {MODE_PULL}), a token for the agent valid {}s; no member credential is stored",
            session.host_context, session.namespace, args.cluster, args.token_ttl
        ));
    }
    let host = session.host_client().await?;
    kubeconfig::check_reachable(
        &host,
        &session.kubeconfig,
        &session.host_context,
        "host cluster",
    )
    .await?;
    let done = ensure_host_side(&host, &side, BTreeMap::new())
        .await
        .map_err(|(what, e)| PluginError::api(format!("cannot create {what}"), &e))?;
    for (what, outcome) in &done {
        progress(format!(
            "host (context {}): {what} {}",
            session.host_context,
            outcome.verb()
        ));
    }
    let token = agent_token(&host, &side, args.token_ttl)
        .await
        .map_err(|e| {
            PluginError::api(
                format!("cannot request a token for ServiceAccount {ns}/{AGENT_SERVICE_ACCOUNT}"),
                &e,
            )
        })?;
    let endpoint = kubeconfig::member_endpoint(&session.kubeconfig, &session.host_context)?;
    let ca = endpoint
        .ca_bundle
        .as_deref()
        .map(|pem| String::from_utf8_lossy(pem).into_owned());
    let kubeconfig = host_kubeconfig(&endpoint.server, ca.as_deref(), &token, &ns);
    let rules = match args.rbac.unwrap_or(RbacMode::Full) {
        RbacMode::Full => rbac::full_rules(),
        RbacMode::Minimal => {
            let targets = super::join::enabled_targets(&host, &session.namespace).await?;
            if targets.is_empty() {
                progress("warning: no federated type is enabled; the agent may write none");
            }
            rbac::minimal_rules(&targets)
        }
    };
    let manifests = agent_manifests(&args.cluster, &args.agent_image, &kubeconfig, &rules);
    if args.output.is_some() {
        return render_yaml(&manifests);
    }
    let Some(context) = &args.cluster_context else {
        return Ok(format!(
            "cluster {:?} joined in pull mode on the host; install its agent in the member with --cluster-context, or apply the manifests of -o yaml there",
            args.cluster
        ));
    };
    let context = kubeconfig::resolve_context(&session.kubeconfig, Some(context))?;
    let member = kubeconfig::client(&session.kubeconfig, &context).await?;
    for manifest in &manifests {
        let what = describe_manifest(manifest);
        install(&member, manifest)
            .await
            .map_err(|e| PluginError::api(format!("cannot apply {what} in the member"), &e))?;
        progress(format!("member (context {context}): {what} applied"));
    }
    Ok(format!("cluster {:?} joined in pull mode", args.cluster))
}

/// `kubectl fed unjoin NAME` of a pull member: the host side (its MemberWorks released, so
/// the namespace can go) and, with a member context, the agent. Member objects stay, as they
/// do when a push member is unjoined.
pub async fn unjoin(
    session: &Session,
    cluster: &KubeFedCluster,
    member_context: Option<&str>,
) -> Result<String, PluginError> {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    if let Some(context) = member_context {
        let context = kubeconfig::resolve_context(&session.kubeconfig, Some(context))?;
        let member = kubeconfig::client(&session.kubeconfig, &context).await?;
        let side = format!("member (context {context})");
        let fail =
            |what: &str, e: &kube::Error| PluginError::api(format!("cannot delete {what}"), e);
        let deleted = delete(
            &Api::<ClusterRoleBinding>::all(member.clone()),
            "kubefed-agent",
        )
        .await
        .map_err(|e| fail("ClusterRoleBinding kubefed-agent", &e))?;
        report(&side, "ClusterRoleBinding kubefed-agent", deleted);
        let deleted = delete(&Api::<ClusterRole>::all(member.clone()), "kubefed-agent")
            .await
            .map_err(|e| fail("ClusterRole kubefed-agent", &e))?;
        report(&side, "ClusterRole kubefed-agent", deleted);
        let deleted = delete(&Api::<Namespace>::all(member), AGENT_NAMESPACE)
            .await
            .map_err(|e| fail("Namespace kubefed-agent", &e))?;
        report(&side, &format!("Namespace {AGENT_NAMESPACE}"), deleted);
    }
    let host = session.host_client().await?;
    let side = format!("host (context {})", session.host_context);
    let ns = cluster_namespace(&name);
    let clusters: Api<KubeFedCluster> = Api::namespaced(host.clone(), &session.namespace);
    let deleted = delete(&clusters, &name)
        .await
        .map_err(|e| PluginError::api(format!("cannot delete KubeFedCluster {name}"), &e))?;
    report(
        &side,
        &format!("KubeFedCluster {}/{name}", session.namespace),
        deleted,
    );
    let works: Api<MemberWork> = Api::namespaced(host.clone(), &ns);
    let listed = works
        .list(&Default::default())
        .await
        .map_err(|e| PluginError::api(format!("cannot list MemberWorks in {ns}"), &e))?;
    for work in listed {
        finalizer::remove(&works, &work, AGENT_FINALIZER)
            .await
            .map_err(|e| PluginError::api(format!("cannot release MemberWorks in {ns}"), &e))?;
    }
    let deleted = delete(&Api::<Namespace>::all(host), &ns)
        .await
        .map_err(|e| PluginError::api(format!("cannot delete Namespace {ns}"), &e))?;
    report(
        &side,
        &format!("Namespace {ns} (MemberWorks, agent credential, Lease)"),
        deleted,
    );
    Ok(format!("cluster {name:?} unjoined"))
}

fn report(side: &str, what: &str, deleted: bool) {
    let verb = if deleted { "deleted" } else { "not found" };
    progress(format!("{side}: {what} {verb}"));
}

fn describe_manifest(manifest: &Value) -> String {
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Server-side applies one of [`agent_manifests`] in the member.
async fn install(member: &Client, manifest: &Value) -> Result<(), kube::Error> {
    let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "Namespace" => "namespaces",
        "ServiceAccount" => "serviceaccounts",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "Secret" => "secrets",
        _ => "deployments",
    };
    let resource = ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    };
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = match manifest["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(member.clone(), ns, &resource),
        None => Api::all_with(member.clone(), &resource),
    };
    api.patch(
        name,
        &PatchParams::apply("kubectl-fed").force(),
        &Patch::Apply(manifest),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_reaches_only_the_cluster_namespace() {
        let side = HostSide {
            cluster: "c1".into(),
            federation_namespace: "kube-federation-system".into(),
        };
        let role = side.role();
        assert_eq!(
            role.metadata.namespace.as_deref(),
            Some("kubefed-cluster-c1")
        );
        let rules = role.rules.unwrap();
        assert!(rules.iter().all(|r| {
            let groups = r.api_groups.clone().unwrap_or_default();
            groups == ["work.kubefed.io"] || groups == ["coordination.k8s.io"]
        }));
        assert!(
            rules
                .iter()
                .all(|r| !r.verbs.iter().any(|v| v == "*" || v == "delete"))
        );
        let cluster = side.kubefed_cluster(BTreeMap::new());
        assert!(crate::crds::member_work::is_pull(&cluster));
        assert_eq!(cluster.spec.api_endpoint, "pull://c1");
    }

    #[test]
    fn agent_manifests_carry_the_host_kubeconfig() {
        let kc = host_kubeconfig(
            "https://host:6443",
            Some("PEM"),
            "tok",
            "kubefed-cluster-c1",
        );
        assert_eq!(kc["users"][0]["user"]["token"], "tok");
        let manifests = agent_manifests("c1", "kubefed-operator:latest", &kc, &rbac::full_rules());
        let kinds: Vec<&str> = manifests
            .iter()
            .filter_map(|m| m["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "Secret",
                "Deployment"
            ]
        );
        let secret = &manifests[4]["stringData"]["kubeconfig"];
        assert!(secret.as_str().unwrap().contains("tok"));
        // A new token changes the pod template, so applying it restarts the agent.
        let template_hash = |m: &[Value]| {
            m[5]["spec"]["template"]["metadata"]["annotations"][HOST_KUBECONFIG_HASH_ANNOTATION]
                .clone()
        };
        let rotated = host_kubeconfig(
            "https://host:6443",
            Some("PEM"),
            "tok2",
            "kubefed-cluster-c1",
        );
        let again = agent_manifests("c1", "kubefed-operator:latest", &kc, &[]);
        let after = agent_manifests("c1", "kubefed-operator:latest", &rotated, &[]);
        assert!(template_hash(&manifests).is_string());
        assert_eq!(template_hash(&manifests), template_hash(&again));
        assert_ne!(template_hash(&manifests), template_hash(&after));
    }

    #[test]
    fn the_agents_member_grant_follows_the_rbac_mode() {
        let kc = host_kubeconfig("https://host:6443", None, "tok", "kubefed-cluster-c1");
        let deployments = crate::crds::ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            plural_name: "deployments".into(),
            scope: crate::crds::Scope::Namespaced,
        };
        let full = agent_manifests("c1", "i", &kc, &rbac::full_rules());
        assert_eq!(full[2]["rules"][0]["verbs"], json!(["*"]));
        let minimal = agent_manifests("c1", "i", &kc, &rbac::minimal_rules(&[deployments]));
        let rules = minimal[2]["rules"].as_array().unwrap();
        assert!(rules.iter().all(|r| !r.to_string().contains('*')));
        assert!(
            rules
                .iter()
                .any(|r| r["apiGroups"] == json!(["apps"])
                    && r["resources"] == json!(["deployments"]))
        );
    }
}
