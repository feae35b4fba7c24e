//! The member writes of a dependency plan, all at once, through the shared member write path
//! ([`MemberWriter`]): to a push member as the workload's own field manager, to a pull member
//! as its dependency MemberWork on the host ([`crate::core::dependencies::pull`]), each write
//! made from the MemberWork as it was read.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::Client;
use kube::api::Api;
use kube::core::ApiResource;
use serde_json::json;
use std::time::Duration;

use super::host::dependency_api;
use crate::core::dependencies::plan::{
    DependencyAction, DependencyStep, MemberDependencies, WhenLast,
};
use crate::core::dependencies::pull::{
    Release, dependency_work_name, last_patch, release, work_target,
};
use crate::core::dependencies::{DEPENDENCY_LABEL, DEPENDENT_LABEL_PREFIX, dependent_manager};
use crate::core::events::{EventBatch, Severity};
use crate::core::observation::{ManagedLabel, MemberObject, StatusCollection};
use crate::core::pull::render_work;
use crate::crds::federated::{AggregateKind, MANAGED_LABEL};
use crate::crds::member_work::{MemberWork, cluster_namespace};
use crate::members::pool::{MemberPool, Members};
use crate::members::write::{Failure, MemberWriter, TimedFrom};
use crate::runtime::error::ErrorCategory;

/// The field manager of dependency MemberWorks: one for every workload, since each write
/// holds the whole manifest.
const WORK_MANAGER: &str = "kubefed";

/// How the writes go.
pub struct Writes<'a> {
    pub namespace: &'a str,
    /// The workload's dependent label.
    pub label: &'a str,
    pub adopt_resources: bool,
    pub timeout: Duration,
    pub pool: &'a MemberPool,
    /// The host, which holds pull members' MemberWorks.
    pub host: &'a Client,
}

/// What executing the steps did: the failures (one message each) and the events.
#[derive(Debug, Default)]
pub struct Executed {
    pub failures: Vec<String>,
    pub events: EventBatch,
    /// A pull member's MemberWork changed after it was read, so a write was refused: the
    /// workload looks again (that change's watch event wakes it too).
    pub again: bool,
}

/// Where one step writes.
enum Target {
    /// A push member, as the workload's field manager (`epoch`: of its client).
    Push { writer: MemberWriter, epoch: u64 },
    /// A pull member's MemberWorks, and the one of this dependency as it was read.
    Pull {
        writer: MemberWriter,
        work: Option<Arc<MemberWork>>,
    },
}

/// What one step did.
enum Did {
    /// The event reason of what happened.
    Event(&'static str),
    Nothing,
    /// Refused because the MemberWork changed meanwhile.
    Again,
}

/// Runs every step concurrently; `held` is the member view the steps were planned from.
pub async fn execute(
    steps: &[DependencyStep],
    writes: &Writes<'_>,
    members: &Members,
    held: &BTreeMap<String, MemberDependencies>,
) -> Executed {
    let runs = steps.iter().filter_map(|step| {
        let member = members.get(&step.cluster)?;
        let target = if member.pull {
            if !member.is_ready() {
                return None;
            }
            Target::Pull {
                writer: MemberWriter {
                    api: Api::namespaced_with(
                        writes.host.clone(),
                        &cluster_namespace(&step.cluster),
                        &ApiResource::erase::<MemberWork>(&()),
                    ),
                    manager: WORK_MANAGER.to_string(),
                    timeout: writes.timeout,
                    timed_from: TimedFrom::Call,
                },
                work: held
                    .get(&step.cluster)
                    .and_then(|m| m.works.get(&step.dependency))
                    .cloned(),
            }
        } else {
            let client = member.ready_client()?.clone();
            Target::Push {
                writer: MemberWriter {
                    api: dependency_api(client, writes.namespace, step.dependency.kind),
                    manager: dependent_manager(writes.label),
                    timeout: writes.timeout,
                    timed_from: TimedFrom::Call,
                },
                epoch: member.client_epoch,
            }
        };
        Some(async move {
            let result = match &target {
                Target::Push { writer, .. } => run(step, writer, writes)
                    .await
                    .map(|reason| reason.map_or(Did::Nothing, Did::Event)),
                Target::Pull { writer, work } => {
                    run_pull(step, writer, work.as_deref(), writes).await
                }
            };
            let epoch = match target {
                Target::Push { epoch, .. } => Some(epoch),
                Target::Pull { .. } => None,
            };
            (step, epoch, result)
        })
    });
    let mut executed = Executed::default();
    for (step, epoch, result) in futures::future::join_all(runs).await {
        let what = step.dependency.to_string();
        match result {
            Ok(Did::Event(reason)) => executed.events.add(
                Severity::Normal,
                reason,
                "propagated dependencies",
                &step.cluster,
                Some(&what),
            ),
            Ok(Did::Nothing) => {}
            Ok(Did::Again) => executed.again = true,
            Err(failure) => {
                // A push member that does not answer waits for its probes; a pull member's
                // failures are the host's.
                if let Some(epoch) = epoch {
                    writes
                        .pool
                        .request_failed(&step.cluster, epoch, failure.category);
                }
                executed.events.add(
                    Severity::Warning,
                    "DependencyInClusterFailed",
                    "cannot propagate dependencies",
                    &step.cluster,
                    Some(&format!("{what}: {}", failure.message)),
                );
                executed
                    .failures
                    .push(format!("{what} in {}: {}", step.cluster, failure.message));
            }
        }
    }
    executed
}

/// One step in a pull member: its MemberWork written whole, from the one read (`work`).
async fn run_pull(
    step: &DependencyStep,
    writer: &MemberWriter,
    work: Option<&MemberWork>,
    writes: &Writes<'_>,
) -> Result<Did, Failure> {
    let name = dependency_work_name(&step.dependency, writes.namespace);
    let target = work_target(&step.cluster, step.dependency.kind, writes.adopt_resources);
    let version = work.and_then(|w| w.metadata.resource_version.clone());
    // Refused because it changed since it was read (or was created meanwhile).
    let again = |failure: Failure| match failure.category {
        ErrorCategory::Conflict => Ok(Did::Again),
        _ => Err(failure),
    };
    let apply = |desired| {
        let mut body = render_work(&target, &name, desired);
        if let Some(version) = &version {
            body["metadata"]["resourceVersion"] = json!(version);
        }
        // Without a version read, a create that refuses to overwrite.
        let create = version.is_none();
        let writer = &writer;
        let name = &name;
        async move { writer.apply(name, &body, create).await }
    };
    match &step.action {
        DependencyAction::Create(desired) | DependencyAction::Update(desired) => {
            let reason = match work {
                None => "CreateDependencyInCluster",
                Some(_) => "UpdateDependencyInCluster",
            };
            match apply(desired).await {
                Ok(_) => Ok(Did::Event(reason)),
                Err(failure) => again(failure),
            }
        }
        DependencyAction::Release(when_last) => {
            let Some(work) = work else {
                return Ok(Did::Nothing);
            };
            // Federated explicitly now: the MemberWork goes whoever else it was for.
            let released = match when_last {
                WhenLast::Keep => Release::Last,
                _ => release(&work.spec.manifest, writes.label),
            };
            match released {
                Release::Rewrite(desired) => match apply(&desired).await {
                    Ok(_) => Ok(Did::Nothing),
                    Err(failure) => again(failure),
                },
                Release::Last => {
                    let mut version = version.clone();
                    let (orphan, keep) =
                        (*when_last == WhenLast::Orphan, *when_last == WhenLast::Keep);
                    if let Some(patch) = last_patch(orphan, keep, version.as_deref()) {
                        match writer.merge_patch(&name, &patch).await {
                            Ok(Some(patched)) => version = patched.metadata.resource_version,
                            Ok(None) => return Ok(Did::Nothing),
                            Err(failure) => return again(failure),
                        }
                    }
                    // The agent deletes (or orphans) the copy, then lets the MemberWork go.
                    match writer.delete_unchanged(&name, version).await {
                        Ok(true) if *when_last == WhenLast::Delete => {
                            Ok(Did::Event("DeleteDependencyInCluster"))
                        }
                        Ok(_) => Ok(Did::Nothing),
                        Err(failure) => again(failure),
                    }
                }
            }
        }
    }
}

/// One step in a push member; the event reason of what it did, if anything.
async fn run(
    step: &DependencyStep,
    writer: &MemberWriter,
    writes: &Writes<'_>,
) -> Result<Option<&'static str>, Failure> {
    let name = &step.dependency.name;
    match &step.action {
        DependencyAction::Update(desired) => {
            writer.apply(name, &desired.object, false).await?;
            Ok(Some("UpdateDependencyInCluster"))
        }
        DependencyAction::Create(desired) => {
            match writer.apply(name, &desired.object, true).await {
                Ok(_) => Ok(Some("CreateDependencyInCluster")),
                Err(f) if f.category == ErrorCategory::Conflict => {
                    // There is one the cache did not show: not the operator's, or not yet seen.
                    let found = writer.get(name).await?.map(|o| {
                        MemberObject::from_object(
                            &o.value,
                            StatusCollection {
                                collect: false,
                                kind: AggregateKind::Other,
                            },
                        )
                    });
                    match found.map(|o| o.managed) {
                        Some(ManagedLabel::False) => Err(refused(format!(
                            "{} in {} is labelled kubefed.io/managed: \"false\"",
                            step.dependency, step.cluster
                        ))),
                        Some(ManagedLabel::Absent) if !writes.adopt_resources => {
                            Err(refused(format!(
                                "{} already exists in {} and resource adoption is disabled",
                                step.dependency, step.cluster
                            )))
                        }
                        _ => {
                            writer.apply(name, &desired.object, false).await?;
                            Ok(Some("UpdateDependencyInCluster"))
                        }
                    }
                }
                Err(f) => Err(f),
            }
        }
        DependencyAction::Release(when_last) => {
            let release = json!({"metadata": {"labels": {writes.label: null}}});
            let Some(left) = writer.merge_patch(name, &release).await? else {
                return Ok(None);
            };
            let others = left
                .metadata
                .labels
                .iter()
                .flatten()
                .any(|(k, _)| k.starts_with(DEPENDENT_LABEL_PREFIX));
            match when_last {
                _ if others => Ok(None),
                WhenLast::Keep => Ok(None),
                WhenLast::Orphan => {
                    let unlabel = json!({"metadata": {"labels": {MANAGED_LABEL: null, DEPENDENCY_LABEL: null}}});
                    writer.merge_patch(name, &unlabel).await?;
                    Ok(None)
                }
                WhenLast::Delete => {
                    // Only as it was just seen: a workload adding its label meanwhile wins.
                    match writer
                        .delete_unchanged(name, left.metadata.resource_version.clone())
                        .await
                    {
                        Ok(true) => Ok(Some("DeleteDependencyInCluster")),
                        Ok(false) => Ok(None),
                        Err(f) if f.category == ErrorCategory::Conflict => Ok(None),
                        Err(f) => Err(f),
                    }
                }
            }
        }
    }
}

fn refused(message: String) -> Failure {
    Failure {
        status: crate::core::vocabulary::PropagationStatus::AlreadyExists,
        category: ErrorCategory::Conflict,
        message,
    }
}
