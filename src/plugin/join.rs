//! `kubectl fed join`: gives the federation credentials in a member cluster and registers the
//! member on the host.
//!
//! Member side: the federation namespace, a ServiceAccount, a long-lived token Secret for it,
//! and a ClusterRole + ClusterRoleBinding. Host side: a Secret holding that token and the
//! KubeFedCluster, annotated with the RBAC mode (and, for `minimal`, the types granted). Every
//! step is idempotent: a second run changes nothing, and a run after `enable` updates the grant
//! and says what it added.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Api, Client};

use super::apply::{Outcome, covers_serialized, ensure, ensure_from, ensure_patched, never};
use super::kubeconfig::{self, MemberEndpoint};
use super::rbac::{self, RbacMode};
use super::{PluginError, Session, progress};
use crate::crds::kubefed_cluster::SECRET_TOKEN_KEY;
use crate::crds::{ConfigurationMode, FederatedTypeConfig, KubeFedCluster, KubeFedClusterSpec};

pub const EXAMPLES: &str = "\
Examples:
  # Join the cluster of context kind-member1 as \"member1\", host = current context
  kubectl fed join member1 --cluster-context kind-member1

  # Least-privilege RBAC: only the types currently enabled on the host
  kubectl fed join member1 --cluster-context kind-member1 --host-cluster-context kind-host --rbac minimal

  # After `kubectl fed enable`: grant the new type (the recorded --rbac mode is kept)
  kubectl fed join member1 --cluster-context kind-member1 --host-cluster-context kind-host

  # kubefedctl's spelling works too
  kubectl fed join member1 --cluster-context=kind-member1 --host-cluster-context=kind-host --error-on-existing=false

  # Show what would be created
  kubectl fed join member1 --cluster-context kind-member1 --dry-run

  # Pull mode: the member's agent dials the host; print its manifests for the member
  kubectl fed join member1 --mode pull -o yaml > agent.yaml

  # Pull mode, installing the agent in the member too
  kubectl fed join member1 --mode pull --cluster-context kind-member1";

/// Annotation tying a token Secret to its ServiceAccount.
const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
/// Type of Secrets the token controller fills.
const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// Name of the member cluster: the KubeFedCluster's name (a DNS-1123 subdomain).
    pub cluster: String,
    /// Kubeconfig context of the member cluster (default: the cluster name, as kubefedctl did).
    #[arg(long, value_name = "CONTEXT")]
    pub cluster_context: Option<String>,
    /// Name of the host cluster, used in the member-side ServiceAccount name
    /// `<cluster>-<host-cluster-name>` (default: the host context name, made a valid name).
    #[arg(long, value_name = "NAME")]
    pub host_cluster_name: Option<String>,
    /// Name of the host-side Secret holding the member's token (default: the existing
    /// KubeFedCluster's, else `<cluster>-token`).
    #[arg(long, value_name = "NAME")]
    pub secret_name: Option<String>,
    /// Fail when the cluster is already joined instead of reconciling it. (kubefedctl failed by
    /// default; here a second join updates what differs, so scripts passing
    /// `--error-on-existing=false` behave the same.)
    #[arg(long)]
    pub error_on_existing: bool,
    /// RBAC granted in the member: `full` (`*` on `*/*`, as KubeFed) or `minimal` (only the
    /// resources of the types enabled on the host, with `escalate`/`bind` on roles when RBAC
    /// types are enabled; re-run join after enabling more types). Default: the mode the
    /// cluster was joined with (annotation `kubefed.io/rbac`), else `full`. With --mode pull
    /// it is the agent's ClusterRole in the member (default `full`).
    #[arg(long, value_enum)]
    pub rbac: Option<RbacMode>,
    /// Seconds to wait for the member's token controller to issue the token.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub token_timeout: u64,
    /// `push`: the host reaches the member's API server with a token it stores. `pull`: the
    /// member runs kubefed-agent, which dials out to the host with a credential scoped to the
    /// host namespace `kubefed-cluster-<NAME>`; the host stores no member credential and needs
    /// no address of it. The agent is installed only with an explicit --cluster-context, or
    /// printed with -o yaml.
    #[arg(long, value_enum, default_value = "push")]
    pub mode: JoinMode,
    /// With --mode pull: print the agent's manifests for the member instead of installing them.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<super::OutputFormat>,
    /// With --mode pull: the image holding kubefed-agent.
    #[arg(long, default_value = "kubefed-operator:latest", value_name = "IMAGE")]
    pub agent_image: String,
    /// With --mode pull: lifetime in seconds of the agent's host token (TokenRequest).
    #[arg(long, default_value_t = 86400, value_name = "SECONDS")]
    pub token_ttl: i64,
}

/// How a member is joined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum JoinMode {
    #[default]
    Push,
    Pull,
}

/// Names of everything join creates, derived from the arguments alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinPlan {
    pub cluster: String,
    pub member_context: String,
    pub host_context: String,
    /// Given with `--host-cluster-name`, for the cleanup hint.
    pub explicit_host_name: Option<String>,
    pub namespace: String,
    pub service_account: String,
    pub token_secret: String,
    pub role: String,
    pub host_secret: String,
}

/// Checks that `name` is a DNS-1123 subdomain, as object names must be.
pub fn validate_name(what: &str, name: &str) -> Result<(), PluginError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(PluginError::Invalid(format!(
            "{what} {name:?} is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        )))
    }
}

impl JoinPlan {
    /// Derives every name. `existing_secret` is the secretRef of an existing KubeFedCluster.
    pub fn new(
        args: &JoinArgs,
        host_context: &str,
        namespace: &str,
        existing_secret: Option<&str>,
    ) -> Self {
        let host_name = args
            .host_cluster_name
            .clone()
            .unwrap_or_else(|| host_context.to_string());
        let service_account = rbac::service_account_name(&args.cluster, &host_name);
        Self {
            cluster: args.cluster.clone(),
            member_context: args
                .cluster_context
                .clone()
                .unwrap_or_else(|| args.cluster.clone()),
            host_context: host_context.to_string(),
            explicit_host_name: args.host_cluster_name.clone(),
            namespace: namespace.to_string(),
            token_secret: rbac::token_secret_name(&service_account),
            role: rbac::role_name(&service_account),
            host_secret: args
                .secret_name
                .clone()
                .or_else(|| existing_secret.map(str::to_string))
                .unwrap_or_else(|| format!("{}-token", args.cluster)),
            service_account,
        }
    }

    fn meta(&self, name: &str, namespaced: bool) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: namespaced.then(|| self.namespace.clone()),
            ..Default::default()
        }
    }

    pub fn member_namespace(&self) -> Namespace {
        Namespace {
            metadata: self.meta(&self.namespace, false),
            ..Default::default()
        }
    }

    pub fn service_account_object(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta(&self.service_account, true),
            ..Default::default()
        }
    }

    /// The Secret the member's token controller fills with a non-expiring token.
    pub fn token_secret_object(&self) -> Secret {
        let mut metadata = self.meta(&self.token_secret, true);
        metadata.annotations = Some(BTreeMap::from([(
            SA_NAME_ANNOTATION.to_string(),
            self.service_account.clone(),
        )]));
        Secret {
            metadata,
            type_: Some(SA_TOKEN_TYPE.to_string()),
            ..Default::default()
        }
    }

    pub fn cluster_role(&self, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: self.meta(&self.role, false),
            rules: Some(rules),
            ..Default::default()
        }
    }

    pub fn cluster_role_binding(&self) -> ClusterRoleBinding {
        ClusterRoleBinding {
            metadata: self.meta(&self.role, false),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_string(),
                kind: "ClusterRole".to_string(),
                name: self.role.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_string(),
                name: self.service_account.clone(),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            }]),
        }
    }

    pub fn host_secret_object(&self, token: &[u8]) -> Secret {
        Secret {
            metadata: self.meta(&self.host_secret, true),
            type_: Some("Opaque".to_string()),
            data: Some(BTreeMap::from([(
                SECRET_TOKEN_KEY.to_string(),
                ByteString(token.to_vec()),
            )])),
            ..Default::default()
        }
    }

    /// The KubeFedCluster, carrying the annotations that are set (see [`grant_annotations`]).
    pub fn kubefed_cluster(
        &self,
        spec: KubeFedClusterSpec,
        annotations: &BTreeMap<String, Option<String>>,
    ) -> KubeFedCluster {
        let mut cluster = KubeFedCluster::new(&self.cluster, spec);
        cluster.metadata.namespace = Some(self.namespace.clone());
        let set: BTreeMap<String, String> = annotations
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        if !set.is_empty() {
            cluster.metadata.annotations = Some(set);
        }
        cluster
    }

    /// The command that undoes a (partial) join.
    pub fn cleanup_command(&self) -> String {
        let mut command = format!(
            "kubectl fed unjoin {} --cluster-context {} --host-cluster-context {}",
            self.cluster, self.member_context, self.host_context
        );
        if let Some(name) = &self.explicit_host_name {
            command.push_str(&format!(" --host-cluster-name {name}"));
        }
        command
    }

    /// What join would do, for `--dry-run`.
    pub fn describe(&self, rbac: RbacMode, endpoint: &MemberEndpoint) -> String {
        let ns = &self.namespace;
        let rbac = match rbac {
            RbacMode::Full => "full access (* on */*)",
            RbacMode::Minimal => "access to the enabled federated types only",
        };
        [
            format!("member (context {}): Namespace {ns}", self.member_context),
            format!(
                "member (context {}): ServiceAccount {ns}/{}",
                self.member_context, self.service_account
            ),
            format!(
                "member (context {}): Secret {ns}/{} (service-account token)",
                self.member_context, self.token_secret
            ),
            format!(
                "member (context {}): ClusterRole and ClusterRoleBinding {} ({rbac})",
                self.member_context, self.role
            ),
            format!(
                "host (context {}): Secret {ns}/{} with the token",
                self.host_context, self.host_secret
            ),
            format!(
                "host (context {}): KubeFedCluster {ns}/{} (apiEndpoint {}{}{})",
                self.host_context,
                self.cluster,
                endpoint.server,
                if endpoint.insecure {
                    ", TLS verification disabled"
                } else {
                    ""
                },
                endpoint
                    .proxy_url
                    .as_deref()
                    .map(|p| format!(", proxy {p}"))
                    .unwrap_or_default()
            ),
        ]
        .iter()
        .map(|line| format!("would ensure {line}"))
        .collect::<Vec<_>>()
        .join("\n")
    }
}

/// The annotations recording a grant on the KubeFedCluster: the mode, and for `minimal` the
/// types covered. `None` removes an annotation (a cluster re-joined `full` loses the list).
pub fn grant_annotations(
    mode: RbacMode,
    targets: &[crate::crds::ApiResource],
) -> BTreeMap<String, Option<String>> {
    BTreeMap::from([
        (
            rbac::RBAC_ANNOTATION.to_string(),
            Some(mode.as_str().to_string()),
        ),
        (
            rbac::RBAC_TYPES_ANNOTATION.to_string(),
            (mode == RbacMode::Minimal).then(|| rbac::granted_types_annotation(targets)),
        ),
    ])
}

/// Whether an existing KubeFedCluster differs from the desired spec and annotations.
pub fn cluster_differs(
    existing: &KubeFedCluster,
    spec: &KubeFedClusterSpec,
    annotations: &BTreeMap<String, Option<String>>,
) -> bool {
    let current = existing.metadata.annotations.clone().unwrap_or_default();
    existing.spec != *spec
        || annotations
            .iter()
            .any(|(key, value)| current.get(key) != value.as_ref())
}

/// The merge patch bringing an existing KubeFedCluster to `spec` and `annotations`: optional
/// fields the new spec leaves out are nulled, so that e.g. a member that now verifies TLS loses
/// `disabledTLSValidations` instead of keeping it forever.
pub fn cluster_patch(
    spec: &KubeFedClusterSpec,
    annotations: &BTreeMap<String, Option<String>>,
) -> Result<serde_json::Value, PluginError> {
    let mut value = serde_json::to_value(spec).map_err(|e| PluginError::Render(e.to_string()))?;
    if let Some(map) = value.as_object_mut() {
        for field in ["caBundle", "disabledTLSValidations", "proxyURL"] {
            map.entry(field).or_insert(serde_json::Value::Null);
        }
    }
    Ok(serde_json::json!({ "metadata": { "annotations": annotations }, "spec": value }))
}

/// The target types of the enabled FederatedTypeConfigs, for `--rbac minimal`.
pub(super) async fn enabled_targets(
    host: &Client,
    namespace: &str,
) -> Result<Vec<crate::crds::ApiResource>, PluginError> {
    let configs = Api::<FederatedTypeConfig>::namespaced(host.clone(), namespace)
        .list(&Default::default())
        .await
        .map_err(|e| {
            PluginError::api(
                format!("cannot list FederatedTypeConfigs in {namespace} on the host (is the federation installed?)"),
                &e,
            )
        })?;
    Ok(configs
        .items
        .into_iter()
        .filter(|c| c.spec.propagation == ConfigurationMode::Enabled)
        .map(|c| c.spec.target_type)
        .collect())
}

/// Waits until the token controller has filled the Secret; returns `(token, ca.crt)`.
async fn wait_for_token(
    secrets: &Api<Secret>,
    plan: &JoinPlan,
    timeout: Duration,
) -> Result<(Vec<u8>, Option<Vec<u8>>), PluginError> {
    let deadline = Instant::now() + timeout;
    loop {
        let secret = secrets.get(&plan.token_secret).await.map_err(|e| {
            PluginError::api(format!("cannot read Secret {}", plan.token_secret), &e)
        })?;
        let data = secret.data.unwrap_or_default();
        if let Some(token) = data.get(SECRET_TOKEN_KEY).filter(|t| !t.0.is_empty()) {
            return Ok((token.0.clone(), data.get("ca.crt").map(|ca| ca.0.clone())));
        }
        if Instant::now() >= deadline {
            return Err(PluginError::TokenTimeout {
                namespace: plan.namespace.clone(),
                name: plan.token_secret.clone(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `side: a, b; other side: c`, keeping the order of the steps.
pub fn summarize(done: &[(String, String)]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (side, what) in done {
        match groups.last_mut() {
            Some((last, items)) if *last == side.as_str() => items.push(what),
            _ => groups.push((side, vec![what])),
        }
    }
    groups
        .iter()
        .map(|(side, items)| format!("{side}: {}", items.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Records finished steps so a failure can say what exists and how to remove it.
struct Steps<'a> {
    plan: &'a JoinPlan,
    /// `(side, object)` of every object created or changed so far.
    done: Vec<(String, String)>,
}

impl Steps<'_> {
    fn record(&mut self, side: &str, what: String, outcome: Outcome) {
        self.record_detailed(side, what, outcome, "");
    }

    /// Prints `side: what verb (details)` and remembers `what` when it changed.
    fn record_detailed(&mut self, side: &str, what: String, outcome: Outcome, details: &str) {
        let details = if details.is_empty() {
            String::new()
        } else {
            format!(" ({details})")
        };
        progress(format!("{side}: {what} {}{details}", outcome.verb()));
        if outcome != Outcome::Unchanged {
            self.done.push((side.to_string(), what));
        }
    }

    fn fail(&self, failure: PluginError) -> PluginError {
        if self.done.is_empty() {
            failure
        } else {
            PluginError::Partial {
                failure: Box::new(failure),
                done: summarize(&self.done),
                cleanup: self.plan.cleanup_command(),
            }
        }
    }
}

pub async fn run(session: &Session, args: JoinArgs) -> Result<String, PluginError> {
    validate_name("cluster name", &args.cluster)?;
    if args.mode == JoinMode::Pull {
        return super::pull_join::run(session, &args).await;
    }
    let member_context = args
        .cluster_context
        .clone()
        .unwrap_or_else(|| args.cluster.clone());
    let member_context = kubeconfig::resolve_context(&session.kubeconfig, Some(&member_context))?;
    let endpoint = kubeconfig::member_endpoint(&session.kubeconfig, &member_context)?;

    if session.dry_run {
        let plan = JoinPlan::new(&args, &session.host_context, &session.namespace, None);
        return Ok(plan.describe(args.rbac.unwrap_or(RbacMode::Full), &endpoint));
    }

    let host = session.host_client().await?;
    kubeconfig::check_reachable(
        &host,
        &session.kubeconfig,
        &session.host_context,
        "host cluster",
    )
    .await?;
    let clusters = Api::<KubeFedCluster>::namespaced(host.clone(), &session.namespace);
    let existing = clusters.get_opt(&args.cluster).await.map_err(|e| {
        PluginError::api(
            format!(
                "cannot read KubeFedCluster {}/{} on the host (context {})",
                session.namespace, args.cluster, session.host_context
            ),
            &e,
        )
    })?;
    if args.error_on_existing && existing.is_some() {
        return Err(PluginError::AlreadyExists(format!(
            "cluster {:?} is already joined (KubeFedCluster {}/{} exists)",
            args.cluster, session.namespace, args.cluster
        )));
    }
    let plan = JoinPlan::new(
        &args,
        &session.host_context,
        &session.namespace,
        existing.as_ref().map(|c| c.spec.secret_ref.name.as_str()),
    );
    let recorded = existing
        .as_ref()
        .and_then(|c| c.metadata.annotations.as_ref()?.get(rbac::RBAC_ANNOTATION))
        .and_then(|value| RbacMode::from_annotation(value));
    let mode = match (args.rbac, recorded) {
        (Some(mode), _) => mode,
        (None, Some(mode)) => {
            progress(format!(
                "using --rbac {} as recorded on KubeFedCluster {}/{} (annotation {})",
                mode.as_str(),
                session.namespace,
                args.cluster,
                rbac::RBAC_ANNOTATION
            ));
            mode
        }
        (None, None) => RbacMode::Full,
    };
    let (rules, targets) = match mode {
        RbacMode::Full => (rbac::full_rules(), Vec::new()),
        RbacMode::Minimal => {
            let targets = enabled_targets(&host, &session.namespace).await?;
            if targets.is_empty() {
                progress(
                    "warning: no federated type is enabled; the member grants only what health checks need",
                );
            }
            (rbac::minimal_rules(&targets), targets)
        }
    };
    let annotations = grant_annotations(mode, &targets);

    let member = kubeconfig::client(&session.kubeconfig, &plan.member_context).await?;
    kubeconfig::check_reachable(
        &member,
        &session.kubeconfig,
        &plan.member_context,
        "member cluster",
    )
    .await?;
    let mut steps = Steps {
        plan: &plan,
        done: Vec::new(),
    };
    let member_side = format!("member (context {})", plan.member_context);
    let ns = &plan.namespace;

    let service_accounts = Api::<ServiceAccount>::namespaced(member.clone(), ns);
    if args.error_on_existing {
        let found = service_accounts
            .get_opt(&plan.service_account)
            .await
            .map_err(|e| PluginError::api(format!("cannot reach the {member_side}"), &e))?;
        if found.is_some() {
            return Err(PluginError::AlreadyExists(format!(
                "ServiceAccount {ns}/{} already exists in the {member_side}",
                plan.service_account
            )));
        }
    }

    let outcome = ensure(
        &Api::<Namespace>::all(member.clone()),
        &plan.member_namespace(),
        never,
    )
    .await
    .map_err(|e| {
        steps.fail(PluginError::api(
            format!("cannot create Namespace {ns} in the {member_side}"),
            &e,
        ))
    })?;
    steps.record(&member_side, format!("Namespace {ns}"), outcome);

    let outcome = ensure(&service_accounts, &plan.service_account_object(), never)
        .await
        .map_err(|e| {
            steps.fail(PluginError::api(
                format!("cannot create ServiceAccount {ns}/{}", plan.service_account),
                &e,
            ))
        })?;
    steps.record(
        &member_side,
        format!("ServiceAccount {ns}/{}", plan.service_account),
        outcome,
    );

    let member_secrets = Api::<Secret>::namespaced(member.clone(), ns);
    let outcome = ensure(&member_secrets, &plan.token_secret_object(), never)
        .await
        .map_err(|e| {
            steps.fail(PluginError::api(
                format!("cannot create Secret {ns}/{}", plan.token_secret),
                &e,
            ))
        })?;
    steps.record(
        &member_side,
        format!("token Secret {ns}/{}", plan.token_secret),
        outcome,
    );

    let role = plan.cluster_role(rules.clone());
    let role_patch = serde_json::to_value(&role).map_err(|e| PluginError::Render(e.to_string()))?;
    let (outcome, previous) = ensure_from(
        &Api::<ClusterRole>::all(member.clone()),
        &role,
        |existing: &ClusterRole, desired: &ClusterRole| {
            !covers_serialized(&existing.rules, &desired.rules)
        },
        &role_patch,
    )
    .await
    .map_err(|e| {
        steps.fail(PluginError::api(
            format!("cannot create ClusterRole {}", plan.role),
            &e,
        ))
    })?;
    let changes = match (outcome, previous) {
        (Outcome::Updated, Some(previous)) => {
            rbac::grant_changes(&previous.rules.unwrap_or_default(), &rules).join("; ")
        }
        _ => String::new(),
    };
    steps.record_detailed(
        &member_side,
        format!("ClusterRole {}", plan.role),
        outcome,
        &changes,
    );

    let outcome = ensure(
        &Api::<ClusterRoleBinding>::all(member.clone()),
        &plan.cluster_role_binding(),
        |existing: &ClusterRoleBinding, desired: &ClusterRoleBinding| {
            !covers_serialized(&existing.subjects, &desired.subjects)
        },
    )
    .await
    .map_err(|e| {
        steps.fail(PluginError::api(
            format!("cannot create ClusterRoleBinding {}", plan.role),
            &e,
        ))
    })?;
    steps.record(
        &member_side,
        format!("ClusterRoleBinding {}", plan.role),
        outcome,
    );

    progress(format!(
        "{member_side}: waiting for the token of ServiceAccount {ns}/{}",
        plan.service_account
    ));
    let (token, secret_ca) = wait_for_token(
        &member_secrets,
        &plan,
        Duration::from_secs(args.token_timeout),
    )
    .await
    .map_err(|e| steps.fail(e))?;

    let host_side = format!("host (context {})", plan.host_context);
    let outcome = ensure(
        &Api::<Secret>::namespaced(host.clone(), ns),
        &plan.host_secret_object(&token),
        |existing: &Secret, desired: &Secret| !covers_serialized(&existing.data, &desired.data),
    )
    .await
    .map_err(|e| {
        steps.fail(PluginError::api(
            format!("cannot create Secret {ns}/{} on the host", plan.host_secret),
            &e,
        ))
    })?;
    steps.record(
        &host_side,
        format!("Secret {ns}/{}", plan.host_secret),
        outcome,
    );

    let spec = kubeconfig::cluster_spec(&endpoint, &plan.host_secret, secret_ca.as_deref());
    let update = cluster_patch(&spec, &annotations).map_err(|e| steps.fail(e))?;
    let outcome = ensure_patched(
        &clusters,
        &plan.kubefed_cluster(spec.clone(), &annotations),
        |existing: &KubeFedCluster, _: &KubeFedCluster| {
            cluster_differs(existing, &spec, &annotations)
        },
        &update,
    )
    .await
    .map_err(|e| {
        steps.fail(PluginError::api(
            format!(
                "cannot create KubeFedCluster {ns}/{} on the host",
                plan.cluster
            ),
            &e,
        ))
    })?;
    steps.record_detailed(
        &host_side,
        format!("KubeFedCluster {ns}/{}", plan.cluster),
        outcome,
        &format!("{}: {}", rbac::RBAC_ANNOTATION, mode.as_str()),
    );

    Ok(if steps.done.is_empty() {
        format!(
            "cluster {:?} is already joined; nothing changed",
            plan.cluster
        )
    } else {
        format!("cluster {:?} joined", plan.cluster)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: JoinArgs,
    }

    fn args(extra: &[&str]) -> JoinArgs {
        let mut argv = vec!["join", "member1", "--cluster-context", "kind-member1"];
        argv.extend_from_slice(extra);
        Wrapper::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn plan_names_follow_kubefedctl() {
        let plan = JoinPlan::new(&args(&[]), "kind-host", "kube-federation-system", None);
        assert_eq!(plan.service_account, "member1-kind-host");
        assert_eq!(plan.token_secret, "member1-kind-host-token");
        assert_eq!(plan.role, "kubefed-controller-manager:member1-kind-host");
        assert_eq!(plan.host_secret, "member1-token");
        assert_eq!(plan.member_context, "kind-member1");
        assert_eq!(
            plan.cleanup_command(),
            "kubectl fed unjoin member1 --cluster-context kind-member1 --host-cluster-context kind-host"
        );
    }

    #[test]
    fn plan_honours_overrides_and_existing_secret() {
        let with_names = args(&["--host-cluster-name", "hub", "--secret-name", "s1"]);
        let plan = JoinPlan::new(&with_names, "ctx", "fed", Some("old"));
        assert_eq!(plan.service_account, "member1-hub");
        assert_eq!(plan.host_secret, "s1");
        assert!(plan.cleanup_command().ends_with("--host-cluster-name hub"));
        let plan = JoinPlan::new(&args(&[]), "ctx", "fed", Some("old"));
        assert_eq!(plan.host_secret, "old");
    }

    #[test]
    fn objects_are_wired_together() {
        let plan = JoinPlan::new(&args(&[]), "host", "fed", None);
        let secret = plan.token_secret_object();
        assert_eq!(secret.type_.as_deref(), Some(SA_TOKEN_TYPE));
        assert_eq!(
            secret.metadata.annotations.unwrap()[SA_NAME_ANNOTATION],
            plan.service_account
        );
        let binding = plan.cluster_role_binding();
        assert_eq!(binding.role_ref.name, plan.role);
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(subject.name, plan.service_account);
        assert_eq!(subject.namespace.as_deref(), Some("fed"));
        let host_secret = plan.host_secret_object(b"tok");
        assert_eq!(host_secret.data.unwrap()["token"].0, b"tok");
        let cluster = plan.kubefed_cluster(
            KubeFedClusterSpec::default(),
            &grant_annotations(RbacMode::Full, &[]),
        );
        assert_eq!(cluster.metadata.namespace.as_deref(), Some("fed"));
        assert_eq!(cluster.metadata.name.as_deref(), Some("member1"));
        assert_eq!(
            cluster.metadata.annotations,
            Some(BTreeMap::from([(
                "kubefed.io/rbac".to_string(),
                "full".to_string()
            )]))
        );
    }

    #[test]
    fn dry_run_describes_every_object() {
        let plan = JoinPlan::new(&args(&[]), "host", "fed", None);
        let endpoint = MemberEndpoint {
            server: "https://m:6443".into(),
            ca_bundle: None,
            insecure: true,
            proxy_url: None,
        };
        let text = plan.describe(RbacMode::Minimal, &endpoint);
        assert_eq!(text.lines().count(), 6);
        assert!(text.contains(
            "KubeFedCluster fed/member1 (apiEndpoint https://m:6443, TLS verification disabled)"
        ));
        assert!(text.contains("enabled federated types only"));
    }

    #[test]
    fn cluster_update_removes_dropped_options() {
        let spec = KubeFedClusterSpec {
            api_endpoint: "https://m".into(),
            ..Default::default()
        };
        let patch = cluster_patch(&spec, &grant_annotations(RbacMode::Full, &[])).unwrap();
        assert_eq!(patch["metadata"]["annotations"]["kubefed.io/rbac"], "full");
        assert!(patch["metadata"]["annotations"]["kubefed.io/rbac-types"].is_null());
        assert_eq!(patch["spec"]["apiEndpoint"], "https://m");
        assert!(patch["spec"]["caBundle"].is_null());
        assert!(patch["spec"]["disabledTLSValidations"].is_null());
        assert!(patch["spec"]["proxyURL"].is_null());
        assert!(patch["spec"].get("proxyURL").is_some());
    }

    fn configmaps() -> crate::crds::ApiResource {
        crate::crds::ApiResource {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural_name: "configmaps".into(),
            scope: crate::crds::Scope::Namespaced,
        }
    }

    #[test]
    fn the_grant_is_recorded_and_compared() {
        let plan = JoinPlan::new(&args(&[]), "host", "fed", None);
        let spec = KubeFedClusterSpec {
            api_endpoint: "https://m".into(),
            ..Default::default()
        };
        let minimal = grant_annotations(RbacMode::Minimal, &[configmaps()]);
        assert_eq!(minimal["kubefed.io/rbac"].as_deref(), Some("minimal"));
        assert_eq!(
            minimal["kubefed.io/rbac-types"].as_deref(),
            Some("configmaps")
        );
        let existing = plan.kubefed_cluster(spec.clone(), &minimal);
        assert!(!cluster_differs(&existing, &spec, &minimal));
        // A new type, a change of mode, or a changed spec are all differences.
        let more = grant_annotations(
            RbacMode::Minimal,
            &[
                configmaps(),
                crate::crds::ApiResource {
                    group: "apps".into(),
                    kind: "Deployment".into(),
                    plural_name: "deployments".into(),
                    ..configmaps()
                },
            ],
        );
        assert_eq!(
            more["kubefed.io/rbac-types"].as_deref(),
            Some("configmaps,deployments.apps")
        );
        assert!(cluster_differs(&existing, &spec, &more));
        let full = grant_annotations(RbacMode::Full, &[]);
        assert!(cluster_differs(&existing, &spec, &full));
        let moved = KubeFedClusterSpec {
            api_endpoint: "https://n".into(),
            ..spec.clone()
        };
        assert!(cluster_differs(&existing, &moved, &minimal));
        // A cluster joined before annotations existed is brought up to date.
        let old = plan.kubefed_cluster(spec.clone(), &BTreeMap::new());
        assert!(cluster_differs(&old, &spec, &full));
    }

    #[test]
    fn rbac_defaults_to_the_recorded_mode() {
        assert_eq!(args(&[]).rbac, None);
        assert_eq!(args(&["--rbac", "minimal"]).rbac, Some(RbacMode::Minimal));
        assert_eq!(args(&["--rbac=full"]).rbac, Some(RbacMode::Full));
    }

    #[test]
    fn partial_progress_is_grouped_by_side() {
        let done = [
            (
                "member (context m)".to_string(),
                "Namespace fed".to_string(),
            ),
            (
                "member (context m)".to_string(),
                "ServiceAccount fed/sa".to_string(),
            ),
            ("host (context h)".to_string(), "Secret fed/s".to_string()),
        ];
        assert_eq!(
            summarize(&done),
            "member (context m): Namespace fed, ServiceAccount fed/sa; host (context h): Secret fed/s"
        );
    }

    #[test]
    fn cluster_names_are_validated() {
        assert!(validate_name("cluster name", "member-1.eu").is_ok());
        for bad in ["", "Member", "a_b", "-a", "a-"] {
            assert!(validate_name("cluster name", bad).is_err(), "{bad}");
        }
    }
}
