//! The agent's heartbeat: the Lease `kubefed-agent` in its cluster namespace on the host,
//! renewed every period, carrying the member's Kubernetes version and `kube-system` UID.
//! The host reads its age as it reads a push member's `/healthz`. The first renewal that
//! succeeds after failing ones wakes the agent: the host is back, and the reports that
//! waited for it go out now rather than at the end of the agent's retry delay.

use super::{AgentConfig, AgentStats};
use crate::crds::member_work::{
    AGENT_LEASE, AGENT_LEASE_LABEL, KUBE_SYSTEM_UID_ANNOTATION, VERSION_ANNOTATION,
    cluster_namespace,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Heartbeat {
    leases: Api<Lease>,
    member: Client,
    cluster: String,
    period: Duration,
    valid_for: Duration,
    timeout: Duration,
    stats: AgentStats,
    wake: mpsc::UnboundedSender<super::wake::Wake>,
}

impl Heartbeat {
    pub fn new(
        config: &AgentConfig,
        stats: AgentStats,
        wake: mpsc::UnboundedSender<super::wake::Wake>,
    ) -> Self {
        Heartbeat {
            leases: Api::namespaced(config.host.clone(), &cluster_namespace(&config.cluster)),
            member: config.member.clone(),
            cluster: config.cluster.clone(),
            period: config.heartbeat,
            valid_for: config.heartbeat + config.grace,
            timeout: config.timeout,
            stats,
            wake,
        }
    }

    /// Renews the Lease every period, forever; failures are retried at the next period.
    pub async fn run(self) {
        let mut version = None;
        let mut uid = None;
        let mut failing = false;
        let mut ticker = tokio::time::interval(self.period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if version.is_none() {
                version = tokio::time::timeout(self.timeout, self.member.apiserver_version())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|v| v.git_version);
            }
            if uid.is_none() {
                let namespaces: Api<Namespace> = Api::all(self.member.clone());
                uid = tokio::time::timeout(self.timeout, namespaces.get("kube-system"))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|ns| ns.metadata.uid);
            }
            let renewed =
                tokio::time::timeout(self.timeout, self.renew(version.as_deref(), uid.as_deref()))
                    .await;
            if matches!(renewed, Ok(Ok(()))) {
                if failing {
                    tracing::info!(cluster = %self.cluster, "the host answers again");
                    let _ = self.wake.send(super::wake::Wake::All);
                }
                failing = false;
            } else {
                failing = true;
                self.stats.bump(|c| c.host_failures += 1);
                tracing::debug!(cluster = %self.cluster, "cannot renew the heartbeat Lease; retrying");
            }
        }
    }

    async fn renew(&self, version: Option<&str>, uid: Option<&str>) -> Result<(), kube::Error> {
        // Whole seconds, rounded up: a Lease said to expire before the next renewal would
        // make the member flap.
        let whole = self.valid_for.as_secs() + u64::from(self.valid_for.subsec_nanos() > 0);
        let seconds = i32::try_from(whole.max(1)).unwrap_or(i32::MAX);
        let now = MicroTime(jiff::Timestamp::now());
        let mut annotations = serde_json::Map::new();
        if let Some(v) = version {
            annotations.insert(VERSION_ANNOTATION.into(), json!(v));
        }
        if let Some(u) = uid {
            annotations.insert(KUBE_SYSTEM_UID_ANNOTATION.into(), json!(u));
        }
        let body = json!({
            "metadata": {"labels": {AGENT_LEASE_LABEL: "true"}, "annotations": annotations},
            "spec": {
                "holderIdentity": format!("kubefed-agent/{}", self.cluster),
                "leaseDurationSeconds": seconds,
                "renewTime": now,
            }
        });
        match self
            .leases
            .patch(AGENT_LEASE, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 404 => {
                let mut lease: Lease =
                    serde_json::from_value(body).map_err(kube::Error::SerdeError)?;
                lease.metadata.name = Some(AGENT_LEASE.into());
                lease.spec.get_or_insert_default().acquire_time = Some(now);
                self.leases.create(&PostParams::default(), &lease).await?;
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}
