//! `kubectl fed status`: member clusters at a glance, or one federated object per cluster.
//!
//! Objects are read as JSON, so conditions and fields newer than this plugin (written by a newer
//! operator) are shown rather than refused.

use jiff::Timestamp;
use serde_json::Value;

use super::orphaning::get_federated;
use super::rbac::{self, RbacMode};
use super::{FederatedGroupOption, PluginError, Session, enable, kubeconfig};
use crate::crds::federated::FederatedStatus;
use crate::crds::kubefed_cluster::{CONDITION_OFFLINE, CONDITION_READY};

/// The KubeFedCluster condition listing the federated types a member cannot serve.
pub const CONDITION_TYPES_AVAILABLE: &str = "TypesAvailable";

pub const EXAMPLES: &str = "\
Examples:
  # Member clusters: NAME READY OFFLINE TYPES RBAC VERSION AGE, then the types each cannot serve
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

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// A condition of `.status.conditions` by type.
fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// The types a member cannot serve, from its `TypesAvailable` condition: `None` when the
/// condition says nothing is missing or is not there, else one entry per type (the message
/// separates them with `; `).
pub fn unavailable_types(cluster: &Value) -> Option<Vec<String>> {
    let condition = condition(cluster, CONDITION_TYPES_AVAILABLE)?;
    if text(condition, "/status") != Some("False") {
        return None;
    }
    let message = text(condition, "/message").unwrap_or_default();
    let entries: Vec<String> = message
        .split("; ")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    Some(if entries.is_empty() {
        vec![text(condition, "/reason").unwrap_or("unknown").to_string()]
    } else {
        entries
    })
}

/// The TYPES column: `all`, `<n> unavailable`, `Unknown`, or `-` when no operator has
/// reported on the member's types.
fn types_column(cluster: &Value) -> String {
    if let Some(missing) = unavailable_types(cluster) {
        return format!("{} unavailable", missing.len());
    }
    match condition(cluster, CONDITION_TYPES_AVAILABLE).and_then(|c| text(c, "/status")) {
        Some("True") => "all".to_string(),
        Some(other) => other.to_string(),
        None => "-".to_string(),
    }
}

fn rbac_mode(cluster: &Value) -> Option<RbacMode> {
    cluster
        .pointer("/metadata/annotations")?
        .get(rbac::RBAC_ANNOTATION)?
        .as_str()
        .and_then(RbacMode::from_annotation)
}

/// One row per KubeFedCluster (as JSON).
pub fn cluster_rows(clusters: &[Value], now: Timestamp) -> Vec<Vec<String>> {
    clusters
        .iter()
        .map(|cluster| {
            let state = |type_: &str| {
                condition(cluster, type_)
                    .and_then(|c| text(c, "/status"))
                    .unwrap_or("Unknown")
                    .to_string()
            };
            let age = text(cluster, "/metadata/creationTimestamp")
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map(|t| human_age(now.as_second() - t.as_second()))
                .unwrap_or_else(|| "-".to_string());
            vec![
                text(cluster, "/metadata/name")
                    .unwrap_or_default()
                    .to_string(),
                state(CONDITION_READY),
                state(CONDITION_OFFLINE),
                types_column(cluster),
                rbac_mode(cluster)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "-".to_string()),
                text(cluster, "/status/kubernetesVersion")
                    .unwrap_or("-")
                    .to_string(),
                age,
            ]
        })
        .collect()
}

/// The member table, then one paragraph per member that cannot serve every type: what is
/// missing and, for a member joined `--rbac minimal` that is refused a type, the join that
/// grants it.
pub fn cluster_report(
    clusters: &[Value],
    now: Timestamp,
    context_of: impl Fn(&str) -> Option<String>,
    host_context: &str,
) -> String {
    let mut report = render_table(
        &[
            "NAME", "READY", "OFFLINE", "TYPES", "RBAC", "VERSION", "AGE",
        ],
        &cluster_rows(clusters, now),
    );
    for cluster in clusters {
        let Some(missing) = unavailable_types(cluster) else {
            continue;
        };
        let name = text(cluster, "/metadata/name").unwrap_or_default();
        report.push_str(&format!("\n\n{name} cannot serve:"));
        for entry in &missing {
            report.push_str(&format!("\n  {entry}"));
        }
        let refused = missing
            .iter()
            .any(|m| m.to_lowercase().contains("forbidden"));
        if refused && rbac_mode(cluster) == Some(RbacMode::Minimal) {
            let endpoint = text(cluster, "/spec/apiEndpoint").unwrap_or_default();
            let context = context_of(endpoint).unwrap_or_else(|| format!("<context of {name}>"));
            report.push_str(&format!(
                "\n  joined with --rbac minimal; grant the enabled types with:\n    kubectl fed join {name} --cluster-context {context} --host-cluster-context {host_context} --rbac minimal"
            ));
        }
    }
    report
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
    let parsed: FederatedStatus = serde_json::from_value(status.clone())
        .map_err(|e| PluginError::Invalid(format!("unexpected status: {e}")))?;
    // `clusters[].message` (why a member failed) is read from the JSON as it is.
    let messages: Vec<String> = status
        .get("clusters")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| text(e, "/message").unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let with_messages = messages.iter().any(|m| !m.is_empty());
    let rows: Vec<Vec<String>> = parsed
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![
                c.name.clone(),
                if c.status.is_empty() {
                    "Propagated".to_string()
                } else {
                    c.status.clone()
                },
                ready_column(c.remote_status.as_ref()),
            ];
            if with_messages {
                row.push(messages.get(i).cloned().unwrap_or_default());
            }
            row
        })
        .collect();
    let status = parsed;
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
    // What stands out beyond propagation: a paused object, dependencies that are not there.
    let mut summary = summary;
    for c in status.conditions.iter().filter(|c| {
        (c.type_ == "Paused" && c.status == "True")
            || (c.type_ == "Dependencies" && c.status != "True")
    }) {
        summary.push_str(&format!(
            "\n{}: {} ({}): {}",
            c.type_, c.status, c.reason, c.message
        ));
    }
    let headers: &[&str] = if with_messages {
        &["CLUSTER", "STATUS", "READY", "MESSAGE"]
    } else {
        &["CLUSTER", "STATUS", "READY"]
    };
    let table = if rows.is_empty() {
        "not placed on any cluster".to_string()
    } else {
        render_table(headers, &rows)
    };
    Ok(format!("{table}\n{summary}"))
}

pub async fn run(session: &Session, args: StatusArgs) -> Result<String, PluginError> {
    let host = session.host_client().await?;
    let Some(object) = args.object else {
        let ns = &session.namespace;
        let clusters = enable::list_clusters(&host, ns).await?;
        if clusters.is_empty() {
            return Ok(format!(
                "no member clusters in {ns}; add one with `kubectl fed join`"
            ));
        }
        return Ok(cluster_report(
            &clusters,
            Timestamp::now(),
            |server| kubeconfig::context_for_server(&session.kubeconfig, server),
            &session.host_context,
        ));
    };
    let (kind, name) = super::kind_and_name(&object)?;
    let found = get_federated(
        &host,
        session,
        kind,
        name,
        args.namespace.as_deref(),
        &args.api.federated_group,
    )
    .await?;
    let object = found.object;
    object_report(object.data.get("status"))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn cluster(name: &str, annotations: Value, conditions: Value) -> Value {
        json!({
            "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": annotations},
            "spec": {"apiEndpoint": format!("https://{name}:6443")},
            "status": {"conditions": conditions, "kubernetesVersion": "v1.33.1"},
        })
    }

    fn probed(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastProbeTime": "2026-01-01T23:59:00Z"})
    }

    #[test]
    fn cluster_rows_from_status() {
        let now: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let ready = cluster(
            "c1",
            json!({"kubefed.io/rbac": "full"}),
            json!([
                probed(
                    "Ready",
                    "True",
                    "ClusterReady",
                    "/healthz responded with ok"
                ),
                probed("Offline", "False", "ClusterReachable", ""),
                probed("TypesAvailable", "True", "AllTypesAvailable", ""),
            ]),
        );
        let fresh = json!({"metadata": {"name": "c2"}});
        let rows = cluster_rows(&[ready, fresh], now);
        assert_eq!(
            rows[0],
            ["c1", "True", "False", "all", "full", "v1.33.1", "24h"]
        );
        assert_eq!(rows[1], ["c2", "Unknown", "Unknown", "-", "-", "-", "-"]);
    }

    #[test]
    fn cluster_report_lists_what_each_member_cannot_serve() {
        let now: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let missing = probed(
            "TypesAvailable",
            "False",
            "TypesUnavailable",
            "cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden; widgets.example.com: not served",
        );
        let clusters = vec![
            cluster(
                "c1",
                json!({"kubefed.io/rbac": "full"}),
                json!([
                    probed("Ready", "True", "ClusterReady", ""),
                    probed("TypesAvailable", "True", "AllTypesAvailable", "")
                ]),
            ),
            cluster(
                "c2",
                json!({"kubefed.io/rbac": "minimal", "kubefed.io/rbac-types": "configmaps"}),
                json!([probed("Ready", "True", "ClusterReady", ""), missing.clone()]),
            ),
            cluster(
                "c3",
                json!({"kubefed.io/rbac": "full"}),
                json!([
                    probed("Ready", "True", "ClusterReady", ""),
                    probed(
                        "TypesAvailable",
                        "False",
                        "TypesUnavailable",
                        "widgets.example.com: not served"
                    )
                ]),
            ),
        ];
        let context_of =
            |server: &str| (server == "https://c2:6443").then(|| "kind-c2".to_string());
        let report = cluster_report(&clusters, now, context_of, "kind-host");
        assert_eq!(
            report,
            "NAME   READY   OFFLINE   TYPES           RBAC      VERSION   AGE\n\
             c1     True    Unknown   all             full      v1.33.1   24h\n\
             c2     True    Unknown   2 unavailable   minimal   v1.33.1   24h\n\
             c3     True    Unknown   1 unavailable   full      v1.33.1   24h\n\
             \n\
             c2 cannot serve:\n  \
             cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden\n  \
             widgets.example.com: not served\n  \
             joined with --rbac minimal; grant the enabled types with:\n    \
             kubectl fed join c2 --cluster-context kind-c2 --host-cluster-context kind-host --rbac minimal\n\
             \n\
             c3 cannot serve:\n  \
             widgets.example.com: not served"
        );
        // A False condition without a message still counts as one missing entry.
        let bare = cluster(
            "c4",
            json!({}),
            json!([probed("TypesAvailable", "False", "TypesUnavailable", "")]),
        );
        assert_eq!(
            unavailable_types(&bare),
            Some(vec!["TypesUnavailable".to_string()])
        );
        assert_eq!(unavailable_types(&clusters[0]), None);
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

    #[test]
    fn object_report_shows_a_pause_and_missing_dependencies() {
        let status = json!({
            "conditions": [
                {"type": "Propagation", "status": "False", "reason": "CheckClusters"},
                {"type": "Paused", "status": "True", "reason": "Paused",
                 "message": "member writes are stopped"},
                {"type": "Dependencies", "status": "False", "reason": "DependencyMissing",
                 "message": "not in the host namespace: ConfigMap x (needed in c1)"},
            ],
            "clusters": [{"name": "c1", "status": "Paused", "message": "paused; would create"}],
        });
        let report = object_report(Some(&status)).unwrap();
        assert!(
            report.ends_with(
                "Propagation: False (CheckClusters)\n\
                 Paused: True (Paused): member writes are stopped\n\
                 Dependencies: False (DependencyMissing): not in the host namespace: ConfigMap x (needed in c1)"
            ),
            "{report}"
        );
    }

    #[test]
    fn object_report_shows_cluster_messages() {
        let status = json!({
            "conditions": [{"type": "Propagation", "status": "False", "reason": "CheckClusters"}],
            "clusters": [
                {"name": "c1"},
                {"name": "c2", "status": "CreationFailed",
                 "message": "clusterroles.rbac.authorization.k8s.io \"admin\" is forbidden: user cannot escalate"},
            ],
        });
        let report = object_report(Some(&status)).unwrap();
        assert_eq!(
            report,
            "CLUSTER   STATUS           READY   MESSAGE\n\
             c1        Propagated       -       \n\
             c2        CreationFailed   -       clusterroles.rbac.authorization.k8s.io \"admin\" is forbidden: user cannot escalate\n\
             Propagation: False (CheckClusters)"
        );
    }
}
