//! `kubectl fed status`: member clusters at a glance, or one federated object per cluster.

use jiff::Timestamp;
use kube::Api;
use serde_json::Value;

use super::orphaning::federated_api;
use super::{FederatedGroupOption, PluginError, Session};
use crate::crds::KubeFedCluster;
use crate::crds::federated::FederatedStatus;
use crate::crds::kubefed_cluster::{CONDITION_OFFLINE, CONDITION_READY};

pub const EXAMPLES: &str = "\
Examples:
  # Member clusters: NAME READY OFFLINE VERSION AGE
  kubectl fed status

  # One row per member cluster for a federated object
  kubectl fed status federateddeployment/web -n demo
  kubectl fed status deployment/web -n demo";

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A federated object as `KIND/NAME` (KIND may also be the target type, e.g. `deployment/web`).
    #[arg(value_name = "KIND/NAME")]
    pub object: Option<String>,
    /// Namespace of the object (default: the host context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub api: FederatedGroupOption,
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == last {
                    cell.to_string()
                } else {
                    format!("{cell:<width$}   ", width = widths[i])
                }
            })
            .collect::<String>()
    };
    std::iter::once(line(headers.to_vec()))
        .chain(
            rows.iter()
                .map(|r| line(r.iter().map(String::as_str).collect())),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// kubectl's short age: `45s`, `12m`, `5h`, `3d`.
pub fn human_age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// One row per KubeFedCluster.
pub fn cluster_rows(clusters: &[KubeFedCluster], now: Timestamp) -> Vec<Vec<String>> {
    clusters
        .iter()
        .map(|cluster| {
            let status = cluster.status.clone().unwrap_or_default();
            let condition = |type_: &str| {
                status
                    .condition(type_)
                    .map(|c| c.status.clone())
                    .unwrap_or_else(|| "Unknown".to_string())
            };
            let age = cluster
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| human_age(now.as_second() - t.0.as_second()))
                .unwrap_or_else(|| "-".to_string());
            vec![
                cluster.metadata.name.clone().unwrap_or_default(),
                condition(CONDITION_READY),
                condition(CONDITION_OFFLINE),
                status
                    .kubernetes_version
                    .clone()
                    .unwrap_or_else(|| "-".to_string()),
                age,
            ]
        })
        .collect()
}

/// `ready/replicas` from a member's workload status, when it has replicas.
pub fn ready_column(remote_status: Option<&Value>) -> String {
    let replicas = remote_status
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64);
    match replicas {
        Some(replicas) => {
            let ready = remote_status
                .and_then(|s| s.get("readyReplicas"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            format!("{ready}/{replicas}")
        }
        None => "-".to_string(),
    }
}

/// The per-cluster table and the Propagation condition summary of a federated object.
pub fn object_report(status: Option<&Value>) -> Result<String, PluginError> {
    let Some(status) = status.filter(|s| !s.is_null()) else {
        return Ok(
            "no status yet: the federation controller has not processed this object".to_string(),
        );
    };
    let status: FederatedStatus = serde_json::from_value(status.clone())
        .map_err(|e| PluginError::Invalid(format!("unexpected status: {e}")))?;
    let rows: Vec<Vec<String>> = status
        .clusters
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                if c.status.is_empty() {
                    "Propagated".to_string()
                } else {
                    c.status.clone()
                },
                ready_column(c.remote_status.as_ref()),
            ]
        })
        .collect();
    let summary = match status.conditions.iter().find(|c| c.type_ == "Propagation") {
        Some(c) => {
            let mut text = format!("Propagation: {}", c.status);
            if !c.reason.is_empty() {
                text.push_str(&format!(" ({})", c.reason));
            }
            if let Some(since) = &c.last_transition_time {
                text.push_str(&format!(", since {since}"));
            }
            text
        }
        None => "Propagation: Unknown".to_string(),
    };
    let table = if rows.is_empty() {
        "not placed on any cluster".to_string()
    } else {
        render_table(&["CLUSTER", "STATUS", "READY"], &rows)
    };
    Ok(format!("{table}\n{summary}"))
}

pub async fn run(session: &Session, args: StatusArgs) -> Result<String, PluginError> {
    let host = session.host_client().await?;
    let Some(object) = args.object else {
        let ns = &session.namespace;
        let clusters = Api::<KubeFedCluster>::namespaced(host, ns)
            .list(&Default::default())
            .await
            .map_err(|e| PluginError::api(format!("cannot list KubeFedClusters in {ns}"), &e))?;
        if clusters.items.is_empty() {
            return Ok(format!(
                "no member clusters in {ns}; add one with `kubectl fed join`"
            ));
        }
        return Ok(render_table(
            &["NAME", "READY", "OFFLINE", "VERSION", "AGE"],
            &cluster_rows(&clusters.items, Timestamp::now()),
        ));
    };
    let (kind, name) = object
        .split_once('/')
        .ok_or_else(|| PluginError::Invalid(format!("expected KIND/NAME, got {object:?}")))?;
    let (found, api) = federated_api(
        &host,
        session,
        kind,
        args.namespace.as_deref(),
        &args.api.federated_group,
    )
    .await?;
    let object = api
        .get(name)
        .await
        .map_err(|e| PluginError::api(format!("cannot get {} {name:?}", found.kind), &e))?;
    object_report(object.data.get("status"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::KubeFedClusterSpec;
    use crate::crds::kubefed_cluster::{ClusterCondition, KubeFedClusterStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(human_age(-3), "0s");
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(600), "10m");
        assert_eq!(human_age(5 * 3600), "5h");
        assert_eq!(human_age(3 * 86400), "3d");
    }

    #[test]
    fn tables_align_columns() {
        let table = render_table(
            &["NAME", "READY"],
            &[
                vec!["a-long-name".into(), "True".into()],
                vec!["b".into(), "False".into()],
            ],
        );
        assert_eq!(
            table,
            "NAME          READY\na-long-name   True\nb             False"
        );
    }

    #[test]
    fn cluster_rows_from_status() {
        let now: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let probe = Time("2026-01-01T23:59:00Z".parse().unwrap());
        let mut ready = KubeFedCluster::new("c1", KubeFedClusterSpec::default());
        ready.metadata.creation_timestamp = Some(Time("2026-01-01T00:00:00Z".parse().unwrap()));
        ready.status = Some(KubeFedClusterStatus {
            conditions: vec![
                ClusterCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_probe_time: probe.clone(),
                    last_transition_time: None,
                    reason: None,
                    message: None,
                },
                ClusterCondition {
                    type_: "Offline".into(),
                    status: "False".into(),
                    last_probe_time: probe,
                    last_transition_time: None,
                    reason: None,
                    message: None,
                },
            ],
            kubernetes_version: Some("v1.33.1".into()),
            ..Default::default()
        });
        let fresh = KubeFedCluster::new("c2", KubeFedClusterSpec::default());
        let rows = cluster_rows(&[ready, fresh], now);
        assert_eq!(rows[0], ["c1", "True", "False", "v1.33.1", "24h"]);
        assert_eq!(rows[1], ["c2", "Unknown", "Unknown", "-", "-"]);
    }

    #[test]
    fn object_report_rows_and_summary() {
        let status = json!({
            "conditions": [{"type": "Propagation", "status": "False", "reason": "CheckClusters",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "clusters": [
                {"name": "c1", "remoteStatus": {"replicas": 3, "readyReplicas": 2}},
                {"name": "c2", "status": "ClusterNotReady"},
                {"name": "c3", "remoteStatus": {"replicas": 1}},
            ],
        });
        let report = object_report(Some(&status)).unwrap();
        assert_eq!(
            report,
            "CLUSTER   STATUS            READY\n\
             c1        Propagated        2/3\n\
             c2        ClusterNotReady   -\n\
             c3        Propagated        0/1\n\
             Propagation: False (CheckClusters), since 2026-01-01T00:00:00Z"
        );
        let ok = json!({"conditions": [{"type": "Propagation", "status": "True"}]});
        assert_eq!(
            object_report(Some(&ok)).unwrap(),
            "not placed on any cluster\nPropagation: True"
        );
        assert!(object_report(None).unwrap().starts_with("no status yet"));
    }
}
