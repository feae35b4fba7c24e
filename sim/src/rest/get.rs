//! GET of one object and of its `status` and `scale` subresources.

use serde_json::json;

use crate::rest::scale::scale_of;
use crate::rest::{Ctx, Reply, Route, accept, table};
use crate::server::cluster::Cluster;
use crate::server::error::{ApiError, ApiResult};

impl Cluster {
    pub(super) fn get(&self, ctx: &Ctx<'_>, t: &Route, name: &str) -> ApiResult<Reply> {
        let def = &t.def;
        let obj = self.inner.state.lock().get_stored(def, t.ns(), name)?;
        match t.sub.as_deref() {
            None if table::wants_table(accept(ctx.parts)) => Ok(Reply::Json(
                200,
                table::to_table(def, &[&obj.to_value()], json!({})),
            )),
            // The stored bytes, at the requested version.
            None | Some("status") => Ok(Reply::Raw(
                200,
                obj.to_json(Some(&def.api_version(&t.version))),
            )),
            Some("scale") if def.scale.is_some() => {
                Ok(Reply::Json(200, scale_of(def, &obj.to_value())))
            }
            _ => Err(ApiError::NoRoute),
        }
    }
}
