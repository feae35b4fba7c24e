//! PATCH: JSON patch, merge patch, strategic merge patch and server-side apply (which also
//! creates a missing object).

use serde_json::{Value, json};

use crate::rest::scale::{apply_scale, scale_of};
use crate::rest::update::store_update;
use crate::rest::{
    Ctx, Reply, Route, content_type, directive, parse_yaml, present, rejected, subresource,
};
use crate::server::cluster::Cluster;
use crate::server::engine::{Sub, keys_of};
use crate::server::error::{ApiError, ApiResult, Target};
use crate::server::managed::{self, Writer};
use crate::server::meta;
use crate::server::patch::{self, PatchKind};
use crate::server::resources::ResourceDef;
use crate::server::schema;

impl Cluster {
    pub(super) fn patch(&self, ctx: &Ctx<'_>, t: &Route, name: &str) -> ApiResult<Reply> {
        let def = &t.def;
        let ns = t.ns();
        let version = t.version.as_str();
        let subr = subresource(def, t.sub.as_deref())?;
        let ct = content_type(ctx.parts);
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
        let directive = directive(ctx)?;
        let opts = self.write_opts(ctx, subr, apply_cfg.clone());
        let api_version = def.api_version(version);
        let conflict_target = Target::new(&def.group, &def.plural, name);
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
                    check_typed(t, cfg)?;
                    let mut cfg = cfg.clone();
                    meta::meta_mut(&mut cfg).insert("name".into(), json!(name));
                    let obj = managed::apply(None, &cfg, &writer, *force, keys_of(def), conflict)?;
                    self.admit(st, ctx.info, &obj, None)?;
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
                    check_typed(t, cfg)?;
                    target = managed::apply(
                        Some(&target),
                        cfg,
                        &writer,
                        *force,
                        keys_of(def),
                        conflict,
                    )?;
                    // A resourceVersion in the configuration is a precondition, as in any
                    // patch: the update below refuses it with 409 unless it is current.
                    if let Some(rv) =
                        meta::meta_str(cfg, "resourceVersion").filter(|v| !v.is_empty())
                    {
                        meta::meta_mut(&mut target).insert("resourceVersion".into(), json!(rv));
                    }
                }
            }
            let mut warnings = Vec::new();
            if kind != PatchKind::Apply
                && subr != Sub::Scale
                && let Some(schema) = def.schema(version)
            {
                // The patched object is decoded like a body; failures are the patch's.
                let smp = (kind == PatchKind::Strategic).then_some(&ctx.body[..]);
                warnings = schema::decode_patched(&schema, &mut target, directive, smp)
                    .map_err(|r| rejected(t, &target, r))?
                    .warnings;
            }
            let candidate = match subr {
                Sub::Scale => apply_scale(def, &current, target)?,
                _ => target,
            };
            self.admit(st, ctx.info, &candidate, Some(&current))?;
            store_update(st, t, name, &current, candidate, &opts).map(|r| r.warn(warnings))
        })
    }
}

/// Server-side apply turns the configuration into a typed value first; a field the kind does
/// not declare, or a value of the wrong type, fails that with a 500 naming the object.
fn check_typed(t: &Route, cfg: &Value) -> ApiResult<()> {
    let def = &t.def;
    let Some(kind) = def.schema(&t.version) else {
        return Ok(());
    };
    let keys = |field: &str, items: &[Value]| keys_of(def).keys_for(field, items);
    schema::check_apply(&kind, cfg, &keys).map_err(|m| {
        let (group, version) = match cfg.get("apiVersion").and_then(Value::as_str) {
            Some(av) => av.rsplit_once('/').unwrap_or(("", av)),
            None => ("", ""),
        };
        let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or_default();
        ApiError::Unclassified(format!(
            "failed to create typed patch object ({}/{}; {group}/{version}, Kind={kind}): {m}",
            meta::namespace(cfg),
            meta::name(cfg)
        ))
    })
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
