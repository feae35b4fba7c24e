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

mod create;
mod delete;
mod get;
mod list;
mod patch;
pub mod protobuf;
mod scale;
pub mod table;
mod update;
pub mod watch;

use crate::server::cluster::{Cluster, RequestInfo};
use crate::server::counters::Verb;
use crate::server::discovery;
use crate::server::engine::{State, Sub, WriteOpts};
use crate::server::error::{ApiError, ApiResult, Target};
use crate::server::meta;
use crate::server::openapi;
use crate::server::resources::ResourceDef;
use crate::server::schema::{self, BadValue, Directive, ErrorType, FieldError, Rejection, gofmt};
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
    /// A document of another media type (aggregated discovery, OpenAPI v2).
    Typed(String, Vec<u8>),
    Raw(u16, Vec<u8>),
    Text(&'static str),
    Stream(mpsc::Receiver<Bytes>),
    /// A reply sent with `Warning` headers.
    Warned(Vec<String>, Box<Reply>),
}

impl Reply {
    fn warn(self, warnings: Vec<String>) -> Reply {
        if warnings.is_empty() {
            self
        } else {
            Reply::Warned(warnings, Box::new(self))
        }
    }
}

fn reply_response(reply: Reply) -> Response<SimBody> {
    match reply {
        Reply::Json(code, v) => value_response(code, &v),
        Reply::Raw(code, bytes) => json_response(code, bytes),
        Reply::Typed(media_type, body) => {
            let mut r = json_response(200, body);
            if let Ok(ct) = HeaderValue::from_str(&media_type) {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r
        }
        Reply::Text(t) => {
            let mut r = Response::new(full(t));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Reply::Stream(rx) => {
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
        Reply::Warned(warnings, inner) => {
            let mut r = reply_response(*inner);
            for w in warnings {
                // `299 - "<text>"`, the text quoted as Go quotes strings.
                if let Ok(v) = HeaderValue::from_str(&format!("299 - {}", gofmt::quote(&w))) {
                    r.headers_mut().append(header::WARNING, v);
                }
            }
            r
        }
    }
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

    /// Whether the request is a dry run; `All` is the only value there is.
    fn dry_run(&self) -> Result<bool, FieldError> {
        check_dry_run(self.get("dryRun").into_iter())
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

impl Route {
    /// The namespace of the request, empty for cluster-scoped and all-namespace requests.
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
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
            Ok(reply) => reply_response(reply),
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
        let ct = content_type(parts);
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
        let aggregated = discovery::aggregated_version(accept(parts));
        let target = {
            let st = self.inner.state.lock();
            let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
                [] => {
                    return Ok(Reply::Json(
                        200,
                        json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
                    ));
                }
                ["api" | "apis"] if aggregated.is_some() => {
                    let v = aggregated.unwrap_or("v2");
                    let doc = discovery::aggregated(&st.registry, segs == ["api"], v);
                    let media_type = format!(
                        "application/json;g=apidiscovery.k8s.io;v={v};as={}",
                        discovery::AGGREGATED_AS
                    );
                    let body = serde_json::to_vec(&doc).unwrap_or_default();
                    return self.non_resource_reply(&info, Reply::Typed(media_type, body));
                }
                ["api"] => return self.non_resource(&info, discovery::api_versions()),
                ["apis"] => {
                    return self.non_resource(&info, discovery::api_group_list(&st.registry));
                }
                ["api", "v1"] => {
                    return self.non_resource(
                        &info,
                        discovery::resource_list(&st.registry, "", "v1")
                            .ok_or_else(|| self.unserved(&info))?,
                    );
                }
                ["apis", g] => {
                    return self.non_resource(
                        &info,
                        discovery::api_group(&st.registry, g)
                            .ok_or_else(|| self.unserved(&info))?,
                    );
                }
                ["apis", g, v] => {
                    return self.non_resource(
                        &info,
                        discovery::resource_list(&st.registry, g, v)
                            .ok_or_else(|| self.unserved(&info))?,
                    );
                }
                ["api", "v1", rest @ ..] => ("", "v1", rest),
                ["apis", g, v, rest @ ..] => (*g, *v, rest),
                ["openapi", "v3"] => return self.non_resource(&info, openapi::root(&st.registry)),
                ["openapi", "v2"] => {
                    let (media_type, body) =
                        openapi::v2(accept(parts), &self.inner.config.git_version);
                    return self.non_resource_reply(&info, Reply::Typed(media_type.into(), body));
                }
                ["openapi", "v3", gv @ ..] => {
                    let doc = openapi::group_version(&st.registry, &gv.join("/"))
                        .ok_or_else(|| self.unserved(&info))?;
                    return self.non_resource(&info, doc);
                }
                _ => return Err(self.unserved(&info)),
            };
            match resolve(&st, group, version, rest) {
                Ok(route) => route,
                Err(ApiError::NoRoute) => {
                    // Authorization looks only at the URL, before anything is looked up: a
                    // caller may not learn which resources are served without the right to
                    // ask. The hooks read the store, so they run once the lock is dropped.
                    let (namespace, resource, name, sub) = url_parts(rest);
                    info.group = group.to_string();
                    info.version = version.to_string();
                    info.resource = resource;
                    info.subresource = sub;
                    info.namespace = namespace;
                    info.verb = request_verb(&parts.method, !name.is_empty(), &query)?;
                    info.name = name;
                    drop(st);
                    return Err(self.unserved(&info));
                }
                Err(e) => return Err(e),
            }
        };
        info.group = target.def.group.clone();
        info.version = target.version.clone();
        info.resource = target.def.plural.clone();
        info.subresource = target.sub.clone().unwrap_or_default();
        info.namespace = target.namespace.clone().unwrap_or_default();
        info.name = target.name.clone().unwrap_or_default();
        info.verb = request_verb(&parts.method, target.name.is_some(), &query)?;
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

    /// The answer to a request for something not served: the hooks' refusal when they refuse
    /// it (authorization comes first), 404 otherwise.
    fn unserved(&self, info: &RequestInfo) -> ApiError {
        self.inner
            .counters
            .record(info.verb, &info.group_resource());
        match self.run_middleware(info) {
            Err(e) => e,
            Ok(_) => ApiError::NoRoute,
        }
    }

    fn non_resource(&self, info: &RequestInfo, v: Value) -> ApiResult<Reply> {
        self.non_resource_reply(info, Reply::Json(200, v))
    }

    fn non_resource_reply(&self, info: &RequestInfo, reply: Reply) -> ApiResult<Reply> {
        self.inner.counters.record(Verb::NonResource, "");
        // Discovery is answered synchronously; hooks may still fail it.
        self.run_middleware(info)?;
        Ok(reply)
    }

    /// Runs the admission hooks on a write about to be stored (`old` for updates).
    fn admit(
        &self,
        st: &State,
        info: &RequestInfo,
        obj: &Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        let hooks: Vec<_> = self.inner.middleware.read().clone();
        hooks.iter().try_for_each(|h| h.admit(st, info, obj, old))
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

    /// Hands a resource request to its verb's handler.
    fn dispatch(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        match (ctx.info.verb, &t.name) {
            (Verb::List, _) => self.list(ctx, t),
            (Verb::Watch, _) => self.watch(ctx, t),
            (Verb::Get, Some(name)) => self.get(ctx, t, name),
            (Verb::Create, None) => self.create(ctx, t),
            (Verb::Create, Some(name))
                if t.sub.as_deref() == Some("token") && t.def.plural == "serviceaccounts" =>
            {
                self.token_request(ctx, &t.def, t.ns(), name)
            }
            (Verb::Update, Some(name)) => self.update(ctx, t, name),
            (Verb::Patch, Some(name)) => self.patch(ctx, t, name),
            (Verb::Delete, Some(name)) => self.delete(ctx, t, name),
            (Verb::DeleteCollection, None) => self.delete_collection(ctx, t),
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
            // Refused by `directive` before any write gets here.
            dry_run: ctx.query.dry_run().unwrap_or(false),
            sub,
            apply,
        }
    }
}

struct Ctx<'a> {
    parts: &'a http::request::Parts,
    query: &'a Query,
    body: &'a Bytes,
    info: &'a RequestInfo,
}

/// The authorization verb of a resource request.
fn request_verb(method: &Method, named: bool, query: &Query) -> ApiResult<Verb> {
    Ok(match (method, named) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if query.flag("watch") => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return Err(ApiError::MethodNotAllowed),
    })
}

/// Namespace, resource, name and subresource of a resource path after `/api/v1` or
/// `/apis/<group>/<version>`, read from the URL alone as the real server's request-info
/// parser does (`namespaces/<ns>/<resource>/…`, where `status` and `finalize` after a
/// namespace name are subresources of the namespace).
fn url_parts(rest: &[&str]) -> (String, String, String, String) {
    let mut parts = rest;
    let mut namespace = String::new();
    if let ["namespaces", ns, more @ ..] = rest {
        namespace = ns.to_string();
        if !more.is_empty() && !matches!(more[0], "status" | "finalize") {
            parts = more;
        }
    }
    let at = |i: usize| parts.get(i).map(|s| s.to_string()).unwrap_or_default();
    (namespace, at(0), at(1), at(2))
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

/// A request header as text (empty when absent or not ASCII).
fn header_str(parts: &http::request::Parts, name: header::HeaderName) -> &str {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn accept(parts: &http::request::Parts) -> &str {
    header_str(parts, header::ACCEPT)
}

fn content_type(parts: &http::request::Parts) -> &str {
    header_str(parts, header::CONTENT_TYPE)
}

/// `dryRun` values: `All` is the only one there is, and an empty list means no dry run.
pub(crate) fn check_dry_run<'a>(values: impl Iterator<Item = &'a str>) -> Result<bool, FieldError> {
    let values: Vec<String> = values.map(str::to_string).collect();
    if values.iter().all(|v| v == "All") {
        return Ok(!values.is_empty());
    }
    Err(FieldError::new(
        ErrorType::NotSupported,
        "dryRun",
        BadValue::Strings(values),
        r#"supported values: "All""#,
    ))
}

/// The `*Options` a write's query parameters make, by verb.
fn options_kind(verb: Verb) -> &'static str {
    match verb {
        Verb::Update => "UpdateOptions",
        Verb::Patch => "PatchOptions",
        Verb::Delete | Verb::DeleteCollection => "DeleteOptions",
        _ => "CreateOptions",
    }
}

/// Invalid query options, refused as the real server refuses an invalid `*Options`: 422,
/// every cause listed.
pub(crate) fn invalid_options(verb: Verb, errors: Vec<FieldError>) -> ApiError {
    ApiError::InvalidFields(Target::new("meta.k8s.io", options_kind(verb), ""), errors)
}

/// The `fieldValidation` of a write, once its options are checked (`dryRun`, then
/// `fieldValidation`, in the real server's order).
fn directive(ctx: &Ctx<'_>) -> ApiResult<Directive> {
    let dry_run = ctx.query.dry_run().err();
    let directive = Directive::parse(ctx.query.get("fieldValidation"));
    let errors: Vec<FieldError> = dry_run
        .into_iter()
        .chain(directive.as_ref().err().cloned())
        .collect();
    if !errors.is_empty() {
        return Err(invalid_options(ctx.info.verb, errors));
    }
    directive.map_err(|e| invalid_options(ctx.info.verb, vec![e]))
}

/// Decodes a create or update body as the real server does before anything else looks at
/// it: the kind's Go type (or CRD schema) drops undeclared fields, refused or warned about as
/// `fieldValidation` says, and a value of the wrong type fails the request. Returns the
/// warnings to send.
fn decode_body(ctx: &Ctx<'_>, t: &Route, obj: &mut Value) -> ApiResult<Vec<String>> {
    let directive = directive(ctx)?;
    State::check_type(&t.def, obj, &t.version)?;
    let Some(kind) = t.def.schema(&t.version) else {
        return Ok(Vec::new());
    };
    match schema::decode_body(&kind, obj, directive) {
        Ok(d) => Ok(d.warnings),
        Err(m) => Err(rejected(t, obj, Rejection::Decode(m))),
    }
}

/// The error for a body the kind's schema refused.
fn rejected(t: &Route, obj: &Value, r: Rejection) -> ApiError {
    let def = &t.def;
    ApiError::rejected(&def.group, &def.kind, &t.version, meta::name(obj), r)
}

/// Create and update bodies: JSON, or YAML when the client says so.
fn parse_body(ctx: &Ctx<'_>) -> ApiResult<Value> {
    if content_type(ctx.parts).starts_with("application/yaml") {
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

/// Stamps the requested version on an object stored at another version of the same CRD.
fn present(def: &ResourceDef, version: &str, mut v: Value) -> Value {
    let av = def.api_version(version);
    if v.get("apiVersion").and_then(Value::as_str) != Some(av.as_str()) {
        v["apiVersion"] = json!(av);
    }
    v
}
