//! The request pipeline shared by every transport: routing, authentication, hooks, counters,
//! query parameters, content negotiation and the mapping of verbs onto the engine.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub mod protobuf;
pub mod table;
pub mod watch;

use crate::auth::token::service_account_user;
use crate::server::cluster::{Cluster, RequestInfo};
use crate::server::counters::Verb;
use crate::server::crd;
use crate::server::discovery;
use crate::server::engine::{
    At, DeleteOpts, ListPage, Propagation, State, Sub, WriteOpts, keys_of,
};
use crate::server::error::{ApiError, ApiResult, Target};
use crate::server::managed::{self, Writer};
use crate::server::meta;
use crate::server::openapi;
use crate::server::patch::{self, PatchKind};
use crate::server::resources::ResourceDef;
use crate::server::selectors::{FieldSelector, LabelSelector, Selectors};

/// Response body of every transport: a full JSON document or a stream of watch events.
pub type SimBody = UnsyncBoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> SimBody {
    Full::new(bytes.into()).boxed_unsync()
}

fn json_response(code: u16, body: Vec<u8>) -> Response<SimBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn value_response(code: u16, v: &Value) -> Response<SimBody> {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

pub fn error_response(e: &ApiError) -> Response<SimBody> {
    value_response(e.code(), &e.to_status())
}

/// A request after routing.
enum Reply {
    Json(u16, Value),
    Raw(u16, Vec<u8>),
    Text(&'static str),
    Stream(mpsc::Receiver<Bytes>),
}

struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        let mut m = HashMap::new();
        for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(meta::url_decode(k), meta::url_decode(v));
        }
        Query(m)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }

    fn selectors(&self) -> ApiResult<Selectors> {
        Ok(Selectors {
            labels: LabelSelector::parse(self.get("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(self.get("fieldSelector").unwrap_or_default())?,
        })
    }
}

/// Where a resource request points.
struct Route {
    def: Arc<ResourceDef>,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Cluster {
    /// Serves one request. Both transports end here.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<SimBody> {
        let (parts, body) = req.into_parts();
        let resp = self.respond(&parts, body).await;
        tracing::debug!(
            cluster = %self.inner.name,
            method = %parts.method,
            uri = %parts.uri,
            status = resp.status().as_u16(),
            "request"
        );
        resp
    }

    async fn respond(&self, parts: &http::request::Parts, body: Bytes) -> Response<SimBody> {
        match self.route(parts, body).await {
            Ok(Reply::Json(code, v)) => value_response(code, &v),
            Ok(Reply::Raw(code, bytes)) => json_response(code, bytes),
            Ok(Reply::Text(t)) => {
                let mut r = Response::new(full(t));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
            Ok(Reply::Stream(rx)) => {
                let stream = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
                });
                let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => error_response(&e),
        }
    }

    async fn route(&self, parts: &http::request::Parts, body: Bytes) -> ApiResult<Reply> {
        let path = parts.uri.path();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // Public paths are open to anonymous callers, but like the real server an invalid
        // bearer token is rejected before anything else is looked at.
        if parts.headers.contains_key(header::AUTHORIZATION) {
            self.authenticate_request(parts)?;
        }
        match segs.as_slice() {
            ["healthz" | "readyz" | "livez", ..] => return Ok(Reply::Text("ok")),
            ["version"] => {
                return Ok(Reply::Json(
                    200,
                    json!({
                        "major": "1", "minor": "33",
                        "gitVersion": self.inner.config.git_version,
                        "gitCommit": "0000000000000000000000000000000000000000",
                        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                        "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64",
                    }),
                ));
            }
            _ => {}
        }
        let user = self.authenticate_request(parts)?;
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let body = if ct.starts_with("application/vnd.kubernetes.protobuf") {
            // Typed kubectl commands send protobuf; everything downstream speaks JSON.
            Bytes::from(serde_json::to_vec(&protobuf::decode(&body)?).unwrap_or_default())
        } else if ct.contains("cbor") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format ({ct}) - accepted media types include: application/json, application/yaml"
            )));
        } else {
            body
        };
        let query = Query::parse(parts.uri.query());
        let mut info = RequestInfo {
            verb: Verb::NonResource,
            method: parts.method.clone(),
            path: path.to_string(),
            group: String::new(),
            version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            user: Some(user),
        };
        let target = {
            let st = self.inner.state.lock();
            let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
                [] => {
                    return Ok(Reply::Json(
                        200,
                        json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
                    ));
                }
                ["api"] => return self.non_resource(&info, discovery::api_versions()),
                ["apis"] => {
                    return self.non_resource(&info, discovery::api_group_list(&st.registry));
                }
                ["api", "v1"] => {
                    return self.non_resource(
                        &info,
                        discovery::resource_list(&st.registry, "", "v1")
                            .ok_or(ApiError::NoRoute)?,
                    );
                }
                ["apis", g] => {
                    return self.non_resource(
                        &info,
                        discovery::api_group(&st.registry, g).ok_or(ApiError::NoRoute)?,
                    );
                }
                ["apis", g, v] => {
                    return self.non_resource(
                        &info,
                        discovery::resource_list(&st.registry, g, v).ok_or(ApiError::NoRoute)?,
                    );
                }
                ["api", "v1", rest @ ..] => ("", "v1", rest),
                ["apis", g, v, rest @ ..] => (*g, *v, rest),
                ["openapi", "v3"] => return self.non_resource(&info, openapi::root(&st.registry)),
                ["openapi", "v3", gv @ ..] => {
                    let doc = openapi::group_version(&st.registry, &gv.join("/"))
                        .ok_or(ApiError::NoRoute)?;
                    return self.non_resource(&info, doc);
                }
                _ => return Err(ApiError::NoRoute),
            };
            resolve(&st, group, version, rest)?
        };
        info.group = target.def.group.clone();
        info.version = target.version.clone();
        info.resource = target.def.plural.clone();
        info.subresource = target.sub.clone().unwrap_or_default();
        info.namespace = target.namespace.clone().unwrap_or_default();
        info.name = target.name.clone().unwrap_or_default();
        info.verb = match (&parts.method, &target.name) {
            (&Method::GET, Some(_)) => Verb::Get,
            (&Method::GET, None) if query.flag("watch") => Verb::Watch,
            (&Method::GET, None) => Verb::List,
            (&Method::POST, _) => Verb::Create,
            (&Method::PUT, _) => Verb::Update,
            (&Method::PATCH, _) => Verb::Patch,
            (&Method::DELETE, Some(_)) => Verb::Delete,
            (&Method::DELETE, None) => Verb::DeleteCollection,
            _ => return Err(ApiError::MethodNotAllowed),
        };
        self.inner
            .counters
            .record(info.verb, &info.group_resource());
        let delay = self.run_middleware(&info)?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let ctx = Ctx {
            parts,
            query: &query,
            body: &body,
            info: &info,
        };
        self.dispatch(&ctx, &target)
    }

    /// Runs the hooks; returns the total latency they ask for.
    fn run_middleware(&self, info: &RequestInfo) -> ApiResult<Duration> {
        let hooks: Vec<_> = self.inner.middleware.read().clone();
        let mut delay = Duration::ZERO;
        for h in hooks {
            h.before(info)?;
            delay += h.delay(info);
        }
        Ok(delay)
    }

    fn non_resource(&self, info: &RequestInfo, v: Value) -> ApiResult<Reply> {
        self.inner.counters.record(Verb::NonResource, "");
        // Discovery is answered synchronously; hooks may still fail it.
        self.run_middleware(info)?;
        Ok(Reply::Json(200, v))
    }

    /// Runs a write under the state lock, counting it when it changed stored state.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> ApiResult<T>) -> ApiResult<T> {
        let mut st = self.inner.state.lock();
        let before = st.changes;
        let out = f(&mut st);
        if st.changes != before {
            self.inner.counters.record_effective_write();
        }
        out
    }

    fn dispatch(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let def = &t.def;
        let ns = t.namespace.as_deref().unwrap_or_default();
        let version = t.version.as_str();
        let sub = t.sub.as_deref();
        let present = |v: Value| present(def, version, v);
        match (ctx.info.verb, &t.name) {
            (Verb::List, _) => self.list(ctx, t),
            (Verb::Watch, _) => self.watch(ctx, t),
            (Verb::Get, Some(name)) => {
                let obj = self.inner.state.lock().get(def, ns, name)?;
                match sub {
                    None if table::wants_table(accept(ctx.parts)) => Ok(Reply::Json(
                        200,
                        table::to_table(def, &[obj.as_ref()], json!({})),
                    )),
                    None | Some("status") => Ok(Reply::Json(200, present((*obj).clone()))),
                    Some("scale") if def.scale.is_some() => {
                        Ok(Reply::Json(200, scale_of(def, &obj)))
                    }
                    _ => Err(ApiError::NoRoute),
                }
            }
            (Verb::Create, None) => {
                if def.namespaced && t.namespace.is_none() {
                    return Err(ApiError::MethodNotAllowed);
                }
                let obj = parse_body(ctx)?;
                let opts = self.write_opts(ctx, Sub::Main, None);
                let created = self.write(|st| st.create(def, ns, version, obj, &opts))?;
                Ok(Reply::Json(201, present(created)))
            }
            (Verb::Create, Some(name))
                if sub == Some("token") && def.plural == "serviceaccounts" =>
            {
                self.token_request(ctx, def, ns, name)
            }
            (Verb::Update, Some(name)) => {
                let subr = subresource(def, sub)?;
                let body = parse_body(ctx)?;
                let opts = self.write_opts(ctx, subr, None);
                let no_rv = meta::meta_str(&body, "resourceVersion").is_none_or(str::is_empty);
                if no_rv && subr != Sub::Scale && (def.is_crd || crd::is_crd_gr(&def.gr())) {
                    // Custom resources and CRDs do not allow unconditional updates.
                    return Err(ApiError::invalid(
                        &def.group,
                        &def.kind,
                        name,
                        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                    ));
                }
                self.write(|st| {
                    let current = st.get(def, ns, name)?;
                    let candidate = match subr {
                        Sub::Scale => apply_scale(def, &current, body)?,
                        _ => body,
                    };
                    let out = st.update(
                        &At {
                            def,
                            ns,
                            name,
                            version,
                        },
                        &current,
                        candidate,
                        &opts,
                    )?;
                    Ok(match subr {
                        Sub::Scale => Reply::Json(200, scale_of(def, &out)),
                        _ => Reply::Json(200, present(out)),
                    })
                })
            }
            (Verb::Patch, Some(name)) => self.patch(ctx, t, name),
            (Verb::Delete, Some(name)) => {
                let opts = delete_opts(ctx)?;
                let (out, gone) = self.write(|st| {
                    let out = st.delete(def, ns, name, &opts)?;
                    let gone = if opts.dry_run {
                        meta::finalizers(&out).is_empty()
                    } else {
                        st.get(def, ns, name).is_err()
                    };
                    Ok((out, gone))
                })?;
                // Like the real registries: custom resources, namespaces and CRDs answer with the
                // object; other built-ins answer an immediate deletion with a Success status.
                let returns_object = def.is_crd
                    || crd::is_crd_gr(&def.gr())
                    || (def.group.is_empty()
                        && matches!(def.plural.as_str(), "namespaces" | "services"));
                if gone && !returns_object {
                    let mut details =
                        json!({"name": name, "kind": def.plural, "uid": meta::uid(&out)});
                    if !def.group.is_empty() {
                        details["group"] = json!(def.group);
                    }
                    return Ok(Reply::Json(
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                    ));
                }
                Ok(Reply::Json(200, present(out)))
            }
            (Verb::DeleteCollection, None) => {
                let opts = delete_opts(ctx)?;
                let sel = ctx.query.selectors()?;
                let items = self
                    .write(|st| st.delete_collection(def, t.namespace.as_deref(), &sel, &opts))?;
                let items: Vec<Value> = items.into_iter().map(present).collect();
                Ok(Reply::Json(
                    200,
                    json!({"kind": def.list_kind(), "apiVersion": def.api_version(version), "metadata": {}, "items": items}),
                ))
            }
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    fn write_opts(&self, ctx: &Ctx<'_>, sub: Sub, apply: Option<(Value, bool)>) -> WriteOpts {
        let manager = ctx
            .query
            .get("fieldManager")
            .map(str::to_string)
            .unwrap_or_else(|| {
                ctx.parts
                    .headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|ua| ua.split('/').next())
                    .filter(|s| !s.is_empty())
                    .unwrap_or("unknown")
                    .to_string()
            });
        WriteOpts {
            manager,
            dry_run: ctx.query.dry_run(),
            sub,
            apply,
        }
    }

    fn list(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let sel = ctx.query.selectors()?;
        let limit = ctx.query.get("limit").and_then(|l| l.parse().ok());
        let page = self.inner.state.lock().list(
            &t.def,
            t.namespace.as_deref(),
            &sel,
            limit,
            ctx.query.get("continue"),
        )?;
        let accept = accept(ctx.parts);
        let mut list_meta = json!({"resourceVersion": page.resource_version.to_string()});
        if let Some(c) = &page.continue_token {
            list_meta["continue"] = json!(c);
        }
        if let Some(r) = page.remaining {
            list_meta["remainingItemCount"] = json!(r);
        }
        if table::wants_table(accept) {
            let items: Vec<&Value> = page.items.iter().map(|a| a.as_ref()).collect();
            return Ok(Reply::Json(200, table::to_table(&t.def, &items, list_meta)));
        }
        Ok(Reply::Raw(
            200,
            encode_list(&t.def, &t.version, list_meta, &page),
        ))
    }

    fn patch(&self, ctx: &Ctx<'_>, t: &Route, name: &str) -> ApiResult<Reply> {
        let def = &t.def;
        let ns = t.namespace.as_deref().unwrap_or_default();
        let version = t.version.as_str();
        let subr = subresource(def, t.sub.as_deref())?;
        let ct = ctx
            .parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let unsupported = || {
            ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                if def.strategic {
                    ", application/strategic-merge-patch+json"
                } else {
                    ""
                }
            ))
        };
        let kind = PatchKind::from_content_type(ct).ok_or_else(unsupported)?;
        if kind == PatchKind::Strategic && !def.strategic {
            return Err(unsupported());
        }
        let apply_cfg = match kind {
            PatchKind::Apply => {
                if ctx.query.get("fieldManager").is_none_or(str::is_empty) {
                    return Err(ApiError::BadRequest(
                        "PATCH /apply requires fieldManager to be set".into(),
                    ));
                }
                let cfg = parse_yaml(ctx.body)?;
                Some((cfg, ctx.query.flag("force")))
            }
            _ => None,
        };
        let opts = self.write_opts(ctx, subr, apply_cfg.clone());
        let api_version = def.api_version(version);
        let conflict_target = Target::new(&def.group, &def.plural, name);
        let present_sub = |v: Value| match subr {
            Sub::Scale => scale_of(def, &v),
            _ => present(def, version, v),
        };
        self.write(|st| {
            let writer = Writer {
                manager: &opts.manager,
                api_version: &api_version,
                subresource: subr.name(),
            };
            let conflict = |m: String| ApiError::Conflict(conflict_target.clone(), m);
            let current = match st.get(def, ns, name) {
                Ok(c) => c,
                Err(ApiError::NotFound(_)) if subr == Sub::Main => {
                    let Some((cfg, force)) = &apply_cfg else {
                        return Err(ApiError::NotFound(Target::new(
                            &def.group,
                            &def.plural,
                            name,
                        )));
                    };
                    check_apply_body(def, version, name, cfg)?;
                    let mut cfg = cfg.clone();
                    meta::meta_mut(&mut cfg).insert("name".into(), json!(name));
                    let obj = managed::apply(None, &cfg, &writer, *force, keys_of(def), conflict)?;
                    let created = st.create(def, ns, version, obj, &opts)?;
                    return Ok(Reply::Json(201, present(def, version, created)));
                }
                Err(e) => return Err(e),
            };
            let mut target = match subr {
                Sub::Scale => scale_of(def, &current),
                _ => present(def, version, (*current).clone()),
            };
            match kind {
                PatchKind::Json => patch::json_patch(&mut target, ctx.body)?,
                PatchKind::Merge => patch::merge_patch(&mut target, ctx.body)?,
                PatchKind::Strategic => {
                    patch::strategic_patch(&mut target, ctx.body, keys_of(def))?
                }
                PatchKind::Apply => {
                    let (cfg, force) = apply_cfg
                        .as_ref()
                        .ok_or(ApiError::Internal("apply without body".into()))?;
                    check_apply_body(def, version, name, cfg)?;
                    target = managed::apply(
                        Some(&target),
                        cfg,
                        &writer,
                        *force,
                        keys_of(def),
                        conflict,
                    )?;
                }
            }
            let candidate = match subr {
                Sub::Scale => apply_scale(def, &current, target)?,
                _ => target,
            };
            let out = st.update(
                &At {
                    def,
                    ns,
                    name,
                    version,
                },
                &current,
                candidate,
                &opts,
            )?;
            Ok(Reply::Json(200, present_sub(out)))
        })
    }

    fn token_request(
        &self,
        ctx: &Ctx<'_>,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
    ) -> ApiResult<Reply> {
        let sa = self.inner.state.lock().get(def, ns, name)?;
        let body: Value = if ctx.body.is_empty() {
            json!({})
        } else {
            parse_json(ctx.body)?
        };
        let token = format!("sa-{}", meta::new_uid());
        self.add_token(&token, service_account_user(ns, name));
        let secs = body
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(3600);
        let exp = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut spec = body.get("spec").cloned().unwrap_or(json!({}));
        spec["expirationSeconds"] = json!(secs);
        Ok(Reply::Json(
            201,
            json!({
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": meta::now_rfc3339(), "uid": meta::uid(&sa)},
                "spec": spec,
                "status": {"token": token, "expirationTimestamp": exp},
            }),
        ))
    }
}

struct Ctx<'a> {
    parts: &'a http::request::Parts,
    query: &'a Query,
    body: &'a Bytes,
    info: &'a RequestInfo,
}

fn resolve(st: &State, group: &str, version: &str, rest: &[&str]) -> ApiResult<Route> {
    let reg = &st.registry;
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, ..]
            if reg
                .get(group, version, plural)
                .is_some_and(|d| d.namespaced) =>
        {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::NoRoute),
    };
    let def = reg.get(group, version, plural).ok_or(ApiError::NoRoute)?;
    if !def.namespaced && namespace.is_some() {
        return Err(ApiError::NoRoute);
    }
    if def.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::NoRoute);
    }
    Ok(Route {
        def,
        version: version.to_string(),
        namespace,
        name,
        sub,
    })
}

fn subresource(def: &ResourceDef, sub: Option<&str>) -> ApiResult<Sub> {
    match sub {
        None => Ok(Sub::Main),
        Some("status") if def.status => Ok(Sub::Status),
        Some("scale") if def.scale.is_some() => Ok(Sub::Scale),
        _ => Err(ApiError::NoRoute),
    }
}

fn accept(parts: &http::request::Parts) -> &str {
    parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Create and update bodies: JSON, or YAML when the client says so.
fn parse_body(ctx: &Ctx<'_>) -> ApiResult<Value> {
    let ct = ctx
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.starts_with("application/yaml") {
        return parse_yaml(ctx.body);
    }
    parse_json(ctx.body)
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding request body: {e}")))
}

/// Apply bodies may be YAML or JSON.
fn parse_yaml(body: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    serde_saphyr::from_slice::<Value>(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))
}

fn check_apply_body(def: &ResourceDef, version: &str, name: &str, cfg: &Value) -> ApiResult<()> {
    let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or_default();
    let av = cfg
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != def.kind || av != def.api_version(version) {
        return Err(ApiError::BadRequest(format!(
            "the kind/apiVersion of the applied object ({av}, Kind={kind}) does not match the request ({}, Kind={})",
            def.api_version(version),
            def.kind
        )));
    }
    let n = meta::name(cfg);
    if !n.is_empty() && n != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// Stamps the requested version on an object stored at another version of the same CRD.
fn present(def: &ResourceDef, version: &str, mut v: Value) -> Value {
    let av = def.api_version(version);
    if v.get("apiVersion").and_then(Value::as_str) != Some(av.as_str()) {
        v["apiVersion"] = json!(av);
    }
    v
}

/// Serializes a list without cloning the stored items.
fn encode_list(def: &ResourceDef, version: &str, list_meta: Value, page: &ListPage) -> Vec<u8> {
    let av = def.api_version(version);
    let mut out = Vec::with_capacity(64 + page.items.len() * 512);
    let head = json!({"kind": def.list_kind(), "apiVersion": av, "metadata": list_meta});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    // `{...}` without the closing brace, then the items array.
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if item.get("apiVersion").and_then(Value::as_str) == Some(av.as_str()) {
            // Writing JSON values into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, item.as_ref());
        } else {
            let _ = serde_json::to_writer(&mut out, &present(def, version, (**item).clone()));
        }
    }
    out.extend_from_slice(b"]}");
    out
}

fn delete_opts(ctx: &Ctx<'_>) -> ApiResult<DeleteOpts> {
    let body: Value = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(ctx.body)?
    };
    let policy = ctx
        .query
        .get("propagationPolicy")
        .or_else(|| body.get("propagationPolicy").and_then(Value::as_str))
        .or_else(
            || match body.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan"),
                _ => None,
            },
        );
    let propagation = match policy {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unsupported propagationPolicy {other:?}"
            )));
        }
    };
    let dry = ctx.query.dry_run()
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let pre = body.get("preconditions");
    Ok(DeleteOpts {
        propagation,
        precondition_uid: pre
            .and_then(|p| p.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: pre
            .and_then(|p| p.get("resourceVersion"))
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: dry,
    })
}

/// The `autoscaling/v1` Scale view of an object.
fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let Some(sd) = &def.scale else {
        return json!({});
    };
    let md = meta::meta(obj).cloned().unwrap_or_default();
    let mut smeta = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = md.get(f) {
            smeta.insert(f.into(), v.clone());
        }
    }
    let replicas = meta::get_path(obj, &sd.spec_replicas_path)
        .cloned()
        .unwrap_or(json!(0));
    let status_replicas = meta::get_path(obj, &sd.status_replicas_path)
        .cloned()
        .unwrap_or(json!(0));
    let selector = sd
        .label_selector_path
        .as_deref()
        .and_then(|p| meta::get_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", meta::value_string(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default(),
            _ => String::new(),
        });
    let mut status = json!({"replicas": status_replicas});
    if let Some(s) = selector {
        status["selector"] = json!(s);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": smeta,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// The object with `spec.replicas` taken from a (patched) Scale.
fn apply_scale(def: &ResourceDef, current: &Value, scale: Value) -> ApiResult<Value> {
    let Some(sd) = &def.scale else {
        return Err(ApiError::NoRoute);
    };
    let replicas = scale
        .pointer("/spec/replicas")
        .filter(|v| v.is_i64() || v.is_u64())
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                meta::name(current),
                "spec.replicas: Required value",
            )
        })?;
    let mut next = current.clone();
    meta::set_path(&mut next, &sd.spec_replicas_path, replicas);
    if let Some(rv) = meta::meta_str(&scale, "resourceVersion") {
        meta::meta_mut(&mut next).insert("resourceVersion".into(), json!(rv));
    }
    Ok(next)
}
