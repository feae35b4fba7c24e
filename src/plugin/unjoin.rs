//! `kubectl fed unjoin`: removes what `join` created, member side first so that a failure
//! there leaves the registration in place to retry (unless `--force`).

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::{Api, Client};

use super::apply::delete;
use super::join::{JoinArgs, JoinPlan};
use super::kubeconfig;
use super::{PluginError, Session, progress};
use crate::crds::KubeFedCluster;

pub const EXAMPLES: &str = "\
Examples:
  # Unjoin member1 (member context kind-member1) from the federation on the current context
  kubectl fed unjoin member1 --cluster-context kind-member1

  # The member is gone for good: remove the host-side registration anyway
  kubectl fed unjoin member1 --cluster-context kind-member1 --force";

#[derive(Debug, clap::Args)]
pub struct UnjoinArgs {
    /// Name of the member cluster (its KubeFedCluster's name).
    pub cluster: String,
    /// Kubeconfig context of the member cluster (default: the cluster name).
    #[arg(long, value_name = "CONTEXT")]
    pub cluster_context: Option<String>,
    /// Name of the host cluster given to `join` (default: the host context name).
    #[arg(long, value_name = "NAME")]
    pub host_cluster_name: Option<String>,
    /// Remove the host-side registration even when the member cannot be reached or cleaned.
    #[arg(long)]
    pub force: bool,
}

impl UnjoinArgs {
    fn as_join(&self) -> JoinArgs {
        JoinArgs {
            cluster: self.cluster.clone(),
            cluster_context: self.cluster_context.clone(),
            host_cluster_name: self.host_cluster_name.clone(),
            secret_name: None,
            error_on_existing: false,
            rbac: None,
            token_timeout: 0,
            mode: super::join::JoinMode::Push,
            output: None,
            agent_image: String::new(),
            token_ttl: 0,
        }
    }
}

fn report(side: &str, what: String, deleted: bool) {
    let verb = if deleted { "deleted" } else { "already absent" };
    progress(format!("{side}: {what} {verb}"));
}

/// Deletes the member-side objects; the namespace stays when the member is the host itself.
async fn clean_member(
    member: &Client,
    plan: &JoinPlan,
    side: &str,
    keep_namespace: bool,
) -> Result<(), PluginError> {
    let ns = &plan.namespace;
    let fail = |what: &str, e: &kube::Error| {
        PluginError::api(format!("cannot delete {what} in the {side}"), e)
    };
    let what = format!("ClusterRoleBinding {}", plan.role);
    let deleted = delete(&Api::<ClusterRoleBinding>::all(member.clone()), &plan.role)
        .await
        .map_err(|e| fail(&what, &e))?;
    report(side, what, deleted);
    let what = format!("ClusterRole {}", plan.role);
    let deleted = delete(&Api::<ClusterRole>::all(member.clone()), &plan.role)
        .await
        .map_err(|e| fail(&what, &e))?;
    report(side, what, deleted);
    let what = format!("token Secret {ns}/{}", plan.token_secret);
    let deleted = delete(
        &Api::<Secret>::namespaced(member.clone(), ns),
        &plan.token_secret,
    )
    .await
    .map_err(|e| fail(&what, &e))?;
    report(side, what, deleted);
    let what = format!("ServiceAccount {ns}/{}", plan.service_account);
    let deleted = delete(
        &Api::<ServiceAccount>::namespaced(member.clone(), ns),
        &plan.service_account,
    )
    .await
    .map_err(|e| fail(&what, &e))?;
    report(side, what, deleted);
    if keep_namespace {
        progress(format!(
            "{side}: Namespace {ns} kept (the member is the host cluster)"
        ));
    } else {
        let what = format!("Namespace {ns}");
        let deleted = delete(&Api::<Namespace>::all(member.clone()), ns)
            .await
            .map_err(|e| fail(&what, &e))?;
        report(side, what, deleted);
    }
    Ok(())
}

pub async fn run(session: &Session, args: UnjoinArgs) -> Result<String, PluginError> {
    // A pull member has its own host side and agent; its member context is optional.
    if !session.dry_run {
        let host = session.host_client().await?;
        let clusters = Api::<KubeFedCluster>::namespaced(host, &session.namespace);
        if let Ok(Some(cluster)) = clusters.get_opt(&args.cluster).await
            && crate::crds::member_work::is_pull(&cluster)
        {
            return super::pull_join::unjoin(session, &cluster, args.cluster_context.as_deref())
                .await;
        }
    }
    let join_args = args.as_join();
    let plan = JoinPlan::new(&join_args, &session.host_context, &session.namespace, None);
    let member_context =
        kubeconfig::resolve_context(&session.kubeconfig, Some(&plan.member_context));
    let member_context = match member_context {
        Ok(context) => Some(context),
        Err(err) if args.force => {
            progress(format!(
                "warning: {err}; skipping the member side (--force)"
            ));
            None
        }
        Err(err) => return Err(err),
    };
    let keep_namespace = member_context.as_deref().is_some_and(|member| {
        kubeconfig::same_server(&session.kubeconfig, member, &session.host_context)
    });

    if session.dry_run {
        let ns = &plan.namespace;
        let mut lines = Vec::new();
        if let Some(member) = &member_context {
            lines.push(format!(
                "would delete in member (context {member}): ClusterRoleBinding and ClusterRole {}, Secret {ns}/{}, ServiceAccount {ns}/{}{}",
                plan.role,
                plan.token_secret,
                plan.service_account,
                if keep_namespace { String::new() } else { format!(", Namespace {ns}") }
            ));
        }
        lines.push(format!(
            "would delete in host (context {}): KubeFedCluster {ns}/{} and its Secret",
            session.host_context, plan.cluster
        ));
        return Ok(lines.join("\n"));
    }

    let host = session.host_client().await?;
    let clusters = Api::<KubeFedCluster>::namespaced(host.clone(), &session.namespace);
    let existing = clusters.get_opt(&plan.cluster).await.map_err(|e| {
        PluginError::api(
            format!(
                "cannot read KubeFedCluster {}/{} on the host (context {})",
                session.namespace, plan.cluster, session.host_context
            ),
            &e,
        )
    })?;
    let host_secret = existing
        .as_ref()
        .map(|c| c.spec.secret_ref.name.clone())
        .unwrap_or_else(|| plan.host_secret.clone());

    if let Some(member_context) = &member_context {
        let side = format!("member (context {member_context})");
        let result = match kubeconfig::client(&session.kubeconfig, member_context).await {
            Ok(member) => {
                match kubeconfig::check_reachable(
                    &member,
                    &session.kubeconfig,
                    member_context,
                    "member cluster",
                )
                .await
                {
                    Ok(()) => clean_member(&member, &plan, &side, keep_namespace).await,
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {}
            Err(err) if args.force => {
                progress(format!(
                    "warning: {err}; continuing with the host side (--force)"
                ));
            }
            Err(err) => {
                return Err(PluginError::Invalid(format!(
                    "{err}; nothing was removed from the host, retry or pass --force to unregister anyway"
                )));
            }
        }
    }

    let side = format!("host (context {})", session.host_context);
    let ns = &session.namespace;
    let deleted = delete(&clusters, &plan.cluster).await.map_err(|e| {
        PluginError::api(
            format!("cannot delete KubeFedCluster {ns}/{}", plan.cluster),
            &e,
        )
    })?;
    report(
        &side,
        format!("KubeFedCluster {ns}/{}", plan.cluster),
        deleted,
    );
    let deleted = delete(&Api::<Secret>::namespaced(host.clone(), ns), &host_secret)
        .await
        .map_err(|e| PluginError::api(format!("cannot delete Secret {ns}/{host_secret}"), &e))?;
    report(&side, format!("Secret {ns}/{host_secret}"), deleted);
    Ok(format!("cluster {:?} unjoined", plan.cluster))
}
