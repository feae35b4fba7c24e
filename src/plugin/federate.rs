//! `kubectl fed federate`: turns existing resources (or YAML documents) into federated objects.
//!
//! The conversion follows kubefedctl: the template is the object without `apiVersion`, `kind`,
//! `status` and every metadata field except `labels`, and placement is
//! `clusterSelector: {matchLabels: {}}`, which selects every member cluster. Fields the API
//! server allocates per cluster are dropped too, since copying them to other clusters would
//! conflict there: Service `clusterIP`, `clusterIPs`, `ports[].nodePort` and
//! `healthCheckNodePort`, ServiceAccount `secrets`, Namespace `spec.finalizers`, and the pod
//! template's `metadata.creationTimestamp`.

use std::time::{Duration, Instant};

use kube::api::{DynamicObject, PostParams};
use kube::discovery::ApiResource as DynamicResource;
use kube::{Api, Client};
use serde_json::{Map, Value, json};

use super::types::{DiscoveredType, ResolveError};
use super::{
    FederatedApiOptions, GlobalOptions, OutputFormat, PluginError, Session, enable, progress,
    read_input, render_yaml,
};
use crate::crds::{ConfigurationMode, FederatedTypeConfig, Scope};

pub const EXAMPLES: &str = "\
Examples:
  # Federate the Deployment web in namespace demo to all member clusters
  kubectl fed federate deployment web -n demo

  # Federate a namespace and every resource of an enabled type in it
  kubectl fed federate namespace demo --contents

  # ... except ConfigMaps and everything in the apps group (kubefedctl's --skip-api-resources)
  kubectl fed federate namespace demo --contents --skip-api-resources configmaps,apps

  # Convert a manifest file (or - for stdin) to YAML without touching any cluster
  kubectl fed federate -f app.yaml | kubectl apply -f -

  # Enable the type first when it is not federated yet
  kubectl fed federate widgets.example.com w1 -n demo --enable-type";

/// Namespaces that are never federated.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "default"];

#[derive(Debug, clap::Args)]
pub struct FederateArgs {
    /// Type of the resource: resource name, short name, kind, or `<resource>.<group>`.
    #[arg(value_name = "TYPE", required_unless_present = "filename")]
    pub type_name: Option<String>,
    /// Name of the resource.
    #[arg(value_name = "NAME", required_unless_present = "filename")]
    pub name: Option<String>,
    /// Namespace of the resource (default: the host context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// With a namespace: also federate the resources in it of every enabled namespaced type.
    #[arg(short = 'c', long)]
    pub contents: bool,
    /// With --contents: types to leave out, comma-separated or repeated. Each is a resource
    /// name, short name, kind, `<resource>.<group>`, or a whole API group (`apps`).
    #[arg(
        short = 's',
        long = "skip-api-resources",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub skip_api_resources: Vec<String>,
    /// Print the federated objects instead of creating them.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// Convert the resources of a YAML file (`-` for stdin) and print the federated objects as
    /// YAML, without contacting any cluster (as kubefedctl does; pipe into `kubectl apply -f -`
    /// to create them).
    #[arg(short = 'f', long = "filename", value_name = "FILE", conflicts_with_all = ["type_name", "name"])]
    pub filename: Option<String>,
    /// Enable federation of the type first when it is not enabled yet.
    #[arg(short = 't', long)]
    pub enable_type: bool,
    #[command(flatten)]
    pub api: FederatedApiOptions,
}

fn remove_path(value: &mut Value, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            if let Some(map) = value.as_object_mut() {
                map.remove(*last);
            }
        }
        [first, rest @ ..] => {
            if let Some(child) = value.get_mut(*first) {
                remove_path(child, rest);
            }
        }
    }
}

/// Removes `spec.<field>` from the object and `spec` itself when it ends up empty.
fn drop_empty_spec(value: &mut Value) {
    if value
        .get("spec")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        remove_path(value, &["spec"]);
    }
}

/// The template of a federated object: `object` without what the API server populated.
pub fn template(object: &Value) -> Value {
    let mut template = object.clone();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let core = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v == "v1");
    let labels = object
        .pointer("/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(map) = template.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("status");
        map.remove("metadata");
        if let Some(labels) = labels {
            map.insert("metadata".to_string(), json!({ "labels": labels }));
        }
    }
    remove_path(
        &mut template,
        &["spec", "template", "metadata", "creationTimestamp"],
    );
    match (core, kind) {
        (true, "Service") => {
            for field in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
                remove_path(&mut template, &["spec", field]);
            }
            if let Some(ports) = template
                .pointer_mut("/spec/ports")
                .and_then(Value::as_array_mut)
            {
                for port in ports {
                    remove_path(port, &["nodePort"]);
                }
            }
        }
        (true, "ServiceAccount") => remove_path(&mut template, &["secrets"]),
        (true, "Namespace") => {
            remove_path(&mut template, &["spec", "finalizers"]);
            drop_empty_spec(&mut template);
        }
        _ => {}
    }
    template
}

/// The `Federated<Kind>` of `object`, placed on every member cluster. A FederatedNamespace
/// lives in the namespace it federates.
pub fn federate_object(
    object: &Value,
    api: &FederatedApiOptions,
    default_namespace: Option<&str>,
) -> Result<Value, PluginError> {
    let field = |name: &str| {
        object
            .pointer(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let kind =
        field("/kind").ok_or_else(|| PluginError::Invalid("the object has no kind".to_string()))?;
    let name = field("/metadata/name")
        .ok_or_else(|| PluginError::Invalid(format!("the {kind} has no metadata.name")))?;
    let core = field("/apiVersion") == Some("v1");
    let namespace = if core && kind == "Namespace" {
        if SYSTEM_NAMESPACES.contains(&name) {
            return Err(PluginError::Invalid(format!(
                "namespace {name:?} is a system namespace and is never federated"
            )));
        }
        Some(name)
    } else {
        field("/metadata/namespace").or(default_namespace)
    };
    let mut metadata = json!({ "name": name });
    if let Some(namespace) = namespace {
        metadata["namespace"] = json!(namespace);
    }
    Ok(json!({
        "apiVersion": format!("{}/{}", api.federated_group, api.federated_version),
        "kind": format!("Federated{kind}"),
        "metadata": metadata,
        "spec": {
            "template": template(object),
            "placement": { "clusterSelector": { "matchLabels": {} } },
        },
    }))
}

/// Objects of a namespace not worth federating with `--contents`: those owned by another
/// object (e.g. a Deployment's ReplicaSets), and the per-namespace objects every cluster
/// creates for itself (`default` ServiceAccount, service-account tokens, `kube-root-ca.crt`).
pub fn skip_in_contents(object: &Value) -> bool {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let owned = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|o| !o.is_empty());
    owned
        || (kind == "ServiceAccount" && name == "default")
        || (kind == "ConfigMap" && name == "kube-root-ca.crt")
        || (kind == "Secret"
            && object.get("type").and_then(Value::as_str)
                == Some("kubernetes.io/service-account-token"))
}

/// Parses a multi-document YAML stream into objects, skipping empty documents and unrolling
/// `List`s.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, PluginError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| PluginError::Invalid(format!("invalid YAML: {e}")))?;
    let mut objects = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                if let Some(items) = map.get("items").and_then(Value::as_array) {
                    objects.extend(items.iter().cloned());
                }
            }
            Value::Object(_) => objects.push(doc),
            _ => {
                return Err(PluginError::Invalid(
                    "a YAML document is not an object".to_string(),
                ));
            }
        }
    }
    Ok(objects)
}

/// Whether `--skip-api-resources` entry `skip` names the type: by resource name, singular,
/// kind or short name (optionally `.group`-qualified), or by its whole API group.
pub fn skip_matches(skip: &str, target: &DiscoveredType) -> bool {
    let skip = skip.trim();
    if skip.is_empty() {
        return false;
    }
    if !target.group.is_empty() && skip.eq_ignore_ascii_case(&target.group) {
        return true;
    }
    let names = |name: &str| {
        [&target.plural, &target.singular, &target.kind]
            .into_iter()
            .chain(&target.short_names)
            .any(|n| n.eq_ignore_ascii_case(name))
    };
    match skip.split_once('.') {
        Some((name, group)) if group.eq_ignore_ascii_case(&target.group) => names(name),
        _ => names(skip),
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// Finds the served federated type for a federated object, enabling it when asked.
async fn federated_type(
    host: &Client,
    session: &Session,
    discovered: &mut Vec<DiscoveredType>,
    federated: &Value,
    target_api_version: &str,
    args: &FederateArgs,
) -> Result<DiscoveredType, PluginError> {
    let kind = federated["kind"].as_str().unwrap_or_default().to_string();
    let find = |d: &[DiscoveredType]| {
        d.iter()
            .find(|t| t.group == args.api.federated_group && t.kind == kind)
            .cloned()
    };
    if let Some(found) = find(discovered) {
        return Ok(found);
    }
    let target_kind = kind.trim_start_matches("Federated").to_string();
    let (group, _) = split_api_version(target_api_version);
    if !args.enable_type {
        return Err(ResolveError::NotFederated {
            query: if group.is_empty() {
                target_kind.to_lowercase()
            } else {
                format!("{}.{group}", target_kind.to_lowercase())
            },
            kind: target_kind,
            federated_kind: kind,
        }
        .into());
    }
    let target = discovered
        .iter()
        .find(|t| t.group == group && t.kind == target_kind)
        .ok_or_else(|| ResolveError::Unknown(format!("{target_kind}.{group}")))?
        .target_type();
    let (crd, config) = enable::enable_manifests(&target, &args.api, &session.namespace);
    enable::apply(host, &crd, &config, &session.namespace).await?;
    let note = enable::lacking_members_note(session, host, &target.type_config_name()).await?;
    if !note.is_empty() {
        progress(note);
    }
    // The new CRD is served asynchronously; wait for discovery to list it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        *discovered = enable::discover(host).await?;
        if let Some(found) = find(discovered) {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(PluginError::Invalid(format!(
                "the {kind} CRD was created but is not served after 30s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lists the objects of every enabled namespaced type in `namespace` that `skip` does not
/// name, for `--contents`.
async fn namespace_contents(
    host: &Client,
    session: &Session,
    discovered: &[DiscoveredType],
    namespace: &str,
    skip: &[String],
) -> Result<Vec<Value>, PluginError> {
    let configs = Api::<FederatedTypeConfig>::namespaced(host.clone(), &session.namespace)
        .list(&Default::default())
        .await
        .map_err(|e| {
            PluginError::api(
                format!("cannot list FederatedTypeConfigs in {}", session.namespace),
                &e,
            )
        })?;
    let mut objects = Vec::new();
    for config in configs.items {
        let target = &config.spec.target_type;
        if config.spec.propagation != ConfigurationMode::Enabled
            || target.scope != Scope::Namespaced
        {
            continue;
        }
        // Short names are only known to discovery.
        let known = discovered
            .iter()
            .find(|t| t.group == target.group && t.plural == target.plural_name)
            .cloned()
            .unwrap_or_else(|| DiscoveredType {
                group: target.group.clone(),
                version: target.version.clone(),
                kind: target.kind.clone(),
                plural: target.plural_name.clone(),
                singular: target.kind.to_lowercase(),
                namespaced: true,
                ..Default::default()
            });
        if skip.iter().any(|s| skip_matches(s, &known)) {
            progress(format!(
                "skipping {} (--skip-api-resources)",
                target.qualified_plural()
            ));
            continue;
        }
        let resource = DynamicResource {
            group: target.group.clone(),
            version: target.version.clone(),
            api_version: target.api_version(),
            kind: target.kind.clone(),
            plural: target.plural_name.clone(),
        };
        let list = Api::<DynamicObject>::namespaced_with(host.clone(), namespace, &resource)
            .list(&Default::default())
            .await
            .map_err(|e| {
                PluginError::api(
                    format!(
                        "cannot list {} in namespace {namespace}",
                        target.qualified_plural()
                    ),
                    &e,
                )
            })?;
        for item in list.items {
            let mut value =
                serde_json::to_value(&item).map_err(|e| PluginError::Render(e.to_string()))?;
            value["apiVersion"] = json!(target.api_version());
            value["kind"] = json!(target.kind);
            if !skip_in_contents(&value) {
                objects.push(value);
            }
        }
    }
    Ok(objects)
}

/// Reads the objects to federate from the host: the named object and, with `--contents`, the
/// namespace's contents.
async fn objects_from_cluster(
    host: &Client,
    session: &Session,
    discovered: &[DiscoveredType],
    args: &FederateArgs,
) -> Result<Vec<Value>, PluginError> {
    let type_name = args.type_name.as_deref().unwrap_or_default();
    let name = args.name.as_deref().unwrap_or_default();
    let target = enable::resolve_target(type_name, discovered, &args.api.federated_group)?;
    let api: Api<DynamicObject> = if target.namespaced {
        Api::namespaced_with(
            host.clone(),
            &session.object_namespace(args.namespace.as_deref()),
            &target.dynamic(),
        )
    } else {
        Api::all_with(host.clone(), &target.dynamic())
    };
    let object = api
        .get(name)
        .await
        .map_err(|e| PluginError::api(format!("cannot get {} {name:?}", target.kind), &e))?;
    let mut value =
        serde_json::to_value(&object).map_err(|e| PluginError::Render(e.to_string()))?;
    value["apiVersion"] = json!(target.api_version());
    value["kind"] = json!(target.kind);
    let mut objects = vec![value];
    if args.contents {
        if target.group.is_empty() && target.kind == "Namespace" {
            objects.extend(
                namespace_contents(host, session, discovered, name, &args.skip_api_resources)
                    .await?,
            );
        } else {
            return Err(PluginError::Invalid(
                "--contents only applies to namespaces".to_string(),
            ));
        }
    }
    Ok(objects)
}

pub async fn run(global: &GlobalOptions, args: FederateArgs) -> Result<String, PluginError> {
    // A file is only converted, without any cluster, as kubefedctl does.
    if let Some(path) = &args.filename {
        let federated = parse_documents(&read_input(path)?)?
            .iter()
            .map(|o| federate_object(o, &args.api, args.namespace.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        return render_yaml(&federated);
    }
    if args.enable_type && args.output.is_some() {
        return Err(PluginError::Invalid(
            "--enable-type cannot be used with --output: printing changes nothing".to_string(),
        ));
    }
    if !args.skip_api_resources.is_empty() && !args.contents {
        return Err(PluginError::Invalid(
            "--skip-api-resources only applies with --contents".to_string(),
        ));
    }
    let session = Session::new(global)?;
    let host = session.host_client().await?;
    let mut discovered = enable::discover(&host).await?;
    let objects = objects_from_cluster(&host, &session, &discovered, &args).await?;
    let default_namespace = session.object_namespace(args.namespace.as_deref());
    let mut pairs = Vec::new();
    for object in &objects {
        // Cluster-scoped objects from a file must not get a namespace.
        let (group, _) = split_api_version(object["apiVersion"].as_str().unwrap_or_default());
        let kind = object["kind"].as_str().unwrap_or_default();
        let namespaced = discovered
            .iter()
            .find(|t| t.group == group && t.kind == kind)
            .is_none_or(|t| t.namespaced);
        let federated = federate_object(
            object,
            &args.api,
            namespaced.then_some(default_namespace.as_str()),
        )?;
        pairs.push((object, federated));
    }
    if args.output.is_some() {
        return render_yaml(&pairs.into_iter().map(|(_, f)| f).collect::<Vec<_>>());
    }
    let mut created = 0;
    for (object, federated) in &pairs {
        let kind = federated["kind"].as_str().unwrap_or_default();
        let name = federated
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let namespace = federated
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let label = match namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        };
        if session.dry_run {
            progress(format!("would create {label}"));
            continue;
        }
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let fed_type = federated_type(
            &host,
            &session,
            &mut discovered,
            federated,
            api_version,
            &args,
        )
        .await?;
        let api: Api<DynamicObject> = match namespace {
            Some(ns) if fed_type.namespaced => {
                Api::namespaced_with(host.clone(), ns, &fed_type.dynamic())
            }
            _ => Api::all_with(host.clone(), &fed_type.dynamic()),
        };
        let existing = api
            .get_opt(name)
            .await
            .map_err(|e| PluginError::api(format!("cannot read {label}"), &e))?;
        if existing.is_some() {
            progress(format!("{label} already exists, left unchanged"));
            continue;
        }
        let body: DynamicObject = serde_json::from_value(federated.clone())
            .map_err(|e| PluginError::Render(e.to_string()))?;
        api.create(&PostParams::default(), &body)
            .await
            .map_err(|e| PluginError::api(format!("cannot create {label}"), &e))?;
        progress(format!("{label} created"));
        created += 1;
    }
    Ok(if session.dry_run {
        format!("{} federated object(s) would be created", pairs.len())
    } else {
        format!("{created} federated object(s) created")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> FederatedApiOptions {
        FederatedApiOptions {
            federated_group: "types.kubefed.io".into(),
            federated_version: "v1beta1".into(),
        }
    }

    #[test]
    fn deployment_keeps_spec_and_labels_only() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u", "resourceVersion": "7",
                "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "1"},
                "managedFields": [{}],
            },
            "spec": {
                "replicas": 3,
                "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
            },
            "status": {"readyReplicas": 3},
        });
        let federated = federate_object(&deployment, &api(), None).unwrap();
        assert_eq!(
            federated,
            json!({
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedDeployment",
                "metadata": {"name": "web", "namespace": "demo"},
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "replicas": 3,
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                        },
                    },
                    "placement": {"clusterSelector": {"matchLabels": {}}},
                },
            })
        );
    }

    #[test]
    fn service_loses_allocated_fields() {
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc", "namespace": "demo"},
            "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"],
                     "ports": [{"port": 80, "nodePort": 30080}], "selector": {"app": "web"}},
        });
        let template = template(&service);
        assert_eq!(
            template,
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80}], "selector": {"app": "web"}}})
        );
    }

    #[test]
    fn service_account_and_namespace_cleanup() {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": "bot", "namespace": "demo"},
                        "secrets": [{"name": "bot-token-x"}], "automountServiceAccountToken": false});
        assert_eq!(
            template(&sa),
            json!({"automountServiceAccountToken": false})
        );
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "demo", "labels": {"team": "a"}},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let federated = federate_object(&ns, &api(), Some("ignored")).unwrap();
        assert_eq!(federated["kind"], "FederatedNamespace");
        assert_eq!(
            federated["metadata"],
            json!({"name": "demo", "namespace": "demo"})
        );
        assert_eq!(
            federated["spec"]["template"],
            json!({"metadata": {"labels": {"team": "a"}}})
        );
    }

    #[test]
    fn system_namespaces_are_refused() {
        let ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}});
        assert!(federate_object(&ns, &api(), None).is_err());
    }

    #[test]
    fn default_namespace_and_cluster_scope() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let federated = federate_object(&cm, &api(), Some("team")).unwrap();
        assert_eq!(federated["metadata"]["namespace"], "team");
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                          "metadata": {"name": "r"}, "rules": []});
        let federated = federate_object(&role, &api(), None).unwrap();
        assert_eq!(federated["metadata"], json!({"name": "r"}));
        assert!(federate_object(&json!({"kind": "X", "metadata": {}}), &api(), None).is_err());
    }

    #[test]
    fn contents_skip_cluster_managed_objects() {
        let owned = json!({"kind": "ReplicaSet", "metadata": {"name": "web-1", "ownerReferences": [{"kind": "Deployment"}]}});
        let default_sa = json!({"kind": "ServiceAccount", "metadata": {"name": "default"}});
        let root_ca = json!({"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}});
        let token = json!({"kind": "Secret", "metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"});
        let plain = json!({"kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque"});
        assert!(skip_in_contents(&owned));
        assert!(skip_in_contents(&default_sa));
        assert!(skip_in_contents(&root_ca));
        assert!(skip_in_contents(&token));
        assert!(!skip_in_contents(&plain));
    }

    #[test]
    fn skip_api_resources_forms() {
        let deployments = DiscoveredType {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
            singular: "deployment".into(),
            short_names: vec!["deploy".into()],
            namespaced: true,
            has_scale: true,
        };
        let configmaps = DiscoveredType {
            group: String::new(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            singular: "configmap".into(),
            short_names: vec!["cm".into()],
            ..deployments.clone()
        };
        for skip in [
            "deploy",
            "deployment",
            "Deployment",
            "deployments",
            "deployments.apps",
            "apps",
            " apps ",
        ] {
            assert!(skip_matches(skip, &deployments), "{skip}");
        }
        for skip in ["cm", "configmaps", "ConfigMap"] {
            assert!(skip_matches(skip, &configmaps), "{skip}");
            assert!(!skip_matches(skip, &deployments), "{skip}");
        }
        for skip in ["", "deployments.extensions", "batch", "replicasets"] {
            assert!(!skip_matches(skip, &deployments), "{skip}");
        }
        // The core group has no name to skip it by.
        assert!(!skip_matches("", &configmaps));
    }

    #[test]
    fn documents_and_lists_are_parsed() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
        let objects = parse_documents(text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1]["kind"], "Secret");
        assert!(parse_documents("- 1\n").is_err());
    }
}
