//! The dependency part of one reconciliation of a workload: observe (the hub and the
//! workload's own observation and plan), plan ([`crate::core::dependencies::plan`]), execute.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use super::DependencyHub;
use super::execute::{Executed, Writes, execute};
use crate::core::dependencies::plan::{
    ConditionChange, DependencyInput, DependencyPlan, condition_change, plan, wanted,
};
use crate::core::dependencies::{
    DEPENDENCIES_CONDITION, DependencyRef, PROPAGATE_DEPENDENCIES_ANNOTATION, dependent_label,
};
use crate::core::observation::Observation;
use crate::core::plan::{Plan, PlanSettings, Warning};
use crate::members::cache::ObjectKey;
use crate::members::pool::{MemberPool, Members};

/// The workload being reconciled.
pub struct Workload<'a> {
    /// Its FederatedTypeConfig's name (`deployments.apps`).
    pub type_name: &'a str,
    pub key: ObjectKey,
    /// Wakes the workload when a dependency of it changes.
    pub waker: mpsc::UnboundedSender<ObjectKey>,
    pub settings: &'a PlanSettings,
    pub timeout: Duration,
    pub pool: &'a MemberPool,
}

/// What the dependency part of a reconciliation did.
#[derive(Debug)]
pub struct DependencyRun {
    pub plan: DependencyPlan,
    pub executed: Executed,
    pub change: ConditionChange,
}

impl DependencyRun {
    /// Some input is still loading: look again soon.
    pub fn waits(&self) -> bool {
        self.plan.waiting || self.executed.again
    }

    pub fn failed(&self) -> bool {
        !self.executed.failures.is_empty()
    }

    /// A deleted workload may release its finalizer: nothing of it is left to release.
    pub fn releases(&self) -> bool {
        !self.plan.holds_deletion && !self.waits() && !self.failed()
    }

    /// The warning of missing dependencies, for an event.
    pub fn warnings(&self) -> Vec<Warning> {
        match &self.change {
            ConditionChange::Set {
                holds: false,
                reason,
                message,
            } => vec![Warning {
                reason: reason.to_string(),
                message: message.clone(),
            }],
            _ => Vec::new(),
        }
    }
}

/// Runs the dependency part for `obs` (planned as `workload_plan`), or `None` when the
/// workload has nothing to do with dependencies (it never propagated any, or it is paused:
/// no member write then, and the condition stays as it is).
pub async fn run(
    hub: &DependencyHub,
    workload: &Workload<'_>,
    obs: &Observation,
    workload_plan: &Plan,
    members: &Members,
) -> Option<DependencyRun> {
    let object = &obs.object;
    let opted_in = object.annotation(PROPAGATE_DEPENDENCIES_ANNOTATION) == Some("true");
    let had_condition = object.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == DEPENDENCIES_CONDITION)
    });
    let dependent = (workload.type_name.to_string(), workload.key.clone());
    let involved =
        opted_in || had_condition || hub.knows(&dependent) || (object.deleting && hub.active());
    let namespace = workload.key.0.clone()?;
    if !involved || workload_plan.paused.is_some() {
        return None;
    }
    let label = dependent_label(&workload.settings.target.kind, &object.name);
    let wanted = wanted(obs, workload.settings, workload_plan, opted_in);
    let wanted_refs: BTreeSet<_> = DependencyInput::references(&wanted, &Default::default());
    if opted_in {
        // Registering starts the watches the observation reads.
        hub.register(
            dependent.clone(),
            workload.waker.clone(),
            &namespace,
            wanted_refs.clone(),
        );
    }
    let held = hub.members(&namespace, members);
    let holds = |label: &str| -> BTreeSet<DependencyRef> {
        held.values()
            .flat_map(|m| {
                m.objects
                    .iter()
                    .filter(|(_, o)| o.dependents.iter().any(|d| d == label))
                    .map(|(d, _)| d.clone())
            })
            .collect()
    };
    let mine = holds(&label);
    if !opted_in {
        if mine.is_empty() {
            // Nothing of it is left anywhere: done (and the condition goes).
            hub.forget(&dependent);
            return had_condition.then(|| DependencyRun {
                plan: DependencyPlan::default(),
                executed: Executed::default(),
                change: ConditionChange::Remove,
            });
        }
        hub.register(
            dependent.clone(),
            workload.waker.clone(),
            &namespace,
            mine.clone(),
        );
    }
    let refs = DependencyInput::references(&wanted, &held);
    let input = DependencyInput {
        namespace: namespace.clone(),
        label: label.clone(),
        orphan: object.deleting && object.orphan(),
        host: hub.host(&namespace, &refs),
        wanted,
        members: held,
    };
    let dependency_plan = plan(&input);
    let executed = execute(
        &dependency_plan.steps,
        &Writes {
            namespace: &namespace,
            label: &label,
            adopt_resources: workload.settings.adopt_resources,
            timeout: workload.timeout,
            pool: workload.pool,
            host: hub.host_client(),
        },
        members,
        &input.members,
    )
    .await;
    // Keep being woken by what it references or still holds.
    let mut interest = wanted_refs;
    interest.extend(mine);
    hub.register(dependent, workload.waker.clone(), &namespace, interest);
    let change = condition_change(
        opted_in,
        object.deleting,
        &dependency_plan,
        &executed.failures,
    );
    Some(DependencyRun {
        plan: dependency_plan,
        executed,
        change,
    })
}
