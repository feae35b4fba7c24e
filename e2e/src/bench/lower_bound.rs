//! The lower bound: a bare kube client applying the member objects itself over HTTP, with
//! the operator's concurrency, no caches, no status and no host round trips. Its objects
//! lack the managed label, so the operator does not cache them.

use super::error::BenchError;
use super::workload::{LOWER_BOUND_NAMESPACE, Workload};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kubefed_sim::Cluster;
use std::time::{Duration, Instant};

const FIELD_MANAGER: &str = "fedbench";

pub struct BareClients {
    apis: Vec<Api<DynamicObject>>,
}

impl BareClients {
    /// One HTTP(S) client per member, authenticated like the operator's (bearer token).
    /// At most `in_flight` requests await an answer from one member, as for the operator.
    pub async fn connect(members: &[Cluster], in_flight: usize) -> Result<Self, BenchError> {
        let ar = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        let mut apis = Vec::with_capacity(members.len());
        for member in members {
            // The member's HTTPS listener if it serves one (as the operator reaches it).
            let config = if member.https_url().is_some() {
                member.https_config().await
            } else {
                member.http_config().await
            };
            let config = config.map_err(|e| BenchError::Sim(format!("{}: {e}", member.name())))?;
            let client = kube::client::ClientBuilder::try_from(config)
                .map_err(BenchError::kube("client"))?
                .with_layer(&kubefed::members::in_flight::InFlightLimitLayer::new(
                    in_flight,
                ))
                .build();
            apis.push(Api::namespaced_with(client, LOWER_BOUND_NAMESPACE, &ar));
        }
        Ok(BareClients { apis })
    }

    /// Applies one object to every member at once; returns when all have answered.
    pub async fn fan_out(
        &self,
        workload: &Workload,
        name: &str,
        revision: u64,
    ) -> Result<Duration, BenchError> {
        let started = Instant::now();
        self.apply_everywhere(workload, name, revision).await?;
        Ok(started.elapsed())
    }

    /// Applies `names` to every member, `concurrency` objects at a time, each object to all
    /// members at once (how the sync controller fans out).
    pub async fn bulk(
        &self,
        workload: &Workload,
        names: &[String],
        concurrency: usize,
    ) -> Result<Duration, BenchError> {
        let started = Instant::now();
        let mut results = futures::stream::iter(names)
            .map(|name| self.apply_everywhere(workload, name, 1))
            .buffer_unordered(concurrency.max(1));
        while let Some(result) = results.next().await {
            result?;
        }
        Ok(started.elapsed())
    }

    async fn apply_everywhere(
        &self,
        workload: &Workload,
        name: &str,
        revision: u64,
    ) -> Result<(), BenchError> {
        let obj = workload.lower_bound_object(name, LOWER_BOUND_NAMESPACE, revision);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&obj);
        let results =
            futures::future::join_all(self.apis.iter().map(|api| api.patch(name, &params, &patch)))
                .await;
        for result in results {
            result.map_err(BenchError::kube(format!("apply {name}")))?;
        }
        Ok(())
    }
}
