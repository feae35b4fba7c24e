//! Describes the resources a simulated API server serves: a static table of built-in kinds
//! plus resources derived from CustomResourceDefinitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::server::schema::{self, KindSchema};

/// Storage identity of a resource: one store per group + plural, whatever version is served.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// A CRD additional printer column.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
}

/// Where the scale subresource reads and writes replicas.
#[derive(Debug, Clone)]
pub struct ScaleDef {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    /// Versions this resource is served at; the first is the storage (and preferred) version.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    pub scale: Option<ScaleDef>,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Built-in kinds accept strategic merge patch; custom resources do not.
    pub strategic: bool,
    /// Extra create-only subresources such as `serviceaccounts/token`.
    pub extra_subresources: Vec<String>,
    pub printer_columns: Vec<PrinterColumn>,
    /// List-map keys for lists in custom resources, from `x-kubernetes-list-map-keys`, by field name.
    pub list_keys: BTreeMap<String, Vec<String>>,
    pub is_crd: bool,
    /// The schemas of a custom resource's versions (built-in kinds use the shared ones).
    pub schemas: BTreeMap<String, KindSchema>,
    /// Shown in discovery. Built-ins always are; a CRD's resource is served once its names
    /// are accepted but discovered only once it is established.
    pub established: bool,
}

impl ResourceDef {
    pub fn gr(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    /// The schema of the objects of `version`, if the kind has one. Built-in schemas are
    /// compiled on first use, once per process.
    pub fn schema(&self, version: &str) -> Option<KindSchema> {
        if self.is_crd {
            return self.schemas.get(version).cloned();
        }
        schema::builtin::schema(&self.group, &self.kind).map(KindSchema::Builtin)
    }

    pub fn storage_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
    extra: &'static [&'static str],
}

const ALL: &[&str] = &["all"];

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    Builtin { group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, short: &["ns"], categories: &[], status: true, scale: false, generation: false, extra: &[] },
    Builtin { group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, short: &["cm"], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, short: &["sa"], categories: &[], status: false, scale: false, generation: false, extra: &["token"] },
    Builtin { group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true, short: &["svc"], categories: ALL, status: true, scale: false, generation: false, extra: &[] },
    Builtin { group: "", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true, short: &["ev"], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "events.k8s.io", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true, short: &["ev"], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, short: &["deploy"], categories: ALL, status: true, scale: true, generation: true, extra: &[] },
    Builtin { group: "apps", version: "v1", plural: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true, short: &["rs"], categories: ALL, status: true, scale: true, generation: true, extra: &[] },
    Builtin { group: "batch", version: "v1", plural: "jobs", singular: "job", kind: "Job", namespaced: true, short: &[], categories: ALL, status: true, scale: false, generation: true, extra: &[] },
    Builtin { group: "networking.k8s.io", version: "v1", plural: "ingresses", singular: "ingress", kind: "Ingress", namespaced: true, short: &["ing"], categories: &[], status: true, scale: false, generation: true, extra: &[] },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", singular: "clusterrolebinding", kind: "ClusterRoleBinding", namespaced: false, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role", kind: "Role", namespaced: true, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", kind: "Lease", namespaced: true, short: &[], categories: &[], status: false, scale: false, generation: false, extra: &[] },
    Builtin { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", singular: "customresourcedefinition", kind: "CustomResourceDefinition", namespaced: false, short: &["crd", "crds"], categories: &["api-extensions"], status: true, scale: false, generation: true, extra: &[] },
];

fn builtin_defs() -> Vec<ResourceDef> {
    BUILTINS
        .iter()
        .map(|b| ResourceDef {
            group: b.group.to_string(),
            versions: vec![b.version.to_string()],
            plural: b.plural.to_string(),
            singular: b.singular.to_string(),
            kind: b.kind.to_string(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            status: b.status,
            scale: b.scale.then(|| ScaleDef {
                spec_replicas_path: ".spec.replicas".into(),
                status_replicas_path: ".status.replicas".into(),
                label_selector_path: Some(".spec.selector".into()),
            }),
            generation: b.generation,
            strategic: true,
            extra_subresources: b.extra.iter().map(|s| s.to_string()).collect(),
            printer_columns: Vec::new(),
            list_keys: BTreeMap::new(),
            is_crd: false,
            schemas: BTreeMap::new(),
            established: true,
        })
        .collect()
}

/// The resources currently served, indexed by (group, version, plural).
#[derive(Debug, Clone)]
pub struct Registry {
    by_gr: BTreeMap<GroupResource, Arc<ResourceDef>>,
    by_gvr: HashMap<(String, String, String), Arc<ResourceDef>>,
}

impl Default for Registry {
    fn default() -> Self {
        let mut r = Registry {
            by_gr: BTreeMap::new(),
            by_gvr: HashMap::new(),
        };
        for d in builtin_defs() {
            r.insert(d);
        }
        r
    }
}

impl Registry {
    pub fn insert(&mut self, def: ResourceDef) {
        self.remove(&def.gr());
        let def = Arc::new(def);
        for v in &def.versions {
            self.by_gvr.insert(
                (def.group.clone(), v.clone(), def.plural.clone()),
                def.clone(),
            );
        }
        self.by_gr.insert(def.gr(), def);
    }

    pub fn remove(&mut self, gr: &GroupResource) -> Option<Arc<ResourceDef>> {
        let def = self.by_gr.remove(gr)?;
        for v in &def.versions {
            self.by_gvr
                .remove(&(def.group.clone(), v.clone(), def.plural.clone()));
        }
        Some(def)
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub fn by_gr(&self, gr: &GroupResource) -> Option<Arc<ResourceDef>> {
        self.by_gr.get(gr).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_gr.values()
    }

    /// The resources discovery shows: all but CRDs that are not established yet.
    pub fn discoverable(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_gr.values().filter(|d| d.established)
    }

    /// Discoverable groups in a stable order (core first, then built-in groups, then custom
    /// groups) with their served versions, preferred first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut order: Vec<&Arc<ResourceDef>> = self.discoverable().collect();
        order.sort_by_key(|d| (d.is_crd, d.group.clone()));
        for d in order {
            let entry = match out.iter_mut().find(|(g, _)| *g == d.group) {
                Some(e) => e,
                None => {
                    out.push((d.group.clone(), Vec::new()));
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            for v in &d.versions {
                if !entry.1.contains(v) {
                    entry.1.push(v.clone());
                }
            }
        }
        out
    }
}
