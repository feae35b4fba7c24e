//! A skeletal OpenAPI v3 surface: enough for kubectl to see that every resource accepts the
//! `fieldValidation` parameter (so it validates server-side) without shipping any schemas.

use serde_json::{Map, Value, json};

use crate::server::resources::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group versions with documents.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, versions) in reg.groups() {
        for v in versions {
            let p = gv_path(&g, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=0")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<gv>`: item paths whose PATCH and PUT operations name their kind and take
/// `fieldValidation`.
pub fn group_version(reg: &Registry, gv: &str) -> Option<Value> {
    let mut paths = Map::new();
    for d in reg.all() {
        for v in &d.versions {
            if gv_path(&d.group, v) != gv {
                continue;
            }
            let gvk = json!({"group": d.group, "version": v, "kind": d.kind});
            let op = json!({
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "responses": {"200": {"description": "OK"}},
            });
            let base = if d.namespaced {
                format!("/{gv}/namespaces/{{namespace}}/{}", d.plural)
            } else {
                format!("/{gv}/{}", d.plural)
            };
            paths.insert(base.clone(), json!({"post": op}));
            paths.insert(format!("{base}/{{name}}"), json!({"patch": op, "put": op}));
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
