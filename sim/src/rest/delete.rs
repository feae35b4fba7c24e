//! DELETE of one object (finalizers, propagation policies, preconditions, dry run) and of a
//! collection.

use serde_json::{Value, json};

use crate::rest::{Ctx, Reply, Route, check_dry_run, invalid_options, parse_json, present};
use crate::server::cluster::Cluster;
use crate::server::crd;
use crate::server::engine::{DeleteOpts, Propagation};
use crate::server::error::ApiResult;
use crate::server::meta;
use crate::server::schema::{BadValue, ErrorType, FieldError};

impl Cluster {
    pub(super) fn delete(&self, ctx: &Ctx<'_>, t: &Route, name: &str) -> ApiResult<Reply> {
        let def = &t.def;
        let ns = t.ns();
        let present = |v: Value| present(def, &t.version, v);
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
            || (def.group.is_empty() && matches!(def.plural.as_str(), "namespaces" | "services"));
        if gone && !returns_object {
            let mut details = json!({"name": name, "kind": def.plural, "uid": meta::uid(&out)});
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

    pub(super) fn delete_collection(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let def = &t.def;
        let version = t.version.as_str();
        let present = |v: Value| present(def, version, v);
        let opts = delete_opts(ctx)?;
        let sel = ctx.query.selectors()?;
        let items =
            self.write(|st| st.delete_collection(def, t.namespace.as_deref(), &sel, &opts))?;
        let items: Vec<Value> = items.into_iter().map(present).collect();
        Ok(Reply::Json(
            200,
            json!({"kind": def.list_kind(), "apiVersion": def.api_version(version), "metadata": {}, "items": items}),
        ))
    }
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
        .or_else(|| body.get("propagationPolicy").and_then(Value::as_str));
    let orphan = ctx
        .query
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    // DeleteOptions are validated as a whole, every cause listed.
    let mut errors = Vec::new();
    if let (Some(p), Some(_)) = (policy, orphan) {
        errors.push(FieldError::new(
            ErrorType::Invalid,
            "propagationPolicy",
            BadValue::Json(json!(p)),
            "orphanDependents and deletionPropagation cannot be both set",
        ));
    }
    let propagation = match (policy, orphan) {
        (Some("Background"), _) | (None, None | Some(false)) => Propagation::Background,
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some(other), _) => {
            errors.push(FieldError::new(
                ErrorType::NotSupported,
                "propagationPolicy",
                BadValue::Json(json!(other)),
                r#"supported values: "Foreground", "Background", "Orphan", "nil""#,
            ));
            Propagation::Background
        }
    };
    let body_dry_run: Vec<&str> = body
        .get("dryRun")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let dry = match ctx.query.get("dryRun") {
        Some(q) => check_dry_run(std::iter::once(q)),
        None => check_dry_run(body_dry_run.into_iter()),
    };
    let dry = match dry {
        Ok(d) => d,
        Err(e) => {
            errors.push(e);
            false
        }
    };
    if !errors.is_empty() {
        return Err(invalid_options(ctx.info.verb, errors));
    }
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
