//! LIST of a collection: selectors, paging (`limit`/`continue`) and Table rendering.

use serde_json::{Value, json};

use crate::rest::{Ctx, Reply, Route, accept, table};
use crate::server::cluster::Cluster;
use crate::server::engine::ListPage;
use crate::server::error::{ApiError, ApiResult};
use crate::server::resources::ResourceDef;

impl Cluster {
    pub(super) fn list(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let sel = ctx.query.selectors()?;
        let limit = ctx.query.get("limit").and_then(|l| l.parse().ok());
        if ctx.query.get("continue").is_some_and(|c| !c.is_empty())
            && ctx
                .query
                .get("resourceVersion")
                .is_some_and(|rv| !rv.is_empty() && rv != "0")
        {
            return Err(ApiError::BadRequest(
                "specifying resource version is not allowed when using continue".into(),
            ));
        }
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
            let values: Vec<Value> = page.items.iter().map(|o| o.to_value()).collect();
            let items: Vec<&Value> = values.iter().collect();
            return Ok(Reply::Json(200, table::to_table(&t.def, &items, list_meta)));
        }
        Ok(Reply::Raw(
            200,
            encode_list(&t.def, &t.version, list_meta, &page),
        ))
    }
}

/// Serializes a list by copying the stored items' bytes.
fn encode_list(def: &ResourceDef, version: &str, list_meta: Value, page: &ListPage) -> Vec<u8> {
    let av = def.api_version(version);
    let mut out = Vec::with_capacity(64 + page.items.len() * 2048);
    let head = json!({"kind": def.list_kind(), "apiVersion": av, "metadata": list_meta});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    // `{...}` without the closing brace, then the items array.
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item.write_json(&mut out, Some(&av));
    }
    out.extend_from_slice(b"]}");
    out
}
