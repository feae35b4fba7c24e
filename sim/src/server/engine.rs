//! Object lifecycle semantics shared by every verb: validation, system metadata, resource
//! versions, generation, subresource isolation, finalizers, namespace termination, garbage
//! collection, CRD registration and the recording of changes for watchers.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::server::crd;
use crate::server::defaults;
use crate::server::error::{ApiError, ApiResult, Target};
use crate::server::garbage_collector::{FOREGROUND_FINALIZER, GcQueue, ORPHAN_FINALIZER};
use crate::server::managed::{self, Writer};
use crate::server::meta;
use crate::server::object::{Interner, Object};
use crate::server::patch::ListKeys;
use crate::server::resources::{GroupResource, Registry, ResourceDef};
use crate::server::schema;
use crate::server::selectors::Selectors;
use crate::server::store::{ObjKey, Store};
use crate::server::watch::{Change, EventType, History};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
    /// The scale subresource writes `spec.replicas` only.
    Scale,
}

impl Sub {
    pub fn name(self) -> &'static str {
        match self {
            Sub::Main => "",
            Sub::Status => "status",
            Sub::Scale => "scale",
        }
    }
}

/// Options common to writes.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
    pub sub: Sub,
    /// Set for server-side apply: the applied configuration and `force`.
    pub apply: Option<(Value, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone)]
pub struct DeleteOpts {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl Default for DeleteOpts {
    fn default() -> Self {
        DeleteOpts {
            propagation: Propagation::Background,
            precondition_uid: None,
            precondition_rv: None,
            dry_run: false,
        }
    }
}

/// The object a write addresses, at the API version of the request.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub def: &'a Arc<ResourceDef>,
    pub ns: &'a str,
    pub name: &'a str,
    pub version: &'a str,
}

/// A page of a list.
pub struct ListPage {
    pub items: Vec<Object>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Everything a simulated API server stores, guarded by one lock per cluster.
pub struct State {
    pub registry: Registry,
    pub store: Store,
    pub history: History,
    /// Shares equal JSON parts between stored objects and their versions.
    pub interner: Interner,
    pub rv: u64,
    /// Number of committed changes (each bumps the resource version).
    pub changes: u64,
    /// Committed changes per resource, so controllers can skip passes over unchanged ones.
    changes_by_resource: std::collections::HashMap<GroupResource, u64>,
    /// Last allocated Service cluster IP (as an offset in 10.96.0.0/16).
    next_service_ip: u32,
    /// Whether new namespaces get their `default` service account and root CA config map.
    namespace_defaults: bool,
    notify: tokio::sync::watch::Sender<u64>,
    /// What deletions left for the garbage collector.
    pub gc: GcQueue,
}

pub fn keys_of(def: &ResourceDef) -> ListKeys<'_> {
    ListKeys {
        builtin: def.strategic,
        custom: &def.list_keys,
    }
}

fn strip_for_generation(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    let seed = meta::new_uid();
    seed.bytes()
        .filter(u8::is_ascii_hexdigit)
        .take(5)
        .enumerate()
        .map(|(i, b)| NAME_CHARS[(b as usize * 7 + i * 13) % NAME_CHARS.len()] as char)
        .collect()
}

fn validate_name(def: &ResourceDef, name: &str) -> ApiResult<()> {
    let path_segment_ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('%');
    // RBAC objects only need to be valid path segments (`system:controller:x`); everything
    // else is a DNS subdomain.
    let subdomain_ok = name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let ok = if def.group == "rbac.authorization.k8s.io" {
        path_segment_ok
    } else {
        path_segment_ok && subdomain_ok
    };
    if !ok {
        return Err(ApiError::invalid(
            &def.group,
            &def.kind,
            name,
            format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ));
    }
    Ok(())
}

/// Where a cluster's resource versions start. A real server's are etcd revisions: large, and
/// different on every cluster. Starting each simulated cluster at its own large random value
/// keeps a client from passing as correct while it treats them as small counters, compares them
/// across clusters, or mixes up two clusters' versions.
fn first_resource_version() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(meta::new_uid().as_bytes());
    // Between 10^6 and ~10^10: room for any test run, far from every other cluster's.
    1_000_000 + h.finish() % 9_000_000_000
}

impl State {
    pub fn new(history: usize, namespace_defaults: bool) -> Self {
        let rv = first_resource_version();
        let (notify, _) = tokio::sync::watch::channel(rv);
        let mut history = History::new(history);
        // Nothing older than the first version can be watched from.
        history.compacted_rv = rv;
        State {
            registry: Registry::default(),
            store: Store::default(),
            history,
            interner: Interner::default(),
            rv,
            changes: 0,
            changes_by_resource: Default::default(),
            next_service_ip: 0,
            namespace_defaults,
            notify,
            gc: GcQueue::default(),
        }
    }

    /// Counts a change of `gr` (done by every commit; restores call it too).
    pub fn touch(&mut self, gr: &GroupResource) {
        match self.changes_by_resource.get_mut(gr) {
            Some(n) => *n += 1,
            None => {
                self.changes_by_resource.insert(gr.clone(), 1);
            }
        }
    }

    /// How many changes `gr` has had: equal numbers mean nothing of it changed in between.
    pub fn changes_of(&self, gr: &GroupResource) -> u64 {
        self.changes_by_resource.get(gr).copied().unwrap_or(0)
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn key(def: &ResourceDef, ns: &str, name: &str) -> ObjKey {
        ObjKey {
            gr: def.gr(),
            namespace: if def.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    fn target(def: &ResourceDef, name: &str) -> Target {
        Target::new(&def.group, &def.plural, name)
    }

    /// Records a change: bumps the resource version, stores (or removes) the object, appends
    /// to the history and wakes watchers.
    fn commit(&mut self, key: &ObjKey, mut obj: Value, kind: EventType) -> Value {
        self.rv += 1;
        self.changes += 1;
        self.touch(&key.gr);
        meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let stored = Object::new(&obj, self.rv, &mut self.interner);
        let prev = match kind {
            EventType::Deleted => self.store.remove(key),
            _ => self.store.put(key, stored.clone()),
        };
        self.history.push(Change {
            rv: self.rv,
            gr: key.gr.clone(),
            namespace: key.namespace.clone(),
            kind,
            object: stored,
            prev,
        });
        // Events are one resource behind two APIs: the other view changes in the same commit.
        if let Some((gr, view)) = crate::server::events::mirror(&key.gr, &obj) {
            let view_key = ObjKey {
                gr,
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            };
            let view = Object::new(&view, self.rv, &mut self.interner);
            let prev = match kind {
                EventType::Deleted => self.store.remove(&view_key),
                _ => self.store.put(&view_key, view.clone()),
            };
            self.history.push(Change {
                rv: self.rv,
                gr: view_key.gr,
                namespace: view_key.namespace,
                kind,
                object: view,
                prev,
            });
        }
        self.notify.send_replace(self.rv);
        obj
    }

    /// The stored object, decoded.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Arc<Value>> {
        self.get_stored(def, ns, name)
            .map(|o| Arc::new(o.to_value()))
    }

    /// The stored object as it is kept (for handlers that copy its bytes).
    pub fn get_stored(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Object> {
        self.store
            .get(&def.gr(), if def.namespaced { ns } else { "" }, name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(Self::target(def, name)))
    }

    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        sel: &Selectors,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> ApiResult<ListPage> {
        let cont = match cont {
            Some(c) if !c.is_empty() => Some(decode_continue(def, c)?),
            _ => None,
        };
        // Later pages continue from the first page's version; once it is compacted the
        // real server answers 410 with a token that continues at the latest version.
        if let Some(c) = &cont
            && c.rv > 0
            && (c.rv as u64) < self.history.compacted_rv
        {
            return Err(ApiError::ExpiredContinue(encode_continue(
                def, &c.after.0, &c.after.1, -1,
            )));
        }
        let list_rv = match &cont {
            Some(c) if c.rv > 0 => c.rv,
            _ => self.rv as i64,
        };
        let after = cont.map(|c| c.after);
        let ns = ns.or(sel.fields.namespace()).filter(|n| !n.is_empty());
        let gr = def.gr();
        let mut iter = self
            .store
            .list(&gr, ns, after.as_ref())
            .filter(|(_, o)| sel.matches_object(o));
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = None;
        match limit.filter(|l| *l > 0) {
            Some(limit) => {
                items.extend(iter.by_ref().take(limit).map(|(_, o)| o.clone()));
                let rest = iter.count();
                if rest > 0 {
                    if let Some(last) = items.last() {
                        continue_token = Some(encode_continue(
                            def,
                            last.meta().namespace(),
                            last.meta().name(),
                            list_rv,
                        ));
                    }
                    remaining = Some(rest);
                }
            }
            None => items.extend(iter.map(|(_, o)| o.clone())),
        }
        Ok(ListPage {
            items,
            // Every page reports the version of the first (the real server lists them all
            // from that snapshot; here later pages show the objects as they are now).
            resource_version: u64::try_from(list_rv).unwrap_or(self.rv),
            continue_token,
            remaining,
        })
    }

    fn check_namespace(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<()> {
        if !def.namespaced {
            return Ok(());
        }
        let nsgr = GroupResource::new("", "namespaces");
        match self.store.get(&nsgr, "", ns) {
            None => Err(ApiError::NotFound(Target::new("", "namespaces", ns))),
            Some(n) if n.meta().is_deleting() => Err(ApiError::Forbidden(format!(
                "{} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                def.plural
            ))),
            Some(_) => Ok(()),
        }
    }

    /// The body is an object of the kind and version the request addresses.
    pub fn check_type(def: &ResourceDef, obj: &Value, version: &str) -> ApiResult<()> {
        if !obj.is_object() {
            return Err(ApiError::BadRequest(
                "the body of the request must be a JSON object".into(),
            ));
        }
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let av = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.is_empty() {
            return Err(ApiError::BadRequest(
                "Object 'Kind' is missing in the request body".into(),
            ));
        }
        if kind != def.kind {
            return Err(ApiError::BadRequest(format!(
                "the kind of the provided object ({kind}) does not match the expected kind ({})",
                def.kind
            )));
        }
        if !def.versions.iter().any(|v| def.api_version(v) == av)
            || av != def.api_version(version) && !def.is_crd
        {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version(version)
            )));
        }
        Ok(())
    }

    /// Creates an object (POST, or server-side apply / update of a missing object).
    pub fn create(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        version: &str,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        Self::check_type(def, &obj, version)?;
        let m = meta::meta_mut(&mut obj);
        let body_ns = m
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if def.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        let mut name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty()
            && let Some(prefix) = m.get("generateName").and_then(Value::as_str)
        {
            name = format!("{prefix}{}", random_suffix());
            m.insert("name".into(), json!(name));
        }
        if name.is_empty() {
            return Err(ApiError::invalid(
                &def.group,
                &def.kind,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        validate_name(def, &name)?;
        self.check_namespace(def, ns, &name)?;
        let key = Self::key(def, ns, &name);
        if self.store.get(&key.gr, &key.namespace, &name).is_some() {
            return Err(ApiError::AlreadyExists(Self::target(def, &name)));
        }
        for f in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
        if opts.apply.is_none() {
            // Ownership is computed by the server, not taken from the body.
            m.remove("managedFields");
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
        if def.generation {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        obj["apiVersion"] = json!(def.api_version(def.storage_version()));
        if def.status
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        self.defaults(def, &mut obj, None)?;
        check_schema(def, version, &name, &mut obj)?;
        let writer = Writer {
            manager: &opts.manager,
            api_version: &def.api_version(version),
            subresource: "",
        };
        let obj = match &opts.apply {
            Some(_) => {
                // The apply path computed ownership on the applied config already.
                obj
            }
            None => {
                let mut o = obj;
                managed::record_update(None, &mut o, &writer, keys_of(def));
                o
            }
        };
        if opts.dry_run {
            return Ok(obj);
        }
        if crd::is_crd_gr(&def.gr()) {
            self.register_crd(&obj)?;
        }
        let created = self.commit(&key, obj, EventType::Added);
        if self.namespace_defaults && key.gr == GroupResource::new("", "namespaces") {
            self.populate_namespace(&key.name);
        }
        Ok(created)
    }

    /// What the controller manager puts into every new namespace: the `default` service account
    /// and the `kube-root-ca.crt` config map.
    fn populate_namespace(&mut self, ns: &str) {
        let opts = WriteOpts {
            manager: "kube-controller-manager".into(),
            dry_run: false,
            sub: Sub::Main,
            apply: None,
        };
        let objects = [
            (
                "serviceaccounts",
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
            ),
            (
                "configmaps",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"},
                       "data": {"ca.crt": crate::server::pki::CA_PEM}}),
            ),
        ];
        for (resource, obj) in objects {
            if let Some(def) = self.registry.get("", "v1", resource) {
                // Failure only means the object exists already.
                let _ = self.create(&def, ns, "v1", obj, &opts);
            }
        }
    }

    /// Server-maintained fields and defaults.
    fn defaults(
        &mut self,
        def: &ResourceDef,
        obj: &mut Value,
        current: Option<&Value>,
    ) -> ApiResult<()> {
        match (def.group.as_str(), def.plural.as_str()) {
            ("", "namespaces") => {
                if meta::get_path(obj, "spec.finalizers").is_none() {
                    meta::set_path(obj, "spec.finalizers", json!(["kubernetes"]));
                }
                let phase = if meta::is_deleting(obj) {
                    "Terminating"
                } else {
                    "Active"
                };
                meta::set_path(obj, "status.phase", json!(phase));
            }
            ("apps", "deployments") => {
                defaults::deployment(obj);
                crate::server::validation::workload(&def.group, &def.kind, obj)?;
            }
            ("apps", "replicasets") => {
                defaults::replica_set(obj);
                crate::server::validation::workload(&def.group, &def.kind, obj)?;
            }
            ("batch", "jobs") => defaults::job(obj),
            ("", "services") => {
                let next_ip = &mut self.next_service_ip;
                defaults::service(obj, current, &mut || {
                    *next_ip += 1;
                    format!("10.96.{}.{}", (*next_ip >> 8) & 0xff, *next_ip & 0xff)
                });
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let def = crd::def_from_crd(obj)
                    .map_err(|e| ApiError::invalid(&def.group, &def.kind, meta::name(obj), e))?;
                crd::prepare_status(obj, &def, current.is_none());
            }
            _ => {}
        }
        Ok(())
    }

    /// Serves (or updates) the resource of a stored CRD once its names are accepted.
    pub fn register_crd(&mut self, crd_obj: &Value) -> ApiResult<()> {
        crd::def_from_crd(crd_obj).map_err(|e| {
            ApiError::invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                meta::name(crd_obj),
                e,
            )
        })?;
        let Some(mut def) = crd::served_def(crd_obj) else {
            return Ok(());
        };
        if self.registry.by_gr(&def.gr()).is_some_and(|d| !d.is_crd) {
            // Never shadow a built-in resource.
            return Ok(());
        }
        def.schemas = crd::schemas(crd_obj);
        self.registry.insert(def);
        Ok(())
    }

    /// Updates an existing object: PUT, PATCH and apply all end here. `candidate` is the full
    /// desired object as computed by the caller from the current one.
    pub fn update(
        &mut self,
        at: &At<'_>,
        current: &Arc<Value>,
        mut candidate: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let At {
            def,
            ns,
            name,
            version,
        } = *at;
        let key = Self::key(def, ns, name);
        if opts.sub != Sub::Scale {
            Self::check_type(def, &candidate, version)?;
        }
        let cur_rv = meta::meta_str(current, "resourceVersion")
            .unwrap_or_default()
            .to_string();
        if let Some(rv) = meta::meta_str(&candidate, "resourceVersion")
            && !rv.is_empty()
            && rv != cur_rv
        {
            return Err(ApiError::Conflict(
                Self::target(def, name),
                "the object has been modified; please apply your changes to the latest version and try again".into(),
            ));
        }
        let cname = meta::name(&candidate);
        if !cname.is_empty() && cname != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({cname}) does not match the name on the URL ({name})"
            )));
        }
        let cns = meta::namespace(&candidate);
        if def.namespaced && !cns.is_empty() && cns != ns {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        // System metadata always comes from the stored object.
        {
            let cm = meta::meta_mut(&mut candidate);
            let sm = meta::meta(current).cloned().unwrap_or_default();
            for f in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "managedFields",
            ] {
                if f == "managedFields" && opts.apply.is_some() {
                    // Apply computed ownership from the stored object already.
                    continue;
                }
                match sm.get(f) {
                    Some(v) => cm.insert(f.into(), v.clone()),
                    None => cm.remove(f),
                };
            }
        }
        candidate["apiVersion"] = json!(def.api_version(def.storage_version()));
        candidate["kind"] = json!(def.kind);
        // Subresource isolation.
        if def.status {
            match opts.sub {
                Sub::Main | Sub::Scale => match current.get("status") {
                    Some(s) => candidate["status"] = s.clone(),
                    None => {
                        if let Some(o) = candidate.as_object_mut() {
                            o.remove("status");
                        }
                    }
                },
                Sub::Status => {
                    let mut next = (**current).clone();
                    match candidate.get("status") {
                        Some(s) => next["status"] = s.clone(),
                        None => {
                            if let Some(o) = next.as_object_mut() {
                                o.remove("status");
                            }
                        }
                    }
                    if opts.apply.is_some()
                        && let Some(mf) =
                            meta::meta(&candidate).and_then(|m| m.get("managedFields"))
                    {
                        // Keep the ownership apply computed for the status fields.
                        meta::meta_mut(&mut next).insert("managedFields".into(), mf.clone());
                    }
                    candidate = next;
                }
            }
        }
        if meta::is_deleting(current) {
            let old = meta::finalizers(current);
            if meta::finalizers(&candidate)
                .iter()
                .any(|f| !old.contains(f))
            {
                return Err(ApiError::invalid(
                    &def.group,
                    &def.kind,
                    name,
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                ));
            }
        }
        self.defaults(def, &mut candidate, Some(current))?;
        check_schema(def, version, name, &mut candidate)?;
        let api_version = def.api_version(version);
        let writer = Writer {
            manager: &opts.manager,
            api_version: &api_version,
            subresource: opts.sub.name(),
        };
        match &opts.apply {
            // Apply computed ownership already; drop paths that isolation reverted.
            Some(_) => managed::retain_present(&mut candidate, keys_of(def)),
            None => managed::record_update(Some(current), &mut candidate, &writer, keys_of(def)),
        }
        if def.generation && strip_for_generation(current) != strip_for_generation(&candidate) {
            let g = meta::meta(current)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta::meta_mut(&mut candidate).insert("generation".into(), json!(g + 1));
        }
        if candidate == **current {
            // Nothing changed: no new resource version, no event.
            return Ok(candidate);
        }
        if opts.dry_run {
            return Ok(candidate);
        }
        if meta::is_deleting(&candidate) && meta::finalizers(&candidate).is_empty() {
            return Ok(self.remove_object(def, &key, candidate));
        }
        if crd::is_crd_gr(&def.gr()) {
            self.register_crd(&candidate)?;
        }
        Ok(self.commit(&key, candidate, EventType::Modified))
    }

    /// DELETE of one object.
    pub fn delete(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Value> {
        let key = Self::key(def, ns, name);
        let current = self.get(def, ns, name)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&current)
        {
            return Err(ApiError::Conflict(
                Self::target(def, name),
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&current)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && Some(rv.as_str()) != meta::meta_str(&current, "resourceVersion")
        {
            return Err(ApiError::Conflict(
                Self::target(def, name),
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::meta_str(&current, "resourceVersion").unwrap_or_default()
                ),
            ));
        }
        if opts.dry_run {
            return Ok((*current).clone());
        }
        if def.gr() == GroupResource::new("", "namespaces") {
            return Ok(self.delete_namespace(&key, &current));
        }
        let gc_finalizer = match opts.propagation {
            Propagation::Orphan => Some(ORPHAN_FINALIZER),
            Propagation::Foreground => Some(FOREGROUND_FINALIZER),
            Propagation::Background => None,
        };
        if let Some(f) = gc_finalizer
            && !meta::is_deleting(&current)
        {
            // The owner stays, deleting, until the garbage collector has dealt with its
            // dependents and removes the finalizer.
            let mut next = (*current).clone();
            let mut finalizers = meta::finalizers(&current);
            finalizers.push(f.to_string());
            let m = meta::meta_mut(&mut next);
            m.insert("finalizers".into(), json!(finalizers));
            m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            self.gc.finalize(key.clone());
            return Ok(self.commit(&key, next, EventType::Modified));
        }
        if !meta::finalizers(&current).is_empty() {
            if meta::is_deleting(&current) {
                return Ok((*current).clone());
            }
            let mut next = (*current).clone();
            let m = meta::meta_mut(&mut next);
            m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            return Ok(self.commit(&key, next, EventType::Modified));
        }
        Ok(self.remove_object(def, &key, (*current).clone()))
    }

    fn delete_namespace(&mut self, key: &ObjKey, current: &Value) -> Value {
        let mut result = current.clone();
        if !meta::is_deleting(current) {
            let mut next = current.clone();
            meta::meta_mut(&mut next)
                .insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
            meta::set_path(&mut next, "status.phase", json!("Terminating"));
            result = self.commit(key, next, EventType::Modified);
        }
        for k in self.store.keys_in_namespace(&key.name) {
            if let Some(d) = self.registry.by_gr(&k.gr) {
                // Only NotFound is possible here (removed by an earlier cascade); nothing to do.
                let _ = self.delete(&d, &k.namespace, &k.name, &DeleteOpts::default());
            }
        }
        self.maybe_finalize_namespace(&key.name);
        result
    }

    /// Removes a terminating namespace once its content is gone (the `kubernetes` finalizer).
    fn maybe_finalize_namespace(&mut self, ns: &str) {
        let key = ObjKey {
            gr: GroupResource::new("", "namespaces"),
            namespace: String::new(),
            name: ns.to_string(),
        };
        let Some(n) = self.store.get(&key.gr, "", ns) else {
            return;
        };
        if !n.meta().is_deleting() || !self.store.namespace_is_empty(ns) {
            return;
        }
        let mut last = n.to_value();
        meta::set_path(&mut last, "spec.finalizers", json!([]));
        self.commit(&key, last, EventType::Deleted);
    }

    fn remove_object(&mut self, def: &ResourceDef, key: &ObjKey, obj: Value) -> Value {
        let uid = meta::uid(&obj).to_string();
        let removed = self.commit(key, obj, EventType::Deleted);
        if crd::is_crd_gr(&def.gr())
            && let Ok(d) = crd::def_from_crd(&removed)
            && self.registry.by_gr(&d.gr()).is_some_and(|x| x.is_crd)
        {
            for k in self.store.keys_of(&d.gr()) {
                if let Some(o) = self.store.get(&k.gr, &k.namespace, &k.name).cloned() {
                    self.gc.owner_gone(o.meta().uid());
                    self.commit(&k, o.to_value(), EventType::Deleted);
                }
            }
            self.registry.remove(&d.gr());
        }
        // Its dependents are the garbage collector's, later.
        self.gc.owner_gone(&uid);
        if !key.namespace.is_empty() {
            self.maybe_finalize_namespace(&key.namespace);
        }
        removed
    }

    /// Stores an object the garbage collector changed; one deleting whose last finalizer
    /// went is removed.
    pub(crate) fn gc_commit(&mut self, key: &ObjKey, next: Value) {
        if meta::is_deleting(&next) && meta::finalizers(&next).is_empty() {
            if let Some(def) = self.registry.by_gr(&key.gr) {
                self.remove_object(&def, key, next);
            }
            return;
        }
        self.commit(key, next, EventType::Modified);
    }

    /// Removes the references to `owner_uid` from its dependents.
    pub(crate) fn orphan_dependents(&mut self, owner_uid: &str) {
        for dep in self.store.dependents_of(owner_uid) {
            let Some(obj) = self.store.get(&dep.gr, &dep.namespace, &dep.name).cloned() else {
                continue;
            };
            let mut next = obj.to_value();
            if let Some(refs) = meta::meta_mut(&mut next)
                .get_mut("ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            meta::drop_empty(&mut next, "ownerReferences");
            self.commit(&dep, next, EventType::Modified);
        }
    }

    /// DELETE on a collection: deletes every matching object.
    pub fn delete_collection(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: Option<&str>,
        sel: &Selectors,
        opts: &DeleteOpts,
    ) -> ApiResult<Vec<Value>> {
        let page = self.list(def, ns, sel, None, None)?;
        let mut out = Vec::new();
        for o in page.items {
            match self.delete(def, o.meta().namespace(), o.meta().name(), opts) {
                Ok(v) => out.push(v),
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Custom resources are pruned, defaulted and validated against the schema of the version
/// they were written at, whichever verb wrote them (apply results included).
fn check_schema(def: &ResourceDef, version: &str, name: &str, obj: &mut Value) -> ApiResult<()> {
    // Built-in kinds are only decoded (by the REST layer), never schema-validated.
    let Some(kind) = def.is_crd.then(|| def.schema(version)).flatten() else {
        return Ok(());
    };
    schema::normalize_custom(&kind, obj);
    schema::validate_object(&kind, obj)
        .map_err(|r| ApiError::rejected(&def.group, &def.kind, version, name, r))
}

/// A list's `continue` token as the real server makes it: unpadded URL-safe base64 of
/// `{"v": "meta.k8s.io/v1", "rv": <version of the first page>, "start": <key after the last
/// item>}`. `rv` -1 continues at the latest version (handed out with 410 once the first
/// page's version is compacted).
fn encode_continue(def: &ResourceDef, ns: &str, name: &str, rv: i64) -> String {
    use base64::Engine as _;
    let key = if def.namespaced {
        format!("{ns}/{name}\u{0}")
    } else {
        format!("{name}\u{0}")
    };
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": key}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// A decoded `continue` token: the last listed key, and the version it was listed at (-1:
/// latest).
struct Continue {
    after: (String, String),
    rv: i64,
}

fn decode_continue(def: &ResourceDef, token: &str) -> ApiResult<Continue> {
    use base64::Engine as _;
    let invalid = |why: String| {
        ApiError::BadRequest(format!(
            "invalid continue token: continue key is not valid{why}"
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|e| invalid(format!(": {}", go_base64_error(&e))))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(format!(": {e}")))?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(invalid(format!(
            ": server does not recognize this encoded version {}",
            v["v"].as_str().unwrap_or_default()
        )));
    }
    let rv = v["rv"].as_i64().unwrap_or(0);
    if rv == 0 {
        return Err(invalid(
            ": incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
        ));
    }
    let start = v["start"].as_str().unwrap_or_default();
    if start.is_empty() {
        return Err(invalid(
            ": encoded start key empty (version meta.k8s.io/v1)".into(),
        ));
    }
    let key = start.strip_suffix('\u{0}').unwrap_or(start);
    let after = match key.split_once('/') {
        Some((ns, name)) if def.namespaced => (ns.to_string(), name.to_string()),
        _ => (String::new(), key.to_string()),
    };
    Ok(Continue { after, rv })
}

/// Go's message for undecodable base64.
fn go_base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".into(),
    }
}
