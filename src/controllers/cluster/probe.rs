//! The requests a health probe makes to a member: `/healthz`, `/version` and the
//! `kube-system` namespace. They are marked [`unlimited`]: a probe measures how fast the member
//! answers, so it must not wait behind the operator's own requests to that member.

use crate::core::health::ProbeOutcome;
use crate::members::in_flight::unlimited;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::Client;
use std::time::Duration;

/// GETs `/healthz` within `timeout`. An HTTP error answer means the API server is up but not
/// healthy (or refuses our token); no answer at all means the cluster is unreachable.
pub async fn healthz(client: &Client, timeout: Duration) -> ProbeOutcome {
    let request = match http::Request::get("/healthz").body(Vec::new()) {
        Ok(r) => unlimited(r),
        Err(e) => return ProbeOutcome::Unreachable(e.to_string()),
    };
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Err(_) => ProbeOutcome::Unreachable(format!("no answer within {timeout:?}")),
        Ok(Ok(body)) if body.trim().eq_ignore_ascii_case("ok") => ProbeOutcome::Healthy,
        Ok(Ok(body)) => ProbeOutcome::Unhealthy(format!("answered {:?}", body.trim())),
        Ok(Err(kube::Error::Api(status))) => ProbeOutcome::Unhealthy(format!(
            "{} {}: {}",
            status.code, status.reason, status.message
        )),
        Ok(Err(err)) => ProbeOutcome::Unreachable(err.to_string()),
    }
}

/// The member's `gitVersion`, when it answers in time.
pub async fn version(client: &Client, timeout: Duration) -> Option<String> {
    let request = http::Request::get("/version").body(Vec::new()).ok()?;
    match tokio::time::timeout(timeout, client.request::<Info>(unlimited(request))).await {
        Ok(Ok(info)) => Some(info.git_version),
        _ => None,
    }
}

/// UID of the member's `kube-system` namespace, which identifies the cluster itself.
pub async fn kube_system_uid(client: &Client, timeout: Duration) -> Option<String> {
    let request = kube::core::Request::new("/api/v1/namespaces")
        .get("kube-system", &kube::api::GetParams::default())
        .ok()?;
    match tokio::time::timeout(timeout, client.request::<Namespace>(unlimited(request))).await {
        Ok(Ok(ns)) => ns.metadata.uid,
        _ => None,
    }
}
