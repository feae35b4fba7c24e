//! Executing a [`Plan`]: the member writes, all clusters at once, each bounded by a timeout;
//! failures are mapped to KubeFed's per-cluster status vocabulary, and what happened is
//! collected for one event per reason.
//!
//! A member that does not answer within [`PATIENCE`] does not hold up the reconciliation: its
//! request goes on in the background, the member is marked unresponsive if it answered nothing
//! meanwhile (later plans wait for it instead of writing), no other write of the object goes
//! to it until that one is answered, and the object is looked at again when the request ends.

use super::context::{MEMBER_FIELD_MANAGER, PATIENCE, SyncContext, key_of};
use crate::core::desired::DesiredObject;
use crate::core::events::{EventBatch, Severity};
use crate::core::observation::{ManagedLabel, MemberObject, Observation, StatusCollection};
use crate::core::own_writes::Before;
use crate::core::plan::{Action, ClusterPlan, Disposition, Plan, decide_placed};
use crate::core::pull::{WorkTarget, observed_member, render_work, work_name};
use crate::core::report::Outcome;
use crate::core::vocabulary::PropagationStatus;
use crate::crds::federated::MANAGED_LABEL;
use crate::crds::member_work::{MemberWork, cluster_namespace};
use crate::crds::stored_federated::StoredFederated;
use crate::members::pool::Members;
use crate::members::raw_object::RawObject;
use crate::members::served_object::ServedObject;
use crate::members::write::{Failure, MemberWriter, TimedFrom};
use crate::runtime::error::ErrorCategory;
use kube::Client;
use kube::api::{Api, DeleteParams};
use kube::core::ApiResource;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

/// What executing a plan did.
#[derive(Debug, Default)]
pub struct Execution {
    pub outcomes: BTreeMap<String, Outcome>,
    pub events: EventBatch,
    /// The objects the members answered the creates and updates with, as their caches will
    /// show them (push members only).
    pub applied: BTreeMap<String, Arc<MemberObject>>,
}

impl Execution {
    pub fn failed(&self) -> bool {
        self.outcomes
            .values()
            .any(|o| matches!(o, Outcome::Failed { .. }))
    }
}

/// Runs every cluster's action of `plan` concurrently. The answers to creates and updates
/// in push members are recorded with what the `observation` showed and the members' cache
/// removal `marks` read before it (see [`crate::core::own_writes`]), also when they come
/// after the pass. Members a write was `under_way` to before the pass observed get nothing.
pub async fn execute(
    ctx: &Arc<SyncContext>,
    obj: &StoredFederated,
    plan: &Plan,
    (observation, marks, under_way): (&Observation, &BTreeMap<String, u64>, &BTreeSet<String>),
    members: &Members,
) -> Execution {
    let key = key_of(obj);
    let runs = plan
        .clusters
        .iter()
        .filter(|(_, planned)| planned.action.writes())
        .filter_map(|(cluster, planned)| {
            let member = members.get(cluster)?;
            // A pull member's writes are MemberWorks on the host, for its agent to apply.
            let (client, work) = if member.pull {
                member.health.as_ref().filter(|h| h.is_ready())?;
                let work = (ctx.works.is_some()).then(|| ctx.work_target(cluster, obj))?;
                (ctx.host.clone(), Some(work))
            } else {
                (member.ready_client()?.clone(), None)
            };
            let mark = marks.get(cluster).copied();
            let pull = work.is_some();
            let writer = Writer {
                ctx: ctx.clone(),
                cluster: cluster.clone(),
                client,
                epoch: member.client_epoch,
                key: key.clone(),
                namespace: key.0.clone().filter(|_| ctx.synced.target_namespaced),
                name: key.1.clone(),
                work,
                create_mark: mark.filter(|_| pull && matches!(planned.action, Action::Create(_))),
            };
            let epoch = member.client_epoch;
            // A pull member's create is recorded by the writer (its answer is a MemberWork).
            let records = matches!(planned.action, Action::Create(_) | Action::Update { .. });
            let before = mark.filter(|_| !pull && records).map(|removals| Before {
                object: observation
                    .members
                    .as_ref()
                    .and_then(|views| views.get(cluster))
                    .and_then(|view| view.object.clone()),
                removals,
            });
            let job = run_cluster(writer, plan.disposition.clone(), planned.clone());
            Some(patiently(
                ctx.clone(),
                key.clone(),
                cluster.clone(),
                (epoch, before, under_way.contains(cluster)),
                job,
            ))
        });
    let mut execution = Execution::default();
    for (cluster, (outcome, happened, applied)) in futures::future::join_all(runs).await {
        if let Some((severity, reason, what, detail)) = happened {
            execution
                .events
                .add(severity, &reason, &what, &cluster, detail.as_deref());
        }
        if let Some(applied) = applied {
            execution.applied.insert(cluster.clone(), applied);
        }
        execution.outcomes.insert(cluster, outcome);
    }
    execution
}

/// Runs one cluster's request in its own task and waits for it at most [`PATIENCE`]. With
/// what the cache showed `before`, the answer to a create or update is recorded, whenever
/// it comes.
async fn patiently(
    ctx: Arc<SyncContext>,
    key: crate::members::cache::ObjectKey,
    cluster: String,
    (epoch, before, was_under_way): (u64, Option<Before>, bool),
    job: impl Future<Output = Done> + Send + 'static,
) -> (String, Done) {
    // The write of an earlier pass is still waiting for its answer, or was when this pass
    // observed (what it saw may predate the answer); its end brings the object back.
    let writing = if was_under_way {
        None
    } else {
        ctx.start_write(&key, &cluster)
    };
    let Some(writing) = writing else {
        return (cluster, (Outcome::InFlight, None, None));
    };
    let mut task = tokio::spawn(job);
    let record = move |ctx: &SyncContext, key: &_, cluster: &str, done: &Done| {
        if let (Some(before), (Outcome::Done, _, Some(answer))) = (before, done) {
            ctx.writes.answered(key, cluster, answer.clone(), before);
        }
    };
    match tokio::time::timeout(PATIENCE, &mut task).await {
        Ok(Ok(done)) => {
            record(&ctx, &key, &cluster, &done);
            (cluster, done)
        }
        Ok(Err(err)) => {
            tracing::error!(%cluster, %err, "member request task failed");
            let outcome = Outcome::Failed {
                status: PropagationStatus::ClientRetrievalFailed,
                message: err.to_string(),
            };
            (cluster, (outcome, None, None))
        }
        Err(_) => {
            ctx.pool.still_waiting(&cluster, epoch);
            let late = cluster.clone();
            tokio::spawn(async move {
                if let Ok(done) = task.await {
                    record(&ctx, &key, &late, &done);
                }
                // Ended before the object is looked at again, so that pass may write again.
                drop(writing);
                ctx.look_again(key);
            });
            (cluster, (Outcome::InFlight, None, None))
        }
    }
}

/// What happened, for the event batch: severity, reason, what, detail.
type Happened = Option<(Severity, String, String, Option<String>)>;

/// The object a member answered a write with.
type Applied = Option<Arc<MemberObject>>;

/// What a request did.
type Done = (Outcome, Happened, Applied);

fn did(severity: Severity, reason: &str, what: String) -> Happened {
    Some((severity, reason.to_string(), what, None))
}

async fn run_cluster(writer: Writer, disposition: Disposition, planned: ClusterPlan) -> Done {
    let ctx = writer.ctx.clone();
    let kind = &ctx.synced.target.kind;
    let result = match &planned.action {
        Action::Create(desired) => create(&writer, desired).await,
        Action::Update {
            desired,
            drift,
            adopt,
        } => writer.apply(desired, false).await.map(|applied| {
            let happened = match (adopt, drift) {
                (true, _) => did(
                    Severity::Normal,
                    "UpdateInCluster",
                    format!("adopted {kind}"),
                ),
                (false, true) => did(
                    Severity::Warning,
                    "DriftRepaired",
                    format!("{kind} was changed out of band and is restored"),
                ),
                (false, false) => did(
                    Severity::Normal,
                    "UpdateInCluster",
                    format!("updated {kind}"),
                ),
            };
            (Outcome::Done, happened, applied)
        }),
        Action::Delete(params) => writer.delete(params).await.map(|found| {
            if !found {
                return (Outcome::Gone, None, None);
            }
            let happened = if disposition == Disposition::Sync {
                did(
                    Severity::Normal,
                    "DeleteInCluster",
                    format!("deleting {kind}: no longer placed"),
                )
            } else {
                None
            };
            (Outcome::Done, happened, None)
        }),
        Action::Unlabel => writer.unlabel().await.map(|()| (Outcome::Done, None, None)),
        Action::LeaveAlone | Action::Wait(_) => Ok((Outcome::Done, None, None)),
    };
    match result {
        Ok(done) => done,
        Err(failure) => {
            ctx.metrics.count_error("sync", failure.category);
            // When the member does not answer, later writes wait until it answers a probe.
            ctx.pool
                .request_failed(&writer.cluster, writer.epoch, failure.category);
            let (reason, verb) = match &planned.action {
                Action::Create(_) => ("CreateInClusterFailed", "create"),
                Action::Update { .. } => ("UpdateInClusterFailed", "update"),
                Action::Delete(_) => ("DeleteInClusterFailed", "delete"),
                _ => ("UnlabelInClusterFailed", "remove the managed label of"),
            };
            let detail = format!("{}: {}", failure.category, failure.message);
            let happened = Some((
                Severity::Warning,
                reason.to_string(),
                format!("cannot {verb} {kind}"),
                Some(detail),
            ));
            let outcome = Outcome::Failed {
                status: failure.status,
                message: failure.message,
            };
            (outcome, happened, None)
        }
    }
}

/// A create: one request when the object is missing; when it exists, it is read and the
/// adoption rules decide (it was not in the cache, so it is not labelled as managed, or the
/// cache had not caught up).
async fn create(writer: &Writer, desired: &Arc<DesiredObject>) -> Result<Done, Failure> {
    let ctx = &writer.ctx;
    let kind = &ctx.synced.target.kind;
    match writer.apply(desired, true).await {
        Ok(applied) => {
            return Ok((
                Outcome::Done,
                did(
                    Severity::Normal,
                    "CreateInCluster",
                    format!("created {kind}"),
                ),
                applied,
            ));
        }
        Err(failure) if failure.category == ErrorCategory::Conflict => {}
        Err(failure) => return Err(failure),
    }
    let found = writer.get().await?;
    let Some(found) = found else {
        return Err(Failure {
            status: PropagationStatus::CreationFailed,
            category: ErrorCategory::Conflict,
            message: "the object appeared and disappeared while being created".into(),
        });
    };
    let decision = decide_placed(&writer.cluster, desired, Some(&found), &ctx.plan_settings);
    match decision.action {
        Action::Update { desired, adopt, .. } => {
            let applied = writer.apply(&desired, false).await?;
            let what = if adopt { "adopted" } else { "updated" };
            Ok((
                Outcome::Done,
                did(
                    Severity::Normal,
                    "UpdateInCluster",
                    format!("{what} {kind}"),
                ),
                applied,
            ))
        }
        Action::LeaveAlone => {
            let happened = decision.warning.map(|w| {
                let what = format!("left alone an existing {kind} the operator does not manage");
                (Severity::Warning, w.reason, what, Some(w.message))
            });
            // The operator's own object, already as desired (the cache had not caught up):
            // the cache will show what was read.
            let ours = writer.work.is_none() && found.managed == ManagedLabel::True;
            let applied = ours.then(|| Arc::new(found));
            Ok((Outcome::Settled(decision.entry), happened, applied))
        }
        // decide_placed with a found object only updates or leaves alone.
        _ => Ok((Outcome::Done, None, None)),
    }
}

/// Requests to one member for one object.
struct Writer {
    ctx: Arc<SyncContext>,
    cluster: String,
    client: Client,
    /// Which of the member's clients this is (see [`Member::client_epoch`]).
    epoch: u64,
    /// The federated object's key.
    key: crate::members::cache::ObjectKey,
    namespace: Option<String>,
    name: String,
    /// For a pull member: the MemberWork that stands for the member object.
    work: Option<WorkTarget>,
    /// For a pull member's create: the host MemberWork cache's removal mark before the pass
    /// observed, to record the created MemberWork with (see [`crate::core::own_writes`]).
    create_mark: Option<u64>,
}

impl Writer {
    /// The shared member write path, as the operator's field manager: to the member, or to
    /// the pull member's MemberWorks on the host.
    fn member<K>(&self) -> MemberWriter<K>
    where
        K: kube::Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>,
    {
        let api = match &self.work {
            Some(_) => Api::namespaced_with(
                self.client.clone(),
                &cluster_namespace(&self.cluster),
                &ApiResource::erase::<MemberWork>(&()),
            ),
            None => self
                .ctx
                .member_api(self.client.clone(), self.namespace.as_deref()),
        };
        MemberWriter {
            api,
            manager: MEMBER_FIELD_MANAGER.to_string(),
            timeout: self.ctx.settings.member_timeout,
            timed_from: TimedFrom::Send,
        }
    }

    /// The name of what is written: the member object, or its MemberWork.
    fn target_name(&self) -> String {
        match &self.work {
            Some(work) => work_name(&work.type_name, self.namespace.as_deref(), &self.name),
            None => self.name.clone(),
        }
    }

    /// Server-side applies `desired`; `create_only` refuses (409) when the object exists.
    /// Returns the member object the member answered with, as its cache reads it (a pull
    /// member's agent applies later: nothing is known yet).
    async fn apply(&self, desired: &DesiredObject, create_only: bool) -> Result<Applied, Failure> {
        let name = self.target_name();
        let work;
        let body = match &self.work {
            Some(target) => {
                work = render_work(target, &name, desired);
                &work
            }
            None => &desired.object,
        };
        if self.work.is_none() {
            // Read as the cache reads the member's watch events.
            let answer: ServedObject = self.member().apply(&name, body, create_only).await?;
            let collection = self.ctx.synced.collection();
            return Ok(Some(crate::members::cache::member_object(
                answer, collection,
            )));
        }
        let answer: RawObject = self.member().apply(&name, body, create_only).await?;
        {
            if let Some(mark) = self.create_mark.filter(|_| create_only) {
                let work = serde_json::from_value::<MemberWork>(answer.value).ok();
                if let Some(work) = work {
                    let object = observed_member(&work, self.ctx.synced.collection());
                    let before = Before {
                        object: None,
                        removals: mark,
                    };
                    self.ctx
                        .writes
                        .answered(&self.key, &self.cluster, Arc::new(object), before);
                }
            }
        }
        Ok(None)
    }

    /// The member object as the plan reads it (a pull member's from its MemberWork).
    /// A push member's object is read as its cache reads it (status included).
    async fn get(&self) -> Result<Option<MemberObject>, Failure> {
        let found: Option<RawObject> = self.member().get(&self.target_name()).await?;
        Ok(found.and_then(|obj| {
            let value = obj.value;
            match &self.work {
                Some(_) => serde_json::from_value::<MemberWork>(value)
                    .ok()
                    .map(|work| {
                        let collection = StatusCollection {
                            collect: false,
                            kind: self.ctx.synced.aggregate,
                        };
                        observed_member(&work, collection)
                    }),
                None => Some(MemberObject::from_object(
                    &value,
                    self.ctx.synced.collection(),
                )),
            }
        }))
    }

    /// Deletes the object; `false` when there was nothing to delete. A MemberWork's delete
    /// waits for its agent (the finalizer), which applies the delete options it carries.
    async fn delete(&self, params: &DeleteParams) -> Result<bool, Failure> {
        let params = match &self.work {
            Some(_) => DeleteParams::default(),
            None => params.clone(),
        };
        self.member::<RawObject>()
            .delete(&self.target_name(), &params)
            .await
    }

    /// Removes the managed label, leaving the object in place (orphaning, and the host's own
    /// namespaces); an object already gone counts as done. A pull member's agent does it
    /// when its MemberWork, marked orphan, is deleted.
    async fn unlabel(&self) -> Result<(), Failure> {
        let name = self.target_name();
        if self.work.is_some() {
            let patch = json!({ "spec": { "orphan": true } });
            self.member::<RawObject>()
                .merge_patch(&name, &patch)
                .await?;
            return self
                .member::<RawObject>()
                .delete(&name, &DeleteParams::default())
                .await
                .map(|_| ());
        }
        let patch = json!({ "metadata": { "labels": { MANAGED_LABEL: null } } });
        self.member::<RawObject>()
            .merge_patch(&name, &patch)
            .await
            .map(|_| ())
    }
}
