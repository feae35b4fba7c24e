//! PUT: replacing an object or its `status` / `scale` subresource.

use std::sync::Arc;

use serde_json::Value;

use crate::rest::scale::{apply_scale, scale_of};
use crate::rest::{Ctx, Reply, Route, decode_body, directive, parse_body, present, subresource};
use crate::server::cluster::Cluster;
use crate::server::crd;
use crate::server::engine::{At, State, Sub, WriteOpts};
use crate::server::error::{ApiError, ApiResult};
use crate::server::meta;

impl Cluster {
    pub(super) fn update(&self, ctx: &Ctx<'_>, t: &Route, name: &str) -> ApiResult<Reply> {
        let def = &t.def;
        let subr = subresource(def, t.sub.as_deref())?;
        let mut body = parse_body(ctx)?;
        let warnings = match subr {
            // A Scale is not an object of the kind; its options are still checked.
            Sub::Scale => directive(ctx).map(|_| Vec::new())?,
            _ => decode_body(ctx, t, &mut body)?,
        };
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
            let current = st.get(def, t.ns(), name)?;
            let candidate = match subr {
                Sub::Scale => apply_scale(def, &current, body)?,
                _ => body,
            };
            self.admit(st, ctx.info, &candidate, Some(&current))?;
            store_update(st, t, name, &current, candidate, &opts)
        })
        .map(|r| r.warn(warnings))
    }
}

/// Stores the new state of an existing object (PUT and PATCH end here) and answers with it,
/// as a Scale for the scale subresource.
pub(super) fn store_update(
    st: &mut State,
    t: &Route,
    name: &str,
    current: &Arc<Value>,
    candidate: Value,
    opts: &WriteOpts,
) -> ApiResult<Reply> {
    let at = At {
        def: &t.def,
        ns: t.ns(),
        name,
        version: &t.version,
    };
    let out = st.update(&at, current, candidate, opts)?;
    Ok(Reply::Json(
        200,
        match opts.sub {
            Sub::Scale => scale_of(&t.def, &out),
            _ => present(&t.def, &t.version, out),
        },
    ))
}
