//! `kubectl fed preview`: what the operator would do with a federated object, from the live
//! host and members, changing nothing. It reads what the operator reads (the object or a file,
//! its FederatedTypeConfig and FederatedNamespace, the KubeFedConfig, the KubeFedClusters and
//! one GET of the member object in every member, with the operator's credentials: the
//! KubeFedCluster and its token Secret) and runs the operator's own plan on it
//! ([`crate::core::preview`]). Only GET and LIST requests are made.
//!
//! Exit codes follow `kubectl diff`: 0 when the operator would write nothing, 1 when it would
//! write to a member, 2 (or more) on error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::status::render_table;
use super::types::{DiscoveredType, resolve_federated};
use super::{
    FederatedGroupOption, PluginError, Reply, Session, enable, kind_and_name, read_input,
    render_yaml,
};
use crate::controllers::sync::context::SyncedType;
use crate::controllers::sync::observe::{LiveSources, live_object};
use crate::controllers::type_config::federated_namespace_resource;
use crate::core::cluster_status::health_from_status;
use crate::core::compare::applied_view;
use crate::core::observation::without_server_fields;
use crate::core::plan::PlanSettings;
use crate::core::preview::{ClusterPreview, Preview, preview};
use crate::crds::federated_type_config::FederatedTypeConfig;
use crate::crds::kubefed_config::{KUBEFED_CONFIG_NAME, KubeFedConfig, KubeFedConfigSpec};
use crate::crds::{ConfigurationMode, KubeFedCluster};
use crate::members::connection::{cluster_client, cluster_token};
use crate::members::pool::{Member, Members};
use crate::operator::settings::settings_from;

pub const EXAMPLES: &str = "\
Examples:
  # Placement and per-cluster objects of an existing federated object
  kubectl fed preview federateddeployment/web -n demo

  # What applying a file would do, as a diff against what each member has now
  kubectl fed preview -f web.yaml --diff

  # Machine-readable; exit code 0: no changes, 1: changes, 2: error (as kubectl diff)
  kubectl fed preview deployment/web -n demo -o json";

/// How long one member GET may take.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(10);

/// `-o` of preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PreviewOutput {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// A federated object on the host as `KIND/NAME` (KIND may also be the target type).
    #[arg(value_name = "KIND/NAME", required_unless_present = "filename")]
    pub object: Option<String>,
    /// A file of federated objects (`-` for stdin), previewed as if applied.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with = "object"
    )]
    pub filename: Option<String>,
    /// Namespace of the object (default: the file's, else the host context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Show a diff against what each member has now instead of the whole objects.
    #[arg(long)]
    pub diff: bool,
    /// Print a YAML or JSON document instead of text.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<PreviewOutput>,
    #[command(flatten)]
    pub api: FederatedGroupOption,
}

/// One previewed object, with what is needed to show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Previewed {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `deployments.apps`.
    pub type_name: String,
    pub preview: Preview,
    /// The member objects as read (for `--diff`), by cluster.
    pub live: BTreeMap<String, Value>,
}

impl Previewed {
    fn title(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The unified diff, in one cluster, between what the member has and what the operator
/// would leave there; empty when they agree. Only the fields the operator sets are compared
/// (see [`applied_view`]); a member object to be deleted is shown whole.
pub fn cluster_diff(cluster: &ClusterPreview, live: Option<&Value>) -> String {
    let live = live.map(without_server_fields);
    let desired = cluster.desired.as_ref().and_then(|d| d.as_ref().ok());
    let (before, after) = match (live, desired) {
        (Some(live), Some(desired)) if cluster.action != "delete" => {
            (Some(applied_view(&live, desired)), Some(desired.clone()))
        }
        (Some(live), _) if cluster.action == "delete" => (Some(live), None),
        (None, Some(desired)) => (None, Some(desired.clone())),
        _ => return String::new(),
    };
    let yaml = |v: Option<Value>| {
        v.and_then(|v| render_yaml(&[v]).ok())
            .map(|y| format!("{y}\n"))
            .unwrap_or_default()
    };
    let (before, after) = (yaml(before), yaml(after));
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .header(
            &format!("{}/live", cluster.name),
            &format!("{}/desired", cluster.name),
        )
        .to_string()
}

/// The text report of one object.
pub fn render_text(p: &Previewed, diff: bool) -> String {
    let preview = &p.preview;
    let mut out = format!("{} ({})", p.title(), p.type_name);
    let mut notes = Vec::new();
    if preview.deleting {
        notes.push("being deleted: the actions are its deletion".to_string());
    }
    if preview.paused {
        notes.push("paused (kubefed.io/paused): no member is written to".to_string());
    }
    if let Some(why) = &preview.blocked {
        notes.push(format!("nothing is changed: {why}"));
    }
    for note in notes {
        out.push_str(&format!("\n{note}"));
    }
    let with_messages = preview.clusters.iter().any(|c| c.message.is_some());
    let rows: Vec<Vec<String>> = preview
        .clusters
        .iter()
        .map(|c| {
            let mut row = vec![
                c.name.clone(),
                if c.selected { "yes" } else { "no" }.to_string(),
                c.action.clone(),
                match c.status.as_deref() {
                    Some("") => "in sync".to_string(),
                    Some(status) => status.to_string(),
                    None => "-".to_string(),
                },
                c.placement.clone(),
            ];
            if with_messages {
                row.push(c.message.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    let mut headers = vec!["CLUSTER", "SELECTED", "ACTION", "STATUS", "WHY"];
    if with_messages {
        headers.push("MESSAGE");
    }
    if rows.is_empty() {
        out.push_str("\nno member clusters are joined");
    } else {
        out.push_str(&format!("\n{}", render_table(&headers, &rows)));
    }
    if !preview.unknown.is_empty() {
        out.push_str(&format!(
            "\nnot joined (named in spec.placement.clusters): {}",
            preview.unknown.join(", ")
        ));
    }
    for warning in &preview.warnings {
        out.push_str(&format!(
            "\nwarning {}: {}",
            warning.reason, warning.message
        ));
    }
    for cluster in &preview.clusters {
        if diff {
            let text = cluster_diff(cluster, p.live.get(&cluster.name));
            if !text.is_empty() {
                out.push_str(&format!("\n{}", text.trim_end()));
            }
            continue;
        }
        match &cluster.desired {
            Some(Ok(object)) => {
                let yaml = render_yaml(std::slice::from_ref(object)).unwrap_or_default();
                out.push_str(&format!(
                    "\n--- {} ({}):\n{yaml}",
                    cluster.name, cluster.action
                ));
            }
            Some(Err(err)) => out.push_str(&format!(
                "\n--- {}: the object cannot be built: {err}",
                cluster.name
            )),
            None => {}
        }
    }
    out
}

/// The machine-readable report of one object.
pub fn render_value(p: &Previewed, diff: bool) -> Value {
    let preview = &p.preview;
    let clusters: Vec<Value> = preview
        .clusters
        .iter()
        .map(|c| {
            let mut entry = json!({
                "name": c.name,
                "selected": c.selected,
                "placement": c.placement,
                "action": c.action,
                "writes": c.writes,
            });
            if let Some(status) = &c.status {
                entry["status"] = json!(status);
            }
            if let Some(message) = &c.message {
                entry["message"] = json!(message);
            }
            match &c.desired {
                Some(Ok(object)) => entry["object"] = object.clone(),
                Some(Err(err)) => entry["error"] = json!(err),
                None => {}
            }
            if diff {
                entry["diff"] = json!(cluster_diff(c, p.live.get(&c.name)));
            }
            entry
        })
        .collect();
    json!({
        "kind": p.kind,
        "namespace": p.namespace,
        "name": p.name,
        "type": p.type_name,
        "changes": preview.changes(),
        "blocked": preview.blocked,
        "paused": preview.paused,
        "deleting": preview.deleting,
        "clusters": clusters,
        "notJoined": preview.unknown,
        "warnings": preview.warnings.iter().map(|w| json!({"reason": w.reason, "message": w.message})).collect::<Vec<_>>(),
    })
}

/// The whole output for several objects, and the exit code.
pub fn render(
    previews: &[Previewed],
    output: Option<PreviewOutput>,
    diff: bool,
) -> Result<Reply, PluginError> {
    let code = u8::from(previews.iter().any(|p| p.preview.changes()));
    let text = match output {
        None => previews
            .iter()
            .map(|p| render_text(p, diff))
            .collect::<Vec<_>>()
            .join("\n\n"),
        Some(format) => {
            let values: Vec<Value> = previews.iter().map(|p| render_value(p, diff)).collect();
            let document = match values.as_slice() {
                [one] => one.clone(),
                _ => json!({"items": values}),
            };
            match format {
                PreviewOutput::Json => serde_json::to_string_pretty(&document)
                    .map_err(|e| PluginError::Render(e.to_string()))?,
                PreviewOutput::Yaml => render_yaml(&[document])?,
            }
        }
    };
    Ok(Reply { output: text, code })
}

/// The federation as the operator sees it: its settings, the enabled types and the members.
struct Federation {
    scope: crate::crds::Scope,
    adopt_resources: bool,
    type_configs: Vec<FederatedTypeConfig>,
    members: Members,
    host_kube_system_uid: Option<String>,
}

async fn kube_system_uid(client: &Client) -> Option<String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match tokio::time::timeout(MEMBER_TIMEOUT, namespaces.get_opt("kube-system")).await {
        Ok(Ok(ns)) => ns.and_then(|ns| ns.metadata.uid),
        _ => None,
    }
}

impl Federation {
    async fn read(host: &Client, namespace: &str) -> Result<Federation, PluginError> {
        let configs: Api<KubeFedConfig> = Api::namespaced(host.clone(), namespace);
        let spec = configs
            .get_opt(KUBEFED_CONFIG_NAME)
            .await
            .map_err(|e| {
                PluginError::api(
                    format!("cannot read KubeFedConfig {namespace}/{KUBEFED_CONFIG_NAME}"),
                    &e,
                )
            })?
            .map(|c| c.spec)
            .unwrap_or_else(KubeFedConfigSpec::with_defaults);
        let settings = settings_from(&spec).map_err(|problems| {
            PluginError::Invalid(format!(
                "KubeFedConfig {namespace}/{KUBEFED_CONFIG_NAME} is invalid: {}",
                problems.join("; ")
            ))
        })?;
        let type_configs: Api<FederatedTypeConfig> = Api::namespaced(host.clone(), namespace);
        let type_configs = type_configs
            .list(&ListParams::default())
            .await
            .map_err(|e| {
                PluginError::api(
                    format!("cannot list FederatedTypeConfigs in {namespace}"),
                    &e,
                )
            })?
            .items;
        let clusters = enable::list_clusters(host, namespace).await?;
        let secrets: Api<Secret> = Api::namespaced(host.clone(), namespace);
        let mut members = BTreeMap::new();
        for cluster in clusters {
            let cluster: KubeFedCluster = serde_json::from_value(cluster)
                .map_err(|e| PluginError::Invalid(format!("unexpected KubeFedCluster: {e}")))?;
            let name = cluster.metadata.name.clone().unwrap_or_default();
            let secret_name = &cluster.spec.secret_ref.name;
            let secret = match secret_name.is_empty() {
                true => None,
                false => secrets.get_opt(secret_name).await.map_err(|e| {
                    PluginError::api(
                        format!(
                            "cannot read Secret {namespace}/{secret_name} of member cluster {name} (preview reads members with the operator's credentials, so it needs get on Secrets in {namespace})"
                        ),
                        &e,
                    )
                })?,
            };
            let client = cluster_token(&cluster, secret.as_ref())
                .and_then(|token| {
                    cluster_client(
                        &cluster,
                        &token,
                        MEMBER_TIMEOUT,
                        crate::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
                    )
                })
                .ok()
                .map(|c| c.client);
            let health = health_from_status(cluster.status.as_ref());
            let ready = health.as_ref().is_some_and(|h| h.is_ready());
            let uid = match (&client, ready) {
                (Some(client), true) => kube_system_uid(client).await,
                _ => None,
            };
            members.insert(
                name.clone(),
                Member {
                    name,
                    labels: cluster.metadata.labels.clone().unwrap_or_default(),
                    health,
                    client,
                    kube_system_uid: uid,
                    client_epoch: 0,
                    answers: Default::default(),
                    unresponsive: false,
                    pull: crate::crds::member_work::is_pull(&cluster),
                },
            );
        }
        Ok(Federation {
            scope: settings.scope,
            adopt_resources: settings.adopt_resources,
            type_configs,
            members: Arc::new(members),
            host_kube_system_uid: kube_system_uid(host).await,
        })
    }

    /// The type config federating `federated`.
    fn type_config(&self, federated: &DiscoveredType) -> Result<&FederatedTypeConfig, PluginError> {
        self.type_configs
            .iter()
            .find(|ftc| {
                ftc.spec.federated_type.group == federated.group
                    && ftc.spec.federated_type.kind == federated.kind
            })
            .ok_or_else(|| {
                PluginError::NotFound(format!(
                    "no FederatedTypeConfig federates {} (enable its target type with `kubectl fed enable`)",
                    federated.kind
                ))
            })
    }
}

/// The federated objects to preview, with their types.
async fn objects(
    host: &Client,
    session: &Session,
    args: &PreviewArgs,
    discovered: &[DiscoveredType],
) -> Result<Vec<(DiscoveredType, DynamicObject)>, PluginError> {
    let group = &args.api.federated_group;
    if let Some(path) = &args.filename {
        let documents = super::federate::parse_documents(&read_input(path)?)?;
        if documents.is_empty() {
            return Err(PluginError::Invalid(format!("{path} holds no object")));
        }
        let mut found = Vec::new();
        for document in documents {
            let kind = document
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let resolved = resolve_federated(&kind, discovered, group)?.clone();
            if !resolved.kind.eq_ignore_ascii_case(&kind) {
                return Err(PluginError::Invalid(format!(
                    "{path}: {kind} is not a federated type; preview takes Federated<Kind> objects (turn a {kind} into one with `kubectl fed federate`)"
                )));
            }
            let mut object: DynamicObject = serde_json::from_value(document)
                .map_err(|e| PluginError::Invalid(format!("{path}: {e}")))?;
            if object.metadata.name.as_deref().is_none_or(str::is_empty) {
                return Err(PluginError::Invalid(format!(
                    "{path}: a {kind} has no metadata.name"
                )));
            }
            if resolved.namespaced && object.metadata.namespace.is_none() {
                object.metadata.namespace =
                    Some(session.object_namespace(args.namespace.as_deref()));
            }
            found.push((resolved, object));
        }
        return Ok(found);
    }
    let object = args.object.as_deref().unwrap_or_default();
    let (kind, name) = kind_and_name(object)?;
    let resolved = resolve_federated(kind, discovered, group)?.clone();
    let api: Api<DynamicObject> = if resolved.namespaced {
        Api::namespaced_with(
            host.clone(),
            &session.object_namespace(args.namespace.as_deref()),
            &resolved.dynamic(),
        )
    } else {
        Api::all_with(host.clone(), &resolved.dynamic())
    };
    let object = api
        .get_opt(name)
        .await
        .map_err(|e| PluginError::api(format!("cannot get {} {name:?}", resolved.kind), &e))?
        .ok_or_else(|| PluginError::NotFound(format!("{} {name:?} not found", resolved.kind)))?;
    Ok(vec![(resolved, object)])
}

pub async fn run(session: &Session, args: PreviewArgs) -> Result<Reply, PluginError> {
    let host = session.host_client().await?;
    let discovered = enable::discover(&host).await?;
    let objects = objects(&host, session, &args, &discovered).await?;
    let federation = Federation::read(&host, &session.namespace).await?;
    let namespace_type = federated_namespace_resource();
    let mut previews = Vec::new();
    for (federated, object) in objects {
        let ftc = federation.type_config(&federated)?;
        let synced = SyncedType::from_type_config(ftc);
        let settings: PlanSettings = synced.plan_settings(
            federation.scope,
            &session.namespace,
            federation.adopt_resources,
        );
        let sources = LiveSources {
            host: &host,
            federated: &synced.federated,
            federated_namespace: Some(&namespace_type),
            target: &synced.target,
            collection: synced.collection(),
            members: &federation.members,
            host_kube_system_uid: federation.host_kube_system_uid.as_deref(),
            timeout: MEMBER_TIMEOUT,
        };
        let (observation, live) = live_object(&sources, &settings, &object)
            .await
            .map_err(|e| PluginError::api("cannot read the federated object's inputs", &e))?;
        let mut previewed = preview(&observation, &settings);
        if ftc.spec.propagation != ConfigurationMode::Enabled {
            previewed.blocked = Some(format!(
                "propagation of {} is disabled in its FederatedTypeConfig",
                synced.name
            ));
            for cluster in &mut previewed.clusters {
                cluster.action = "none".to_string();
                cluster.writes = false;
            }
        }
        previews.push(Previewed {
            kind: federated.kind.clone(),
            namespace: object.metadata.namespace.clone(),
            name: object.metadata.name.clone().unwrap_or_default(),
            type_name: synced.name.clone(),
            preview: previewed,
            live: live
                .into_iter()
                .filter_map(|(cluster, o)| serde_json::to_value(o).ok().map(|v| (cluster, v)))
                .collect(),
        });
    }
    render(&previews, args.output, args.diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::Warning;

    fn cluster(name: &str, action: &str, desired: Option<Value>) -> ClusterPreview {
        ClusterPreview {
            name: name.into(),
            selected: desired.is_some(),
            placement: if desired.is_some() {
                "listed in spec.placement.clusters".into()
            } else {
                "not listed in spec.placement.clusters".into()
            },
            action: action.into(),
            writes: action != "none",
            status: Some(String::new()),
            message: None,
            desired: desired.map(Ok),
        }
    }

    fn desired(value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cm", "namespace": "demo", "labels": {"kubefed.io/managed": "true"}},
               "data": {"k": value}})
    }

    fn previewed(clusters: Vec<ClusterPreview>, live: BTreeMap<String, Value>) -> Previewed {
        Previewed {
            kind: "FederatedConfigMap".into(),
            namespace: Some("demo".into()),
            name: "cm".into(),
            type_name: "configmaps".into(),
            preview: Preview {
                blocked: None,
                deleting: false,
                paused: false,
                clusters,
                unknown: vec!["c9".into()],
                warnings: vec![Warning {
                    reason: "UnknownClusters".into(),
                    message: "placement names clusters that are not joined: c9".into(),
                }],
            },
            live,
        }
    }

    #[test]
    fn text_shows_placement_then_each_object() {
        let p = previewed(
            vec![
                cluster("c1", "create", Some(desired("v"))),
                cluster("c2", "none", None),
            ],
            BTreeMap::new(),
        );
        assert_eq!(
            render_text(&p, false),
            "FederatedConfigMap demo/cm (configmaps)\n\
             CLUSTER   SELECTED   ACTION   STATUS    WHY\n\
             c1        yes        create   in sync   listed in spec.placement.clusters\n\
             c2        no         none     in sync   not listed in spec.placement.clusters\n\
             not joined (named in spec.placement.clusters): c9\n\
             warning UnknownClusters: placement names clusters that are not joined: c9\n\
             --- c1 (create):\n\
             apiVersion: v1\n\
             data:\n  \
               k: v\n\
             kind: ConfigMap\n\
             metadata:\n  \
               labels:\n    \
                 kubefed.io/managed: \"true\"\n  \
               name: cm\n  \
               namespace: demo"
        );
    }

    #[test]
    fn diff_compares_only_what_the_operator_sets() {
        let mut live = desired("old");
        live["metadata"]["uid"] = json!("u-1");
        live["metadata"]["labels"]["team"] = json!("theirs");
        live["status"] = json!({"x": 1});
        let c = cluster("c1", "update", Some(desired("new")));
        let text = cluster_diff(&c, Some(&live));
        assert!(text.starts_with("--- c1/live\n+++ c1/desired\n"), "{text}");
        assert!(text.contains("-  k: old\n+  k: new\n"), "{text}");
        assert!(!text.contains("team") && !text.contains("uid"), "{text}");
        // In sync: no diff at all.
        let same = cluster("c1", "none", Some(desired("new")));
        let mut live_same = desired("new");
        live_same["metadata"]["resourceVersion"] = json!("4");
        assert_eq!(cluster_diff(&same, Some(&live_same)), "");
        // A deletion shows the whole member object going.
        let gone = cluster_diff(&cluster("c2", "delete", None), Some(&live));
        assert!(gone.contains("-    team: theirs"), "{gone}");
        // A creation shows it all coming.
        let created = cluster_diff(&cluster("c3", "create", Some(desired("v"))), None);
        assert!(created.contains("+kind: ConfigMap"), "{created}");
    }

    #[test]
    fn exit_code_and_documents() {
        let changing = previewed(
            vec![cluster("c1", "create", Some(desired("v")))],
            BTreeMap::new(),
        );
        let reply = render(
            std::slice::from_ref(&changing),
            Some(PreviewOutput::Json),
            false,
        )
        .unwrap();
        assert_eq!(reply.code, 1);
        let doc: Value = serde_json::from_str(&reply.output).unwrap();
        assert_eq!(doc["changes"], true);
        assert_eq!(doc["clusters"][0]["object"]["data"]["k"], "v");
        assert_eq!(doc["notJoined"], json!(["c9"]));
        let quiet = previewed(
            vec![cluster("c1", "none", Some(desired("v")))],
            BTreeMap::new(),
        );
        let reply = render(
            std::slice::from_ref(&quiet),
            Some(PreviewOutput::Yaml),
            true,
        )
        .unwrap();
        assert_eq!(reply.code, 0);
        assert!(reply.output.contains("changes: false"), "{}", reply.output);
        let both = render(&[quiet, changing], None, false).unwrap();
        assert_eq!(both.code, 1);
    }
}
