//! The member writes of a dependency plan, all at once, through the shared member write path
//! ([`MemberWriter`]), as the workload's own field manager.

use serde_json::{Value, json};
use std::time::Duration;

use super::host::dependency_api;
use crate::core::dependencies::plan::{DependencyAction, DependencyStep, WhenLast};
use crate::core::dependencies::{DEPENDENCY_LABEL, DEPENDENT_LABEL_PREFIX, dependent_manager};
use crate::core::events::{EventBatch, Severity};
use crate::core::observation::{ManagedLabel, MemberObject, StatusCollection};
use crate::crds::federated::{AggregateKind, MANAGED_LABEL};
use crate::members::pool::{MemberPool, Members};
use crate::members::write::{Failure, MemberWriter};
use crate::runtime::error::ErrorCategory;

/// How the writes go.
pub struct Writes<'a> {
    pub namespace: &'a str,
    /// The workload's dependent label.
    pub label: &'a str,
    pub adopt_resources: bool,
    pub timeout: Duration,
    pub pool: &'a MemberPool,
}

/// What executing the steps did: the failures (one message each) and the events.
#[derive(Debug, Default)]
pub struct Executed {
    pub failures: Vec<String>,
    pub events: EventBatch,
}

/// Runs every step concurrently.
pub async fn execute(steps: &[DependencyStep], writes: &Writes<'_>, members: &Members) -> Executed {
    let runs = steps.iter().filter_map(|step| {
        let member = members.get(&step.cluster)?;
        let client = member.ready_client()?.clone();
        let writer = MemberWriter {
            api: dependency_api(client, writes.namespace, step.dependency.kind),
            manager: dependent_manager(writes.label),
            timeout: writes.timeout,
        };
        let epoch = member.client_epoch;
        Some(async move { (step, epoch, run(step, &writer, writes).await) })
    });
    let mut executed = Executed::default();
    for (step, epoch, result) in futures::future::join_all(runs).await {
        let what = step.dependency.to_string();
        match result {
            Ok(Some(reason)) => executed.events.add(
                Severity::Normal,
                reason,
                "propagated dependencies",
                &step.cluster,
                Some(&what),
            ),
            Ok(None) => {}
            Err(failure) => {
                if failure.category.is_transport() {
                    writes.pool.mark_unresponsive(&step.cluster, epoch);
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

/// One step; the event reason of what it did, if anything.
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
                        let value = serde_json::to_value(&o).unwrap_or(Value::Null);
                        MemberObject::from_object(
                            &value,
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
