//! POST: creating objects, and the `serviceaccounts/token` subresource (TokenRequest).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::token::service_account_user;
use crate::rest::{Ctx, Reply, Route, decode_body, parse_body, parse_json, present};
use crate::server::cluster::Cluster;
use crate::server::engine::Sub;
use crate::server::error::{ApiError, ApiResult};
use crate::server::meta;
use crate::server::resources::ResourceDef;

impl Cluster {
    pub(super) fn create(&self, ctx: &Ctx<'_>, t: &Route) -> ApiResult<Reply> {
        let def = &t.def;
        if def.namespaced && t.namespace.is_none() {
            return Err(ApiError::MethodNotAllowed);
        }
        let mut obj = parse_body(ctx)?;
        let warnings = decode_body(ctx, t, &mut obj)?;
        let opts = self.write_opts(ctx, Sub::Main, None);
        let created = self.write(|st| {
            self.admit(st, ctx.info, &obj, None)?;
            st.create(def, t.ns(), &t.version, obj, &opts)
        })?;
        Ok(Reply::Json(201, present(def, &t.version, created)).warn(warnings))
    }

    pub(super) fn token_request(
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
